#include "pose_fitter.h"

#include <cmath>
#include <limits>
#include <memory>
#include <set>

#include "ceres/solver.h"
#include "glog/logging.h"
#include "pose_energy.h"

namespace human_pose {

const char* ReprojectionLossToString(ReprojectionLoss loss) {
  switch (loss) {
    case ReprojectionLoss::kL2:
      return "l2";
    case ReprojectionLoss::kPseudoHuber:
      return "huber";
  }
  return "unknown";
}

bool StringToReprojectionLoss(const std::string& name, ReprojectionLoss* loss) {
  if (name == "l2") {
    *loss = ReprojectionLoss::kL2;
    return true;
  }
  if (name == "huber" || name == "pseudo_huber") {
    *loss = ReprojectionLoss::kPseudoHuber;
    return true;
  }
  return false;
}

const char* CameraModelToString(CameraModel camera_model) {
  switch (camera_model) {
    case CameraModel::kWeakPerspective:
      return "weak";
    case CameraModel::kCalibratedPerspective:
      return "perspective";
  }
  return "unknown";
}

bool StringToCameraModel(const std::string& name, CameraModel* camera_model) {
  if (name == "weak" || name == "weak_perspective") {
    *camera_model = CameraModel::kWeakPerspective;
    return true;
  }
  if (name == "perspective" || name == "calibrated_perspective") {
    *camera_model = CameraModel::kCalibratedPerspective;
    return true;
  }
  return false;
}

bool PoseFitOptions::IsValid(std::string* error) const {
  auto fail = [&](const std::string& message) {
    if (error != nullptr) *error = message;
    return false;
  };
  if (views.empty()) return fail("views is empty");
  std::set<int> seen;
  for (int v : views) {
    if (v < 0) return fail("views contains a negative index");
    if (!seen.insert(v).second) return fail("views lists camera " + std::to_string(v) + " twice");
  }
  if (num_rotation_seeds < 1) return fail("num_rotation_seeds must be >= 1");
  if (max_num_iterations < 1) return fail("max_num_iterations must be >= 1");
  if (!(function_tolerance >= 0.0) || !(gradient_tolerance >= 0.0) ||
      !(parameter_tolerance >= 0.0)) {
    return fail("solver tolerances must be >= 0");
  }
  return true;
}

ceres::Solver::Options PoseSolverOptions(const PoseFitOptions& options) {
  ceres::Solver::Options solver_options;
  solver_options.linear_solver_type = ceres::DENSE_NORMAL_CHOLESKY;
  solver_options.max_num_iterations = options.max_num_iterations;
  solver_options.function_tolerance = options.function_tolerance;
  solver_options.gradient_tolerance = options.gradient_tolerance;
  solver_options.parameter_tolerance = options.parameter_tolerance;
  solver_options.logging_type = ceres::SILENT;
  solver_options.minimizer_progress_to_stdout = false;
  solver_options.num_threads = 1;
  return solver_options;
}

ceres_wiberg::Status FitPose(const PoseModel& model, const std::vector<Camera>& cameras,
                             const Frame& frame, const PoseFitOptions& options, PoseFit* fit) {
  CHECK(fit != nullptr);
  std::string error;
  if (!options.IsValid(&error)) {
    return ceres_wiberg::InvalidArgumentError("PoseFitOptions: " + error);
  }
  const ceres::Solver::Options solver_options = PoseSolverOptions(options);
  *fit = PoseFit();
  double best_energy = std::numeric_limits<double>::infinity();
  Pose best_pose = Pose::Zero();
  for (int k = 0; k < static_cast<int>(model.components.size()) || k == 0; ++k) {
    std::unique_ptr<PoseEnergy> energy;
    const ceres_wiberg::Status status =
        PoseEnergy::CreateForFit(model, cameras, frame, options.loss,
                                 options.camera_model, options.views, k, &energy);
    if (!status.ok()) return status;
    for (int m = 0; m < options.num_rotation_seeds; ++m) {
      energy->Initialise(2.0 * M_PI * m / options.num_rotation_seeds);
      ceres::Solver::Summary summary;
      ceres::Solve(solver_options, energy->problem(), &summary);
      ++fit->num_candidates;
      if (!summary.IsSolutionUsable() || !std::isfinite(summary.final_cost)) {
        ++fit->num_failed_candidates;
        continue;
      }
      if (summary.final_cost < best_energy) {
        best_energy = summary.final_cost;
        best_pose = energy->ModelPose();
        fit->component = k;
        fit->energy = summary.final_cost;
        fit->rotation = energy->rotation();
        fit->rotation_seed = m;
        fit->inner_values = energy->GetInnerValues();
      }
    }
  }
  if (fit->component < 0) {
    return ceres_wiberg::NumericalFailureError("FitPose: all " +
                                               std::to_string(fit->num_candidates) +
                                               " candidates failed to evaluate (NaN or Inf)");
  }
  // Root at the origin (the model keeps it there; this removes round-off and
  // any offset of a model whose root columns are not zero).
  fit->pose = best_pose.colwise() - best_pose.col(kHip);
  return ceres_wiberg::Status::Ok();
}

}  // namespace human_pose
