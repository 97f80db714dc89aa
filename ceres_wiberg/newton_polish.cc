#include "ceres_wiberg/newton_polish.h"

#include <cstdio>
#include <sstream>

#include "ceres_wiberg/internal/inner_newton.h"
#include "glog/logging.h"

namespace ceres_wiberg {

bool NewtonPolish::Options::IsValid(std::string* error) const {
  if (!DampedNewtonOptions::IsValid(error)) return false;
  MinimiserDerivative::Options derivative = derivative_options;
  derivative.lambda = initial_mu;
  std::string derivative_error;
  if (!derivative.IsValid(&derivative_error)) {
    if (error != nullptr) *error = "derivative_options: " + derivative_error;
    return false;
  }
  return true;
}

std::string NewtonPolish::Summary::BriefReport() const {
  char buffer[320];
  std::snprintf(buffer, sizeof(buffer),
                "Newton polish: %d iterations (%d accepted), cost %.9g -> %.9g, "
                "|g|_inf %.3g -> %.3g, mu %.3g, %s%s",
                iterations, accepted_steps, initial_cost, final_cost, initial_gradient_max_norm,
                final_gradient_max_norm, final_mu, converged ? "converged" : "NOT converged",
                converged ? (strict_local_minimum ? ", H positive definite (strict minimum)"
                                                  : ", H not positive definite")
                          : "");
  return buffer;
}

std::string NewtonPolish::Summary::FullReport() const {
  std::ostringstream out;
  out.precision(9);
  out << "NewtonPolish report\n"
      << "  iterations (accepted steps)  " << iterations << " (" << accepted_steps << ")\n"
      << "  factorisations of H + mu I   " << factorisations << "\n"
      << "  cost                         " << initial_cost << " -> " << final_cost << "\n"
      << "  |g|_inf                      " << initial_gradient_max_norm << " -> "
      << final_gradient_max_norm << "\n"
      << "  final mu                     " << final_mu << "\n"
      << "  termination                  " << DampedNewtonTerminationToString(termination) << "\n"
      << "  converged                    " << (converged ? "yes" : "no") << "\n"
      << "  H positive definite          " << (strict_local_minimum ? "yes" : "no") << "\n";
  return out.str();
}

namespace internal {

MinimiserDerivative::Options NewtonPolishDerivativeOptions(
    const MinimiserDerivative::Options& derivative_options) {
  MinimiserDerivative::Options options = derivative_options;
  options.lambda = 0.0;
  options.damping = DampingType::IDENTITY;
  options.hessian_model = HessianModel::EXACT;
  options.final_newton_step = false;
  return options;
}

Status PolishWith(const DampedNewtonOptions& options, double decrement_tolerance,
                  InnerNewton* newton, NewtonPolish::Summary* summary,
                  InnerNewton::Solver solver) {
  *summary = NewtonPolish::Summary();
  InnerNewtonModel model(newton, decrement_tolerance, solver);
  switch (DampedNewton(options, &model, summary)) {
    case DampedNewtonTermination::kFailure:
      return Status(model.status().code(), "NewtonPolish: " + model.status().message());
    case DampedNewtonTermination::kNoDescent:
      return Status(StatusCode::kIndefiniteHessian,
                    "NewtonPolish: no step lowers the cost, or H + mu I is not positive "
                    "definite, for mu up to " +
                        std::to_string(options.max_mu));
    default:
      break;
  }
  // One more factorisation of H at the final point classifies it. The
  // descent leaves that H unbuilt (InnerNewtonModel builds H at the first
  // factorisation of an iteration); built here, it stays with the
  // InnerNewton for a derivative that shares it.
  if (summary->converged) {
    if (!newton->hessian_is_current()) {
      Status status = newton->BuildHessian();
      if (!status.ok()) return Status(status.code(), "NewtonPolish: " + status.message());
    }
    summary->strict_local_minimum = newton->Factorise(0.0, solver).ok();
  }
  return Status::Ok();
}

}  // namespace internal

Status NewtonPolish::Polish(const Options& options, BilevelProblem* problem, Summary* summary) {
  CHECK(problem != nullptr);
  CHECK(summary != nullptr);
  *summary = Summary();
  std::string error;
  if (!options.IsValid(&error)) return InvalidArgumentError("NewtonPolish::Options: " + error);
  internal::InnerNewton newton(internal::NewtonPolishDerivativeOptions(options.derivative_options),
                               problem);
  return internal::PolishWith(options, /*decrement_tolerance=*/0.0, &newton, summary);
}

}  // namespace ceres_wiberg
