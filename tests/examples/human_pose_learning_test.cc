// Learning the human-pose model (examples/human_pose/lib/pose_learning.h):
// the training objective's gradient against re-solved finite differences, the
// parameter layout, and a short training run that lowers the training error.
// Tiny models and frames are built here (K = 2 random components, 4 cameras).

#include <cmath>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "Eigen/Geometry"
#include "Eigen/QR"
#include "gtest/gtest.h"
#include "human_pose_test_model.h"
#include "pose_energy.h"
#include "pose_fitter.h"
#include "pose_learning.h"

namespace human_pose {
namespace {

using testing::RandomModel;
using testing::StickFigure;
using testing::TestCameras;

using ceres_wiberg::Status;
using ceres_wiberg::StatusCode;

// Frames of the true model: component f % K, coefficients ~ N(0, variances),
// random heading and position; perspective detections with 3 px noise, kSpine
// missed, and in every third frame a 50 px error on one joint of camera 0.
std::vector<Frame> Frames(const PoseModel& truth, const std::vector<Camera>& cameras,
                          int num_frames, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::uniform_real_distribution<double> uniform(-M_PI, M_PI);
  std::vector<Frame> frames;
  for (int f = 0; f < num_frames; ++f) {
    const PpcaComponent& component = truth.components[f % truth.components.size()];
    Pose pose = component.mean;
    for (int i = 0; i < kNumBasis; ++i) {
      pose += std::sqrt(component.variances[i]) * normal(rng) * component.basis[i];
    }
    Frame frame;
    const Eigen::Vector3d position(300 * normal(rng), 300 * normal(rng), 900);
    frame.pose = (RotationAboutZ(uniform(rng)) * pose).colwise() + position;
    for (size_t v = 0; v < cameras.size(); ++v) {
      Detection detection;
      for (int j = 0; j < kNumJoints; ++j) {
        detection.joints.col(j) = cameras[v].Project(frame.pose.col(j)) +
                                  3.0 * Eigen::Vector2d(normal(rng), normal(rng));
        detection.visible[j] = j != kUndetectedJoint;
      }
      if (v == 0 && f % 3 == 0) detection.joints.col(kLeftElbow) += Eigen::Vector2d(50, 0);
      frame.views.push_back(detection);
    }
    frames.push_back(frame);
  }
  return frames;
}

// The initial model: the true one with its means moved by 40 mm per
// coordinate, variances scaled by 4 and joint weights perturbed.
PoseModel Perturbed(const PoseModel& truth, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  PoseModel model = truth;
  for (PpcaComponent& component : model.components) {
    for (int j = 1; j < kNumJoints; ++j) {
      for (int d = 0; d < 3; ++d) component.mean(d, j) += 40.0 * normal(rng);
    }
    component.variances *= 4.0;
  }
  for (int j = 0; j < kNumJoints; ++j) {
    for (int d = 0; d < 2; ++d) model.weights.joint_weights(d, j) = 1.0 + 0.3 * normal(rng);
  }
  return model;
}

TEST(HumanPoseLearning, OuterLossesAndTheirGradients) {
  const Pose truth = StickFigure().colwise() + Eigen::Vector3d(10, 20, 30);
  Pose estimate = StickFigure();
  estimate(0, kHead) += 17.0;  // one joint 17 mm off after root alignment
  Pose gradient;
  EXPECT_NEAR(RootAlignedSquaredError(estimate, truth, &gradient), 17.0 * 17.0 / 17.0, 1e-9);
  // Central differences (the error is quadratic: exact up to round-off).
  for (int j = 0; j < kNumJoints; ++j) {
    for (int d = 0; d < 3; ++d) {
      Pose plus = estimate, minus = estimate;
      plus(d, j) += 1e-3;
      minus(d, j) -= 1e-3;
      const double numeric =
          (RootAlignedSquaredError(plus, truth) - RootAlignedSquaredError(minus, truth)) / 2e-3;
      EXPECT_NEAR(gradient(d, j), numeric, 1e-8) << "joint " << j << " axis " << d;
    }
  }
  // The smoothed P1: (sqrt(17^2 + 1) - 1) / 17 mm; its gradient against
  // central differences with h = 1e-4 mm (truncation ~h^2, tolerance 1e-7).
  EXPECT_NEAR(RootAlignedJointError(estimate, truth, &gradient),
              (std::sqrt(17.0 * 17.0 + 1.0) - 1.0) / 17.0, 1e-12);
  for (int j = 0; j < kNumJoints; ++j) {
    for (int d = 0; d < 3; ++d) {
      Pose plus = estimate, minus = estimate;
      plus(d, j) += 1e-4;
      minus(d, j) -= 1e-4;
      const double numeric =
          (RootAlignedJointError(plus, truth) - RootAlignedJointError(minus, truth)) / 2e-4;
      EXPECT_NEAR(gradient(d, j), numeric, 1e-7) << "joint " << j << " axis " << d;
    }
  }
}

TEST(HumanPoseLearning, LayoutPacksAndUnpacksEveryGroup) {
  const PoseModel model = RandomModel(2, 3, /*random_joint_weights=*/false);
  const PoseParameterLayout layout(model, LearnableGroups(), ReprojectionLoss::kPseudoHuber, 10.0);
  // 2 x (16 x 3 means + 25 x 16 x 3 bases + 25 variances) + 34 weights + scale.
  EXPECT_EQ(layout.size(), 2 * (48 + 1200 + 25) + 34 + 1);
  const Eigen::VectorXd w = layout.Pack(model);
  PoseModel copy = RandomModel(2, 4, /*random_joint_weights=*/false);
  layout.Unpack(w, &copy);
  EXPECT_LT((copy.components[1].mean - model.components[1].mean).cwiseAbs().maxCoeff(), 1e-12);
  EXPECT_LT((copy.components[0].basis[7] - model.components[0].basis[7]).cwiseAbs().maxCoeff(),
            1e-12);
  EXPECT_LT((copy.components[1].variances - model.components[1].variances).cwiseAbs().maxCoeff(),
            1e-9);
  EXPECT_NEAR(copy.weights.loss_scale, 8.0, 1e-12);
  // log-variance and log-scale coordinates; a mean coordinate is mm / 10.
  EXPECT_NEAR(w[layout.MeanIndex(0, kHead, 2)], model.components[0].mean(2, kHead) / 10.0, 1e-12);
  EXPECT_NEAR(layout.Derivative(w, layout.MeanIndex(0, kHead, 2)), 10.0, 1e-12);
  EXPECT_NEAR(layout.Derivative(w, layout.BasisIndex(1, 24, kHead, 0)), 10.0 / std::sqrt(100.0),
              1e-9);
  EXPECT_EQ(layout.MeanIndex(0, kHip, 0), -1);  // the root is not learnt
  const PoseParameterLayout l2_layout(model, LearnableGroups(), ReprojectionLoss::kL2, 10.0);
  EXPECT_EQ(l2_layout.size(), layout.size() - 1);
}

// dL/dw of one frame (lambda = 0: the implicit derivative, exact Hessian)
// against central differences of the loss with every candidate re-solved,
// for coordinates of every group. The fits are solved to round-off (tolerances
// 0), so the differences (h = 1e-4, relative) carry O(h^2) truncation and
// ~1e-8 relative solver noise; tolerance: 2e-3 relative to the largest
// checked |gradient| entry.
TEST(HumanPoseLearning, ObjectiveGradientMatchesReSolvedDifferences) {
  const std::vector<Camera> cameras = TestCameras();
  const PoseModel truth = RandomModel(2, 21, /*random_joint_weights=*/false);
  const PoseModel model = Perturbed(truth, 22);
  const std::vector<Frame> frames = Frames(truth, cameras, 3, 23);
  for (const auto& [loss, camera_model] :
       std::vector<std::pair<ReprojectionLoss, CameraModel>>{
           {ReprojectionLoss::kL2, CameraModel::kWeakPerspective},
           {ReprojectionLoss::kPseudoHuber, CameraModel::kWeakPerspective},
           {ReprojectionLoss::kL2, CameraModel::kCalibratedPerspective},
           {ReprojectionLoss::kPseudoHuber, CameraModel::kCalibratedPerspective}}) {
    SCOPED_TRACE(std::string(ReprojectionLossToString(loss)) + ", " +
                 CameraModelToString(camera_model));
    PoseFitOptions fit_options;
    fit_options.loss = loss;
    fit_options.camera_model = camera_model;
    fit_options.num_rotation_seeds = 2;
    fit_options.function_tolerance = 0.0;
    fit_options.gradient_tolerance = 0.0;
    fit_options.parameter_tolerance = 0.0;
    fit_options.max_num_iterations = 200;
    ceres_wiberg::MinimiserDerivative::Options derivative_options;
    derivative_options.lambda = 0.0;
    derivative_options.final_newton_step = true;
    const PoseParameterLayout layout(model, LearnableGroups(), loss, 10.0);
    PoseTrainingObjective objective(&cameras, &frames, fit_options, derivative_options, &layout,
                                    model);
    const Eigen::VectorXd w = layout.Pack(model);
    double loss_value = 0.0;
    Eigen::VectorXd gradient;
    const Status status = objective.EvaluateExample(1, w, &loss_value, &gradient);
    ASSERT_TRUE(status.ok()) << status.ToString();
    EXPECT_GT(loss_value, 10.0);  // mm^2: the perturbed model is not exact
    PoseFit fit;
    ASSERT_TRUE(FitPose(model, cameras, frames[1], fit_options, &fit).ok());
    const int k = fit.component;
    // The layout ends with 2 x 25 log-variances, 34 weights [and the scale].
    const int weights = layout.size() - 34 - (loss == ReprojectionLoss::kL2 ? 0 : 1);
    std::vector<int> indices = {layout.MeanIndex(k, kHead, 2), layout.MeanIndex(k, kLeftWrist, 0),
                                layout.MeanIndex(k, kSpine, 1),  // undetected: direct term only
                                layout.BasisIndex(k, 0, kRightKnee, 1),
                                layout.BasisIndex(k, 3, kLeftElbow, 2),
                                layout.MeanIndex(1 - k, kHead, 2),  // the losing component
                                weights - 50 + 25 * k,              // log-variance 0 of k
                                weights - 50 + 25 * k + 20,         // log-variance 20 of k
                                weights + 2 * kRightWrist + 1};
    if (loss == ReprojectionLoss::kPseudoHuber) indices.push_back(layout.size() - 1);
    double largest = 0.0;
    for (int index : indices) largest = std::max(largest, std::abs(gradient[index]));
    ASSERT_GT(largest, 1e-3);
    for (int index : indices) {
      const double h = 1e-4 * std::max(1.0, std::abs(w[index]));
      Eigen::VectorXd plus = w, minus = w;
      plus[index] += h;
      minus[index] -= h;
      double loss_plus = 0.0, loss_minus = 0.0;
      ASSERT_TRUE(objective.EvaluateExample(1, plus, &loss_plus, nullptr).ok());
      ASSERT_TRUE(objective.EvaluateExample(1, minus, &loss_minus, nullptr).ok());
      const double numeric = (loss_plus - loss_minus) / (2 * h);
      EXPECT_NEAR(gradient[index], numeric, 2e-3 * largest) << "coordinate " << index;
    }
    EXPECT_EQ(gradient[layout.MeanIndex(1 - k, kHead, 2)], 0.0);
  }
}

// A short run (K = 2, 8 frames, 5 epochs of Adam, 2 threads) from a
// perturbed model lowers the training error substantially: l2 energy with the
// squared outer loss, pseudo-Huber energy with the P1 outer loss.
TEST(HumanPoseLearning, ShortTrainingRunLowersTheTrainingError) {
  const std::vector<Camera> cameras = TestCameras();
  const PoseModel truth = RandomModel(2, 31, /*random_joint_weights=*/false);
  const std::vector<Frame> frames = Frames(truth, cameras, 8, 32);
  const std::vector<Frame> validation = Frames(truth, cameras, 4, 33);
  for (ReprojectionLoss loss : {ReprojectionLoss::kL2, ReprojectionLoss::kPseudoHuber}) {
    SCOPED_TRACE(ReprojectionLossToString(loss));
    PoseModel model = Perturbed(truth, 34);
    PoseFitOptions fit_options;
    fit_options.loss = loss;
    fit_options.num_rotation_seeds = 2;
    PoseLearningOptions options;
    options.num_epochs = 5;
    options.batch_size = 4;
    options.learning_rate = 0.1;
    options.num_threads = 2;
    options.validation_frames = &validation;
    options.outer_loss = loss == ReprojectionLoss::kL2 ? PoseOuterLoss::kSquaredError
                                                       : PoseOuterLoss::kJointError;
    PoseLearningSummary summary;
    const Status status = TrainPoseModel(cameras, frames, fit_options, options, &model, &summary);
    ASSERT_TRUE(status.ok()) << status.ToString();
    std::cout << summary.BriefReport() << "\n";
    EXPECT_EQ(summary.num_epochs, 5);
    EXPECT_EQ(summary.num_iterations, 10);
    EXPECT_EQ(summary.num_training_frames, 8);
    EXPECT_EQ(static_cast<int>(summary.epoch_losses.size()), 5);
    EXPECT_GT(summary.initial_training_error, 30.0);  // mm: the means are 40 mm off
    EXPECT_LT(summary.final_training_error, 0.7 * summary.initial_training_error)
        << summary.BriefReport();
    EXPECT_LT(summary.final_training_loss, summary.initial_training_loss);
    EXPECT_LT(summary.final_validation_error, summary.initial_validation_error);
    EXPECT_TRUE(ValidatePoseModel(model, loss).ok());
  }
}

TEST(HumanPoseLearning, RejectsBadOptions) {
  const std::vector<Camera> cameras = TestCameras();
  const PoseModel truth = RandomModel(1, 41, /*random_joint_weights=*/false);
  const std::vector<Frame> frames = Frames(truth, cameras, 2, 42);
  PoseModel model = truth;
  PoseLearningOptions options;
  options.learning_rate = -1.0;
  EXPECT_EQ(TrainPoseModel(cameras, frames, PoseFitOptions(), options, &model, nullptr).code(),
            StatusCode::kInvalidArgument);
  options = PoseLearningOptions();
  options.groups = LearnableGroups{false, false, false, false, false};
  EXPECT_EQ(TrainPoseModel(cameras, frames, PoseFitOptions(), options, &model, nullptr).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(TrainPoseModel(cameras, {}, PoseFitOptions(), PoseLearningOptions(), &model, nullptr)
                .code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace human_pose
