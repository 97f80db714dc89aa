#include "bal_scene.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "Eigen/Geometry"
#include "snavely_reprojection_error.h"

namespace bundle_adjustment {
namespace {

using ceres_wiberg::Status;

// A Snavely camera at `centre` looking at the origin (down its -z axis).
void LookAtOrigin(const Eigen::Vector3d& centre, const SceneOptions& options, double* camera) {
  const Eigen::Vector3d z = centre.normalized();  // the camera looks along -z
  const Eigen::Vector3d x = Eigen::Vector3d::UnitZ().cross(z).normalized();
  const Eigen::Vector3d y = z.cross(x);
  Eigen::Matrix3d R;
  R.row(0) = x;
  R.row(1) = y;
  R.row(2) = z;
  const Eigen::AngleAxisd angle_axis(R);
  Eigen::Map<Eigen::Vector3d> rotation(camera), translation(camera + 3);
  rotation = angle_axis.angle() * angle_axis.axis();
  translation = -R * centre;
  camera[6] = options.focal;
  camera[7] = options.k1;
  camera[8] = options.k2;
}

bool Positive(double x) { return x > 0.0 && std::isfinite(x); }
bool NonNegative(double x) { return x >= 0.0 && std::isfinite(x); }
bool Fraction(double x) { return x >= 0.0 && x <= 1.0; }

}  // namespace

bool SceneOptions::IsValid(std::string* error) const {
  auto fail = [error](const char* message) {
    *error = message;
    return false;
  };
  if (num_cameras < 2 || num_cameras > 100000) return fail("num_cameras must be in [2, 1e5]");
  if (num_points < 1 || num_points > 10000000) return fail("num_points must be in [1, 1e7]");
  if (min_views_per_point < 1 || min_views_per_point > num_cameras) {
    return fail("min_views_per_point must be in [1, num_cameras]");
  }
  if (!Positive(object_radius) || !Positive(ring_radius) || ring_radius <= 2.0 * object_radius) {
    return fail("ring_radius must exceed twice object_radius (both positive, finite)");
  }
  if (!NonNegative(camera_height_spread) || camera_height_spread >= ring_radius) {
    return fail("camera_height_spread must be in [0, ring_radius)");
  }
  if (!Positive(focal) || !std::isfinite(k1) || !std::isfinite(k2)) {
    return fail("focal must be positive and k1, k2 finite");
  }
  if (!Fraction(visibility) || visibility == 0.0 || !Fraction(noisy_camera_fraction) ||
      !Fraction(outlier_fraction)) {
    return fail("visibility must be in (0, 1], the other fractions in [0, 1]");
  }
  for (double value : {pixel_noise, noisy_camera_pixel_noise, outlier_range,
                       rotation_perturbation, translation_perturbation, point_perturbation,
                       focal_perturbation}) {
    if (!NonNegative(value)) return fail("noise levels and perturbations must be >= 0 and finite");
  }
  return true;
}

Status GenerateScene(const SceneOptions& options, Scene* scene) {
  std::string error;
  if (!options.IsValid(&error)) return ceres_wiberg::InvalidArgumentError("SceneOptions: " + error);
  std::mt19937_64 rng(options.seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::uniform_real_distribution<double> uniform(-1.0, 1.0);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  Scene result;
  BalProblem& truth = result.truth;
  truth.cameras.resize(9 * options.num_cameras);
  truth.points.resize(3 * options.num_points);
  const int num_noisy =
      static_cast<int>(std::lround(options.noisy_camera_fraction * options.num_cameras));
  // Every stride-th camera is a noisy one, spread around the ring.
  const int stride = num_noisy > 0 ? std::max(1, options.num_cameras / num_noisy) : 1;
  for (int i = 0; i < options.num_cameras; ++i) {
    const double angle = 2.0 * M_PI * (i + 0.5 * unit(rng)) / options.num_cameras;
    const Eigen::Vector3d centre(options.ring_radius * std::cos(angle),
                                 options.ring_radius * std::sin(angle),
                                 options.camera_height_spread * uniform(rng));
    LookAtOrigin(centre, options, truth.mutable_camera(i));
    const bool noisy = num_noisy > 0 && i % stride == 0 && i / stride < num_noisy;
    result.camera_pixel_noise.push_back(noisy ? options.noisy_camera_pixel_noise
                                              : options.pixel_noise);
  }
  for (int j = 0; j < options.num_points; ++j) {
    Eigen::Vector3d p;
    do {
      p = Eigen::Vector3d(uniform(rng), uniform(rng), uniform(rng));
    } while (p.squaredNorm() > 1.0);
    Eigen::Map<Eigen::Vector3d> point(truth.mutable_point(j));
    point = options.object_radius * p;
  }
  // Observations: each camera sees each point with probability `visibility`,
  // topped up to min_views_per_point by the first cameras that do not.
  for (int j = 0; j < options.num_points; ++j) {
    std::vector<bool> sees(options.num_cameras);
    int views = 0;
    for (int i = 0; i < options.num_cameras; ++i) views += (sees[i] = unit(rng) < options.visibility);
    for (int i = 0; views < options.min_views_per_point; ++i) {
      if (!sees[i]) {
        sees[i] = true;
        ++views;
      }
    }
    for (int i = 0; i < options.num_cameras; ++i) {
      if (!sees[i]) continue;
      double pixel[2];
      SnavelyProject(truth.camera(i), truth.point(j), pixel);
      const bool outlier = unit(rng) < options.outlier_fraction;
      const double sigma = result.camera_pixel_noise[i];
      BalObservation observation;
      observation.camera = i;
      observation.point = j;
      observation.x = pixel[0] + (outlier ? options.outlier_range * uniform(rng) : sigma * normal(rng));
      observation.y = pixel[1] + (outlier ? options.outlier_range * uniform(rng) : sigma * normal(rng));
      truth.observations.push_back(observation);
      result.outlier.push_back(outlier);
    }
  }
  // The initial estimates: the truth perturbed.
  BalProblem& initial = result.initial;
  initial = truth;
  for (int i = 0; i < options.num_cameras; ++i) {
    double* camera = initial.mutable_camera(i);
    for (int k = 0; k < 3; ++k) camera[k] += options.rotation_perturbation * normal(rng);
    for (int k = 3; k < 6; ++k) camera[k] += options.translation_perturbation * normal(rng);
    camera[6] *= 1.0 + options.focal_perturbation * normal(rng);
  }
  for (double& coordinate : initial.points) coordinate += options.point_perturbation * normal(rng);
  *scene = std::move(result);
  return Status::Ok();
}

}  // namespace bundle_adjustment
