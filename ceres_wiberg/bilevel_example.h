// ceres_wiberg: learning energy parameters by differentiating Ceres minimisers.
//
// BilevelExample: one training example of a bilevel learning problem. It owns
// nothing of the inner problem: it pairs a BilevelProblem (this example's
// inner energy) with an outer loss, an ordinary ceres::CostFunction over some
// of the inner blocks (evaluated at y*) and, optionally, learnable blocks:
//
//   L(w) = 1/2 |r(y*(w), w)|^2
//
// Evaluate returns r and, in forward mode, dr/dw = J_r_y dy*/dw + J_r_w;
// EvaluateLoss returns L and, in reverse mode, dL/dw = (dy*/dw)^T J_r_y^T r +
// J_r_w^T r with one linear solve whatever n_w is. Each call sets w, solves the
// inner problem (warm-started from this example's last solution) and
// linearises it. The inner solve is Ceres' (the default) or the library's
// trust-region Newton on the exact H (Options::inner_solver_type; see
// InnerSolverType in types.h for when to choose which).
//
// Reuse across examples whose data change. Building a ceres::Problem, a
// BilevelProblem and an example costs more than solving a tiny problem
// (110 residual blocks: measured in benchmarks/robust_mean_benchmark.cc).
// Keep one of each and let the cost functions read data the user updates in
// place (e.g. a functor holding a pointer to its sample): the contract is
// that the structure is fixed (the same residual blocks, parameter blocks,
// sizes, loss functions, bounds and manifolds; the outer loss over the same
// blocks) while values and data change between calls. Set the new start
// values in the inner blocks and call RestartFromCurrentValues(); the next
// call then gives bit-identical results to a freshly built example (tested
// in bilevel_example_test.cc), and reuses the derivative's buffers, the
// Newton solver's and the layout. When inner blocks have bounds, the solve is finished by
// NewtonPolish (projected Newton steps): Ceres' projected LM can stop well
// short of the constrained minimiser with a bound active (measured: 1%
// error in dr/dw on the test fit without it, 6e-11 with it).
//
// The outer loss is one cost function, or many terms r = (r_1; r_2; ...),
// each a cost function over a few blocks (e.g. one per pixel). J_r_y is never
// formed: each term's Jacobian blocks are evaluated and used on their own, so
// the memory of EvaluateLoss grows with the terms' Jacobian sizes. One cost
// function over every block of a large problem has a dense num_residuals x
// n_y Jacobian (2 GB for a per-pixel loss on a 128 x 128 image); use terms.
//
// Thread safety: calls on different examples may run concurrently provided
// the examples have separate inner problems (and separate learnable storage);
// calls on one example are serialised.

#ifndef CERES_WIBERG_BILEVEL_EXAMPLE_H_
#define CERES_WIBERG_BILEVEL_EXAMPLE_H_

#include <memory>
#include <mutex>
#include <vector>

#include "Eigen/Core"
#include "ceres/cost_function.h"
#include "ceres/solver.h"
#include "ceres/types.h"
#include "ceres_wiberg/bilevel_problem.h"
#include "ceres_wiberg/damped_newton.h"
#include "ceres_wiberg/minimiser_derivative.h"
#include "ceres_wiberg/newton_polish.h"
#include "ceres_wiberg/status.h"
#include "ceres_wiberg/types.h"

namespace ceres_wiberg {
namespace internal {
class InnerNewton;
}  // namespace internal

class BilevelExample {
 public:
  struct Options {
    Options();
    // Options of the inner solve (logging silenced by default).
    ceres::Solver::Options inner_solver_options;
    // The derivative; here final_newton_step defaults to true, because Ceres
    // stops about sqrt(machine epsilon) short of the fixed point.
    MinimiserDerivative::Options derivative_options;
    // Start each inner solve from this example's last solution (true) or from
    // the inner values it had when the example was created (false).
    bool warm_start = true;
    // Which solver finds y*. NEWTON uses derivative_options' Hessian
    // settings (linear solver, second-derivative step) with the EXACT model,
    // projected steps where inner blocks have bounds, and newton_options
    // below; inner_solver_options are then used only by the fallback. Keep
    // derivative_options.final_newton_step: where Newton stops on its
    // decrease test (below), the step it leaves is up to sqrt(eps |E| / h)
    // for curvature h, above round-off on a flat minimum (measured: 3e-11
    // relative in t* on a robust mean without the final step); where Newton
    // ended at a gradient at its rounding level the step is not taken (see
    // MinimiserDerivative::Options::final_newton_step). With the EXACT
    // derivative_options.hessian_model, Newton runs on the derivative's own
    // evaluation buffers, and the derivative uses Newton's evaluation and H
    // at the point where it stopped instead of computing them again
    // (bit-identical results).
    InnerSolverType inner_solver_type = InnerSolverType::CERES;
    // NEWTON: the descent (DampedNewtonOptions: up to 50 iterations, each one
    // H; y <- y (+) -(H + mu diag|H|)^-1 g with the unit-free mu from 1e-6 up
    // to 1e12). Converged at |g|_inf <= gradient_tolerance (1e-10), or when
    // a full Newton step (mu = 0) predicted a decrease 1/2 g^T H^-1 g of at
    // most eps |E|, the energy's rounding (a test that does not depend on
    // the units of y; then the Newton step just taken leaves y at round-off).
    DampedNewtonOptions newton_options;
    // NEWTON: when the Newton solve fails (no step lowers the cost for mu up
    // to max_mu; not converged within max_num_iterations; a numerical
    // failure), false (the default) returns the error (kIndefiniteHessian,
    // kNoConvergence or kNumericalFailure, the message naming the cause and
    // the descent's report); true restarts from the same start with Ceres
    // (inner_solver_options) and continues, which last_inner_solver_type()
    // then reports.
    bool newton_falls_back_to_ceres = false;
    // CERES (and NEWTON's fallback): when not null, Ceres solves this problem
    // (with inner_solver_options) in place of the bilevel problem's own. It
    // must be the same inner energy written in another form over the same
    // memory: every inner block a variable parameter block of it, any other
    // block constant or absent, and cost functions that read the learnable
    // values where the bilevel problem keeps them. For a cheaper Ceres
    // iteration: e.g. K one-residual blocks over the same parameter blocks
    // stacked into one K-residual block, which has the same Gauss-Newton
    // model and LM steps, but Ceres forms J^T J from dense K x 1 cells
    // instead of 1 x 1 ones (examples/denoise_foe: 4.3x less time per
    // solve, the same iterations and minimiser). The derivative still
    // linearises the bilevel problem. FAILURE and USER_FAILURE are errors
    // (kNumericalFailure); BilevelProblem's require_convergence does not
    // apply. Borrowed; Create checks that it holds the inner blocks.
    ceres::Problem* inner_solve_problem = nullptr;
    // When Ceres solved (CERES, or NEWTON's fallback): continue from Ceres'
    // end point with the Newton descent of NEWTON (newton_options, the exact
    // H). Ceres' LM stops on its function tolerance where it converges only
    // linearly (non-convex or robust energies), a distance from y* that
    // depends on round-off in its iterates; Newton converges quadratically
    // from there (examples/denoise_foe: 4-5 iterations to |g|_inf ~ 1e-12 at
    // a strict minimum). Where the descent fails, Ceres' end point is kept
    // (last_newton_summary() says which).
    bool newton_after_ceres = false;
  };

  // `outer_loss_blocks` are the parameter blocks of `outer_loss`, in order;
  // each must be an inner or a learnable block of `problem` (kInvalidArgument
  // otherwise, or if the sizes disagree with the cost function).
  static Status Create(BilevelProblem* problem, ceres::CostFunction* outer_loss,
                       ceres::Ownership outer_loss_ownership,
                       const std::vector<double*>& outer_loss_blocks, const Options& options,
                       std::unique_ptr<BilevelExample>* example);

  // One term of an outer loss made of many: a cost function and its
  // parameter blocks, in order, each an inner or a learnable block.
  struct OuterLossTerm {
    ceres::CostFunction* cost_function = nullptr;
    std::vector<double*> parameter_blocks;
  };
  // The outer loss as terms, r = (r_1; r_2; ...) in the given order (at
  // least one). With TAKE_OWNERSHIP each distinct cost function is deleted
  // once, also when terms share it. Errors name the term and the block.
  static Status Create(BilevelProblem* problem, std::vector<OuterLossTerm> outer_loss_terms,
                       ceres::Ownership outer_loss_ownership, const Options& options,
                       std::unique_ptr<BilevelExample>* example);

  ~BilevelExample();

  // r(y*(w), w) and, if J_r_w is not null, dr/dw (num_residuals x n_w).
  Status Evaluate(const Eigen::VectorXd& w, Eigen::VectorXd* residuals,
                  Eigen::MatrixXd* J_r_w);
  // L = 1/2 |r|^2 and, if gradient is not null, dL/dw by reverse mode.
  Status EvaluateLoss(const Eigen::VectorXd& w, double* loss, Eigen::VectorXd* gradient);

  // The next call starts from the inner values the problem holds now (as an
  // example does after Create), forgetting any warm start. Use after
  // updating the data and the start values in place (see the top of this
  // file).
  void RestartFromCurrentValues();

  BilevelProblem* problem() const { return problem_; }
  int num_residuals() const;
  int num_learnable_parameters() const { return problem_->num_learnable_parameters(); }
  // Of the last call (valid once a call has got that far).
  // The solver that gave the last y* (NEWTON, or CERES also after a
  // fallback), Ceres' summary (when Ceres solved) and the Newton descent's
  // (when Newton ran).
  InnerSolverType last_inner_solver_type() const { return last_inner_solver_type_; }
  const ceres::Solver::Summary& last_inner_summary() const { return inner_summary_; }
  const NewtonPolish::Summary& last_newton_summary() const { return newton_summary_; }
  // Wall time of the last inner solve, whichever solver ran (a Newton
  // descent and its fallback to Ceres both count; polishing too).
  double last_inner_solve_seconds() const { return inner_solve_seconds_; }
  const MinimiserDerivative::Summary& last_derivative_summary() const {
    return derivative_summary_;
  }

 private:
  struct Term {
    ceres::CostFunction* cost_function;
    std::vector<double*> blocks;
    int first_residual;
  };
  // The Jacobian of rows [row, row + J.rows()) of r with respect to one
  // block: its tangent coordinates for an inner block, its ambient ones for
  // a learnable block.
  using RowMajorMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  struct JacobianPiece {
    int row;
    int block;  // index into the problem's layout
    RowMajorMatrix J;
  };

  BilevelExample(BilevelProblem* problem, const Options& options);
  static Status Build(BilevelProblem* problem, std::vector<OuterLossTerm> terms,
                      ceres::Ownership ownership, const Options& options, bool single_cost,
                      std::unique_ptr<BilevelExample>* example);
  // Sets w, solves, linearises; fills r and, if pieces is not null, every
  // term's Jacobian blocks.
  Status SolveAndEvaluateLoss(const Eigen::VectorXd& w, Eigen::VectorXd* residuals,
                              std::vector<JacobianPiece>* pieces);
  // Finds y* from the problem's current inner values, timed.
  Status SolveInner();
  Status SolveInnerWithChosenSolver();
  Status SolveWithNewton();
  // Ceres on options_.inner_solve_problem; kNumericalFailure as SolveInner.
  Status SolveInnerSolveProblem();

  BilevelProblem* problem_;
  std::vector<std::unique_ptr<ceres::CostFunction>> owned_costs_;
  std::vector<Term> terms_;
  int num_residuals_ = 0;
  Options options_;
  MinimiserDerivative derivative_;
  Eigen::VectorXd initial_inner_values_;
  Eigen::VectorXd last_solution_;
  ceres::Solver::Summary inner_summary_;
  NewtonPolish::Summary newton_summary_;
  InnerSolverType last_inner_solver_type_ = InnerSolverType::CERES;
  double inner_solve_seconds_ = 0.0;
  // The Newton solver's model and buffers, built on first use when the
  // derivative's H is not EXACT; otherwise the descent runs on the
  // derivative's own InnerNewton (shared_inner_solve_ for the last solve).
  std::unique_ptr<internal::InnerNewton> newton_;
  bool shared_inner_solve_ = false;
  MinimiserDerivative::Summary derivative_summary_;
  // Scratch of the outer loss terms' evaluation, kept across calls.
  Eigen::VectorXd loss_residuals_;
  std::vector<JacobianPiece> pieces_;
  std::vector<const double*> values_scratch_;
  std::vector<RowMajorMatrix> jacobians_scratch_;
  std::vector<double*> jacobian_pointers_scratch_;
  Eigen::VectorXd dl_dy_;
  Eigen::VectorXd direct_;
  Eigen::VectorXd through_y_;
  std::mutex mutex_;
};

}  // namespace ceres_wiberg

#endif  // CERES_WIBERG_BILEVEL_EXAMPLE_H_
