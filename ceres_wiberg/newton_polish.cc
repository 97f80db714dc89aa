#include "ceres_wiberg/newton_polish.h"

#include <cmath>
#include <cstdio>
#include <limits>

#include "ceres/problem.h"
#include "ceres_wiberg/internal/problem_layout.h"
#include "glog/logging.h"

namespace ceres_wiberg {
namespace {

bool Cost(BilevelProblem* problem, double* cost) {
  return problem->problem()->Evaluate(ceres::Problem::EvaluateOptions(), cost, nullptr, nullptr,
                                      nullptr) &&
         std::isfinite(*cost);
}

}  // namespace

bool NewtonPolishOptions::IsValid(std::string* error) const {
  auto fail = [&](const std::string& message) {
    if (error != nullptr) *error = message;
    return false;
  };
  if (max_num_iterations < 0) return fail("max_num_iterations must be >= 0");
  if (!(gradient_tolerance >= 0.0)) return fail("gradient_tolerance must be >= 0");
  if (!(initial_mu > 0.0) || !std::isfinite(initial_mu)) {
    return fail("initial_mu must be positive and finite");
  }
  if (!(mu_increase > 1.0) || !std::isfinite(mu_increase)) {
    return fail("mu_increase must be > 1 and finite");
  }
  if (!(mu_decrease > 0.0 && mu_decrease < 1.0)) return fail("mu_decrease must be in (0, 1)");
  if (!(max_mu >= initial_mu)) return fail("max_mu must be >= initial_mu");
  MinimiserDerivative::Options derivative = derivative_options;
  derivative.lambda = initial_mu;
  std::string derivative_error;
  if (!derivative.IsValid(&derivative_error)) {
    return fail("derivative_options: " + derivative_error);
  }
  return true;
}

std::string NewtonPolishSummary::BriefReport() const {
  char buffer[320];
  std::snprintf(buffer, sizeof(buffer),
                "Newton polish: %d iterations (%d accepted), cost %.9g -> %.9g, |g|_inf %.3g -> "
                "%.3g, mu %.3g, %s%s",
                iterations, accepted_steps, initial_cost, final_cost, initial_gradient_max_norm,
                final_gradient_max_norm, final_mu, converged ? "converged" : "NOT converged",
                converged ? (strict_local_minimum ? ", H positive definite (strict minimum)"
                                                  : ", H not positive definite")
                          : "");
  return buffer;
}

Status NewtonPolish(const NewtonPolishOptions& options, BilevelProblem* problem,
                    NewtonPolishSummary* summary) {
  CHECK(problem != nullptr);
  CHECK(summary != nullptr);
  *summary = NewtonPolishSummary();
  std::string error;
  if (!options.IsValid(&error)) return InvalidArgumentError("NewtonPolishOptions: " + error);
  MinimiserDerivative::Options derivative_options = options.derivative_options;
  derivative_options.damping = DampingType::IDENTITY;
  derivative_options.hessian_model = HessianModel::EXACT;
  derivative_options.final_newton_step = false;

  double cost = 0.0;
  if (!Cost(problem, &cost)) {
    return NumericalFailureError("NewtonPolish: the inner energy is not finite at the start");
  }
  summary->initial_cost = cost;
  summary->final_cost = cost;
  double mu = 0.0;
  bool first = true;
  auto raise_mu = [&]() {
    mu = mu == 0.0 ? options.initial_mu : mu * options.mu_increase;
    return mu <= options.max_mu;
  };

  for (;;) {
    // Linearise at y with H + mu I, raising mu until it is positive definite.
    derivative_options.lambda = mu;
    MinimiserDerivative derivative(derivative_options);
    MinimiserDerivative::Summary derivative_summary;
    Status status = derivative.Linearize(problem, &derivative_summary);
    if (status.code() == StatusCode::kIndefiniteHessian ||
        status.code() == StatusCode::kSingularHessian) {
      if (!raise_mu()) {
        summary->final_mu = mu;
        return Status(StatusCode::kIndefiniteHessian,
                      "NewtonPolish: H + mu I is not positive definite for mu up to " +
                          std::to_string(options.max_mu) + " (" + status.message() + ")");
      }
      continue;
    }
    if (!status.ok()) return status;
    Eigen::VectorXd gradient;
    status = derivative.InnerGradient(&gradient);
    if (!status.ok()) return status;
    const double gradient_max = gradient.lpNorm<Eigen::Infinity>();
    if (first) summary->initial_gradient_max_norm = gradient_max;
    first = false;
    summary->final_gradient_max_norm = gradient_max;
    summary->final_mu = mu;
    if (gradient_max <= options.gradient_tolerance) {
      summary->converged = true;
      break;
    }
    if (summary->iterations >= options.max_num_iterations) break;
    ++summary->iterations;

    Eigen::MatrixXd step;
    status = derivative.SolveDampedSystem(-gradient, &step);
    if (!status.ok()) return status;
    const Eigen::VectorXd saved = problem->GetInnerValues();
    status = internal::ApplyInnerStep(problem->layout(), step.col(0));
    double new_cost = std::numeric_limits<double>::infinity();
    if (status.ok() && Cost(problem, &new_cost) && new_cost <= cost) {
      cost = new_cost;
      summary->final_cost = cost;
      ++summary->accepted_steps;
      mu = mu * options.mu_decrease < options.initial_mu ? 0.0 : mu * options.mu_decrease;
      continue;
    }
    problem->SetInnerValues(saved);
    if (!raise_mu()) {
      summary->final_mu = mu;
      return Status(StatusCode::kIndefiniteHessian,
                    "NewtonPolish: no step lowers the cost for mu up to " +
                        std::to_string(options.max_mu));
    }
  }
  // H itself is positive definite where the last factorisation had mu = 0;
  // otherwise factorise it once more.
  if (summary->converged && mu == 0.0) {
    summary->strict_local_minimum = true;
  } else if (summary->converged) {
    derivative_options.lambda = 0.0;
    MinimiserDerivative derivative(derivative_options);
    MinimiserDerivative::Summary derivative_summary;
    summary->strict_local_minimum = derivative.Linearize(problem, &derivative_summary).ok();
  }
  return Status::Ok();
}

}  // namespace ceres_wiberg
