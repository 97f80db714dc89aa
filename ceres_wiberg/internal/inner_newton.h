// ceres_wiberg internal: the local quadratic model of a BilevelProblem's
// inner energy and its damped Newton steps. Linearise evaluates g and builds
// H at the inner values (the expensive part: Jacobians and the exact
// Hessian's differences); Factorise(lambda) factorises H + lambda D for that
// H, so raising lambda only refactorises. MinimiserDerivative (its final
// Newton step and its derivative) and NewtonPolish (DampedNewton on
// InnerNewtonModel below) share it.

#ifndef CERES_WIBERG_INTERNAL_INNER_NEWTON_H_
#define CERES_WIBERG_INTERNAL_INNER_NEWTON_H_

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

  // Residuals, Jacobians and g at the problem's current values.
  Status Evaluate();
  // H at the point of the last Evaluate, handed to the solver.
  Status BuildHessian();
  // Factorises H + lambda D for the last BuildHessian. A kSingularHessian
  // message names the blocks where the null direction lives.
  Status Factorise(double lambda);
  // -(H + lambda D)^-1 gradient with the last factorisation.
  Eigen::VectorXd Step(const Eigen::VectorXd& gradient) const { return -solver_.Solve(gradient); }
  // y <- y (+) step on the inner blocks.
  Status ApplyStep(const Eigen::VectorXd& step) const { return ApplyInnerStep(layout_, step); }

 private:
  const MinimiserDerivative::Options options_;
  BilevelProblem* problem_;
  const ProblemLayout& layout_;
  Linearisation linearisation_;
  ExactHessian exact_hessian_;
  SymmetricBlockMatrix hessian_;
  DampedSolver solver_;
};

// The DampedNewton model (ceres_wiberg/damped_newton.h) of the inner energy
// with D = I: the cost is Ceres' (ceres::Problem::Evaluate), steps use the
// blocks' manifold Plus, a rejected step restores the inner values. The first
// error is kept in status().
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
  Eigen::VectorXd values_;    // the current point's inner values during a trial
  Eigen::VectorXd step_;
  // The linearisation holds the trial point's first-order data (after
  // TrialHalvesGradient), not the current point's.
  bool evaluated_at_trial_ = false;
};

}  // namespace internal
}  // namespace ceres_wiberg

#endif  // CERES_WIBERG_INTERNAL_INNER_NEWTON_H_
