#include "ceres_wiberg/internal/exact_hessian.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

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

// Local Hessians per thread in one parallel batch of Assemble.
constexpr int kBatchPerThread = 256;

// Residual blocks with at most this many residuals form J^T J by outer
// products.
constexpr int kSmallProductRows = 8;

// Residual blocks with at most this many inner coordinates (and
// kSmallProductRows residuals) form their first-order local H unrolled.
constexpr int kMaxUnrolledInner = 3;

// H (N x N, row-major) = rho' J^T J over the local columns `columns` of the
// k x num_local row-major J, plus 2 rho'' (J^T r)(J^T r)^T where r is not
// null: InnerLocalHessian's small-product sums, term for term in its order.
template <int N>
void SmallFirstOrderHessian(const double* J, int k, int num_local, const int* columns,
                            const double* rho, const double* r, double* H) {
  double J_inner[kSmallProductRows][N] = {};  // zeroed: k >= 1 is not visible here
  for (int p = 0; p < k; ++p) {
    for (int a = 0; a < N; ++a) J_inner[p][a] = J[p * num_local + columns[a]];
  }
  for (int a = 0; a < N; ++a) {
    for (int b = a; b < N; ++b) {
      double sum = (rho[1] * J_inner[0][a]) * J_inner[0][b];
      for (int p = 1; p < k; ++p) sum += (rho[1] * J_inner[p][a]) * J_inner[p][b];
      H[a * N + b] = H[b * N + a] = sum;
    }
  }
  if (r == nullptr || rho[2] == 0.0) return;
  double J_T_r[N];
  for (int a = 0; a < N; ++a) {
    double sum = 0.0;
    for (int p = 0; p < k; ++p) sum += J_inner[p][a] * r[p];
    J_T_r[a] = sum;
  }
  const double twice_rho_2 = 2.0 * rho[2];
  for (int a = 0; a < N; ++a) {
    const double scaled = twice_rho_2 * J_T_r[a];
    for (int b = a; b < N; ++b) {
      H[a * N + b] += scaled * J_T_r[b];
      if (b != a) H[b * N + a] = H[a * N + b];
    }
  }
}

// The probe direction's coordinates: deterministic, all of one sign, in
// [1, 2), and with no arithmetic structure (a hash of q, not a progression),
// so that a curvature matrix that is not zero does not cancel along it. A
// progression would: a second-difference stencil (1, -2, 1), common in
// smoothness terms and filters, is orthogonal to any arithmetic progression.
double ProbeCoefficient(int q) {
  uint64_t z = 0x9E3779B97F4A7C15ull * (static_cast<uint64_t>(q) + 1);  // splitmix64
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return 1.0 + static_cast<double>(z >> 11) * 0x1.0p-53;
}

// The scale s of a coordinate of value x: |x|, but at least
// kMinStep / relative step, so that a coordinate at or near zero moves by
// Ceres' NumericDiff minimum step sqrt(eps) (an absolute floor, as there).
constexpr double kMinStep = 1.4901161193847656e-08;  // sqrt(eps)

// Error control of the extrapolated differences (CurvatureAlong): the
// O(h^2) term is accepted below this fraction of |D|_inf (the extrapolant's
// error is then about its square, 1e-10), ...
constexpr double kTruncationTolerance = 1e-5;
// ... or below round-off, this many eps |J^T c| / h (a Jacobian evaluation
// accumulates some tens of roundings) ...
constexpr double kNoiseFactor = 64.0;
// ... with at most this many halvings of h.
constexpr int kMaxHalvings = 4;

}  // namespace

double ExactHessian::CoordinateScale(double x) const {
  return std::max(std::abs(x), kMinStep / relative_step_);
}

ExactHessian::ExactHessian(const ProblemLayout& layout, const Linearisation& linearisation,
                           double relative_step, ThreadPool* thread_pool)
    : layout_(layout),
      linearisation_(linearisation),
      relative_step_(relative_step),
      thread_pool_(thread_pool) {}

Status ExactHessian::CurvatureAlong(int i, const double* direction, CurvatureRows rows,
                                    double* out, bool extrapolate) const {
  return CurvatureAlong(&main_, i, direction, rows, out, extrapolate);
}

Status ExactHessian::CurvatureAlong(Workspace* workspace, int i, const double* direction,
                                    CurvatureRows rows, double* out, bool extrapolate) const {
  Workspace& ws = *workspace;
  const ResidualBlockInfo& residual = layout_.residuals[i];
  const int k = residual.num_residuals;
  // The blocks of the differenced cost function (the wrapped one of a
  // learnable loss: its a and m do not enter r, so no direction along them
  // moves it and its curvature rows for them are zero).
  const size_t num_blocks = static_cast<size_t>(residual.num_differenced_blocks);
  auto wanted = [&](const ParameterBlockInfo& block) {
    return block.role != BlockRole::kFixed &&
           ((rows == CurvatureRows::kInner && block.role == BlockRole::kInner) ||
            (rows == CurvatureRows::kLearnable && block.role == BlockRole::kLearnable));
  };
  if (residual.zero_curvature) {
    // No direction moves the Jacobian of a declared-linear cost function:
    // nothing is evaluated.
    for (size_t j = 0; j < residual.blocks.size(); ++j) {
      const ParameterBlockInfo& block = layout_.blocks[residual.blocks[j]];
      if (wanted(block)) VectorMap(out + residual.local_offset[j], block.local_size()).setZero();
    }
    return Status::Ok();
  }
  ResidualScratch& scratch = ws.scratch;
  scratch.Reset(layout_, residual);

  // Ambient image of the direction, and its length in coordinate-scaled
  // units: max_i |Delta_i| / s_i (see CoordinateScale).
  double scaled_length = 0.0;
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
    const ConstVectorMap x(block.values, block.ambient_size);
    // A manifold's ambient coordinates share one unit (Plus mixes them).
    const double block_scale =
        block.manifold != nullptr ? CoordinateScale(x.lpNorm<Eigen::Infinity>()) : 0.0;
    for (int p = 0; p < block.ambient_size; ++p) {
      if (delta[p] == 0.0) continue;
      const double s = block.manifold != nullptr ? block_scale : CoordinateScale(x[p]);
      scaled_length = std::max(scaled_length, std::abs(delta[p]) / s);
    }
  }

  // The wanted rows of blocks that are not differenced (a learnable loss's
  // a and m): zero.
  for (size_t j = num_blocks; j < residual.blocks.size(); ++j) {
    const ParameterBlockInfo& block = layout_.blocks[residual.blocks[j]];
    if (!wanted(block)) continue;
    VectorMap(out + residual.local_offset[j], block.local_size()).setZero();
  }
  if (scaled_length == 0.0) {
    for (size_t j = 0; j < num_blocks; ++j) {
      const ParameterBlockInfo& block = layout_.blocks[residual.blocks[j]];
      if (!wanted(block)) continue;
      VectorMap(out + residual.local_offset[j], block.local_size()).setZero();
    }
    return Status::Ok();
  }
  // Every coordinate moves by at most relative_step_ times its own scale.
  double h = relative_step_ / scaled_length;
  const double rho_prime = linearisation_.exact_rho(i)[1];
  const ConstVectorMap r0(linearisation_.exact_residuals(i), k);
  for (size_t j = 0; j < num_blocks; ++j) {
    if (wanted(layout_.blocks[residual.blocks[j]])) scratch.Want(j);
  }

  // J^T c at x + step Delta, c = rho' r at the linearisation point, into
  // J_T_c[side].
  auto evaluate = [&](double step, int side) -> Status {
    for (size_t j = 0; j < num_blocks; ++j) {
      if (residual.local_offset[j] < 0) continue;
      const ParameterBlockInfo& block = layout_.blocks[residual.blocks[j]];
      const size_t offset = scratch.ambient_offset[j];
      VectorMap(scratch.perturbed.data() + offset, block.ambient_size) =
          ConstVectorMap(block.values, block.ambient_size) +
          step * ConstVectorMap(scratch.delta.data() + offset, block.ambient_size);
      scratch.values[j] = scratch.perturbed.data() + offset;
    }
    ++ws.num_curvature_evaluations;
    Status status = EvaluateDifferencedResidualBlock(
        layout_, residual, scratch.values.data(), scratch.residuals.data(),
        scratch.jacobians.data());
    if (!status.ok()) return status;
    for (size_t j = 0; j < num_blocks; ++j) {
      if (scratch.jacobians[j] == nullptr) continue;
      const ParameterBlockInfo& block = layout_.blocks[residual.blocks[j]];
      VectorMap(scratch.J_T_c[side].data() + scratch.ambient_offset[j], block.ambient_size)
          .noalias() =
          rho_prime *
          (ConstRowMajorMap(scratch.jacobian(j), k, block.ambient_size).transpose() * r0);
    }
    return Status::Ok();
  };
  // The central difference D(step) over the wanted blocks' ambient
  // coordinates into *d, and its round-off scale eps |J^T c|_inf / step.
  const size_t ambient_size =
      scratch.ambient_offset[num_blocks - 1] +
      layout_.blocks[residual.blocks[num_blocks - 1]].ambient_size;
  auto difference = [&](double step, Eigen::VectorXd* d, double* noise) -> Status {
    for (int side = 0; side < 2; ++side) {
      Status status = evaluate(side == 0 ? step : -step, side);
      if (!status.ok()) return status;
    }
    d->setZero(ambient_size);
    double magnitude = 0.0;
    for (size_t j = 0; j < num_blocks; ++j) {
      if (scratch.jacobians[j] == nullptr) continue;
      const size_t offset = scratch.ambient_offset[j];
      const int size = layout_.blocks[residual.blocks[j]].ambient_size;
      const ConstVectorMap plus(scratch.J_T_c[0].data() + offset, size);
      const ConstVectorMap minus(scratch.J_T_c[1].data() + offset, size);
      d->segment(offset, size) = (plus - minus) / (2.0 * step);
      magnitude = std::max({magnitude, plus.lpNorm<Eigen::Infinity>(),
                            minus.lpNorm<Eigen::Infinity>()});
    }
    *noise = kNoiseFactor * std::numeric_limits<double>::epsilon() * magnitude / step;
    return Status::Ok();
  };

  double noise = 0.0;
  // A SecondOrderCostFunction's closed form replaces the difference.
  const bool closed_form = residual.second_order != nullptr;
  Status status = closed_form ? ClosedFormCurvatureAlong(&ws, i, &ws.fine)
                              : difference(h, &ws.fine, &noise);
  if (!status.ok()) return status;
  // A difference that is exactly zero (the Jacobians at x +- h Delta agree
  // to the last bit, as for a residual linear along Delta) is taken as zero
  // curvature, as the probes take it: nothing to extrapolate.
  extrapolate = extrapolate && !closed_form && (ws.fine.array() != 0.0).any();
  if (extrapolate) {
    // Richardson: R = (4 D(h) - D(2h)) / 3 cancels the O(h^2) term c h^2,
    // and |D(h) - D(2h)| = 3 c h^2 measures it. While that term is above
    // kTruncationTolerance |D| (and above round-off), R's O(h^4) error (about
    // its square) may still show: halve h, up to kMaxHalvings times, keeping
    // the last R whose measure still fell (it stops falling once round-off
    // dominates).
    status = difference(2.0 * h, &ws.coarse, &noise);
    if (!status.ok()) return status;
    ws.extrapolated = (4.0 * ws.fine - ws.coarse) / 3.0;
    double change = (ws.fine - ws.coarse).lpNorm<Eigen::Infinity>();
    for (int halving = 0; halving < kMaxHalvings; ++halving) {
      if (change <= kTruncationTolerance * ws.fine.lpNorm<Eigen::Infinity>() + noise) break;
      h /= 2.0;
      ws.coarse.swap(ws.fine);
      status = difference(h, &ws.fine, &noise);
      if (!status.ok()) return status;
      const double new_change = (ws.fine - ws.coarse).lpNorm<Eigen::Infinity>();
      if (!(new_change < change)) break;
      change = new_change;
      ws.extrapolated = (4.0 * ws.fine - ws.coarse) / 3.0;
    }
  }
  const Eigen::VectorXd& ambient = extrapolate ? ws.extrapolated : ws.fine;
  for (size_t j = 0; j < num_blocks; ++j) {
    if (scratch.jacobians[j] == nullptr) continue;
    const int b = residual.blocks[j];
    const ParameterBlockInfo& block = layout_.blocks[b];
    const auto block_ambient = ambient.segment(scratch.ambient_offset[j], block.ambient_size);
    VectorMap local(out + residual.local_offset[j], block.local_size());
    if (block.manifold != nullptr) {
      local.noalias() = ConstRowMajorMap(linearisation_.plus_jacobian(b).data(), block.ambient_size,
                                         block.tangent_size)
                            .transpose() *
                        block_ambient;
    } else {
      local = block_ambient;
    }
  }
  return Status::Ok();
}

Status ExactHessian::ClosedFormCurvature(Workspace* workspace, int i) const {
  Workspace& ws = *workspace;
  const ResidualBlockInfo& residual = layout_.residuals[i];
  int ambient_size = 0;
  for (int j = 0; j < residual.num_differenced_blocks; ++j) {
    ambient_size += layout_.blocks[residual.blocks[j]].ambient_size;
  }
  // c = rho' r of the exact view, as CurvatureAlong's differences use.
  ws.curvature_weights = linearisation_.exact_rho(i)[1] *
                         ConstVectorMap(linearisation_.exact_residuals(i), residual.num_residuals);
  ws.ambient_curvature.resize(ambient_size, ambient_size);
  ws.scratch.values.resize(residual.blocks.size());
  for (size_t j = 0; j < residual.blocks.size(); ++j) {
    ws.scratch.values[j] = layout_.blocks[residual.blocks[j]].values;
  }
  return EvaluateDifferencedCurvature(residual, ws.scratch.values.data(),
                                      ws.curvature_weights.data(), ws.ambient_curvature.data(),
                                      ambient_size);
}

Status ExactHessian::ClosedFormCurvatureAlong(Workspace* workspace, int i,
                                              Eigen::VectorXd* out) const {
  Workspace& ws = *workspace;
  const ResidualBlockInfo& residual = layout_.residuals[i];
  Status status = ClosedFormCurvature(&ws, i);
  if (!status.ok()) return status;
  out->setZero(ws.ambient_curvature.rows());
  for (int j = 0; j < residual.num_differenced_blocks; ++j) {
    if (residual.local_offset[j] < 0) continue;  // fixed: does not move
    const int size = layout_.blocks[residual.blocks[j]].ambient_size;
    const size_t offset = ws.scratch.ambient_offset[j];
    out->noalias() += ws.ambient_curvature.middleCols(offset, size) *
                      ConstVectorMap(ws.scratch.delta.data() + offset, size);
  }
  return Status::Ok();
}

void ExactHessian::ZeroFixedCoordinates(Workspace* workspace, int i) const {
  if (fixed_ == nullptr) return;
  Workspace& ws = *workspace;
  const ResidualBlockInfo& residual = layout_.residuals[i];
  for (size_t j = 0; j < residual.blocks.size(); ++j) {
    if (residual.inner_offset[j] < 0) continue;
    const ParameterBlockInfo& block = layout_.blocks[residual.blocks[j]];
    for (int q = 0; q < block.tangent_size; ++q) {
      if (!(*fixed_)[block.offset + q]) continue;
      ws.curvature.row(residual.inner_offset[j] + q).setZero();
      ws.curvature.col(residual.inner_offset[j] + q).setZero();
    }
  }
}

Status ExactHessian::InnerLocalHessian(Workspace* workspace, int i, bool exact) const {
  Workspace& ws = *workspace;
  const ResidualBlockInfo& residual = layout_.residuals[i];
  const int k = residual.num_residuals;
  const int n = residual.num_inner_local;
  // The exact model differentiates 1/2 rho(|r|^2) of the exact view (the
  // wrapped residuals of a learnable loss, see Linearisation::exact_*);
  // Gauss-Newton keeps Ceres' residuals (r~).
  const ConstRowMajorMap J(
      exact ? linearisation_.exact_jacobian(i) : linearisation_.jacobian(i), k,
      residual.num_local);
  // After the first-order part (every path below): the exact model adds the
  // residuals' own curvature; a declared-linear cost function has none.
  auto add_curvature = [&]() {
    if (!exact || residual.zero_curvature) return Status::Ok();
    Status status = InnerCurvature(&ws, i);
    if (status.ok()) ws.local_hessian += ws.curvature;
    return status;
  };
  if (n == 1 && k <= kSmallProductRows) {
    // One inner coordinate (a scalar unknown, a pixel): the sums of the
    // general path below, in the same order, without its loops' setup,
    // which costs more than the sums at this size.
    int column = 0;
    for (size_t j = 0; j < residual.blocks.size(); ++j) {
      if (residual.inner_offset[j] >= 0) {
        column = residual.local_offset[j];
        break;
      }
    }
    const double* rho = exact ? linearisation_.exact_rho(i) : linearisation_.rho(i);
    double h = (rho[1] * J(0, column)) * J(0, column);
    for (int p = 1; p < k; ++p) h += (rho[1] * J(p, column)) * J(p, column);
    if (exact && rho[2] != 0.0) {
      const double* r = linearisation_.exact_residuals(i);
      double J_T_r = 0.0;
      for (int p = 0; p < k; ++p) J_T_r += J(p, column) * r[p];
      h += (2.0 * rho[2] * J_T_r) * J_T_r;
    }
    if (ws.local_hessian.rows() != 1 || ws.local_hessian.cols() != 1) ws.local_hessian.resize(1, 1);
    ws.local_hessian(0, 0) = h;
    return add_curvature();
  }
  if (n >= 2 && n <= kMaxUnrolledInner && k <= kSmallProductRows) {
    // Two or three inner coordinates (an image point, a 3-D point): the same
    // sums as the general path below, in its order, unrolled.
    int columns[kMaxUnrolledInner];
    for (size_t j = 0; j < residual.blocks.size(); ++j) {
      if (residual.inner_offset[j] < 0) continue;
      const int t = layout_.blocks[residual.blocks[j]].tangent_size;
      for (int q = 0; q < t; ++q) {
        columns[residual.inner_offset[j] + q] = residual.local_offset[j] + q;
      }
    }
    const double* rho = exact ? linearisation_.exact_rho(i) : linearisation_.rho(i);
    const double* r = exact ? linearisation_.exact_residuals(i) : nullptr;
    if (ws.local_hessian.rows() != n || ws.local_hessian.cols() != n) ws.local_hessian.resize(n, n);
    double* H = ws.local_hessian.data();
    if (n == 2) {
      SmallFirstOrderHessian<2>(J.data(), k, residual.num_local, columns, rho, r, H);
    } else {
      SmallFirstOrderHessian<3>(J.data(), k, residual.num_local, columns, rho, r, H);
    }
    return add_curvature();
  }
  if (ws.inner_jacobian.rows() != k || ws.inner_jacobian.cols() != n) {
    ws.inner_jacobian.resize(k, n);
  }
  for (size_t j = 0; j < residual.blocks.size(); ++j) {
    if (residual.inner_offset[j] < 0) continue;
    const int t = layout_.blocks[residual.blocks[j]].tangent_size;
    // Plain loops: a residual block has a few entries.
    for (int p = 0; p < k; ++p) {
      for (int q = 0; q < t; ++q) {
        ws.inner_jacobian(p, residual.inner_offset[j] + q) = J(p, residual.local_offset[j] + q);
      }
    }
  }
  const double* rho = exact ? linearisation_.exact_rho(i) : linearisation_.rho(i);
  if (ws.local_hessian.rows() != n || ws.local_hessian.cols() != n) ws.local_hessian.resize(n, n);
  if (k <= kSmallProductRows) {
    // A few residuals: a sum of outer products, by plain loops (Eigen's
    // outer products of dynamic vectors allocate a temporary).
    // The upper triangle, mirrored (the same sums for (a, b) and (b, a)).
    const double* J_data = ws.inner_jacobian.data();
    double* H = ws.local_hessian.data();
    for (int a = 0; a < n; ++a) {
      for (int b = a; b < n; ++b) {
        double sum = (rho[1] * J_data[a]) * J_data[b];
        for (int p = 1; p < k; ++p) sum += (rho[1] * J_data[p * n + a]) * J_data[p * n + b];
        H[a * n + b] = H[b * n + a] = sum;
      }
    }
  } else {
    ws.local_hessian.noalias() = rho[1] * ws.inner_jacobian.transpose() * ws.inner_jacobian;
  }
  if (!exact) return Status::Ok();
  if (rho[2] != 0.0) {
    const double* r = linearisation_.exact_residuals(i);
    if (ws.inner_J_T_r.size() != n) ws.inner_J_T_r.resize(n);
    for (int a = 0; a < n; ++a) {
      double sum = 0.0;
      for (int p = 0; p < k; ++p) sum += ws.inner_jacobian(p, a) * r[p];
      ws.inner_J_T_r[a] = sum;
    }
    const double twice_rho_2 = 2.0 * rho[2];
    double* H = ws.local_hessian.data();
    const double* v = ws.inner_J_T_r.data();
    for (int a = 0; a < n; ++a) {
      const double scaled = twice_rho_2 * v[a];
      for (int b = a; b < n; ++b) {
        H[a * n + b] += scaled * v[b];
        if (b != a) H[b * n + a] = H[a * n + b];
      }
    }
  }
  return add_curvature();
}

// One central difference of the Jacobians per inner local column, after two
// kinds of probes. First the residual block as a whole (see below). Then a block of
// kProbeMinSize or more tangent coordinates is first differenced along one
// probe direction: when that changes no Jacobian row of an inner block whose
// columns are not yet known (itself included), its columns are zero in those
// rows (the residuals are linear in it and it does not move those rows'
// Jacobians, e.g. a translation or linear coefficients), its rows in the known
// columns follow by symmetry, and its columns are not differenced. Blocks go
// smallest first, so that known columns cover as many rows as possible.
Status ExactHessian::InnerCurvature(Workspace* workspace, int i) const {
  Workspace& ws = *workspace;
  const ResidualBlockInfo& residual = layout_.residuals[i];
  const int n = residual.num_inner_local;
  // Entries of columns never differenced are not read before the
  // symmetrisation below writes them.
  ws.curvature.resize(n, n);
  ws.direction.setZero(residual.num_local);
  ws.column.resize(residual.num_local);
  ws.block_known.assign(residual.blocks.size(), 0);
  ws.probe_order.clear();
  for (size_t j = 0; j < residual.blocks.size(); ++j) {
    if (residual.inner_offset[j] >= 0) ws.probe_order.push_back(static_cast<int>(j));
  }
  // Smallest first, ties in block order (std::sort: stable_sort allocates;
  // most residual blocks have one inner block, nothing to sort).
  if (ws.probe_order.size() > 1) {
    std::sort(ws.probe_order.begin(), ws.probe_order.end(), [&](int a, int b) {
      const int size_a = layout_.blocks[residual.blocks[a]].tangent_size;
      const int size_b = layout_.blocks[residual.blocks[b]].tangent_size;
      return size_a != size_b ? size_a < size_b : a < b;
    });
  }
  // Writes every inner row of ws.column.
  auto difference = [&](bool extrapolate) {
    return CurvatureAlong(&ws, i, ws.direction.data(), CurvatureRows::kInner, ws.column.data(),
                          extrapolate);
  };
  // Whether every inner row of ws.column is exactly zero.
  auto no_inner_curvature = [&]() {
    for (int j : ws.probe_order) {
      const int t = layout_.blocks[residual.blocks[j]].tangent_size;
      if ((ws.column.segment(residual.local_offset[j], t).array() != 0.0).any()) return false;
    }
    return true;
  };

  if (residual.second_order != nullptr) {
    // Closed form: P_a^T H_ab P_b over the inner blocks a, b (P the
    // PlusJacobian of a manifold block, else the identity); nothing is
    // differenced. The fixed coordinates' rows and columns are zeroed as
    // the differenced path zeroes them.
    Status status = ClosedFormCurvature(&ws, i);
    if (!status.ok()) return status;
    int ambient_offset_a = 0;
    for (size_t a = 0; a < residual.blocks.size(); ++a) {
      const ParameterBlockInfo& block_a = layout_.blocks[residual.blocks[a]];
      if (residual.inner_offset[a] >= 0) {
        int ambient_offset_b = 0;
        for (size_t b = 0; b < residual.blocks.size(); ++b) {
          const ParameterBlockInfo& block_b = layout_.blocks[residual.blocks[b]];
          if (residual.inner_offset[b] >= 0) {
            const auto H_ab = ws.ambient_curvature.block(ambient_offset_a, ambient_offset_b,
                                                         block_a.ambient_size,
                                                         block_b.ambient_size);
            auto out = ws.curvature.block(residual.inner_offset[a], residual.inner_offset[b],
                                          block_a.tangent_size, block_b.tangent_size);
            const ConstRowMajorMap P_a(
                block_a.manifold != nullptr ? linearisation_.plus_jacobian(residual.blocks[a]).data()
                                            : nullptr,
                block_a.ambient_size, block_a.tangent_size);
            const ConstRowMajorMap P_b(
                block_b.manifold != nullptr ? linearisation_.plus_jacobian(residual.blocks[b]).data()
                                            : nullptr,
                block_b.ambient_size, block_b.tangent_size);
            if (block_a.manifold != nullptr && block_b.manifold != nullptr) {
              out.noalias() = P_a.transpose() * H_ab * P_b;
            } else if (block_a.manifold != nullptr) {
              out.noalias() = P_a.transpose() * H_ab;
            } else if (block_b.manifold != nullptr) {
              out.noalias() = H_ab * P_b;
            } else {
              out = H_ab;
            }
          }
          if (static_cast<int>(b) < residual.num_differenced_blocks) {
            ambient_offset_b += block_b.ambient_size;
          }
        }
      }
      if (static_cast<int>(a) < residual.num_differenced_blocks) {
        ambient_offset_a += block_a.ambient_size;
      }
    }
    ZeroFixedCoordinates(&ws, i);
    return Status::Ok();
  }

  // Coordinate q of block j is fixed (an active bound): not differenced.
  auto fixed = [&](int j, int q) {
    return fixed_ != nullptr && (*fixed_)[layout_.blocks[residual.blocks[j]].offset + q];
  };

  // The whole residual block first, along all its free inner coordinates at once
  // (unless one block probe below would be the same difference): a residual
  // linear in all its inner coordinates (e.g. a filter response over pixels,
  // each its own 1-coordinate block) has no curvature, and nothing more is
  // differenced.
  const bool one_probed_block =
      ws.probe_order.size() == 1 &&
      layout_.blocks[residual.blocks[ws.probe_order[0]]].tangent_size >= kProbeMinSize;
  if (n >= 2 && !one_probed_block) {
    for (int j : ws.probe_order) {
      const int t = layout_.blocks[residual.blocks[j]].tangent_size;
      for (int q = 0; q < t; ++q) {
        ws.direction[residual.local_offset[j] + q] =
            fixed(j, q) ? 0.0 : ProbeCoefficient(residual.inner_offset[j] + q);
      }
    }
    Status status = difference(false);
    ws.direction.setZero();
    if (!status.ok()) return status;
    if (no_inner_curvature()) {
      ws.curvature.setZero();
      return Status::Ok();
    }
  }

  for (int j : ws.probe_order) {
    const int t = layout_.blocks[residual.blocks[j]].tangent_size;
    const int local = residual.local_offset[j];
    if (t >= kProbeMinSize) {
      for (int q = 0; q < t; ++q) ws.direction[local + q] = fixed(j, q) ? 0.0 : ProbeCoefficient(q);
      // Only exact zeros are read: one plain difference serves.
      Status status = difference(false);
      ws.direction.segment(local, t).setZero();
      if (!status.ok()) return status;
      bool moves_unknown_rows = false;
      for (size_t l = 0; l < residual.blocks.size() && !moves_unknown_rows; ++l) {
        if (residual.inner_offset[l] < 0 || ws.block_known[l]) continue;
        const int t_l = layout_.blocks[residual.blocks[l]].tangent_size;
        moves_unknown_rows = (ws.column.segment(residual.local_offset[l], t_l).array() != 0.0).any();
      }
      if (!moves_unknown_rows) continue;
    }
    for (int q = 0; q < t; ++q) {
      const int col = residual.inner_offset[j] + q;
      if (fixed(j, q)) {
        ws.curvature.col(col).setZero();
        continue;
      }
      ws.direction[local + q] = 1.0;
      Status status = difference(true);
      ws.direction[local + q] = 0.0;
      if (!status.ok()) return status;
      for (size_t l = 0; l < residual.blocks.size(); ++l) {
        if (residual.inner_offset[l] < 0) continue;
        const int t_l = layout_.blocks[residual.blocks[l]].tangent_size;
        ws.curvature.col(col).segment(residual.inner_offset[l], t_l) =
            ws.column.segment(residual.local_offset[l], t_l);
      }
    }
    ws.block_known[j] = 1;
  }

  // Symmetrise: known columns averaged with their transposes, rows of the
  // columns not differenced taken from the known columns, zero elsewhere.
  for (int a : ws.probe_order) {
    const int off_a = residual.inner_offset[a];
    const int t_a = layout_.blocks[residual.blocks[a]].tangent_size;
    for (int b : ws.probe_order) {
      const int off_b = residual.inner_offset[b];
      if (off_b < off_a) continue;  // each pair once, the diagonal blocks too
      const int t_b = layout_.blocks[residual.blocks[b]].tangent_size;
      auto ab = ws.curvature.block(off_a, off_b, t_a, t_b);
      auto ba = ws.curvature.block(off_b, off_a, t_b, t_a);
      if (ws.block_known[a] && ws.block_known[b]) {
        ab = 0.5 * (ab + ba.transpose()).eval();
        if (a != b) ba = ab.transpose();  // a diagonal block is ab itself
      } else if (ws.block_known[b]) {
        ba = ab.transpose();
      } else if (ws.block_known[a]) {
        ab = ba.transpose();
      } else {
        ab.setZero();
        ba.setZero();
      }
    }
  }
  // The fixed coordinates' rows and columns: zero (not differenced).
  ZeroFixedCoordinates(&ws, i);
  return Status::Ok();
}

int64_t ExactHessian::num_curvature_evaluations() const {
  int64_t count = main_.num_curvature_evaluations;
  for (const Workspace& workspace : workspaces_) count += workspace.num_curvature_evaluations;
  return count;
}

Status ExactHessian::Assemble(HessianModel model, const std::vector<char>* fixed,
                              SymmetricBlockMatrix* hessian) {
  const bool exact = model == HessianModel::EXACT;
  // Gauss-Newton reads Ceres' view, which an EXACT linearisation drops.
  CHECK(exact || linearisation_.keeps_ceres_view());
  fixed_ = fixed != nullptr && std::find(fixed->begin(), fixed->end(), 1) != fixed->end()
               ? fixed
               : nullptr;
  hessian->SetZero();
  const int num_residuals = static_cast<int>(layout_.residuals.size());
  const int num_threads = thread_pool_ == nullptr ? 1 : thread_pool_->num_threads();
  if (num_threads <= 1 || num_residuals < 2) {
    for (int i = 0; i < num_residuals; ++i) {
      Status status = InnerLocalHessian(&main_, i, exact);
      if (!status.ok()) return status;
      hessian->AddInnerLocal(layout_.residuals[i], main_.local_hessian.data());
    }
  } else {
    // Batches of local Hessians computed in parallel (one contiguous range
    // of a batch per task, with that task's workspace), then summed in
    // residual order: the same sums as one thread's.
    if (static_cast<int>(workspaces_.size()) < num_threads) workspaces_.resize(num_threads);
    const int batch_size = kBatchPerThread * num_threads;
    if (static_cast<int>(batch_hessians_.size()) < batch_size) batch_hessians_.resize(batch_size);
    std::vector<Status> statuses(num_threads);
    std::vector<int> failed(num_threads);
    for (int begin = 0; begin < num_residuals; begin += batch_size) {
      const int end = std::min(num_residuals, begin + batch_size);
      std::fill(failed.begin(), failed.end(), end);
      thread_pool_->ParallelFor(num_threads, [&](int t) {
        Workspace& ws = workspaces_[t];
        const int length = end - begin;
        const int first = begin + length * t / num_threads;
        const int last = begin + length * (t + 1) / num_threads;
        for (int i = first; i < last; ++i) {
          Status status = InnerLocalHessian(&ws, i, exact);
          if (!status.ok()) {
            statuses[t] = status;
            failed[t] = i;
            return;
          }
          ws.local_hessian.swap(batch_hessians_[i - begin]);
        }
      });
      // The first failure in residual order: each task stops at its first,
      // after every earlier residual of its own.
      const int failed_task = static_cast<int>(
          std::min_element(failed.begin(), failed.end()) - failed.begin());
      if (failed[failed_task] < end) return statuses[failed_task];
      for (int i = begin; i < end; ++i) {
        hessian->AddInnerLocal(layout_.residuals[i], batch_hessians_[i - begin].data());
      }
    }
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
