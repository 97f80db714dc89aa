// The gauge-free outer loss: the aligned point RMSE is invariant under a
// similarity of the estimate, and its envelope-theorem gradient matches
// finite differences of re-aligned RMSEs (Ceres' Ridders differentiation of
// the value, which re-runs the alignment at every perturbed point and so
// shares no code with the envelope formula).

#include "aligned_point_error.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <vector>

#include "Eigen/Geometry"
#include "ceres/numeric_diff_cost_function.h"
#include "gtest/gtest.h"

namespace bundle_adjustment {
namespace {

Eigen::Matrix3Xd RandomPoints(int n, std::mt19937* rng) {
  std::normal_distribution<double> normal;
  Eigen::Matrix3Xd points(3, n);
  for (int j = 0; j < n; ++j) {
    for (int k = 0; k < 3; ++k) points(k, j) = normal(*rng);
  }
  return points;
}

TEST(AlignedPointError, InvariantUnderASimilarityOfTheEstimate) {
  std::mt19937 rng(3);
  const Eigen::Matrix3Xd truth = RandomPoints(40, &rng);
  const Eigen::Matrix3Xd estimate = truth + 0.05 * RandomPoints(40, &rng);
  double rmse = 0.0;
  ASSERT_TRUE(AlignedPointError(estimate, truth, &rmse).ok());
  EXPECT_GT(rmse, 0.0);
  const Eigen::Matrix3d R =
      Eigen::AngleAxisd(0.7, Eigen::Vector3d(1.0, -2.0, 0.5).normalized()).toRotationMatrix();
  const Eigen::Matrix3Xd moved = ((3.5 * R * estimate).colwise() + Eigen::Vector3d(4, -1, 2));
  double moved_rmse = 0.0;
  Similarity alignment;
  ASSERT_TRUE(AlignedPointError(moved, truth, &moved_rmse, nullptr, &alignment).ok());
  // Round-off of a 40-point alignment.
  EXPECT_NEAR(moved_rmse, rmse, 1e-12 * rmse);
  EXPECT_NEAR(alignment.scale, 1.0 / 3.5, 0.01);
  EXPECT_NEAR((alignment.rotation * alignment.rotation.transpose() - Eigen::Matrix3d::Identity())
                  .norm(),
              0.0, 1e-12);
}

// RMSE(x + t v) as a function of t, for Ceres' numeric differentiation.
struct RmseAlong {
  bool operator()(const double* t, double* rmse) const {
    return AlignedPointError(*estimate + t[0] * direction, *truth, rmse).ok();
  }
  const Eigen::Matrix3Xd* estimate;
  const Eigen::Matrix3Xd* truth;
  Eigen::Matrix3Xd direction;
};

TEST(AlignedPointError, EnvelopeGradientMatchesFiniteDifferencesOfReAlignedRmse) {
  std::mt19937 rng(7);
  const int n = 25;
  const Eigen::Matrix3Xd truth = RandomPoints(n, &rng);
  // An estimate far from the truth's frame (rotated, scaled, shifted, noisy):
  // the alignment moves with every perturbation.
  const Eigen::Matrix3d R = Eigen::AngleAxisd(1.2, Eigen::Vector3d::UnitY()).toRotationMatrix();
  const Eigen::Matrix3Xd estimate =
      ((0.4 * R * (truth + 0.1 * RandomPoints(n, &rng))).colwise() + Eigen::Vector3d(1, 2, 3));
  double rmse = 0.0;
  Eigen::Matrix3Xd gradient;
  ASSERT_TRUE(AlignedPointError(estimate, truth, &rmse, &gradient).ok());
  // Directions: every coordinate, then 10 random unit vectors. The reference is the
  // derivative in t of RMSE(x + t v), re-aligned at every t, by Ceres'
  // Ridders extrapolation with its default options (adaptive step, error
  // controlled): it shares nothing with the envelope formula.
  std::vector<Eigen::Matrix3Xd> directions;
  for (int i = 0; i < 3 * n; ++i) {
    directions.push_back(Eigen::Matrix3Xd::Zero(3, n));
    directions.back().data()[i] = 1.0;
  }
  for (int k = 0; k < 10; ++k) directions.push_back(RandomPoints(n, &rng).normalized());
  double worst = 0.0;
  for (const Eigen::Matrix3Xd& v : directions) {
    ceres::NumericDiffCostFunction<RmseAlong, ceres::RIDDERS, 1, 1> numeric(
        new RmseAlong{&estimate, &truth, v});
    double t = 0.0, value = 0.0, derivative = 0.0;
    const double* parameters[] = {&t};
    double* jacobians[] = {&derivative};
    ASSERT_TRUE(numeric.Evaluate(parameters, &value, jacobians));
    const double analytic = (gradient.array() * v.array()).sum();
    worst = std::max(worst, std::abs(analytic - derivative) /
                                (gradient.norm() * v.norm()));
  }
  // Relative to |gradient| |v|: Ridders' error estimate is ~1e-12 here.
  EXPECT_LT(worst, 1e-9);
  std::printf("worst relative error of the envelope gradient: %.3g\n", worst);
}

// P(x + t c v), with c the pseudo-Huber scale in scene units: the
// direction is scaled to the length on which the loss bends (DESIGN.md,
// lesson 4), so that Ridders' default steps in t fit it.
struct RobustAlong {
  bool operator()(const double* t, double* value) const {
    return RobustAlignedPointError(*estimate + (t[0] * scale) * direction, *truth, 0.01, value)
        .ok();
  }
  double scale;
  const Eigen::Matrix3Xd* estimate;
  const Eigen::Matrix3Xd* truth;
  Eigen::Matrix3Xd direction;
};

TEST(RobustAlignedPointError, EnvelopeGradientMatchesFiniteDifferencesOfReAlignedValue) {
  std::mt19937 rng(11);
  const int n = 25;
  const Eigen::Matrix3Xd truth = RandomPoints(n, &rng);
  const Eigen::Matrix3d R = Eigen::AngleAxisd(0.7, Eigen::Vector3d::UnitZ()).toRotationMatrix();
  // Small noise (of the order of c) on every point, and three points far off:
  // both sides of the pseudo-Huber scale, and a robust alignment that differs
  // from the least-squares one.
  Eigen::Matrix3Xd noisy = truth + 0.01 * RandomPoints(n, &rng);
  noisy.col(3) += Eigen::Vector3d(0.8, -0.5, 0.3);
  noisy.col(11) += Eigen::Vector3d(-0.4, 0.9, 0.2);
  noisy.col(17) += Eigen::Vector3d(0.3, 0.3, -1.1);
  const Eigen::Matrix3Xd estimate = (1.7 * R * noisy).colwise() + Eigen::Vector3d(-1, 0.5, 2);
  double value = 0.0, rmse = 0.0;
  Eigen::Matrix3Xd gradient;
  Similarity robust, least_squares;
  ASSERT_TRUE(RobustAlignedPointError(estimate, truth, 0.01, &value, &gradient, &robust).ok());
  ASSERT_TRUE(AlignedPointError(estimate, truth, &rmse, nullptr, &least_squares).ok());
  EXPECT_LT(value, rmse);
  EXPECT_GT((robust.translation - least_squares.translation).norm(), 1e-3);
  // The reference: Ridders differences (default options) of the value,
  // re-aligned (robustly) at every t, along every coordinate and 10 random
  // directions, each scaled by c.
  std::vector<Eigen::Matrix3Xd> directions;
  for (int i = 0; i < 3 * n; ++i) {
    directions.push_back(Eigen::Matrix3Xd::Zero(3, n));
    directions.back().data()[i] = 1.0;
  }
  for (int k = 0; k < 10; ++k) directions.push_back(RandomPoints(n, &rng).normalized());
  const double c = 0.01 * std::sqrt((truth.colwise() - truth.rowwise().mean()).squaredNorm() / n);
  double worst = 0.0;
  for (const Eigen::Matrix3Xd& v : directions) {
    ceres::NumericDiffCostFunction<RobustAlong, ceres::RIDDERS, 1, 1> numeric(
        new RobustAlong{c, &estimate, &truth, v});
    double t = 0.0, numeric_value = 0.0, derivative = 0.0;
    const double* parameters[] = {&t};
    double* jacobians[] = {&derivative};
    ASSERT_TRUE(numeric.Evaluate(parameters, &numeric_value, jacobians));
    const double analytic = (gradient.array() * v.array()).sum();
    derivative /= c;
    worst = std::max(worst, std::abs(analytic - derivative) / (gradient.norm() * v.norm()));
  }
  // The same tolerance as the RMSE's envelope gradient above.
  EXPECT_LT(worst, 1e-9);
  std::printf("worst relative error of the robust envelope gradient: %.3g\n", worst);
}

TEST(RobustAlignedPointError, IsTheRmseForALargeScaleAndRefusesBadInput) {
  std::mt19937 rng(5);
  const Eigen::Matrix3Xd truth = RandomPoints(20, &rng);
  const Eigen::Matrix3Xd estimate = 2.0 * (truth + 0.05 * RandomPoints(20, &rng));
  double value = 0.0, rmse = 0.0;
  ASSERT_TRUE(RobustAlignedPointError(estimate, truth, 1e4, &value).ok());
  ASSERT_TRUE(AlignedPointError(estimate, truth, &rmse).ok());
  // phi(u) = u - u^2 / (4 c^2) + ...: relative difference ~ (rmse / c)^2 / 8.
  EXPECT_NEAR(value, rmse, 1e-6 * rmse);
  EXPECT_FALSE(RobustAlignedPointError(estimate, truth, 0.0, &value).ok());
  EXPECT_FALSE(RobustAlignedPointError(estimate, truth.leftCols(19), 0.01, &value).ok());
}

TEST(AlignedPointError, BadInputIsAStatus) {
  std::mt19937 rng(1);
  const Eigen::Matrix3Xd truth = RandomPoints(5, &rng);
  double rmse = 0.0;
  EXPECT_FALSE(AlignedPointError(RandomPoints(4, &rng), truth, &rmse).ok());
  Eigen::Matrix3Xd nan = truth;
  nan(1, 2) = std::numeric_limits<double>::quiet_NaN();
  EXPECT_FALSE(AlignedPointError(nan, truth, &rmse).ok());
  Eigen::Matrix3Xd collinear(3, 5);
  for (int j = 0; j < 5; ++j) collinear.col(j) = j * Eigen::Vector3d(1, 2, 3);
  const ceres_wiberg::Status status = AlignedPointError(collinear, truth, &rmse);
  EXPECT_EQ(status.code(), ceres_wiberg::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("collinear"), std::string::npos) << status.message();
  EXPECT_FALSE(AlignedPointError(truth.leftCols(2), truth.leftCols(2), &rmse).ok());
}

}  // namespace
}  // namespace bundle_adjustment
