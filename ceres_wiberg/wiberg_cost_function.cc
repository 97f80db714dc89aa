#include "ceres_wiberg/wiberg_cost_function.h"

#include "ceres_wiberg/internal/problem_layout.h"
#include "glog/logging.h"

namespace ceres_wiberg {

WibergCostFunction::WibergCostFunction(BilevelExample* example) : example_(example) {
  CHECK(example != nullptr);
  set_num_residuals(example->num_residuals());
  const internal::ProblemLayout& layout = example->problem()->layout();
  for (int b : layout.learnable_blocks) {
    mutable_parameter_block_sizes()->push_back(layout.blocks[b].ambient_size);
  }
}

bool WibergCostFunction::Evaluate(double const* const* parameters, double* residuals,
                                  double** jacobians) const {
  const internal::ProblemLayout& layout = example_->problem()->layout();
  Eigen::VectorXd w(layout.num_learnable);
  for (size_t k = 0; k < layout.learnable_blocks.size(); ++k) {
    const internal::ParameterBlockInfo& block = layout.blocks[layout.learnable_blocks[k]];
    w.segment(block.offset, block.ambient_size) =
        Eigen::Map<const Eigen::VectorXd>(parameters[k], block.ambient_size);
  }
  Eigen::VectorXd r;
  Eigen::MatrixXd J_r_w;
  Status status = example_->Evaluate(w, &r, jacobians != nullptr ? &J_r_w : nullptr);
  {
    std::lock_guard<std::mutex> lock(status_mutex_);
    last_status_ = status;
  }
  if (!status.ok()) return false;
  Eigen::Map<Eigen::VectorXd>(residuals, num_residuals()) = r;
  if (jacobians == nullptr) return true;
  for (size_t k = 0; k < layout.learnable_blocks.size(); ++k) {
    if (jacobians[k] == nullptr) continue;
    const internal::ParameterBlockInfo& block = layout.blocks[layout.learnable_blocks[k]];
    Eigen::Map<Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
        jacobians[k], num_residuals(), block.ambient_size) =
        J_r_w.middleCols(block.offset, block.ambient_size);
  }
  return true;
}

Status WibergCostFunction::last_status() const {
  std::lock_guard<std::mutex> lock(status_mutex_);
  return last_status_;
}

}  // namespace ceres_wiberg
