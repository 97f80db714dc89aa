// Grey images for the FoE denoising example: PGM reading and writing, PSNR,
// Gaussian noise, and a picture of a model's filters.

#ifndef CERES_WIBERG_EXAMPLES_DENOISE_FOE_IMAGE_H_
#define CERES_WIBERG_EXAMPLES_DENOISE_FOE_IMAGE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "ceres_wiberg/file.h"
#include "ceres_wiberg/status.h"

namespace denoise_foe {

// A grey image, row-major, values nominally in [0, 255].
struct Image {
  int width = 0;
  int height = 0;
  std::vector<double> pixels;

  Image() = default;
  Image(int width, int height, double value = 0.0)
      : width(width), height(height),
        pixels(static_cast<std::size_t>(width) * height, value) {}

  double& at(int x, int y) { return pixels[static_cast<std::size_t>(y) * width + x]; }
  double at(int x, int y) const { return pixels[static_cast<std::size_t>(y) * width + x]; }
  int num_pixels() const { return width * height; }
};

// Reads an ASCII (P2) or binary (P5) PGM file with maxval 1..65535 (P5 with
// maxval > 255 holds 2 big-endian bytes per pixel). Values are rescaled to
// [0, 255] (value * 255 / maxval). '#' comments run to the end of the line.
// Errors (kInvalidArgument) name the file and, for P2 data and the header,
// the line: "<path>:<line>: <cause>" (bad magic, bad or non-positive size or
// maxval, a non-integer token, a value above maxval, missing pixels, extra
// data).
ceres_wiberg::Status ReadPgm(const std::string& path, Image* image);

// ReadPgm of a file's contents, `path` naming it in errors. The raster's size
// is checked against the contents before the image is allocated.
ceres_wiberg::Status ParsePgm(const std::string& contents, const std::string& path,
                              Image* image);

// Writes a binary (P5, maxval 255) PGM, values rounded and clamped to
// [0, 255], atomically (path + ".tmp", then rename).
ceres_wiberg::Status WritePgm(const std::string& path, const Image& image);

// Images and data files are written with the library's atomic replacement
// (path + ".tmp", then a rename; kInternalError naming the file otherwise).
using ceres_wiberg::WriteFileAtomically;

// Peak signal-to-noise ratio in dB, peak 255: 10 log10(255^2 / MSE). The
// sizes must agree (CHECKed). +inf for identical images.
double Psnr(const Image& image, const Image& reference);

// Mean squared error between two images of the same size (CHECKed).
double MeanSquaredError(const Image& image, const Image& reference);

// image + N(0, sigma^2) noise, the normal deviates from std::mt19937(seed)
// by Box-Muller (same numbers with every standard library). Not clamped.
Image AddGaussianNoise(const Image& image, double sigma, uint32_t seed);

// A copy with every value clamped to [low, high].
Image Clamp(const Image& image, double low, double high);

// The K filters of an s x s model side by side as one picture: each filter
// scaled by its own largest |tap| to [0, 255] (grey 128 = 0), enlarged
// `zoom` times, separated by `gap` white pixels, `columns` filters per row.
// filter taps given as (x, y) offsets per tap.
Image FilterMosaic(int size, const std::vector<int>& x_offsets, const std::vector<int>& y_offsets,
                   const std::vector<std::vector<double>>& filters, int zoom = 8,
                   int columns = 8, int gap = 2);

}  // namespace denoise_foe

#endif  // CERES_WIBERG_EXAMPLES_DENOISE_FOE_IMAGE_H_
