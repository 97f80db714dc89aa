#include <algorithm>
#include <cmath>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "Eigen/Dense"
#include "gtest/gtest.h"
#include "ppca_fit.h"

namespace human_pose {
namespace {

constexpr int kPoseDim = 3 * kNumJoints;
using PoseVector = Eigen::Matrix<double, kPoseDim, 1>;

// A standing pose in the model frame: root at the origin, z up, right hip at +x,
// facing +y.
Pose StandingPose() {
  Pose pose;
  pose.col(kHip) << 0, 0, 0;
  pose.col(kRightHip) << 130, 0, 0;
  pose.col(kRightKnee) << 130, 10, -450;
  pose.col(kRightFoot) << 130, -20, -890;
  pose.col(kLeftHip) << -130, 0, 0;
  pose.col(kLeftKnee) << -130, 10, -450;
  pose.col(kLeftFoot) << -130, -20, -890;
  pose.col(kSpine) << 0, -10, 230;
  pose.col(kThorax) << 0, 0, 480;
  pose.col(kNeck) << 0, 40, 590;
  pose.col(kHead) << 0, 20, 700;
  pose.col(kLeftShoulder) << -150, 0, 450;
  pose.col(kLeftElbow) << -180, 20, 180;
  pose.col(kLeftWrist) << -190, 60, -60;
  pose.col(kRightShoulder) << 150, 0, 450;
  pose.col(kRightElbow) << 180, 20, 180;
  pose.col(kRightWrist) << 190, 60, -60;
  return pose;
}

// A sitting pose in the model frame: thighs and forearms forward (+y).
Pose SittingPose() {
  Pose pose = StandingPose();
  pose.col(kRightKnee) << 140, 430, -20;
  pose.col(kRightFoot) << 140, 450, -460;
  pose.col(kLeftKnee) << -140, 430, -20;
  pose.col(kLeftFoot) << -140, 450, -460;
  pose.col(kLeftElbow) << -170, 150, 220;
  pose.col(kLeftWrist) << -150, 350, 160;
  pose.col(kRightElbow) << 170, 150, 220;
  pose.col(kRightWrist) << 150, 350, 160;
  return pose;
}

// The orthogonal projection onto the poses of the model frame's linear
// constraints: root at the origin and right_hip.y == left_hip.y.
PoseVector ProjectToFrame(PoseVector v) {
  v.segment<3>(3 * kHip).setZero();
  const double y = 0.5 * (v[3 * kRightHip + 1] + v[3 * kLeftHip + 1]);
  v[3 * kRightHip + 1] = y;
  v[3 * kLeftHip + 1] = y;
  return v;
}

double Gaussian(std::mt19937_64* rng) {
  return std::normal_distribution<double>(0.0, 1.0)(*rng);
}

double Uniform(std::mt19937_64* rng) {
  return std::uniform_real_distribution<double>(0.0, 1.0)(*rng);
}

// A known PPCA component: random orthonormal basis in the frame's subspace,
// variances 2500 * 0.82^i mm^2 (2500 down to 21.6).
PpcaComponent KnownComponent(const Pose& mean, std::mt19937_64* rng) {
  Eigen::MatrixXd random(kPoseDim, kNumBasis);
  for (int b = 0; b < kNumBasis; ++b) {
    PoseVector v;
    for (int i = 0; i < kPoseDim; ++i) v[i] = Gaussian(rng);
    random.col(b) = ProjectToFrame(v);
  }
  const Eigen::MatrixXd q =
      Eigen::HouseholderQR<Eigen::MatrixXd>(random).householderQ() *
      Eigen::MatrixXd::Identity(kPoseDim, kNumBasis);
  PpcaComponent component;
  component.mean = mean;
  component.variances.resize(kNumBasis);
  for (int b = 0; b < kNumBasis; ++b) {
    PoseVector direction = q.col(b);
    component.basis.push_back(Eigen::Map<const Pose>(direction.data()));
    component.variances[b] = 2500.0 * std::pow(0.82, b);
  }
  return component;
}

// A sample of the component plus isotropic noise of variance 1 mm^2 within the
// frame's subspace, placed in the world by a random rotation about z and a
// random translation.
Pose SampleWorldPose(const PpcaComponent& component, std::mt19937_64* rng) {
  Pose pose = component.mean;
  for (int b = 0; b < kNumBasis; ++b) {
    pose += std::sqrt(component.variances[b]) * Gaussian(rng) * component.basis[b];
  }
  PoseVector noise;
  for (int i = 0; i < kPoseDim; ++i) noise[i] = Gaussian(rng);
  noise = ProjectToFrame(noise);
  pose += Eigen::Map<const Pose>(noise.data());
  const double angle = std::uniform_real_distribution<double>(-M_PI, M_PI)(*rng);
  const Eigen::Vector3d translation(2000.0 * (Uniform(rng) - 0.5), 2000.0 * (Uniform(rng) - 0.5),
                                    1000.0 * Uniform(rng));
  return (RotationAboutZ(angle) * pose).colwise() + translation;
}

struct TwoComponentData {
  std::vector<PpcaComponent> truth;  // standing (3000 poses), sitting (2000)
  std::vector<Pose> poses;
};

TwoComponentData MakeTwoComponentData(int num_standing = 3000, int num_sitting = 2000) {
  std::mt19937_64 rng(42);
  TwoComponentData data;
  data.truth.push_back(KnownComponent(StandingPose(), &rng));
  data.truth.push_back(KnownComponent(SittingPose(), &rng));
  for (int i = 0; i < num_standing; ++i) data.poses.push_back(SampleWorldPose(data.truth[0], &rng));
  for (int i = 0; i < num_sitting; ++i) data.poses.push_back(SampleWorldPose(data.truth[1], &rng));
  std::shuffle(data.poses.begin(), data.poses.end(), rng);
  return data;
}

TEST(CanonicalisePoseTest, DefinesTheDocumentedFrame) {
  Pose pose = StandingPose();
  pose.col(kRightHip) = pose.col(kHip) + Eigen::Vector3d(-90, 80, 15);
  pose.col(kLeftHip) = pose.col(kHip) + Eigen::Vector3d(100, -60, -10);
  const Pose canonical = CanonicalisePose(pose);
  EXPECT_LT(canonical.col(kHip).norm(), 1e-12);
  EXPECT_NEAR(canonical(1, kRightHip), canonical(1, kLeftHip), 1e-9);
  EXPECT_GT(canonical(0, kRightHip), canonical(0, kLeftHip));
  // Only a rotation about z and a translation: heights relative to the root and
  // all distances are kept.
  for (int j = 0; j < kNumJoints; ++j) {
    EXPECT_NEAR(canonical(2, j), pose(2, j) - pose(2, kHip), 1e-9);
    EXPECT_NEAR(canonical.col(j).norm(), (pose.col(j) - pose.col(kHip)).norm(), 1e-9);
  }
  // The world pose is recovered from the heading and the root.
  const Pose back =
      (RotationAboutZ(HipHeading(pose)) * canonical).colwise() + Eigen::Vector3d(pose.col(kHip));
  EXPECT_LT((back - pose).cwiseAbs().maxCoeff(), 1e-9);
  // The standing pose of this test is already canonical.
  EXPECT_LT((CanonicalisePose(StandingPose()) - StandingPose()).cwiseAbs().maxCoeff(), 1e-12);
}

TEST(CanonicalisePoseTest, InvariantToRotationAboutZAndTranslation) {
  std::mt19937_64 rng(3);
  for (int trial = 0; trial < 50; ++trial) {
    Pose pose;
    for (int j = 0; j < kNumJoints; ++j) {
      pose.col(j) << 400.0 * Gaussian(&rng), 400.0 * Gaussian(&rng), 400.0 * Gaussian(&rng);
    }
    const double angle = std::uniform_real_distribution<double>(-M_PI, M_PI)(rng);
    const Eigen::Vector3d translation(5000.0 * Gaussian(&rng), 5000.0 * Gaussian(&rng),
                                      1000.0 * Gaussian(&rng));
    const Pose moved = (RotationAboutZ(angle) * pose).colwise() + translation;
    EXPECT_LT((CanonicalisePose(moved) - CanonicalisePose(pose)).cwiseAbs().maxCoeff(), 1e-8)
        << "trial " << trial;
  }
}

TEST(CanonicalisePoseTest, CoincidentHipsOnlyTranslate) {
  Pose pose = StandingPose();
  pose.col(kLeftHip) = pose.col(kRightHip) + Eigen::Vector3d(0, 0, 50);
  EXPECT_FALSE(HasHorizontalHipAxis(pose));
  EXPECT_EQ(HipHeading(pose), 0.0);
  const Pose moved = pose.colwise() + Eigen::Vector3d(10, 20, 30);
  EXPECT_LT((CanonicalisePose(moved) - pose).cwiseAbs().maxCoeff(), 1e-12);
}

TEST(FitPpcaMixtureTest, RecoversAKnownTwoComponentModel) {
  const TwoComponentData data = MakeTwoComponentData();
  PpcaFitOptions options;
  options.num_components = 2;
  PoseModel model;
  model.weights.loss_scale = 123.0;
  PpcaFitSummary summary;
  const ceres_wiberg::Status status = FitPpcaMixture(data.poses, options, &model, &summary);
  ASSERT_TRUE(status.ok()) << status.ToString();
  ASSERT_EQ(model.components.size(), 2u);
  // The hand-set energy weights are restored.
  EXPECT_EQ(model.weights.loss_scale, EnergyWeights().loss_scale);
  EXPECT_EQ(model.weights.prior_weight, EnergyWeights().prior_weight);
  // k-means separates the clusters exactly; components are sorted by size.
  EXPECT_EQ(summary.component_sizes, (std::vector<int>{3000, 2000}));
  EXPECT_NEAR(summary.mixture_weights[0], 0.6, 1e-12);
  EXPECT_EQ(summary.restart_sums_of_squares.size(), static_cast<size_t>(options.kmeans_restarts));

  for (int c = 0; c < 2; ++c) {
    // Match to the nearest true mean (order-free).
    const PpcaComponent& fit = model.components[c];
    int match = (fit.mean - data.truth[0].mean).norm() < (fit.mean - data.truth[1].mean).norm() ? 0 : 1;
    EXPECT_EQ(match, c);  // bigger cluster first
    const PpcaComponent& truth = data.truth[match];
    // Mean: standard error <= sqrt(2501 / 2000) = 1.1 mm per coordinate.
    EXPECT_LT((fit.mean - truth.mean).cwiseAbs().maxCoeff(), 5.0) << "component " << c;
    ASSERT_EQ(fit.basis.size(), static_cast<size_t>(kNumBasis));
    ASSERT_EQ(fit.variances.size(), kNumBasis);
    Eigen::MatrixXd true_basis(kPoseDim, kNumBasis);
    for (int b = 0; b < kNumBasis; ++b) {
      true_basis.col(b) = Eigen::Map<const PoseVector>(truth.basis[b].data());
    }
    for (int b = 0; b < kNumBasis; ++b) {
      const PoseVector v = Eigen::Map<const PoseVector>(fit.basis[b].data());
      EXPECT_NEAR(v.norm(), 1.0, 1e-12);
      // Eigenvalues are true + 1 mm^2 noise; relative sampling error
      // sqrt(2 / n) <= 3.2%.
      const double expected = truth.variances[b] + 1.0;
      EXPECT_NEAR(fit.variances[b], expected, 0.12 * expected)
          << "component " << c << " basis " << b;
      // The fitted direction lies in the true subspace (noise leaks 1 mm^2
      // against at least 21.6 mm^2).
      const PoseVector off = v - true_basis * (true_basis.transpose() * v);
      EXPECT_LT(off.norm(), 0.05) << "component " << c << " basis " << b;
      // Leading directions match one by one. Neighbouring eigenvalues are only
      // 18% apart, so each direction mixes with its neighbours by an angle of
      // about sqrt(sum_j l_i l_j / (n (l_i - l_j)^2)) = 0.1-0.15 rad; 0.9 is
      // an angle of 0.45 rad (measured: at least 0.944).
      if (b < 5) {
        EXPECT_GT(std::abs(v.dot(true_basis.col(b))), 0.9) << "component " << c << " basis " << b;
      }
    }
  }
  // Reconstruction error is the 1 mm^2 noise off the 25-d subspace:
  // about sqrt(22 / 17 * 1) per joint (22 noise dimensions off the subspace).
  EXPECT_GT(summary.mean_reconstruction_error, 0.5);
  EXPECT_LT(summary.mean_reconstruction_error, 1.5);
  EXPECT_GT(summary.explained_variance[0], 0.99);
  std::cout << summary.BriefReport();
}

TEST(FitPpcaMixtureTest, DeterministicForASeed) {
  const TwoComponentData data = MakeTwoComponentData(400, 300);
  PpcaFitOptions options;
  options.num_components = 3;  // more components than clusters: seeding matters
  options.seed = 11;
  PoseModel first, second;
  PpcaFitSummary first_summary, second_summary;
  ASSERT_TRUE(FitPpcaMixture(data.poses, options, &first, &first_summary).ok());
  ASSERT_TRUE(FitPpcaMixture(data.poses, options, &second, &second_summary).ok());
  EXPECT_EQ(first_summary.restart_sums_of_squares, second_summary.restart_sums_of_squares);
  EXPECT_EQ(first_summary.component_sizes, second_summary.component_sizes);
  for (int c = 0; c < 3; ++c) {
    EXPECT_EQ(first.components[c].mean, second.components[c].mean);
    EXPECT_EQ(first.components[c].variances, second.components[c].variances);
    for (int b = 0; b < kNumBasis; ++b) {
      EXPECT_EQ(first.components[c].basis[b], second.components[c].basis[b]);
    }
  }
  // The best restart is kept.
  const auto& sums = first_summary.restart_sums_of_squares;
  EXPECT_EQ(first_summary.kmeans_sum_of_squares, *std::min_element(sums.begin(), sums.end()));
}

TEST(FitPpcaMixtureTest, SmallClustersFallBackToMinimumVariance) {
  const TwoComponentData data = MakeTwoComponentData(10, 10);
  PpcaFitOptions options;
  options.num_components = 2;
  options.min_poses_per_component = 2;
  options.min_variance = 3.0;
  PoseModel model;
  ASSERT_TRUE(FitPpcaMixture(data.poses, options, &model).ok());
  for (const PpcaComponent& component : model.components) {
    // 10 poses span at most 9 directions.
    for (int b = 0; b < kNumBasis; ++b) {
      if (b < 9) {
        EXPECT_GT(component.variances[b], 3.0);
      } else {
        EXPECT_EQ(component.variances[b], 3.0);
      }
    }
  }
}

TEST(FitPpcaMixtureTest, ProjectionHelpers) {
  std::mt19937_64 rng(5);
  const PpcaComponent component = KnownComponent(SittingPose(), &rng);
  Eigen::VectorXd coefficients(kNumBasis);
  Pose pose = component.mean;
  for (int b = 0; b < kNumBasis; ++b) {
    coefficients[b] = 10.0 * Gaussian(&rng);
    pose += coefficients[b] * component.basis[b];
  }
  EXPECT_LT((ProjectOntoComponent(component, pose) - coefficients).cwiseAbs().maxCoeff(), 1e-9);
  EXPECT_LT(ReconstructionError(component, pose), 1e-9);
  const double energy =
      0.5 * (coefficients.array().square() / component.variances.array()).sum();
  EXPECT_NEAR(CoefficientPriorEnergy(component, pose), energy, 1e-9 * energy);
  // 10 mm along the root, which is orthogonal to the basis: 10 / 17 per joint.
  Pose shifted = pose;
  shifted(0, kHip) += 10.0;
  EXPECT_NEAR(ReconstructionError(component, shifted), 10.0 / kNumJoints, 1e-9);
}

TEST(FitPpcaMixtureTest, RejectsBadOptions) {
  std::string error;
  EXPECT_TRUE(PpcaFitOptions().IsValid(&error));
  auto expect_invalid = [](const PpcaFitOptions& options, const std::string& field) {
    std::string message;
    EXPECT_FALSE(options.IsValid(&message));
    EXPECT_NE(message.find(field), std::string::npos) << message;
    PoseModel model;
    const ceres_wiberg::Status status =
        FitPpcaMixture(MakeTwoComponentData(100, 100).poses, options, &model);
    EXPECT_EQ(status.code(), ceres_wiberg::StatusCode::kInvalidArgument);
    EXPECT_NE(status.message().find(field), std::string::npos) << status.message();
  };
  PpcaFitOptions options;
  options.num_components = 0;
  expect_invalid(options, "num_components");
  options = PpcaFitOptions();
  options.kmeans_restarts = 0;
  expect_invalid(options, "kmeans_restarts");
  options = PpcaFitOptions();
  options.kmeans_max_iterations = 0;
  expect_invalid(options, "kmeans_max_iterations");
  options = PpcaFitOptions();
  options.min_variance = 0.0;
  expect_invalid(options, "min_variance");
  options.min_variance = std::nan("");
  expect_invalid(options, "min_variance");
  options = PpcaFitOptions();
  options.min_poses_per_component = 1;
  expect_invalid(options, "min_poses_per_component");
}

TEST(FitPpcaMixtureTest, RejectsBadPosesAndLeavesTheModelUntouched) {
  PoseModel model;
  model.components.resize(1);
  model.components[0].mean(0, 0) = 7.0;
  PpcaFitOptions options;
  options.num_components = 2;

  auto expect_error = [&](const std::vector<Pose>& poses, const std::string& text) {
    const ceres_wiberg::Status status = FitPpcaMixture(poses, options, &model);
    EXPECT_EQ(status.code(), ceres_wiberg::StatusCode::kInvalidArgument);
    EXPECT_NE(status.message().find(text), std::string::npos) << status.message();
    ASSERT_EQ(model.components.size(), 1u);
    EXPECT_EQ(model.components[0].mean(0, 0), 7.0);
  };
  expect_error({}, "no training poses");
  // 2 components need at least 2 * 26 poses.
  expect_error(MakeTwoComponentData(30, 21).poses, "at least 2 x min_poses_per_component (26)");

  std::vector<Pose> poses = MakeTwoComponentData(100, 100).poses;
  poses[17](1, 4) = std::nan("");
  expect_error(poses, "training pose 17 has a non-finite coordinate");
  poses = MakeTwoComponentData(100, 100).poses;
  poses[3].col(kLeftHip) = poses[3].col(kRightHip);
  expect_error(poses, "training pose 3 has its hips at the same horizontal position");
  // A 20-pose cluster is below min_poses_per_component.
  expect_error(MakeTwoComponentData(100, 20).poses, "component 1 of 2 has 20 poses");
}

}  // namespace
}  // namespace human_pose
