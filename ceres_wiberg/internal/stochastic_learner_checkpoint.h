// ceres_wiberg: learning energy parameters by differentiating Ceres minimisers.
//
// StochasticLearner checkpoints: a LearnerState as human-readable JSON.
// Objects are indented, arrays of numbers stay on one line (one line per
// curve row). Doubles are written in the shortest form that reads back to the
// same bits; non-finite doubles as the strings "nan", "inf", "-inf". Layout
// (version 2; version 1, without "trajectory" and "schedule", is refused):
//
//   {
//     "format": "ceres_wiberg.stochastic_learner.checkpoint",
//     "version": 2,
//     "optimiser": "ADAM",                     // StochasticOptimiserToString
//     "num_parameters": 2,
//     "num_examples": 40,
//     "batch_size": 4,
//     "shuffle": true,
//     "seed": 7,                               // informative: rng_state rules
//     "parameter_transforms": ["IDENTITY", "EXP"],
//     "trajectory": {                          // must match on resume
//       "momentum": 0.9, "adam_beta1": 0.9, "adam_beta2": 0.999,
//       "adam_epsilon": 1e-08, "averaging_start_iteration": 0,
//       "trust_radius": 0, "lower_bounds": ["-inf", 0], "upper_bounds": ["inf", 10],
//       "skip_failed_examples": false,
//       "objective_identity": ""               // TrainingObjective::Identity()
//     },
//     "schedule": {"learning_rate": 0.001,     // may change on resume
//                  "learning_rate_decay": 0, "learning_rate_decay_power": 1,
//                  "num_epochs": 10, "max_iterations": 0},
//     "iterations_completed": 30,
//     "epochs_completed": 3,
//     "num_steps": 30,                         // optimiser updates (Adam's k)
//     "epoch_order": [],                       // order of the epoch in progress
//     "epoch_position": 0,                     // its next example, 0 between epochs
//     "rng_state": "...",                      // std::mt19937_64 operator<<
//     "theta": [0.1, -0.3],                    // the optimiser's variables
//     "w": [0.1, 0.74081822068171788],         // clamp(T(theta)): the iterate
//     "optimiser_state": {                     // per optimiser:
//       "adam_m": [...], "adam_v": [...]       //   ADAM
//       "velocity": [...]                      //   SGD_MOMENTUM
//       "w_average": [...], "num_averaged": 12 //   AVERAGED_SGD; {} for SGD
//     },
//     "epoch_in_progress": {"num_iterations": 0, "num_evaluated_examples": 0,
//                           "loss_sum": 0, "theta_gradient_sum": [0, 0],
//                           "step_norm_sum": 0},
//     "history": {
//       "epochs": [{"epoch": 0, "num_iterations": 10, "complete": true,
//                   "loss": ..., "gradient_norm": ..., "mean_step_norm": ...,
//                   "validation_loss": "nan", "elapsed_seconds": ...}, ...],
//       "max_gradient_norm": ..., "max_step_norm": ..., "num_capped_steps": 0,
//       "num_skipped_examples": 0, "num_skipped_validation_examples": 0,
//       "elapsed_seconds": 0.02
//     },
//     "curve": {"recorded": true,
//               "columns": ["iteration", "epoch", "loss", "gradient_norm",
//                           "step_norm", "learning_rate", "w_0", "w_1"],
//               "rows": [[0, 0, 1.5, ...], ...]}
//   }

#ifndef CERES_WIBERG_INTERNAL_STOCHASTIC_LEARNER_CHECKPOINT_H_
#define CERES_WIBERG_INTERNAL_STOCHASTIC_LEARNER_CHECKPOINT_H_

#include <string>

#include "ceres_wiberg/status.h"
#include "ceres_wiberg/internal/stochastic_learner_state.h"

namespace ceres_wiberg {
namespace internal {

extern const char kCheckpointFormat[];
constexpr int kCheckpointVersion = 2;
// Deeper nesting of arrays and objects is refused (a checkpoint has 4).
constexpr int kMaxCheckpointNesting = 64;

// The JSON text of a checkpoint (ends with a newline).
std::string CheckpointToJson(const LearnerState& state);

// Parses a checkpoint's text; `path` names it in errors. kInvalidArgument
// ("checkpoint '<path>': ...") for malformed JSON (with the parse error's
// byte offset), a number beyond the range of a double, nesting deeper than
// kMaxCheckpointNesting, a missing key, a value of the wrong type or size, or an
// inconsistent state.
Status CheckpointFromJson(const std::string& text, const std::string& path, LearnerState* state);

// CheckpointToJson + WriteFileAtomically.
Status WriteCheckpoint(const std::string& path, const LearnerState& state, bool durable);

// ReadFileToString + CheckpointFromJson.
Status ReadCheckpoint(const std::string& path, LearnerState* state);

}  // namespace internal
}  // namespace ceres_wiberg

#endif  // CERES_WIBERG_INTERNAL_STOCHASTIC_LEARNER_CHECKPOINT_H_
