#include "ceres_wiberg/internal/exact_hessian.h"

#include <algorithm>
#include <cmath>

namespace ceres_wiberg {
namespace internal {
namespace {

using ConstRowMajorMap = Eigen::Map<const ExactHessian::RowMajorMatrix>;
using RowMajorMap = Eigen::Map<ExactHessian::RowMajorMatrix>;
using ConstVectorMap = Eigen::Map<const Eigen::VectorXd>;
using VectorMap = Eigen::Map<Eigen::VectorXd>;

// Inner blocks with at least this many tangent coordinates are probed for
// structurally zero curvature columns before their columns are differenced.
constexpr int kProbeMinSize = 3;

// Residual blocks with at most this many residuals form J^T J by outer
// products.
constexpr int kSmallProductRows = 8;

// The probe direction's coordinates: deterministic, all of one sign and
// pairwise different, so that a block's curvature columns that are not zero
// do not cancel along it.
double ProbeCoefficient(int q) {
  const double x = 0.6180339887498949 * (q + 1);  // golden-ratio sequence in [1, 2)
  return 1.0 + (x - std::floor(x));
}

}  // namespace

ExactHessian::ExactHessian(const ProblemLayout& layout, const Linearisation& linearisation,
                           double relative_step)
    : layout_(layout), linearisation_(linearisation), relative_step_(relative_step) {}

Status ExactHessian::CurvatureAlong(int i, const double* direction, CurvatureRows rows,
                                    double* out) const {
  const ResidualBlockInfo& residual = layout_.residuals[i];
  const int k = residual.num_residuals;
  const size_t num_blocks = residual.blocks.size();
  ResidualScratch& scratch = scratch_;
  scratch.Reset(layout_, residual);

  // Ambient image of the direction, and the scales that set the step.
  double value_scale = 1.0;
  double delta_scale = 0.0;
  for (size_t j = 0; j < num_blocks; ++j) {
    if (residual.local_offset[j] < 0) continue;
    const int b = residual.blocks[j];
    const ParameterBlockInfo& block = layout_.blocks[b];
    const ConstVectorMap d(direction + residual.local_offset[j], block.local_size());
    VectorMap delta(scratch.delta.data() + scratch.ambient_offset[j], block.ambient_size);
    if (block.manifold != nullptr) {
      delta.noalias() = ConstRowMajorMap(linearisation_.plus_jacobian(b).data(), block.ambient_size,
                                         block.tangent_size) *
                        d;
    } else {
      delta = d;
    }
    const double block_delta = delta.lpNorm<Eigen::Infinity>();
    if (block_delta == 0.0) continue;  // only the blocks moved set the scale
    value_scale = std::max(
        value_scale, ConstVectorMap(block.values, block.ambient_size).lpNorm<Eigen::Infinity>());
    delta_scale = std::max(delta_scale, block_delta);
  }

  auto wanted = [&](const ParameterBlockInfo& block) {
    return block.role != BlockRole::kFixed &&
           ((rows == CurvatureRows::kInner && block.role == BlockRole::kInner) ||
            (rows == CurvatureRows::kLearnable && block.role == BlockRole::kLearnable));
  };
  if (delta_scale == 0.0) {
    for (size_t j = 0; j < num_blocks; ++j) {
      const ParameterBlockInfo& block = layout_.blocks[residual.blocks[j]];
      if (!wanted(block)) continue;
      VectorMap(out + residual.local_offset[j], block.local_size()).setZero();
    }
    return Status::Ok();
  }
  const double h = relative_step_ * value_scale / delta_scale;
  const double rho_prime = linearisation_.rho(i)[1];
  const ConstVectorMap r0(linearisation_.residuals(i), k);
  for (size_t j = 0; j < num_blocks; ++j) {
    if (wanted(layout_.blocks[residual.blocks[j]])) scratch.Want(j);
  }

  // J^T c at x + side h Delta, c = rho' r at the linearisation point.
  for (int side = 0; side < 2; ++side) {
    const double step = side == 0 ? h : -h;
    for (size_t j = 0; j < num_blocks; ++j) {
      if (residual.local_offset[j] < 0) continue;
      const ParameterBlockInfo& block = layout_.blocks[residual.blocks[j]];
      const size_t offset = scratch.ambient_offset[j];
      VectorMap(scratch.perturbed.data() + offset, block.ambient_size) =
          ConstVectorMap(block.values, block.ambient_size) +
          step * ConstVectorMap(scratch.delta.data() + offset, block.ambient_size);
      scratch.values[j] = scratch.perturbed.data() + offset;
    }
    Status status = EvaluateResidualBlock(layout_, residual, scratch.values.data(),
                                          scratch.residuals.data(), scratch.jacobians.data());
    if (!status.ok()) return status;
    for (size_t j = 0; j < num_blocks; ++j) {
      if (scratch.jacobians[j] == nullptr) continue;
      const ParameterBlockInfo& block = layout_.blocks[residual.blocks[j]];
      VectorMap(scratch.J_T_c[side].data() + scratch.ambient_offset[j], block.ambient_size)
          .noalias() =
          rho_prime *
          (ConstRowMajorMap(scratch.jacobian(j), k, block.ambient_size).transpose() * r0);
    }
  }
  for (size_t j = 0; j < num_blocks; ++j) {
    if (scratch.jacobians[j] == nullptr) continue;
    const int b = residual.blocks[j];
    const ParameterBlockInfo& block = layout_.blocks[b];
    const size_t offset = scratch.ambient_offset[j];
    // The difference quotient, in place in J_T_c[0].
    VectorMap ambient(scratch.J_T_c[0].data() + offset, block.ambient_size);
    ambient = (ambient - ConstVectorMap(scratch.J_T_c[1].data() + offset, block.ambient_size)) /
              (2.0 * h);
    VectorMap local(out + residual.local_offset[j], block.local_size());
    if (block.manifold != nullptr) {
      local.noalias() = ConstRowMajorMap(linearisation_.plus_jacobian(b).data(), block.ambient_size,
                                         block.tangent_size)
                            .transpose() *
                        ambient;
    } else {
      local = ambient;
    }
  }
  return Status::Ok();
}

Status ExactHessian::InnerLocalHessian(int i, bool exact) {
  const ResidualBlockInfo& residual = layout_.residuals[i];
  const int k = residual.num_residuals;
  const int n = residual.num_inner_local;
  const ConstRowMajorMap J(linearisation_.jacobian(i), k, residual.num_local);
  inner_jacobian_.resize(k, n);
  for (size_t j = 0; j < residual.blocks.size(); ++j) {
    if (residual.inner_offset[j] < 0) continue;
    const int t = layout_.blocks[residual.blocks[j]].tangent_size;
    inner_jacobian_.middleCols(residual.inner_offset[j], t) =
        J.middleCols(residual.local_offset[j], t);
  }
  const double* rho = linearisation_.rho(i);
  local_hessian_.resize(n, n);
  if (k <= kSmallProductRows) {
    // A few residuals: a sum of outer products, without GEMM's blocking.
    local_hessian_.noalias() =
        (rho[1] * inner_jacobian_.row(0).transpose()) * inner_jacobian_.row(0);
    for (int p = 1; p < k; ++p) {
      local_hessian_.noalias() +=
          (rho[1] * inner_jacobian_.row(p).transpose()) * inner_jacobian_.row(p);
    }
  } else {
    local_hessian_.noalias() = rho[1] * inner_jacobian_.transpose() * inner_jacobian_;
  }
  if (!exact) return Status::Ok();
  if (rho[2] != 0.0) {
    inner_J_T_r_.noalias() = inner_jacobian_.transpose() *
                             Eigen::Map<const Eigen::VectorXd>(linearisation_.residuals(i), k);
    local_hessian_.noalias() += (2.0 * rho[2]) * inner_J_T_r_ * inner_J_T_r_.transpose();
  }
  Status status = InnerCurvature(i);
  if (!status.ok()) return status;
  local_hessian_ += curvature_;
  return Status::Ok();
}

// One central difference of the Jacobians per inner local column. A block of
// kProbeMinSize or more tangent coordinates is first differenced along one
// probe direction: when that changes no Jacobian row of an inner block whose
// columns are not yet known (itself included), its columns are zero in those
// rows (the residuals are linear in it and it does not move those rows'
// Jacobians, e.g. a translation or linear coefficients), its rows in the known
// columns follow by symmetry, and its columns are not differenced. Blocks go
// smallest first, so that known columns cover as many rows as possible.
Status ExactHessian::InnerCurvature(int i) {
  const ResidualBlockInfo& residual = layout_.residuals[i];
  const int n = residual.num_inner_local;
  // Entries of columns never differenced are not read before the
  // symmetrisation below writes them.
  curvature_.resize(n, n);
  direction_.setZero(residual.num_local);
  column_.resize(residual.num_local);
  block_known_.assign(residual.blocks.size(), 0);
  probe_order_.clear();
  for (size_t j = 0; j < residual.blocks.size(); ++j) {
    if (residual.inner_offset[j] >= 0) probe_order_.push_back(static_cast<int>(j));
  }
  std::stable_sort(probe_order_.begin(), probe_order_.end(), [&](int a, int b) {
    return layout_.blocks[residual.blocks[a]].tangent_size <
           layout_.blocks[residual.blocks[b]].tangent_size;
  });
  // Writes every inner row of column_.
  auto difference = [&]() {
    return CurvatureAlong(i, direction_.data(), CurvatureRows::kInner, column_.data());
  };

  for (int j : probe_order_) {
    const int t = layout_.blocks[residual.blocks[j]].tangent_size;
    const int local = residual.local_offset[j];
    if (t >= kProbeMinSize) {
      for (int q = 0; q < t; ++q) direction_[local + q] = ProbeCoefficient(q);
      Status status = difference();
      direction_.segment(local, t).setZero();
      if (!status.ok()) return status;
      bool moves_unknown_rows = false;
      for (size_t l = 0; l < residual.blocks.size() && !moves_unknown_rows; ++l) {
        if (residual.inner_offset[l] < 0 || block_known_[l]) continue;
        const int t_l = layout_.blocks[residual.blocks[l]].tangent_size;
        moves_unknown_rows = (column_.segment(residual.local_offset[l], t_l).array() != 0.0).any();
      }
      if (!moves_unknown_rows) continue;
    }
    for (int q = 0; q < t; ++q) {
      direction_[local + q] = 1.0;
      Status status = difference();
      direction_[local + q] = 0.0;
      if (!status.ok()) return status;
      const int col = residual.inner_offset[j] + q;
      for (size_t l = 0; l < residual.blocks.size(); ++l) {
        if (residual.inner_offset[l] < 0) continue;
        const int t_l = layout_.blocks[residual.blocks[l]].tangent_size;
        curvature_.col(col).segment(residual.inner_offset[l], t_l) =
            column_.segment(residual.local_offset[l], t_l);
      }
    }
    block_known_[j] = 1;
  }

  // Symmetrise: known columns averaged with their transposes, rows of the
  // columns not differenced taken from the known columns, zero elsewhere.
  for (int a : probe_order_) {
    const int off_a = residual.inner_offset[a];
    const int t_a = layout_.blocks[residual.blocks[a]].tangent_size;
    for (int b : probe_order_) {
      const int off_b = residual.inner_offset[b];
      if (off_b < off_a) continue;  // each pair once, the diagonal blocks too
      const int t_b = layout_.blocks[residual.blocks[b]].tangent_size;
      auto ab = curvature_.block(off_a, off_b, t_a, t_b);
      auto ba = curvature_.block(off_b, off_a, t_b, t_a);
      if (block_known_[a] && block_known_[b]) {
        ab = 0.5 * (ab + ba.transpose()).eval();
        if (a != b) ba = ab.transpose();  // a diagonal block is ab itself
      } else if (block_known_[b]) {
        ba = ab.transpose();
      } else if (block_known_[a]) {
        ab = ba.transpose();
      } else {
        ab.setZero();
        ba.setZero();
      }
    }
  }
  return Status::Ok();
}

Status ExactHessian::Assemble(HessianModel model, SymmetricBlockMatrix* hessian) {
  const bool exact = model == HessianModel::EXACT;
  hessian->SetZero();
  for (size_t i = 0; i < layout_.residuals.size(); ++i) {
    Status status = InnerLocalHessian(static_cast<int>(i), exact);
    if (!status.ok()) return status;
    hessian->AddInnerLocal(layout_.residuals[i], local_hessian_.data());
  }
  if (!exact) return Status::Ok();
  for (int b : layout_.inner_blocks) {
    if (layout_.blocks[b].manifold == nullptr) continue;
    Status status = linearisation_.ManifoldCurvature(b, &manifold_curvature_);
    if (!status.ok()) return status;
    hessian->AddToDiagonalBlock(b, manifold_curvature_.data());
  }
  return Status::Ok();
}

}  // namespace internal
}  // namespace ceres_wiberg
