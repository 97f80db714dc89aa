// Learning the fusion energy: a TrainingObjective over frames for the
// library's StochasticLearner, and held-out scoring.
//
// One example is one frame with at least one tracker box. Its loss is the
// outer loss of both fused corners,
//
//   L = sum_{corner} rho(|e|^2),  e = (fused corner - true corner) / S_gt,
//   rho(s) = c^2/2 log(1 + s / c^2)   (c = outer_loss_scale; c = 0: s / 2),
//
// with S_gt = sqrt(w h) of the ground-truth box: corner errors in units of the
// true object size, and a Cauchy loss so that frames on which the fusion
// locks onto a wrong mode (errors of whole object sizes, where the local
// derivative of that mode says nothing about the right one) do not dominate.
//
// Its gradient: the multi-start inner solve (MinimiseCorner) finds each
// corner's lowest-energy optimum; both corners go into one Ceres problem
// (inner blocks y_top_left, y_bottom_right; one FusionResidual per tracker
// and corner; the trackers' parameter blocks learnable), MinimiserDerivative
// takes the final damped Newton step and linearises (exact Hessian), and one
// reverse-mode product gives dL/dw = (dy*/dw)^T dL/dy*.

#ifndef CERES_WIBERG_EXAMPLES_TRACKER_FUSION_FUSION_TRAINING_H_
#define CERES_WIBERG_EXAMPLES_TRACKER_FUSION_FUSION_TRAINING_H_

#include <array>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "Eigen/Core"
#include "ceres/problem.h"
#include "ceres_wiberg/bilevel_problem.h"
#include "ceres_wiberg/minimiser_derivative.h"
#include "ceres_wiberg/status.h"
#include "ceres_wiberg/training_objective.h"
#include "fusion_model.h"
#include "scoring.h"
#include "tracking_data.h"

namespace tracker_fusion {

struct FusionTrainingOptions {
  FusionTrainingOptions();

  FusionModelOptions model;
  CornerSolverOptions solver;
  // The derivative. Defaults here: lambda = 0.1, exact Hessian,
  // final_newton_step = true, DENSE.
  ceres_wiberg::MinimiserDerivative::Options derivative;
  // c of the outer Cauchy loss, in ground-truth object sizes; 0: squared
  // error 1/2 |e|^2.
  double outer_loss_scale = 0.25;

  bool IsValid(std::string* error) const;
};

// Counts of one objective's gradient evaluations, by outcome.
struct FusionTrainingDiagnostics {
  int num_evaluations = 0;
  int num_singular_hessians = 0;
  int num_indefinite_hessians = 0;
  int num_other_failures = 0;
  // The first failure's status, for the report.
  std::string first_failure;
  // Largest |dL/dw|_2 of one example; the smallest eigenvalue and the
  // largest condition number of H + lambda D seen (in successful
  // linearisations).
  double max_example_gradient_norm = 0.0;
  double min_eigenvalue = std::numeric_limits<double>::infinity();
  double max_condition_number = 0.0;
};

// One frame as a bilevel problem at fixed w, for tests and the figure: the
// Ceres problem holding both corners' residuals, its BilevelProblem and
// the storage of its blocks.
struct FrameProblem {
  double y[2][2];  // [corner][coordinate], normalised
  // Parameter storage of the frame's trackers (input.trackers order).
  std::vector<std::array<double, kNumTrackerParameters>> params;
  std::unique_ptr<ceres::Problem> problem;
  std::unique_ptr<ceres_wiberg::BilevelProblem> bilevel;
};

// Builds the frame's problem with w's values, y at `y_start` ([corner][2]).
// CHECKs that the input is not empty.
ceres_wiberg::Status MakeFrameProblem(const FrameInput& input, const Eigen::VectorXd& w,
                                      const double y_start[2][2], FrameProblem* frame_problem);

class FusionTrainingObjective : public ceres_wiberg::TrainingObjective {
 public:
  // Prepares the inputs of `frames` (frames without any tracker box are left
  // out: they have no fused box to learn). Errors: invalid options, a frame
  // that MakeFrameInput refuses, a ground-truth box with non-positive or
  // non-finite size (naming the sequence and frame), no usable frame.
  static ceres_wiberg::Status Create(const Dataset& dataset, const std::vector<FrameRef>& frames,
                                     const FusionTrainingOptions& options,
                                     std::unique_ptr<FusionTrainingObjective>* objective);

  int num_examples() const override { return static_cast<int>(inputs_.size()); }
  int num_parameters() const override { return num_parameters_; }

  // The loss of one frame and (if gradient is not null) dL/dw. A singular or
  // indefinite H + lambda D (possible at lambda = 0) is returned as the
  // derivative's status and counted in diagnostics().
  ceres_wiberg::Status EvaluateExample(int example, const Eigen::VectorXd& w, double* loss,
                                       Eigen::VectorXd* gradient) override;

  const FrameInput& input(int example) const { return inputs_[example]; }
  FusionTrainingDiagnostics diagnostics() const;
  void ResetDiagnostics();

 private:
  FusionTrainingObjective() = default;

  FusionTrainingOptions options_;
  std::vector<FrameInput> inputs_;
  // Ground truth corners in each input's normalised units, [corner][2], and
  // the ratio S / S_gt that turns normalised errors into ground-truth sizes.
  std::vector<std::array<double, 4>> truth_;
  std::vector<double> error_scale_;
  int num_parameters_ = 0;

  mutable std::mutex mutex_;
  FusionTrainingDiagnostics diagnostics_;
};

// Per frame of `frames`, the IoU of the fused box at w (0 for a frame
// without any tracker box). Errors: those of MakeFrameInput.
ceres_wiberg::Status EnergyFusionOverlaps(const Dataset& dataset,
                                          const std::vector<FrameRef>& frames,
                                          const Eigen::VectorXd& w,
                                          const FusionModelOptions& model_options,
                                          const CornerSolverOptions& solver_options,
                                          std::vector<double>* overlaps);

}  // namespace tracker_fusion

#endif  // CERES_WIBERG_EXAMPLES_TRACKER_FUSION_FUSION_TRAINING_H_
