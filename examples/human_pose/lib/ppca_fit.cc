#include "ppca_fit.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numeric>
#include <random>
#include <sstream>

#include "Eigen/Dense"
#include "glog/logging.h"

namespace human_pose {
namespace {

using ceres_wiberg::InvalidArgumentError;
using ceres_wiberg::Status;

constexpr int kPoseDim = 3 * kNumJoints;
using PoseVector = Eigen::Matrix<double, kPoseDim, 1>;

// Uniform in [0, 1) from the top 53 bits: unlike std::uniform_real_distribution
// the same on every standard library.
double Uniform01(std::mt19937_64* rng) {
  return static_cast<double>((*rng)() >> 11) * 0x1.0p-53;
}

int UniformIndex(int n, std::mt19937_64* rng) {
  return std::min(n - 1, static_cast<int>(Uniform01(rng) * n));
}

struct KMeansRun {
  std::vector<int> assignment;
  Eigen::MatrixXd centres;  // kPoseDim x k
  double sum_of_squares = 0.0;
};

// Squared distances, k x n, of every point (column) to every centre (column).
Eigen::MatrixXd SquaredDistances(const Eigen::MatrixXd& points,
                                 const Eigen::VectorXd& point_norms,
                                 const Eigen::MatrixXd& centres) {
  Eigen::MatrixXd d = -2.0 * centres.transpose() * points;
  d.colwise() += centres.colwise().squaredNorm().transpose();
  d.rowwise() += point_norms.transpose();
  return d.cwiseMax(0.0);
}

// k-means++ seeding (Arthur and Vassilvitskii 2007) then Lloyd iterations.
// An emptied cluster takes the point farthest from its centre.
KMeansRun RunKMeans(const Eigen::MatrixXd& points, const Eigen::VectorXd& point_norms, int k,
                    int max_iterations, std::mt19937_64* rng) {
  const int n = static_cast<int>(points.cols());
  KMeansRun run;
  run.centres.resize(points.rows(), k);
  run.centres.col(0) = points.col(UniformIndex(n, rng));
  Eigen::VectorXd min_d2 =
      (points.colwise() - run.centres.col(0)).colwise().squaredNorm().transpose();
  for (int c = 1; c < k; ++c) {
    const double total = min_d2.sum();
    int chosen = UniformIndex(n, rng);
    if (total > 0.0) {
      const double target = Uniform01(rng) * total;
      double cumulative = 0.0;
      chosen = -1;
      for (int i = 0; i < n; ++i) {
        if (min_d2[i] <= 0.0) continue;
        chosen = i;  // the last point with positive weight if rounding runs out
        cumulative += min_d2[i];
        if (cumulative > target) break;
      }
    }
    run.centres.col(c) = points.col(chosen);
    min_d2 = min_d2.cwiseMin(
        (points.colwise() - run.centres.col(c)).colwise().squaredNorm().transpose());
  }

  run.assignment.assign(n, -1);
  std::vector<double> distance(n, 0.0);
  for (int iteration = 0; iteration < max_iterations; ++iteration) {
    const Eigen::MatrixXd d2 = SquaredDistances(points, point_norms, run.centres);
    bool changed = false;
    for (int i = 0; i < n; ++i) {
      int best = 0;
      d2.col(i).minCoeff(&best);  // the first minimum on ties
      distance[i] = d2(best, i);
      if (best != run.assignment[i]) {
        run.assignment[i] = best;
        changed = true;
      }
    }
    if (!changed) break;

    std::vector<int> counts(k, 0);
    for (int i = 0; i < n; ++i) ++counts[run.assignment[i]];
    for (int c = 0; c < k; ++c) {
      if (counts[c] > 0) continue;
      int farthest = -1;
      for (int i = 0; i < n; ++i) {
        if (counts[run.assignment[i]] > 1 && (farthest < 0 || distance[i] > distance[farthest])) {
          farthest = i;
        }
      }
      CHECK_GE(farthest, 0) << "k-means needs at least k points";
      --counts[run.assignment[farthest]];
      run.assignment[farthest] = c;
      distance[farthest] = 0.0;
      counts[c] = 1;
    }
    run.centres.setZero();
    for (int i = 0; i < n; ++i) run.centres.col(run.assignment[i]) += points.col(i);
    for (int c = 0; c < k; ++c) run.centres.col(c) /= counts[c];
  }

  run.sum_of_squares = 0.0;
  for (int i = 0; i < n; ++i) {
    run.sum_of_squares += (points.col(i) - run.centres.col(run.assignment[i])).squaredNorm();
  }
  return run;
}

// The basis as a kPoseDim x size matrix.
Eigen::MatrixXd BasisMatrix(const PpcaComponent& component) {
  Eigen::MatrixXd basis(kPoseDim, component.basis.size());
  for (size_t i = 0; i < component.basis.size(); ++i) {
    basis.col(i) = Eigen::Map<const PoseVector>(component.basis[i].data());
  }
  return basis;
}

double MeanJointNorm(const PoseVector& residual) {
  return Eigen::Map<const Pose>(residual.data()).colwise().norm().mean();
}

}  // namespace

Eigen::Matrix3d RotationAboutZ(double angle) {
  const double c = std::cos(angle), s = std::sin(angle);
  Eigen::Matrix3d rotation;
  rotation << c, -s, 0.0, s, c, 0.0, 0.0, 0.0, 1.0;
  return rotation;
}

bool HasHorizontalHipAxis(const Pose& pose, double min_separation) {
  const Eigen::Vector3d axis = pose.col(kRightHip) - pose.col(kLeftHip);
  return axis.head<2>().norm() >= min_separation;
}

double HipHeading(const Pose& pose) {
  if (!HasHorizontalHipAxis(pose)) return 0.0;
  const Eigen::Vector3d axis = pose.col(kRightHip) - pose.col(kLeftHip);
  return std::atan2(axis.y(), axis.x());
}

Pose CanonicalisePose(const Pose& pose) {
  const Pose centred = pose.colwise() - pose.col(kHip);
  return RotationAboutZ(-HipHeading(pose)) * centred;
}

bool PpcaFitOptions::IsValid(std::string* error) const {
  CHECK(error != nullptr);
  if (num_components < 1) {
    *error = "num_components must be >= 1, got " + std::to_string(num_components);
  } else if (kmeans_restarts < 1) {
    *error = "kmeans_restarts must be >= 1, got " + std::to_string(kmeans_restarts);
  } else if (kmeans_max_iterations < 1) {
    *error = "kmeans_max_iterations must be >= 1, got " + std::to_string(kmeans_max_iterations);
  } else if (!(min_variance > 0.0) || !std::isfinite(min_variance)) {
    *error = "min_variance must be positive and finite, got " + std::to_string(min_variance);
  } else if (min_poses_per_component < 2) {
    *error = "min_poses_per_component must be >= 2, got " +
             std::to_string(min_poses_per_component);
  } else {
    return true;
  }
  return false;
}

std::string PpcaFitSummary::BriefReport() const {
  std::ostringstream out;
  char line[160];
  std::snprintf(line, sizeof(line),
                "PPCA mixture: %zu components, k-means sum of squares %.6g mm^2, mean "
                "reconstruction error %.2f mm\n",
                component_sizes.size(), kmeans_sum_of_squares, mean_reconstruction_error);
  out << line;
  for (size_t k = 0; k < component_sizes.size(); ++k) {
    std::snprintf(line, sizeof(line), "  component %zu: %d poses (%.1f%%), %.2f%% variance explained\n",
                  k, component_sizes[k], 100.0 * mixture_weights[k], 100.0 * explained_variance[k]);
    out << line;
  }
  return out.str();
}

Status FitPpcaMixture(const std::vector<Pose>& training_poses, const PpcaFitOptions& options,
                      PoseModel* model, PpcaFitSummary* summary) {
  CHECK(model != nullptr);
  std::string error;
  if (!options.IsValid(&error)) return InvalidArgumentError("FitPpcaMixture: " + error);
  const int n = static_cast<int>(training_poses.size());
  const int k = options.num_components;
  if (n == 0) return InvalidArgumentError("FitPpcaMixture: no training poses");
  if (static_cast<int64_t>(n) < static_cast<int64_t>(k) * options.min_poses_per_component) {
    return InvalidArgumentError("FitPpcaMixture: " + std::to_string(n) + " poses for " +
                                std::to_string(k) + " components; at least " +
                                std::to_string(k) + " x min_poses_per_component (" +
                                std::to_string(options.min_poses_per_component) + ") needed");
  }

  Eigen::MatrixXd points(kPoseDim, n);
  for (int i = 0; i < n; ++i) {
    const Pose& pose = training_poses[i];
    if (!pose.allFinite()) {
      return InvalidArgumentError("FitPpcaMixture: training pose " + std::to_string(i) +
                                  " has a non-finite coordinate");
    }
    if (!HasHorizontalHipAxis(pose)) {
      return InvalidArgumentError("FitPpcaMixture: training pose " + std::to_string(i) +
                                  " has its hips at the same horizontal position; the model "
                                  "frame is undefined");
    }
    const Pose canonical = CanonicalisePose(pose);
    points.col(i) = Eigen::Map<const PoseVector>(canonical.data());
  }
  const Eigen::VectorXd point_norms = points.colwise().squaredNorm().transpose();

  std::mt19937_64 rng(options.seed);
  KMeansRun best;
  std::vector<double> restart_sums;
  for (int restart = 0; restart < options.kmeans_restarts; ++restart) {
    KMeansRun run = RunKMeans(points, point_norms, k, options.kmeans_max_iterations, &rng);
    restart_sums.push_back(run.sum_of_squares);
    if (restart == 0 || run.sum_of_squares < best.sum_of_squares) best = std::move(run);
  }

  // Components ordered by decreasing size (stable: ties keep the cluster order).
  std::vector<std::vector<int>> members(k);
  for (int i = 0; i < n; ++i) members[best.assignment[i]].push_back(i);
  std::vector<int> order(k);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return members[a].size() > members[b].size(); });

  PoseModel fitted;
  PpcaFitSummary report;
  report.kmeans_sum_of_squares = best.sum_of_squares;
  report.restart_sums_of_squares = restart_sums;
  double total_reconstruction_error = 0.0;
  for (int slot = 0; slot < k; ++slot) {
    const std::vector<int>& cluster = members[order[slot]];
    const int size = static_cast<int>(cluster.size());
    if (size < options.min_poses_per_component) {
      return InvalidArgumentError(
          "FitPpcaMixture: component " + std::to_string(slot) + " of " + std::to_string(k) +
          " has " + std::to_string(size) + " poses, fewer than min_poses_per_component (" +
          std::to_string(options.min_poses_per_component) +
          "); use fewer components or more poses");
    }
    Eigen::MatrixXd centred(kPoseDim, size);
    for (int j = 0; j < size; ++j) centred.col(j) = points.col(cluster[j]);
    const PoseVector mean = centred.rowwise().mean();
    centred.colwise() -= mean;
    const Eigen::MatrixXd covariance = centred * centred.transpose() / size;
    const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eigen(covariance);
    if (eigen.info() != Eigen::Success) {
      return Status(ceres_wiberg::StatusCode::kInternalError,
                    "FitPpcaMixture: eigen-decomposition of component " + std::to_string(slot) +
                        " failed");
    }

    PpcaComponent component;
    component.mean = Eigen::Map<const Pose>(mean.data());
    component.variances.resize(kNumBasis);
    Eigen::MatrixXd basis(kPoseDim, kNumBasis);
    double retained = 0.0;
    for (int b = 0; b < kNumBasis; ++b) {
      const int index = kPoseDim - 1 - b;  // eigenvalues ascend
      PoseVector direction = eigen.eigenvectors().col(index);
      int largest = 0;
      direction.cwiseAbs().maxCoeff(&largest);
      if (direction[largest] < 0.0) direction = -direction;  // a fixed sign
      basis.col(b) = direction;
      component.basis.push_back(Eigen::Map<const Pose>(direction.data()));
      const double eigenvalue = eigen.eigenvalues()[index];
      retained += std::max(eigenvalue, 0.0);
      component.variances[b] = std::max(eigenvalue, options.min_variance);
    }
    const double total = eigen.eigenvalues().cwiseMax(0.0).sum();
    report.component_sizes.push_back(size);
    report.mixture_weights.push_back(static_cast<double>(size) / n);
    report.explained_variance.push_back(total > 0.0 ? retained / total : 1.0);

    const Eigen::MatrixXd residuals = centred - basis * (basis.transpose() * centred);
    for (int j = 0; j < size; ++j) {
      total_reconstruction_error += MeanJointNorm(residuals.col(j));
    }
    fitted.components.push_back(std::move(component));
  }
  report.mean_reconstruction_error = total_reconstruction_error / n;

  *model = std::move(fitted);  // weights: the EnergyWeights defaults
  if (summary != nullptr) *summary = std::move(report);
  return Status::Ok();
}

Eigen::VectorXd ProjectOntoComponent(const PpcaComponent& component, const Pose& pose) {
  CHECK(!component.basis.empty());
  const Eigen::MatrixXd basis = BasisMatrix(component);
  const Pose offset = pose - component.mean;
  const PoseVector x = Eigen::Map<const PoseVector>(offset.data());
  return basis.colPivHouseholderQr().solve(x);
}

double ReconstructionError(const PpcaComponent& component, const Pose& pose) {
  const Eigen::VectorXd coefficients = ProjectOntoComponent(component, pose);
  const Pose offset = pose - component.mean;
  const PoseVector residual =
      Eigen::Map<const PoseVector>(offset.data()) - BasisMatrix(component) * coefficients;
  return MeanJointNorm(residual);
}

double CoefficientPriorEnergy(const PpcaComponent& component, const Pose& pose) {
  CHECK_EQ(static_cast<size_t>(component.variances.size()), component.basis.size());
  const Eigen::VectorXd coefficients = ProjectOntoComponent(component, pose);
  return 0.5 * (coefficients.array().square() / component.variances.array()).sum();
}

}  // namespace human_pose
