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
