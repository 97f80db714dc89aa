#include "ceres_wiberg/bilevel_problem.h"

#include <algorithm>
#include <atomic>
#include <set>
#include <sstream>

#include "ceres/cost_function.h"
#include "ceres/manifold.h"
#include "ceres_wiberg/internal/problem_layout.h"
#include "glog/logging.h"

namespace ceres_wiberg {
namespace {

using internal::BlockRole;
using internal::ParameterBlockInfo;
using internal::ProblemLayout;

std::string DescribeBlock(const BilevelProblem::Options& options,
                          const double* values, const char* role, int index,
                          int size) {
  std::ostringstream out;
  out << role << " block ";
  auto it = options.parameter_block_names.find(values);
  if (it != options.parameter_block_names.end()) {
    out << "'" << it->second << "'";
  } else {
    out << "#" << index << " (" << static_cast<const void*>(values) << ")";
  }
  if (size >= 0) out << " (size " << size << ")";
  return out.str();
}

// Checks a user list of blocks: non-null, in the problem, not repeated.
Status CheckBlockList(const ceres::Problem& problem,
                      const BilevelProblem::Options& options,
                      const std::vector<double*>& list, const char* role) {
  std::set<const double*> seen;
  for (size_t i = 0; i < list.size(); ++i) {
    const double* values = list[i];
    const std::string name =
        DescribeBlock(options, values, role, static_cast<int>(i), -1);
    if (values == nullptr || !problem.HasParameterBlock(values)) {
      return InvalidArgumentError(name + " is not a parameter block of the problem");
    }
    if (!seen.insert(values).second) {
      return InvalidArgumentError(name + " is listed twice");
    }
  }
  return Status::Ok();
}

uint64_t NextBilevelProblemId() {
  static std::atomic<uint64_t> next_id{1};
  return next_id.fetch_add(1);
}

}  // namespace

BilevelProblem::BilevelProblem(ceres::Problem* problem, const Options& options)
    : problem_(problem),
      id_(NextBilevelProblemId()),
      options_(options),
      layout_(std::make_unique<ProblemLayout>()) {}

BilevelProblem::~BilevelProblem() = default;

Status BilevelProblem::Create(
    ceres::Problem* problem,
    const std::vector<double*>& learnable_parameter_blocks,
    std::unique_ptr<BilevelProblem>* bilevel_problem) {
  return Create(problem, learnable_parameter_blocks, Options(), bilevel_problem);
}

Status BilevelProblem::Create(
    ceres::Problem* problem,
    const std::vector<double*>& learnable_parameter_blocks,
    const Options& options, std::unique_ptr<BilevelProblem>* bilevel_problem) {
  CHECK(problem != nullptr);
  CHECK(bilevel_problem != nullptr);
  Status status = CheckBlockList(*problem, options, learnable_parameter_blocks,
                                 "learnable");
  if (!status.ok()) return status;
  status = CheckBlockList(*problem, options, options.inner_parameter_blocks,
                          "inner");
  if (!status.ok()) return status;

  const std::set<const double*> learnable(learnable_parameter_blocks.begin(),
                                          learnable_parameter_blocks.end());
  std::vector<double*> inner = options.inner_parameter_blocks;
  for (size_t i = 0; i < inner.size(); ++i) {
    const std::string name = DescribeBlock(options, inner[i], "inner",
                                           static_cast<int>(i), -1);
    if (learnable.count(inner[i])) {
      return InvalidArgumentError(name +
                                  " is listed as both inner and learnable");
    }
    if (problem->IsParameterBlockConstant(inner[i])) {
      return InvalidArgumentError(name +
                                  " is set constant in the problem; constant "
                                  "blocks cannot be inner variables");
    }
  }
  if (inner.empty()) {
    std::vector<double*> all;
    problem->GetParameterBlocks(&all);
    for (double* values : all) {
      if (!learnable.count(values) && !problem->IsParameterBlockConstant(values)) {
        inner.push_back(values);
      }
    }
  }
  if (inner.empty()) {
    return InvalidArgumentError(
        "the problem has no inner variables: every parameter block is "
        "learnable or constant");
  }

  std::unique_ptr<BilevelProblem> result(new BilevelProblem(problem, options));
  status = internal::BuildProblemLayout(
      *problem, inner, learnable_parameter_blocks,
      [&options](const double* values, const char* role, int index, int size) {
        return DescribeBlock(options, values, role, index, size);
      },
      result->layout_.get());
  if (!status.ok()) return status;
  result->options_.inner_parameter_blocks = inner;
  result->learnable_parameter_blocks_ = learnable_parameter_blocks;
  *bilevel_problem = std::move(result);
  return Status::Ok();
}

Status BilevelProblem::SolveInner(const ceres::Solver::Options& solver_options,
                                  ceres::Solver::Summary* summary) {
  CHECK(summary != nullptr);
  // Hold every variable non-inner block constant, remembering what to undo.
  std::vector<double*> held;
  for (const auto& info : layout_->blocks) {
    if (info.role != BlockRole::kInner &&
        !problem_->IsParameterBlockConstant(info.values)) {
      problem_->SetParameterBlockConstant(info.values);
      held.push_back(info.values);
    }
  }
  ceres::Solve(solver_options, problem_, summary);
  for (double* values : held) problem_->SetParameterBlockVariable(values);

  if (summary->termination_type == ceres::FAILURE) {
    return NumericalFailureError("the inner solve failed: " + summary->message);
  }
  if (summary->termination_type == ceres::USER_FAILURE) {
    return NumericalFailureError("the inner solve was stopped by a callback: " +
                                 summary->message);
  }
  if (options_.require_convergence &&
      summary->termination_type != ceres::CONVERGENCE) {
    return Status(StatusCode::kNoConvergence,
                  "the inner solve did not converge after " +
                      std::to_string(summary->iterations.size()) +
                      " iterations: " + summary->message);
  }
  return Status::Ok();
}

const std::vector<double*>& BilevelProblem::inner_parameter_blocks() const {
  return options_.inner_parameter_blocks;
}

const std::vector<double*>& BilevelProblem::learnable_parameter_blocks() const {
  return learnable_parameter_blocks_;
}

int BilevelProblem::num_inner_parameters() const { return layout_->num_inner; }

int BilevelProblem::num_learnable_parameters() const {
  return layout_->num_learnable;
}

Eigen::VectorXd BilevelProblem::GetLearnableParameters() const {
  Eigen::VectorXd w(layout_->num_learnable);
  for (int index : layout_->learnable_blocks) {
    const ParameterBlockInfo& info = layout_->blocks[index];
    w.segment(info.offset, info.ambient_size) =
        Eigen::Map<const Eigen::VectorXd>(info.values, info.ambient_size);
  }
  return w;
}

void BilevelProblem::SetLearnableParameters(const Eigen::VectorXd& w) {
  CHECK_EQ(w.size(), layout_->num_learnable);
  for (int index : layout_->learnable_blocks) {
    const ParameterBlockInfo& info = layout_->blocks[index];
    Eigen::Map<Eigen::VectorXd>(info.values, info.ambient_size) =
        w.segment(info.offset, info.ambient_size);
  }
}

Eigen::VectorXd BilevelProblem::GetInnerValues() const {
  Eigen::VectorXd values(layout_->num_inner_ambient);
  int offset = 0;
  for (int index : layout_->inner_blocks) {
    const ParameterBlockInfo& info = layout_->blocks[index];
    values.segment(offset, info.ambient_size) =
        Eigen::Map<const Eigen::VectorXd>(info.values, info.ambient_size);
    offset += info.ambient_size;
  }
  return values;
}

void BilevelProblem::SetInnerValues(const Eigen::VectorXd& values) {
  CHECK_EQ(values.size(), layout_->num_inner_ambient);
  int offset = 0;
  for (int index : layout_->inner_blocks) {
    const ParameterBlockInfo& info = layout_->blocks[index];
    Eigen::Map<Eigen::VectorXd>(info.values, info.ambient_size) =
        values.segment(offset, info.ambient_size);
    offset += info.ambient_size;
  }
}

std::string BilevelProblem::BlockName(const double* values) const {
  auto it = layout_->block_index.find(values);
  if (it == layout_->block_index.end()) return "a block not in the problem";
  return layout_->blocks[it->second].name;
}

std::string BilevelProblem::InnerCoordinateName(int i) const {
  for (int index : layout_->inner_blocks) {
    const ParameterBlockInfo& info = layout_->blocks[index];
    if (i >= info.offset && i < info.offset + info.tangent_size) {
      return info.name + " tangent coordinate " + std::to_string(i - info.offset);
    }
  }
  return "inner coordinate " + std::to_string(i) + " (out of range)";
}

std::string BilevelProblem::LearnableCoordinateName(int i) const {
  for (int index : layout_->learnable_blocks) {
    const ParameterBlockInfo& info = layout_->blocks[index];
    if (i >= info.offset && i < info.offset + info.ambient_size) {
      return info.name + " coordinate " + std::to_string(i - info.offset);
    }
  }
  return "learnable coordinate " + std::to_string(i) + " (out of range)";
}

ceres::Solver::Options TightSolverOptions() {
  ceres::Solver::Options options;
  options.function_tolerance = 1e-16;
  options.gradient_tolerance = 1e-16;
  options.parameter_tolerance = 1e-16;
  options.max_num_iterations = 1000;
  options.logging_type = ceres::SILENT;
  return options;
}

}  // namespace ceres_wiberg
