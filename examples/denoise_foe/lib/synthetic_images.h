// Synthetic training and test images for the FoE denoising example:
// piecewise-smooth random shapes with sharp (anti-aliased) edges, smooth
// shading and oriented sinusoidal texture, deterministic for a seed.

#ifndef CERES_WIBERG_EXAMPLES_DENOISE_FOE_SYNTHETIC_IMAGES_H_
#define CERES_WIBERG_EXAMPLES_DENOISE_FOE_SYNTHETIC_IMAGES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "image.h"

namespace denoise_foe {

struct SyntheticImageOptions {
  int width = 64;   // pixels, >= 1
  int height = 64;  // pixels, >= 1
  // Shapes (rotated rectangles, ellipses, triangles) painted over a shaded
  // background, later ones occluding earlier ones; their number is uniform
  // in [min_shapes, max_shapes].
  int min_shapes = 3;
  int max_shapes = 7;
  // Half-extent of a shape, as a fraction of the shorter side: uniform in
  // [min_extent, max_extent].
  double min_extent = 0.1;
  double max_extent = 0.4;
  // Probability that a shape (and the background) carries a sinusoidal
  // texture (amplitude 6..20 grey levels, period 3..10 pixels, any
  // orientation).
  double texture_probability = 0.4;
  // Each shape's mean grey level is uniform in [min_level, max_level]; shapes
  // and background also get a linear shading of up to +-30 grey levels across
  // the image. The result is clamped to [0, 255].
  double min_level = 20.0;
  double max_level = 235.0;
  // Sub-samples per pixel side for anti-aliased edges (1: aliased).
  int supersampling = 3;

  bool IsValid(std::string* error) const;
};

// One image; the same (options, seed) give the same pixels on every platform
// (std::mt19937_64 draws turned into doubles by hand, no std:: distributions).
// CHECKs IsValid.
Image SyntheticImage(const SyntheticImageOptions& options, uint64_t seed);

// A clean image, its noisy version and their seeds.
struct NoisyPair {
  Image clean;
  Image noisy;
  uint64_t image_seed = 0;
  uint32_t noise_seed = 0;
};

// `count` pairs: image i has seed first_seed + i and Gaussian noise of
// `sigma` grey levels with seed (first_seed + i) * 2654435761 + 1 (mod 2^32).
std::vector<NoisyPair> MakeNoisyPairs(const SyntheticImageOptions& options, int count,
                                      uint64_t first_seed, double sigma);

// The fixed test card of the benchmarks (no randomness): a horizontal ramp,
// a bright rectangle, a dark disk and a sinusoidal texture patch.
Image GeometricTestImage(int width, int height);

}  // namespace denoise_foe

#endif  // CERES_WIBERG_EXAMPLES_DENOISE_FOE_SYNTHETIC_IMAGES_H_
