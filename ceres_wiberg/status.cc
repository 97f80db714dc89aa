#include "ceres_wiberg/status.h"

namespace ceres_wiberg {

const char* StatusCodeToString(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return "OK";
    case StatusCode::kInvalidArgument:
      return "INVALID_ARGUMENT";
    case StatusCode::kNumericalFailure:
      return "NUMERICAL_FAILURE";
    case StatusCode::kNoConvergence:
      return "NO_CONVERGENCE";
    case StatusCode::kSingularHessian:
      return "SINGULAR_HESSIAN";
    case StatusCode::kIndefiniteHessian:
      return "INDEFINITE_HESSIAN";
    case StatusCode::kInternalError:
      return "INTERNAL_ERROR";
  }
  return "UNKNOWN";
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  return std::string(StatusCodeToString(code_)) + ": " + message_;
}

}  // namespace ceres_wiberg
