// ceres_wiberg: learning energy parameters by differentiating Ceres minimisers.
//
// MinimiserDerivativeChecker: checks dy*/dw from MinimiserDerivative against
// central finite differences, as ceres::GradientChecker does for cost
// functions. Ship it with your tests: every energy you learn should pass it.
//
// Two numeric references, chosen by the derivative's lambda:
//  - lambda = 0: full re-solves of the inner problem at w +- h e_j, warm
//    started from y* and polished by NewtonPolish (see
//    Options::newton_polish_iterations); differences taken in y*'s tangent
//    space (Manifold::Minus). This checks H, G and the linear algebra end to
//    end.
//  - lambda > 0: one damped Newton step from the fixed y*,
//    N(w) = y* - (H + lambda D)^-1 g(y*, w), at w +- h e_j. The damped
//    derivative is exactly dN/dw, so this is the exact reference for it; it
//    checks G and the damped solve, while H is checked by the lambda = 0 case.
//
// Either can be Richardson-extrapolated (Options::richardson_extrapolation).
// Entries are compared relative to max(|analytic|, |numeric|,
// relative_floor * max|numeric|), so that entries that are zero up to
// round-off do not dominate.

#ifndef CERES_WIBERG_MINIMISER_DERIVATIVE_CHECKER_H_
#define CERES_WIBERG_MINIMISER_DERIVATIVE_CHECKER_H_

#include <string>
#include <vector>

#include "Eigen/Core"
#include "ceres/solver.h"
#include "ceres_wiberg/bilevel_problem.h"
#include "ceres_wiberg/minimiser_derivative.h"
#include "ceres_wiberg/status.h"

namespace ceres_wiberg {

class MinimiserDerivativeChecker {
 public:
  struct Options {
    // Step for the damped-step reference (lambda > 0): h_j = step * max(1,
    // |w_j|). Its error is round-off only when g is linear in w, O(h^2) else.
    double damped_step_relative_step = 1e-6;
    // Step for the re-solve reference (lambda = 0). The re-solves are polished
    // to round-off (newton_polish_iterations), so the error is the O(h^2)
    // truncation of y*(w) plus round-off / h.
    double resolve_relative_step = 1e-5;
    // Richardson extrapolation: central differences D at steps h and 2h,
    // combined as (4 D(h) - D(2h)) / 3, which cancels the O(h^2) truncation
    // (left: O(h^4) and round-off / h) for twice the re-solves or steps. For
    // minimisers y*(w) that bend sharply (robust or non-convex energies).
    bool richardson_extrapolation = false;
    // Inner solver options for the re-solves.
    ceres::Solver::Options solver_options = TightSolverOptions();
    // Ceres stops when the cost stops changing in floating point, which
    // leaves y about sqrt(eps) from the minimiser: too coarse for differences.
    // After each re-solve, up to this many NewtonPolish iterations (exact
    // Newton steps, damped only where needed) drive the gradient to
    // round-off. They converge to g = 0 whatever small error H has, so the
    // reference stays independent of the Hessian being checked.
    int newton_polish_iterations = 8;
    // Finite differences carry an error relative to the scale of the whole
    // matrix (O(h^2) truncation, solver round-off), not to each entry, so an
    // entry is compared relative to at least relative_floor times the largest
    // |numeric| entry. Without a floor, entries that are zero by structure
    // (analytic 1e-11, numeric 0) would report relative errors of 1.
    double relative_floor = 1e-4;
    // Learnable coordinates (columns of dy*/dw) to check; empty: all.
    std::vector<int> learnable_coordinates;
    // If it has columns, directions v in w-space (n_w x k) to check instead:
    // the analytic (dy*/dw) v against a central difference along v.
    Eigen::MatrixXd directions;

    bool IsValid(std::string* error) const;
  };

  struct Result {
    // n_y x (checked columns): (dy*/dw) columns or (dy*/dw) v; numeric is
    // Richardson-extrapolated if the options ask for it.
    Eigen::MatrixXd analytic;
    Eigen::MatrixXd numeric;
    double max_relative_error = 0.0;
    int worst_row = -1;
    int worst_column = -1;
    // "d(inner block ... tangent coordinate i)/d(learnable block ...)".
    std::string worst_location;
    // "re-solve" or "damped Newton step".
    std::string method;
    MinimiserDerivative::Summary derivative_summary;

    std::string Report() const;
  };

  // Polishes the problem's current values (which should be near a minimiser)
  // to the fixed point g = 0 with Newton steps, linearises there with
  // `derivative_options` and compares. The inner and learnable values are
  // restored afterwards. Errors from Linearise or from a re-solve are returned
  // as they are.
  static Status Check(const Options& options,
                      const MinimiserDerivative::Options& derivative_options,
                      BilevelProblem* problem, Result* result);

 private:
  // The columns to check as directions in w (n_w x k).
  static Status Directions(const Options& options, int num_learnable,
                           Eigen::MatrixXd* directions);
  // Newton steps from the current inner values towards g = 0.
  static Status PolishToFixedPoint(const Options& options, BilevelProblem* problem);
  // The central difference of y*(w) along v at step h by re-solves from the
  // fixed point (y_star, w0), in y_star's tangent space.
  static Status ResolveDifference(const Options& options, const Eigen::VectorXd& y_star,
                                  const Eigen::VectorXd& w0, const Eigen::VectorXd& v, double h,
                                  BilevelProblem* problem, Eigen::VectorXd* difference);
  // The central difference along v at step h of one damped Newton step from
  // the linearised fixed point, N(w) = y* - (H + lambda D)^-1 g(y*, w).
  static Status DampedStepDifference(const MinimiserDerivative& derivative,
                                     const Eigen::VectorXd& w0, const Eigen::VectorXd& v,
                                     double h, BilevelProblem* problem,
                                     Eigen::VectorXd* difference);
  // Fills max_relative_error and the worst entry's location.
  static void Compare(const Options& options, const Eigen::MatrixXd& directions,
                      const BilevelProblem& problem, Result* result);
};

}  // namespace ceres_wiberg

#endif  // CERES_WIBERG_MINIMISER_DERIVATIVE_CHECKER_H_
