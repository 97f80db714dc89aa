#include "ceres_wiberg/bilevel_example.h"

#include <chrono>
#include <limits>
#include <set>
#include <sstream>
#include <string>
#include <utility>

#include "ceres/manifold.h"
#include "ceres_wiberg/internal/derivative_access.h"
#include "ceres_wiberg/internal/inner_newton.h"
#include "ceres_wiberg/internal/problem_layout.h"
#include "ceres_wiberg/newton_polish.h"
#include "glog/logging.h"

namespace ceres_wiberg {
namespace {

using internal::BlockRole;
using internal::ParameterBlockInfo;

}  // namespace

BilevelExample::Options::Options() {
  inner_solver_options.logging_type = ceres::SILENT;
  derivative_options.final_newton_step = true;
}

BilevelExample::BilevelExample(BilevelProblem* problem, const Options& options)
    : problem_(problem),
      options_(options),
      derivative_(options.derivative_options),
      initial_inner_values_(problem->GetInnerValues()) {}

BilevelExample::~BilevelExample() = default;

int BilevelExample::num_residuals() const { return num_residuals_; }

Status BilevelExample::Create(BilevelProblem* problem, ceres::CostFunction* outer_loss,
                              ceres::Ownership outer_loss_ownership,
                              const std::vector<double*>& outer_loss_blocks,
                              const Options& options, std::unique_ptr<BilevelExample>* example) {
  CHECK(outer_loss != nullptr);
  return Build(problem, {{outer_loss, outer_loss_blocks}}, outer_loss_ownership, options,
               /*single_cost=*/true, example);
}

Status BilevelExample::Create(BilevelProblem* problem,
                              std::vector<OuterLossTerm> outer_loss_terms,
                              ceres::Ownership outer_loss_ownership, const Options& options,
                              std::unique_ptr<BilevelExample>* example) {
  return Build(problem, std::move(outer_loss_terms), outer_loss_ownership, options,
               /*single_cost=*/false, example);
}

Status BilevelExample::Build(BilevelProblem* problem, std::vector<OuterLossTerm> terms,
                             ceres::Ownership ownership, const Options& options,
                             bool single_cost, std::unique_ptr<BilevelExample>* example) {
  CHECK(problem != nullptr);
  CHECK(example != nullptr);
  std::unique_ptr<BilevelExample> result(new BilevelExample(problem, options));
  if (ownership == ceres::TAKE_OWNERSHIP) {
    // Owned from the start, so that nothing leaks on an error below.
    std::set<ceres::CostFunction*> distinct;
    for (const OuterLossTerm& term : terms) {
      if (term.cost_function != nullptr && distinct.insert(term.cost_function).second) {
        result->owned_costs_.emplace_back(term.cost_function);
      }
    }
  }
  std::string error;
  if (!options.derivative_options.IsValid(&error)) return InvalidArgumentError(error);
  if (!options.inner_solver_options.IsValid(&error)) {
    return InvalidArgumentError("inner_solver_options: " + error);
  }
  if (!options.newton_options.IsValid(&error)) {
    return InvalidArgumentError("newton_options: " + error);
  }
  if (terms.empty()) return InvalidArgumentError("the outer loss has no terms");
  const internal::ProblemLayout& layout = problem->layout();
  if (options.inner_solve_problem != nullptr) {
    for (double* values : problem->inner_parameter_blocks()) {
      if (!options.inner_solve_problem->HasParameterBlock(values) ||
          options.inner_solve_problem->IsParameterBlockConstant(values)) {
        return InvalidArgumentError(problem->BlockName(values) +
                                    " is not a variable block of inner_solve_problem");
      }
    }
  }
  int first_residual = 0;
  for (size_t t = 0; t < terms.size(); ++t) {
    const OuterLossTerm& term = terms[t];
    const std::string term_name =
        single_cost ? "the outer loss" : "outer loss term " + std::to_string(t);
    CHECK(term.cost_function != nullptr) << term_name << " has no cost function";
    const std::vector<int32_t>& sizes = term.cost_function->parameter_block_sizes();
    if (sizes.size() != term.parameter_blocks.size()) {
      return InvalidArgumentError(term_name + " has " + std::to_string(sizes.size()) +
                                  " parameter blocks but " +
                                  std::to_string(term.parameter_blocks.size()) + " were given");
    }
    for (size_t j = 0; j < term.parameter_blocks.size(); ++j) {
      auto it = layout.block_index.find(term.parameter_blocks[j]);
      const std::string name = single_cost ? "outer loss block " + std::to_string(j)
                                           : term_name + ", block " + std::to_string(j);
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
    result->terms_.push_back({term.cost_function, term.parameter_blocks, first_residual});
    first_residual += term.cost_function->num_residuals();
  }
  result->num_residuals_ = first_residual;
  *example = std::move(result);
  return Status::Ok();
}

void BilevelExample::RestartFromCurrentValues() {
  std::lock_guard<std::mutex> lock(mutex_);
  initial_inner_values_ = problem_->GetInnerValues();
  last_solution_.resize(0);
}

Status BilevelExample::SolveWithNewton() {
  shared_inner_solve_ = false;
  internal::InnerNewton* newton = nullptr;
  internal::InnerNewton::Solver solver = internal::InnerNewton::Solver::kMain;
  if (options_.derivative_options.hessian_model == HessianModel::EXACT) {
    // The descent runs on the derivative's InnerNewton (same exact H, its
    // own damping), which then differentiates at the point where the descent
    // stopped without evaluating it again.
    newton = internal::SharedInnerSolve::Newton(&derivative_, problem_);
    newton->UseDescentDamping(DampingType::HESSIAN_DIAGONAL);
    solver = internal::InnerNewton::Solver::kDescent;
    shared_inner_solve_ = true;
  } else if (newton_ == nullptr) {
    // NewtonPolish's model with D = diag(|H|): mu is unit-free (the
    // Jacobi-scaled shift, as Ceres' LM scales its system), so that
    // initial_mu and max_mu mean the same whatever the units of y.
    MinimiserDerivative::Options options =
        internal::NewtonPolishDerivativeOptions(options_.derivative_options);
    options.damping = DampingType::HESSIAN_DIAGONAL;
    newton_ = std::make_unique<internal::InnerNewton>(options, problem_);
  }
  if (newton == nullptr) newton = newton_.get();
  // Converged also when a full Newton step predicts a decrease below the
  // energy's rounding (eps |E|): a test in units of energy, which holds on
  // badly scaled problems where |g|_inf cannot reach gradient_tolerance.
  Status status = internal::PolishWith(options_.newton_options,
                                       std::numeric_limits<double>::epsilon(), newton,
                                       &newton_summary_, solver);
  if (status.ok() && !newton_summary_.converged) {
    status = Status(StatusCode::kNoConvergence,
                    "NEWTON inner solve did not converge: " + newton_summary_.BriefReport());
  } else if (!status.ok()) {
    status = Status(status.code(),
                    "NEWTON inner solve failed: " + status.message() + " (" +
                        newton_summary_.BriefReport() + ")");
  }
  return status;
}

Status BilevelExample::SolveInnerSolveProblem() {
  ceres::Solve(options_.inner_solver_options, options_.inner_solve_problem, &inner_summary_);
  if (inner_summary_.termination_type == ceres::FAILURE ||
      inner_summary_.termination_type == ceres::USER_FAILURE) {
    return NumericalFailureError("the inner solve (inner_solve_problem) failed: " +
                                 inner_summary_.message);
  }
  return Status::Ok();
}

Status BilevelExample::SolveInner() {
  const auto start = std::chrono::steady_clock::now();
  Status status = SolveInnerWithChosenSolver();
  inner_solve_seconds_ =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return status;
}

Status BilevelExample::SolveInnerWithChosenSolver() {
  if (options_.inner_solver_type == InnerSolverType::NEWTON) {
    last_inner_solver_type_ = InnerSolverType::NEWTON;
    if (!options_.newton_falls_back_to_ceres) return SolveWithNewton();
    const Eigen::VectorXd start = problem_->GetInnerValues();
    if (SolveWithNewton().ok()) return Status::Ok();
    problem_->SetInnerValues(start);
  }
  last_inner_solver_type_ = InnerSolverType::CERES;
  Status status = options_.inner_solve_problem != nullptr
                      ? SolveInnerSolveProblem()
                      : problem_->SolveInner(options_.inner_solver_options, &inner_summary_);
  if (!status.ok()) return status;
  if (problem_->layout().has_bounds) {
    // Ceres' projected LM can stop well short of the constrained minimiser
    // with a bound active (one final Newton step is not enough): finish with
    // projected Newton steps.
    NewtonPolish::Options polish;
    polish.derivative_options = options_.derivative_options;
    NewtonPolish::Summary polish_summary;
    status = NewtonPolish::Polish(polish, problem_, &polish_summary);
    if (!status.ok()) return status;
  }
  if (options_.newton_after_ceres) {
    const Eigen::VectorXd ceres_end = problem_->GetInnerValues();
    if (!SolveWithNewton().ok()) problem_->SetInnerValues(ceres_end);
  }
  return Status::Ok();
}

Status BilevelExample::SolveAndEvaluateLoss(const Eigen::VectorXd& w,
                                            Eigen::VectorXd* residuals,
                                            std::vector<JacobianPiece>* pieces) {
  if (w.size() != problem_->num_learnable_parameters()) {
    return InvalidArgumentError("w has size " + std::to_string(w.size()) + ", not n_w = " +
                                std::to_string(problem_->num_learnable_parameters()));
  }
  if (!w.allFinite()) return NumericalFailureError("w has a NaN or infinite entry");
  problem_->SetLearnableParameters(w);
  problem_->SetInnerValues(options_.warm_start && last_solution_.size() > 0
                               ? last_solution_
                               : initial_inner_values_);
  Status status = SolveInner();
  if (!status.ok()) return status;
  status = shared_inner_solve_ && last_inner_solver_type_ == InnerSolverType::NEWTON
               ? internal::SharedInnerSolve::Linearise(&derivative_, problem_,
                                                       &derivative_summary_)
               : derivative_.Linearise(problem_, &derivative_summary_);
  if (!status.ok()) return status;
  if (options_.warm_start) last_solution_ = problem_->GetInnerValues();

  const internal::ProblemLayout& layout = problem_->layout();
  residuals->resize(num_residuals_);
  size_t num_pieces = 0;
  std::vector<const double*>& values = values_scratch_;
  std::vector<RowMajorMatrix>& jacobians = jacobians_scratch_;
  std::vector<double*>& jacobian_pointers = jacobian_pointers_scratch_;
  for (size_t t = 0; t < terms_.size(); ++t) {
    const Term& term = terms_[t];
    auto term_name = [&] {
      return terms_.size() == 1 ? std::string("the outer loss")
                                : "outer loss term " + std::to_string(t);
    };
    const int m = term.cost_function->num_residuals();
    const size_t num_blocks = term.blocks.size();
    values.assign(term.blocks.begin(), term.blocks.end());
    if (jacobians.size() < num_blocks) jacobians.resize(num_blocks);
    jacobian_pointers.assign(num_blocks, nullptr);
    for (size_t j = 0; j < num_blocks; ++j) {
      jacobians[j].resize(m, term.cost_function->parameter_block_sizes()[j]);
      jacobian_pointers[j] = jacobians[j].data();
    }
    auto r = residuals->segment(term.first_residual, m);
    if (!term.cost_function->Evaluate(values.data(), r.data(),
                                      pieces != nullptr ? jacobian_pointers.data() : nullptr)) {
      return NumericalFailureError(term_name() + " failed to evaluate at y*");
    }
    if (!r.allFinite()) {
      return NumericalFailureError(term_name() + " has a NaN or infinite residual at y*");
    }
    if (pieces == nullptr) continue;
    for (size_t j = 0; j < num_blocks; ++j) {
      const int index = layout.block_index.at(term.blocks[j]);
      const ParameterBlockInfo& block = layout.blocks[index];
      if (!jacobians[j].allFinite()) {
        return NumericalFailureError(term_name() + ": the Jacobian with respect to " +
                                     block.name + " has a NaN or infinite entry");
      }
      // Pieces are reused across calls: same structure, same sizes.
      if (pieces->size() <= num_pieces) pieces->emplace_back();
      JacobianPiece& piece = (*pieces)[num_pieces++];
      piece.row = term.first_residual;
      piece.block = index;
      if (block.role == BlockRole::kLearnable || block.manifold == nullptr) {
        piece.J = jacobians[j];
      } else {
        RowMajorMatrix plus_jacobian(block.ambient_size, block.tangent_size);
        if (!block.manifold->PlusJacobian(block.values, plus_jacobian.data())) {
          return NumericalFailureError("the PlusJacobian of " + block.name + " failed");
        }
        piece.J = jacobians[j] * plus_jacobian;
      }
    }
  }
  if (pieces != nullptr) pieces->resize(num_pieces);
  return Status::Ok();
}

Status BilevelExample::Evaluate(const Eigen::VectorXd& w, Eigen::VectorXd* residuals,
                                Eigen::MatrixXd* J_r_w) {
  CHECK(residuals != nullptr);
  std::lock_guard<std::mutex> lock(mutex_);
  Status status = SolveAndEvaluateLoss(w, residuals, J_r_w != nullptr ? &pieces_ : nullptr);
  if (!status.ok() || J_r_w == nullptr) return status;
  Eigen::MatrixXd J_y_w;
  status = derivative_.Jacobian(&J_y_w);
  if (!status.ok()) return status;
  const internal::ProblemLayout& layout = problem_->layout();
  *J_r_w = Eigen::MatrixXd::Zero(num_residuals_, layout.num_learnable);
  for (const JacobianPiece& piece : pieces_) {
    const ParameterBlockInfo& block = layout.blocks[piece.block];
    if (block.role == BlockRole::kLearnable) {
      J_r_w->block(piece.row, block.offset, piece.J.rows(), piece.J.cols()) += piece.J;
    } else {
      J_r_w->middleRows(piece.row, piece.J.rows()) +=
          piece.J * J_y_w.middleRows(block.offset, block.tangent_size);
    }
  }
  return Status::Ok();
}

Status BilevelExample::EvaluateLoss(const Eigen::VectorXd& w, double* loss,
                                    Eigen::VectorXd* gradient) {
  CHECK(loss != nullptr);
  std::lock_guard<std::mutex> lock(mutex_);
  Eigen::VectorXd& r = loss_residuals_;
  Status status = SolveAndEvaluateLoss(w, &r, gradient != nullptr ? &pieces_ : nullptr);
  if (!status.ok()) return status;
  *loss = 0.5 * r.squaredNorm();
  if (gradient == nullptr) return Status::Ok();
  // dL/dy (tangent) and the direct dL/dw, one term block at a time.
  const internal::ProblemLayout& layout = problem_->layout();
  dl_dy_.setZero(layout.num_inner);
  direct_.setZero(layout.num_learnable);
  for (const JacobianPiece& piece : pieces_) {
    const ParameterBlockInfo& block = layout.blocks[piece.block];
    Eigen::VectorXd& target = block.role == BlockRole::kLearnable ? direct_ : dl_dy_;
    target.segment(block.offset, piece.J.cols()).noalias() +=
        piece.J.transpose() * r.segment(piece.row, piece.J.rows());
  }
  status = derivative_.VectorJacobianProduct(dl_dy_, &through_y_);
  if (!status.ok()) return status;
  *gradient = through_y_ + direct_;
  return Status::Ok();
}

}  // namespace ceres_wiberg
