#include "ceres_wiberg/internal/stochastic_learner_parameter_map.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

namespace ceres_wiberg {
namespace internal {
namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();

double Transform(ParameterTransform transform, double theta) {
  switch (transform) {
    case ParameterTransform::IDENTITY:
      return theta;
    case ParameterTransform::SQUARED:
      return theta * theta;
    case ParameterTransform::EXP:
      return std::exp(theta);
  }
  return theta;
}

double TransformDerivative(ParameterTransform transform, double theta) {
  switch (transform) {
    case ParameterTransform::IDENTITY:
      return 1.0;
    case ParameterTransform::SQUARED:
      return 2.0 * theta;
    case ParameterTransform::EXP:
      return std::exp(theta);
  }
  return 1.0;
}

std::string Describe(int i, double value) {
  std::ostringstream out;
  out.precision(17);
  out << "parameter " << i << " (w = " << value << ")";
  return out.str();
}

}  // namespace

ParameterMap::ParameterMap(const std::vector<ParameterTransform>& transforms,
                           const std::vector<double>& lower_bounds,
                           const std::vector<double>& upper_bounds, int num_parameters)
    : transforms_(transforms.empty() ? std::vector<ParameterTransform>(num_parameters,
                                                                       ParameterTransform::IDENTITY)
                                     : transforms),
      lower_(lower_bounds.empty() ? std::vector<double>(num_parameters, -kInfinity) : lower_bounds),
      upper_(upper_bounds.empty() ? std::vector<double>(num_parameters, kInfinity) : upper_bounds) {
}

Status ParameterMap::CheckBounds(const Eigen::VectorXd& w, const std::string& what) const {
  for (int i = 0; i < static_cast<int>(transforms_.size()); ++i) {
    const double value = w[i];
    if (!std::isfinite(value)) {
      return InvalidArgumentError(what + " " + Describe(i, value) + " is not finite");
    }
    if (value < lower_[i] || value > upper_[i]) {
      std::ostringstream out;
      out.precision(17);
      out << what << " " << Describe(i, value) << " is outside its bounds [" << lower_[i] << ", "
          << upper_[i] << "]";
      return InvalidArgumentError(out.str());
    }
  }
  return Status::Ok();
}

Status ParameterMap::ThetaFromW(const Eigen::VectorXd& w, Eigen::VectorXd* theta) const {
  Status status = CheckBounds(w, "initial");
  if (!status.ok()) return status;
  const int n = static_cast<int>(transforms_.size());
  theta->resize(n);
  for (int i = 0; i < n; ++i) {
    const double value = w[i];
    switch (transforms_[i]) {
      case ParameterTransform::IDENTITY:
        (*theta)[i] = value;
        break;
      case ParameterTransform::SQUARED:
        if (!(value > 0.0)) {
          return InvalidArgumentError("initial " + Describe(i, value) +
                                      " must be > 0 for SQUARED (w = theta^2 is stuck at 0)");
        }
        (*theta)[i] = std::sqrt(value);
        break;
      case ParameterTransform::EXP:
        if (!(value > 0.0)) {
          return InvalidArgumentError("initial " + Describe(i, value) +
                                      " must be > 0 for EXP (w = exp(theta))");
        }
        (*theta)[i] = std::log(value);
        break;
    }
  }
  return Status::Ok();
}

void ParameterMap::WFromTheta(const Eigen::VectorXd& theta, Eigen::VectorXd* w) const {
  const int n = static_cast<int>(transforms_.size());
  w->resize(n);
  for (int i = 0; i < n; ++i) {
    (*w)[i] = std::min(std::max(Transform(transforms_[i], theta[i]), lower_[i]), upper_[i]);
  }
}

void ParameterMap::ClampW(Eigen::VectorXd* w) const {
  for (int i = 0; i < w->size(); ++i) {
    (*w)[i] = std::min(std::max((*w)[i], lower_[i]), upper_[i]);
  }
}

void ParameterMap::ChainGradient(const Eigen::VectorXd& theta, const Eigen::VectorXd& gradient_w,
                                 Eigen::VectorXd* gradient_theta) const {
  const int n = static_cast<int>(transforms_.size());
  gradient_theta->resize(n);
  for (int i = 0; i < n; ++i) {
    (*gradient_theta)[i] = gradient_w[i] * TransformDerivative(transforms_[i], theta[i]);
  }
}

void ParameterMap::ThetaInterval(int i, double theta_current, double* lo, double* hi) const {
  const double lower = lower_[i];
  const double upper = upper_[i];
  switch (transforms_[i]) {
    case ParameterTransform::IDENTITY:
      *lo = lower;
      *hi = upper;
      return;
    case ParameterTransform::EXP:
      // Options::IsValid guarantees upper > 0.
      *lo = lower > 0.0 ? std::log(lower) : -kInfinity;
      *hi = std::log(upper);  // log(inf) = inf
      return;
    case ParameterTransform::SQUARED: {
      // Options::IsValid guarantees upper >= 0.
      const double b = std::sqrt(upper);  // sqrt(inf) = inf
      if (lower > 0.0) {
        const double a = std::sqrt(lower);
        if (theta_current >= 0.0) {
          *lo = a;
          *hi = b;
        } else {
          *lo = -b;
          *hi = -a;
        }
      } else {
        *lo = -b;
        *hi = b;
      }
      return;
    }
  }
}

void ParameterMap::Project(const Eigen::VectorXd& theta_before, Eigen::VectorXd* theta) const {
  const int n = static_cast<int>(transforms_.size());
  for (int i = 0; i < n; ++i) {
    double lo = 0.0;
    double hi = 0.0;
    ThetaInterval(i, theta_before[i], &lo, &hi);
    (*theta)[i] = std::min(std::max((*theta)[i], lo), hi);
  }
}

}  // namespace internal
}  // namespace ceres_wiberg
