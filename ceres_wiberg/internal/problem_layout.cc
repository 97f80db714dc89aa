#include "ceres_wiberg/internal/problem_layout.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include "ceres/cost_function.h"
#include "ceres/manifold.h"
#include "glog/logging.h"

namespace ceres_wiberg {
namespace internal {
namespace {

bool AllFinite(const double* x, int n) {
  for (int i = 0; i < n; ++i) {
    if (!std::isfinite(x[i])) return false;
  }
  return true;
}

std::string ResidualName(const ResidualBlockInfo& residual) {
  std::ostringstream out;
  out << "residual block #" << residual.index << " ("
      << residual.num_residuals << " residuals)";
  return out.str();
}

}  // namespace

namespace {

// One entry per parameter block of the problem, all fixed for now.
void AddParameterBlocks(const ceres::Problem& problem, ProblemLayout* layout) {
  std::vector<double*> all;
  problem.GetParameterBlocks(&all);
  for (double* values : all) {
    ParameterBlockInfo info;
    info.values = values;
    info.ambient_size = problem.ParameterBlockSize(values);
    info.tangent_size = info.ambient_size;
    layout->block_index[values] = static_cast<int>(layout->blocks.size());
    layout->blocks.push_back(info);
  }
}

// Which blocks appear in some residual block, from one pass over the
// residuals (Problem::GetResidualBlocksForParameterBlock scans them all for
// every call unless enable_fast_removal is set).
std::vector<bool> BlocksInResiduals(const ceres::Problem& problem,
                                    const std::vector<ceres::ResidualBlockId>& residual_ids,
                                    const ProblemLayout& layout) {
  std::vector<bool> in_residual(layout.blocks.size(), false);
  std::vector<double*> parameters;
  for (ceres::ResidualBlockId id : residual_ids) {
    problem.GetParameterBlocksForResidualBlock(id, &parameters);
    for (double* values : parameters) in_residual[layout.block_index.at(values)] = true;
  }
  return in_residual;
}

// Gives `blocks` the role `role` ("inner" or "learnable" in names), their
// offsets in y or w, and their names.
Status AssignRole(const ceres::Problem& problem, const std::vector<double*>& blocks,
                  BlockRole role, const std::vector<bool>& in_residual,
                  const BlockNamer& describe, ProblemLayout* layout) {
  const bool inner = role == BlockRole::kInner;
  for (size_t i = 0; i < blocks.size(); ++i) {
    const int index = layout->block_index.at(blocks[i]);
    ParameterBlockInfo& info = layout->blocks[index];
    info.role = role;
    info.name = describe(blocks[i], inner ? "inner" : "learnable", static_cast<int>(i),
                         info.ambient_size);
    if (!in_residual[index]) return InvalidArgumentError(info.name + " is in no residual block");
    // Ceres reports an unbounded side as -/+ max().
    constexpr double kUnbounded = std::numeric_limits<double>::max();
    constexpr double kInfinity = std::numeric_limits<double>::infinity();
    std::vector<double> lower(info.ambient_size), upper(info.ambient_size);
    bool bounded = false;
    for (int k = 0; k < info.ambient_size; ++k) {
      lower[k] = problem.GetParameterLowerBound(blocks[i], k);
      upper[k] = problem.GetParameterUpperBound(blocks[i], k);
      bounded |= lower[k] > -kUnbounded || upper[k] < kUnbounded;
      if (lower[k] <= -kUnbounded) lower[k] = -kInfinity;
      if (upper[k] >= kUnbounded) upper[k] = kInfinity;
    }
    const bool has_manifold = problem.HasManifold(blocks[i]);
    if (!inner && (has_manifold || bounded)) {
      return InvalidArgumentError(
          info.name + " has " + (has_manifold ? "a manifold" : "bounds") +
          " in the inner problem, where learnable blocks are held constant: " +
          (has_manifold ? "the manifold" : "the bounds") +
          " would be ignored, and dy*/dw is taken in w's ambient coordinates. Remove " +
          (has_manifold ? "it" : "them") +
          " here and set " + (has_manifold ? "it" : "them") +
          " on the outer problem (WibergCostFunction: Ceres then keeps the outer steps "
          "feasible and the derivatives in the tangent space), or use "
          "StochasticLearner::Options lower_bounds/upper_bounds");
    }
    if (inner && has_manifold && bounded) {
      return InvalidArgumentError(
          info.name +
          " has both a manifold and bounds: not supported (bounds on the ambient values of a "
          "manifold do not fix tangent coordinates at an active bound); remove one of them");
    }
    if (inner) {
      if (bounded) {
        info.lower_bounds = std::move(lower);
        info.upper_bounds = std::move(upper);
        layout->has_bounds = true;
      }
      info.manifold = problem.GetManifold(blocks[i]);
      info.tangent_size = problem.ParameterBlockTangentSize(blocks[i]);
      info.offset = layout->num_inner;
      layout->num_inner += info.tangent_size;
      layout->num_inner_ambient += info.ambient_size;
      layout->inner_blocks.push_back(index);
    } else {
      info.offset = layout->num_learnable;
      layout->num_learnable += info.ambient_size;
      layout->learnable_blocks.push_back(index);
    }
  }
  return Status::Ok();
}

// The residual block's blocks and local columns (inner tangent, learnable
// ambient, in the cost function's order).
ResidualBlockInfo DescribeResidualBlock(const ceres::Problem& problem, ceres::ResidualBlockId id,
                                        int index, const ProblemLayout& layout) {
  ResidualBlockInfo residual;
  residual.index = index;
  residual.cost_function = problem.GetCostFunctionForResidualBlock(id);
  residual.loss_function = problem.GetLossFunctionForResidualBlock(id);
  residual.num_residuals = residual.cost_function->num_residuals();
  std::vector<double*> parameters;
  problem.GetParameterBlocksForResidualBlock(id, &parameters);
  residual.blocks.reserve(parameters.size());
  residual.local_offset.reserve(parameters.size());
  residual.inner_offset.reserve(parameters.size());
  for (double* values : parameters) {
    const int block = layout.block_index.at(values);
    const ParameterBlockInfo& info = layout.blocks[block];
    residual.blocks.push_back(block);
    if (info.role == BlockRole::kFixed) {
      residual.local_offset.push_back(-1);
      residual.inner_offset.push_back(-1);
      continue;
    }
    if (info.role == BlockRole::kInner) {
      residual.inner_offset.push_back(residual.num_inner_local);
      residual.num_inner_local += info.tangent_size;
    } else {
      residual.inner_offset.push_back(-1);
    }
    residual.has_learnable |= info.role == BlockRole::kLearnable;
    residual.local_offset.push_back(residual.num_local);
    residual.num_local += info.local_size();
  }
  residual.num_differenced_blocks = static_cast<int>(residual.blocks.size());
  // A learnable loss is differentiated analytically unless a Ceres loss is
  // passed as well or a or m is an inner block (then the generic path).
  const auto* learnable_loss =
      dynamic_cast<const LearnableLossCostFunction*>(residual.cost_function);
  if (learnable_loss != nullptr && residual.loss_function == nullptr) {
    bool loss_block_inner =
        layout.blocks[residual.blocks[learnable_loss->scale_block_index()]].role ==
        BlockRole::kInner;
    if (learnable_loss->has_weight_block()) {
      loss_block_inner |=
          layout.blocks[residual.blocks[learnable_loss->weight_block_index()]].role ==
          BlockRole::kInner;
    }
    if (!loss_block_inner) {
      residual.learnable_loss = learnable_loss;
      residual.num_differenced_blocks = learnable_loss->num_wrapped_parameter_blocks();
    }
  }
  residual.second_order = dynamic_cast<const SecondOrderCostFunction*>(
      residual.learnable_loss != nullptr ? &residual.learnable_loss->wrapped_cost_function()
                                         : residual.cost_function);
  residual.zero_curvature =
      residual.second_order != nullptr &&
      dynamic_cast<const LinearCostFunction*>(residual.second_order) != nullptr;
  return residual;
}

}  // namespace

Status BuildProblemLayout(const ceres::Problem& problem, const std::vector<double*>& inner,
                          const std::vector<double*>& learnable, const BlockNamer& describe,
                          ProblemLayout* layout) {
  *layout = ProblemLayout();
  AddParameterBlocks(problem, layout);
  std::vector<ceres::ResidualBlockId> residual_ids;
  problem.GetResidualBlocks(&residual_ids);
  const std::vector<bool> in_residual = BlocksInResiduals(problem, residual_ids, *layout);
  Status status = AssignRole(problem, inner, BlockRole::kInner, in_residual, describe, layout);
  if (!status.ok()) return status;
  status = AssignRole(problem, learnable, BlockRole::kLearnable, in_residual, describe, layout);
  if (!status.ok()) return status;
  int num_fixed = 0;
  for (ParameterBlockInfo& info : layout->blocks) {
    if (info.role == BlockRole::kFixed) {
      info.name = describe(info.values, "fixed", num_fixed++, info.ambient_size);
    }
  }
  // Residual blocks on no inner block do not depend on y: left out.
  layout->residuals.reserve(residual_ids.size());
  for (size_t r = 0; r < residual_ids.size(); ++r) {
    ResidualBlockInfo residual =
        DescribeResidualBlock(problem, residual_ids[r], static_cast<int>(r), *layout);
    if (residual.num_inner_local > 0) layout->residuals.push_back(std::move(residual));
  }
  return Status::Ok();
}

namespace {

// The error of CheckEvaluation: a NaN or infinite residual (j < 0) or
// entry of the Jacobian with respect to block j. Out of line, so that the
// check (once per residual block evaluation) builds no message frame.
[[gnu::noinline]] Status NonFiniteEvaluation(const ProblemLayout& layout,
                                             const ResidualBlockInfo& residual, const char* what,
                                             int j) {
  if (j < 0) {
    return NumericalFailureError(std::string(what) + ResidualName(residual) +
                                 " has a NaN or infinite residual");
  }
  return NumericalFailureError(std::string("the Jacobian of ") + what + ResidualName(residual) +
                               " with respect to " + layout.blocks[residual.blocks[j]].name +
                               " has a NaN or infinite entry");
}

// NaN/Inf checks of the outputs of a residual block's cost function (what =
// "" for the block's own (a C string: no std::string is built per call), "the wrapped cost function of " for the wrapped
// one of a learnable loss), over its first num_blocks blocks.
Status CheckEvaluation(const ProblemLayout& layout, const ResidualBlockInfo& residual,
                       const char* what, int num_blocks, const double* residuals,
                       const double* const* jacobians) {
  if (!AllFinite(residuals, residual.num_residuals)) {
    return NonFiniteEvaluation(layout, residual, what, -1);
  }
  if (jacobians == nullptr) return Status::Ok();
  for (int j = 0; j < num_blocks; ++j) {
    if (jacobians[j] == nullptr) continue;
    const ParameterBlockInfo& block = layout.blocks[residual.blocks[j]];
    if (!AllFinite(jacobians[j], residual.num_residuals * block.ambient_size)) {
      return NonFiniteEvaluation(layout, residual, what, j);
    }
  }
  return Status::Ok();
}

Status EvaluationFailed(const ResidualBlockInfo& residual, const char* what) {
  return NumericalFailureError(std::string(what[0] == '\0' ? "the cost function of " : what) +
                               ResidualName(residual) +
                               " returned false (evaluation failed)");
}

constexpr char kWrapped[] = "the wrapped cost function of ";

}  // namespace

Status EvaluateResidualBlock(const ProblemLayout& layout,
                             const ResidualBlockInfo& residual,
                             const double* const* parameters,
                             double* residuals, double** jacobians) {
  if (!residual.cost_function->Evaluate(parameters, residuals, jacobians)) {
    return EvaluationFailed(residual, "");
  }
  return CheckEvaluation(layout, residual, "", static_cast<int>(residual.blocks.size()),
                         residuals, jacobians);
}

Status EvaluateResidualBlockWithWrapped(const ProblemLayout& layout,
                                        const ResidualBlockInfo& residual,
                                        const double* const* parameters, double* residuals,
                                        double** jacobians, double* wrapped_residuals,
                                        double* const* wrapped_jacobians) {
  CHECK(residual.learnable_loss != nullptr);
  if (!residual.learnable_loss->EvaluateWithWrapped(parameters, residuals, jacobians,
                                                    wrapped_residuals, wrapped_jacobians)) {
    return EvaluationFailed(residual, "");
  }
  Status status = CheckEvaluation(layout, residual, kWrapped, residual.num_differenced_blocks,
                                  wrapped_residuals, wrapped_jacobians);
  if (!status.ok()) return status;
  return CheckEvaluation(layout, residual, "", static_cast<int>(residual.blocks.size()),
                         residuals, jacobians);
}

Status EvaluateDifferencedResidualBlock(const ProblemLayout& layout,
                                        const ResidualBlockInfo& residual,
                                        const double* const* parameters,
                                        double* residuals, double** jacobians) {
  if (residual.learnable_loss == nullptr) {
    return EvaluateResidualBlock(layout, residual, parameters, residuals, jacobians);
  }
  if (!residual.learnable_loss->wrapped_cost_function().Evaluate(parameters, residuals,
                                                                 jacobians)) {
    return EvaluationFailed(residual, kWrapped);
  }
  return CheckEvaluation(layout, residual, kWrapped, residual.num_differenced_blocks,
                         residuals, jacobians);
}

Status EvaluateDifferencedCurvature(const ResidualBlockInfo& residual,
                                    const double* const* parameters, const double* weights,
                                    double* hessian, int ambient_size) {
  CHECK(residual.second_order != nullptr);
  const char* what = residual.learnable_loss != nullptr ? kWrapped : "the cost function of ";
  if (!residual.second_order->EvaluateCurvature(parameters, weights, hessian)) {
    return NumericalFailureError(std::string("the curvature of ") + what +
                                 ResidualName(residual) +
                                 " could not be evaluated (EvaluateCurvature returned false)");
  }
  if (!AllFinite(hessian, ambient_size * ambient_size)) {
    return NumericalFailureError(std::string("the curvature of ") + what +
                                 ResidualName(residual) + " has a NaN or infinite entry");
  }
  return Status::Ok();
}

Status ApplyInnerStep(const ProblemLayout& layout, const Eigen::VectorXd& step) {
  for (int b : layout.inner_blocks) {
    const ParameterBlockInfo& block = layout.blocks[b];
    const Eigen::VectorXd delta = step.segment(block.offset, block.tangent_size);
    Eigen::Map<Eigen::VectorXd> x(block.values, block.ambient_size);
    if (block.manifold == nullptr) {
      x += delta;
      continue;
    }
    Eigen::VectorXd moved(block.ambient_size);
    if (!block.manifold->Plus(block.values, delta.data(), moved.data()) || !moved.allFinite()) {
      return NumericalFailureError("the manifold Plus of " + block.name + " failed");
    }
    x = moved;
  }
  if (!layout.has_bounds) return Status::Ok();
  for (int b : layout.inner_blocks) {
    const ParameterBlockInfo& block = layout.blocks[b];
    if (block.lower_bounds.empty()) continue;
    for (int k = 0; k < block.ambient_size; ++k) {
      block.values[k] =
          std::min(std::max(block.values[k], block.lower_bounds[k]), block.upper_bounds[k]);
    }
  }
  return Status::Ok();
}

void FindActiveBounds(const ProblemLayout& layout, const Eigen::VectorXd& gradient,
                      double tolerance, ActiveBounds* bounds) {
  bounds->active.assign(layout.num_inner, 0);
  bounds->num_active = 0;
  bounds->min_multiplier = 0.0;
  if (!layout.has_bounds) return;
  double min_multiplier = std::numeric_limits<double>::infinity();
  for (int b : layout.inner_blocks) {
    const ParameterBlockInfo& block = layout.blocks[b];
    if (block.lower_bounds.empty()) continue;
    for (int k = 0; k < block.ambient_size; ++k) {
      const double y = block.values[k];
      const double l = block.lower_bounds[k];
      const double u = block.upper_bounds[k];
      const double g = gradient[block.offset + k];
      const bool at_lower = std::isfinite(l) && y - l <= tolerance * std::max(std::abs(l), std::abs(y));
      const bool at_upper = std::isfinite(u) && u - y <= tolerance * std::max(std::abs(u), std::abs(y));
      const bool active = (at_lower && at_upper) || (at_lower && g >= 0.0) || (at_upper && g <= 0.0);
      if (!active) continue;
      bounds->active[block.offset + k] = 1;
      ++bounds->num_active;
      min_multiplier = std::min(min_multiplier, std::abs(g));
    }
  }
  if (bounds->num_active > 0) bounds->min_multiplier = min_multiplier;
}

}  // namespace internal
}  // namespace ceres_wiberg
