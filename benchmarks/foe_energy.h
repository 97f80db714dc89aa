// ceres_wiberg benchmarks: the Fields-of-Experts (FoE) denoising energy of
// Ceres Solver's examples/denoising.cc (Roth and Black, "Fields of Experts",
// IJCV 2009), built as a bilevel problem whose expert weights and filter
// coefficients are learnable parameter blocks.
//
// Header only, so that a benchmark (or a later examples/denoise_foe) includes
// it directly and nothing else needs to be compiled.
//
// The energy. For a noisy image b with N pixels, the restored image x (one
// scalar parameter block per pixel: the inner variables), K experts with s x s
// filters f_k and weights m_k:
//
//   E(x) = 1/2 sum_p r_p^2 + 1/2 sum_k sum_patches m_k rho(s_kP; a)
//        = sum_p (x_p - b_p)^2 / (2 sigma^2)
//          + sum_k sum_patches m_k log(1 + (f_k . x_P)^2 / 2)
//
// with the data residual r_p = (x_p - b_p) / sigma, the expert response
// z = f_k . x_P over the patch P of the filter at one position (every
// position where the filter fits inside the image, as in Ceres' example), and
// s = z^2. The robust part is ceres_wiberg::LearnableLossCostFunction with the
// CAUCHY loss, rho(s; a) = a^2 log(1 + s / a^2), its scale a = sqrt(2) held
// in ONE 1-double block shared by every expert residual (and set constant:
// it is neither inner nor learnable), so that 1/2 m_k rho = m_k log(1 + s/2).
//
// Constant factors. With m_k = alpha_k (the default) E is exactly the FoE
// posterior energy of Roth and Black. Ceres' denoising.cc minimises exactly
// half of it (its data residual is sqrt(1 / (2 sigma^2)) (x - b) and its loss
// alpha log(1 + s/2), both halved by Ceres' 1/2), so both have the same
// minimisers; only m_k's scale differs from a factor-free energy.
//
// Learnable blocks (see LearnableBlocks): the K weights m_k (1 double each)
// and the K filters f_k (s*s doubles each, in the tap order of the filter
// offsets), n_w = K (1 + s^2).
//
// Default filters (DefaultFieldsOfExperts): nothing is downloaded. Eight
// zero-mean 3 x 3 derivative filters, taps in raster order (x_offsets
// 0 1 2 0 1 2 0 1 2, y_offsets 0 0 0 1 1 1 2 2 2):
//   dx (x_{1,2} - x_{1,1}), dy, the two diagonal differences,
//   dxx (1 -2 1 on the middle row), dyy, dxy (1 0 -1 / 0 0 0 / -1 0 1, / 4)
//   and the 5-point Laplacian,
// with the weights alpha listed in DefaultFieldsOfExperts (chosen by hand so
// that the default problem denoises the synthetic image below; they are not
// learnt). ReadFieldsOfExperts reads Ceres' .foe files instead (e.g. Stefan
// Roth's 3x3.foe shipped with Ceres' data).

#ifndef CERES_WIBERG_BENCHMARKS_FOE_ENERGY_H_
#define CERES_WIBERG_BENCHMARKS_FOE_ENERGY_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "ceres/ceres.h"
#include "ceres_wiberg/learnable_loss.h"

namespace ceres_wiberg {
namespace foe {

// A Fields-of-Experts model: K experts with s x s filters.
struct FieldsOfExperts {
  int size = 0;                 // s
  std::vector<int> x_offsets;   // s*s tap offsets (column)
  std::vector<int> y_offsets;   // s*s tap offsets (row)
  std::vector<double> alpha;    // K expert weights
  std::vector<std::vector<double>> filters;  // K filters of s*s taps

  int num_experts() const { return static_cast<int>(alpha.size()); }
  int num_taps() const { return size * size; }
};

// The documented default: eight 3 x 3 derivative filters (see the file
// comment).
inline FieldsOfExperts DefaultFieldsOfExperts() {
  FieldsOfExperts foe;
  foe.size = 3;
  foe.x_offsets = {0, 1, 2, 0, 1, 2, 0, 1, 2};
  foe.y_offsets = {0, 0, 0, 1, 1, 1, 2, 2, 2};
  foe.filters = {
      {0, 0, 0, 0, -1, 1, 0, 0, 0},                  // dx
      {0, 0, 0, 0, -1, 0, 0, 1, 0},                  // dy
      {0, 0, 0, 0, -1, 0, 0, 0, 1},                  // diagonal
      {0, 0, 0, 0, -1, 0, 1, 0, 0},                  // anti-diagonal
      {0, 0, 0, 1, -2, 1, 0, 0, 0},                  // dxx
      {0, 1, 0, 0, -2, 0, 0, 1, 0},                  // dyy
      {0.25, 0, -0.25, 0, 0, 0, -0.25, 0, 0.25},     // dxy
      {0, 1, 0, 1, -4, 1, 0, 1, 0},                  // Laplacian
  };
  foe.alpha = {0.12, 0.12, 0.06, 0.06, 0.04, 0.04, 0.04, 0.02};
  return foe;
}

// Reads a Ceres .foe file: "s K", s*s x offsets, s*s y offsets, K alphas,
// then K lines of s*s filter taps.
inline bool ReadFieldsOfExperts(const std::string& path, FieldsOfExperts* foe,
                                std::string* error) {
  std::ifstream in(path);
  if (!in) {
    *error = "cannot open " + path;
    return false;
  }
  FieldsOfExperts result;
  int k = 0;
  in >> result.size >> k;
  if (!in || result.size <= 0 || k <= 0) {
    *error = path + ": bad header";
    return false;
  }
  const int taps = result.size * result.size;
  result.x_offsets.resize(taps);
  result.y_offsets.resize(taps);
  result.alpha.resize(k);
  result.filters.assign(k, std::vector<double>(taps));
  for (int& x : result.x_offsets) in >> x;
  for (int& y : result.y_offsets) in >> y;
  for (double& a : result.alpha) in >> a;
  for (auto& filter : result.filters) {
    for (double& f : filter) in >> f;
  }
  if (!in) {
    *error = path + ": truncated";
    return false;
  }
  for (int t = 0; t < taps; ++t) {
    if (result.x_offsets[t] < 0 || result.x_offsets[t] >= result.size ||
        result.y_offsets[t] < 0 || result.y_offsets[t] >= result.size) {
      *error = path + ": tap offset outside the s x s window";
      return false;
    }
  }
  *foe = std::move(result);
  return true;
}

// A grey image, row-major, values nominally in [0, 255].
struct Image {
  int width = 0;
  int height = 0;
  std::vector<double> pixels;

  double& at(int x, int y) { return pixels[static_cast<size_t>(y) * width + x]; }
  double at(int x, int y) const {
    return pixels[static_cast<size_t>(y) * width + x];
  }
  int num_pixels() const { return width * height; }
};

// A deterministic test image of any size: a horizontal ramp, a bright
// rectangle, a dark disk and a sinusoidal texture patch (edges, flat areas
// and texture at every scale).
inline Image SyntheticImage(int width, int height) {
  Image image;
  image.width = width;
  image.height = height;
  image.pixels.resize(static_cast<size_t>(width) * height);
  const double pi = 3.14159265358979323846;
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      const double u = (x + 0.5) / width;
      const double v = (y + 0.5) / height;
      double value = 70.0 + 90.0 * u;
      if (u > 0.125 && u < 0.375 && v > 0.125 && v < 0.5) value = 210.0;
      const double du = u - 0.65, dv = v - 0.6;
      if (du * du + dv * dv < 0.04) value = 35.0;
      if (u < 0.45 && v > 0.6) {
        value += 30.0 * std::sin(2.0 * pi * x / 16.0) * std::sin(2.0 * pi * y / 16.0);
      }
      image.at(x, y) = value;
    }
  }
  return image;
}

// image + N(0, sigma^2) noise from std::mt19937(seed).
inline Image AddGaussianNoise(const Image& image, double sigma, uint32_t seed) {
  Image noisy = image;
  std::mt19937 rng(seed);
  std::normal_distribution<double> normal(0.0, sigma);
  for (double& p : noisy.pixels) p += normal(rng);
  return noisy;
}

// Reads an ASCII (P2) or binary (P5, 8-bit) PGM file.
inline bool ReadPgm(const std::string& path, Image* image, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = "cannot open " + path;
    return false;
  }
  auto next_token = [&in]() {
    std::string token;
    while (in >> token) {
      if (token[0] != '#') return token;
      std::string rest;
      std::getline(in, rest);
    }
    return std::string();
  };
  const std::string magic = next_token();
  if (magic != "P2" && magic != "P5") {
    *error = path + ": not a P2/P5 PGM file";
    return false;
  }
  Image result;
  int max_value = 0;
  try {
    result.width = std::stoi(next_token());
    result.height = std::stoi(next_token());
    max_value = std::stoi(next_token());
  } catch (...) {
    *error = path + ": bad PGM header";
    return false;
  }
  if (result.width <= 0 || result.height <= 0 || max_value <= 0 || max_value > 255) {
    *error = path + ": unsupported PGM header";
    return false;
  }
  result.pixels.resize(static_cast<size_t>(result.width) * result.height);
  if (magic == "P2") {
    for (double& p : result.pixels) {
      int value = 0;
      if (!(in >> value)) {
        *error = path + ": truncated";
        return false;
      }
      p = value;
    }
  } else {
    in.get();  // the single whitespace after the header
    for (double& p : result.pixels) {
      const int value = in.get();
      if (value == EOF) {
        *error = path + ": truncated";
        return false;
      }
      p = value;
    }
  }
  *image = std::move(result);
  return true;
}

// Peak signal-to-noise ratio of `image` against `reference`, peak 255.
inline double Psnr(const Image& image, const Image& reference) {
  double sum = 0.0;
  for (size_t i = 0; i < image.pixels.size(); ++i) {
    const double d = image.pixels[i] - reference.pixels[i];
    sum += d * d;
  }
  const double mse = sum / image.pixels.size();
  return 10.0 * std::log10(255.0 * 255.0 / mse);
}

// r = (x - b) / sigma, one pixel.
class DataCost final : public ceres::SizedCostFunction<1, 1> {
 public:
  DataCost(double observed, double sigma) : observed_(observed), inverse_sigma_(1.0 / sigma) {}
  bool Evaluate(double const* const* parameters, double* residuals,
                double** jacobians) const override {
    residuals[0] = (parameters[0][0] - observed_) * inverse_sigma_;
    if (jacobians != nullptr && jacobians[0] != nullptr) jacobians[0][0] = inverse_sigma_;
    return true;
  }

 private:
  const double observed_;
  const double inverse_sigma_;
};

// z = f . x_P: parameter blocks are the s*s pixels of the patch (1 double
// each, in tap order) and then the filter f (s*s doubles). One instance is
// shared by every expert and position.
class ExpertResponseCost final : public ceres::CostFunction {
 public:
  explicit ExpertResponseCost(int num_taps) : num_taps_(num_taps) {
    set_num_residuals(1);
    for (int t = 0; t < num_taps; ++t) mutable_parameter_block_sizes()->push_back(1);
    mutable_parameter_block_sizes()->push_back(num_taps);
  }
  bool Evaluate(double const* const* parameters, double* residuals,
                double** jacobians) const override {
    const double* filter = parameters[num_taps_];
    double z = 0.0;
    for (int t = 0; t < num_taps_; ++t) z += filter[t] * parameters[t][0];
    residuals[0] = z;
    if (jacobians == nullptr) return true;
    for (int t = 0; t < num_taps_; ++t) {
      if (jacobians[t] != nullptr) jacobians[t][0] = filter[t];
    }
    if (jacobians[num_taps_] != nullptr) {
      for (int t = 0; t < num_taps_; ++t) jacobians[num_taps_][t] = parameters[t][0];
    }
    return true;
  }

 private:
  const int num_taps_;
};

// The values every block of the problem points into. Build it with
// BuildFoeProblem; it must outlive the ceres::Problem and must not be resized
// afterwards.
struct FoeParameters {
  std::vector<double> pixels;                // inner: one block per pixel
  double scale = std::sqrt(2.0);             // a, shared, held constant
  std::vector<double> weights;               // m_k, one block each (learnable)
  std::vector<std::vector<double>> filters;  // f_k, one block each (learnable)
};

struct FoeProblemOptions {
  double sigma = 20.0;  // noise standard deviation of the data term
  // Initial pixel values: the noisy image (true) or zero, as Ceres'
  // denoising.cc does (false).
  bool start_from_noisy = true;
};

// Builds the FoE energy of the file comment for `noisy` into `problem` (which
// should be empty), storing the values in `parameters`: pixels from the
// options, weights m_k = alpha_k, filters f_k = foe.filters[k], and the shared
// scale block a = sqrt(2), set constant. Returns the number of expert
// residual blocks.
inline int BuildFoeProblem(const Image& noisy, const FieldsOfExperts& foe,
                           const FoeProblemOptions& options, FoeParameters* parameters,
                           ceres::Problem* problem) {
  const int K = foe.num_experts();
  const int taps = foe.num_taps();
  parameters->pixels = options.start_from_noisy
                           ? noisy.pixels
                           : std::vector<double>(noisy.pixels.size(), 0.0);
  parameters->scale = std::sqrt(2.0);
  parameters->weights = foe.alpha;
  parameters->filters = foe.filters;

  for (int p = 0; p < noisy.num_pixels(); ++p) {
    problem->AddResidualBlock(new DataCost(noisy.pixels[p], options.sigma), nullptr,
                              &parameters->pixels[p]);
  }
  // One cost function for every expert residual (Ceres deletes it once).
  ceres::CostFunction* expert = new LearnableLossCostFunction(
      new ExpertResponseCost(taps), LearnableLossType::CAUCHY, /*has_weight_block=*/true);
  std::vector<double*> blocks(taps + 3);
  int num_expert_residuals = 0;
  for (int y = 0; y + foe.size <= noisy.height; ++y) {
    for (int x = 0; x + foe.size <= noisy.width; ++x) {
      for (int t = 0; t < taps; ++t) {
        blocks[t] = &parameters->pixels[static_cast<size_t>(y + foe.y_offsets[t]) *
                                            noisy.width +
                                        x + foe.x_offsets[t]];
      }
      for (int k = 0; k < K; ++k) {
        blocks[taps] = parameters->filters[k].data();
        blocks[taps + 1] = &parameters->scale;
        blocks[taps + 2] = &parameters->weights[k];
        problem->AddResidualBlock(expert, nullptr, blocks);
        ++num_expert_residuals;
      }
    }
  }
  problem->SetParameterBlockConstant(&parameters->scale);
  return num_expert_residuals;
}

// The pixel blocks in raster order: the inner blocks for BilevelProblem.
inline std::vector<double*> PixelBlocks(FoeParameters* parameters) {
  std::vector<double*> blocks;
  blocks.reserve(parameters->pixels.size());
  for (double& p : parameters->pixels) blocks.push_back(&p);
  return blocks;
}

// The learnable blocks: the weights m_1..m_K (if learn_weights), then the
// filters f_1..f_K (if learn_filters). w is their concatenation in this order.
inline std::vector<double*> LearnableBlocks(FoeParameters* parameters, bool learn_weights = true,
                                            bool learn_filters = true) {
  std::vector<double*> blocks;
  if (learn_weights) {
    for (double& m : parameters->weights) blocks.push_back(&m);
  }
  if (learn_filters) {
    for (auto& f : parameters->filters) blocks.push_back(f.data());
  }
  return blocks;
}

}  // namespace foe
}  // namespace ceres_wiberg

#endif  // CERES_WIBERG_BENCHMARKS_FOE_ENERGY_H_
