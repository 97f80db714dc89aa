#include "ceres_wiberg/linear_cost_function.h"

#include <algorithm>

#include "glog/logging.h"

namespace ceres_wiberg {

LinearCostFunction::LinearCostFunction(ceres::CostFunction* cost_function,
                                       ceres::Ownership ownership)
    : cost_function_(cost_function), ownership_(ownership) {
  CHECK(cost_function != nullptr);
  set_num_residuals(cost_function->num_residuals());
  *mutable_parameter_block_sizes() = cost_function->parameter_block_sizes();
}

LinearCostFunction::~LinearCostFunction() {
  if (ownership_ == ceres::DO_NOT_TAKE_OWNERSHIP) cost_function_.release();
}

bool LinearCostFunction::EvaluateCurvature(double const* const* /*parameters*/,
                                           const double* /*weights*/, double* hessian) const {
  int size = 0;
  for (int32_t block_size : parameter_block_sizes()) size += block_size;
  std::fill(hessian, hessian + size * size, 0.0);
  return true;
}

}  // namespace ceres_wiberg
