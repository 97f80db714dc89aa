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

namespace {

// A cost function over n point blocks whose one residual is `error` of the
// points (3 x n) and its gradient.
template <typename Error>
bool EvaluatePointError(Eigen::Index n, double const* const* parameters, double* residual,
                        double** jacobians, const Error& error) {
  Eigen::Matrix3Xd estimate(3, n);
  for (Eigen::Index j = 0; j < n; ++j) {
    estimate.col(j) = Eigen::Map<const Eigen::Vector3d>(parameters[j]);
  }
  Eigen::Matrix3Xd gradient;
  if (!error(estimate, residual, jacobians != nullptr ? &gradient : nullptr).ok()) return false;
  if (jacobians != nullptr) {
    for (Eigen::Index j = 0; j < n; ++j) {
      if (jacobians[j] == nullptr) continue;
      Eigen::Map<Eigen::Vector3d> jacobian(jacobians[j]);
      jacobian = gradient.col(j);
    }
  }
  return true;
}

}  // namespace

AlignedPointRmseCost::AlignedPointRmseCost(Eigen::Matrix3Xd truth) : truth_(std::move(truth)) {
  set_num_residuals(1);
  mutable_parameter_block_sizes()->assign(truth_.cols(), 3);
}

bool AlignedPointRmseCost::Evaluate(double const* const* parameters, double* residuals,
                                    double** jacobians) const {
  return EvaluatePointError(
      truth_.cols(), parameters, residuals, jacobians,
      [this](const Eigen::Matrix3Xd& estimate, double* value, Eigen::Matrix3Xd* gradient) {
        return AlignedPointError(estimate, truth_, value, gradient);
      });
}

namespace {

// The similarity minimising sum_j w_j |s R x_j + t - y_j|^2 (Umeyama 1991
// with weights): weighted centroids, the weighted cross-covariance's SVD
// with a reflection guard, then scale and translation.
Similarity WeightedUmeyama(const Eigen::Matrix3Xd& x, const Eigen::Matrix3Xd& y,
                           const Eigen::VectorXd& w) {
  const double total = w.sum();
  const Eigen::Vector3d mean_x = x * w / total;
  const Eigen::Vector3d mean_y = y * w / total;
  const Eigen::Matrix3Xd cx = x.colwise() - mean_x;
  const Eigen::Matrix3Xd cy = y.colwise() - mean_y;
  const Eigen::Matrix3d sigma = cy * w.asDiagonal() * cx.transpose() / total;
  const Eigen::JacobiSVD<Eigen::Matrix3d> svd(sigma, Eigen::ComputeFullU | Eigen::ComputeFullV);
  Eigen::Vector3d d = Eigen::Vector3d::Ones();
  if (svd.matrixU().determinant() * svd.matrixV().determinant() < 0.0) d(2) = -1.0;
  Similarity result;
  result.rotation = svd.matrixU() * d.asDiagonal() * svd.matrixV().transpose();
  const double variance_x = (cx.colwise().squaredNorm() * w)(0) / total;
  result.scale = svd.singularValues().dot(d) / variance_x;
  result.translation = mean_y - result.scale * result.rotation * mean_x;
  return result;
}

}  // namespace

Status RobustAlignedPointError(const Eigen::Matrix3Xd& estimate, const Eigen::Matrix3Xd& truth,
                               double relative_scale, double* value, Eigen::Matrix3Xd* gradient,
                               Similarity* alignment) {
  if (!(relative_scale > 0.0) || !std::isfinite(relative_scale)) {
    return InvalidArgumentError("robust aligned point error: relative_scale must be positive");
  }
  double rmse = 0.0;
  Similarity similarity;
  Status status = AlignedPointError(estimate, truth, &rmse, nullptr, &similarity);
  if (!status.ok()) return status;
  const Eigen::Index n = estimate.cols();
  const double spread =
      std::sqrt((truth.colwise() - truth.rowwise().mean()).squaredNorm() / n);
  const double c2 = std::pow(relative_scale * spread, 2);
  const auto residuals = [&](const Similarity& a) {
    return Eigen::Matrix3Xd(((a.scale * a.rotation * estimate).colwise() + a.translation) - truth);
  };
  const auto objective = [&](const Eigen::Matrix3Xd& r) {
    // 2 c^2 (sqrt(1 + u / c^2) - 1), written without the cancellation.
    const Eigen::ArrayXXd u = r.colwise().squaredNorm().array();
    return (2.0 * u / ((1.0 + u / c2).sqrt() + 1.0)).sum() / n;
  };
  Eigen::Matrix3Xd r = residuals(similarity);
  double current = 0.0;
  bool converged = false;
  for (int iteration = 0; iteration < 1000 && !converged; ++iteration) {
    const Eigen::VectorXd weights =
        (1.0 + r.colwise().squaredNorm().array() / c2).rsqrt().matrix().transpose();
    const Similarity next = WeightedUmeyama(estimate, truth, weights);
    // Each step minimises a majoriser of the sum (phi is concave in u), so
    // the sum does not increase; stop when the alignment stops moving (to
    // round-off: the envelope gradient needs the minimiser).
    const double move =
        (next.scale * next.rotation - similarity.scale * similarity.rotation).norm() /
            similarity.scale +
        (next.translation - similarity.translation).norm() / (similarity.scale * spread);
    converged = move <= 1e-14;
    similarity = next;
    r = residuals(similarity);
  }
  current = objective(r);
  if (!converged) {
    return ceres_wiberg::NumericalFailureError(
        "robust aligned point error: the reweighted alignment did not converge in 1000 "
        "iterations");
  }
  *value = std::sqrt(current);
  if (gradient != nullptr) {
    if (*value > 0.0) {
      const Eigen::VectorXd weights =
          (1.0 + r.colwise().squaredNorm().array() / c2).rsqrt().matrix().transpose();
      *gradient = (similarity.scale / (n * *value)) * similarity.rotation.transpose() * r *
                  weights.asDiagonal();
    } else {
      *gradient = Eigen::Matrix3Xd::Zero(3, n);
    }
  }
  if (alignment != nullptr) *alignment = similarity;
  return Status::Ok();
}

RobustAlignedPointCost::RobustAlignedPointCost(Eigen::Matrix3Xd truth, double relative_scale)
    : truth_(std::move(truth)), relative_scale_(relative_scale) {
  set_num_residuals(1);
  mutable_parameter_block_sizes()->assign(truth_.cols(), 3);
}

bool RobustAlignedPointCost::Evaluate(double const* const* parameters, double* residuals,
                                      double** jacobians) const {
  return EvaluatePointError(
      truth_.cols(), parameters, residuals, jacobians,
      [this](const Eigen::Matrix3Xd& estimate, double* value, Eigen::Matrix3Xd* gradient) {
        return RobustAlignedPointError(estimate, truth_, relative_scale_, value, gradient);
      });
}

}  // namespace bundle_adjustment
