// The tracker-fusion energy of Toso, Campbell and Russell (NeurIPS 2019,
// supplementary eq. 14-16), for one box corner y = (y0, y1):
//
//   E(y) = sum_t m_t exp(-(y0 - a_t)^2 / sT_t^2 - (y1 - b_t)^2 / sL_t^2)     (14)
//   m_t  = s_t exp(-dw_t^2 / sw_t^2 - dh_t^2 / sh_t^2) theta_t              (15)
//   theta_t = 1 / (1 + A_t^2 f_t + B_t^2 f_t^2)                              (16)
//
// (a_t, b_t) is tracker t's corner, dw_t = w_f,t - w_0,t and dh_t = h_f,t -
// h_0,t its box's size deviations and f_t its frames since initialisation.
// The fused corner maximises E, i.e. minimises the Welsch (Gaussian kernel)
// energy
//
//   E~(y) = 1/2 sum_t m_t (1 - exp(-|u_t|^2)),
//   u_t = ((y0 - a_t) / sT_t, (y1 - b_t) / sL_t),
//
// which is 1/2 (sum_t m_t - E(y)): the same minimisers, the paper's factor
// aside. Each term is one Ceres residual block (FusionResidual),
//
//   r_t = sqrt(m_t f(|u_t|^2)) u_t,   f(q) = (1 - exp(-q)) / q,
//
// so that 1/2 |r_t|^2 = 1/2 m_t (1 - exp(-|u_t|^2)). f is smooth and positive
// on q >= 0 (f(0) = 1), so r_t is smooth at u_t = 0.
//
// Parameterisation. The seven learnable values of a tracker are one parameter
// block of log-values
//
//   p = (log sT, log sL, log s, log sw, log sh, log A, log B),
//
// so every real p is valid, the widths, s, A and B stay positive, and steps
// in p are relative changes (scale-free). The paper squares A and B to keep
// theta in (0, 1]; exp does the same.

#ifndef CERES_WIBERG_EXAMPLES_TRACKER_FUSION_FUSION_ENERGY_H_
#define CERES_WIBERG_EXAMPLES_TRACKER_FUSION_FUSION_ENERGY_H_

#include <array>
#include <vector>

#include "ceres/sized_cost_function.h"

namespace tracker_fusion {

// The coordinates of a tracker's parameter block (log-values).
enum TrackerParameterIndex {
  kLogSigmaT = 0,  // width along y0 (x in the image)
  kLogSigmaL = 1,  // width along y1 (y in the image)
  kLogScale = 2,   // s
  kLogSigmaW = 3,  // width of the box-width deviation
  kLogSigmaH = 4,  // width of the box-height deviation
  kLogA = 5,       // linear temporal decay
  kLogB = 6,       // quadratic temporal decay
  kNumTrackerParameters = 7,
};

using TrackerParameters = std::array<double, kNumTrackerParameters>;

// What one tracker contributes to one corner on one frame (in the normalised
// coordinates of fusion_model.h).
struct CornerObservation {
  double a = 0.0;   // corner, first coordinate
  double b = 0.0;   // corner, second coordinate
  double dw = 0.0;  // box-width deviation w_f,t - w_0,t
  double dh = 0.0;  // box-height deviation h_f,t - h_0,t
  double f = 0.0;   // frames since the tracker's initialisation (>= 0)
};

// f(q) = (1 - exp(-q)) / q and g(q) = -f'(q) = (1 - exp(-q) - q exp(-q)) / q^2
// for q >= 0, without cancellation near 0 (Taylor series below q = 1):
// f(0) = 1, g(0) = 1/2.
double WelschRatio(double q);
double WelschRatioSlope(double q);

// The mixing weight m_t of eq. 15-16 and, if dm_dp is not null, its
// derivatives with respect to the log-parameters (p[0], p[1] have none).
double MixingWeight(const CornerObservation& observation, const double* p,
                    double dm_dp[kNumTrackerParameters] = nullptr);

// r = sqrt(m f(|u|^2)) u, 2 residuals; parameter blocks: the corner y (2) and
// the tracker's log-parameters p (7). The Jacobians are analytic:
//
//   dr/dq = sqrt(m) (F du/dq - (g / F) u u^T du/dq) + u F d sqrt(m)/dq,
//   F = sqrt(f),
//
// with du/dy = diag(1 / sT, 1 / sL), du/dlog sT = (-u0, 0), du/dlog sL =
// (0, -u1), and sqrt(m) depending on p[2..6]. Evaluate returns false only for
// non-finite values.
class FusionResidual final : public ceres::SizedCostFunction<2, 2, kNumTrackerParameters> {
 public:
  explicit FusionResidual(const CornerObservation& observation) : observation_(observation) {}

  bool Evaluate(double const* const* parameters, double* residuals,
                double** jacobians) const override;

  const CornerObservation& observation() const { return observation_; }

 private:
  CornerObservation observation_;
};

// The minimised energy E~(y) = 1/2 sum_t m_t (1 - exp(-|u_t|^2)) of one corner
// (equal to Ceres' cost of the FusionResiduals), with its gradient and
// Hessian in y if not null (row-major 2 x 2). params[t] points to the
// log-parameters of observations[t]'s tracker.
double CornerEnergy(const std::vector<CornerObservation>& observations,
                    const std::vector<const double*>& params, const double y[2],
                    double gradient[2] = nullptr, double hessian[4] = nullptr);

// One term of E~ with its parameters evaluated: centre (a, b), inverse widths
// and mixing weight. The inner solve evaluates E~ many times at fixed w.
struct Kernel {
  double a = 0.0;
  double b = 0.0;
  double inverse_sigma_t = 1.0;
  double inverse_sigma_l = 1.0;
  double m = 0.0;
};
Kernel MakeKernel(const CornerObservation& observation, const double* p);
std::vector<Kernel> MakeKernels(const std::vector<CornerObservation>& observations,
                                const std::vector<const double*>& params);
// As CornerEnergy.
double KernelEnergy(const std::vector<Kernel>& kernels, const double y[2],
                    double gradient[2] = nullptr, double hessian[4] = nullptr);

}  // namespace tracker_fusion

#endif  // CERES_WIBERG_EXAMPLES_TRACKER_FUSION_FUSION_ENERGY_H_
