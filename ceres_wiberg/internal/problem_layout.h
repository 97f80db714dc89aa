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
#include "ceres_wiberg/learnable_loss.h"
#include "ceres_wiberg/linear_cost_function.h"
#include "ceres_wiberg/second_order_cost_function.h"
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
  // Inner blocks with a Ceres bound (Problem::SetParameterLowerBound /
  // UpperBound) on some coordinate: ambient_size entries each, -inf / +inf
  // where a side is unbounded. Empty for unbounded blocks (and all others).
  // Such blocks have no manifold (BuildProblemLayout refuses both), so their
  // coordinates are y's.
  std::vector<double> lower_bounds;
  std::vector<double> upper_bounds;
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
  // Set when the cost function is a LearnableLossCostFunction, no
  // ceres::LossFunction is passed with it and neither its scale a nor its
  // weight m is an inner block: the exact Hessian and G then differentiate
  // 1/2 m rho(|r|^2; a) analytically and difference only the wrapped cost
  // function's r (Linearisation::exact_*). Null otherwise (the generic path,
  // through r~).
  const LearnableLossCostFunction* learnable_loss = nullptr;
  // Blocks of the cost function that second derivatives are differenced
  // over: the wrapped cost function's (the first n) with a learnable loss,
  // all otherwise.
  int num_differenced_blocks = 0;
  // The differenced cost function (above) when it is a
  // SecondOrderCostFunction: its curvature is then evaluated in closed form
  // (EvaluateDifferencedCurvature), not differenced. Null otherwise.
  const SecondOrderCostFunction* second_order = nullptr;
  // The differenced cost function is a LinearCostFunction: declared affine
  // in all its parameters, so its curvature (for H, G and their products) is
  // zero and nothing is evaluated for it (no probe, no closed form).
  bool zero_curvature = false;
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
  bool has_bounds = false;  // some inner block has bounds
};

// The name of a block in messages, from its values, role ("inner",
// "learnable", "fixed"), index among the blocks of that role, and size (-1:
// not shown).
using BlockNamer =
    std::function<std::string(const double* values, const char* role, int index, int size)>;

// Builds the layout of `problem` with the given inner blocks (y order) and
// learnable blocks (w order); every other block is fixed. The lists must
// already be checked (in the problem, distinct, disjoint). kInvalidArgument
// naming the block if an inner or learnable block is in no residual block, if
// an inner block has both a manifold and bounds (bounds on the ambient values
// of a manifold do not fix tangent coordinates: not supported), or if a
// learnable block has a manifold or bounds in this problem (it is held
// constant in it, so they would be ignored, and w is differentiated in
// ambient coordinates; see bilevel_problem.h).
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

// As EvaluateResidualBlock, for a residual block with a learnable loss
// (residual.learnable_loss not null): also the wrapped cost function's
// residuals and Jacobians (see LearnableLossCostFunction::EvaluateWithWrapped),
// checked for NaN/Inf as well.
Status EvaluateResidualBlockWithWrapped(const ProblemLayout& layout,
                                        const ResidualBlockInfo& residual,
                                        const double* const* parameters, double* residuals,
                                        double** jacobians, double* wrapped_residuals,
                                        double* const* wrapped_jacobians);

// Evaluates the cost function that second derivatives are differenced on:
// the wrapped cost function of a block with a learnable loss (reading the
// first residual.num_differenced_blocks entries of parameters and
// jacobians), else the cost function itself; checks as EvaluateResidualBlock.
Status EvaluateDifferencedResidualBlock(const ProblemLayout& layout,
                                        const ResidualBlockInfo& residual,
                                        const double* const* parameters,
                                        double* residuals, double** jacobians);

// The closed-form curvature sum_k weights[k] d2r_k/dp2 of the differenced
// cost function of a residual block with residual.second_order set, over
// its first residual.num_differenced_blocks blocks' ambient coordinates
// (row-major, `hessian` sized to match). kNumericalFailure naming the
// residual block when EvaluateCurvature returns false or a NaN/Inf entry.
Status EvaluateDifferencedCurvature(const ResidualBlockInfo& residual,
                                    const double* const* parameters, const double* weights,
                                    double* hessian, int ambient_size);

// y <- y (+) step: moves every inner block by its segment of `step` (tangent
// coordinates, y order), through the block's manifold Plus where it has one,
// and projects the bounded blocks onto their bounds (coordinate-wise clamp, as
// Ceres' ParameterBlock::Plus), so that y stays feasible.
// kNumericalFailure naming the block if a Plus fails or is not finite.
Status ApplyInnerStep(const ProblemLayout& layout, const Eigen::VectorXd& step);

// The active set of the bounds at the inner blocks' current values.
//
// Coordinate i of a bounded block is AT its lower bound l when
// y_i - l <= tolerance * max(|l|, |y_i|) (at its upper bound u likewise):
// relative to the bound's own scale, so that units do not matter; a bound at
// 0 needs y_i = 0 exactly, which is what the projections of Ceres and of
// ApplyInnerStep produce. It is ACTIVE when it is at a bound and the gradient
// does not point into the box there: g_i >= 0 at a lower bound, g_i <= 0 at
// an upper one (the KKT multiplier |g_i| is >= 0), or when it is at both
// (l = u). A coordinate at a bound whose gradient points strictly inwards is
// free: y is not a constrained minimiser along it and a Newton step moves it
// inwards. Degenerate case: a zero multiplier (g_i = 0 at the bound) is
// treated as active; y*(w) is then only one-sidedly differentiable, and the
// derivative is that of the side that keeps the coordinate at its bound
// (see min_multiplier).
struct ActiveBounds {
  std::vector<char> active;  // n_y entries, 1 for active coordinates
  int num_active = 0;
  // min |g_i| over the active coordinates (0 if none): near zero relative to
  // the gradient's other entries means a degenerate bound.
  double min_multiplier = 0.0;
};
void FindActiveBounds(const ProblemLayout& layout, const Eigen::VectorXd& gradient,
                      double tolerance, ActiveBounds* bounds);

}  // namespace internal
}  // namespace ceres_wiberg

#endif  // CERES_WIBERG_INTERNAL_PROBLEM_LAYOUT_H_
