// The energy of one frame and one candidate (PPCA component k, initial angle)
// of the human-pose experiment (supplementary section 4), as a Ceres problem
// whose learnable parameter blocks point into a PoseModel. See ../ENERGY.md.
//
// Inner variables y (the ambient order of every "inner values" vector):
//   c      (25)  the PPCA coefficients of component k
//   theta  (1)   the rotation about the vertical (z) axis, radians
//   CameraModel::kWeakPerspective: per used view v, in PoseFitOptions::views
//                order, s_v (1) and t_v (2), the weak-perspective scale
//                (pixels/mm) and 2D offset (pixels). The scale and the offset
//                are separate blocks: they differ in size by 10^3, and
//                MinimiserDerivative sets its differencing step per block.
//   CameraModel::kCalibratedPerspective: T (3), the root's world position, mm.
//
// Model pose in world axes, mm:  X = R_z(theta) (mean_k + sum_i c_i basis_k[i]).
// The model frame (PpcaComponent) is z up with the root (kHip) at the origin;
// R_z only turns it about the vertical, so X keeps the root at the origin.
//
// Terms (Ceres' cost is 1/2 the sum of squared residuals):
//   per used view v and joint j visible in it (2 residuals):
//     weak:        r = joint_weights(:, j) .* (s_v (R_v X_j).head<2>() + t_v - d_vj)
//     perspective: r = joint_weights(:, j) .* (pi_v(X_j + T) - d_vj)
//   with R_v the camera's world-to-camera rotation and pi_v its pinhole
//   projection (Camera::Project; weak perspective is Tome et al.'s); under
//   kPseudoHuber the term is rho(|r|^2; a), a = loss_scale, through
//   ceres_wiberg::LearnableLossCostFunction;
//   the prior (25 residuals): sqrt(prior_weight) c_i / sqrt(variance_i).
//
// Learnable parameter blocks (learnable mode) are views into the model:
//   mean_k.col(j)          (3) for each joint j != kHip seen in some used view
//   basis_k[i].col(j)      (3) likewise, for every i
//   variances_k            (25)
//   joint_weights.col(j)   (2) for each joint seen in some used view
//   loss_scale             (1) kPseudoHuber only
// Splitting the poses per joint keeps every residual's Jacobian dense (a
// residual of joint j depends on column j only). The root's columns are
// parameter blocks held constant, so every model pose keeps its root at the
// origin. prior_weight is never learnt (the variances absorb it). Blocks of
// groups that are not learnt are held constant.
#ifndef CERES_WIBERG_EXAMPLES_HUMAN_POSE_POSE_ENERGY_H_
#define CERES_WIBERG_EXAMPLES_HUMAN_POSE_POSE_ENERGY_H_

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "Eigen/Core"
#include "ceres/problem.h"
#include "ceres_wiberg/status.h"
#include "pose_data.h"
#include "pose_fitter.h"
#include "pose_model.h"
#include "ppca_fit.h"  // RotationAboutZ and the model frame

namespace human_pose {

// OK if the model has at least one component, each with kNumBasis basis
// poses, finite values and positive finite variances, finite joint weights, a
// positive finite prior weight and (for kPseudoHuber) a usable loss scale.
ceres_wiberg::Status ValidatePoseModel(const PoseModel& model, ReprojectionLoss loss);

// OK if every used view exists in `cameras` and `frame.views`, the detections
// of visible joints are finite and at least one joint is visible.
ceres_wiberg::Status ValidateFrameViews(const std::vector<Camera>& cameras, const Frame& frame,
                                        const std::vector<int>& views);

// Which parameter groups the learnable problem exposes.
struct LearnableGroups {
  bool means = true;          // mean poses
  bool bases = true;          // basis poses
  bool variances = true;      // coefficient variances
  bool joint_weights = true;  // per-joint x/y weights
  bool loss_scale = true;     // pseudo-Huber scale (ignored under kL2)
};

enum class LearnableGroup { kMean, kBasis, kVariances, kJointWeights, kLossScale };

// One learnable parameter block and where it lives in the model.
struct LearnableBlock {
  double* values = nullptr;
  int size = 0;
  LearnableGroup group = LearnableGroup::kMean;
  int component = -1;  // kMean, kBasis, kVariances
  int basis = -1;      // kBasis
  int joint = -1;      // kMean, kBasis, kJointWeights
};

class PoseEnergy {
 public:
  static constexpr int kCameraBlockSize = 3;  // s_v, t_v.x, t_v.y per view in inner values
  static constexpr int kRootBlockSize = 3;    // T under kCalibratedPerspective

  // The energy for fitting: the inner blocks are the only variable blocks and
  // the model is read (not copied: it must outlive the energy). Checks the
  // model, the frame and `component`.
  static ceres_wiberg::Status CreateForFit(const PoseModel& model,
                                           const std::vector<Camera>& cameras, const Frame& frame,
                                           ReprojectionLoss loss, CameraModel camera_model,
                                           const std::vector<int>& views, int component,
                                           std::unique_ptr<PoseEnergy>* energy);

  // The same energy with the model's values as parameter blocks (see the file
  // comment); learnable_blocks() lists those of the enabled groups.
  static ceres_wiberg::Status CreateLearnable(PoseModel* model, const std::vector<Camera>& cameras,
                                              const Frame& frame, ReprojectionLoss loss,
                                              CameraModel camera_model,
                                              const std::vector<int>& views, int component,
                                              const LearnableGroups& groups,
                                              std::unique_ptr<PoseEnergy>* energy);

  ~PoseEnergy();
  PoseEnergy(const PoseEnergy&) = delete;
  PoseEnergy& operator=(const PoseEnergy&) = delete;

  ceres::Problem* problem() { return problem_.get(); }
  int component() const { return component_; }
  int num_views() const { return static_cast<int>(views_.size()); }
  CameraModel camera_model() const { return camera_model_; }
  int num_inner_parameters() const {
    return kNumBasis + 1 +
           (camera_model_ == CameraModel::kWeakPerspective ? kCameraBlockSize * num_views()
                                                           : kRootBlockSize);
  }

  // c, theta, then s_v and t_v per used view, or T.
  std::vector<double*> inner_parameter_blocks();
  const std::vector<LearnableBlock>& learnable_blocks() const { return learnable_blocks_; }
  std::vector<double*> learnable_parameter_blocks() const;

  // Seeds the inner variables: c = 0, theta = rotation, and per view the
  // (s_v, t_v) that best align the rotated mean pose's weak projection with
  // the visible detections (s_v from the ratio of their spreads, t_v from
  // their centroids). Under kCalibratedPerspective, T puts the mean pose's
  // centroid (of the detected joints) at the point nearest to the rays
  // through the detections' centroids; with one view, on that ray at the
  // depth where the spreads match.
  void Initialise(double rotation);

  Eigen::VectorXd GetInnerValues() const;
  void SetInnerValues(const Eigen::VectorXd& values);
  double rotation() const { return theta_; }
  const double* coefficients() const { return coefficients_.data(); }

  // The model pose X = R_z(theta) (mean + sum_i c_i basis[i]) at the current
  // inner values and model values, world axes, mm.
  Pose ModelPose() const;

  // Ceres' cost 1/2 sum |r|^2 at the current values; false if an evaluation
  // fails.
  bool Evaluate(double* cost);

 private:
  PoseEnergy() = default;
  static ceres_wiberg::Status Build(PoseModel* mutable_model, const PoseModel& model,
                                    const std::vector<Camera>& cameras, const Frame& frame,
                                    ReprojectionLoss loss, CameraModel camera_model,
                                    const std::vector<int>& views, int component,
                                    const LearnableGroups* groups,
                                    std::unique_ptr<PoseEnergy>* energy);

  const PoseModel* model_ = nullptr;
  int component_ = -1;
  std::vector<int> views_;
  CameraModel camera_model_ = CameraModel::kWeakPerspective;
  std::vector<Eigen::Matrix3d> camera_rotations_;
  std::vector<Camera> used_cameras_;  // per used view
  // Visible detections per used view: joint index and pixel position.
  std::vector<std::vector<std::pair<int, Eigen::Vector2d>>> detections_;

  std::array<double, kNumBasis> coefficients_{};
  double theta_ = 0.0;
  std::vector<std::array<double, kCameraBlockSize>> cameras_;  // kWeakPerspective
  std::array<double, kRootBlockSize> root_{};                  // kCalibratedPerspective
  double fixed_loss_scale_ = 0.0;  // the scale block in fit mode (constant)

  std::vector<LearnableBlock> learnable_blocks_;
  std::unique_ptr<ceres::Problem> problem_;
};

}  // namespace human_pose

#endif  // CERES_WIBERG_EXAMPLES_HUMAN_POSE_POSE_ENERGY_H_
