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
//    checks G and the damped solve, but reuses the factorisation of the H it
//    would check, so it cannot see an error in H.
// Hence a third reference, for any lambda: H itself against central
// differences of the inner GRADIENT g = dE/dy (ceres::Problem::Evaluate, the
// learnable blocks constant), along each free tangent coordinate (through
// the block's Manifold::Plus), which shares nothing with the engine's
// differences of per-residual Jacobians. It holds where y* is not a strict
// minimum (a gauge, the paper's energies at lambda > 0), where no re-solve
// reference exists. See Options::check_hessian.
//
// Bounds: the re-solves are Ceres solves with the problem's bounds, polished
// by NewtonPolish's projected Newton steps, so they move only the free
// coordinates; coordinates at an active bound (see minimiser_derivative.h)
// have zero rows in both, and H is compared on the free coordinates.
//
// The steps of both are chosen per column by Ridders' extrapolation (see
// Options::resolve_relative_step), with an error estimate reported beside
// the disagreement.
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
    // The references' steps. Along learnable coordinate j the step is
    // relative_step * |w_j| (|w_j| = 0: relative_step), along a direction v
    // the largest step that moves no coordinate by more than that.
    //
    // Default (0): chosen per checked column by Ridders' method, as Ceres'
    // NumericDiffOptions with RIDDERS (ceres/internal/numeric_diff.h):
    // central differences at steps from ridders_relative_initial_step down,
    // shrunk by ridders_step_shrink_factor, Richardson-extrapolated in a
    // tableau; the estimate with the smallest error estimate (the distance
    // between successive extrapolations, measured as the comparison below)
    // is kept, and the ladder stops when that estimate is <= ridders_epsilon,
    // when round-off takes over (once the differences converge at second
    // order: they stop converging and the newest extrapolation moved by twice
    // the best error, Ceres' test, or two steps bring no better estimate),
    // or after max_num_ridders_steps differences.
    // Result::steps and Result::error_estimates say what was chosen, so a
    // disagreement far above the error estimate is the derivative's. The
    // re-solves at each step are warm started from y* plus the step times
    // the current estimate.
    //
    // > 0: that fixed relative step. The error is then round-off / h plus the
    // O(h^2) truncation of y*(w) (re-solves; damped steps: of g in w), which
    // no single step keeps small on every problem, and is not estimated.
    double resolve_relative_step = 0.0;      // lambda = 0
    double damped_step_relative_step = 0.0;  // lambda > 0
    // Fixed steps only: central differences D at steps h and 2h, combined as
    // (4 D(h) - D(2h)) / 3, which cancels the O(h^2) truncation (left:
    // O(h^4) and round-off / h) for twice the re-solves or steps.
    bool richardson_extrapolation = false;
    // Ridders' ladder. The first step is large (Ceres: 1e-2, relative), so
    // that round-off is small, and smaller steps follow until the
    // extrapolation stops improving.
    double ridders_relative_initial_step = 1e-2;
    double ridders_step_shrink_factor = 2.0;
    // Each costs two re-solves (or damped steps). The steps go down to
    // ridders_relative_initial_step / shrink^(max - 1), 3e-7 by default: on
    // the FoE benchmark's 64 x 64 image a column reached the truncation
    // regime only at the 8th step (7.8e-5) and its best at the 11th (1e-5).
    int max_num_ridders_steps = 16;
    // Relative, as max_relative_error: 1e3 below the strictest tolerance the
    // project checks against (1e-6), and at the round-off a polished re-solve
    // reaches on real problems (1e-9 to 1e-11 measured). Measured on the
    // test suite, 1e-10 cost 15-35% more time for the same verdicts.
    double ridders_epsilon = 1e-9;
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
    // The H check (HessianModel::EXACT only: GAUSS_NEWTON is a model, not
    // dg/dy). Column j of the reference is (g(y (+) h_j e_j) - g(y (+) -h_j
    // e_j)) / 2 h_j over the free coordinates, always Richardson-extrapolated
    // with 2 h_j (a plain difference's O(h^2) error reached 1.6e-4 on a
    // bundle-adjustment camera: focal length, angle-axis and distortion in
    // one block), with h_j =
    // hessian_relative_step times the coordinate's own scale (|y_j|, a
    // manifold block's |x|_inf; at least sqrt(eps) / hessian_relative_step,
    // Ceres' NumericDiff floor, for values at or near zero), so that units
    // may differ by orders of magnitude inside a block. Costs two gradient
    // evaluations of the whole problem per checked column, at h_j and 2 h_j.
    bool check_hessian = true;
    // Columns of H checked: every free coordinate when there are at most this
    // many, else this many spread evenly over them (first and last included).
    int max_hessian_columns = 100;
    // Extrapolated, the O(h^4) truncation and the eps / h round-off are both
    // far below 1e-6 relative at 1e-5 (2e-7 measured on that camera).
    double hessian_relative_step = 1e-5;
    // Result::hessian_within_tolerance is hessian_max_relative_error <=
    // hessian_tolerance. The default is 1e4 times the differences' error
    // above, and far below the error of any real mistake in H (a wrong
    // second derivative, a missing loss or manifold term: percents).
    double hessian_tolerance = 1e-6;
    // Learnable coordinates (columns of dy*/dw) to check; empty: all.
    std::vector<int> learnable_coordinates;
    // If it has columns, directions v in w-space (n_w x k) to check instead:
    // the analytic (dy*/dw) v against a central difference along v.
    Eigen::MatrixXd directions;

    bool IsValid(std::string* error) const;
  };

  struct Result {
    // n_y x (checked columns): (dy*/dw) columns or (dy*/dw) v; numeric is
    // the references' (see Options::resolve_relative_step).
    Eigen::MatrixXd analytic;
    Eigen::MatrixXd numeric;
    // Per checked column: the step of the kept estimate's smallest central
    // difference (in w along the column's direction), its error estimate in
    // the units of max_relative_error (entrywise over max(|numeric|,
    // relative_floor * max|numeric|); NaN where not estimated: fixed steps,
    // or a single step), and the central differences taken.
    std::vector<double> steps;
    std::vector<double> error_estimates;
    std::vector<int> num_differences;
    // The largest error estimate (NaN if any column's is not estimated).
    double max_error_estimate = 0.0;
    double max_relative_error = 0.0;
    int worst_row = -1;
    int worst_column = -1;
    // "d(inner block ... tangent coordinate i)/d(learnable block ...)".
    std::string worst_location;
    // "re-solve" or "damped Newton step".
    std::string method;
    MinimiserDerivative::Summary derivative_summary;

    // The H check (Options::check_hessian). Entries of the free coordinates
    // in the checked columns are compared on the Jacobi-scaled form:
    // |H_ij - R_ij| / sqrt(d_i d_j), d_i = max(|H_ii|, |R_ii|) (at least
    // relative_floor times max |R|; |H_ii| for rows whose column is not
    // checked), which does not depend on the units.
    bool hessian_checked = false;
    int hessian_columns_checked = 0;
    double hessian_max_relative_error = 0.0;
    // "d2E/d(inner block ... tangent coordinate i) d(...)".
    std::string hessian_worst_location;
    bool hessian_within_tolerance = true;

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
  // y*(w) - y_star in y_star's tangent space, by a re-solve at w from
  // y_star (+) predicted (y_star if predicted is empty), polished; the
  // problem's values are restored.
  static Status ResolveOutcome(const Options& options, const Eigen::VectorXd& y_star,
                               const Eigen::VectorXd& predicted, const Eigen::VectorXd& w,
                               BilevelProblem* problem, Eigen::VectorXd* outcome);
  // One damped Newton step from the linearised fixed point at w,
  // N(w) - y* = -(H + lambda D)^-1 g(y*, w).
  static Status DampedStepOutcome(const MinimiserDerivative& derivative,
                                  const Eigen::VectorXd& w, BilevelProblem* problem,
                                  Eigen::VectorXd* outcome);
  // The H check at the linearised point (result's hessian_* fields).
  static Status CheckHessian(const Options& options, const MinimiserDerivative& derivative,
                             BilevelProblem* problem, Result* result);
  // Fills max_relative_error and the worst entry's location.
  static void Compare(const Options& options, const Eigen::MatrixXd& directions,
                      const BilevelProblem& problem, Result* result);
};

}  // namespace ceres_wiberg

#endif  // CERES_WIBERG_MINIMISER_DERIVATIVE_CHECKER_H_
