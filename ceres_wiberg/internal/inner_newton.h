// ceres_wiberg internal: the local quadratic model of a BilevelProblem's
// inner energy and its damped Newton steps. Linearise evaluates g and builds
// H at the inner values (the expensive part: Jacobians and the exact
// Hessian's differences); Factorise(lambda) factorises H + lambda D for that
// H, so raising lambda only refactorises. MinimiserDerivative (its final
// Newton step and its derivative) and NewtonPolish (DampedNewton on
// InnerNewtonModel below) share it.

#ifndef CERES_WIBERG_INTERNAL_INNER_NEWTON_H_
#define CERES_WIBERG_INTERNAL_INNER_NEWTON_H_

#include <memory>

#include "Eigen/Core"
#include "ceres_wiberg/bilevel_problem.h"
#include "ceres_wiberg/damped_newton.h"
#include "ceres_wiberg/internal/damped_solver.h"
#include "ceres_wiberg/internal/exact_hessian.h"
#include "ceres_wiberg/internal/linearisation.h"
#include "ceres_wiberg/internal/problem_layout.h"
#include "ceres_wiberg/internal/symmetric_block_matrix.h"
#include <vector>

#include "ceres/problem.h"
#include "ceres_wiberg/minimiser_derivative.h"
#include "ceres_wiberg/newton_polish.h"
#include "ceres_wiberg/status.h"
#include "ceres_wiberg/thread_pool.h"

namespace ceres_wiberg {
namespace internal {

class InnerNewton {
 public:
  // Two solvers share H: the main one (D from options.damping) and the
  // descent's, whose D is set by UseDescentDamping.
  enum class Solver { kMain, kDescent };

  // Uses options.hessian_model, the linear solver, damping and eigenvalue
  // settings; lambda is given to Factorise.
  InnerNewton(const MinimiserDerivative::Options& options, BilevelProblem* problem);

  BilevelProblem* problem() const { return problem_; }
  const ProblemLayout& layout() const { return layout_; }
  const Linearisation& linearisation() const { return linearisation_; }
  const ExactHessian& exact_hessian() const { return exact_hessian_; }
  const DampedSolver& solver(Solver which = Solver::kMain) const {
    return which == Solver::kMain ? solver_ : *descent_solver_;
  }

  // The energy E = 1/2 sum_i rho_i(|r_i|^2) over every residual block of the
  // Ceres problem at its current values (what ceres::Problem::Evaluate
  // returns as cost, to round-off: a recognised learnable loss's term is
  // 1/2 m rho(|r|^2; a) of its wrapped r, r~ is not formed), without Ceres'
  // per-call program and evaluator: the
  // blocks that touch y through the layout and reused buffers, the others
  // (constant in y) by Problem::EvaluateResidualBlock. kNumericalFailure
  // naming the residual block when one fails or is not finite.
  Status EvaluateCost(double* cost);
  // Evaluate, and E from that evaluation's residuals (EvaluateCost's value
  // to round-off, its bits where a cost function returns the same residuals
  // with and without Jacobians; autodiff's may differ in the last bits, a
  // quotient on jets being f * (1/g)). InnerNewtonModel takes the costs of a
  // descent from here, so that they compare consistently.
  Status EvaluateWithCost(double* cost);
  // Residuals, Jacobians, g and the active bounds at the problem's current
  // values.
  Status Evaluate();
  // The bounds active at the last Evaluate (FindActiveBounds with
  // options.bound_tolerance): those coordinates leave the system.
  const ActiveBounds& active_bounds() const { return active_bounds_; }
  // g with the active coordinates' entries (their KKT multipliers) zeroed:
  // the first-order optimality residual of the bound-constrained problem.
  const Eigen::VectorXd& free_gradient() const { return free_gradient_; }
  // H at the point of the last Evaluate, handed to the solvers (without the
  // active coordinates) by their next Factorise: H is then held once, by
  // them (the block matrix's values are freed once every solver holds it,
  // and a sparse solver's H is rewritten in place when its pattern stays).
  Status BuildHessian();
  // Whether the last BuildHessian succeeded at the point of the last
  // Evaluate (false after any Evaluate until the next BuildHessian).
  bool hessian_is_current() const { return hessian_is_current_; }
  // Whether the last Evaluate succeeded at exactly the problem's current
  // inner and learnable values (bitwise): what the evaluation holds is then
  // the current point's, as far as the values tell (a cost function's data
  // changed in place since is not seen: callers decide when to ask).
  bool IsEvaluatedAtCurrentValues() const;

  // Makes Factorise(mu, kDescent) use D = descent_damping (an InnerNewton
  // whose main solver serves a derivative can then also run a descent with
  // its own damping on the same H; the descent's solver is built on first
  // use).
  void UseDescentDamping(DampingType descent_damping);
  // Factorises H + lambda D for the last BuildHessian. A kSingularHessian
  // message names the blocks where the null direction lives.
  Status Factorise(double lambda, Solver which = Solver::kMain);
  // -(H + lambda D)^-1 gradient with the last factorisation (zero on the
  // active coordinates).
  Eigen::VectorXd Step(const Eigen::VectorXd& gradient, Solver which = Solver::kMain) const {
    return -solver(which).Solve(gradient);
  }
  // y <- y (+) step on the inner blocks, projected onto the bounds.
  Status ApplyStep(const Eigen::VectorXd& step) const { return ApplyInnerStep(layout_, step); }

 private:
  const MinimiserDerivative::Options options_;
  BilevelProblem* problem_;
  const ProblemLayout& layout_;
  // Options::num_threads > 1 only; before the users below.
  std::unique_ptr<ThreadPool> thread_pool_;
  Linearisation linearisation_;
  ExactHessian exact_hessian_;
  // Hands H (the last BuildHessian's) to `which` solver if it does not hold
  // it yet: the dense or sparse copy without the active coordinates, checked
  // for NaN and infinite entries. The block matrix's values are then freed
  // if every solver holds H (and assembled again, identically, should
  // another solver need it later).
  Status FeedSolver(Solver which);

  SymmetricBlockMatrix hessian_;
  DampedSolver solver_;
  std::unique_ptr<DampedSolver> descent_solver_;
  DampingType descent_damping_ = DampingType::IDENTITY;
  // Which solvers hold the last BuildHessian's H.
  bool solver_fed_[2] = {false, false};
  bool hessian_is_current_ = false;
  // The inner and learnable values of the last successful Evaluate (empty
  // before one, or after a failed one).
  Eigen::VectorXd evaluated_inner_;
  Eigen::VectorXd evaluated_learnable_;
  ActiveBounds active_bounds_;
  Eigen::VectorXd free_gradient_;
  ResidualScratch cost_scratch_;
  // Adds the cost of the residual blocks that do not touch y to *sum.
  Status AddIndependentCost(double* sum) const;
  // Residual blocks of the Ceres problem that touch no inner block.
  std::vector<ceres::ResidualBlockId> y_independent_residuals_;
};

// The DampedNewton model (ceres_wiberg/damped_newton.h) of the inner energy
// with D = I: the cost is Ceres' (ceres::Problem::Evaluate), steps use the
// blocks' manifold Plus, a rejected step restores the inner values. With
// bounds it is a projected Newton method: the active coordinates stay fixed,
// the others take the Newton step of the free system, the result is projected
// onto the bounds, and |g|_inf is over the free coordinates. The first error
// is kept in status().
class InnerNewtonModel {
 public:
  // decrement_tolerance > 0 adds a scale-invariant convergence test (see
  // StepIsNegligible); 0 (NewtonPolish) keeps DampedNewton's own tests only.
  // solver: which of the InnerNewton's solvers factorises H + mu D (kDescent
  // needs InnerNewton::UseDescentDamping first).
  explicit InnerNewtonModel(InnerNewton* newton, double decrement_tolerance = 0.0,
                            InnerNewton::Solver solver = InnerNewton::Solver::kMain)
      : newton_(newton), decrement_tolerance_(decrement_tolerance), solver_(solver) {}

  const Status& status() const { return status_; }

  bool Cost(double* cost);
  bool Linearise(double* gradient_max_norm);
  double InitialShift(double mu) const { return mu; }
  double ShiftScale() const { return 1.0; }
  ShiftedFactorisation Factorise(double mu);
  bool Trial(double* cost);
  bool TrialHalvesGradient();
  void Accept();
  void Reject();
  // |step| <= tolerance * (1 + |y|), or, with decrement_tolerance > 0, the
  // step just accepted was a full Newton step (mu = 0: H positive definite)
  // whose predicted decrease 1/2 g^T H^-1 g = -1/2 g^T step is at most
  // decrement_tolerance * |E|. Both sides are energies, so the test does not
  // depend on the units of y (unlike |g|_inf); at decrement_tolerance = eps
  // the cost can no longer confirm a step, and the Newton step just taken
  // leaves y quadratically closer to the minimiser.
  bool StepIsNegligible(double tolerance) const;

 private:
  bool Fail(Status status);

  InnerNewton* newton_;
  const double decrement_tolerance_;
  const InnerNewton::Solver solver_;
  // Linearise leaves H to the next Factorise (see there).
  bool hessian_pending_ = false;
  double cost_ = 0.0;        // E at the current point
  double trial_cost_ = 0.0;  // E at the last trial
  double mu_ = 0.0;          // of the last factorisation
  // Of the last accepted step: its mu and its predicted decrease.
  double accepted_mu_ = -1.0;
  double accepted_decrease_ = 0.0;
  Status status_;
  Eigen::VectorXd gradient_;  // g at the current point
  double free_gradient_max_norm_ = 0.0;  // its |g|_inf over the free coordinates
  Eigen::VectorXd values_;    // the current point's inner values during a trial
  Eigen::VectorXd step_;
  // The linearisation holds the first-order data of the point the last
  // Cost or Trial evaluated (after Accept: the current point, which
  // Linearise then does not evaluate again).
  bool evaluated_at_trial_ = false;
};

// The settings NewtonPolish gives InnerNewton: options.derivative_options
// with lambda 0, IDENTITY damping, the EXACT Hessian and no final step.
MinimiserDerivative::Options NewtonPolishDerivativeOptions(
    const MinimiserDerivative::Options& derivative_options);

// NewtonPolish::Polish (same errors, same summary) on `newton`, built with
// NewtonPolishDerivativeOptions: callers that polish one problem many times
// keep it, and with it its buffers and the solver's symbolic analysis.
// `options` must be valid.
// decrement_tolerance: InnerNewtonModel's (0: NewtonPolish's tests only).
// solver: InnerNewtonModel's.
Status PolishWith(const DampedNewtonOptions& options, double decrement_tolerance,
                  InnerNewton* newton, NewtonPolish::Summary* summary,
                  InnerNewton::Solver solver = InnerNewton::Solver::kMain);

}  // namespace internal
}  // namespace ceres_wiberg

#endif  // CERES_WIBERG_INTERNAL_INNER_NEWTON_H_
