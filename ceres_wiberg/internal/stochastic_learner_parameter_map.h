// ceres_wiberg: learning energy parameters by differentiating Ceres minimisers.
//
// ParameterMap: the StochasticLearner's per-coordinate map between the
// optimisation variables theta and the parameters w,
//
//   w_i = clamp(T_i(theta_i), lower_i, upper_i),
//
// with T_i identity, theta^2 or exp(theta). The clamp only absorbs rounding
// (sqrt(u)^2 may exceed u by an ulp): theta itself is kept in the interval
// whose image is [lower_i, upper_i], so the chained gradient uses T_i' alone.

#ifndef CERES_WIBERG_INTERNAL_STOCHASTIC_LEARNER_PARAMETER_MAP_H_
#define CERES_WIBERG_INTERNAL_STOCHASTIC_LEARNER_PARAMETER_MAP_H_

#include <string>
#include <vector>

#include "Eigen/Core"
#include "ceres_wiberg/status.h"
#include "ceres_wiberg/stochastic_learner.h"

namespace ceres_wiberg {
namespace internal {

class ParameterMap {
 public:
  // Empty vectors mean all IDENTITY / unbounded; otherwise each has
  // num_parameters entries (checked by the caller).
  ParameterMap(const std::vector<ParameterTransform>& transforms,
               const std::vector<double>& lower_bounds, const std::vector<double>& upper_bounds,
               int num_parameters);

  const std::vector<ParameterTransform>& transforms() const { return transforms_; }

  // theta_0 from an initial w. kInvalidArgument naming the coordinate if w
  // is not finite, outside its bounds, or not positive where T needs it.
  Status ThetaFromW(const Eigen::VectorXd& w, Eigen::VectorXd* theta) const;

  // kInvalidArgument naming the coordinate if w is not finite or outside
  // its bounds; `what` starts the message ("initial", "checkpoint").
  Status CheckBounds(const Eigen::VectorXd& w, const std::string& what) const;

  // w = clamp(T(theta), lower, upper).
  void WFromTheta(const Eigen::VectorXd& theta, Eigen::VectorXd* w) const;

  // Clamps w to the bounds (guards averages against rounding).
  void ClampW(Eigen::VectorXd* w) const;

  // dL/dtheta_i = dL/dw_i T_i'(theta_i).
  void ChainGradient(const Eigen::VectorXd& theta, const Eigen::VectorXd& gradient_w,
                     Eigen::VectorXd* gradient_theta) const;

  // Projects *theta onto the box whose image is the bounds. For SQUARED with
  // a positive lower bound the image set has two intervals; the one holding
  // theta_before is used, so the projection is onto a convex box containing
  // theta_before and never lengthens the step *theta - theta_before.
  void Project(const Eigen::VectorXd& theta_before, Eigen::VectorXd* theta) const;

 private:
  // The theta interval of coordinate i, given the current theta_i's sign.
  void ThetaInterval(int i, double theta_current, double* lo, double* hi) const;

  std::vector<ParameterTransform> transforms_;
  std::vector<double> lower_;
  std::vector<double> upper_;
};

}  // namespace internal
}  // namespace ceres_wiberg

#endif  // CERES_WIBERG_INTERNAL_STOCHASTIC_LEARNER_PARAMETER_MAP_H_
