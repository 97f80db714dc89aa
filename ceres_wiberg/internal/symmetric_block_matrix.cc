#include "ceres_wiberg/internal/symmetric_block_matrix.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "glog/logging.h"

namespace ceres_wiberg {
namespace internal {

SymmetricBlockMatrix::SymmetricBlockMatrix(const ProblemLayout& layout)
    : layout_(layout), position_(layout.blocks.size(), -1) {
  const int n = static_cast<int>(layout.inner_blocks.size());
  for (int p = 0; p < n; ++p) position_[layout.inner_blocks[p]] = p;
  std::vector<std::vector<int>> neighbours(n);
  for (int p = 0; p < n; ++p) neighbours[p].push_back(p);
  for (const ResidualBlockInfo& residual : layout.residuals) {
    for (int a : residual.blocks) {
      for (int b : residual.blocks) {
        const int p = position_[a];
        const int q = position_[b];
        if (p >= 0 && q > p) neighbours[p].push_back(q);
      }
    }
  }
  pairs_.resize(n);
  int64_t offset = 0;
  for (int p = 0; p < n; ++p) {
    std::vector<int>& row = neighbours[p];
    std::sort(row.begin(), row.end());
    row.erase(std::unique(row.begin(), row.end()), row.end());
    const int t_p = layout.blocks[layout.inner_blocks[p]].tangent_size;
    for (int q : row) {
      pairs_[p].emplace_back(q, offset);
      offset += static_cast<int64_t>(t_p) *
                layout.blocks[layout.inner_blocks[q]].tangent_size;
    }
  }
  num_values_ = offset;
  values_.assign(offset, 0.0);
}

void SymmetricBlockMatrix::SetZero() { values_.assign(num_values_, 0.0); }

void SymmetricBlockMatrix::Release() { std::vector<double>().swap(values_); }

int64_t SymmetricBlockMatrix::PairOffset(int row, int col) const {
  const auto& row_pairs = pairs_[row];
  // A row's diagonal block comes first.
  if (col == row) return row_pairs.front().second;
  auto it = std::lower_bound(row_pairs.begin(), row_pairs.end(),
                             std::make_pair(col, int64_t{-1}));
  CHECK(it != row_pairs.end() && it->first == col);
  return it->second;
}

void SymmetricBlockMatrix::AddInnerLocal(const ResidualBlockInfo& residual,
                                         const double* local) {
  const int n = residual.num_inner_local;
  // One inner block (the residual blocks of tiny problems, of images' pixels):
  // local is its diagonal block, added as the pairs' loop below adds it.
  for (size_t a = 0; a < residual.blocks.size(); ++a) {
    const int p = position_[residual.blocks[a]];
    if (p < 0) continue;
    if (layout_.blocks[residual.blocks[a]].tangent_size != n) break;  // more than one
    double* out = &values_[pairs_[p].front().second];
    for (int i = 0; i < n * n; ++i) out[i] += local[i];
    return;
  }
  for (size_t a = 0; a < residual.blocks.size(); ++a) {
    const int p = position_[residual.blocks[a]];
    if (p < 0) continue;
    for (size_t b = 0; b < residual.blocks.size(); ++b) {
      const int q = position_[residual.blocks[b]];
      if (q < p) continue;
      const int t_p = layout_.blocks[residual.blocks[a]].tangent_size;
      const int t_q = layout_.blocks[residual.blocks[b]].tangent_size;
      double* out = &values_[PairOffset(p, q)];
      const double* in = local + residual.inner_offset[a] * n + residual.inner_offset[b];
      for (int i = 0; i < t_p; ++i) {
        for (int j = 0; j < t_q; ++j) out[i * t_q + j] += in[i * n + j];
      }
    }
  }
}

void SymmetricBlockMatrix::AddToDiagonalBlock(int block, const double* matrix) {
  const int p = position_[block];
  CHECK_GE(p, 0);
  const int t = layout_.blocks[block].tangent_size;
  double* out = &values_[PairOffset(p, p)];
  for (int i = 0; i < t * t; ++i) out[i] += matrix[i];
}

Eigen::MatrixXd SymmetricBlockMatrix::ToDense() const {
  CHECK(!is_released()) << "ToDense after Release";
  Eigen::MatrixXd dense = Eigen::MatrixXd::Zero(layout_.num_inner, layout_.num_inner);
  for (size_t p = 0; p < pairs_.size(); ++p) {
    const ParameterBlockInfo& row = layout_.blocks[layout_.inner_blocks[p]];
    for (const auto& [q, offset] : pairs_[p]) {
      const ParameterBlockInfo& col = layout_.blocks[layout_.inner_blocks[q]];
      for (int i = 0; i < row.tangent_size; ++i) {
        for (int j = 0; j < col.tangent_size; ++j) {
          const double value = values_[offset + i * col.tangent_size + j];
          dense(row.offset + i, col.offset + j) = value;
          dense(col.offset + j, row.offset + i) = value;
        }
      }
    }
  }
  return dense;
}

Eigen::SparseMatrix<double> SymmetricBlockMatrix::ToSparseUpper() const {
  Eigen::SparseMatrix<double> sparse;
  ToSparseUpper(&sparse);
  return sparse;
}

bool SymmetricBlockMatrix::ToSparseUpper(Eigen::SparseMatrix<double>* sparse) const {
  CHECK(!is_released()) << "ToSparseUpper after Release";
  // Compressed columns written directly (no triplets: their list and
  // setFromTriplets' transposed copy would triple the peak memory of a
  // large H). Entries of column c come in increasing block position p, then
  // i, i.e. increasing row where offsets increase with position.
  const int n = layout_.num_inner;
  // The upper triangle's entries (column, row, value), in the order of the
  // pairs.
  auto walk = [&](auto&& visit) {
    for (size_t p = 0; p < pairs_.size(); ++p) {
      const ParameterBlockInfo& row = layout_.blocks[layout_.inner_blocks[p]];
      for (const auto& [q, offset] : pairs_[p]) {
        const ParameterBlockInfo& col = layout_.blocks[layout_.inner_blocks[q]];
        for (int i = 0; i < row.tangent_size; ++i) {
          for (int j = (static_cast<int>(p) == q ? i : 0); j < col.tangent_size; ++j) {
            visit(col.offset + j, row.offset + i, values_[offset + i * col.tangent_size + j]);
          }
        }
      }
    }
  };
  // Each column's count, block by block: a diagonal block's column j has
  // j + 1 entries in the upper triangle, an off-diagonal one all its rows.
  std::vector<int64_t> start(n + 1, 0);
  for (size_t p = 0; p < pairs_.size(); ++p) {
    const ParameterBlockInfo& row = layout_.blocks[layout_.inner_blocks[p]];
    for (const auto& pair : pairs_[p]) {
      const int q = pair.first;
      const ParameterBlockInfo& col = layout_.blocks[layout_.inner_blocks[q]];
      for (int j = 0; j < col.tangent_size; ++j) {
        start[col.offset + j + 1] += static_cast<int>(p) == q ? j + 1 : row.tangent_size;
      }
    }
  }
  for (int c = 0; c < n; ++c) start[c + 1] += start[c];
  // Each entry's place in the columns, its row and value.
  auto for_each_entry = [&](auto&& visit) {
    std::vector<int64_t> next(start.begin(), start.end() - 1);
    walk([&](int column, int row, double value) { visit(next[column]++, row, value); });
  };
  // The kept pattern: the same dimensions, column starts and rows.
  bool same_pattern = n > 0 && sparse->isCompressed() && sparse->rows() == n &&
                      sparse->cols() == n && sparse->nonZeros() == start[n];
  for (int c = 0; same_pattern && c <= n; ++c) {
    same_pattern = sparse->outerIndexPtr()[c] == start[c];
  }
  if (same_pattern) {
    // The values written while the rows are compared (one walk); a
    // mismatch rebuilds the matrix below.
    const int* inner = sparse->innerIndexPtr();
    double* values = sparse->valuePtr();
    for_each_entry([&](int64_t k, int row, double value) {
      same_pattern = same_pattern && inner[k] == row;
      values[k] = value;
    });
    if (same_pattern) return true;
  }
  // The old storage freed first (swapped out: assigning would keep its
  // capacity).
  Eigen::SparseMatrix<double>(n, n).swap(*sparse);
  sparse->resizeNonZeros(static_cast<Eigen::Index>(start[n]));
  int* inner = sparse->innerIndexPtr();
  double* values = sparse->valuePtr();
  for_each_entry([inner, values](int64_t k, int row, double value) {
    inner[k] = row;
    values[k] = value;
  });
  bool sorted = true;
  for (int c = 0; c < n; ++c) {
    sparse->outerIndexPtr()[c] = static_cast<int>(start[c]);
    for (int64_t k = start[c] + 1; k < start[c + 1]; ++k) sorted = sorted && inner[k - 1] < inner[k];
  }
  sparse->outerIndexPtr()[n] = static_cast<int>(start[n]);
  if (!sorted) {
    // Offsets not increasing with position: sort each column by row.
    const Eigen::SparseMatrix<double, Eigen::RowMajor> transposed = *sparse;
    Eigen::SparseMatrix<double>(transposed).swap(*sparse);
  }
  return false;
}

}  // namespace internal
}  // namespace ceres_wiberg
