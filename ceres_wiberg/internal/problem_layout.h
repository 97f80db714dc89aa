// ceres_wiberg internal: how the blocks and residuals of a ceres::Problem map
// onto y (inner, tangent coordinates) and w (learnable, ambient coordinates),
// and the evaluation of one residual block at arbitrary parameter values.

#ifndef CERES_WIBERG_INTERNAL_PROBLEM_LAYOUT_H_
#define CERES_WIBERG_INTERNAL_PROBLEM_LAYOUT_H_

#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "Eigen/Core"
#include "ceres/problem.h"
#include "ceres_wiberg/status.h"

namespace ceres_wiberg {
namespace internal {

enum class BlockRole { kInner, kLearnable, kFixed };

struct ParameterBlockInfo {
  double* values = nullptr;
  int ambient_size = 0;
  // Tangent size for inner blocks with a manifold, else the ambient size.
  int tangent_size = 0;
  // The block's manifold if it is an inner block with one, else null.
  const ceres::Manifold* manifold = nullptr;
  BlockRole role = BlockRole::kFixed;
  // Inner: offset in y. Learnable: offset in w. Fixed: -1.
  int offset = -1;
  std::string name;

  // Columns this block contributes to a local Jacobian.
  int local_size() const {
    return role == BlockRole::kInner       ? tangent_size
           : role == BlockRole::kLearnable ? ambient_size
                                           : 0;
  }
};

struct ResidualBlockInfo {
  int index = 0;  // position in Problem::GetResidualBlocks, for messages
  const ceres::CostFunction* cost_function = nullptr;
  const ceres::LossFunction* loss_function = nullptr;
  int num_residuals = 0;
  // Indices into ProblemLayout::blocks, in the cost function's order.
  std::vector<int> blocks;
  // Column of each block in the local Jacobian, -1 for fixed blocks. Local
  // columns are the inner blocks' tangent and learnable blocks' ambient
  // coordinates, in the cost function's order.
  std::vector<int> local_offset;
  int num_local = 0;
  // Column of each inner block among the inner local columns only (the
  // local columns with the learnable blocks left out), -1 for other blocks.
  std::vector<int> inner_offset;
  int num_inner_local = 0;
  bool has_learnable = false;
};

// Built once per BilevelProblem. Only residual blocks that touch at least one
// inner block are kept: the others do not depend on y.
class ProblemLayout {
 public:
  std::vector<ParameterBlockInfo> blocks;
  std::vector<int> inner_blocks;      // indices into blocks, in y order
  std::vector<int> learnable_blocks;  // indices into blocks, in w order
  std::vector<ResidualBlockInfo> residuals;
  std::unordered_map<const double*, int> block_index;
  int num_inner = 0;       // n_y
  int num_learnable = 0;   // n_w
  int num_inner_ambient = 0;
};

// The name of a block in messages, from its values, role ("inner",
// "learnable", "fixed"), index among the blocks of that role, and size (-1:
// not shown).
using BlockNamer =
    std::function<std::string(const double* values, const char* role, int index, int size)>;

// Builds the layout of `problem` with the given inner blocks (y order) and
// learnable blocks (w order); every other block is fixed. The lists must
// already be checked (in the problem, distinct, disjoint). kInvalidArgument
// naming the block if an inner or learnable block is in no residual block.
Status BuildProblemLayout(const ceres::Problem& problem, const std::vector<double*>& inner,
                          const std::vector<double*>& learnable, const BlockNamer& describe,
                          ProblemLayout* layout);

// Evaluates residual block `residual` at the parameter values `parameters`
// (one pointer per block of the cost function). `jacobians` follows Ceres'
// convention (row-major, ambient, may be null or hold nulls). Returns
// kNumericalFailure naming the residual and block when the cost function
// fails or returns a NaN/Inf residual or Jacobian entry.
Status EvaluateResidualBlock(const ProblemLayout& layout,
                             const ResidualBlockInfo& residual,
                             const double* const* parameters,
                             double* residuals, double** jacobians);

// y <- y (+) step: moves every inner block by its segment of `step` (tangent
// coordinates, y order), through the block's manifold Plus where it has one.
// kNumericalFailure naming the block if a Plus fails or is not finite.
Status ApplyInnerStep(const ProblemLayout& layout, const Eigen::VectorXd& step);

}  // namespace internal
}  // namespace ceres_wiberg

#endif  // CERES_WIBERG_INTERNAL_PROBLEM_LAYOUT_H_
