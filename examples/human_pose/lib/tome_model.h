// Reader of the real 3D pose model of Tome et al. ("Lifting from the deep",
// CVPR 2017), as published with the code of the Wibergian learning paper:
// model_parameters.h5 (mu_K (K,3,17), e_K (K,25,3,17), sigma_K (K,26) for
// K = 3, 6, 10) and avg_cameras.h5 (cams (4,3,3)), HDF5 float64, row-major.
//
// What the files hold (checked against the data and against Tome et al.'s
// public code, packages/lifting/utils/{prob_model,upright_fast}.py):
//
// * Frame. z is up (head at z = +531 mm, feet at -785 mm in the standing
//   mean as stored), millimetres, the right hip at +x (x = +130, left hip
//   -130) and the person facing +y (the knees of every component mean are
//   30-410 mm in front of the root, at +y): the axes of the model frame of
//   ppca_fit.h. The origin differs: Tome's poses are centred on the mean of
//   the 17 joints (the root is at about (0, -54, -68)), ours on the root
//   joint. The hip axis of the component means is up to 4.3 degrees off +x
//   (K = 10); no rotation is applied, as the energy's unknown rotation about
//   z absorbs it.
// * Basis. 25 unit-norm, mutually orthogonal basis poses per component, in
//   decreasing order of variance.
// * sigma_K. NOT variances: the first 25 entries are inverse standard
//   deviations of the coefficients, 1 / sqrt(variance) in mm^-1 (0.0016 to
//   0.059: standard deviations of 630 mm down to 17 mm). The 26th is the
//   inverse standard deviation of the PPCA isotropic noise (0.051 to 0.114:
//   9 to 19 mm), which Tome's code multiplies into the reprojection
//   residual: the per-component loss scale. Their code uses sigma as the rows
//   of the regulariser (cost sum_i (sigma_i a_i)^2) and adds
//   sum_i -log sigma_i, the log-determinant of a covariance with standard
//   deviations 1 / sigma_i. Read as variances in mm^2 the values would give
//   standard deviations under 0.25 mm.
//
// ReadTomeModel converts to the conventions of pose_model.h:
//   mean     = TomeToModelFrame(mu)        (root moved to the origin)
//   basis[i] = TomeToModelFrame(e_i)       (the same linear map; the basis is
//                                           then no longer exactly orthonormal)
//   variances[i] = 1 / sigma_i^2           (mm^2)
// so that the converted model is the same distribution over poses, root
// centred. The raw sigma and the loss scales are returned in TomeModelExtras.

#ifndef CERES_WIBERG_EXAMPLES_HUMAN_POSE_TOME_MODEL_H_
#define CERES_WIBERG_EXAMPLES_HUMAN_POSE_TOME_MODEL_H_

#include <string>
#include <vector>

#include "Eigen/Core"
#include "ceres_wiberg/status.h"
#include "pose_data.h"
#include "pose_model.h"

namespace human_pose {

// What the files hold beyond PoseModel, per component.
struct TomeModelExtras {
  Eigen::MatrixXd raw_sigma;    // sigma_K as stored, K x 26
  Eigen::VectorXd loss_scales;  // raw_sigma(k, 25): Tome's residual weight, 1/mm
  Eigen::VectorXd noise_std;    // 1 / loss_scales: PPCA isotropic noise std, mm
  std::vector<Pose> raw_means;  // mu_K as stored (centred on the joints' mean)
};

// Tome's storage frame to the model frame: every column minus the root
// column. Linear, so it maps means and basis poses alike.
Pose TomeToModelFrame(const Pose& pose);

// Reads the K-component model (datasets mu_K, e_K, sigma_K) from
// model_parameters.h5 and writes it, converted as above, to *model (weights
// reset to the EnergyWeights defaults). extras may be null. Errors name the
// file and the dataset: kInvalidArgument for a missing or unreadable file, a
// missing dataset (listing the K the file has), a non-float type or a wrong
// shape; kNumericalFailure for a non-finite value or sigma <= 0. *model and
// *extras are left untouched on error.
ceres_wiberg::Status ReadTomeModel(const std::string& path, int num_components,
                                   PoseModel* model, TomeModelExtras* extras = nullptr);

// Reads the dataset cams (n, 3, 3) of avg_cameras.h5: per camera a rotation
// (world -> camera axes, world z up) of an orthographic model whose first two
// rows project. Stored row-major: (*rotations)[c](r, q) = cams[c][r][q].
// They are averages over subjects, so only nearly orthonormal (see MODEL.md).
// Errors as for ReadTomeModel.
// At most kMaxTomeCameras cameras are read (the file holds 4); a larger
// dataset is an error naming its size.
constexpr unsigned long long kMaxTomeCameras = 1 << 16;
ceres_wiberg::Status ReadTomeCameras(const std::string& path,
                                     std::vector<Eigen::Matrix3d>* rotations);

// The readers above on an HDF5 file image held in memory (e.g. a file's
// contents), `name` naming it in errors.
ceres_wiberg::Status ParseTomeModel(const std::string& contents, const std::string& name,
                                    int num_components, PoseModel* model,
                                    TomeModelExtras* extras = nullptr);
ceres_wiberg::Status ParseTomeCameras(const std::string& contents, const std::string& name,
                                      std::vector<Eigen::Matrix3d>* rotations);

}  // namespace human_pose

#endif  // CERES_WIBERG_EXAMPLES_HUMAN_POSE_TOME_MODEL_H_
