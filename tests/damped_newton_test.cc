// DampedNewton: the loop on a 2-variable model with an analytic gradient and
// Hessian. It converges from an indefinite start, builds H once per
// iteration however often mu is raised, and reports the ways it can stop.

#include "ceres_wiberg/damped_newton.h"

#include <cmath>
#include <limits>

#include "Eigen/Dense"
#include "gtest/gtest.h"

namespace ceres_wiberg {
namespace {

// E(x) = 1/2 (x0^2 - 1)^2 + 1/2 (x1 - x0)^2: minima at x = +-(1, 1); H is
// indefinite where 3 x0^2 < 1. Counts the model's calls.
class DoubleWellModel {
 public:
  explicit DoubleWellModel(Eigen::Vector2d x) : x_(x) {}

  static double Energy(const Eigen::Vector2d& x) {
    return 0.5 * std::pow(x[0] * x[0] - 1.0, 2) + 0.5 * std::pow(x[1] - x[0], 2);
  }
  static Eigen::Vector2d Gradient(const Eigen::Vector2d& x) {
    return {2.0 * x[0] * (x[0] * x[0] - 1.0) - (x[1] - x[0]), x[1] - x[0]};
  }

  bool Cost(double* cost) {
    *cost = Energy(x_);
    return true;
  }
  bool Linearise(double* gradient_max_norm) {
    ++linearisations;
    g_ = Gradient(x_);
    H_ << 6.0 * x_[0] * x_[0] - 2.0 + 1.0, -1.0, -1.0, 1.0;
    *gradient_max_norm = g_.lpNorm<Eigen::Infinity>();
    return true;
  }
  double InitialShift(double mu) const { return mu; }
  double ShiftScale() const { return 1.0; }
  ShiftedFactorisation Factorise(double mu) {
    ++factorisation_attempts;
    llt_.compute(H_ + mu * Eigen::Matrix2d::Identity());
    return llt_.info() == Eigen::Success && llt_.vectorD().minCoeff() > 0.0
               ? ShiftedFactorisation::kPositiveDefinite
               : ShiftedFactorisation::kNotPositiveDefinite;
  }
  bool Trial(double* cost) {
    step_ = -llt_.solve(g_);
    *cost = nan_trials ? std::numeric_limits<double>::quiet_NaN() : Energy(x_ + step_);
    return std::isfinite(*cost);
  }
  bool TrialHalvesGradient() const { return Gradient(x_ + step_).norm() < 0.5 * g_.norm(); }
  void Accept() { x_ += step_; }
  void Reject() {}
  bool StepIsNegligible(double tolerance) const {
    return step_.norm() <= tolerance * (1.0 + x_.norm());
  }

  const Eigen::Vector2d& x() const { return x_; }
  int linearisations = 0;
  int factorisation_attempts = 0;
  bool nan_trials = false;

 private:
  Eigen::Vector2d x_, g_, step_;
  Eigen::Matrix2d H_;
  Eigen::LDLT<Eigen::Matrix2d> llt_;
};

TEST(DampedNewton, ConvergesFromAnIndefinitePointBuildingHOncePerIteration) {
  DoubleWellModel model(Eigen::Vector2d(0.3, 0.3));
  DampedNewtonOptions options;
  options.gradient_tolerance = 1e-12;
  DampedNewtonSummary summary;
  EXPECT_EQ(DampedNewton(options, &model, &summary), DampedNewtonTermination::kGradientTolerance);
  EXPECT_TRUE(summary.converged);
  EXPECT_LT((model.x() - Eigen::Vector2d(1.0, 1.0)).norm(), 1e-12);
  EXPECT_LE(summary.final_cost, summary.initial_cost);
  EXPECT_LE(summary.final_gradient_max_norm, 1e-12);
  // mu was raised (H is indefinite at the start) ...
  EXPECT_GT(model.factorisation_attempts, summary.iterations);
  // ... but H was built once at the start and once per accepted step.
  EXPECT_EQ(model.linearisations, summary.accepted_steps + 1);
  EXPECT_EQ(summary.accepted_steps, summary.iterations);
}

TEST(DampedNewton, StopsAtTheIterationLimitWithoutMoving) {
  DoubleWellModel model(Eigen::Vector2d(0.3, 0.3));
  DampedNewtonOptions options;
  options.max_num_iterations = 0;
  DampedNewtonSummary summary;
  EXPECT_EQ(DampedNewton(options, &model, &summary), DampedNewtonTermination::kMaxIterations);
  EXPECT_FALSE(summary.converged);
  EXPECT_EQ(model.x(), Eigen::Vector2d(0.3, 0.3));
  EXPECT_EQ(model.factorisation_attempts, 0);
}

TEST(DampedNewton, GivesUpWhenNoStepLowersTheCost) {
  DoubleWellModel model(Eigen::Vector2d(2.0, 0.0));
  model.nan_trials = true;
  DampedNewtonOptions options;
  DampedNewtonSummary summary;
  EXPECT_EQ(DampedNewton(options, &model, &summary), DampedNewtonTermination::kNoDescent);
  EXPECT_FALSE(summary.converged);
  EXPECT_EQ(model.x(), Eigen::Vector2d(2.0, 0.0));
  // mu from 0, then 1e-6 up to 1e12 in factors of 10: 20 trials, one H.
  EXPECT_EQ(model.factorisation_attempts, 20);
  EXPECT_EQ(model.linearisations, 1);
  EXPECT_GT(summary.final_mu, 1e11);
}

TEST(DampedNewton, OptionsAreChecked) {
  DampedNewtonOptions options;
  std::string error;
  EXPECT_TRUE(options.IsValid(&error));
  options.mu_increase = 1.0;
  EXPECT_FALSE(options.IsValid(&error));
  EXPECT_FALSE(error.empty());
  options = DampedNewtonOptions();
  options.max_mu = 0.5 * options.initial_mu;
  EXPECT_FALSE(options.IsValid(&error));
}

}  // namespace
}  // namespace ceres_wiberg
