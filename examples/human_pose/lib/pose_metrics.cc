#include "pose_metrics.h"

#include "Eigen/LU"
#include "Eigen/SVD"
#include "glog/logging.h"
#include "skeleton.h"

namespace human_pose {
namespace {

const std::vector<int>& AllJoints() {
  static const std::vector<int> joints = [] {
    std::vector<int> j(kNumJoints);
    for (int i = 0; i < kNumJoints; ++i) j[i] = i;
    return j;
  }();
  return joints;
}

}  // namespace

double MeanJointError(const Pose& a, const Pose& b, const std::vector<int>& joints) {
  CHECK(!joints.empty()) << "no joints to average over";
  double sum = 0.0;
  for (int j : joints) {
    CHECK(j >= 0 && j < kNumJoints) << "joint " << j << " is not in [0, " << kNumJoints << ")";
    sum += (a.col(j) - b.col(j)).norm();
  }
  return sum / static_cast<double>(joints.size());
}

Pose ProcrustesAlign(const Pose& estimate, const Pose& truth, const std::vector<int>& joints) {
  CHECK(!joints.empty()) << "Procrustes alignment needs at least one joint";
  const int n = static_cast<int>(joints.size());
  Eigen::Matrix3Xd x(3, n), y(3, n);
  for (int i = 0; i < n; ++i) {
    CHECK(joints[i] >= 0 && joints[i] < kNumJoints)
        << "joint " << joints[i] << " is not in [0, " << kNumJoints << ")";
    x.col(i) = estimate.col(joints[i]);
    y.col(i) = truth.col(joints[i]);
  }
  const Eigen::Vector3d mean_x = x.rowwise().mean();
  const Eigen::Vector3d mean_y = y.rowwise().mean();
  x.colwise() -= mean_x;
  y.colwise() -= mean_y;
  const double variance_x = x.squaredNorm() / n;

  Pose aligned;
  // Umeyama (1991): with Sigma = Y X^T / n = U D V^T, R = U S V^T where
  // S = diag(1, 1, det(U V^T)) keeps R a rotation, and s = tr(D S) / var(X).
  const double scale_tolerance = 1e-12 * (1.0 + y.squaredNorm() / n);
  if (!(variance_x > scale_tolerance)) {
    aligned.colwise() = mean_y;
    return aligned;
  }
  const Eigen::Matrix3d sigma = y * x.transpose() / n;
  const Eigen::JacobiSVD<Eigen::Matrix3d> svd(sigma, Eigen::ComputeFullU | Eigen::ComputeFullV);
  Eigen::Vector3d s(1.0, 1.0, 1.0);
  if (svd.matrixU().determinant() * svd.matrixV().determinant() < 0.0) s(2) = -1.0;
  const Eigen::Matrix3d rotation = svd.matrixU() * s.asDiagonal() * svd.matrixV().transpose();
  const double scale = svd.singularValues().dot(s) / variance_x;
  const Eigen::Vector3d translation = mean_y - scale * rotation * mean_x;
  aligned = (scale * rotation * estimate).colwise() + translation;
  return aligned;
}

double P1(const Pose& estimate, const Pose& truth) {
  const Pose e = estimate.colwise() - estimate.col(kHip);
  const Pose t = truth.colwise() - truth.col(kHip);
  return MeanJointError(e, t, AllJoints());
}

double P2(const Pose& estimate, const Pose& truth) {
  return MeanJointError(ProcrustesAlign(estimate, truth, AllJoints()), truth, AllJoints());
}

double P3(const Pose& estimate, const Pose& truth) {
  return MeanJointError(ProcrustesAlign(estimate, truth, P3Joints()), truth, P3Joints());
}

}  // namespace human_pose
