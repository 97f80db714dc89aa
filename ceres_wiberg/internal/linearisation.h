// ceres_wiberg internal: the first-order data of every residual block at one
// point (residuals, loss derivatives, local Jacobians) and the second
// derivatives built on them.
//
// Local Jacobian of residual block i: num_residuals x num_local, row-major,
// over the inner blocks' tangent and the learnable blocks' ambient
// coordinates (ResidualBlockInfo::local_offset). Tangent Jacobians are the
// ambient ones times the manifold's PlusJacobian, as in Ceres.

#ifndef CERES_WIBERG_INTERNAL_LINEARISATION_H_
#define CERES_WIBERG_INTERNAL_LINEARISATION_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "Eigen/Core"
#include "ceres_wiberg/internal/problem_layout.h"
#include "ceres_wiberg/status.h"
#include "ceres_wiberg/thread_pool.h"

namespace ceres_wiberg {
namespace internal {

// Buffers for evaluating one residual block at a time, reused across blocks
// and calls so that the loops over residual blocks do not allocate. Their
// owner is therefore used by one thread at a time.
struct ResidualScratch {
  // Sizes the buffers for `residual` and points `values` at the blocks'
  // current values; no Jacobian is requested until Want(j).
  void Reset(const ProblemLayout& layout, const ResidualBlockInfo& residual);
  double* jacobian(size_t j) { return jacobian_storage.data() + jacobian_offset[j]; }
  void Want(size_t j) { jacobians[j] = jacobian(j); }

  std::vector<double> jacobian_storage;  // ambient Jacobians, block after block
  std::vector<size_t> jacobian_offset;
  std::vector<double*> jacobians;      // Ceres' jacobians argument
  std::vector<const double*> values;   // Ceres' parameters argument
  std::vector<size_t> ambient_offset;  // of each block in the vectors below
  std::vector<double> perturbed;       // perturbed ambient values
  std::vector<double> delta;           // ambient direction
  std::vector<double> J_T_c[2];        // J^T c at x + h delta and x - h delta
  std::vector<double> residuals;
  // The wrapped cost function's ambient Jacobians of a block with a
  // learnable loss (same layout as jacobian_storage), and Ceres-style
  // pointers to them: null until WantWrapped(j).
  std::vector<double> wrapped_jacobian_storage;
  std::vector<double*> wrapped_jacobians;
  double* wrapped_jacobian(size_t j) {
    return wrapped_jacobian_storage.data() + jacobian_offset[j];
  }
  void WantWrapped(size_t j) { wrapped_jacobians[j] = wrapped_jacobian(j); }
};

// What the mixed second derivatives with a learnable loss's own parameters
// need, at s = |r|^2 of the wrapped residual r: d g_i / da = m (d rho'/da)
// J^T r and d g_i / dm = rho' J^T r.
struct LearnableLossDerivatives {
  double rho_prime = 0.0;      // rho'(s; a)
  double drho_prime_da = 0.0;  // d^2 rho / (ds da)
  double m = 1.0;
};

class Linearisation {
 public:
  // thread_pool (not owned; null: one thread) evaluates the residual blocks
  // in parallel, with results identical to one thread's.
  explicit Linearisation(const ProblemLayout& layout, ThreadPool* thread_pool = nullptr);

  // Evaluates every residual block at the blocks' current values.
  Status Evaluate();

  const double* residuals(int i) const { return &residuals_[residual_offset_[i]]; }
  const double* jacobian(int i) const { return &jacobians_[jacobian_offset_[i]]; }
  // rho(s), rho'(s), rho''(s) at s = ||r_i||^2 (1, 1, 0 without a loss).
  const double* rho(int i) const { return &rho_[3 * i]; }
  // The view of residual block i that exact second derivatives use: the
  // block's energy is 1/2 rho(|r|^2) with the residuals, local Jacobian and
  // rho below. For an ordinary block these are residuals(i), jacobian(i)
  // and rho(i). For a block with a learnable loss
  // (ResidualBlockInfo::learnable_loss) they are the WRAPPED cost function's
  // r and J = dr/dp (the local columns of a and m zero) and m rho(s; a),
  // m rho', m rho'' at s = |r|^2, so that the curvature left to difference
  // is the wrapped residuals' (zero when r is linear), not r~'s.
  const double* exact_residuals(int i) const {
    return layout_.residuals[i].learnable_loss != nullptr ? &exact_residuals_[residual_offset_[i]]
                                                          : residuals(i);
  }
  const double* exact_jacobian(int i) const {
    return layout_.residuals[i].learnable_loss != nullptr ? &exact_jacobians_[jacobian_offset_[i]]
                                                          : jacobian(i);
  }
  const double* exact_rho(int i) const {
    return layout_.residuals[i].learnable_loss != nullptr ? &exact_rho_[3 * i] : rho(i);
  }
  // For a block with a learnable loss only.
  const LearnableLossDerivatives& learnable_loss(int i) const { return learnable_loss_[i]; }
  // g = dE/dy in tangent coordinates.
  const Eigen::VectorXd& gradient() const { return gradient_; }
  // PlusJacobian (ambient x tangent, row-major) of an inner block with a
  // manifold; empty otherwise.
  const std::vector<double>& plus_jacobian(int block) const { return plus_jacobian_[block]; }

  // sum_j v_j d2 Plus_j(x, delta) / d delta^2 at delta = 0 for inner block
  // `block` with a manifold, v its ambient gradient: the curvature the
  // manifold adds to the tangent Hessian. tangent x tangent, row-major.
  Status ManifoldCurvature(int block, std::vector<double>* curvature) const;

  // Recomputes only g at the current values, with the PlusJacobians of the
  // last Evaluate (the inner values must not have changed since).
  Status EvaluateGradient(Eigen::VectorXd* gradient) const;

 private:
  // exact_rho_ and learnable_loss_ of residual block i (with a learnable
  // loss) from its wrapped residuals.
  Status EvaluateLearnableLossTerm(int i);
  // Residual block i's residuals, rho, local Jacobians (and exact view) and
  // its gradient terms, with `scratch`.
  Status EvaluateResidual(int i, ResidualScratch* scratch);

  const ProblemLayout& layout_;
  ThreadPool* const thread_pool_;
  mutable ResidualScratch scratch_;
  std::vector<ResidualScratch> task_scratch_;  // one per parallel range
  // rho' J_b^T r (ambient) of each residual block i and inner block j at
  // gradient_term_offset_[i][j] (-1 for other blocks), summed into the
  // gradient in residual order.
  std::vector<double> gradient_terms_;
  std::vector<std::vector<int64_t>> gradient_term_offset_;
  std::vector<double> residuals_;
  std::vector<double> jacobians_;
  std::vector<double> rho_;
  // The exact view of blocks with a learnable loss (sized like residuals_,
  // jacobians_ and rho_ when the layout has such blocks, else empty).
  std::vector<double> exact_residuals_;
  std::vector<double> exact_jacobians_;
  std::vector<double> exact_rho_;
  std::vector<LearnableLossDerivatives> learnable_loss_;
  std::vector<size_t> residual_offset_;
  std::vector<size_t> jacobian_offset_;
  Eigen::VectorXd gradient_;
  std::vector<Eigen::VectorXd> ambient_gradient_;
  std::vector<std::vector<double>> plus_jacobian_;
};

}  // namespace internal
}  // namespace ceres_wiberg

#endif  // CERES_WIBERG_INTERNAL_LINEARISATION_H_
