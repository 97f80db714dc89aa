// The inner fit of the human-pose experiment (supplementary section 4): the 3D
// pose of one frame from its 2D detections under a PoseModel, as in Tome et al.
// (CVPR 2017). One Ceres problem (see pose_energy.h) per candidate, i.e. per
// PPCA component k and initial rotation angle about the vertical axis; each is
// solved from its seed and the pose of the lowest-energy candidate is returned.
// The energy and its conventions are described in ../ENERGY.md.
#ifndef CERES_WIBERG_EXAMPLES_HUMAN_POSE_POSE_FITTER_H_
#define CERES_WIBERG_EXAMPLES_HUMAN_POSE_POSE_FITTER_H_

#include <string>
#include <vector>

#include "Eigen/Core"
#include "ceres/solver.h"
#include "ceres_wiberg/status.h"
#include "pose_data.h"
#include "pose_model.h"

namespace human_pose {

// The robust loss on each joint's 2D reprojection residual.
enum class ReprojectionLoss {
  kL2,           // rho(s) = s
  kPseudoHuber,  // rho(s) = 2 a^2 (sqrt(1 + s / a^2) - 1), a = EnergyWeights::loss_scale
};
const char* ReprojectionLossToString(ReprojectionLoss loss);
// "l2" or "huber" (also "pseudo_huber"); false if unknown.
bool StringToReprojectionLoss(const std::string& name, ReprojectionLoss* loss);

// How the model pose is projected into the used views (PoseEnergy).
enum class CameraModel {
  // Per view a scale s_v (pixels/mm) and a 2D offset t_v: Tome et al.'s weak
  // perspective, which needs no calibration. The body's size is not
  // observable from the reprojection (scaling the pose by a and every s_v by
  // 1/a changes nothing), so the prior alone sets it.
  kWeakPerspective,
  // The calibrated cameras' pinhole projection of X + T, with T the root's
  // world position (mm; 3 inner variables shared by every view). With two or
  // more views the body's size is triangulated.
  kCalibratedPerspective,
};
const char* CameraModelToString(CameraModel camera_model);  // "weak" or "perspective"
// "weak" or "perspective" (also "weak_perspective", "calibrated_perspective").
bool StringToCameraModel(const std::string& name, CameraModel* camera_model);

struct PoseFitOptions {
  ReprojectionLoss loss = ReprojectionLoss::kL2;

  // Camera indices (into the camera list and Frame::views) whose detections
  // enter the energy: all four = multi-view, {v} = monocular. Distinct,
  // non-empty.
  std::vector<int> views = {0, 1, 2, 3};

  CameraModel camera_model = CameraModel::kWeakPerspective;

  // Initial angles about the vertical (z) axis, 2 pi m / num_rotation_seeds
  // for m = 0, ..., num_rotation_seeds - 1; each component is fitted from
  // every seed. >= 1.
  int num_rotation_seeds = 4;

  // ---- The inner Levenberg-Marquardt solve of each candidate (Ceres, dense
  // normal Cholesky).

  // Iterations per candidate. A candidate that hits the limit is kept (its
  // energy is still a valid upper bound on the fit); one whose evaluation
  // fails (NaN) is dropped.
  int max_num_iterations = 100;
  // Ceres' relative cost, gradient and step tolerances.
  double function_tolerance = 1e-10;
  double gradient_tolerance = 1e-12;
  double parameter_tolerance = 1e-10;

  bool IsValid(std::string* error) const;
};

struct PoseFit {
  Pose pose = Pose::Zero();  // the estimate, world axes, root at the origin, mm
  int component = -1;        // winning PPCA component
  double energy = 0.0;       // its energy (Ceres' cost, 1/2 sum of terms)
  double rotation = 0.0;     // its angle about the vertical axis, radians
  int rotation_seed = -1;    // the seed it started from
  int num_candidates = 0;    // candidates solved
  int num_failed_candidates = 0;  // dropped (evaluation failure)
  // The winner's inner variables in PoseEnergy's order (c, theta, then
  // (s_v, t_v) per used view or the root position T), e.g. to warm-start its
  // learnable problem.
  Eigen::VectorXd inner_values;
};

// The Ceres options of each candidate's solve (silent, single-threaded).
ceres::Solver::Options PoseSolverOptions(const PoseFitOptions& options);

// Fits every candidate and returns the lowest-energy one. Errors
// (kInvalidArgument): invalid options, a view index out of range of `cameras`
// or `frame.views`, a model without components or with a component of the
// wrong size, non-positive variances or a loss scale unusable for the
// pseudo-Huber loss, non-finite detections of visible joints, or no visible
// joint in the used views. kNumericalFailure if every candidate failed.
ceres_wiberg::Status FitPose(const PoseModel& model, const std::vector<Camera>& cameras,
                             const Frame& frame, const PoseFitOptions& options, PoseFit* fit);

}  // namespace human_pose

#endif  // CERES_WIBERG_EXAMPLES_HUMAN_POSE_POSE_FITTER_H_
