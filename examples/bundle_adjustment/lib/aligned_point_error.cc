#include "aligned_point_error.h"

#include <cmath>
#include <string>
#include <utility>

#include "Eigen/Geometry"
#include "Eigen/SVD"

namespace bundle_adjustment {

using ceres_wiberg::InvalidArgumentError;
using ceres_wiberg::Status;

Status AlignedPointError(const Eigen::Matrix3Xd& estimate, const Eigen::Matrix3Xd& truth,
                         double* rmse, Eigen::Matrix3Xd* gradient, Similarity* alignment) {
  const Eigen::Index n = estimate.cols();
  if (truth.cols() != n) {
    return InvalidArgumentError("aligned point error: " + std::to_string(n) +
                                " estimated points but " + std::to_string(truth.cols()) +
                                " true ones");
  }
  if (n < 3) return InvalidArgumentError("aligned point error: needs at least 3 points");
  if (!estimate.allFinite() || !truth.allFinite()) {
    return InvalidArgumentError("aligned point error: a point coordinate is not finite");
  }
  // The estimate's spread: Umeyama's rotation is unique only if the centred
  // points span at least a plane (two non-zero singular values).
  const Eigen::Matrix3Xd centred = estimate.colwise() - estimate.rowwise().mean();
  const Eigen::Vector3d spread = Eigen::JacobiSVD<Eigen::Matrix3Xd>(centred).singularValues();
  if (!(spread(1) > 1e-12 * spread(0))) {
    return InvalidArgumentError(
        "aligned point error: the estimated points are coincident or collinear");
  }
  const Eigen::Matrix4d T = Eigen::umeyama(estimate, truth, /*with_scaling=*/true);
  Similarity similarity;
  // umeyama returns [c R, t; 0, 1].
  similarity.scale = std::cbrt(T.topLeftCorner<3, 3>().determinant());
  similarity.rotation = T.topLeftCorner<3, 3>() / similarity.scale;
  similarity.translation = T.topRightCorner<3, 1>();
  const Eigen::Matrix3Xd residual =
      ((similarity.scale * similarity.rotation * estimate).colwise() + similarity.translation) -
      truth;
  const double value = std::sqrt(residual.squaredNorm() / n);
  *rmse = value;
  if (gradient != nullptr) {
    if (value > 0.0) {
      *gradient = (similarity.scale / (n * value)) * similarity.rotation.transpose() * residual;
    } else {
      *gradient = Eigen::Matrix3Xd::Zero(3, n);
    }
  }
  if (alignment != nullptr) *alignment = similarity;
  return Status::Ok();
}

AlignedPointRmseCost::AlignedPointRmseCost(Eigen::Matrix3Xd truth) : truth_(std::move(truth)) {
  set_num_residuals(1);
  mutable_parameter_block_sizes()->assign(truth_.cols(), 3);
}

bool AlignedPointRmseCost::Evaluate(double const* const* parameters, double* residuals,
                                    double** jacobians) const {
  const Eigen::Index n = truth_.cols();
  Eigen::Matrix3Xd estimate(3, n);
  for (Eigen::Index j = 0; j < n; ++j) {
    estimate.col(j) = Eigen::Map<const Eigen::Vector3d>(parameters[j]);
  }
  Eigen::Matrix3Xd gradient;
  if (!AlignedPointError(estimate, truth_, residuals,
                         jacobians != nullptr ? &gradient : nullptr)
           .ok()) {
    return false;
  }
  if (jacobians != nullptr) {
    for (Eigen::Index j = 0; j < n; ++j) {
      if (jacobians[j] == nullptr) continue;
      Eigen::Map<Eigen::Vector3d> jacobian(jacobians[j]);
      jacobian = gradient.col(j);
    }
  }
  return true;
}

}  // namespace bundle_adjustment
