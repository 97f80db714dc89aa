#include "ceres_wiberg/internal/linearisation.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "ceres/loss_function.h"
#include "ceres/manifold.h"

namespace ceres_wiberg {
namespace internal {
namespace {

using ConstRowMajorMap = Eigen::Map<
    const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;
using RowMajorMap =
    Eigen::Map<Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;
using ConstVectorMap = Eigen::Map<const Eigen::VectorXd>;
using VectorMap = Eigen::Map<Eigen::VectorXd>;

// rho(s), rho'(s), rho''(s); the identity without a loss function.
Status EvaluateLoss(const ResidualBlockInfo& residual, double s, double* rho) {
  if (residual.loss_function == nullptr) {
    rho[0] = s;
    rho[1] = 1.0;
    rho[2] = 0.0;
  } else {
    residual.loss_function->Evaluate(s, rho);
  }
  if (!std::isfinite(rho[0]) || !std::isfinite(rho[1]) || !std::isfinite(rho[2])) {
    return NumericalFailureError("the loss function of residual block #" +
                                 std::to_string(residual.index) +
                                 " returned a NaN or infinite value");
  }
  return Status::Ok();
}

// out = c J^T r for a k x n row-major J, by plain loops (Eigen's GEMV costs
// more than the product for the few rows of a residual block).
void ScaledTransposeProduct(double c, const double* J, const double* r, int k, int n,
                            double* out) {
  if (n == 1) {
    // One coordinate (a scalar unknown): the same sum without the outer
    // loop's setup, which costs more than the sum at this size.
    double sum = 0.0;
    for (int p = 0; p < k; ++p) sum += J[p] * r[p];
    out[0] = c * sum;
    return;
  }
  for (int a = 0; a < n; ++a) {
    double sum = 0.0;
    for (int p = 0; p < k; ++p) sum += J[p * n + a] * r[p];
    out[a] = c * sum;
  }
}

// Columns offset to offset + n - 1 of the k x num_columns row-major `to` =
// the k x n row-major `from` (plain loops: a residual block has a few).
void CopyColumns(const double* from, int k, int n, int num_columns, int offset, double* to) {
  if (n == 1) {  // one column: no inner loop to set up
    for (int p = 0; p < k; ++p) to[p * num_columns + offset] = from[p];
    return;
  }
  for (int p = 0; p < k; ++p) {
    for (int a = 0; a < n; ++a) to[p * num_columns + offset + a] = from[p * n + a];
  }
}

// The error of EvaluateLearnableLossTerm. Out of line, so that the term (once
// per residual block evaluation) builds no message frame.
[[gnu::noinline]] Status LearnableLossError(int index, const char* what) {
  return NumericalFailureError("the learnable loss of residual block #" + std::to_string(index) +
                               what);
}

}  // namespace

Linearisation::Linearisation(const ProblemLayout& layout, HessianModel hessian_model,
                             ThreadPool* thread_pool)
    : layout_(layout),
      thread_pool_(thread_pool),
      keep_ceres_view_(hessian_model != HessianModel::EXACT),
      ambient_gradient_(layout.blocks.size()),
      plus_jacobian_(layout.blocks.size()) {
  size_t residual_size = 0;
  size_t jacobian_size = 0;
  residual_offset_.reserve(layout.residuals.size());
  jacobian_offset_.reserve(layout.residuals.size());
  for (const ResidualBlockInfo& residual : layout.residuals) {
    residual_offset_.push_back(residual_size);
    jacobian_offset_.push_back(jacobian_size);
    residual_size += residual.num_residuals;
    jacobian_size += static_cast<size_t>(residual.num_residuals) * residual.num_local;
  }
  residuals_.resize(residual_size);
  jacobians_.resize(jacobian_size);
  rho_.resize(3 * layout.residuals.size());
  const bool has_learnable_loss =
      std::any_of(layout.residuals.begin(), layout.residuals.end(),
                  [](const ResidualBlockInfo& r) { return r.learnable_loss != nullptr; });
  if (has_learnable_loss) {
    if (keep_ceres_view_) {
      exact_residuals_.resize(residual_size);
      exact_jacobians_.resize(jacobian_size);
      exact_rho_.resize(3 * layout.residuals.size());
    }
    learnable_loss_.resize(layout.residuals.size());
  }
}

void ResidualScratch::Reset(const ProblemLayout& layout, const ResidualBlockInfo& residual) {
  const size_t num_blocks = residual.blocks.size();
  // Per-block vectors are resized only when the number of blocks changes
  // and are written in place, and the buffers only grow, so that after the
  // first few blocks nothing is allocated and no library fill runs.
  if (jacobians.size() != num_blocks || values.size() != num_blocks) {
    jacobian_offset.resize(num_blocks);
    ambient_offset.resize(num_blocks);
    jacobians.resize(num_blocks);
    values.resize(num_blocks);
  }
  const bool learnable_loss = residual.learnable_loss != nullptr;
  if (learnable_loss && wrapped_jacobians.size() != num_blocks) {
    wrapped_jacobians.resize(num_blocks);
  }
  size_t jacobian_size = 0;
  size_t ambient_size = 0;
  for (size_t j = 0; j < num_blocks; ++j) {
    const ParameterBlockInfo& block = layout.blocks[residual.blocks[j]];
    values[j] = block.values;
    jacobians[j] = nullptr;
    // Cleared here, not by a fill (a library call per residual block).
    if (learnable_loss) wrapped_jacobians[j] = nullptr;
    jacobian_offset[j] = jacobian_size;
    ambient_offset[j] = ambient_size;
    jacobian_size += static_cast<size_t>(residual.num_residuals) * block.ambient_size;
    ambient_size += block.ambient_size;
  }
  if (jacobian_storage.size() < jacobian_size) jacobian_storage.resize(jacobian_size);
  if (learnable_loss) {
    if (wrapped_jacobian_storage.size() < jacobian_size) {
      wrapped_jacobian_storage.resize(jacobian_size);
    }
  }
  if (perturbed.size() < ambient_size) {
    for (std::vector<double>* buffer : {&perturbed, &delta, &J_T_c[0], &J_T_c[1]}) {
      buffer->resize(ambient_size);
    }
  }
  if (residuals.size() < static_cast<size_t>(residual.num_residuals)) {
    residuals.resize(residual.num_residuals);
  }
}

void ResidualScratch::SetValues(const ProblemLayout& layout, const ResidualBlockInfo& residual) {
  const size_t num_blocks = residual.blocks.size();
  if (values.size() != num_blocks) values.resize(num_blocks);
  for (size_t j = 0; j < num_blocks; ++j) values[j] = layout.blocks[residual.blocks[j]].values;
  if (residuals.size() < static_cast<size_t>(residual.num_residuals)) {
    residuals.resize(residual.num_residuals);
  }
}

Status Linearisation::EvaluateResidual(int i, bool accumulate, ResidualScratch* scratch) {
  const ResidualBlockInfo& residual = layout_.residuals[i];
  const int k = residual.num_residuals;
  scratch->Reset(layout_, residual);
  const bool learnable_loss = residual.learnable_loss != nullptr;
  // Ceres' view: kept in residuals_, rho_ and jacobians_, except for a
  // learnable loss under EXACT, where those hold the exact view and Ceres'
  // view is not evaluated at all.
  const bool keep_ceres_view = KeepsCeresView(i);
  for (size_t j = 0; keep_ceres_view && j < residual.blocks.size(); ++j) {
    if (residual.local_offset[j] >= 0) scratch->Want(j);
  }
  double* r = keep_ceres_view ? &residuals_[residual_offset_[i]] : scratch->residuals.data();
  double scratch_rho[3];
  double* rho = keep_ceres_view ? &rho_[3 * i] : scratch_rho;
  double* exact_r = SeparateExactView(i) ? &exact_residuals_[residual_offset_[i]]
                                         : &residuals_[residual_offset_[i]];
  double* exact_rho = SeparateExactView(i) ? &exact_rho_[3 * i] : &rho_[3 * i];
  // Each Status is constructed in place and returned only on failure (no
  // move-assignment of its message per residual block).
  if (learnable_loss) {
    for (int j = 0; j < residual.num_differenced_blocks; ++j) {
      if (residual.local_offset[j] >= 0) scratch->WantWrapped(j);
    }
    // Nothing reads r~ under EXACT (g is formed from the exact view below):
    // then the wrapped cost function alone is evaluated.
    Status status =
        keep_ceres_view
            ? EvaluateResidualBlockWithWrapped(layout_, residual, scratch->values.data(), r,
                                               scratch->jacobians.data(), exact_r,
                                               scratch->wrapped_jacobians.data())
            : EvaluateDifferencedResidualBlock(layout_, residual, scratch->values.data(),
                                               exact_r, scratch->wrapped_jacobians.data());
    if (!status.ok()) return status;
    Status loss_status = EvaluateLearnableLossTerm(static_cast<int>(i), exact_r, exact_rho);
    if (!loss_status.ok()) return loss_status;
  } else {
    Status status = EvaluateResidualBlock(layout_, residual, scratch->values.data(), r,
                                          scratch->jacobians.data());
    if (!status.ok()) return status;
  }
  const ConstVectorMap r_vec(r, k);
  if (keep_ceres_view) {
    Status status = EvaluateLoss(residual, r_vec.squaredNorm(), rho);
    if (!status.ok()) return status;
  }

  RowMajorMap J_local(keep_ceres_view ? &jacobians_[jacobian_offset_[i]] : nullptr, k,
                      residual.num_local);
  double* exact_J = SeparateExactView(i) ? &exact_jacobians_[jacobian_offset_[i]]
                                         : &jacobians_[jacobian_offset_[i]];
  RowMajorMap J_exact(learnable_loss ? exact_J : nullptr, k, residual.num_local);
  if (learnable_loss) std::fill(exact_J, exact_J + k * residual.num_local, 0.0);
  // The gradient terms of this block, one after the other.
  int64_t term_offset = accumulate ? 0 : gradient_term_start_[i];
  for (size_t j = 0; j < residual.blocks.size(); ++j) {
    if (residual.local_offset[j] < 0) continue;
    const int b = residual.blocks[j];
    const ParameterBlockInfo& block = layout_.blocks[b];
    // Ceres' view's Jacobian (not evaluated for a learnable loss under
    // EXACT) and the wrapped one (learnable loss only).
    const ConstRowMajorMap J_r_x(scratch->jacobian(j), k, block.ambient_size);
    const bool wrapped = learnable_loss && scratch->wrapped_jacobians[j] != nullptr;
    const ConstRowMajorMap W_r_x(wrapped ? scratch->wrapped_jacobian(j) : nullptr, k,
                                 block.ambient_size);
    if (block.manifold != nullptr) {
      const ConstRowMajorMap J_x_delta(plus_jacobian_[b].data(),
                                       block.ambient_size, block.tangent_size);
      if (keep_ceres_view) {
        J_local.middleCols(residual.local_offset[j], block.tangent_size) = J_r_x * J_x_delta;
      }
      if (wrapped) {
        J_exact.middleCols(residual.local_offset[j], block.tangent_size) = W_r_x * J_x_delta;
      }
    } else {
      if (keep_ceres_view) {
        CopyColumns(J_r_x.data(), k, block.ambient_size, residual.num_local,
                    residual.local_offset[j], J_local.data());
      }
      if (wrapped) {
        CopyColumns(W_r_x.data(), k, block.ambient_size, residual.num_local,
                    residual.local_offset[j], J_exact.data());
      }
    }
    if (block.role == BlockRole::kInner) {
      // The term is formed alone and then added, as the threaded path adds
      // its stored terms, so that both give the same bits. With a learnable
      // loss (whose inner blocks are all wrapped ones) it is m rho' J^T r of
      // the exact view (= J~^T r~ of Ceres' view, see learnable_loss.h), for
      // every Hessian model.
      double* term = accumulate ? scratch->J_T_c[0].data() : &gradient_terms_[term_offset];
      if (learnable_loss) {
        ScaledTransposeProduct(exact_rho[1], W_r_x.data(), exact_r, k, block.ambient_size, term);
      } else {
        ScaledTransposeProduct(rho[1], J_r_x.data(), r, k, block.ambient_size, term);
      }
      if (accumulate) {
        if (block.ambient_size == 1) {  // the same sum, without the vector op's set-up
          ambient_gradient_[b][0] += term[0];
        } else {
          ambient_gradient_[b] += ConstVectorMap(term, block.ambient_size);
        }
      } else {
        term_offset += block.ambient_size;
      }
    }
  }
  return Status::Ok();
}

Status Linearisation::Evaluate() {
  for (int b : layout_.inner_blocks) {
    const ParameterBlockInfo& block = layout_.blocks[b];
    ambient_gradient_[b] = Eigen::VectorXd::Zero(block.ambient_size);
    if (block.manifold == nullptr) continue;
    std::vector<double>& plus_jacobian = plus_jacobian_[b];
    plus_jacobian.resize(block.ambient_size * block.tangent_size);
    if (!block.manifold->PlusJacobian(block.values, plus_jacobian.data()) ||
        !ConstVectorMap(plus_jacobian.data(), plus_jacobian.size()).allFinite()) {
      return NumericalFailureError("the manifold PlusJacobian of " + block.name +
                                   " failed or is not finite");
    }
  }

  // Each residual block's terms into its own slots (in parallel with a
  // thread pool: contiguous ranges, one scratch per range), then the
  // gradient summed in residual order, so that the result does not depend on
  // the number of threads.
  const int num_residuals = static_cast<int>(layout_.residuals.size());
  const int num_tasks =
      thread_pool_ == nullptr ? 1 : std::min(thread_pool_->num_threads(), num_residuals);
  Status status;
  if (num_tasks <= 1) {
    for (int i = 0; i < num_residuals; ++i) {
      Status residual_status = EvaluateResidual(i, /*accumulate=*/true, &scratch_);
      if (!residual_status.ok()) {
        status = std::move(residual_status);
        break;
      }
    }
  } else {
    if (static_cast<int>(task_scratch_.size()) < num_tasks) task_scratch_.resize(num_tasks);
    if (gradient_term_start_.empty()) {
      // The terms' slots, made on the first threaded Evaluate.
      gradient_term_start_.resize(num_residuals + 1);
      int64_t size = 0;
      for (int i = 0; i < num_residuals; ++i) {
        gradient_term_start_[i] = size;
        for (int b : layout_.residuals[i].blocks) {
          if (layout_.blocks[b].role == BlockRole::kInner) size += layout_.blocks[b].ambient_size;
        }
      }
      gradient_term_start_[num_residuals] = size;
      gradient_terms_.resize(size);
    }
    std::vector<Status> statuses(num_tasks);
    thread_pool_->ParallelFor(num_tasks, [&](int t) {
      const int begin = static_cast<int>(static_cast<int64_t>(num_residuals) * t / num_tasks);
      const int end = static_cast<int>(static_cast<int64_t>(num_residuals) * (t + 1) / num_tasks);
      for (int i = begin; i < end && statuses[t].ok(); ++i) {
        statuses[t] = EvaluateResidual(i, /*accumulate=*/false, &task_scratch_[t]);
      }
    });
    // The first failure in residual order (each range stops at its first).
    for (const Status& task_status : statuses) {
      if (!task_status.ok()) {
        status = task_status;
        break;
      }
    }
  }
  if (!status.ok()) return status;
  for (int i = 0; num_tasks > 1 && i < num_residuals; ++i) {
    int64_t offset = gradient_term_start_[i];
    for (int b : layout_.residuals[i].blocks) {
      const ParameterBlockInfo& block = layout_.blocks[b];
      if (block.role != BlockRole::kInner) continue;
      ambient_gradient_[b] += ConstVectorMap(&gradient_terms_[offset], block.ambient_size);
      offset += block.ambient_size;
    }
  }

  gradient_.resize(layout_.num_inner);
  for (int b : layout_.inner_blocks) {
    const ParameterBlockInfo& block = layout_.blocks[b];
    if (block.manifold != nullptr) {
      const ConstRowMajorMap J_x_delta(plus_jacobian_[b].data(), block.ambient_size,
                                       block.tangent_size);
      gradient_.segment(block.offset, block.tangent_size) =
          J_x_delta.transpose() * ambient_gradient_[b];
    } else {
      gradient_.segment(block.offset, block.tangent_size) = ambient_gradient_[b];
    }
  }
  return Status::Ok();
}

Status Linearisation::EvaluateLearnableLossTerm(int i, const double* wrapped_residuals,
                                                double* exact_rho) {
  const ResidualBlockInfo& residual = layout_.residuals[i];
  const LearnableLossCostFunction& loss = *residual.learnable_loss;
  const double a = layout_.blocks[residual.blocks[loss.scale_block_index()]].values[0];
  const double m = loss.has_weight_block()
                       ? layout_.blocks[residual.blocks[loss.weight_block_index()]].values[0]
                       : 1.0;
  const double s = ConstVectorMap(wrapped_residuals, residual.num_residuals).squaredNorm();
  double rho[3], drho_da[2];
  if (!EvaluateLearnableLoss(loss.type(), s, a, rho, drho_da)) {
    return LearnableLossError(residual.index, " could not be evaluated (invalid scale or |r|^2)");
  }
  if (!(m > 0.0) || !std::isfinite(m)) {
    return LearnableLossError(residual.index,
                              " has an invalid weight m (not positive and finite)");
  }
  for (int d = 0; d < 3; ++d) exact_rho[d] = m * rho[d];
  LearnableLossDerivatives& derivatives = learnable_loss_[i];
  derivatives.rho_prime = rho[1];
  derivatives.drho_prime_da = drho_da[1];
  derivatives.m = m;
  if (!std::isfinite(exact_rho[0]) || !std::isfinite(exact_rho[1]) ||
      !std::isfinite(exact_rho[2]) || !std::isfinite(drho_da[1])) {
    return LearnableLossError(residual.index, " has a NaN or infinite derivative");
  }
  return Status::Ok();
}

Status Linearisation::EvaluateGradient(Eigen::VectorXd* gradient) const {
  std::vector<Eigen::VectorXd> ambient(layout_.blocks.size());
  for (int b : layout_.inner_blocks) {
    ambient[b] = Eigen::VectorXd::Zero(layout_.blocks[b].ambient_size);
  }
  for (const ResidualBlockInfo& residual : layout_.residuals) {
    const int k = residual.num_residuals;
    scratch_.Reset(layout_, residual);
    for (size_t j = 0; j < residual.blocks.size(); ++j) {
      if (layout_.blocks[residual.blocks[j]].role == BlockRole::kInner) scratch_.Want(j);
    }
    Status status = EvaluateResidualBlock(layout_, residual, scratch_.values.data(),
                                          scratch_.residuals.data(), scratch_.jacobians.data());
    if (!status.ok()) return status;
    const ConstVectorMap r(scratch_.residuals.data(), k);
    double rho[3];
    status = EvaluateLoss(residual, r.squaredNorm(), rho);
    if (!status.ok()) return status;
    for (size_t j = 0; j < residual.blocks.size(); ++j) {
      if (scratch_.jacobians[j] == nullptr) continue;
      const int b = residual.blocks[j];
      ambient[b] += rho[1] * ConstRowMajorMap(scratch_.jacobian(j), k,
                                              layout_.blocks[b].ambient_size)
                                 .transpose() *
                    r;
    }
  }
  gradient->resize(layout_.num_inner);
  for (int b : layout_.inner_blocks) {
    const ParameterBlockInfo& block = layout_.blocks[b];
    if (block.manifold != nullptr) {
      gradient->segment(block.offset, block.tangent_size) =
          ConstRowMajorMap(plus_jacobian_[b].data(), block.ambient_size,
                           block.tangent_size)
              .transpose() *
          ambient[b];
    } else {
      gradient->segment(block.offset, block.tangent_size) = ambient[b];
    }
  }
  return Status::Ok();
}

Status Linearisation::ManifoldCurvature(int b, std::vector<double>* curvature) const {
  const ParameterBlockInfo& block = layout_.blocks[b];
  const int t = block.tangent_size;
  const ConstVectorMap x(block.values, block.ambient_size);
  const Eigen::VectorXd& v = ambient_gradient_[b];
  // Second differences of phi(delta) = v . (Plus(x, delta) - x) at steps h
  // and 2h, Richardson-extrapolated: O(h^4) truncation, round-off eps / h^2,
  // both about 1e-12 relative at h = 1e-3 (a manifold's coordinates share the
  // scale |x|_inf).
  const double h = 1e-3 * std::max(1.0, x.lpNorm<Eigen::Infinity>());
  Eigen::VectorXd moved(block.ambient_size);
  Status status;
  auto phi = [&](const Eigen::VectorXd& delta) {
    if (!block.manifold->Plus(block.values, delta.data(), moved.data()) ||
        !moved.allFinite()) {
      status = NumericalFailureError("the manifold Plus of " + block.name +
                                     " failed or is not finite");
      return 0.0;
    }
    return v.dot(moved - x);
  };
  Eigen::VectorXd delta = Eigen::VectorXd::Zero(t);
  const double phi0 = phi(delta);
  // The second difference of entry (p, q) at step `step`.
  auto second_difference = [&](int p, int q, double step) {
    if (p == q) {
      delta.setZero();
      delta[p] = step;
      const double plus = phi(delta);
      delta[p] = -step;
      const double minus = phi(delta);
      return (plus - 2.0 * phi0 + minus) / (step * step);
    }
    double sum = 0.0;
    for (int sp = -1; sp <= 1; sp += 2) {
      for (int sq = -1; sq <= 1; sq += 2) {
        delta.setZero();
        delta[p] = sp * step;
        delta[q] = sq * step;
        sum += sp * sq * phi(delta);
      }
    }
    return sum / (4.0 * step * step);
  };
  RowMajorMap out((curvature->resize(t * t), curvature->data()), t, t);
  for (int p = 0; p < t; ++p) {
    for (int q = p; q < t; ++q) {
      out(p, q) = out(q, p) =
          (4.0 * second_difference(p, q, h) - second_difference(p, q, 2.0 * h)) / 3.0;
    }
  }
  return status;
}

}  // namespace internal
}  // namespace ceres_wiberg
