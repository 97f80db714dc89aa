// ceres_wiberg: learning energy parameters by differentiating Ceres minimisers.
//
// The StochasticLearner's update rules: the learning-rate schedule, the step
// of each StochasticOptimiser (before the trust radius and the bounds), the
// trust-radius cap, and the iterate average of AVERAGED_SGD.

#ifndef CERES_WIBERG_INTERNAL_STOCHASTIC_LEARNER_OPTIMISER_H_
#define CERES_WIBERG_INTERNAL_STOCHASTIC_LEARNER_OPTIMISER_H_

#include "Eigen/Core"
#include "ceres_wiberg/stochastic_learner.h"
#include "ceres_wiberg/internal/stochastic_learner_state.h"

namespace ceres_wiberg {
namespace internal {

// lr_t = learning_rate / (1 + learning_rate_decay t)^learning_rate_decay_power.
double LearningRate(const StochasticLearner::Options& options, int iteration);

// Sizes (and zeroes) the optimiser's state vectors in *state for
// state->num_parameters parameters: velocity, Adam moments, w_average.
void InitialiseOptimiserState(LearnerState* state);

// The step in theta for the gradient dL/dtheta and rate lr, updating the
// optimiser state (velocity, Adam moments, num_steps) in *state.
void ComputeStep(const StochasticLearner::Options& options, const Eigen::VectorXd& theta_gradient,
                 double learning_rate, LearnerState* state, Eigen::VectorXd* step);

// Scales *step to norm trust_radius if it is longer (trust_radius > 0).
// Returns true if it did.
bool CapStep(double trust_radius, Eigen::VectorXd* step);

// AVERAGED_SGD: folds state->w (the iterate just produced by iteration
// `iteration`) into the running mean if iteration >= averaging_start_iteration,
// else sets the average to it. No-op for the other optimisers.
void UpdateAverage(const StochasticLearner::Options& options, int iteration, LearnerState* state);

}  // namespace internal
}  // namespace ceres_wiberg

#endif  // CERES_WIBERG_INTERNAL_STOCHASTIC_LEARNER_OPTIMISER_H_
