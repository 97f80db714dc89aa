#include "synthetic_images.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "glog/logging.h"

namespace denoise_foe {
namespace {

constexpr double kPi = 3.14159265358979323846;

// Uniform doubles from std::mt19937_64 (whose output the standard fixes).
class Random {
 public:
  explicit Random(uint64_t seed) : engine_(seed) {}
  // [0, 1) with 53 random bits.
  double Uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  double Uniform(double low, double high) { return low + (high - low) * Uniform(); }
  // An integer in [low, high].
  int Integer(int low, int high) {
    return low + static_cast<int>(Uniform() * (high - low + 1));
  }

 private:
  std::mt19937_64 engine_;
};

// A grey level as a function of the position: mean + linear shading +
// optional sinusoidal texture.
struct Shading {
  double mean = 128.0;
  double slope_x = 0.0, slope_y = 0.0;  // grey levels per pixel
  double amplitude = 0.0;               // texture
  double kx = 0.0, ky = 0.0, phase = 0.0;

  double At(double x, double y) const {
    double value = mean + slope_x * x + slope_y * y;
    if (amplitude != 0.0) value += amplitude * std::sin(kx * x + ky * y + phase);
    return value;
  }
};

Shading RandomShading(const SyntheticImageOptions& options, double mean, Random* random) {
  Shading shading;
  shading.mean = mean;
  const double span = std::max(options.width, options.height);
  const double angle = random->Uniform(0.0, 2.0 * kPi);
  const double slope = random->Uniform(0.0, 30.0) / span;
  shading.slope_x = slope * std::cos(angle);
  shading.slope_y = slope * std::sin(angle);
  // Centre the shading on the image.
  shading.mean -= shading.slope_x * options.width / 2 + shading.slope_y * options.height / 2;
  if (random->Uniform() < options.texture_probability) {
    shading.amplitude = random->Uniform(6.0, 20.0);
    const double period = random->Uniform(3.0, 10.0);
    const double orientation = random->Uniform(0.0, kPi);
    shading.kx = 2.0 * kPi / period * std::cos(orientation);
    shading.ky = 2.0 * kPi / period * std::sin(orientation);
    shading.phase = random->Uniform(0.0, 2.0 * kPi);
  }
  return shading;
}

enum class ShapeType { kRectangle, kEllipse, kTriangle };

struct Shape {
  ShapeType type = ShapeType::kRectangle;
  double cx = 0, cy = 0, half_x = 1, half_y = 1, cos_a = 1, sin_a = 0;
  double vx[3] = {0, 0, 0}, vy[3] = {0, 0, 0};  // triangle
  Shading shading;

  bool Contains(double x, double y) const {
    if (type == ShapeType::kTriangle) {
      double sign = 0.0;
      for (int i = 0; i < 3; ++i) {
        const int j = (i + 1) % 3;
        const double cross = (vx[j] - vx[i]) * (y - vy[i]) - (vy[j] - vy[i]) * (x - vx[i]);
        if (cross == 0.0) continue;
        if (sign == 0.0) sign = cross;
        if ((cross > 0) != (sign > 0)) return false;
      }
      return true;
    }
    const double dx = x - cx, dy = y - cy;
    const double u = (cos_a * dx + sin_a * dy) / half_x;
    const double v = (-sin_a * dx + cos_a * dy) / half_y;
    if (type == ShapeType::kRectangle) return std::abs(u) <= 1.0 && std::abs(v) <= 1.0;
    return u * u + v * v <= 1.0;
  }
};

}  // namespace

bool SyntheticImageOptions::IsValid(std::string* error) const {
  auto fail = [error](const char* message) {
    if (error != nullptr) *error = message;
    return false;
  };
  if (width < 1 || height < 1) return fail("width and height must be >= 1");
  if (min_shapes < 0 || max_shapes < min_shapes) return fail("need 0 <= min_shapes <= max_shapes");
  if (!(min_extent > 0.0) || !(max_extent >= min_extent)) {
    return fail("need 0 < min_extent <= max_extent");
  }
  if (!(texture_probability >= 0.0 && texture_probability <= 1.0)) {
    return fail("texture_probability must be in [0, 1]");
  }
  if (!(min_level <= max_level)) return fail("need min_level <= max_level");
  if (supersampling < 1 || supersampling > 16) return fail("supersampling must be in 1..16");
  return true;
}

Image SyntheticImage(const SyntheticImageOptions& options, uint64_t seed) {
  std::string error;
  CHECK(options.IsValid(&error)) << error;
  Random random(seed);
  const Shading background =
      RandomShading(options, random.Uniform(options.min_level, options.max_level), &random);
  const int num_shapes = random.Integer(options.min_shapes, options.max_shapes);
  const double side = std::min(options.width, options.height);
  std::vector<Shape> shapes(num_shapes);
  for (Shape& shape : shapes) {
    const int type = random.Integer(0, 2);
    shape.type = type == 0 ? ShapeType::kRectangle
                           : (type == 1 ? ShapeType::kEllipse : ShapeType::kTriangle);
    shape.cx = random.Uniform(0.0, options.width);
    shape.cy = random.Uniform(0.0, options.height);
    shape.half_x = side * random.Uniform(options.min_extent, options.max_extent);
    shape.half_y = side * random.Uniform(options.min_extent, options.max_extent);
    // Half of the rectangles stay axis-aligned (long straight edges).
    const double angle =
        (shape.type == ShapeType::kRectangle && random.Uniform() < 0.5)
            ? 0.0
            : random.Uniform(0.0, kPi);
    shape.cos_a = std::cos(angle);
    shape.sin_a = std::sin(angle);
    for (int i = 0; i < 3; ++i) {
      const double a = angle + 2.0 * kPi * i / 3.0 + random.Uniform(-0.6, 0.6);
      shape.vx[i] = shape.cx + shape.half_x * 1.3 * std::cos(a);
      shape.vy[i] = shape.cy + shape.half_y * 1.3 * std::sin(a);
    }
    shape.shading =
        RandomShading(options, random.Uniform(options.min_level, options.max_level), &random);
  }

  Image image(options.width, options.height);
  const int n = options.supersampling;
  for (int y = 0; y < options.height; ++y) {
    for (int x = 0; x < options.width; ++x) {
      double sum = 0.0;
      for (int sy = 0; sy < n; ++sy) {
        for (int sx = 0; sx < n; ++sx) {
          const double px = x + (sx + 0.5) / n;
          const double py = y + (sy + 0.5) / n;
          const Shading* shading = &background;
          for (const Shape& shape : shapes) {
            if (shape.Contains(px, py)) shading = &shape.shading;
          }
          sum += shading->At(px, py);
        }
      }
      image.at(x, y) = std::min(255.0, std::max(0.0, sum / (n * n)));
    }
  }
  return image;
}

std::vector<NoisyPair> MakeNoisyPairs(const SyntheticImageOptions& options, int count,
                                      uint64_t first_seed, double sigma) {
  CHECK_GE(count, 0);
  std::vector<NoisyPair> pairs(count);
  for (int i = 0; i < count; ++i) {
    NoisyPair& pair = pairs[i];
    pair.image_seed = first_seed + i;
    pair.noise_seed = static_cast<uint32_t>(pair.image_seed * 2654435761ULL + 1);
    pair.clean = SyntheticImage(options, pair.image_seed);
    pair.noisy = AddGaussianNoise(pair.clean, sigma, pair.noise_seed);
  }
  return pairs;
}

Image GeometricTestImage(int width, int height) {
  Image image(width, height);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      const double u = (x + 0.5) / width;
      const double v = (y + 0.5) / height;
      double value = 70.0 + 90.0 * u;
      if (u > 0.125 && u < 0.375 && v > 0.125 && v < 0.5) value = 210.0;
      const double du = u - 0.65, dv = v - 0.6;
      if (du * du + dv * dv < 0.04) value = 35.0;
      if (u < 0.45 && v > 0.6) {
        value += 30.0 * std::sin(2.0 * kPi * x / 16.0) * std::sin(2.0 * kPi * y / 16.0);
      }
      image.at(x, y) = value;
    }
  }
  return image;
}

}  // namespace denoise_foe
