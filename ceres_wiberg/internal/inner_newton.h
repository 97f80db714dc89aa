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
#include "ceres_wiberg/minimiser_derivative.h"
#include "ceres_wiberg/status.h"
#include "ceres_wiberg/thread_pool.h"

namespace ceres_wiberg {
namespace internal {

class InnerNewton {
 public:
  // Uses options.hessian_model, the linear solver, damping and eigenvalue
  // settings; lambda is given to Factorise.
  InnerNewton(const MinimiserDerivative::Options& options, BilevelProblem* problem);

  BilevelProblem* problem() const { return problem_; }
  const ProblemLayout& layout() const { return layout_; }
  const Linearisation& linearisation() const { return linearisation_; }
  const ExactHessian& exact_hessian() const { return exact_hessian_; }
  const DampedSolver& solver() const { return solver_; }

  // Residuals, Jacobians, g and the active bounds at the problem's current
  // values.
  Status Evaluate();
  // The bounds active at the last Evaluate (FindActiveBounds with
  // options.bound_tolerance): those coordinates leave the system.
  const ActiveBounds& active_bounds() const { return active_bounds_; }
  // g with the active coordinates' entries (their KKT multipliers) zeroed:
  // the first-order optimality residual of the bound-constrained problem.
  const Eigen::VectorXd& free_gradient() const { return free_gradient_; }
  // H at the point of the last Evaluate (all n_y coordinates, for reading),
  // handed to the solver without the active coordinates.
  Status BuildHessian();
  const SymmetricBlockMatrix& hessian() const { return hessian_; }
  // Factorises H + lambda D for the last BuildHessian. A kSingularHessian
  // message names the blocks where the null direction lives.
  Status Factorise(double lambda);
  // -(H + lambda D)^-1 gradient with the last factorisation (zero on the
  // active coordinates).
  Eigen::VectorXd Step(const Eigen::VectorXd& gradient) const { return -solver_.Solve(gradient); }
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
  SymmetricBlockMatrix hessian_;
  DampedSolver solver_;
  ActiveBounds active_bounds_;
  Eigen::VectorXd free_gradient_;
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
  explicit InnerNewtonModel(InnerNewton* newton) : newton_(newton) {}

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
  bool StepIsNegligible(double tolerance) const;

 private:
  bool Fail(Status status);

  InnerNewton* newton_;
  Status status_;
  Eigen::VectorXd gradient_;  // g at the current point
  double free_gradient_max_norm_ = 0.0;  // its |g|_inf over the free coordinates
  Eigen::VectorXd values_;    // the current point's inner values during a trial
  Eigen::VectorXd step_;
  // The linearisation holds the trial point's first-order data (after
  // TrialHalvesGradient), not the current point's.
  bool evaluated_at_trial_ = false;
};

}  // namespace internal
}  // namespace ceres_wiberg

#endif  // CERES_WIBERG_INTERNAL_INNER_NEWTON_H_
