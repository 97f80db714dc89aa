#include "ceres_wiberg/internal/stochastic_learner_optimiser.h"

#include <cmath>

namespace ceres_wiberg {
namespace internal {

double LearningRate(const StochasticLearner::Options& options, int iteration) {
  if (options.learning_rate_decay == 0.0) return options.learning_rate;
  return options.learning_rate /
         std::pow(1.0 + options.learning_rate_decay * static_cast<double>(iteration),
                  options.learning_rate_decay_power);
}

void InitialiseOptimiserState(LearnerState* state) {
  const int n = state->num_parameters;
  state->velocity.resize(0);
  state->adam_m.resize(0);
  state->adam_v.resize(0);
  state->w_average.resize(0);
  state->num_averaged = 0;
  switch (state->optimiser) {
    case StochasticOptimiser::SGD:
      break;
    case StochasticOptimiser::SGD_MOMENTUM:
      state->velocity = Eigen::VectorXd::Zero(n);
      break;
    case StochasticOptimiser::AVERAGED_SGD:
      state->w_average = state->w;
      break;
    case StochasticOptimiser::ADAM:
      state->adam_m = Eigen::VectorXd::Zero(n);
      state->adam_v = Eigen::VectorXd::Zero(n);
      break;
  }
}

void ComputeStep(const StochasticLearner::Options& options, const Eigen::VectorXd& theta_gradient,
                 double learning_rate, LearnerState* state, Eigen::VectorXd* step) {
  ++state->num_steps;
  switch (state->optimiser) {
    case StochasticOptimiser::SGD:
    case StochasticOptimiser::AVERAGED_SGD:
      *step = -learning_rate * theta_gradient;
      return;
    case StochasticOptimiser::SGD_MOMENTUM:
      state->velocity = options.momentum * state->velocity + theta_gradient;
      *step = -learning_rate * state->velocity;
      return;
    case StochasticOptimiser::ADAM: {
      const double beta1 = options.adam_beta1;
      const double beta2 = options.adam_beta2;
      state->adam_m = beta1 * state->adam_m + (1.0 - beta1) * theta_gradient;
      state->adam_v = beta2 * state->adam_v + (1.0 - beta2) * theta_gradient.cwiseAbs2();
      const double k = static_cast<double>(state->num_steps);
      const double correction1 = 1.0 - std::pow(beta1, k);
      const double correction2 = 1.0 - std::pow(beta2, k);
      *step = (-learning_rate * (state->adam_m / correction1).array() /
               ((state->adam_v / correction2).array().sqrt() + options.adam_epsilon))
                  .matrix();
      return;
    }
  }
}

bool CapStep(double trust_radius, Eigen::VectorXd* step) {
  if (!(trust_radius > 0.0)) return false;
  const double norm = step->norm();
  if (!(norm > trust_radius)) return false;
  *step *= trust_radius / norm;
  return true;
}

void UpdateAverage(const StochasticLearner::Options& options, int iteration, LearnerState* state) {
  if (state->optimiser != StochasticOptimiser::AVERAGED_SGD) return;
  if (iteration < options.averaging_start_iteration) {
    state->w_average = state->w;
    return;
  }
  ++state->num_averaged;
  state->w_average += (state->w - state->w_average) / static_cast<double>(state->num_averaged);
}

}  // namespace internal
}  // namespace ceres_wiberg
