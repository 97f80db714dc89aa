#include "ceres_wiberg/internal/inner_newton.h"

#include <cmath>
#include <utility>

#include "ceres/problem.h"

namespace ceres_wiberg {
namespace internal {

InnerNewton::InnerNewton(const MinimiserDerivative::Options& options, BilevelProblem* problem)
    : options_(options),
      problem_(problem),
      layout_(problem->layout()),
      linearisation_(layout_),
      exact_hessian_(layout_, linearisation_, options.second_derivative_relative_step),
      hessian_(layout_),
      solver_(options) {}

Status InnerNewton::Evaluate() { return linearisation_.Evaluate(); }

Status InnerNewton::BuildHessian() {
  Status status = exact_hessian_.Assemble(options_.hessian_model, &hessian_);
  if (!status.ok()) return status;
  const bool dense = options_.linear_solver_type == LinearSolverType::DENSE ||
                     (options_.linear_solver_type == LinearSolverType::AUTOMATIC &&
                      layout_.num_inner <= options_.max_dense_size);
  if (dense) {
    solver_.SetDense(hessian_.ToDense());
  } else {
    solver_.SetSparse(hessian_.ToSparseUpper());
  }
  return Status::Ok();
}

bool InnerNewtonModel::Fail(Status status) {
  if (status_.ok()) status_ = std::move(status);
  return false;
}

bool InnerNewtonModel::Cost(double* cost) {
  if (!newton_->problem()->problem()->Evaluate(ceres::Problem::EvaluateOptions(), cost, nullptr,
                                               nullptr, nullptr) ||
      !std::isfinite(*cost)) {
    return Fail(NumericalFailureError("the inner energy is not finite at the start"));
  }
  return true;
}

bool InnerNewtonModel::Linearise(double* gradient_max_norm) {
  if (!evaluated_at_trial_) {
    Status status = newton_->Evaluate();
    if (!status.ok()) return Fail(std::move(status));
  }
  evaluated_at_trial_ = false;
  Status status = newton_->BuildHessian();
  if (!status.ok()) return Fail(std::move(status));
  gradient_ = newton_->linearisation().gradient();
  *gradient_max_norm = gradient_.lpNorm<Eigen::Infinity>();
  return true;
}

ShiftedFactorisation InnerNewtonModel::Factorise(double mu) {
  Status status = newton_->Factorise(mu);
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
  step_ = newton_->Step(gradient_);
  if (!step_.allFinite() || !newton_->ApplyStep(step_).ok()) return false;
  return problem->problem()->Evaluate(ceres::Problem::EvaluateOptions(), cost, nullptr, nullptr,
                                      nullptr) &&
         std::isfinite(*cost);
}

bool InnerNewtonModel::TrialHalvesGradient() {
  evaluated_at_trial_ = newton_->Evaluate().ok();
  return evaluated_at_trial_ && newton_->linearisation().gradient().lpNorm<Eigen::Infinity>() <
                                    0.5 * gradient_.lpNorm<Eigen::Infinity>();
}

void InnerNewtonModel::Accept() {}

void InnerNewtonModel::Reject() {
  // The linearisation may hold the trial point's data now, but the next
  // trial only needs gradient_ and the factorisation, and Accept follows a
  // trial whose TrialHalvesGradient (if any) sets evaluated_at_trial_ again.
  evaluated_at_trial_ = false;
  newton_->problem()->SetInnerValues(values_);
}

bool InnerNewtonModel::StepIsNegligible(double tolerance) const {
  return step_.norm() <= tolerance * (1.0 + newton_->problem()->GetInnerValues().norm());
}

}  // namespace internal
}  // namespace ceres_wiberg
