#include "ceres_wiberg/internal/inner_newton.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "ceres/loss_function.h"
#include "ceres/problem.h"
#include "glog/logging.h"

namespace ceres_wiberg {
namespace internal {

InnerNewton::InnerNewton(const MinimiserDerivative::Options& options, BilevelProblem* problem)
    : options_(options),
      problem_(problem),
      layout_(problem->layout()),
      thread_pool_(options.num_threads > 1 ? std::make_unique<ThreadPool>(options.num_threads)
                                           : nullptr),
      linearisation_(layout_, options.hessian_model, thread_pool_.get()),
      exact_hessian_(layout_, linearisation_, options.second_derivative_relative_step,
                     thread_pool_.get()),
      hessian_(layout_),
      solver_(options) {
  std::vector<ceres::ResidualBlockId> residual_blocks;
  problem->problem()->GetResidualBlocks(&residual_blocks);
  std::vector<char> touches_y(residual_blocks.size(), 0);
  for (const ResidualBlockInfo& residual : layout_.residuals) touches_y[residual.index] = 1;
  for (size_t i = 0; i < residual_blocks.size(); ++i) {
    if (!touches_y[i]) y_independent_residuals_.push_back(residual_blocks[i]);
  }
}

Status InnerNewton::EvaluateCost(double* cost) {
  double sum = 0.0;
  for (const ResidualBlockInfo& residual : layout_.residuals) {
    cost_scratch_.SetValues(layout_, residual);
    double* r = cost_scratch_.residuals.data();
    // A learnable loss: 1/2 m rho(|r|^2; a) of the wrapped r (Ceres'
    // 1/2 |r~|^2 up to round-off), without forming r~.
    const LearnableLossCostFunction* learnable_loss = residual.learnable_loss;
    Status status = learnable_loss != nullptr
                        ? EvaluateDifferencedResidualBlock(layout_, residual,
                                                           cost_scratch_.values.data(), r, nullptr)
                        : EvaluateResidualBlock(layout_, residual, cost_scratch_.values.data(), r,
                                                nullptr);
    if (!status.ok()) return status;
    // |r|^2 as Linearisation forms it (see EvaluateWithCost).
    double s = Eigen::Map<const Eigen::VectorXd>(r, residual.num_residuals).squaredNorm();
    if (learnable_loss != nullptr) {
      const double a = layout_.blocks[residual.blocks[learnable_loss->scale_block_index()]].values[0];
      const double m =
          learnable_loss->has_weight_block()
              ? layout_.blocks[residual.blocks[learnable_loss->weight_block_index()]].values[0]
              : 1.0;
      double rho[3];
      if (!EvaluateLearnableLoss(learnable_loss->type(), s, a, rho, nullptr) || !(m > 0.0)) {
        return NumericalFailureError("the learnable loss of residual block #" +
                                     std::to_string(residual.index) +
                                     " could not be evaluated (invalid scale, weight or |r|^2)");
      }
      s = m * rho[0];
    } else if (residual.loss_function != nullptr) {
      double rho[3];
      residual.loss_function->Evaluate(s, rho);
      s = rho[0];
    }
    if (!std::isfinite(s)) {
      return NumericalFailureError("the loss function of residual block #" +
                                   std::to_string(residual.index) +
                                   " returned a NaN or infinite value");
    }
    sum += 0.5 * s;
  }
  Status status = AddIndependentCost(&sum);
  if (!status.ok()) return status;
  *cost = sum;
  return Status::Ok();
}

Status InnerNewton::EvaluateWithCost(double* cost) {
  Status status = Evaluate();
  if (!status.ok()) return status;
  // 1/2 rho(|r|^2) of the exact view: EvaluateCost's terms (m rho(s; a) for
  // a learnable loss), summed in the same order.
  double sum = 0.0;
  for (size_t i = 0; i < layout_.residuals.size(); ++i) {
    sum += 0.5 * linearisation_.exact_rho(static_cast<int>(i))[0];
  }
  status = AddIndependentCost(&sum);
  if (!status.ok()) return status;
  *cost = sum;
  return Status::Ok();
}

Status InnerNewton::AddIndependentCost(double* sum) const {
  for (ceres::ResidualBlockId id : y_independent_residuals_) {
    double block_cost = 0.0;
    if (!problem_->problem()->EvaluateResidualBlock(id, /*apply_loss_function=*/true,
                                                    &block_cost, nullptr, nullptr) ||
        !std::isfinite(block_cost)) {
      return NumericalFailureError(
          "a residual block that does not depend on the inner variables failed to evaluate "
          "or is not finite");
    }
    *sum += block_cost;
  }
  return Status::Ok();
}

namespace {

// The ambient values of `blocks`, concatenated, into *values (resized only
// when the size changes).
void CopyValues(const ProblemLayout& layout, const std::vector<int>& blocks,
                Eigen::VectorXd* values) {
  int size = 0;
  for (int b : blocks) size += layout.blocks[b].ambient_size;
  if (values->size() != size) values->resize(size);
  int offset = 0;
  for (int b : blocks) {
    const ParameterBlockInfo& block = layout.blocks[b];
    std::copy(block.values, block.values + block.ambient_size, values->data() + offset);
    offset += block.ambient_size;
  }
}

// Whether `blocks` hold exactly `values` (CopyValues' layout).
bool HoldValues(const ProblemLayout& layout, const std::vector<int>& blocks,
                const Eigen::VectorXd& values) {
  int offset = 0;
  for (int b : blocks) {
    const ParameterBlockInfo& block = layout.blocks[b];
    if (offset + block.ambient_size > values.size() ||
        !std::equal(block.values, block.values + block.ambient_size, values.data() + offset)) {
      return false;
    }
    offset += block.ambient_size;
  }
  return offset == values.size();
}

}  // namespace

bool InnerNewton::IsEvaluatedAtCurrentValues() const {
  return evaluated_inner_.size() > 0 &&
         HoldValues(layout_, layout_.inner_blocks, evaluated_inner_) &&
         HoldValues(layout_, layout_.learnable_blocks, evaluated_learnable_);
}

void InnerNewton::UseDescentDamping(DampingType descent_damping) {
  if (descent_solver_ != nullptr && descent_damping == descent_damping_) return;
  MinimiserDerivative::Options options = options_;
  options.damping = descent_damping;
  descent_solver_ = std::make_unique<DampedSolver>(options);
  descent_damping_ = descent_damping;
  solver_fed_[static_cast<int>(Solver::kDescent)] = false;
}

Status InnerNewton::Evaluate() {
  hessian_is_current_ = false;
  evaluated_inner_.resize(0);
  Status status = linearisation_.Evaluate();
  if (!status.ok()) return status;
  CopyValues(layout_, layout_.inner_blocks, &evaluated_inner_);
  CopyValues(layout_, layout_.learnable_blocks, &evaluated_learnable_);
  FindActiveBounds(layout_, linearisation_.gradient(), options_.bound_tolerance, &active_bounds_);
  free_gradient_ = linearisation_.gradient();
  if (active_bounds_.num_active > 0) {
    for (int i = 0; i < layout_.num_inner; ++i) {
      if (active_bounds_.active[i]) free_gradient_[i] = 0.0;
    }
  }
  return Status::Ok();
}

namespace {

// Blocks named for a null direction: those holding a component of at least
// this fraction of its largest, at most kMaxNamedBlocks of them.
constexpr double kNamedComponent = 0.1;
constexpr int kMaxNamedBlocks = 6;

// The inner block holding y coordinate `coordinate`.
int InnerBlockOf(const ProblemLayout& layout, int coordinate) {
  for (int b : layout.inner_blocks) {
    const ParameterBlockInfo& block = layout.blocks[b];
    if (coordinate >= block.offset && coordinate < block.offset + block.tangent_size) return b;
  }
  return -1;
}

}  // namespace

Status InnerNewton::BuildHessian() {
  hessian_is_current_ = false;
  solver_fed_[0] = solver_fed_[1] = false;
  Status status =
      exact_hessian_.Assemble(options_.hessian_model, &active_bounds_.active, &hessian_);
  if (!status.ok()) return status;
  hessian_is_current_ = true;
  return Status::Ok();
}

Status InnerNewton::FeedSolver(Solver which) {
  bool& fed = solver_fed_[static_cast<int>(which)];
  if (fed) return Status::Ok();
  CHECK(hessian_is_current_) << "Factorise needs a successful BuildHessian";
  DampedSolver& target = which == Solver::kMain ? solver_ : *descent_solver_;
  if (hessian_.is_released()) {
    // Freed when the solvers of the time held H; a solver made since needs it
    // (Assemble is deterministic: the same H).
    Status status =
        exact_hessian_.Assemble(options_.hessian_model, &active_bounds_.active, &hessian_);
    if (!status.ok()) return status;
  }
  const bool dense = options_.linear_solver_type == LinearSolverType::DENSE ||
                     (options_.linear_solver_type == LinearSolverType::AUTOMATIC &&
                      layout_.num_inner <= options_.max_dense_size);
  target.SetFixed(active_bounds_.active);
  // The inner blocks, for the Schur elimination (kept while unchanged).
  std::vector<int> block_sizes;
  for (int b : layout_.inner_blocks) block_sizes.push_back(layout_.blocks[b].tangent_size);
  target.SetBlocks(block_sizes);
  if (dense) {
    Eigen::MatrixXd H = hessian_.ToDense();
    for (int j = 0; j < H.cols(); ++j) {
      for (int i = 0; i < H.rows(); ++i) {
        if (std::isfinite(H(i, j))) continue;
        return NumericalFailureError(
            "H has a NaN or infinite entry in the rows of " +
            layout_.blocks[InnerBlockOf(layout_, i)].name + " and the columns of " +
            layout_.blocks[InnerBlockOf(layout_, j)].name);
      }
    }
    target.SetDense(std::move(H));
  } else {
    // Into the solver's own storage when the pattern is the same.
    Eigen::SparseMatrix<double> H = target.TakeSparse();
    const bool pattern_unchanged = hessian_.ToSparseUpper(&H);
    // All finite (one vectorised pass), else the entry is located.
    const bool finite = Eigen::Map<const Eigen::VectorXd>(H.valuePtr(), H.nonZeros()).allFinite();
    for (int j = 0; !finite && j < H.outerSize(); ++j) {
      for (Eigen::SparseMatrix<double>::InnerIterator it(H, j); it; ++it) {
        if (std::isfinite(it.value())) continue;
        return NumericalFailureError(
            "H has a NaN or infinite entry in the rows of " +
            layout_.blocks[InnerBlockOf(layout_, static_cast<int>(it.row()))].name +
            " and the columns of " +
            layout_.blocks[InnerBlockOf(layout_, static_cast<int>(it.col()))].name);
      }
    }
    target.SetSparse(&H, pattern_unchanged);
  }
  fed = true;
  if (solver_fed_[0] && (descent_solver_ == nullptr || solver_fed_[1])) hessian_.Release();
  return Status::Ok();
}

Status InnerNewton::Factorise(double lambda, Solver which) {
  CHECK(which == Solver::kMain || descent_solver_ != nullptr)
      << "UseDescentDamping before Factorise(lambda, kDescent)";
  Status status = FeedSolver(which);
  if (!status.ok()) return status;
  DampedSolver& target = which == Solver::kMain ? solver_ : *descent_solver_;
  status = target.Factorise(lambda);
  const Eigen::VectorXd& v = target.null_direction();
  if (status.code() != StatusCode::kSingularHessian || v.size() != layout_.num_inner ||
      !v.allFinite() || v.size() == 0) {
    return status;
  }
  // The largest component of each block, in scaled (unit-free) coordinates.
  std::vector<std::pair<double, int>> components;
  for (int b : layout_.inner_blocks) {
    const ParameterBlockInfo& block = layout_.blocks[b];
    components.emplace_back(
        v.segment(block.offset, block.tangent_size).lpNorm<Eigen::Infinity>(), b);
  }
  std::sort(components.begin(), components.end(), std::greater<>());
  const double largest = components.front().first;
  std::ostringstream message;
  message.precision(2);
  message << status.message() << ". The null direction lives in ";
  int named = 0;
  for (const auto& [size, b] : components) {
    if (size < kNamedComponent * largest) break;
    if (named == kMaxNamedBlocks) {
      message << ", ...";
      break;
    }
    message << (named > 0 ? ", " : "") << layout_.blocks[b].name << " (" << size << ")";
    ++named;
  }
  message << " (largest components of its unit eigenvector, Jacobi-scaled)";
  return Status(status.code(), message.str());
}

bool InnerNewtonModel::Fail(Status status) {
  if (status_.ok()) status_ = std::move(status);
  return false;
}

bool InnerNewtonModel::Cost(double* cost) {
  // The first Linearise comes next, at the same point: evaluated once.
  if (newton_->EvaluateWithCost(cost).ok()) {
    evaluated_at_trial_ = true;
    cost_ = *cost;
    return true;
  }
  // The cost alone (and its error, if any), as without the evaluation.
  evaluated_at_trial_ = false;
  Status status = newton_->EvaluateCost(cost);
  if (!status.ok()) {
    return Fail(NumericalFailureError("the inner energy is not finite at the start: " +
                                      status.message()));
  }
  cost_ = *cost;
  return true;
}

bool InnerNewtonModel::Linearise(double* gradient_max_norm) {
  if (!evaluated_at_trial_) {
    Status status = newton_->Evaluate();
    if (!status.ok()) return Fail(std::move(status));
  }
  evaluated_at_trial_ = false;
  // H is built by the first Factorise of the iteration, which comes before
  // any trial moves the linearisation: a converged descent does not build
  // the H of its last point (a derivative sharing this InnerNewton builds it
  // when it needs it).
  hessian_pending_ = true;
  gradient_ = newton_->linearisation().gradient();
  free_gradient_max_norm_ = newton_->free_gradient().lpNorm<Eigen::Infinity>();
  *gradient_max_norm = newton_->free_gradient().lpNorm<Eigen::Infinity>();
  return true;
}

ShiftedFactorisation InnerNewtonModel::Factorise(double mu) {
  mu_ = mu;
  if (hessian_pending_) {
    hessian_pending_ = false;
    Status status = newton_->BuildHessian();
    if (!status.ok()) {
      Fail(std::move(status));
      return ShiftedFactorisation::kFailure;
    }
  }
  Status status = newton_->Factorise(mu, solver_);
  if (status.ok()) return ShiftedFactorisation::kPositiveDefinite;
  if (status.code() == StatusCode::kIndefiniteHessian ||
      status.code() == StatusCode::kSingularHessian) {
    return ShiftedFactorisation::kNotPositiveDefinite;
  }
  Fail(std::move(status));
  return ShiftedFactorisation::kFailure;
}

bool InnerNewtonModel::Trial(double* cost) {
  evaluated_at_trial_ = false;
  BilevelProblem* problem = newton_->problem();
  values_ = problem->GetInnerValues();
  step_ = newton_->Step(gradient_, solver_);
  if (!step_.allFinite() || !newton_->ApplyStep(step_).ok()) return false;
  // The whole evaluation (a Newton step is usually accepted, and the next
  // Linearise then uses it; every cost of the descent is then computed the
  // same way, see EvaluateWithCost), or, where it fails, the cost alone
  // (then Linearise reports the failure if the step is accepted, as it
  // would).
  evaluated_at_trial_ = newton_->EvaluateWithCost(cost).ok();
  if (!evaluated_at_trial_ && !newton_->EvaluateCost(cost).ok()) return false;
  trial_cost_ = *cost;
  return true;
}

bool InnerNewtonModel::TrialHalvesGradient() {
  if (!evaluated_at_trial_) evaluated_at_trial_ = newton_->Evaluate().ok();
  return evaluated_at_trial_ && newton_->free_gradient().lpNorm<Eigen::Infinity>() <
                                    0.5 * free_gradient_max_norm_;
}

void InnerNewtonModel::Accept() {
  accepted_mu_ = mu_;
  accepted_decrease_ = -0.5 * gradient_.dot(step_);
  cost_ = trial_cost_;
}

void InnerNewtonModel::Reject() {
  // The linearisation may hold the trial point's data now, but the next
  // trial only needs gradient_ and the factorisation, and Accept follows a
  // trial whose TrialHalvesGradient (if any) sets evaluated_at_trial_ again.
  evaluated_at_trial_ = false;
  newton_->problem()->SetInnerValues(values_);
}

bool InnerNewtonModel::StepIsNegligible(double tolerance) const {
  if (decrement_tolerance_ > 0.0 && accepted_mu_ == 0.0 &&
      accepted_decrease_ <= decrement_tolerance_ * std::abs(cost_)) {
    return true;
  }
  return step_.norm() <= tolerance * (1.0 + newton_->problem()->GetInnerValues().norm());
}

}  // namespace internal
}  // namespace ceres_wiberg
