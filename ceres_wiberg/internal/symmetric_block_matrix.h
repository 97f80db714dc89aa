// ceres_wiberg internal: the n_y x n_y Hessian stored by inner-block pairs.
// Only pairs of inner blocks that share a residual block are stored, each once
// (upper block triangle), so the sparsity of the problem is kept; ToDense and
// ToSparseUpper convert for the dense and sparse solvers, after which Release
// frees the values (so that H is held once, by the solver) until the next
// SetZero.

#ifndef CERES_WIBERG_INTERNAL_SYMMETRIC_BLOCK_MATRIX_H_
#define CERES_WIBERG_INTERNAL_SYMMETRIC_BLOCK_MATRIX_H_

#include <cstdint>
#include <utility>
#include <vector>

#include "Eigen/Core"
#include "Eigen/SparseCore"
#include "ceres_wiberg/internal/problem_layout.h"

namespace ceres_wiberg {
namespace internal {

class SymmetricBlockMatrix {
 public:
  explicit SymmetricBlockMatrix(const ProblemLayout& layout);

  // Zeroes the values (allocating them again after Release).
  void SetZero();
  // Frees the values; ToDense and ToSparseUpper need a SetZero (and the sums)
  // first.
  void Release();
  bool is_released() const { return values_.empty() && num_values_ > 0; }
  // Adds a symmetric matrix over the inner local columns of residual block
  // `residual` (num_inner_local x num_inner_local, row-major, blocks at
  // residual.inner_offset).
  void AddInnerLocal(const ResidualBlockInfo& residual, const double* local);
  // Adds a tangent x tangent row-major matrix to the diagonal block of inner
  // block `block` (index into layout.blocks).
  void AddToDiagonalBlock(int block, const double* matrix);

  // Both triangles filled.
  Eigen::MatrixXd ToDense() const;
  // Upper triangle only, compressed column.
  Eigen::SparseMatrix<double> ToSparseUpper() const;
  // The same into *sparse: when it has this pattern already (the same
  // dimensions and indices), only its values are written, in place (no
  // second copy of H), and the result is true; otherwise its storage is
  // freed and replaced, and the result is false.
  bool ToSparseUpper(Eigen::SparseMatrix<double>* sparse) const;

 private:
  // Value offset of the (row block, col block) pair, positions in inner order.
  int64_t PairOffset(int row, int col) const;

  const ProblemLayout& layout_;
  std::vector<int> position_;  // layout block index -> position in inner order
  // For each inner position p: (q, value offset) for q >= p, sorted by q.
  std::vector<std::vector<std::pair<int, int64_t>>> pairs_;
  std::vector<double> values_;  // each pair: t_p x t_q row-major
  int64_t num_values_ = 0;      // values_'s size when not released
};

}  // namespace internal
}  // namespace ceres_wiberg

#endif  // CERES_WIBERG_INTERNAL_SYMMETRIC_BLOCK_MATRIX_H_
