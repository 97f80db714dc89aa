// The scene generator: deterministic, geometrically sound (every point in
// front of the cameras that see it, at least min_views views), with the
// pixel noise and outliers it was asked for.

#include "bal_scene.h"

#include <cmath>

#include "gtest/gtest.h"
#include "snavely_reprojection_error.h"

namespace bundle_adjustment {
namespace {

TEST(BalScene, DeterministicAndGeometricallySound) {
  SceneOptions options;
  options.num_cameras = 12;
  options.num_points = 300;
  Scene a, b;
  ASSERT_TRUE(GenerateScene(options, &a).ok());
  ASSERT_TRUE(GenerateScene(options, &b).ok());
  EXPECT_EQ(a.initial.cameras, b.initial.cameras);
  EXPECT_EQ(a.truth.points, b.truth.points);
  ASSERT_EQ(a.truth.num_observations(), a.initial.num_observations());
  std::vector<int> views(options.num_points, 0);
  double inlier_sum[2] = {0.0, 0.0};
  int inlier_count[2] = {0, 0};
  int outliers = 0;
  for (int k = 0; k < a.truth.num_observations(); ++k) {
    const BalObservation& o = a.truth.observations[k];
    ++views[o.point];
    // In front of the camera (P_z < 0 in the Snavely convention).
    double p[3];
    ceres::AngleAxisRotatePoint(a.truth.camera(o.camera), a.truth.point(o.point), p);
    EXPECT_LT(p[2] + a.truth.camera(o.camera)[5], -1.0);
    double pixel[2];
    SnavelyProject(a.truth.camera(o.camera), a.truth.point(o.point), pixel);
    if (a.outlier[k]) {
      ++outliers;
      continue;
    }
    const int noisy = a.camera_pixel_noise[o.camera] > options.pixel_noise;
    inlier_sum[noisy] += std::pow(o.x - pixel[0], 2) + std::pow(o.y - pixel[1], 2);
    inlier_count[noisy] += 2;
  }
  for (int v : views) EXPECT_GE(v, options.min_views_per_point);
  // Pixel noise as asked: sample standard deviations within 10%.
  EXPECT_NEAR(std::sqrt(inlier_sum[0] / inlier_count[0]), options.pixel_noise,
              0.1 * options.pixel_noise);
  EXPECT_NEAR(std::sqrt(inlier_sum[1] / inlier_count[1]), options.noisy_camera_pixel_noise,
              0.1 * options.noisy_camera_pixel_noise);
  EXPECT_EQ(std::count(a.camera_pixel_noise.begin(), a.camera_pixel_noise.end(),
                       options.noisy_camera_pixel_noise),
            3);
  const double outlier_rate = static_cast<double>(outliers) / a.truth.num_observations();
  EXPECT_NEAR(outlier_rate, options.outlier_fraction, 0.02);
}

TEST(BalScene, InvalidOptionsAreAStatus) {
  SceneOptions options;
  options.ring_radius = 3.0;  // inside the object's diameter
  Scene scene;
  const ceres_wiberg::Status status = GenerateScene(options, &scene);
  EXPECT_EQ(status.code(), ceres_wiberg::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(),
            "SceneOptions: ring_radius must exceed twice object_radius (both positive, finite)");
}

}  // namespace
}  // namespace bundle_adjustment
