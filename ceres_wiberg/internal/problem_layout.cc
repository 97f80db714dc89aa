#include "ceres_wiberg/internal/problem_layout.h"

#include <cmath>
#include <sstream>

#include "ceres/cost_function.h"
#include "ceres/manifold.h"

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

Status EvaluateResidualBlock(const ProblemLayout& layout,
                             const ResidualBlockInfo& residual,
                             const double* const* parameters,
                             double* residuals, double** jacobians) {
  if (!residual.cost_function->Evaluate(parameters, residuals, jacobians)) {
    return NumericalFailureError("the cost function of " +
                                 ResidualName(residual) +
                                 " returned false (evaluation failed)");
  }
  if (!AllFinite(residuals, residual.num_residuals)) {
    return NumericalFailureError(ResidualName(residual) +
                                 " has a NaN or infinite residual");
  }
  if (jacobians == nullptr) return Status::Ok();
  for (size_t j = 0; j < residual.blocks.size(); ++j) {
    if (jacobians[j] == nullptr) continue;
    const ParameterBlockInfo& block = layout.blocks[residual.blocks[j]];
    if (!AllFinite(jacobians[j], residual.num_residuals * block.ambient_size)) {
      return NumericalFailureError("the Jacobian of " + ResidualName(residual) +
                                   " with respect to " + block.name +
                                   " has a NaN or infinite entry");
    }
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
  return Status::Ok();
}

}  // namespace internal
}  // namespace ceres_wiberg
