// ceres_wiberg: learning energy parameters by differentiating Ceres minimisers.
//
// NewtonPolish: finishes an inner solve with damped exact-Newton steps.
//
// Ceres' Levenberg-Marquardt uses the Gauss-Newton model of the energy. On
// robust or non-convex energies it converges only linearly and may stop
// where the exact Hessian H is still indefinite (measured on the
// Fields-of-Experts denoising energy), i.e. not at a strict local minimum,
// where the implicit derivative (lambda = 0) does not exist. NewtonPolish
// continues from the current inner values with
//
//   y <- y (+) -(H + mu I)^-1 g,
//
// H the exact Hessian and g the gradient of the inner energy (from
// MinimiserDerivative), (+) the blocks' manifold Plus, and mu chosen like
// Levenberg-Marquardt's: raised while H + mu I is not positive definite or a
// step does not lower the cost, lowered after a successful step (mu = 0 is
// Newton's method, quadratic near a strict minimum). It stops when
// |g|_inf <= gradient_tolerance, and then reports whether H itself is
// positive definite there.
//
//   NewtonPolishSummary summary;
//   Status status = NewtonPolish(options, &bilevel_problem, &summary);
//
// Each iteration builds and factorises H (MinimiserDerivative::Linearize),
// so an iteration costs about one Linearize; a rejected step costs one more.
// The learnable blocks are not changed; the inner blocks are left at the
// best point found, also on error.
//
// It is a local method: let Ceres do the global part. Measured on the
// Fields-of-Experts denoising energy (DefaultFieldsOfExperts, 3 x 3 filters,
// sigma 20, the FoE benchmark's instances):
// from Ceres' converged point, 2 iterations at 64 x 64 (|g|_inf 1e-3 -> 2e-9)
// and 17 at 256 x 256 (0.012 -> 4.6e-9, a strict minimum); from only 20 or 50
// LM iterations, where H is strongly indefinite, 50 iterations lowered the
// cost but did not converge.

#ifndef CERES_WIBERG_NEWTON_POLISH_H_
#define CERES_WIBERG_NEWTON_POLISH_H_

#include <string>

#include "ceres_wiberg/bilevel_problem.h"
#include "ceres_wiberg/minimiser_derivative.h"
#include "ceres_wiberg/status.h"

namespace ceres_wiberg {

struct NewtonPolishOptions {
  // Iterations (accepted or rejected steps).
  int max_num_iterations = 50;
  // Stop when the inner gradient's largest entry is at most this.
  double gradient_tolerance = 1e-10;
  // The first non-zero mu (in the units of H), and its factors after a
  // failed and a successful iteration; mu below initial_mu becomes 0.
  double initial_mu = 1e-6;
  double mu_increase = 10.0;
  double mu_decrease = 0.1;
  // Give up (kIndefiniteHessian) when mu would exceed this.
  double max_mu = 1e12;
  // The Hessian's settings (linear solver, second-derivative step, ...).
  // lambda, damping, hessian_model and final_newton_step are set by the
  // polish (mu, IDENTITY, EXACT, false).
  MinimiserDerivative::Options derivative_options;

  bool IsValid(std::string* error) const;
};

struct NewtonPolishSummary {
  int iterations = 0;
  int accepted_steps = 0;
  double initial_cost = 0.0;
  double final_cost = 0.0;
  double initial_gradient_max_norm = 0.0;
  double final_gradient_max_norm = 0.0;
  double final_mu = 0.0;
  // |g|_inf <= gradient_tolerance at the final point.
  bool converged = false;
  // H (mu = 0) is positive definite at the final point (checked when
  // converged): a strict local minimum, where lambda = 0 is usable.
  bool strict_local_minimum = false;
  std::string BriefReport() const;
};

// Returns kInvalidArgument for invalid options, the MinimiserDerivative
// errors (NaN residuals and the like), and kIndefiniteHessian if mu would
// exceed max_mu. Not converging within max_num_iterations is not an error:
// see summary->converged.
Status NewtonPolish(const NewtonPolishOptions& options, BilevelProblem* problem,
                    NewtonPolishSummary* summary);

}  // namespace ceres_wiberg

#endif  // CERES_WIBERG_NEWTON_POLISH_H_
