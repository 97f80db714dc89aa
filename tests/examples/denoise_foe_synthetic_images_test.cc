// The synthetic images of examples/denoise_foe: deterministic for a seed,
// different across seeds, in range, and piecewise smooth with edges.

#include "synthetic_images.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "gtest/gtest.h"

namespace denoise_foe {
namespace {

TEST(SyntheticImages, AreDeterministicForASeed) {
  SyntheticImageOptions options;
  options.width = 40;
  options.height = 30;
  const Image a = SyntheticImage(options, 12);
  EXPECT_EQ(a.width, 40);
  EXPECT_EQ(a.height, 30);
  EXPECT_EQ(a.pixels, SyntheticImage(options, 12).pixels);
  EXPECT_NE(a.pixels, SyntheticImage(options, 13).pixels);
  // The pairs repeat too, noise included, and use distinct noise per image.
  const auto pairs = MakeNoisyPairs(options, 2, 5, 20.0);
  const auto again = MakeNoisyPairs(options, 2, 5, 20.0);
  ASSERT_EQ(pairs.size(), 2u);
  EXPECT_EQ(pairs[1].image_seed, 6u);
  EXPECT_EQ(pairs[1].clean.pixels, SyntheticImage(options, 6).pixels);
  EXPECT_EQ(pairs[1].noisy.pixels, again[1].noisy.pixels);
  EXPECT_NE(pairs[0].noise_seed, pairs[1].noise_seed);
}

TEST(SyntheticImages, ArePiecewiseSmoothWithEdgesInRange) {
  SyntheticImageOptions options;
  options.width = options.height = 64;
  int images_with_edges = 0;
  double flat_fraction = 0.0;
  for (uint64_t seed = 1; seed <= 10; ++seed) {
    const Image image = SyntheticImage(options, seed);
    double low = 255.0, high = 0.0;
    int edges = 0, flat = 0, count = 0;
    for (int y = 0; y < 64; ++y) {
      for (int x = 0; x + 1 < 64; ++x) {
        low = std::min(low, image.at(x, y));
        high = std::max(high, image.at(x, y));
        const double step = std::abs(image.at(x + 1, y) - image.at(x, y));
        edges += step > 25.0;
        flat += step < 3.0;
        ++count;
      }
    }
    EXPECT_GE(low, 0.0);
    EXPECT_LE(high, 255.0);
    EXPECT_GT(high - low, 30.0) << "seed " << seed;
    images_with_edges += edges >= 10;
    flat_fraction += static_cast<double>(flat) / count / 10.0;
  }
  // Most neighbours are close (smooth parts) and most images have edges.
  EXPECT_GE(images_with_edges, 8);
  EXPECT_GT(flat_fraction, 0.5);
}

TEST(SyntheticImages, OptionsAreChecked) {
  SyntheticImageOptions options;
  std::string error;
  EXPECT_TRUE(options.IsValid(&error));
  options.max_shapes = options.min_shapes - 1;
  EXPECT_FALSE(options.IsValid(&error));
  EXPECT_EQ(error, "need 0 <= min_shapes <= max_shapes");
  options = SyntheticImageOptions();
  options.texture_probability = 1.5;
  EXPECT_FALSE(options.IsValid(&error));
}

TEST(GeometricTestImage, IsTheFixedTestCard) {
  const Image image = GeometricTestImage(64, 64);
  EXPECT_EQ(image.at(10, 12), 210.0);  // inside the bright rectangle
  EXPECT_EQ(image.at(41, 38), 35.0);   // inside the dark disk
}

}  // namespace
}  // namespace denoise_foe
