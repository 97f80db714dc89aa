#include "fusion_training.h"

#include <cmath>
#include <sstream>

#include "glog/logging.h"

namespace tracker_fusion {

using ceres_wiberg::InvalidArgumentError;
using ceres_wiberg::MinimiserDerivative;
using ceres_wiberg::Status;
using ceres_wiberg::StatusCode;

FusionTrainingOptions::FusionTrainingOptions() {
  derivative.lambda = 0.1;
  derivative.hessian_model = ceres_wiberg::HessianModel::EXACT;
  derivative.final_newton_step = true;
  derivative.linear_solver_type = ceres_wiberg::LinearSolverType::DENSE;
}

bool FusionTrainingOptions::IsValid(std::string* error) const {
  if (!model.IsValid(error) || !solver.IsValid(error) || !derivative.IsValid(error)) return false;
  if (!(outer_loss_scale >= 0.0) || !std::isfinite(outer_loss_scale)) {
    *error = "outer_loss_scale must be non-negative and finite";
    return false;
  }
  return true;
}

Status MakeFrameProblem(const FrameInput& input, const Eigen::VectorXd& w,
                        const double y_start[2][2], FrameProblem* frame_problem) {
  CHECK(!input.empty());
  FrameProblem& fp = *frame_problem;
  for (int corner = 0; corner < 2; ++corner) {
    fp.y[corner][0] = y_start[corner][0];
    fp.y[corner][1] = y_start[corner][1];
  }
  const std::vector<const double*> source = FrameParameters(input, w);
  fp.params.assign(source.size(), {});
  for (size_t t = 0; t < source.size(); ++t) {
    std::copy(source[t], source[t] + kNumTrackerParameters, fp.params[t].begin());
  }
  fp.bilevel.reset();
  fp.problem = std::make_unique<ceres::Problem>();
  std::vector<double*> learnable;
  ceres_wiberg::BilevelProblem::Options options;
  options.inner_parameter_blocks = {fp.y[0], fp.y[1]};
  options.parameter_block_names[fp.y[0]] = "y_top_left";
  options.parameter_block_names[fp.y[1]] = "y_bottom_right";
  for (size_t t = 0; t < source.size(); ++t) {
    for (int corner = 0; corner < 2; ++corner) {
      fp.problem->AddResidualBlock(new FusionResidual(input.corners[corner][t]), nullptr,
                                   fp.y[corner], fp.params[t].data());
    }
    learnable.push_back(fp.params[t].data());
    options.parameter_block_names[fp.params[t].data()] =
        "tracker " + std::to_string(input.trackers[t]);
  }
  return ceres_wiberg::BilevelProblem::Create(fp.problem.get(), learnable, options, &fp.bilevel);
}

Status FusionTrainingObjective::Create(const Dataset& dataset, const std::vector<FrameRef>& frames,
                                       const FusionTrainingOptions& options,
                                       std::unique_ptr<FusionTrainingObjective>* objective) {
  std::string error;
  if (!options.IsValid(&error)) return InvalidArgumentError(error);
  std::unique_ptr<FusionTrainingObjective> result(new FusionTrainingObjective());
  result->options_ = options;
  result->num_parameters_ = kNumTrackerParameters * dataset.num_trackers();
  for (const FrameRef& ref : frames) {
    FrameInput input;
    Status status = MakeFrameInput(dataset, ref, options.model, &input);
    if (!status.ok()) return status;
    if (input.empty()) continue;
    const Sequence& sequence = dataset.sequences[ref.sequence];
    const Box& truth = sequence.groundtruth[ref.frame];
    const double truth_size = std::sqrt(truth.width * truth.height);
    if (!(truth_size > 0.0) || !std::isfinite(truth_size) || !std::isfinite(truth.x) ||
        !std::isfinite(truth.y)) {
      std::ostringstream message;
      message << "sequence '" << sequence.name << "' frame " << ref.frame
              << ": the ground-truth box has no positive finite size, so corner errors cannot "
                 "be normalised";
      return InvalidArgumentError(message.str());
    }
    const double inverse_scale = 1.0 / input.scale;
    result->truth_.push_back({(truth.x - input.centre_x) * inverse_scale,
                              (truth.y - input.centre_y) * inverse_scale,
                              (truth.right() - input.centre_x) * inverse_scale,
                              (truth.bottom() - input.centre_y) * inverse_scale});
    result->error_scale_.push_back(input.scale / truth_size);
    result->inputs_.push_back(std::move(input));
  }
  if (result->inputs_.empty()) {
    return InvalidArgumentError("no training frame has a tracker box");
  }
  *objective = std::move(result);
  return Status::Ok();
}

FusionTrainingDiagnostics FusionTrainingObjective::diagnostics() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return diagnostics_;
}

void FusionTrainingObjective::ResetDiagnostics() {
  std::lock_guard<std::mutex> lock(mutex_);
  diagnostics_ = FusionTrainingDiagnostics();
}

Status FusionTrainingObjective::EvaluateExample(int example, const Eigen::VectorXd& w, double* loss,
                                                Eigen::VectorXd* gradient) {
  CHECK(example >= 0 && example < num_examples());
  CHECK_EQ(w.size(), num_parameters_);
  const FrameInput& input = inputs_[example];
  const std::array<double, 4>& truth = truth_[example];
  const double error_scale = error_scale_[example];
  const double c2 = options_.outer_loss_scale * options_.outer_loss_scale;

  const std::vector<const double*> params = FrameParameters(input, w);
  double y[2][2];
  for (int corner = 0; corner < 2; ++corner) {
    CornerSolution solution;
    MinimiseCorner(input.corners[corner], params, options_.solver, &solution);
    y[corner][0] = solution.y[0];
    y[corner][1] = solution.y[1];
  }

  // L and dL/dy (tangent order: top-left then bottom-right) at y.
  auto outer = [&](const double(&at)[2][2], Eigen::VectorXd* dl_dy) {
    double total = 0.0;
    for (int corner = 0; corner < 2; ++corner) {
      const double e0 = (at[corner][0] - truth[2 * corner]) * error_scale;
      const double e1 = (at[corner][1] - truth[2 * corner + 1]) * error_scale;
      const double s = e0 * e0 + e1 * e1;
      double weight = 1.0;  // 2 d rho / ds
      if (c2 > 0.0) {
        total += 0.5 * c2 * std::log1p(s / c2);
        weight = 1.0 / (1.0 + s / c2);
      } else {
        total += 0.5 * s;
      }
      if (dl_dy != nullptr) {
        (*dl_dy)[2 * corner] = weight * e0 * error_scale;
        (*dl_dy)[2 * corner + 1] = weight * e1 * error_scale;
      }
    }
    return total;
  };

  if (gradient == nullptr) {
    *loss = outer(y, nullptr);
    return Status::Ok();
  }

  FrameProblem frame_problem;
  Status status = MakeFrameProblem(input, w, y, &frame_problem);
  if (!status.ok()) return status;
  MinimiserDerivative derivative(options_.derivative);
  MinimiserDerivative::Summary summary;
  status = derivative.Linearise(frame_problem.bilevel.get(), &summary);
  if (!status.ok()) {
    std::lock_guard<std::mutex> lock(mutex_);
    ++diagnostics_.num_evaluations;
    if (status.code() == StatusCode::kSingularHessian) {
      ++diagnostics_.num_singular_hessians;
    } else if (status.code() == StatusCode::kIndefiniteHessian) {
      ++diagnostics_.num_indefinite_hessians;
    } else {
      ++diagnostics_.num_other_failures;
    }
    if (diagnostics_.first_failure.empty()) diagnostics_.first_failure = status.ToString();
    return status;
  }
  // The final Newton step moved y in the problem: the loss is taken there.
  Eigen::VectorXd dl_dy(4);
  *loss = outer(frame_problem.y, &dl_dy);
  Eigen::VectorXd local;
  status = derivative.VectorJacobianProduct(dl_dy, &local);
  if (!status.ok()) return status;
  gradient->setZero(num_parameters_);
  for (size_t t = 0; t < input.trackers.size(); ++t) {
    gradient->segment<kNumTrackerParameters>(kNumTrackerParameters * input.trackers[t]) +=
        local.segment<kNumTrackerParameters>(kNumTrackerParameters * t);
  }
  std::lock_guard<std::mutex> lock(mutex_);
  ++diagnostics_.num_evaluations;
  diagnostics_.max_example_gradient_norm =
      std::max(diagnostics_.max_example_gradient_norm, gradient->norm());
  diagnostics_.min_eigenvalue = std::min(diagnostics_.min_eigenvalue, summary.min_eigenvalue);
  if (std::isfinite(summary.condition_number)) {
    diagnostics_.max_condition_number =
        std::max(diagnostics_.max_condition_number, summary.condition_number);
  }
  return Status::Ok();
}

Status EnergyFusionOverlaps(const Dataset& dataset, const std::vector<FrameRef>& frames,
                            const Eigen::VectorXd& w, const FusionModelOptions& model_options,
                            const CornerSolverOptions& solver_options,
                            std::vector<double>* overlaps) {
  CHECK_EQ(w.size(), kNumTrackerParameters * dataset.num_trackers());
  overlaps->clear();
  overlaps->reserve(frames.size());
  FrameInput input;
  for (const FrameRef& ref : frames) {
    Status status = MakeFrameInput(dataset, ref, model_options, &input);
    if (!status.ok()) return status;
    Box fused;
    overlaps->push_back(FuseFrame(input, w, solver_options, &fused)
                            ? IoU(fused, dataset.sequences[ref.sequence].groundtruth[ref.frame])
                            : 0.0);
  }
  return Status::Ok();
}

}  // namespace tracker_fusion
