// The human-pose energy (examples/human_pose/lib/pose_energy.h): residual
// Jacobians against central differences, dy*/dw against
// MinimiserDerivativeChecker, and FitPose on frames it must recover exactly.
// Tiny models and frames are built here (K = 2 random components, 4 cameras).

#include <cmath>
#include <memory>
#include <random>
#include <vector>

#include "Eigen/Geometry"
#include "Eigen/QR"
#include "ceres/crs_matrix.h"
#include "ceres/problem.h"
#include "ceres_wiberg/bilevel_problem.h"
#include "ceres_wiberg/minimiser_derivative.h"
#include "ceres_wiberg/minimiser_derivative_checker.h"
#include "gtest/gtest.h"
#include "human_pose_test_model.h"
#include "pose_energy.h"
#include "pose_fitter.h"

namespace human_pose {
namespace {

using testing::RandomModel;
using testing::StickFigure;
using testing::TestCameras;

using ceres_wiberg::BilevelProblem;
using ceres_wiberg::HessianModel;
using ceres_wiberg::MinimiserDerivative;
using ceres_wiberg::MinimiserDerivativeChecker;
using ceres_wiberg::Status;
using ceres_wiberg::StatusCode;

// A frame of component 0 with coefficients ~ N(0, variances / 4), turned by
// 0.7 rad and placed at (200, -100, 900); perspective detections with 2 px
// noise, kSpine and one more joint missed, one gross error in camera 2.
Frame NoisyFrame(const PoseModel& model, const std::vector<Camera>& cameras, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  const PpcaComponent& component = model.components[0];
  Pose pose = component.mean;
  for (int i = 0; i < kNumBasis; ++i) {
    pose += 0.5 * std::sqrt(component.variances[i]) * normal(rng) * component.basis[i];
  }
  Frame frame;
  frame.pose = (RotationAboutZ(0.7) * pose).colwise() + Eigen::Vector3d(200, -100, 900);
  for (size_t v = 0; v < cameras.size(); ++v) {
    Detection detection;
    for (int j = 0; j < kNumJoints; ++j) {
      detection.joints.col(j) = cameras[v].Project(frame.pose.col(j)) +
                                2.0 * Eigen::Vector2d(normal(rng), normal(rng));
      detection.visible[j] = j != kUndetectedJoint;
    }
    if (v == 1) detection.visible[kLeftWrist] = false;
    if (v == 2) detection.joints.col(kRightElbow) += Eigen::Vector2d(60, -45);
    frame.views.push_back(detection);
  }
  return frame;
}

struct Setting {
  std::vector<int> views;
  ReprojectionLoss loss;
  CameraModel camera_model;
};

std::vector<Setting> AllSettings() {
  constexpr CameraModel kWeak = CameraModel::kWeakPerspective;
  constexpr CameraModel kPerspective = CameraModel::kCalibratedPerspective;
  return {{{0, 1, 2, 3}, ReprojectionLoss::kL2, kWeak},
          {{0, 1, 2, 3}, ReprojectionLoss::kPseudoHuber, kWeak},
          {{1}, ReprojectionLoss::kL2, kWeak},
          {{1}, ReprojectionLoss::kPseudoHuber, kWeak},
          {{0, 1, 2, 3}, ReprojectionLoss::kL2, kPerspective},
          {{0, 1, 2, 3}, ReprojectionLoss::kPseudoHuber, kPerspective},
          {{1}, ReprojectionLoss::kPseudoHuber, kPerspective}};
}

std::string Describe(const Setting& setting) {
  return std::string(setting.views.size() == 1 ? "monocular" : "multi-view") + ", " +
         ReprojectionLossToString(setting.loss) + ", " +
         CameraModelToString(setting.camera_model);
}

Eigen::VectorXd Residuals(ceres::Problem* problem) {
  std::vector<double> residuals;
  EXPECT_TRUE(problem->Evaluate(ceres::Problem::EvaluateOptions(), nullptr, &residuals, nullptr,
                                nullptr));
  return Eigen::Map<Eigen::VectorXd>(residuals.data(), residuals.size());
}

// Every residual's Jacobian w.r.t. the inner and the learnable blocks (from
// Problem::Evaluate, i.e. the cost functions' analytic Jacobians, through the
// pseudo-Huber wrapper) against central differences with h = 1e-5 max(1, |x|).
// Their truncation error is O(h^2 |r'''|) and round-off ~1e-16 |r| / h
// (~1e-13 / h: the offsets and detections are ~500 px), both below the tolerance:
// |analytic - numeric| <= 1e-6 (max |column| + 1e-2).
TEST(HumanPoseEnergy, ResidualJacobiansMatchCentralDifferences) {
  const std::vector<Camera> cameras = TestCameras();
  for (const Setting& setting : AllSettings()) {
    SCOPED_TRACE(Describe(setting));
    PoseModel model = RandomModel(2, 7, /*random_joint_weights=*/true);
    const Frame frame = NoisyFrame(model, cameras, 11);
    std::unique_ptr<PoseEnergy> energy;
    ASSERT_TRUE(PoseEnergy::CreateLearnable(&model, cameras, frame, setting.loss,
                                            setting.camera_model, setting.views, 1,
                                            LearnableGroups(), &energy)
                    .ok());
    energy->Initialise(0.4);
    Eigen::VectorXd inner = energy->GetInnerValues();
    std::mt19937 rng(3);
    std::normal_distribution<double> normal(0.0, 1.0);
    for (int i = 0; i < kNumBasis; ++i) {
      inner[i] = 0.5 * std::sqrt(model.components[1].variances[i]) * normal(rng);
    }
    energy->SetInnerValues(inner);

    std::vector<double*> blocks = energy->inner_parameter_blocks();
    const std::vector<double*> learnable = energy->learnable_parameter_blocks();
    blocks.insert(blocks.end(), learnable.begin(), learnable.end());
    // Every group is present: per detected joint but the root (15 in four
    // views; 14 in camera 1, which misses the left wrist) mean + 25 basis
    // blocks, the variances, per detected joint a weight block (+ the scale).
    const int joints = setting.views.size() == 1 ? 15 : 16;
    const int expected_blocks =
        (joints - 1) * 26 + 1 + joints + (setting.loss == ReprojectionLoss::kL2 ? 0 : 1);
    EXPECT_EQ(static_cast<int>(learnable.size()), expected_blocks);

    ceres::Problem* problem = energy->problem();
    ceres::Problem::EvaluateOptions options;
    options.parameter_blocks = blocks;
    std::vector<double> residuals;
    ceres::CRSMatrix crs;
    ASSERT_TRUE(problem->Evaluate(options, nullptr, &residuals, nullptr, &crs));
    Eigen::MatrixXd analytic = Eigen::MatrixXd::Zero(crs.num_rows, crs.num_cols);
    for (int r = 0; r < crs.num_rows; ++r) {
      for (int k = crs.rows[r]; k < crs.rows[r + 1]; ++k) analytic(r, crs.cols[k]) = crs.values[k];
    }
    Eigen::MatrixXd numeric(crs.num_rows, crs.num_cols);
    int column = 0;
    for (double* block : blocks) {
      for (int k = 0; k < problem->ParameterBlockSize(block); ++k, ++column) {
        const double x = block[k];
        const double h = 1e-5 * std::max(1.0, std::abs(x));
        block[k] = x + h;
        const Eigen::VectorXd plus = Residuals(problem);
        block[k] = x - h;
        const Eigen::VectorXd minus = Residuals(problem);
        block[k] = x;
        numeric.col(column) = (plus - minus) / (2 * h);
      }
    }
    ASSERT_EQ(column, crs.num_cols);
    double worst = 0.0;
    int worst_column = -1;
    for (int c = 0; c < numeric.cols(); ++c) {
      const double scale = analytic.col(c).cwiseAbs().maxCoeff() + 1e-2;
      const double error = (analytic.col(c) - numeric.col(c)).cwiseAbs().maxCoeff() / scale;
      if (error > worst) {
        worst = error;
        worst_column = c;
      }
    }
    EXPECT_LT(worst, 1e-6) << "column " << worst_column;
    // The Jacobian is not trivially zero: every column of a used block moves
    // some residual (the root's weights move the root residuals, and so on).
    EXPECT_GT(analytic.cwiseAbs().maxCoeff(), 1.0);
  }
}

// dy*/dw of one frame against MinimiserDerivativeChecker: the implicit
// derivative (lambda = 0, exact Hessian) against re-solves, and the paper's
// damped derivative (lambda = 0.1) against one damped Newton step. 9
// learnable coordinates spread over every group are checked; tolerance 1e-4
// on the checker's relative error (re-solves: O(h^2) truncation with h = 1e-5
// relative plus the second derivatives' differencing error).
TEST(HumanPoseEnergy, MinimiserDerivativeMatchesFiniteDifferences) {
  const std::vector<Camera> cameras = TestCameras();
  for (const Setting& setting : AllSettings()) {
    PoseModel model = RandomModel(2, 5, /*random_joint_weights=*/true);
    const Frame frame = NoisyFrame(model, cameras, 13);
    std::unique_ptr<PoseEnergy> energy;
    ASSERT_TRUE(PoseEnergy::CreateLearnable(&model, cameras, frame, setting.loss,
                                            setting.camera_model, setting.views, 0,
                                            LearnableGroups(), &energy)
                    .ok());
    BilevelProblem::Options bilevel_options;
    bilevel_options.inner_parameter_blocks = energy->inner_parameter_blocks();
    std::unique_ptr<BilevelProblem> bilevel;
    ASSERT_TRUE(BilevelProblem::Create(energy->problem(), energy->learnable_parameter_blocks(),
                                       bilevel_options, &bilevel)
                    .ok());
    energy->Initialise(0.7);
    ceres::Solver::Summary summary;
    ASSERT_TRUE(bilevel->SolveInner(ceres_wiberg::TightSolverOptions(), &summary).ok());

    MinimiserDerivativeChecker::Options checker_options;
    const int n_w = bilevel->num_learnable_parameters();
    // w = pose blocks (mean, basis; per joint), variances (25), joint
    // weights (2 per detected joint), [scale].
    const int num_weights = setting.views.size() == 1 ? 30 : 32;
    const int variances =
        n_w - kNumBasis - num_weights - (setting.loss == ReprojectionLoss::kL2 ? 0 : 1);
    std::vector<int>& columns = checker_options.learnable_coordinates;
    for (int k = 0; k < 4; ++k) columns.push_back(k * variances / 4 + k);  // pose
    for (int k : {0, 24}) columns.push_back(variances + k);
    for (int k : {0, num_weights - 1}) columns.push_back(variances + kNumBasis + k);
    columns.push_back(n_w - 1);  // the last weight, or the scale
    for (double lambda : {0.0, 0.1}) {
      SCOPED_TRACE(Describe(setting) + ", lambda " + std::to_string(lambda));
      MinimiserDerivative::Options derivative_options;
      derivative_options.lambda = lambda;
      derivative_options.hessian_model = HessianModel::EXACT;
      MinimiserDerivativeChecker::Result result;
      const Status status =
          MinimiserDerivativeChecker::Check(checker_options, derivative_options, bilevel.get(),
                                            &result);
      ASSERT_TRUE(status.ok()) << status.ToString();
      // H against differences of the inner gradient (EXACT models).
      EXPECT_TRUE(!result.hessian_checked || result.hessian_within_tolerance)
          << result.Report();
      EXPECT_LT(result.max_relative_error, 1e-4) << result.Report();
      EXPECT_GT(result.analytic.cwiseAbs().maxCoeff(), 1e-6);  // not vacuous
    }
  }
}

// Noise-free weak-perspective detections of a model pose (the component-1
// mean, turned by 2.0 rad) are fitted exactly: zero energy is reachable
// (c = 0), so the winner is that pose up to the solver's tolerance, whatever
// the seeds.
TEST(HumanPoseFitter, RecoversAnExactlyRepresentablePoseFromFourViews) {
  const std::vector<Camera> cameras = TestCameras();
  const PoseModel model = RandomModel(2, 9, /*random_joint_weights=*/true);
  const Pose truth = RotationAboutZ(2.0) * model.components[1].mean;
  Frame frame;
  frame.pose = truth;
  for (const Camera& camera : cameras) {
    Detection detection;
    const double scale = camera.focal_length / (camera.rotation * -camera.position).z();
    for (int j = 0; j < kNumJoints; ++j) {
      detection.joints.col(j) =
          scale * (camera.rotation * truth.col(j)).head<2>() + Eigen::Vector2d(480, 520);
      detection.visible[j] = j != kUndetectedJoint;
    }
    frame.views.push_back(detection);
  }
  for (ReprojectionLoss loss : {ReprojectionLoss::kL2, ReprojectionLoss::kPseudoHuber}) {
    PoseFitOptions options;
    options.loss = loss;
    PoseFit fit;
    ASSERT_TRUE(FitPose(model, cameras, frame, options, &fit).ok());
    EXPECT_EQ(fit.component, 1);
    EXPECT_EQ(fit.num_candidates, 8);
    EXPECT_EQ(fit.num_failed_candidates, 0);
    EXPECT_LT(fit.energy, 1e-8);
    EXPECT_LT((fit.pose - truth).cwiseAbs().maxCoeff(), 1e-3);  // mm
    EXPECT_EQ(fit.inner_values.size(), kNumBasis + 1 + 4 * 3);
  }
}

// A noisy frame is fitted to within a plausible error and the fit is the
// lowest-energy candidate: no candidate started from any seed does better.
TEST(HumanPoseFitter, ReturnsTheLowestEnergyCandidate) {
  const std::vector<Camera> cameras = TestCameras();
  const PoseModel model = RandomModel(2, 5, /*random_joint_weights=*/true);
  const Frame frame = NoisyFrame(model, cameras, 17);
  for (const Setting& setting : AllSettings()) {
    SCOPED_TRACE(Describe(setting));
    PoseFitOptions options;
    options.loss = setting.loss;
    options.views = setting.views;
    options.camera_model = setting.camera_model;
    options.num_rotation_seeds = 3;
    PoseFit fit;
    ASSERT_TRUE(FitPose(model, cameras, frame, options, &fit).ok());
    EXPECT_EQ(fit.num_candidates, 6);
    EXPECT_TRUE(fit.pose.col(kHip).isZero(1e-9));
    for (int k = 0; k < 2; ++k) {
      std::unique_ptr<PoseEnergy> energy;
      ASSERT_TRUE(
          PoseEnergy::CreateForFit(model, cameras, frame, setting.loss, setting.camera_model,
                                   setting.views, k, &energy)
              .ok());
      for (int m = 0; m < 3; ++m) {
        energy->Initialise(2 * M_PI * m / 3);
        ceres::Solver::Summary summary;
        ceres::Solve(PoseSolverOptions(options), energy->problem(), &summary);
        EXPECT_GE(summary.final_cost, fit.energy * (1 - 1e-12));
      }
    }
    if (setting.views.size() == 4) {
      const Pose truth = frame.pose.colwise() - frame.pose.col(kHip);
      const double p1 = (fit.pose - truth).colwise().norm().mean();
      EXPECT_LT(p1, 40.0);  // mm; 2 px noise on a 1.8 m figure, one gross error
      if (setting.camera_model == CameraModel::kCalibratedPerspective &&
          setting.loss == ReprojectionLoss::kPseudoHuber) {
        // The exact camera model and a loss that discounts the gross error:
        // 2 px noise is about 9 mm at 5 m (measured 6.5 mm; weak perspective
        // 9.6 mm, l2 20-23 mm).
        EXPECT_LT(p1, 10.0);
      }
    }
  }
}

// Noise-free pinhole detections of a model pose (the component-1 mean scaled
// by 1.1, turned by 2.0 rad, root at (300, -200, 850)) are fitted exactly by
// the calibrated perspective energy, scale included: the pose and the root
// position T come back to the solver's tolerance. The weak-perspective energy
// cannot see the 10 % size change.
TEST(HumanPoseFitter, CalibratedPerspectiveRecoversPoseSizeAndPosition) {
  const std::vector<Camera> cameras = TestCameras();
  PoseModel model = RandomModel(2, 9, /*random_joint_weights=*/true);
  const Eigen::Vector3d root(300, -200, 850);
  const Pose truth = 1.1 * (RotationAboutZ(2.0) * model.components[1].mean);
  // The 10 % larger pose must be representable: put it in the basis.
  Pose direction = model.components[1].mean / model.components[1].mean.norm();
  for (int i = 1; i < kNumBasis; ++i) {
    Pose& b = model.components[1].basis[i];
    b -= (b.cwiseProduct(direction).sum()) * direction;
  }
  model.components[1].basis[0] = direction;
  model.components[1].variances[0] = 1e8;  // a nearly flat prior along it
  Frame frame;
  frame.pose = truth.colwise() + root;
  for (const Camera& camera : cameras) {
    Detection detection;
    for (int j = 0; j < kNumJoints; ++j) {
      detection.joints.col(j) = camera.Project(frame.pose.col(j));
      detection.visible[j] = j != kUndetectedJoint;
    }
    frame.views.push_back(detection);
  }
  PoseFitOptions options;
  options.camera_model = CameraModel::kCalibratedPerspective;
  PoseFit fit;
  ASSERT_TRUE(FitPose(model, cameras, frame, options, &fit).ok());
  EXPECT_EQ(fit.component, 1);
  EXPECT_EQ(fit.num_failed_candidates, 0);
  ASSERT_EQ(fit.inner_values.size(), kNumBasis + 1 + 3);
  EXPECT_LT((fit.pose - truth).cwiseAbs().maxCoeff(), 0.1);  // mm (prior pull ~1e-8)
  EXPECT_LT((fit.inner_values.tail<3>() - root).cwiseAbs().maxCoeff(), 0.1);

  options.camera_model = CameraModel::kWeakPerspective;
  PoseFit weak;
  ASSERT_TRUE(FitPose(model, cameras, frame, options, &weak).ok());
  const double size_ratio = weak.pose.colwise().norm().sum() / truth.colwise().norm().sum();
  EXPECT_GT(std::abs(size_ratio - 1.0), 0.02);  // weak perspective misses the size
}

TEST(HumanPoseFitter, RejectsBadInputWithAStatus) {
  const std::vector<Camera> cameras = TestCameras();
  PoseModel model = RandomModel(1, 3, /*random_joint_weights=*/true);
  const Frame frame = NoisyFrame(model, cameras, 1);
  PoseFit fit;
  PoseFitOptions options;
  options.views = {0, 4};
  EXPECT_EQ(FitPose(model, cameras, frame, options, &fit).code(), StatusCode::kInvalidArgument);
  options.views = {0, 0};
  EXPECT_EQ(FitPose(model, cameras, frame, options, &fit).code(), StatusCode::kInvalidArgument);
  options.views = {0};
  options.num_rotation_seeds = 0;
  EXPECT_EQ(FitPose(model, cameras, frame, options, &fit).code(), StatusCode::kInvalidArgument);
  options.num_rotation_seeds = 2;
  model.components[0].variances[3] = -1.0;
  EXPECT_EQ(FitPose(model, cameras, frame, options, &fit).code(), StatusCode::kInvalidArgument);
  model.components[0].variances[3] = 1.0;
  options.loss = ReprojectionLoss::kPseudoHuber;
  model.weights.loss_scale = 0.0;
  EXPECT_EQ(FitPose(model, cameras, frame, options, &fit).code(), StatusCode::kInvalidArgument);
  model.weights.loss_scale = 8.0;
  Frame bad = frame;
  bad.views[0].joints(0, kHead) = std::nan("");
  EXPECT_EQ(FitPose(model, cameras, bad, options, &fit).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(FitPose(model, cameras, frame, options, &fit).ok());
}

}  // namespace
}  // namespace human_pose
