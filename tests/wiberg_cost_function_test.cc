// Ceres as the outer solver: recovering known energy weights.

#include "ceres_wiberg/wiberg_cost_function.h"

#include <random>

#include "ceres/ceres.h"
#include "ceres_wiberg/bilevel_training_objective.h"
#include "ceres_wiberg/minimiser_derivative_checker.h"
#include "gtest/gtest.h"

namespace ceres_wiberg {
namespace {

// Inner energy of one example: 1/2 sum_k (w_k (y - x_k))^2 + 1/2 (y - p)^2,
// a weighted least-squares fit of a 2-D point y to three sensors x_k and a
// unit-weight prior p. The learnable sensor weights w_k are shared by all
// examples.
struct SensorTerm {
  explicit SensorTerm(Eigen::Vector2d x) : x(x) {}
  template <typename T>
  bool operator()(const T* y, const T* w, T* r) const {
    r[0] = w[0] * (y[0] - T(x[0]));
    r[1] = w[0] * (y[1] - T(x[1]));
    return true;
  }
  Eigen::Vector2d x;
};
struct PriorTerm {
  explicit PriorTerm(Eigen::Vector2d p) : p(p) {}
  template <typename T>
  bool operator()(const T* y, T* r) const {
    r[0] = y[0] - T(p[0]);
    r[1] = y[1] - T(p[1]);
    return true;
  }
  Eigen::Vector2d p;
};
// Outer residual: y* - target.
struct TargetTerm {
  explicit TargetTerm(Eigen::Vector2d target) : target(target) {}
  template <typename T>
  bool operator()(const T* y, T* r) const {
    r[0] = y[0] - T(target[0]);
    r[1] = y[1] - T(target[1]);
    return true;
  }
  Eigen::Vector2d target;
};

constexpr int kSensors = 3;

struct SensorExample {
  SensorExample(std::mt19937* rng, const double* true_weights, double lambda) {
    std::normal_distribution<double> normal(0.0, 2.0);
    for (int k = 0; k < kSensors; ++k) {
      w[k][0] = true_weights[k];
      problem.AddResidualBlock(new ceres::AutoDiffCostFunction<SensorTerm, 2, 2, 1>(
                                   new SensorTerm(Eigen::Vector2d(normal(*rng), normal(*rng)))),
                               nullptr, y, w[k]);
    }
    problem.AddResidualBlock(new ceres::AutoDiffCostFunction<PriorTerm, 2, 2>(new PriorTerm(
                                 Eigen::Vector2d(normal(*rng), normal(*rng)))),
                             nullptr, y);
    EXPECT_TRUE(BilevelProblem::Create(&problem, {w[0], w[1], w[2]}, &bilevel).ok());
    // The target: the minimiser under the true weights.
    ceres::Solver::Summary summary;
    EXPECT_TRUE(bilevel->SolveInner(TightSolverOptions(), &summary).ok());
    const Eigen::Vector2d target(y[0], y[1]);
    y[0] = y[1] = 0.0;
    BilevelExample::Options options;
    options.inner_solver_options = TightSolverOptions();
    options.derivative_options.lambda = lambda;
    options.warm_start = false;  // repeated calls at one w give identical solves
    EXPECT_TRUE(BilevelExample::Create(bilevel.get(),
                                       new ceres::AutoDiffCostFunction<TargetTerm, 2, 2>(
                                           new TargetTerm(target)),
                                       ceres::TAKE_OWNERSHIP, {y}, options, &example)
                    .ok());
  }
  double y[2] = {0.0, 0.0};
  double w[kSensors][1];
  ceres::Problem problem;
  std::unique_ptr<BilevelProblem> bilevel;
  std::unique_ptr<BilevelExample> example;
};

TEST(WibergCostFunction, OuterLevenbergMarquardtRecoversTheTrueWeights) {
  const double true_weights[kSensors] = {0.5, 1.5, 2.0};
  for (int num_threads : {1, 2}) {
    std::mt19937 rng(41);
    std::vector<std::unique_ptr<SensorExample>> examples;
    for (int i = 0; i < 12; ++i) {
      examples.push_back(std::make_unique<SensorExample>(&rng, true_weights, 0.1));
    }
    double w[kSensors][1] = {{1.0}, {1.0}, {1.0}};
    ceres::Problem outer;
    for (auto& example : examples) {
      outer.AddResidualBlock(new WibergCostFunction(example->example.get()), nullptr, w[0], w[1],
                             w[2]);
    }
    ceres::Solver::Options options;
    options.num_threads = num_threads;
    options.function_tolerance = 1e-16;
    options.gradient_tolerance = 1e-16;
    options.parameter_tolerance = 1e-14;
    ceres::Solver::Summary summary;
    ceres::Solve(options, &outer, &summary);
    EXPECT_TRUE(summary.IsSolutionUsable()) << summary.FullReport();
    for (int k = 0; k < kSensors; ++k) {
      // The weights enter squared: recover them up to sign.
      EXPECT_NEAR(std::abs(w[k][0]), true_weights[k], 1e-6) << "threads " << num_threads;
    }
  }
}

TEST(WibergCostFunction, JacobianMatchesFiniteDifferencesOfEvaluate) {
  std::mt19937 rng(43);
  const double weights[kSensors] = {0.7, 1.2, 0.9};
  // lambda = 0: the exact derivative of the re-solved pipeline.
  SensorExample sensor(&rng, weights, 0.0);
  WibergCostFunction cost(sensor.example.get());
  ASSERT_EQ(cost.num_residuals(), 2);
  ASSERT_EQ(cost.parameter_block_sizes().size(), 3u);
  double w[kSensors] = {0.8, 1.0, 1.3};  // away from the truth: non-zero residuals
  const double* parameters[kSensors] = {&w[0], &w[1], &w[2]};
  double r[2];
  double J[kSensors][2];
  double* jacobians[kSensors] = {J[0], J[1], J[2]};
  ASSERT_TRUE(cost.Evaluate(parameters, r, jacobians));
  EXPECT_TRUE(cost.last_status().ok());
  EXPECT_GT(std::hypot(r[0], r[1]), 1e-3);
  // h = 1e-5 central differences of tight re-solves: error ~1e-9 relative.
  const double h = 1e-5;
  for (int k = 0; k < kSensors; ++k) {
    double r_plus[2], r_minus[2];
    w[k] += h;
    ASSERT_TRUE(cost.Evaluate(parameters, r_plus, nullptr));
    w[k] -= 2 * h;
    ASSERT_TRUE(cost.Evaluate(parameters, r_minus, nullptr));
    w[k] += h;
    for (int i = 0; i < 2; ++i) {
      const double numeric = (r_plus[i] - r_minus[i]) / (2 * h);
      EXPECT_NEAR(J[k][i], numeric, 1e-6 * std::max(1.0, std::abs(numeric)))
          << "block " << k << " residual " << i;
    }
  }
}

TEST(WibergCostFunction, TrainingObjectiveGradientMatchesTheCostFunction) {
  std::mt19937 rng(47);
  const double weights[kSensors] = {1.0, 0.6, 1.4};
  SensorExample first(&rng, weights, 0.1), second(&rng, weights, 0.1);
  BilevelTrainingObjective objective({first.example.get(), second.example.get()});
  EXPECT_EQ(objective.num_examples(), 2);
  EXPECT_EQ(objective.num_parameters(), 3);
  const Eigen::Vector3d w(0.9, 0.9, 0.9);
  double loss = 0.0;
  Eigen::VectorXd gradient;
  ASSERT_TRUE(objective.EvaluateExample(1, w, &loss, &gradient).ok());
  Eigen::VectorXd r;
  Eigen::MatrixXd J;
  ASSERT_TRUE(second.example->Evaluate(w, &r, &J).ok());
  EXPECT_NEAR(loss, 0.5 * r.squaredNorm(), 1e-14);
  // Forward and reverse mode difference the residual curvature differently.
  EXPECT_LT((gradient - J.transpose() * r).norm(), 1e-7 * std::max(1.0, gradient.norm()));
}

}  // namespace
}  // namespace ceres_wiberg
