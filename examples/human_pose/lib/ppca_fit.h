// The model frame of the pose model and the baseline mixture of PPCA
// components fitted to training poses without regard to the energy
// (supplementary section 4: "the baseline is a model tuned elsewhere").
//
// The model frame (CanonicalisePose). Starting from a world pose (z up, mm):
//   1. translate so that the root joint kHip is at the origin;
//   2. rotate about z so that the horizontal part of the hip axis
//      kRightHip - kLeftHip points along +x.
// Nothing else changes: z stays up, units stay mm, no scaling and no tilt.
// With Human3.6M's anatomical left/right labels the person then faces +y
// (forward = z x right) and its left hip is at -x. In the canonical pose
// right_hip.y == left_hip.y and right_hip.x > left_hip.x.
//
// A world pose is recovered as
//   pose = RotationAboutZ(HipHeading(pose)) * CanonicalisePose(pose) + root,
// so the energy's unknown rotation about z (angle theta) maps a model pose
// X to RotationAboutZ(theta) * X before translation and projection. The real
// model of Tome et al. uses the same axes (see tome_model.h).
//
// The baseline fit (FitPpcaMixture): canonicalise every training pose, cluster
// the 51-vectors by k-means (k-means++ seeding, several restarts, the lowest
// within-cluster sum of squares kept), then per cluster the mean and the
// kNumBasis leading eigenvectors (unit norm, orthogonal) and eigenvalues of
// the cluster's maximum-likelihood covariance (1/n): the coefficient
// variances of the rank-kNumBasis PPCA model in the limit of small isotropic
// noise. Details and measured fit quality: examples/human_pose/MODEL.md.

#ifndef CERES_WIBERG_EXAMPLES_HUMAN_POSE_PPCA_FIT_H_
#define CERES_WIBERG_EXAMPLES_HUMAN_POSE_PPCA_FIT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "Eigen/Core"
#include "ceres_wiberg/status.h"
#include "pose_data.h"
#include "pose_model.h"

namespace human_pose {

// The rotation by angle (radians) about +z (counter-clockwise seen from above).
Eigen::Matrix3d RotationAboutZ(double angle);

// The angle theta of the horizontal hip axis kRightHip - kLeftHip from +x, in
// (-pi, pi]: CanonicalisePose rotates the pose by -theta. Zero when the hips
// coincide horizontally (see HasHorizontalHipAxis).
double HipHeading(const Pose& pose);

// True when the hips are at least min_separation mm apart horizontally, i.e.
// the canonical rotation is defined.
bool HasHorizontalHipAxis(const Pose& pose, double min_separation = 1e-6);

// The pose in the model frame (see the top of this file). If the hips
// coincide horizontally only the translation is applied.
Pose CanonicalisePose(const Pose& pose);

struct PpcaFitOptions {
  // K, the number of mixture components (3, 6 or 10 in the paper).
  int num_components = 3;
  // Seeds the std::mt19937_64 of the k-means++ seeding; the same seed and
  // poses give bit-identical models.
  uint64_t seed = 1;
  // k-means runs from this many k-means++ seedings; the run with the lowest
  // within-cluster sum of squared distances is kept.
  int kmeans_restarts = 5;
  // Lloyd iterations per run (a run stops earlier when no assignment changes).
  int kmeans_max_iterations = 100;
  // Eigenvalues below this (mm^2) are raised to it, so every coefficient
  // variance is positive (the canonical frame fixes 4 of the 51 dimensions,
  // and small clusters have fewer than kNumBasis non-zero eigenvalues).
  double min_variance = 1.0;
  // A cluster with fewer poses is an error (kInvalidArgument naming it).
  // The default kNumBasis + 1 is the smallest size at which all kNumBasis
  // directions can carry data; a smaller value (>= 2) is allowed, and then
  // the directions beyond the cluster's rank are arbitrary orthonormal
  // completions with variance min_variance.
  int min_poses_per_component = kNumBasis + 1;

  // Returns false and explains in *error when an option is unusable.
  bool IsValid(std::string* error) const;
};

// What the fit found, per component in the order of PoseModel::components
// (sorted by decreasing number of poses, ties by k-means cluster index).
struct PpcaFitSummary {
  double kmeans_sum_of_squares = 0.0;   // best run, mm^2 over all poses
  std::vector<double> restart_sums_of_squares;  // every run, in order
  std::vector<int> component_sizes;     // training poses per component
  std::vector<double> mixture_weights;  // component_sizes / number of poses
  // Fraction of the cluster's total variance in the kNumBasis directions.
  std::vector<double> explained_variance;
  // Mean over the training poses of ReconstructionError on their own
  // component, mm.
  double mean_reconstruction_error = 0.0;
  // One line per component.
  std::string BriefReport() const;
};

// Fits a K-component PPCA mixture to the training poses (world frame, mm; they
// are canonicalised here) and writes it to *model, whose weights are reset to
// the hand-set defaults of EnergyWeights. Errors (kInvalidArgument): invalid
// options, no poses, non-finite coordinates or coincident hips (naming the
// pose), fewer than num_components * min_poses_per_component poses, or a
// cluster smaller than min_poses_per_component. *model is left untouched on
// error. summary may be null.
ceres_wiberg::Status FitPpcaMixture(const std::vector<Pose>& training_poses,
                                    const PpcaFitOptions& options, PoseModel* model,
                                    PpcaFitSummary* summary = nullptr);

// The least-squares coefficients c of pose - mean in the component's basis
// (exact projection also for a non-orthogonal basis). pose in the model frame.
Eigen::VectorXd ProjectOntoComponent(const PpcaComponent& component, const Pose& pose);

// Mean per-joint distance (mm) between a model-frame pose and its projection
// mean + sum_i c_i basis[i] onto the component's affine subspace.
double ReconstructionError(const PpcaComponent& component, const Pose& pose);

// The negative log-density of the coefficients ProjectOntoComponent(pose)
// under the component's prior, 0.5 * sum_i c_i^2 / variances[i] (up to the
// constant); the distance off the subspace is ignored.
double CoefficientPriorEnergy(const PpcaComponent& component, const Pose& pose);

}  // namespace human_pose

#endif  // CERES_WIBERG_EXAMPLES_HUMAN_POSE_PPCA_FIT_H_
