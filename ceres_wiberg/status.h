// ceres_wiberg: learning energy parameters by differentiating Ceres minimisers.
//
// Status: the outcome of any call whose failure data can cause. CHECK is kept
// for broken programmer contracts; everything else comes back as a Status
// whose message names the block or the cause.

#ifndef CERES_WIBERG_STATUS_H_
#define CERES_WIBERG_STATUS_H_

#include <string>
#include <utility>

namespace ceres_wiberg {

enum class StatusCode {
  kOk,
  // A block, option or argument the caller passed is unusable.
  kInvalidArgument,
  // A residual, Jacobian or value is NaN or infinite, or a cost function
  // returned false.
  kNumericalFailure,
  // The inner solve stopped without converging (and the caller asked to
  // refuse such solutions).
  kNoConvergence,
  // The damped Hessian H + lambda D is singular to working precision.
  kSingularHessian,
  // The damped Hessian H + lambda D has a negative eigenvalue.
  kIndefiniteHessian,
  // A linear system, factorisation or file operation failed.
  kInternalError,
};

const char* StatusCodeToString(StatusCode code);

// [[nodiscard]]: a Status that nobody reads is a failure nobody sees.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message)
      : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // "OK" or "<code>: <message>".
  std::string ToString() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status InvalidArgumentError(std::string message) {
  return Status(StatusCode::kInvalidArgument, std::move(message));
}
inline Status NumericalFailureError(std::string message) {
  return Status(StatusCode::kNumericalFailure, std::move(message));
}

}  // namespace ceres_wiberg

#endif  // CERES_WIBERG_STATUS_H_
