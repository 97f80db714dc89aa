#include "ceres_wiberg/learnable_loss.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "ceres_wiberg/enum_names.h"
#include "ceres_wiberg/internal/string_util.h"
#include "glog/logging.h"

namespace ceres_wiberg {
namespace {

// Below this u = s / a^2 the cancelling differences are summed from series.
constexpr double kSeriesThreshold = 1.0;

// Terms of the series below kSeriesThreshold; see CauchyE and WelschV for the
// truncation errors.
constexpr int kCauchySeriesTerms = 17;
constexpr int kWelschSeriesTerms = 20;

// The limits on the scale: a^2 must be a positive normal double.
const double kMinScale = std::sqrt(std::numeric_limits<double>::min());
const double kMaxScale = std::sqrt(std::numeric_limits<double>::max());

bool IsValidScale(double a) {
  const double c = a * a;
  return std::isfinite(c) && c >= std::numeric_limits<double>::min();
}

bool IsValidWeight(double m) { return std::isfinite(m) && m > 0.0; }

// Cauchy: E(u) = (log(1 + u) - u / (1 + u)) / u^2, E(0) = 1/2.
// d f / du = -E for f = log(1 + u) / u, and d rho / d(a^2) = u^2 E.
//
// For u <= 1, with z = u / (2 + u), log(1 + u) = 2 atanh(z) and
// u / (1 + u) = 2 z / (1 + z) give
//
//   E = 1 / ((2 + u) (1 + u)) + 2 z S(z^2) / (2 + u)^2,
//   S(w) = (atanh(z) - z) / z^3 = sum_{j >= 0} w^j / (2 j + 3),
//
// a sum of positive terms. z <= 1/3, so w <= 1/9 and the 17-term truncation
// error of S is below 9^-17 / 37 / (1 - 1/9) < 2e-18 (S >= 1/3).
double CauchyE(double u) {
  if (u <= kSeriesThreshold) {
    const double t = 2.0 + u;
    const double z = u / t;
    const double w = z * z;
    double S = 0.0;
    for (int j = kCauchySeriesTerms - 1; j >= 0; --j) {
      S = S * w + 1.0 / (2 * j + 3);
    }
    return 1.0 / (t * (1.0 + u)) + 2.0 * z * S / (t * t);
  }
  return ((std::log1p(u) - u / (1.0 + u)) / u) / u;
}

// Cauchy: L(u) = log(1 + u) / u, L(0) = 1. log1p keeps it accurate.
double CauchyL(double u) { return u == 0.0 ? 1.0 : std::log1p(u) / u; }

// Welsch: W(u) = (1 - exp(-u)) / u, W(0) = 1. expm1 keeps it accurate.
double WelschW(double u) { return u == 0.0 ? 1.0 : -std::expm1(-u) / u; }

// Welsch: V(u) = (1 - exp(-u) - u exp(-u)) / u^2, V(0) = 1/2.
// d W / du = -V, and d rho / d(a^2) = u^2 V for NORMALISED_WELSCH.
//
// For u <= 1 from the Taylor series
//
//   V = sum_{j >= 0} (-1)^j (j + 1) / (j + 2)! u^j,
//
// alternating with decreasing terms; the 20-term truncation error is below
// 21 / 22! < 2e-20 (V >= V(1) = 1 - 2 / e > 0.26).
double WelschV(double u) {
  if (u <= kSeriesThreshold) {
    double sum = 0.0;
    double power_over_factorial = 0.5;  // (-u)^j / (j + 2)!, j = 0.
    for (int j = 0; j < kWelschSeriesTerms; ++j) {
      sum += (j + 1) * power_over_factorial;
      power_over_factorial *= -u / (j + 3);
    }
    return sum;
  }
  return ((-std::expm1(-u) - u * std::exp(-u)) / u) / u;
}

// F = sqrt(f(s; a)) with f = rho / s, and its derivatives.
struct ResidualScaling {
  double F = 0.0;
  double F_s = 0.0;  // dF / ds
  double F_a = 0.0;  // dF / da
};

// Requires a valid scale and a finite s >= 0. Returns false if a result is
// not finite or F is not positive (only at the extremes of double range).
bool EvaluateResidualScaling(LearnableLossType type,
                             double s,
                             double a,
                             ResidualScaling* out) {
  const double c = a * a;
  const double u = s / c;
  if (!std::isfinite(u)) {
    return false;
  }
  double F = 0.0, F_s = 0.0, F_a = 0.0;
  switch (type) {
    case LearnableLossType::PSEUDO_HUBER: {
      // f = 2 / (1 + q), q = sqrt(1 + u).
      const double q = std::sqrt(1.0 + u);
      F = std::sqrt(2.0 / (1.0 + q));
      F_s = -F / (4.0 * q * (1.0 + q)) / c;
      F_a = (u / (1.0 + q)) * F / (2.0 * a * q);
      break;
    }
    case LearnableLossType::CAUCHY: {
      // f = L(u), df/du = -E(u).
      F = std::sqrt(CauchyL(u));
      const double E = CauchyE(u);
      F_s = -(E / (2.0 * F)) / c;
      F_a = u * E / (a * F);
      break;
    }
    case LearnableLossType::WELSCH: {
      // f = W(u) / c, df/ds = -V(u) / c^2, df/da = -2 exp(-u) / a^3.
      F = std::sqrt(WelschW(u)) / std::abs(a);
      F_s = -(WelschV(u) / (2.0 * F)) / c / c;
      F_a = -std::exp(-u) / (a * c * F);
      break;
    }
    case LearnableLossType::NORMALISED_WELSCH: {
      // f = W(u), df/ds = -V(u) / c, df/da = 2 u V(u) / a.
      F = std::sqrt(WelschW(u));
      const double V = WelschV(u);
      F_s = -(V / (2.0 * F)) / c;
      F_a = u * V / (a * F);
      break;
    }
    default:
      LOG(FATAL) << "Unknown LearnableLossType " << static_cast<int>(type);
  }
  if (!(F > 0.0) || !std::isfinite(F) || !std::isfinite(F_s) ||
      !std::isfinite(F_a)) {
    return false;
  }
  out->F = F;
  out->F_s = F_s;
  out->F_a = F_a;
  return true;
}

}  // namespace

const char* LearnableLossTypeToString(LearnableLossType type) {
  switch (type) {
    case LearnableLossType::PSEUDO_HUBER:
      return "PSEUDO_HUBER";
    case LearnableLossType::CAUCHY:
      return "CAUCHY";
    case LearnableLossType::WELSCH:
      return "WELSCH";
    case LearnableLossType::NORMALISED_WELSCH:
      return "NORMALISED_WELSCH";
  }
  return "UNKNOWN";
}

bool StringToLearnableLossType(const std::string& name, LearnableLossType* type) {
  return StringToEnum(name,
                                {LearnableLossType::PSEUDO_HUBER, LearnableLossType::CAUCHY,
                                 LearnableLossType::WELSCH, LearnableLossType::NORMALISED_WELSCH},
                                LearnableLossTypeToString, type);
}

bool EvaluateLearnableLoss(LearnableLossType type,
                           double s,
                           double a,
                           double rho[3],
                           double drho_da[2]) {
  CHECK(rho != nullptr);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  double out[5] = {nan, nan, nan, nan, nan};
  bool ok = std::isfinite(s) && s >= 0.0 && IsValidScale(a);
  if (ok) {
    const double c = a * a;
    const double u = s / c;
    switch (type) {
      case LearnableLossType::PSEUDO_HUBER: {
        // rho = 2 c (q - 1) = 2 s / (1 + q), q = sqrt(1 + u).
        const double q = std::sqrt(1.0 + u);
        const double t = u / (1.0 + q);
        out[0] = 2.0 * s / (1.0 + q);
        out[1] = 1.0 / q;
        out[2] = -0.5 / (q * (1.0 + u)) / c;
        out[3] = 2.0 * a * t * t / q;        // 2 a u^2 / (q (1 + q)^2)
        out[4] = (u / (1.0 + u)) / (a * q);  // u / (a q^3)
        break;
      }
      case LearnableLossType::CAUCHY: {
        const double inverse = 1.0 / (1.0 + u);
        out[0] = c * std::log1p(u);
        out[1] = inverse;
        out[2] = -inverse * inverse / c;
        out[3] = 2.0 * a * u * (u * CauchyE(u));  // 2 a (log1p(u) - u/(1+u))
        out[4] = 2.0 * (u * inverse) * inverse / a;
        break;
      }
      case LearnableLossType::WELSCH: {
        const double e = std::exp(-u);
        out[0] = -std::expm1(-u);
        out[1] = e / c;
        out[2] = -e / c / c;
        out[3] = -2.0 * u * e / a;
        out[4] = 2.0 * e * (u - 1.0) / (a * c);
        break;
      }
      case LearnableLossType::NORMALISED_WELSCH: {
        const double e = std::exp(-u);
        out[0] = -c * std::expm1(-u);
        out[1] = e;
        out[2] = -e / c;
        out[3] = 2.0 * a * u * (u * WelschV(u));  // 2 a (1 - e - u e)
        out[4] = 2.0 * u * e / a;
        break;
      }
      default:
        LOG(FATAL) << "Unknown LearnableLossType " << static_cast<int>(type);
    }
    for (double value : out) {
      ok = ok && std::isfinite(value);
    }
  }
  if (!ok) {
    for (double& value : out) {
      value = nan;
    }
  }
  rho[0] = out[0];
  rho[1] = out[1];
  rho[2] = out[2];
  if (drho_da != nullptr) {
    drho_da[0] = out[3];
    drho_da[1] = out[4];
  }
  return ok;
}

Status ValidateLearnableLossParameters(double a) {
  if (!IsValidScale(a)) {
    return InvalidArgumentError(
        "learnable loss scale a = " + internal::FormatDouble(a) +
        " is invalid: a must be finite and a^2 a positive normal double (" +
        internal::FormatDouble(kMinScale) + " <= |a| <= " + internal::FormatDouble(kMaxScale) +
        ")");
  }
  return Status::Ok();
}

Status ValidateLearnableLossParameters(double a, double m) {
  Status status = ValidateLearnableLossParameters(a);
  if (!status.ok()) {
    return status;
  }
  if (!IsValidWeight(m)) {
    return InvalidArgumentError("learnable loss weight m = " + internal::FormatDouble(m) +
                                " is invalid: m must be positive and finite");
  }
  return Status::Ok();
}

namespace {

int CheckedNumParameterBlocks(const ceres::CostFunction* cost_function) {
  CHECK(cost_function != nullptr);
  return static_cast<int>(cost_function->parameter_block_sizes().size());
}

}  // namespace

LearnableLossCostFunction::LearnableLossCostFunction(
    ceres::CostFunction* cost_function,
    LearnableLossType type,
    bool has_weight_block,
    ceres::Ownership ownership)
    : type_(type),
      has_weight_block_(has_weight_block),
      ownership_(ownership),
      num_wrapped_blocks_(CheckedNumParameterBlocks(cost_function)) {
  cost_function_.reset(cost_function);
  CHECK_GT(cost_function_->num_residuals(), 0)
      << "LearnableLossCostFunction needs a cost function with residuals; "
         "set them before wrapping a dynamic cost function.";
  std::vector<int32_t>* sizes = mutable_parameter_block_sizes();
  *sizes = cost_function_->parameter_block_sizes();
  sizes->push_back(1);  // a
  if (has_weight_block_) {
    sizes->push_back(1);  // m
  }
  set_num_residuals(cost_function_->num_residuals());
}

LearnableLossCostFunction::~LearnableLossCostFunction() {
  if (ownership_ == ceres::DO_NOT_TAKE_OWNERSHIP) {
    cost_function_.release();
  }
}

Status LearnableLossCostFunction::ValidateParameters(
    double const* const* parameters) const {
  CHECK(parameters != nullptr);
  const double a = parameters[scale_block_index()][0];
  if (has_weight_block_) {
    return ValidateLearnableLossParameters(a,
                                           parameters[weight_block_index()][0]);
  }
  return ValidateLearnableLossParameters(a);
}

bool LearnableLossCostFunction::Evaluate(double const* const* parameters,
                                         double* residuals,
                                         double** jacobians) const {
  return EvaluateWithWrapped(parameters, residuals, jacobians, nullptr, nullptr);
}

bool LearnableLossCostFunction::EvaluateWithWrapped(
    double const* const* parameters,
    double* residuals,
    double** jacobians,
    double* wrapped_residuals,
    double* const* wrapped_jacobians) const {
  const double a = parameters[scale_block_index()][0];
  const double m =
      has_weight_block_ ? parameters[weight_block_index()][0] : 1.0;
  if (!IsValidScale(a) || !IsValidWeight(m)) {
    return false;
  }

  // The wrapped cost function reads the first n parameter and Jacobian
  // pointers; its Jacobians land in the caller's arrays (same row-major
  // k x size layout) and are transformed in place below.
  if (!cost_function_->Evaluate(parameters, residuals, jacobians)) {
    return false;
  }

  const int k = num_residuals();
  if (wrapped_residuals != nullptr) {
    std::copy(residuals, residuals + k, wrapped_residuals);
  }
  if (wrapped_jacobians != nullptr && jacobians != nullptr) {
    const std::vector<int32_t>& sizes = parameter_block_sizes();
    for (int b = 0; b < num_wrapped_blocks_; ++b) {
      if (jacobians[b] != nullptr && wrapped_jacobians[b] != nullptr) {
        std::copy(jacobians[b], jacobians[b] + k * sizes[b],
                  wrapped_jacobians[b]);
      }
    }
  }
  double s = 0.0;
  for (int i = 0; i < k; ++i) {
    s += residuals[i] * residuals[i];
  }
  if (!std::isfinite(s)) {
    return false;
  }
  ResidualScaling scaling;
  if (!EvaluateResidualScaling(type_, s, a, &scaling)) {
    return false;
  }
  const double sqrt_m = std::sqrt(m);
  const double w = sqrt_m * scaling.F;  // sqrt(m f)

  if (jacobians != nullptr) {
    // J_rt_p = sqrt(m) (F J + 2 F_s r r^T J), column by column.
    const double rank_one_factor = 2.0 * sqrt_m * scaling.F_s;
    const std::vector<int32_t>& sizes = parameter_block_sizes();
    for (int b = 0; b < num_wrapped_blocks_; ++b) {
      double* J = jacobians[b];
      if (J == nullptr) {
        continue;
      }
      const int size = sizes[b];
      for (int j = 0; j < size; ++j) {
        double r_dot_J = 0.0;
        for (int i = 0; i < k; ++i) {
          r_dot_J += residuals[i] * J[i * size + j];
        }
        const double scaled = rank_one_factor * r_dot_J;
        for (int i = 0; i < k; ++i) {
          J[i * size + j] = w * J[i * size + j] + scaled * residuals[i];
        }
      }
    }
    // J_rt_a = sqrt(m) F_a r.
    if (double* J_rt_a = jacobians[scale_block_index()]) {
      const double factor = sqrt_m * scaling.F_a;
      for (int i = 0; i < k; ++i) {
        J_rt_a[i] = factor * residuals[i];
      }
    }
    // J_rt_m = F r / (2 sqrt(m)).
    if (has_weight_block_) {
      if (double* J_rt_m = jacobians[weight_block_index()]) {
        const double factor = scaling.F / (2.0 * sqrt_m);
        for (int i = 0; i < k; ++i) {
          J_rt_m[i] = factor * residuals[i];
        }
      }
    }
  }

  for (int i = 0; i < k; ++i) {
    residuals[i] *= w;
  }
  return true;
}

}  // namespace ceres_wiberg
