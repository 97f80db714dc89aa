#include "fusion_energy.h"

#include <cmath>

#include "glog/logging.h"

namespace tracker_fusion {

double WelschRatio(double q) {
  if (q == 0.0) return 1.0;
  return -std::expm1(-q) / q;  // expm1 keeps full relative accuracy near 0
}

double WelschRatioSlope(double q) {
  if (q < 1.0) {
    // g(q) = sum_{n >= 2} (-q)^(n-2) (n - 1) / n!; terms fall as q^k / k!, so
    // 24 terms leave a truncation below 1e-23 for q < 1.
    double sum = 0.0;
    double power = 1.0;              // (-q)^(n-2)
    double inverse_factorial = 0.5;  // 1 / n!
    for (int n = 2; n < 26; ++n) {
      sum += power * (n - 1) * inverse_factorial;
      power *= -q;
      inverse_factorial /= (n + 1);
    }
    return sum;
  }
  const double e = std::exp(-q);
  return (-std::expm1(-q) - q * e) / (q * q);
}

namespace {

// log m_t and its derivatives with respect to p (zero for p[0], p[1]).
double LogMixingWeight(const CornerObservation& o, const double* p,
                       double dlogm_dp[kNumTrackerParameters]) {
  const double width_term = o.dw * o.dw * std::exp(-2.0 * p[kLogSigmaW]);
  const double height_term = o.dh * o.dh * std::exp(-2.0 * p[kLogSigmaH]);
  const double linear = std::exp(2.0 * p[kLogA]) * o.f;
  const double quadratic = std::exp(2.0 * p[kLogB]) * o.f * o.f;
  const double denominator = 1.0 + linear + quadratic;
  if (dlogm_dp != nullptr) {
    dlogm_dp[kLogSigmaT] = 0.0;
    dlogm_dp[kLogSigmaL] = 0.0;
    dlogm_dp[kLogScale] = 1.0;
    dlogm_dp[kLogSigmaW] = 2.0 * width_term;
    dlogm_dp[kLogSigmaH] = 2.0 * height_term;
    dlogm_dp[kLogA] = -2.0 * linear / denominator;
    dlogm_dp[kLogB] = -2.0 * quadratic / denominator;
  }
  return p[kLogScale] - width_term - height_term - std::log1p(linear + quadratic);
}

}  // namespace

double MixingWeight(const CornerObservation& observation, const double* p,
                    double dm_dp[kNumTrackerParameters]) {
  double dlogm_dp[kNumTrackerParameters];
  const double m = std::exp(LogMixingWeight(observation, p, dlogm_dp));
  if (dm_dp != nullptr) {
    for (int i = 0; i < kNumTrackerParameters; ++i) dm_dp[i] = m * dlogm_dp[i];
  }
  return m;
}

bool FusionResidual::Evaluate(double const* const* parameters, double* residuals,
                              double** jacobians) const {
  const double* y = parameters[0];
  const double* p = parameters[1];
  const double inverse_sigma_t = std::exp(-p[kLogSigmaT]);
  const double inverse_sigma_l = std::exp(-p[kLogSigmaL]);
  const double u0 = (y[0] - observation_.a) * inverse_sigma_t;
  const double u1 = (y[1] - observation_.b) * inverse_sigma_l;
  const double q = u0 * u0 + u1 * u1;
  double dlogm_dp[kNumTrackerParameters];
  const double sqrt_m = std::exp(0.5 * LogMixingWeight(observation_, p, dlogm_dp));
  const double F = std::sqrt(WelschRatio(q));
  residuals[0] = sqrt_m * F * u0;
  residuals[1] = sqrt_m * F * u1;
  if (!std::isfinite(residuals[0]) || !std::isfinite(residuals[1])) return false;
  if (jacobians == nullptr) return true;

  // d r / d z for a direction du = du/dz: sqrt(m) (F du - (g / F) u (u . du)).
  const double g_over_f = WelschRatioSlope(q) / F;
  auto column = [&](double du0, double du1, double* out0, double* out1) {
    const double projection = g_over_f * (u0 * du0 + u1 * du1);
    *out0 = sqrt_m * (F * du0 - projection * u0);
    *out1 = sqrt_m * (F * du1 - projection * u1);
  };
  if (jacobians[0] != nullptr) {  // 2 x 2, row-major
    double* J = jacobians[0];
    column(inverse_sigma_t, 0.0, &J[0], &J[2]);
    column(0.0, inverse_sigma_l, &J[1], &J[3]);
  }
  if (jacobians[1] != nullptr) {  // 2 x 7, row-major
    double* J = jacobians[1];
    const int n = kNumTrackerParameters;
    column(-u0, 0.0, &J[kLogSigmaT], &J[n + kLogSigmaT]);
    column(0.0, -u1, &J[kLogSigmaL], &J[n + kLogSigmaL]);
    for (int i = kLogScale; i < n; ++i) {
      J[i] = 0.5 * dlogm_dp[i] * residuals[0];
      J[n + i] = 0.5 * dlogm_dp[i] * residuals[1];
    }
    for (int i = 0; i < 2 * n; ++i) {
      if (!std::isfinite(J[i])) return false;
    }
  }
  return true;
}

Kernel MakeKernel(const CornerObservation& observation, const double* p) {
  Kernel kernel;
  kernel.a = observation.a;
  kernel.b = observation.b;
  kernel.inverse_sigma_t = std::exp(-p[kLogSigmaT]);
  kernel.inverse_sigma_l = std::exp(-p[kLogSigmaL]);
  kernel.m = MixingWeight(observation, p);
  return kernel;
}

std::vector<Kernel> MakeKernels(const std::vector<CornerObservation>& observations,
                                const std::vector<const double*>& params) {
  CHECK_EQ(observations.size(), params.size());
  std::vector<Kernel> kernels;
  kernels.reserve(observations.size());
  for (size_t t = 0; t < observations.size(); ++t) {
    kernels.push_back(MakeKernel(observations[t], params[t]));
  }
  return kernels;
}

double KernelEnergy(const std::vector<Kernel>& kernels, const double y[2], double gradient[2],
                    double hessian[4]) {
  double energy = 0.0;
  double g0 = 0.0, g1 = 0.0, h00 = 0.0, h01 = 0.0, h11 = 0.0;
  for (const Kernel& k : kernels) {
    const double u0 = (y[0] - k.a) * k.inverse_sigma_t;
    const double u1 = (y[1] - k.b) * k.inverse_sigma_l;
    const double q = u0 * u0 + u1 * u1;
    if (q > 745.0) {  // exp(-q) underflows to 0: the term is m / 2, flat
      energy += 0.5 * k.m;
      continue;
    }
    const double e = std::exp(-q);
    energy += 0.5 * k.m * (q < 0.5 ? -std::expm1(-q) : 1.0 - e);
    const double w = k.m * e;
    g0 += w * u0 * k.inverse_sigma_t;
    g1 += w * u1 * k.inverse_sigma_l;
    h00 += w * (1.0 - 2.0 * u0 * u0) * k.inverse_sigma_t * k.inverse_sigma_t;
    h01 += -2.0 * w * u0 * u1 * k.inverse_sigma_t * k.inverse_sigma_l;
    h11 += w * (1.0 - 2.0 * u1 * u1) * k.inverse_sigma_l * k.inverse_sigma_l;
  }
  if (gradient != nullptr) {
    gradient[0] = g0;
    gradient[1] = g1;
  }
  if (hessian != nullptr) {
    hessian[0] = h00;
    hessian[1] = h01;
    hessian[2] = h01;
    hessian[3] = h11;
  }
  return energy;
}

double CornerEnergy(const std::vector<CornerObservation>& observations,
                    const std::vector<const double*>& params, const double y[2], double gradient[2],
                    double hessian[4]) {
  return KernelEnergy(MakeKernels(observations, params), y, gradient, hessian);
}

}  // namespace tracker_fusion
