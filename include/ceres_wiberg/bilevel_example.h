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
// linearises it.
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
  BilevelExample(BilevelProblem* problem, ceres::CostFunction* outer_loss,
                 ceres::Ownership ownership, const Options& options);
  // Sets w, solves, linearises; fills r, J_r_y (tangent, num_residuals x n_y)
  // and J_r_w (direct part).
  Status SolveAndEvaluateLoss(const Eigen::VectorXd& w, Eigen::VectorXd* residuals,
                              Eigen::MatrixXd* J_r_y, Eigen::MatrixXd* J_r_w_direct);

  BilevelProblem* problem_;
  std::unique_ptr<ceres::CostFunction> owned_loss_;
  ceres::CostFunction* outer_loss_;
  std::vector<double*> outer_loss_blocks_;
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
