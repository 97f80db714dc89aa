// ceres_wiberg: learning energy parameters by differentiating Ceres minimisers.
//
// LearnerState: everything a StochasticLearner trajectory depends on, i.e.
// what a checkpoint holds. Resuming from a saved LearnerState continues the
// trajectory bit for bit.

#ifndef CERES_WIBERG_INTERNAL_STOCHASTIC_LEARNER_STATE_H_
#define CERES_WIBERG_INTERNAL_STOCHASTIC_LEARNER_STATE_H_

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "Eigen/Core"
#include "ceres_wiberg/stochastic_learner.h"

namespace ceres_wiberg {
namespace internal {

// One row of the training curve (one iteration).
struct CurveRow {
  int iteration = 0;
  int epoch = 0;
  double loss = 0.0;
  double gradient_norm = 0.0;
  double step_norm = 0.0;
  double learning_rate = 0.0;
  // w after the step; empty when the curve does not record parameters.
  Eigen::VectorXd w;
};

// Running sums of the epoch in progress.
struct EpochAccumulator {
  int num_iterations = 0;
  int num_evaluated_examples = 0;
  double loss_sum = 0.0;
  Eigen::VectorXd theta_gradient_sum;
  double step_norm_sum = 0.0;
};

// The options that shape the trajectory beyond the identity fields of
// LearnerState: Resume refuses a checkpoint whose values differ (those of
// the run's optimiser, see SameTrajectory in stochastic_learner.cc).
struct TrajectoryOptions {
  double momentum = 0.0;
  double adam_beta1 = 0.0;
  double adam_beta2 = 0.0;
  double adam_epsilon = 0.0;
  int averaging_start_iteration = 0;
  double trust_radius = 0.0;
  // One entry per parameter, +-infinity for an unbounded side.
  std::vector<double> lower_bounds;
  std::vector<double> upper_bounds;
  bool skip_failed_examples = false;
  // TrainingObjective::Identity() ("" if the objective has none).
  std::string objective_identity;
};

// The options a resumed run may change; Resume reports the changes in the
// Summary.
struct ScheduleOptions {
  double learning_rate = 0.0;
  double learning_rate_decay = 0.0;
  double learning_rate_decay_power = 0.0;
  int num_epochs = 0;
  int max_iterations = 0;
};

struct LearnerState {
  // ---- Must match the options and objective on resume.
  StochasticOptimiser optimiser = StochasticOptimiser::ADAM;
  int num_parameters = 0;
  int num_examples = 0;
  int batch_size = 0;
  bool shuffle = true;
  uint64_t seed = 0;
  std::vector<ParameterTransform> transforms;  // one per parameter
  TrajectoryOptions trajectory;

  // ---- Reported when they change on resume.
  ScheduleOptions schedule;

  // ---- Position.
  int iterations_completed = 0;
  int epochs_completed = 0;
  // Optimiser updates taken (iterations with at least one evaluated
  // example): Adam's bias-correction counter.
  int num_steps = 0;
  // The example order of the epoch in progress and the index in it of the
  // next minibatch's first example; empty and 0 between epochs.
  std::vector<int> epoch_order;
  int epoch_position = 0;
  std::mt19937_64 rng;

  // ---- Iterate and optimiser state.
  Eigen::VectorXd theta;
  Eigen::VectorXd w;          // clamp(T(theta)), as computed when theta was set
  Eigen::VectorXd velocity;   // SGD_MOMENTUM
  Eigen::VectorXd adam_m;     // ADAM
  Eigen::VectorXd adam_v;     // ADAM
  Eigen::VectorXd w_average;  // AVERAGED_SGD
  int num_averaged = 0;       // AVERAGED_SGD

  EpochAccumulator epoch;

  // ---- History (what the Summary reports).
  std::vector<StochasticLearner::EpochSummary> epochs;  // complete epochs
  double max_gradient_norm = 0.0;
  double max_step_norm = 0.0;
  int num_capped_steps = 0;
  int num_skipped_examples = 0;
  int num_skipped_validation_examples = 0;
  double elapsed_seconds = 0.0;

  // ---- Training curve, kept only when a CSV is wanted.
  bool curve_recorded = false;
  int curve_num_w_columns = 0;
  std::vector<CurveRow> curve;

  // The model: the averaged iterate for AVERAGED_SGD, else w.
  const Eigen::VectorXd& model_w() const {
    return optimiser == StochasticOptimiser::AVERAGED_SGD ? w_average : w;
  }
};

}  // namespace internal
}  // namespace ceres_wiberg

#endif  // CERES_WIBERG_INTERNAL_STOCHASTIC_LEARNER_STATE_H_
