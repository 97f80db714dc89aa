#include "image.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <random>
#include <sstream>

#include "common/text_tokens.h"
#include "glog/logging.h"

namespace denoise_foe {
namespace {

using ceres_wiberg::InvalidArgumentError;
using ceres_wiberg::Status;
using ceres_wiberg::StatusCode;

using examples::LineError;
using examples::ParseCount;
using examples::Tokeniser;

// value * 255 / max_value, exactly 255 for max_value (value * (255 /
// max_value) can round above it).
double Rescale(long value, long max_value) {
  return static_cast<double>(value) * 255.0 / static_cast<double>(max_value);
}

}  // namespace

Status ReadPgm(const std::string& path, Image* image) {
  std::string text;
  Status status = ceres_wiberg::ReadFileToString(path, &text);
  if (!status.ok()) return status;
  return ParsePgm(text, path, image);
}

Status ParsePgm(const std::string& text, const std::string& path, Image* image) {
  Tokeniser tokens(text, /*comments=*/true);
  std::string token;
  int line = 1;
  if (!tokens.Next(&token, &line)) return InvalidArgumentError(path + ": empty file");
  if (token != "P2" && token != "P5") {
    return LineError(path, line, "not a PGM file (magic \"" + token.substr(0, 8) +
                                     "\", expected P2 or P5)");
  }
  const bool ascii = token == "P2";
  const char* const names[3] = {"width", "height", "maxval"};
  long header[3] = {0, 0, 0};
  for (int i = 0; i < 3; ++i) {
    if (!tokens.Next(&token, &line)) {
      return InvalidArgumentError(path + ": header ends before the " + names[i]);
    }
    const long max = 65535;
    if (!ParseCount(token, max, &header[i]) || header[i] == 0) {
      return LineError(path, line,
                       std::string("bad ") + names[i] + " \"" + token.substr(0, 16) +
                           "\" (expected an integer in 1.." + std::to_string(max) + ")");
    }
  }
  const long width = header[0], height = header[1], max_value = header[2];
  if (width * height > (1L << 28)) {
    return LineError(path, line, "image too large (" + std::to_string(width) + " x " +
                                     std::to_string(height) + ")");
  }
  // The raster must fit in what follows the header before the image is
  // allocated: a 20-byte header may announce 2^28 pixels.
  const std::size_t count = static_cast<std::size_t>(width) * static_cast<std::size_t>(height);
  const std::string pixels = " for " + std::to_string(width) + " x " + std::to_string(height) +
                             " = " + std::to_string(count) + " pixels";
  const std::size_t remaining = text.size() - std::min(text.size(), tokens.position());
  const std::size_t bytes_per_pixel = max_value > 255 ? 2 : 1;
  if (ascii && count > remaining / 2 + 1) {
    // Each pixel but the last takes a digit and a blank at least.
    return InvalidArgumentError(path + ": truncated: " + std::to_string(remaining) +
                                " bytes after the header" + pixels);
  }
  // P5: exactly one whitespace character separates maxval from the raster.
  const std::size_t needed = count * bytes_per_pixel;
  if (!ascii && remaining == 0) {
    return InvalidArgumentError(path + ": truncated: no pixel data" + pixels);
  }
  if (!ascii && remaining - 1 < needed) {
    return InvalidArgumentError(path + ": truncated: " + std::to_string(remaining - 1) + " of " +
                                std::to_string(needed) + " bytes of pixel data" + pixels);
  }
  Image result(static_cast<int>(width), static_cast<int>(height));
  if (ascii) {
    for (std::size_t i = 0; i < count; ++i) {
      if (!tokens.Next(&token, &line)) {
        return InvalidArgumentError(path + ": truncated: " + std::to_string(i) + " of " +
                                    std::to_string(count) + " pixels");
      }
      long value = 0;
      if (!ParseCount(token, max_value, &value)) {
        return LineError(path, line,
                         "pixel " + std::to_string(i) + ": bad value \"" + token.substr(0, 16) +
                             "\" (expected an integer in 0.." + std::to_string(max_value) + ")");
      }
      result.pixels[i] = Rescale(value, max_value);
    }
    if (tokens.Next(&token, &line)) {
      return LineError(path, line, "extra data after " + std::to_string(count) + " pixels");
    }
  } else {
    const std::size_t position = tokens.position() + 1;
    const std::size_t available = text.size() - position;
    if (available > needed) {
      return InvalidArgumentError(path + ": " + std::to_string(available - needed) +
                                  " bytes of extra data after the pixels");
    }
    const auto* bytes = reinterpret_cast<const unsigned char*>(text.data() + position);
    for (std::size_t i = 0; i < count; ++i) {
      const long value = bytes_per_pixel == 1
                             ? bytes[i]
                             : (static_cast<long>(bytes[2 * i]) << 8) | bytes[2 * i + 1];
      if (value > max_value) {
        return InvalidArgumentError(path + ": pixel " + std::to_string(i) + ": value " +
                                    std::to_string(value) + " above maxval " +
                                    std::to_string(max_value));
      }
      result.pixels[i] = Rescale(value, max_value);
    }
  }
  *image = std::move(result);
  return Status::Ok();
}

Status WritePgm(const std::string& path, const Image& image) {
  if (image.width <= 0 || image.height <= 0 ||
      image.pixels.size() != static_cast<std::size_t>(image.width) * image.height) {
    return InvalidArgumentError(path + ": image has no pixels or inconsistent size");
  }
  std::string contents = "P5\n" + std::to_string(image.width) + " " +
                         std::to_string(image.height) + "\n255\n";
  const std::size_t header = contents.size();
  contents.resize(header + image.pixels.size());
  for (std::size_t i = 0; i < image.pixels.size(); ++i) {
    const double v = image.pixels[i];
    // NaN maps to 0.
    const double clamped = v >= 0.0 ? std::min(255.0, v) : 0.0;
    contents[header + i] = static_cast<char>(static_cast<unsigned char>(std::lround(clamped)));
  }
  return WriteFileAtomically(path, contents);
}

double MeanSquaredError(const Image& image, const Image& reference) {
  CHECK_EQ(image.width, reference.width);
  CHECK_EQ(image.height, reference.height);
  CHECK_GT(image.pixels.size(), 0u);
  double sum = 0.0;
  for (std::size_t i = 0; i < image.pixels.size(); ++i) {
    const double d = image.pixels[i] - reference.pixels[i];
    sum += d * d;
  }
  return sum / image.pixels.size();
}

double Psnr(const Image& image, const Image& reference) {
  const double mse = MeanSquaredError(image, reference);
  if (mse == 0.0) return std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(255.0 * 255.0 / mse);
}

Image AddGaussianNoise(const Image& image, double sigma, uint32_t seed) {
  Image noisy = image;
  std::mt19937 rng(seed);
  // Uniform in (0, 1] from 32 random bits.
  auto uniform = [&rng]() { return (static_cast<double>(rng()) + 1.0) / 4294967296.0; };
  const double two_pi = 6.283185307179586;
  for (std::size_t i = 0; i < noisy.pixels.size(); i += 2) {
    const double radius = sigma * std::sqrt(-2.0 * std::log(uniform()));
    const double angle = two_pi * uniform();
    noisy.pixels[i] += radius * std::cos(angle);
    if (i + 1 < noisy.pixels.size()) noisy.pixels[i + 1] += radius * std::sin(angle);
  }
  return noisy;
}

Image Clamp(const Image& image, double low, double high) {
  Image clamped = image;
  for (double& p : clamped.pixels) p = std::min(high, std::max(low, p));
  return clamped;
}

Image FilterMosaic(int size, const std::vector<int>& x_offsets, const std::vector<int>& y_offsets,
                   const std::vector<std::vector<double>>& filters, int zoom, int columns,
                   int gap) {
  CHECK_GT(size, 0);
  CHECK_GT(zoom, 0);
  CHECK_GT(columns, 0);
  CHECK_GE(gap, 0);
  const int count = static_cast<int>(filters.size());
  CHECK_GT(count, 0);
  const int cols = std::min(columns, count);
  const int rows = (count + cols - 1) / cols;
  const int cell = size * zoom;
  Image mosaic(gap + cols * (cell + gap), gap + rows * (cell + gap), 255.0);
  for (int k = 0; k < count; ++k) {
    const std::vector<double>& f = filters[k];
    CHECK_EQ(f.size(), x_offsets.size());
    double largest = 0.0;
    for (double tap : f) largest = std::max(largest, std::abs(tap));
    const double scale = largest > 0.0 ? 127.0 / largest : 0.0;
    const int left = gap + (k % cols) * (cell + gap);
    const int top = gap + (k / cols) * (cell + gap);
    for (int y = 0; y < cell; ++y) {
      for (int x = 0; x < cell; ++x) mosaic.at(left + x, top + y) = 128.0;
    }
    for (std::size_t t = 0; t < f.size(); ++t) {
      for (int dy = 0; dy < zoom; ++dy) {
        for (int dx = 0; dx < zoom; ++dx) {
          mosaic.at(left + x_offsets[t] * zoom + dx, top + y_offsets[t] * zoom + dy) =
              128.0 + scale * f[t];
        }
      }
    }
  }
  return mosaic;
}

}  // namespace denoise_foe
