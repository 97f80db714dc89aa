// Seeded synthetic bundle-adjustment scenes in the BAL layout: cameras on a
// ring around an object, looking at it; points in a ball; each point seen by
// several cameras; Gaussian pixel noise whose level differs between cameras
// (some cameras are worse than others), and gross outliers.
//
// A scene holds the observations twice: with the initial estimates a solver
// starts from (the true cameras and points perturbed), and with the truth.

#ifndef CERES_WIBERG_EXAMPLES_BUNDLE_ADJUSTMENT_BAL_SCENE_H_
#define CERES_WIBERG_EXAMPLES_BUNDLE_ADJUSTMENT_BAL_SCENE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "bal_problem.h"
#include "ceres_wiberg/status.h"

namespace bundle_adjustment {

struct SceneOptions {
  int num_cameras = 8;
  int num_points = 200;
  // Cameras on a ring of this radius (scene units) at heights within
  // +-camera_height_spread, looking at the origin.
  double ring_radius = 10.0;
  double camera_height_spread = 2.0;
  // Points uniform in a ball of this radius around the origin.
  double object_radius = 2.0;
  // Intrinsics, as in BAL data: focal length in pixels, radial distortion.
  double focal = 800.0;
  double k1 = -1e-2;
  double k2 = 1e-3;
  // Each camera sees each point with this probability (at least
  // min_views_per_point cameras see every point).
  double visibility = 0.8;
  int min_views_per_point = 2;
  // Pixel noise (standard deviation, pixels): good cameras, and the
  // fraction of cameras that are noisier with their level.
  double pixel_noise = 0.5;
  double noisy_camera_fraction = 0.25;
  double noisy_camera_pixel_noise = 4.0;
  // Gross outliers: this fraction of observations is replaced by a pixel
  // uniform within +-outlier_range of the true one.
  double outlier_fraction = 0.05;
  double outlier_range = 60.0;
  // Perturbation of the initial estimates: angle-axis (radians),
  // translation and point coordinates (scene units), relative focal length.
  double rotation_perturbation = 0.005;
  double translation_perturbation = 0.05;
  double point_perturbation = 0.05;
  double focal_perturbation = 0.01;
  uint64_t seed = 1;

  bool IsValid(std::string* error) const;
};

struct Scene {
  BalProblem initial;  // observations + initial estimates
  BalProblem truth;    // the same observations + the true cameras and points
  // Per camera: its pixel-noise level. Per observation: a gross outlier?
  // (For analysis only: no energy reads them.)
  std::vector<double> camera_pixel_noise;
  std::vector<bool> outlier;
};

// kInvalidArgument for invalid options.
ceres_wiberg::Status GenerateScene(const SceneOptions& options, Scene* scene);

}  // namespace bundle_adjustment

#endif  // CERES_WIBERG_EXAMPLES_BUNDLE_ADJUSTMENT_BAL_SCENE_H_
