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
// linearises it. When inner blocks have bounds, the solve is finished by
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
#include "ceres_wiberg/minimiser_derivative.h"
#include "ceres_wiberg/status.h"

namespace ceres_wiberg {

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

  BilevelProblem* problem() const { return problem_; }
  int num_residuals() const;
  int num_learnable_parameters() const { return problem_->num_learnable_parameters(); }
  // Of the last call (valid once a call has got that far).
  const ceres::Solver::Summary& last_inner_summary() const { return inner_summary_; }
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
  struct JacobianPiece {
    int row;
    int block;  // index into the problem's layout
    Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> J;
  };

  BilevelExample(BilevelProblem* problem, const Options& options);
  static Status Build(BilevelProblem* problem, std::vector<OuterLossTerm> terms,
                      ceres::Ownership ownership, const Options& options, bool single_cost,
                      std::unique_ptr<BilevelExample>* example);
  // Sets w, solves, linearises; fills r and, if pieces is not null, every
  // term's Jacobian blocks.
  Status SolveAndEvaluateLoss(const Eigen::VectorXd& w, Eigen::VectorXd* residuals,
                              std::vector<JacobianPiece>* pieces);

  BilevelProblem* problem_;
  std::vector<std::unique_ptr<ceres::CostFunction>> owned_costs_;
  std::vector<Term> terms_;
  int num_residuals_ = 0;
  Options options_;
  MinimiserDerivative derivative_;
  Eigen::VectorXd initial_inner_values_;
  Eigen::VectorXd last_solution_;
  ceres::Solver::Summary inner_summary_;
  MinimiserDerivative::Summary derivative_summary_;
  std::mutex mutex_;
};

}  // namespace ceres_wiberg

#endif  // CERES_WIBERG_BILEVEL_EXAMPLE_H_
