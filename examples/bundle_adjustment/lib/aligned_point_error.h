// Point error after a similarity alignment to the ground truth: the outer loss
// of the bundle-adjustment example, which must not depend on the gauge (a
// bundle-adjustment solution is defined only up to a similarity: rotation,
// translation and scale, 7 dof).
//
//   S(x) = min_{s, R, t} sum_j |s R x_j + t - X_j|^2     (Umeyama 1991)
//   RMSE(x) = sqrt(S(x) / N)
//
// x_j are the estimated points, X_j the true ones. Moving the estimate by any
// similarity leaves S unchanged, so the loss sees only the shape.
//
// Gradient by the envelope theorem. (s, R, t) is itself a minimiser of the
// sum (over the manifold R x SO(3) x R^3, where it is stationary), so its
// own change drops out of the first-order change of S:
//
//   dS/dx_j = 2 s R^T r_j,        r_j = s R x_j + t - X_j  (the aligned residual)
//   dRMSE/dx_j = s R^T r_j / (N RMSE).
//
// This is the gradient of S, and so the exact Jacobian of the single residual
// RMSE (a scalar has no other Jacobian), which is how AlignedPointRmseCost
// exposes it. It is NOT the Jacobian of the 3N aligned residuals r_j (those
// move with the alignment); a residual-vector version would need the
// derivative of the SVD. tests/examples/bundle_adjustment_aligned_point_error_test.cc
// proves the gradient against finite differences of re-aligned RMSEs.

#ifndef CERES_WIBERG_EXAMPLES_BUNDLE_ADJUSTMENT_ALIGNED_POINT_ERROR_H_
#define CERES_WIBERG_EXAMPLES_BUNDLE_ADJUSTMENT_ALIGNED_POINT_ERROR_H_

#include <vector>

#include "Eigen/Core"
#include "ceres/cost_function.h"
#include "ceres_wiberg/status.h"

namespace bundle_adjustment {

struct Similarity {
  double scale = 1.0;
  Eigen::Matrix3d rotation = Eigen::Matrix3d::Identity();
  Eigen::Vector3d translation = Eigen::Vector3d::Zero();
};

// The RMSE of `estimate` (3 x N) after the best similarity onto `truth`
// (3 x N), and, if not null, the alignment and d RMSE / d estimate (3 x N).
// Errors (kInvalidArgument): sizes that differ, fewer than 3 points, values
// that are not finite, or a degenerate estimate (all points coincident or on
// a line: the rotation is then not unique). RMSE = 0 (a perfect estimate)
// gives a zero gradient: the RMSE is not differentiable there.
ceres_wiberg::Status AlignedPointError(const Eigen::Matrix3Xd& estimate,
                                       const Eigen::Matrix3Xd& truth, double* rmse,
                                       Eigen::Matrix3Xd* gradient = nullptr,
                                       Similarity* alignment = nullptr);

// One residual, the aligned RMSE, over N point blocks of size 3 (the
// estimate x_1 ... x_N, in the order of `truth`'s columns); its Jacobian is the
// envelope gradient above. Evaluate returns false where AlignedPointError
// returns an error. As an outer loss, 1/2 RMSE^2 is half the aligned mean
// squared point error.
class AlignedPointRmseCost final : public ceres::CostFunction {
 public:
  explicit AlignedPointRmseCost(Eigen::Matrix3Xd truth);
  bool Evaluate(double const* const* parameters, double* residuals,
                double** jacobians) const override;

 private:
  const Eigen::Matrix3Xd truth_;
};

// A point error robust to a few badly placed points: the pseudo-Huber
// analogue of the aligned RMSE,
//
//   P(x) = sqrt(min_{s, R, t} (1/N) sum_j phi(|s R x_j + t - X_j|^2)),
//   phi(u) = 2 c^2 (sqrt(1 + u / c^2) - 1),
//
// quadratic (the RMSE) for point errors well below c, linear beyond, so that
// a point off by 100 c weighs like 100, not 10^4, points off by c. c is
// `relative_scale` times the RMS distance of the true points from their
// centroid (scale-free; 0.01: a point more than 1% of the scene's size off
// counts as failed). The alignment is the robust one (it minimises the same
// sum: iteratively reweighted Umeyama, weights phi'(u_j), from the least-
// squares alignment, to convergence), so the envelope theorem gives
//
//   dP/dx_j = phi'(u_j) s R^T r_j / (N P),   phi'(u) = 1 / sqrt(1 + u / c^2).
//
// Errors as AlignedPointError, and kNumericalFailure if the reweighting does
// not converge within 1000 iterations.
ceres_wiberg::Status RobustAlignedPointError(const Eigen::Matrix3Xd& estimate,
                                             const Eigen::Matrix3Xd& truth, double relative_scale,
                                             double* value, Eigen::Matrix3Xd* gradient = nullptr,
                                             Similarity* alignment = nullptr);

// One residual, P above, over N point blocks of size 3, like
// AlignedPointRmseCost.
class RobustAlignedPointCost final : public ceres::CostFunction {
 public:
  RobustAlignedPointCost(Eigen::Matrix3Xd truth, double relative_scale);
  bool Evaluate(double const* const* parameters, double* residuals,
                double** jacobians) const override;

 private:
  const Eigen::Matrix3Xd truth_;
  const double relative_scale_;
};

}  // namespace bundle_adjustment

#endif  // CERES_WIBERG_EXAMPLES_BUNDLE_ADJUSTMENT_ALIGNED_POINT_ERROR_H_
