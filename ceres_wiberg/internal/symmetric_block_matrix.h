// ceres_wiberg internal: the n_y x n_y Hessian stored by inner-block pairs.
// Only pairs of inner blocks that share a residual block are stored, each once
// (upper block triangle), so the sparsity of the problem is kept; ToDense and
// ToSparseUpper convert for the dense and sparse solvers.

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

  void SetZero();
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

 private:
  // Value offset of the (row block, col block) pair, positions in inner order.
  int64_t PairOffset(int row, int col) const;

  const ProblemLayout& layout_;
  std::vector<int> position_;  // layout block index -> position in inner order
  // For each inner position p: (q, value offset) for q >= p, sorted by q.
  std::vector<std::vector<std::pair<int, int64_t>>> pairs_;
  std::vector<double> values_;  // each pair: t_p x t_q row-major
};

}  // namespace internal
}  // namespace ceres_wiberg

#endif  // CERES_WIBERG_INTERNAL_SYMMETRIC_BLOCK_MATRIX_H_
