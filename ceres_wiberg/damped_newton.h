// ceres_wiberg: learning energy parameters by differentiating Ceres minimisers.
//
// DampedNewton: the one damped-Newton descent of the library,
//
//   x <- x (+) -(H + mu I)^-1 g,
//
// with mu controlled like Levenberg-Marquardt's: raised while H + mu I is not
// positive definite or the step does not lower the cost, lowered after a
// success (mu = 0 is Newton's method). H is built once per iteration; raising
// mu only refactorises H + mu I. NewtonPolish runs it on a BilevelProblem's
// inner energy; the tracker-fusion example on its 2-variable corner energies,
// millions of times, which is why it is a header-only template on a model:
//
//   class Model {
//    public:
//     // The energy at the current point; false if it cannot be evaluated.
//     bool Cost(double* cost);
//     // g and H at the current point; false on failure. |g|_inf out.
//     bool Linearise(double* gradient_max_norm);
//     // The first mu to try in an iteration, given the mu the loop carries
//     // (e.g. a shift from H's eigenvalues, or `mu` itself).
//     double InitialShift(double mu);
//     // The unit of initial_mu: the first non-zero mu is
//     // initial_mu * ShiftScale() (1 for a mu in the units of H).
//     double ShiftScale() const;
//     // Factorises H + mu I without rebuilding H.
//     ShiftedFactorisation Factorise(double mu);
//     // Forms the step from the last factorisation and evaluates the cost at
//     // x (+) step, keeping x; false if the step or the cost is not finite.
//     bool Trial(double* cost);
//     // |g(x (+) step)| < |g(x)| / 2 (the model's norm).
//     bool TrialHalvesGradient();
//     void Accept();  // x <- x (+) step; the next call is Linearise
//     void Reject();  // x stays; the next call is Factorise
//     // After Accept: |step| <= tolerance * (1 + |x|).
//     bool StepIsNegligible(double tolerance) const;
//   };

#ifndef CERES_WIBERG_DAMPED_NEWTON_H_
#define CERES_WIBERG_DAMPED_NEWTON_H_

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

namespace ceres_wiberg {

enum class ShiftedFactorisation {
  kPositiveDefinite,
  // H + mu I is not positive definite (or singular): raise mu.
  kNotPositiveDefinite,
  // Anything else (NaN, a failed evaluation): stop.
  kFailure,
};

struct DampedNewtonOptions {
  // Iterations: each linearises once and tries steps until one is accepted.
  int max_num_iterations = 50;
  // Steps tried (factorisations) per iteration before giving up.
  int max_num_trials_per_iteration = 60;
  // Converged when |g|_inf <= gradient_tolerance.
  double gradient_tolerance = 1e-10;
  // Converged when an accepted step is at most step_tolerance * (1 + |x|)
  // (0: only a zero step).
  double step_tolerance = 0.0;
  // The first non-zero mu, in the model's ShiftScale() units.
  double initial_mu = 1e-6;
  // mu <- max(mu_increase * mu, initial_mu) after a failure;
  // mu <- mu_decrease * mu after a success, 0 once below initial_mu
  // (mu_decrease = 0: every iteration starts from the model's InitialShift(0)).
  double mu_increase = 10.0;
  double mu_decrease = 0.1;
  // Give up (kNoDescent) when mu would exceed this (in ShiftScale() units).
  double max_mu = 1e12;
  // Near a minimum the cost changes below its rounding, so an undamped step
  // (mu = 0) that raises it by no more than rounding (1e-13 relative) is also
  // accepted when it halves the gradient: the descent then converges to
  // |g| ~ eps rather than |dx| ~ sqrt(eps).
  bool accept_rounding_level_newton_steps = true;

  bool IsValid(std::string* error) const {
    auto fail = [error](const char* message) {
      if (error != nullptr) *error = message;
      return false;
    };
    if (max_num_iterations < 0) return fail("max_num_iterations must be >= 0");
    if (max_num_trials_per_iteration < 1) return fail("max_num_trials_per_iteration must be >= 1");
    if (!(gradient_tolerance >= 0.0)) return fail("gradient_tolerance must be >= 0");
    if (!(step_tolerance >= 0.0)) return fail("step_tolerance must be >= 0");
    if (!(initial_mu > 0.0) || !std::isfinite(initial_mu)) {
      return fail("initial_mu must be positive and finite");
    }
    if (!(mu_increase > 1.0) || !std::isfinite(mu_increase)) {
      return fail("mu_increase must be > 1 and finite");
    }
    if (!(mu_decrease >= 0.0 && mu_decrease < 1.0)) return fail("mu_decrease must be in [0, 1)");
    if (!(max_mu >= initial_mu)) return fail("max_mu must be >= initial_mu");
    return true;
  }
};

enum class DampedNewtonTermination {
  kGradientTolerance,  // converged
  kStepTolerance,      // converged: no progress at working precision
  kMaxIterations,
  kNoDescent,  // no step was accepted for mu up to max_mu (or the trial limit)
  kFailure,    // the model failed (see the model's error)
};

inline const char* DampedNewtonTerminationToString(DampedNewtonTermination termination) {
  switch (termination) {
    case DampedNewtonTermination::kGradientTolerance:
      return "GRADIENT_TOLERANCE";
    case DampedNewtonTermination::kStepTolerance:
      return "STEP_TOLERANCE";
    case DampedNewtonTermination::kMaxIterations:
      return "MAX_ITERATIONS";
    case DampedNewtonTermination::kNoDescent:
      return "NO_DESCENT";
    case DampedNewtonTermination::kFailure:
      return "FAILURE";
  }
  return "UNKNOWN";
}

struct DampedNewtonSummary {
  DampedNewtonTermination termination = DampedNewtonTermination::kFailure;
  int iterations = 0;
  int accepted_steps = 0;
  int factorisations = 0;
  double initial_cost = 0.0;
  double final_cost = 0.0;
  double initial_gradient_max_norm = 0.0;
  double final_gradient_max_norm = 0.0;
  // mu of the last accepted step (or the last one tried when none was).
  double final_mu = 0.0;
  // Ended at kGradientTolerance or kStepTolerance.
  bool converged = false;
};

// Runs the descent from the model's current point; options must be valid.
template <typename Model>
DampedNewtonTermination DampedNewton(const DampedNewtonOptions& options, Model* model,
                                     DampedNewtonSummary* summary) {
  using Termination = DampedNewtonTermination;
  *summary = DampedNewtonSummary();
  auto finish = [summary](Termination termination) {
    summary->termination = termination;
    summary->converged = termination == Termination::kGradientTolerance ||
                         termination == Termination::kStepTolerance;
    return termination;
  };
  double cost = 0.0;
  double gradient_max_norm = 0.0;
  if (!model->Cost(&cost) || !model->Linearise(&gradient_max_norm)) {
    return finish(Termination::kFailure);
  }
  summary->initial_cost = summary->final_cost = cost;
  summary->initial_gradient_max_norm = gradient_max_norm;
  double mu = 0.0;
  for (;;) {
    summary->final_gradient_max_norm = gradient_max_norm;
    if (gradient_max_norm <= options.gradient_tolerance) {
      return finish(Termination::kGradientTolerance);
    }
    if (summary->iterations >= options.max_num_iterations) {
      return finish(Termination::kMaxIterations);
    }
    ++summary->iterations;
    mu = model->InitialShift(mu);
    const double min_mu = options.initial_mu * model->ShiftScale();
    double trial_cost = std::numeric_limits<double>::infinity();
    bool accepted = false;
    for (int trial = 0; trial < options.max_num_trials_per_iteration && !accepted; ++trial) {
      summary->final_mu = mu;
      switch (model->Factorise(mu)) {
        case ShiftedFactorisation::kFailure:
          return finish(Termination::kFailure);
        case ShiftedFactorisation::kNotPositiveDefinite:
          break;
        case ShiftedFactorisation::kPositiveDefinite:
          ++summary->factorisations;
          if (model->Trial(&trial_cost)) {
            accepted =
                trial_cost <= cost || (options.accept_rounding_level_newton_steps && mu == 0.0 &&
                                       trial_cost <= cost + 1e-13 * (1.0 + std::abs(cost)) &&
                                       model->TrialHalvesGradient());
          }
          if (!accepted) model->Reject();
          break;
      }
      if (accepted) break;
      mu = std::max(options.mu_increase * mu, min_mu);
      if (mu > options.max_mu * model->ShiftScale()) break;
    }
    if (!accepted) return finish(Termination::kNoDescent);
    model->Accept();
    ++summary->accepted_steps;
    cost = summary->final_cost = trial_cost;
    if (model->StepIsNegligible(options.step_tolerance)) {
      if (!model->Linearise(&gradient_max_norm)) return finish(Termination::kFailure);
      summary->final_gradient_max_norm = gradient_max_norm;
      return finish(Termination::kStepTolerance);
    }
    mu = options.mu_decrease * mu < min_mu ? 0.0 : options.mu_decrease * mu;
    if (!model->Linearise(&gradient_max_norm)) return finish(Termination::kFailure);
  }
}

}  // namespace ceres_wiberg

#endif  // CERES_WIBERG_DAMPED_NEWTON_H_
