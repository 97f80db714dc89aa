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
#include "glog/logging.h"
#include "ceres_wiberg/internal/problem_layout.h"
#include "ceres_wiberg/status.h"
#include "ceres_wiberg/thread_pool.h"
#include "ceres_wiberg/types.h"

namespace ceres_wiberg {
namespace internal {

// Buffers for evaluating one residual block at a time, reused across blocks
// and calls so that the loops over residual blocks do not allocate. Their
// owner is therefore used by one thread at a time.
struct ResidualScratch {
  // Sizes the buffers for `residual` and points `values` at the blocks'
  // current values; no Jacobian is requested until Want(j).
  void Reset(const ProblemLayout& layout, const ResidualBlockInfo& residual);
  // Only `values` (at the blocks' current values) and `residuals`, for an
  // evaluation without Jacobians.
  void SetValues(const ProblemLayout& layout, const ResidualBlockInfo& residual);
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
  // in parallel, with results identical to one thread's. hessian_model says
  // which views of a block with a learnable loss are kept (see exact_*):
  // GAUSS_NEWTON builds H from Ceres' view and G from the exact one, so both
  // are kept; EXACT reads only the exact view, so Ceres' view of such a
  // block is not kept (residuals(i), jacobian(i) and rho(i) must not be
  // called for it) and not even evaluated: the block costs one evaluation of
  // the wrapped cost function and one local Jacobian. Under either model g's
  // term of such a block is m rho' J^T r of the exact view.
  explicit Linearisation(const ProblemLayout& layout,
                         HessianModel hessian_model = HessianModel::EXACT,
                         ThreadPool* thread_pool = nullptr);

  // Whether Ceres' view of every block is kept (GAUSS_NEWTON).
  bool keeps_ceres_view() const { return keep_ceres_view_; }

  // Evaluates every residual block at the blocks' current values.
  Status Evaluate();

  // Ceres' view of residual block i (for a block with a learnable loss:
  // kept under GAUSS_NEWTON only).
  const double* residuals(int i) const {
    DCHECK(KeepsCeresView(i));
    return &residuals_[residual_offset_[i]];
  }
  const double* jacobian(int i) const {
    DCHECK(KeepsCeresView(i));
    return &jacobians_[jacobian_offset_[i]];
  }
  // rho(s), rho'(s), rho''(s) at s = ||r_i||^2 (1, 1, 0 without a loss).
  const double* rho(int i) const {
    DCHECK(KeepsCeresView(i));
    return &rho_[3 * i];
  }
  // The view of residual block i that exact second derivatives use: the
  // block's energy is 1/2 rho(|r|^2) with the residuals, local Jacobian and
  // rho below. For an ordinary block these are residuals(i), jacobian(i)
  // and rho(i). For a block with a learnable loss
  // (ResidualBlockInfo::learnable_loss) they are the WRAPPED cost function's
  // r and J = dr/dp (the local columns of a and m zero) and m rho(s; a),
  // m rho', m rho'' at s = |r|^2, so that the curvature left to difference
  // is the wrapped residuals' (zero when r is linear), not r~'s.
  // (Under EXACT the exact view of a block with a learnable loss is stored
  // where Ceres' view would be.)
  const double* exact_residuals(int i) const {
    return SeparateExactView(i) ? &exact_residuals_[residual_offset_[i]]
                                : &residuals_[residual_offset_[i]];
  }
  const double* exact_jacobian(int i) const {
    return SeparateExactView(i) ? &exact_jacobians_[jacobian_offset_[i]]
                                : &jacobians_[jacobian_offset_[i]];
  }
  const double* exact_rho(int i) const {
    return SeparateExactView(i) ? &exact_rho_[3 * i] : &rho_[3 * i];
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
  // Whether residual block i's exact view is stored apart from Ceres' view
  // (a learnable loss under GAUSS_NEWTON), and whether Ceres' view is kept.
  bool SeparateExactView(int i) const {
    return keep_ceres_view_ && layout_.residuals[i].learnable_loss != nullptr;
  }
  bool KeepsCeresView(int i) const {
    return keep_ceres_view_ || layout_.residuals[i].learnable_loss == nullptr;
  }
  // The exact view's rho (exact_rho, 3 entries) and learnable_loss_ of
  // residual block i (with a learnable loss) from its wrapped residuals
  // `wrapped_residuals`.
  Status EvaluateLearnableLossTerm(int i, const double* wrapped_residuals, double* exact_rho);
  // Residual block i's residuals, rho, local Jacobians (and exact view) and
  // its gradient terms, with `scratch`: added to ambient_gradient_ if
  // `accumulate` (one thread, residuals in order), else into
  // gradient_terms_.
  Status EvaluateResidual(int i, bool accumulate, ResidualScratch* scratch);

  const ProblemLayout& layout_;
  ThreadPool* const thread_pool_;
  // Ceres' view of blocks with a learnable loss is kept (GAUSS_NEWTON).
  const bool keep_ceres_view_;
  mutable ResidualScratch scratch_;
  std::vector<ResidualScratch> task_scratch_;  // one per parallel range
  // With more than one thread only: rho' J_b^T r (ambient) of each residual
  // block i's inner blocks, one after the other from
  // gradient_term_start_[i] (in the order of residual.blocks), summed into
  // the gradient in residual order once all are evaluated. One thread adds
  // each term to the gradient as it is computed, in the same order.
  std::vector<double> gradient_terms_;
  std::vector<int64_t> gradient_term_start_;
  std::vector<double> residuals_;
  std::vector<double> jacobians_;
  std::vector<double> rho_;
  // The exact view of blocks with a learnable loss when it is kept apart
  // (GAUSS_NEWTON: sized like residuals_, jacobians_ and rho_ when the
  // layout has such blocks, else empty).
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
