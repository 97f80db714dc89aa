#include <cmath>
#include <vector>

#include "Eigen/Geometry"
#include "gtest/gtest.h"
#include "pose_data.h"
#include "pose_metrics.h"
#include "skeleton.h"

namespace human_pose {
namespace {

// A non-coplanar test pose: the root at (100, 200, 300) mm and every other
// joint 100 mm from it, kLeftFoot..kNeck (4 joints) along +-z, the other 12
// at 30-degree steps in the horizontal plane.
Pose StarPose() {
  Pose pose;
  const Eigen::Vector3d root(100.0, 200.0, 300.0);
  pose.col(kHip) = root;
  int step = 0;
  for (int j = 1; j < kNumJoints; ++j) {
    if (j >= kLeftFoot && j <= kNeck) {
      pose.col(j) = root + Eigen::Vector3d(0.0, 0.0, j % 2 == 0 ? 100.0 : -100.0);
    } else {
      const double angle = step++ * M_PI / 6.0;
      pose.col(j) = root + 100.0 * Eigen::Vector3d(std::cos(angle), std::sin(angle), 0.0);
    }
  }
  return pose;
}

double SumOfSquares(const Pose& a, const Pose& b, const std::vector<int>& joints) {
  double sum = 0.0;
  for (int j : joints) sum += (a.col(j) - b.col(j)).squaredNorm();
  return sum;
}

std::vector<int> AllJoints() {
  std::vector<int> joints;
  for (int j = 0; j < kNumJoints; ++j) joints.push_back(j);
  return joints;
}

TEST(PoseMetricsTest, IdenticalPosesHaveZeroError) {
  const Pose truth = StarPose();
  EXPECT_DOUBLE_EQ(P1(truth, truth), 0.0);
  EXPECT_NEAR(P2(truth, truth), 0.0, 1e-9);
  EXPECT_NEAR(P3(truth, truth), 0.0, 1e-9);
}

TEST(PoseMetricsTest, TranslationIsRemovedByEveryProtocol) {
  const Pose truth = StarPose();
  const Pose estimate = truth.colwise() + Eigen::Vector3d(-500.0, 40.0, 1234.0);
  EXPECT_NEAR(P1(estimate, truth), 0.0, 1e-9);
  EXPECT_NEAR(P2(estimate, truth), 0.0, 1e-9);
  EXPECT_NEAR(P3(estimate, truth), 0.0, 1e-9);
}

TEST(PoseMetricsTest, SimilarityGivesZeroP2AndHandComputedP1) {
  const Pose truth = StarPose();
  // Scale 2 and a 90-degree turn about z, then translate. Root-relative, a
  // joint on the z axis moves from 100 to 200 mm along z (error 100 mm); a
  // horizontal one from u to 2 R u, with u . R u = 0: error 100 sqrt(5) mm.
  const Eigen::Matrix3d rotation = Eigen::AngleAxisd(M_PI / 2.0, Eigen::Vector3d::UnitZ()).toRotationMatrix();
  const Pose estimate = (2.0 * rotation * truth).colwise() + Eigen::Vector3d(10.0, -20.0, 30.0);
  EXPECT_NEAR(P1(estimate, truth), (4.0 * 100.0 + 12.0 * 100.0 * std::sqrt(5.0)) / 17.0, 1e-9);
  EXPECT_NEAR(P2(estimate, truth), 0.0, 1e-9);
  EXPECT_NEAR(P3(estimate, truth), 0.0, 1e-9);
}

TEST(PoseMetricsTest, ProcrustesRecoversAGeneralSimilarity) {
  const Pose truth = StarPose();
  const Eigen::Matrix3d rotation =
      Eigen::AngleAxisd(0.7, Eigen::Vector3d(1.0, -2.0, 0.5).normalized()).toRotationMatrix();
  const Pose estimate = (0.37 * rotation * truth).colwise() + Eigen::Vector3d(3e3, 1e3, -2e3);
  const Pose aligned = ProcrustesAlign(estimate, truth, AllJoints());
  EXPECT_LT((aligned - truth).cwiseAbs().maxCoeff(), 1e-8);
  // Fitted on 4 joints only, the similarity is still exact and maps all 17.
  const Pose aligned4 = ProcrustesAlign(estimate, truth, {kRightKnee, kLeftFoot, kSpine, kHead});
  EXPECT_LT((aligned4 - truth).cwiseAbs().maxCoeff(), 1e-8);
}

TEST(PoseMetricsTest, KnownOffsetsGiveKnownErrors) {
  const Pose truth = StarPose();
  // 17 mm on one non-root joint: P1 = 17 / 17.
  Pose estimate = truth;
  estimate.col(kLeftWrist) += Eigen::Vector3d(0.0, 17.0, 0.0);
  EXPECT_NEAR(P1(estimate, truth), 1.0, 1e-12);
  // An offset v of the root alone: root alignment moves the 16 others by -v.
  estimate = truth;
  estimate.col(kHip) += Eigen::Vector3d(30.0, 40.0, 0.0);  // |v| = 50
  EXPECT_NEAR(P1(estimate, truth), 16.0 * 50.0 / 17.0, 1e-12);
  // The same offset on every joint: no error in any protocol.
  estimate = truth.colwise() + Eigen::Vector3d(30.0, 40.0, 0.0);
  EXPECT_NEAR(P1(estimate, truth), 0.0, 1e-12);
  EXPECT_NEAR(P2(estimate, truth), 0.0, 1e-9);
}

TEST(PoseMetricsTest, MeanJointErrorAveragesDistances) {
  const Pose a = Pose::Zero();
  Pose b = Pose::Zero();
  b.col(kHead) = Eigen::Vector3d(3.0, 4.0, 0.0);  // 5 mm
  b.col(kNeck) = Eigen::Vector3d(0.0, 0.0, 7.0);  // 7 mm
  EXPECT_DOUBLE_EQ(MeanJointError(a, b, {kHead, kNeck}), 6.0);
  EXPECT_DOUBLE_EQ(MeanJointError(a, b, {kHead, kNeck, kHip, kSpine}), 3.0);
}

// The mirror image x -> -x of a chiral pose is not a rotation of it: the
// proper Procrustes alignment leaves an error, computed here by hand. With
// joints at +-10 x, +-20 y, +-30 z (the other 11 at the origin) the cross
// covariance is diag(-200, 800, 1800): the rotation stays the identity, the
// smallest singular value changes sign and the scale is
// (1800 + 800 - 200) / (200 + 800 + 1800) = 6/7. The x joints land at -+60/7
// (errors 130/7), the y and z joints at 6/7 of their places (errors 20/7,
// 30/7): P2 = 2 (130 + 20 + 30) / 7 / 17 = 360 / 119 mm.
TEST(PoseMetricsTest, ReflectionIsNotRemoved) {
  Pose truth = Pose::Zero();
  truth.col(kRightHip) = Eigen::Vector3d(10.0, 0.0, 0.0);
  truth.col(kLeftHip) = Eigen::Vector3d(-10.0, 0.0, 0.0);
  truth.col(kRightKnee) = Eigen::Vector3d(0.0, 20.0, 0.0);
  truth.col(kLeftKnee) = Eigen::Vector3d(0.0, -20.0, 0.0);
  truth.col(kRightFoot) = Eigen::Vector3d(0.0, 0.0, 30.0);
  truth.col(kLeftFoot) = Eigen::Vector3d(0.0, 0.0, -30.0);
  Pose mirrored = truth;
  mirrored.row(0) *= -1.0;
  EXPECT_NEAR(P2(mirrored, truth), 360.0 / 119.0, 1e-9);
  const Pose aligned = ProcrustesAlign(mirrored, truth, AllJoints());
  EXPECT_NEAR(aligned(0, kRightHip), -60.0 / 7.0, 1e-9);
  EXPECT_NEAR(aligned(2, kRightFoot), 180.0 / 7.0, 1e-9);
  // The alignment keeps handedness: the signed volume spanned by three
  // joints keeps the sign of the estimate's.
  auto volume = [](const Pose& p) {
    return (p.col(kRightHip) - p.col(kHip))
        .dot((p.col(kRightKnee) - p.col(kHip)).cross(p.col(kRightFoot) - p.col(kHip)));
  };
  EXPECT_GT(volume(truth), 0.0);
  EXPECT_LT(volume(aligned), 0.0);
}

TEST(PoseMetricsTest, P3IgnoresTheThreeMidlineJoints) {
  const Pose truth = StarPose();
  Pose estimate = truth;
  estimate.col(kHip) += Eigen::Vector3d(100.0, 0.0, 0.0);
  estimate.col(kSpine) += Eigen::Vector3d(0.0, 100.0, 0.0);
  estimate.col(kNeck) += Eigen::Vector3d(0.0, 0.0, 100.0);
  EXPECT_NEAR(P3(estimate, truth), 0.0, 1e-9);
  EXPECT_GT(P2(estimate, truth), 1.0);
  // 14 mm on one of the 14 joints: the least-squares fit spreads it, lowering
  // the sum of squares below 14^2 but not to 0.
  estimate = truth;
  estimate.col(kRightWrist) += Eigen::Vector3d(0.0, 0.0, 14.0);
  const Pose aligned = ProcrustesAlign(estimate, truth, P3Joints());
  EXPECT_LT(SumOfSquares(aligned, truth, P3Joints()), 14.0 * 14.0);
  EXPECT_GT(SumOfSquares(aligned, truth, P3Joints()), 100.0);
  EXPECT_GT(P3(estimate, truth), 0.5);
}

TEST(PoseMetricsTest, ProcrustesMinimisesTheSumOfSquares) {
  // On a perturbed pose the fitted similarity beats the identity and small
  // changes of it in the sum of squared errors.
  const Pose truth = StarPose();
  Pose estimate = truth;
  for (int j = 0; j < kNumJoints; ++j) {
    estimate.col(j) += Eigen::Vector3d(std::sin(3.0 * j), std::cos(5.0 * j), std::sin(j)) * 20.0;
  }
  const Pose aligned = ProcrustesAlign(estimate, truth, AllJoints());
  const double best = SumOfSquares(aligned, truth, AllJoints());
  EXPECT_LT(best, SumOfSquares(estimate, truth, AllJoints()));
  const Eigen::Vector3d centre = aligned.rowwise().mean();
  for (int k = 0; k < 3; ++k) {
    const Eigen::Vector3d axis = Eigen::Vector3d::Unit(k);
    for (double step : {-1e-3, 1e-3}) {
      const Eigen::Matrix3d turn = Eigen::AngleAxisd(step, axis).toRotationMatrix();
      const Pose turned = ((turn * (aligned.colwise() - centre)).colwise() + centre);
      EXPECT_GT(SumOfSquares(turned, truth, AllJoints()), best);
      const Pose scaled = (((1.0 + step) * (aligned.colwise() - centre)).colwise() + centre);
      EXPECT_GT(SumOfSquares(scaled, truth, AllJoints()), best);
      const Pose moved = aligned.colwise() + step * axis;
      EXPECT_GT(SumOfSquares(moved, truth, AllJoints()), best);
    }
  }
  EXPECT_GT(P2(estimate, truth), 1.0);
}

TEST(PoseMetricsTest, CollapsedEstimateMapsToTheTruthCentroid) {
  const Pose truth = StarPose();
  const Pose estimate = Pose::Constant(5.0);
  const Pose aligned = ProcrustesAlign(estimate, truth, AllJoints());
  const Eigen::Vector3d centroid = truth.rowwise().mean();
  for (int j = 0; j < kNumJoints; ++j) EXPECT_LT((aligned.col(j) - centroid).norm(), 1e-9);
}

}  // namespace
}  // namespace human_pose
