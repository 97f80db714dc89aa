// The Fields-of-Experts (FoE) denoising energy of Ceres Solver's
// examples/denoising.cc (Roth and Black, "Fields of Experts", IJCV 2009),
// built as a bilevel problem whose expert weights and filter coefficients
// are learnable parameter blocks.
//
// The energy. For a noisy image b with N pixels, the restored image x (one
// scalar parameter block per pixel: the inner variables), K experts with
// s x s filters f_k and weights m_k:
//
//   E(x) = 1/2 sum_p r_p^2 + 1/2 sum_k sum_patches m_k rho(z^2; a)
//        = sum_p (x_p - b_p)^2 / (2 sigma^2)
//          + sum_k sum_patches m_k log(1 + (f_k . x_P)^2 / 2)
//
// with the data residual r_p = (x_p - b_p) / sigma and the expert response
// z = f_k . x_P over the patch P of the filter at one position (every
// position where the filter fits inside the image, as in Ceres' example).
// The robust part is ceres_wiberg::LearnableLossCostFunction with the CAUCHY
// loss, rho(s; a) = a^2 log(1 + s / a^2), its scale a = sqrt(2) held in ONE
// 1-double block shared by every expert residual (and set constant: it is
// neither inner nor learnable), so that 1/2 m_k rho = m_k log(1 + z^2 / 2).
//
// Constant factors. With m_k = alpha_k E is exactly the FoE posterior energy
// of Roth and Black. Ceres' denoising.cc minimises exactly half of it (its
// data residual is sqrt(1 / (2 sigma^2)) (x - b) and its loss
// alpha log(1 + s/2), both halved by Ceres' 1/2): same minimisers.
//
// Learnable blocks (LearnableBlocks): the K weights m_k (1 double each) and
// the K filters f_k (s*s doubles each, in the tap order of the offsets),
// n_w = K (1 + s^2).
//
// Default model (DefaultFieldsOfExperts), used when no .foe file is given:
// eight zero-mean 3 x 3 derivative filters, taps in raster order (x offsets
// 0 1 2 0 1 2 0 1 2, y offsets 0 0 0 1 1 1 2 2 2):
//   dx (x_{1,2} - x_{1,1}), dy, the two diagonal differences,
//   dxx (1 -2 1 on the middle row), dyy, dxy (1 0 -1 / 0 0 0 / -1 0 1, / 4)
//   and the 5-point Laplacian,
// with weights alpha = 0.12 0.12 0.06 0.06 0.04 0.04 0.04 0.02, chosen by
// hand so that the problem denoises synthetic images; not learnt.
// ReadFieldsOfExperts reads Ceres' .foe files instead (Roth's 2x2, 3x3, 5x5).

#ifndef CERES_WIBERG_EXAMPLES_DENOISE_FOE_FOE_ENERGY_H_
#define CERES_WIBERG_EXAMPLES_DENOISE_FOE_FOE_ENERGY_H_

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "Eigen/Core"
#include "ceres/ceres.h"
#include "ceres_wiberg/status.h"
#include "image.h"

namespace denoise_foe {

// A Fields-of-Experts model: K experts with s x s filters.
struct FieldsOfExperts {
  int size = 0;                              // s
  std::vector<int> x_offsets;                // s*s tap offsets (column)
  std::vector<int> y_offsets;                // s*s tap offsets (row)
  std::vector<double> alpha;                 // K expert weights
  std::vector<std::vector<double>> filters;  // K filters of s*s taps

  int num_experts() const { return static_cast<int>(alpha.size()); }
  int num_taps() const { return size * size; }
  // n_w = K (1 + s^2).
  int num_parameters() const { return num_experts() * (1 + num_taps()); }

  // w = (alpha_1..alpha_K, f_1..f_K): the order of LearnableBlocks.
  Eigen::VectorXd ToVector() const;
  // Sets alpha and the filters from w of size num_parameters() (CHECKed).
  void FromVector(const Eigen::VectorXd& w);

  // OK if the sizes agree, offsets lie in the s x s window without repeats,
  // and every weight is positive and finite and every tap finite.
  ceres_wiberg::Status Validate() const;
};

// The documented default: eight 3 x 3 derivative filters (file comment).
FieldsOfExperts DefaultFieldsOfExperts();

// Reads a Ceres .foe file: "s K", s*s x offsets, s*s y offsets, K alphas,
// then K lines of s*s filter taps (whitespace-separated; line breaks are not
// significant). Errors (kInvalidArgument) name the file and the line:
// "<path>:<line>: <cause>" for a bad or non-finite number, an offset outside
// the window, a non-positive weight or extra content; "<path>: ..." for a
// missing file or one that ends early.
ceres_wiberg::Status ReadFieldsOfExperts(const std::string& path, FieldsOfExperts* foe);

// ReadFieldsOfExperts of a file's contents, `path` naming it in errors.
ceres_wiberg::Status ParseFieldsOfExperts(const std::string& contents, const std::string& path,
                                          FieldsOfExperts* foe);

// Writes a model in the same format (atomically), doubles in %.17g.
ceres_wiberg::Status WriteFieldsOfExperts(const std::string& path, const FieldsOfExperts& foe);

struct FoeParameters;

// r = (x - b) / sigma, one pixel.
class DataCost final : public ceres::SizedCostFunction<1, 1> {
 public:
  DataCost(double observed, double sigma);
  bool Evaluate(double const* const* parameters, double* residuals,
                double** jacobians) const override;

 private:
  const double observed_;
  const double inverse_sigma_;
};

// z = f . x_P: the parameter blocks are the s*s pixels of the patch (1 double
// each, in tap order), then the filter f (s*s doubles). One instance serves
// every expert and position.
class ExpertResponseCost final : public ceres::CostFunction {
 public:
  explicit ExpertResponseCost(int num_taps);
  bool Evaluate(double const* const* parameters, double* residuals,
                double** jacobians) const override;

 private:
  const int num_taps_;
};

// The expert residual block of the energy: LearnableLossCostFunction(
// ExpertResponseCost, CAUCHY, with a weight block). Blocks: s*s pixels, the
// filter, the scale a, the weight m. Caller owns it.
ceres::CostFunction* NewExpertCost(int num_taps);

// All K expert residuals at one position stacked into one residual block:
// z_k = f_k . x_P and the residual r~_k of NewExpertCost for k = 1..K, over
// the s*s pixel blocks of the patch only. The filters, the scale and the
// weights are read (at every Evaluate) from the FoeParameters given, so that
// setting the learnable values there changes this cost too. Each r~_k and
// its pixel Jacobian row are computed by the same NewExpertCost instance
// (bit-identical values), so a problem of these blocks has the energy, the
// gradient and the Gauss-Newton model of BuildFoeProblem's, but Ceres forms
// J^T J from K x 1 cells instead of 1 x 1 ones: measured 4.3x less time per
// LM solve at 16 x 16, same iterations and minimiser (foe_energy.cc).
class ExpertStackCost final : public ceres::CostFunction {
 public:
  // `parameters` must outlive the cost and keep its vectors' sizes.
  ExpertStackCost(int num_taps, FoeParameters* parameters);
  bool Evaluate(double const* const* parameters, double* residuals,
                double** jacobians) const override;

 private:
  const int num_taps_;
  const FoeParameters* values_;
  std::unique_ptr<ceres::CostFunction> expert_;
};

// The values every block of the problem points into. Filled by
// BuildFoeProblem; it must outlive the ceres::Problem and must not be resized
// afterwards.
struct FoeParameters {
  std::vector<double> pixels;                // inner: one block per pixel
  double scale = std::sqrt(2.0);             // a, shared, held constant
  std::vector<double> weights;               // m_k, one block each (learnable)
  std::vector<std::vector<double>> filters;  // f_k, one block each (learnable)
};

struct FoeProblemOptions {
  // Noise standard deviation of the data term (grey levels).
  double sigma = 20.0;
  // Initial pixel values: the noisy image (true) or zero, as Ceres'
  // denoising.cc does (false).
  bool start_from_noisy = true;
};

// Builds the energy of the file comment for `noisy` into `problem` (which
// should be empty), storing the values in `parameters`: pixels from the
// options, m_k = alpha_k, f_k = foe.filters[k], and the shared scale block
// a = sqrt(2), set constant. CHECKs that the image is at least s x s and the
// model consistent (validate data first). Returns the number of expert
// residual blocks.
int BuildFoeProblem(const Image& noisy, const FieldsOfExperts& foe,
                    const FoeProblemOptions& options, FoeParameters* parameters,
                    ceres::Problem* problem);

// The values of BuildFoeProblem (pixels from the options, m_k, f_k and a)
// into `parameters`, without building a problem.
void InitialiseFoeParameters(const Image& noisy, const FieldsOfExperts& foe,
                             const FoeProblemOptions& options, FoeParameters* parameters);

// The same energy as BuildFoeProblem over the values `parameters` already
// holds (InitialiseFoeParameters or BuildFoeProblem): one DataCost per pixel
// and one ExpertStackCost per filter position, with the pixels as the only
// parameter blocks. Solving it moves the pixels of a BuildFoeProblem problem
// built on the same `parameters` (BilevelExample::Options::
// inner_solve_problem). CHECKs as BuildFoeProblem and that `parameters`
// matches the image and the model. Returns the number of stacked blocks.
int BuildStackedFoeProblem(const Image& noisy, const FieldsOfExperts& foe, double sigma,
                           FoeParameters* parameters, ceres::Problem* problem);

// The pixel blocks in raster order: the inner blocks for BilevelProblem.
std::vector<double*> PixelBlocks(FoeParameters* parameters);

// The learnable blocks: the weights m_1..m_K (if learn_weights), then the
// filters f_1..f_K (if learn_filters). w is their concatenation in this order.
std::vector<double*> LearnableBlocks(FoeParameters* parameters, bool learn_weights = true,
                                     bool learn_filters = true);

}  // namespace denoise_foe

#endif  // CERES_WIBERG_EXAMPLES_DENOISE_FOE_FOE_ENERGY_H_
