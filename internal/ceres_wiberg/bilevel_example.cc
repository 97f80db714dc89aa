#include "ceres_wiberg/bilevel_example.h"

#include <sstream>

#include "ceres/manifold.h"
#include "ceres_wiberg/problem_layout.h"
#include "glog/logging.h"

namespace ceres_wiberg {
namespace {

using internal::BlockRole;
using internal::ParameterBlockInfo;
using RowMajorMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

}  // namespace

BilevelExample::Options::Options() {
  inner_solver_options.logging_type = ceres::SILENT;
  derivative_options.final_newton_step = true;
}

BilevelExample::BilevelExample(BilevelProblem* problem, ceres::CostFunction* outer_loss,
                               ceres::Ownership ownership, const Options& options)
    : problem_(problem),
      owned_loss_(ownership == ceres::TAKE_OWNERSHIP ? outer_loss : nullptr),
      outer_loss_(outer_loss),
      options_(options),
      derivative_(options.derivative_options),
      initial_inner_values_(problem->GetInnerValues()) {}

BilevelExample::~BilevelExample() = default;

int BilevelExample::num_residuals() const { return outer_loss_->num_residuals(); }

Status BilevelExample::Create(BilevelProblem* problem, ceres::CostFunction* outer_loss,
                              ceres::Ownership outer_loss_ownership,
                              const std::vector<double*>& outer_loss_blocks,
                              const Options& options, std::unique_ptr<BilevelExample>* example) {
  CHECK(problem != nullptr);
  CHECK(outer_loss != nullptr);
  CHECK(example != nullptr);
  std::unique_ptr<BilevelExample> result(
      new BilevelExample(problem, outer_loss, outer_loss_ownership, options));
  std::string error;
  if (!options.derivative_options.IsValid(&error)) return InvalidArgumentError(error);
  if (!options.inner_solver_options.IsValid(&error)) {
    return InvalidArgumentError("inner_solver_options: " + error);
  }
  const std::vector<int32_t>& sizes = outer_loss->parameter_block_sizes();
  if (sizes.size() != outer_loss_blocks.size()) {
    return InvalidArgumentError("the outer loss has " + std::to_string(sizes.size()) +
                                " parameter blocks but " +
                                std::to_string(outer_loss_blocks.size()) + " were given");
  }
  const internal::ProblemLayout& layout = problem->layout();
  for (size_t j = 0; j < outer_loss_blocks.size(); ++j) {
    auto it = layout.block_index.find(outer_loss_blocks[j]);
    const std::string name = "outer loss block " + std::to_string(j);
    if (it == layout.block_index.end() ||
        layout.blocks[it->second].role == BlockRole::kFixed) {
      return InvalidArgumentError(name + " is neither an inner nor a learnable block of the "
                                         "inner problem");
    }
    if (layout.blocks[it->second].ambient_size != sizes[j]) {
      return InvalidArgumentError(name + " (" + layout.blocks[it->second].name +
                                  ") has size " +
                                  std::to_string(layout.blocks[it->second].ambient_size) +
                                  " but the outer loss expects " + std::to_string(sizes[j]));
    }
  }
  result->outer_loss_blocks_ = outer_loss_blocks;
  *example = std::move(result);
  return Status::Ok();
}

Status BilevelExample::SolveAndEvaluateLoss(const Eigen::VectorXd& w,
                                            Eigen::VectorXd* residuals,
                                            Eigen::MatrixXd* J_r_y,
                                            Eigen::MatrixXd* J_r_w_direct) {
  if (w.size() != problem_->num_learnable_parameters()) {
    return InvalidArgumentError("w has size " + std::to_string(w.size()) + ", not n_w = " +
                                std::to_string(problem_->num_learnable_parameters()));
  }
  if (!w.allFinite()) return NumericalFailureError("w has a NaN or infinite entry");
  problem_->SetLearnableParameters(w);
  problem_->SetInnerValues(options_.warm_start && last_solution_.size() > 0
                               ? last_solution_
                               : initial_inner_values_);
  Status status = problem_->SolveInner(options_.inner_solver_options, &inner_summary_);
  if (!status.ok()) return status;
  status = derivative_.Linearize(problem_, &derivative_summary_);
  if (!status.ok()) return status;
  last_solution_ = problem_->GetInnerValues();

  const internal::ProblemLayout& layout = problem_->layout();
  const int m = outer_loss_->num_residuals();
  const size_t num_blocks = outer_loss_blocks_.size();
  std::vector<const double*> values(outer_loss_blocks_.begin(), outer_loss_blocks_.end());
  std::vector<RowMajorMatrix> jacobians(num_blocks);
  std::vector<double*> jacobian_pointers(num_blocks, nullptr);
  for (size_t j = 0; j < num_blocks; ++j) {
    jacobians[j].resize(m, outer_loss_->parameter_block_sizes()[j]);
    jacobian_pointers[j] = jacobians[j].data();
  }
  residuals->resize(m);
  if (!outer_loss_->Evaluate(values.data(), residuals->data(),
                             J_r_y != nullptr ? jacobian_pointers.data() : nullptr)) {
    return NumericalFailureError("the outer loss failed to evaluate at y*");
  }
  if (!residuals->allFinite()) {
    return NumericalFailureError("the outer loss has a NaN or infinite residual at y*");
  }
  if (J_r_y == nullptr) return Status::Ok();

  *J_r_y = Eigen::MatrixXd::Zero(m, layout.num_inner);
  *J_r_w_direct = Eigen::MatrixXd::Zero(m, layout.num_learnable);
  for (size_t j = 0; j < num_blocks; ++j) {
    const ParameterBlockInfo& block = layout.blocks[layout.block_index.at(outer_loss_blocks_[j])];
    if (!jacobians[j].allFinite()) {
      return NumericalFailureError("the outer loss Jacobian with respect to " + block.name +
                                   " has a NaN or infinite entry");
    }
    if (block.role == BlockRole::kLearnable) {
      J_r_w_direct->middleCols(block.offset, block.ambient_size) += jacobians[j];
    } else if (block.manifold == nullptr) {
      J_r_y->middleCols(block.offset, block.tangent_size) += jacobians[j];
    } else {
      RowMajorMatrix plus_jacobian(block.ambient_size, block.tangent_size);
      if (!block.manifold->PlusJacobian(block.values, plus_jacobian.data())) {
        return NumericalFailureError("the PlusJacobian of " + block.name + " failed");
      }
      J_r_y->middleCols(block.offset, block.tangent_size) += jacobians[j] * plus_jacobian;
    }
  }
  return Status::Ok();
}

Status BilevelExample::Evaluate(const Eigen::VectorXd& w, Eigen::VectorXd* residuals,
                                Eigen::MatrixXd* J_r_w) {
  CHECK(residuals != nullptr);
  std::lock_guard<std::mutex> lock(mutex_);
  Eigen::MatrixXd J_r_y;
  Eigen::MatrixXd J_r_w_direct;
  Status status = SolveAndEvaluateLoss(w, residuals, J_r_w != nullptr ? &J_r_y : nullptr,
                                       &J_r_w_direct);
  if (!status.ok() || J_r_w == nullptr) return status;
  Eigen::MatrixXd J_y_w;
  status = derivative_.Jacobian(&J_y_w);
  if (!status.ok()) return status;
  *J_r_w = J_r_y * J_y_w + J_r_w_direct;
  return Status::Ok();
}

Status BilevelExample::EvaluateLoss(const Eigen::VectorXd& w, double* loss,
                                    Eigen::VectorXd* gradient) {
  CHECK(loss != nullptr);
  std::lock_guard<std::mutex> lock(mutex_);
  Eigen::VectorXd r;
  Eigen::MatrixXd J_r_y;
  Eigen::MatrixXd J_r_w_direct;
  Status status = SolveAndEvaluateLoss(w, &r, gradient != nullptr ? &J_r_y : nullptr,
                                       &J_r_w_direct);
  if (!status.ok()) return status;
  *loss = 0.5 * r.squaredNorm();
  if (gradient == nullptr) return Status::Ok();
  Eigen::VectorXd through_y;
  status = derivative_.VectorJacobianProduct(J_r_y.transpose() * r, &through_y);
  if (!status.ok()) return status;
  *gradient = through_y + J_r_w_direct.transpose() * r;
  return Status::Ok();
}

}  // namespace ceres_wiberg
