// The reprojection error of bundle adjustment as Ceres' own examples write it
// (examples/snavely_reprojection_error.h of Ceres Solver): the camera model of
// Noah Snavely's Bundler, 9 parameters per camera
//
//   [angle-axis rotation (3), translation (3), focal length, k1, k2],
//
// a point X maps to P = R X + t, p = -P / P_z (the camera looks down -z),
// then radial distortion d = 1 + k1 |p|^2 + k2 |p|^4 and pixels f d p.

#ifndef CERES_WIBERG_EXAMPLES_BUNDLE_ADJUSTMENT_SNAVELY_REPROJECTION_ERROR_H_
#define CERES_WIBERG_EXAMPLES_BUNDLE_ADJUSTMENT_SNAVELY_REPROJECTION_ERROR_H_

#include "ceres/autodiff_cost_function.h"
#include "ceres/rotation.h"
#include "ceres_wiberg/second_order_cost_function.h"

namespace bundle_adjustment {

constexpr int kCameraSize = 9;
constexpr int kPointSize = 3;

// How the exact Hessian (ceres_wiberg::HessianModel::EXACT) gets the
// reprojection error's curvature sum_k c_k d2r_k/dp2. To Ceres' solvers the
// three are the same cost function (Ceres' autodiff Evaluate).
enum class ReprojectionCurvature {
  // SnavelyCostFunction: derived by hand, in closed form (the default).
  HAND_DERIVED,
  // ceres_wiberg::AutoDiffSecondOrderCostFunction: second-order forward-mode
  // autodiff of the same functor (the generic route; to compare).
  AUTODIFF,
  // ceres::AutoDiffCostFunction: the library differences its Jacobians.
  DIFFERENCED,
};

// Projects `point` with `camera` into pixels; templated for ceres::Jet.
template <typename T>
void SnavelyProject(const T* camera, const T* point, T* pixel) {
  T p[3];
  ceres::AngleAxisRotatePoint(camera, point, p);
  p[0] += camera[3];
  p[1] += camera[4];
  p[2] += camera[5];
  const T xp = -p[0] / p[2];
  const T yp = -p[1] / p[2];
  const T r2 = xp * xp + yp * yp;
  const T distortion = 1.0 + r2 * (camera[7] + camera[8] * r2);
  pixel[0] = camera[6] * distortion * xp;
  pixel[1] = camera[6] * distortion * yp;
}

struct SnavelyReprojectionError {
  SnavelyReprojectionError(double observed_x, double observed_y)
      : observed_x(observed_x), observed_y(observed_y) {}

  template <typename T>
  bool operator()(const T* const camera, const T* const point, T* residuals) const {
    T pixel[2];
    SnavelyProject(camera, point, pixel);
    residuals[0] = pixel[0] - observed_x;
    residuals[1] = pixel[1] - observed_y;
    return true;
  }

  // The cost function of an observation; `curvature` says how the exact
  // Hessian gets its curvature (see ReprojectionCurvature below).
  static ceres::CostFunction* Create(double observed_x, double observed_y,
                                     ReprojectionCurvature curvature);

  double observed_x;
  double observed_y;
};

// The curvature of the reprojection error, sum_k weights[k] d2 r_k / dp2,
// p = (camera (9), point (3)), into `hessian` (12 x 12, row-major), derived
// by hand (snavely_reprojection_error.cc): the chain rule through
// P = R(w) X + t, p = -P_xy / P_z and f d(|p|^2) p, with R(w) X written
// a(s) X + b(s) w x X + c(s) (w.X) w, s = |w|^2 (Rodrigues' formula, as
// ceres::AngleAxisRotatePoint), whose coefficients' first and second
// derivatives in s are Taylor series for |w| < 2 rad and closed forms above.
// Unlike the autodiff of AngleAxisRotatePoint (SecondOrderJet differentiates
// its branch R = I + [w]x taken when |w|^2 < epsilon, whose curvature is
// zero), this is the rotation's curvature at every angle, w = 0 included.
// 4.5e3 instructions a call against AutoDiffSecondOrderCostFunction's
// 6.6e4 (callgrind, Release build).
void SnavelyCurvature(const double* camera, const double* point, const double* weights,
                      double* hessian);

// The reprojection error for the exact Hessian: Evaluate is Ceres' autodiff
// of SnavelyReprojectionError (to Ceres' solvers, and in value and Jacobian,
// the same cost function as ceres::AutoDiffCostFunction's),
// EvaluateCurvature is SnavelyCurvature.
class SnavelyCostFunction final : public ceres_wiberg::SecondOrderCostFunction {
 public:
  SnavelyCostFunction(double observed_x, double observed_y)
      : autodiff_(new SnavelyReprojectionError(observed_x, observed_y)) {
    set_num_residuals(2);
    *mutable_parameter_block_sizes() = autodiff_.parameter_block_sizes();
  }

  bool Evaluate(double const* const* parameters, double* residuals,
                double** jacobians) const override {
    return autodiff_.Evaluate(parameters, residuals, jacobians);
  }
  bool EvaluateCurvature(double const* const* parameters, const double* weights,
                         double* hessian) const override {
    SnavelyCurvature(parameters[0], parameters[1], weights, hessian);
    return true;
  }

 private:
  ceres::AutoDiffCostFunction<SnavelyReprojectionError, 2, kCameraSize, kPointSize> autodiff_;
};

inline ceres::CostFunction* SnavelyReprojectionError::Create(double observed_x,
                                                              double observed_y,
                                                              ReprojectionCurvature curvature) {
  switch (curvature) {
    case ReprojectionCurvature::HAND_DERIVED:
      return new SnavelyCostFunction(observed_x, observed_y);
    case ReprojectionCurvature::AUTODIFF:
      return new ceres_wiberg::AutoDiffSecondOrderCostFunction<SnavelyReprojectionError, 2,
                                                               kCameraSize, kPointSize>(
          new SnavelyReprojectionError(observed_x, observed_y));
    case ReprojectionCurvature::DIFFERENCED:
      break;
  }
  return new ceres::AutoDiffCostFunction<SnavelyReprojectionError, 2, kCameraSize, kPointSize>(
      new SnavelyReprojectionError(observed_x, observed_y));
}

}  // namespace bundle_adjustment

#endif  // CERES_WIBERG_EXAMPLES_BUNDLE_ADJUSTMENT_SNAVELY_REPROJECTION_ERROR_H_
