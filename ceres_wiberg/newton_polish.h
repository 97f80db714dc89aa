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
// H the exact Hessian and g the gradient of the inner energy, (+) the blocks'
// manifold Plus, and mu chosen like Levenberg-Marquardt's (DampedNewton,
// ceres_wiberg/damped_newton.h): raised while H + mu I is not positive
// definite or a step does not lower the cost, lowered after a successful step
// (mu = 0 is Newton's method, quadratic near a strict minimum). It stops when
// |g|_inf <= gradient_tolerance, and then reports whether H itself is
// positive definite there.
//
// Bounds (Ceres' SetParameterLowerBound/UpperBound on inner blocks): a
// projected Newton method. Coordinates at an active bound (see
// minimiser_derivative.h) are held fixed, the others take the step of the
// free system, the result is projected onto the bounds, and |g|_inf is over
// the free coordinates (the KKT residual); "positive definite" is H's on the
// free coordinates. Steps never leave the bounds.
//
//   NewtonPolish::Options options;
//   NewtonPolish::Summary summary;
//   Status status = NewtonPolish::Polish(options, &bilevel_problem, &summary);
//   std::cout << summary.BriefReport() << "\n";
//
// Each iteration evaluates the Jacobians and builds H once; a rejected step
// or a raised mu costs one refactorisation of H + mu I (and one evaluation of
// the cost), not a new H. The learnable blocks are not changed; the inner
// blocks are left at the best point found, also on error.
//
// It is a local method: let Ceres do the global part. Measured on the
// Fields-of-Experts denoising energy (DefaultFieldsOfExperts, 3 x 3 filters,
// sigma 20, the FoE benchmark's instances):
// from Ceres' converged point, 2 iterations at 64 x 64 (|g|_inf 1e-3 -> 2e-9)
// and 17 at 256 x 256 (0.012 -> 4.6e-9, a strict minimum); from only 20 or 50
// LM iterations, where H is strongly indefinite, 50 iterations lowered the
// cost but did not converge. (Measured before DampedNewton, when a rejected
// step counted as an iteration and rebuilt H.)

#ifndef CERES_WIBERG_NEWTON_POLISH_H_
#define CERES_WIBERG_NEWTON_POLISH_H_

#include <string>

#include "ceres_wiberg/bilevel_problem.h"
#include "ceres_wiberg/damped_newton.h"
#include "ceres_wiberg/minimiser_derivative.h"
#include "ceres_wiberg/status.h"

namespace ceres_wiberg {

class NewtonPolish {
 public:
  // The descent's settings (DampedNewtonOptions: iterations, each one H;
  // gradient_tolerance 1e-10 on |g|_inf; mu from initial_mu 1e-6, in the
  // units of H, times 10 on a failure and 0.1 on a success, up to max_mu
  // 1e12, past which the polish gives up with kIndefiniteHessian; undamped
  // steps at the cost's rounding level accepted when they halve |g|_inf) and
  // the Hessian's.
  struct Options : DampedNewtonOptions {
    // The Hessian's settings (linear solver, second-derivative step,
    // eigenvalue diagnostics). lambda, damping, hessian_model and
    // final_newton_step are set by the polish (mu, IDENTITY, EXACT, false).
    MinimiserDerivative::Options derivative_options;

    bool IsValid(std::string* error) const;
  };

  // The descent's record (iterations, each one H; accepted steps;
  // factorisations of H + mu I; cost, |g|_inf and mu; termination;
  // converged: |g|_inf <= gradient_tolerance) and the end point's class.
  struct Summary : DampedNewtonSummary {
    // H (mu = 0) is positive definite at the final point (checked when
    // converged): a strict local minimum, where lambda = 0 is usable.
    bool strict_local_minimum = false;

    // One line: iterations, cost, |g|_inf, mu, outcome.
    std::string BriefReport() const;
    std::string FullReport() const;
  };

  // Returns kInvalidArgument for invalid options, the MinimiserDerivative
  // errors (NaN residuals and the like), and kIndefiniteHessian if mu would
  // exceed max_mu. Not converging within max_num_iterations is not an error:
  // see summary->converged.
  static Status Polish(const Options& options, BilevelProblem* problem, Summary* summary);
};

}  // namespace ceres_wiberg

#endif  // CERES_WIBERG_NEWTON_POLISH_H_
