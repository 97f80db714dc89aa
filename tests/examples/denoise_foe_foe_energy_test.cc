// The FoE energy of examples/denoise_foe: the expert and data residuals'
// Jacobians (pixels, filter taps, expert weight) against central finite
// differences, the energy against its closed form, the problem's layout, and
// the .foe reader on good and malformed files.

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "foe_energy.h"
#include "gtest/gtest.h"

namespace denoise_foe {
namespace {

namespace fs = std::filesystem;

// Central differences of a cost function's residuals with respect to every
// coordinate of every parameter block, compared with its analytic Jacobians.
// Returns the largest error relative to max(1, |J|_max) of the block.
double MaxJacobianError(const ceres::CostFunction& cost, std::vector<std::vector<double>> values,
                        double step) {
  const int num_residuals = cost.num_residuals();
  const std::vector<int32_t>& sizes = cost.parameter_block_sizes();
  std::vector<const double*> parameters;
  for (auto& block : values) parameters.push_back(block.data());
  std::vector<std::vector<double>> jacobians(sizes.size());
  std::vector<double*> jacobian_pointers;
  for (size_t b = 0; b < sizes.size(); ++b) {
    jacobians[b].resize(num_residuals * sizes[b]);
    jacobian_pointers.push_back(jacobians[b].data());
  }
  std::vector<double> residuals(num_residuals), plus(num_residuals), minus(num_residuals);
  EXPECT_TRUE(cost.Evaluate(parameters.data(), residuals.data(), jacobian_pointers.data()));
  double worst = 0.0;
  for (size_t b = 0; b < sizes.size(); ++b) {
    double scale = 1.0;
    for (double j : jacobians[b]) scale = std::max(scale, std::abs(j));
    for (int c = 0; c < sizes[b]; ++c) {
      const double saved = values[b][c];
      const double h = step * std::max(1.0, std::abs(saved));
      values[b][c] = saved + h;
      EXPECT_TRUE(cost.Evaluate(parameters.data(), plus.data(), nullptr));
      values[b][c] = saved - h;
      EXPECT_TRUE(cost.Evaluate(parameters.data(), minus.data(), nullptr));
      values[b][c] = saved;
      for (int r = 0; r < num_residuals; ++r) {
        const double numeric = (plus[r] - minus[r]) / (2.0 * h);
        const double analytic = jacobians[b][r * sizes[b] + c];
        worst = std::max(worst, std::abs(numeric - analytic) / scale);
      }
    }
  }
  return worst;
}

// Central differences with h = 1e-6 max(1, |x|) have truncation error
// O(h^2 |r'''|) and round-off O(eps |r| / h): about 1e-9 relative here.
constexpr double kStep = 1e-6;
constexpr double kTolerance = 1e-7;

TEST(FoeEnergy, ExpertCostJacobiansMatchCentralDifferences) {
  const FieldsOfExperts model = DefaultFieldsOfExperts();
  std::unique_ptr<ceres::CostFunction> expert(NewExpertCost(model.num_taps()));
  ASSERT_EQ(expert->num_residuals(), 1);
  ASSERT_EQ(expert->parameter_block_sizes().size(), static_cast<size_t>(model.num_taps() + 3));
  std::mt19937 rng(3);
  std::uniform_real_distribution<double> grey(0.0, 255.0);
  std::normal_distribution<double> normal(0.0, 1.0);
  // Patches with small responses (z near 0, the quadratic part), near the
  // inflexion |z| = sqrt(2) and far out in the log tail.
  for (double contrast : {0.01, 0.3, 1.0, 30.0}) {
    for (int k = 0; k < model.num_experts(); ++k) {
      std::vector<std::vector<double>> values;
      const double base = grey(rng);
      for (int t = 0; t < model.num_taps(); ++t) {
        values.push_back({base + contrast * normal(rng)});
      }
      std::vector<double> filter = model.filters[k];
      for (double& tap : filter) tap += 0.1 * normal(rng);
      values.push_back(filter);
      values.push_back({std::sqrt(2.0)});
      values.push_back({model.alpha[k] * (1.0 + std::abs(normal(rng)))});
      EXPECT_LT(MaxJacobianError(*expert, values, kStep), kTolerance)
          << "contrast " << contrast << " expert " << k;
    }
  }
}

TEST(FoeEnergy, DataCostJacobianMatchesCentralDifferences) {
  DataCost cost(117.0, 20.0);
  EXPECT_LT(MaxJacobianError(cost, {{131.5}}, kStep), kTolerance);
  double x = 131.5, r = 0.0, j = 0.0;
  const double* parameters[] = {&x};
  double* jacobians[] = {&j};
  ASSERT_TRUE(cost.Evaluate(parameters, &r, jacobians));
  EXPECT_DOUBLE_EQ(r, (131.5 - 117.0) / 20.0);
  EXPECT_DOUBLE_EQ(j, 1.0 / 20.0);
}

Image RandomImage(int width, int height, uint32_t seed) {
  Image image(width, height);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> grey(0.0, 255.0);
  for (double& p : image.pixels) p = grey(rng);
  return image;
}

TEST(FoeEnergy, CostIsTheFieldsOfExpertsEnergy) {
  const FieldsOfExperts model = DefaultFieldsOfExperts();
  const Image noisy = RandomImage(7, 6, 5);
  ceres::Problem problem;
  FoeParameters parameters;
  FoeProblemOptions options;
  options.sigma = 20.0;
  const int num_experts = BuildFoeProblem(noisy, model, options, &parameters, &problem);
  // (7 - 2) x (6 - 2) positions, 8 experts each, plus one data term per pixel.
  EXPECT_EQ(num_experts, 5 * 4 * 8);
  EXPECT_EQ(problem.NumResidualBlocks(), 5 * 4 * 8 + 42);
  // Move the pixels away from the data, then compare with the closed form.
  const Image x = RandomImage(7, 6, 6);
  parameters.pixels = x.pixels;
  double expected = 0.0;
  for (int p = 0; p < 42; ++p) {
    expected += std::pow(x.pixels[p] - noisy.pixels[p], 2) / (2.0 * 20.0 * 20.0);
  }
  for (int y = 0; y + 3 <= 6; ++y) {
    for (int xx = 0; xx + 3 <= 7; ++xx) {
      for (int k = 0; k < 8; ++k) {
        double z = 0.0;
        for (int t = 0; t < 9; ++t) {
          z += model.filters[k][t] * x.at(xx + model.x_offsets[t], y + model.y_offsets[t]);
        }
        expected += model.alpha[k] * std::log(1.0 + z * z / 2.0);
      }
    }
  }
  double cost = 0.0;
  ASSERT_TRUE(
      problem.Evaluate(ceres::Problem::EvaluateOptions(), &cost, nullptr, nullptr, nullptr));
  EXPECT_NEAR(cost, expected, 1e-12 * expected);

  // Layout: pixels in raster order, then the learnable weights and filters.
  const std::vector<double*> pixels = PixelBlocks(&parameters);
  ASSERT_EQ(pixels.size(), 42u);
  EXPECT_EQ(pixels[8], &parameters.pixels[8]);
  EXPECT_EQ(LearnableBlocks(&parameters).size(), 16u);
  EXPECT_EQ(LearnableBlocks(&parameters, true, false).size(), 8u);
  EXPECT_EQ(LearnableBlocks(&parameters, false, true)[0], parameters.filters[0].data());
  EXPECT_TRUE(problem.IsParameterBlockConstant(&parameters.scale));
}

// The stacked form: each residual and pixel-Jacobian entry of an
// ExpertStackCost is bit-identical to the one-expert block's (the same cost
// function computes it), it follows the learnable values where they are
// kept, and the stacked problem's energy and gradient are BuildFoeProblem's
// up to summation order (1e-13 relative).
TEST(FoeEnergy, StackedExpertsAreTheSameEnergy) {
  FieldsOfExperts model = DefaultFieldsOfExperts();
  const Image noisy = RandomImage(7, 6, 5);
  ceres::Problem problem;
  FoeParameters parameters;
  FoeProblemOptions options;
  options.sigma = 20.0;
  BuildFoeProblem(noisy, model, options, &parameters, &problem);
  ceres::Problem stacked;
  EXPECT_EQ(BuildStackedFoeProblem(noisy, model, options.sigma, &parameters, &stacked), 5 * 4);
  EXPECT_EQ(stacked.NumParameterBlocks(), 42);
  EXPECT_EQ(stacked.NumResidualBlocks(), 5 * 4 + 42);
  const Image x = RandomImage(7, 6, 6);
  std::copy(x.pixels.begin(), x.pixels.end(), parameters.pixels.begin());  // same memory
  parameters.weights[3] *= 1.5;  // learnable values changed in place
  parameters.filters[5][4] += 0.25;

  std::unique_ptr<ceres::CostFunction> expert(NewExpertCost(9));
  ExpertStackCost stack(9, &parameters);
  ASSERT_EQ(stack.num_residuals(), 8);
  std::vector<const double*> pixels(9), blocks(12);
  for (int t = 0; t < 9; ++t) {
    pixels[t] = blocks[t] = &parameters.pixels[(1 + model.y_offsets[t]) * 7 + 2 +
                                               model.x_offsets[t]];
  }
  std::vector<double> residuals(8), jacobian_storage(9 * 8);
  std::vector<double*> jacobians(9);
  for (int t = 0; t < 9; ++t) jacobians[t] = &jacobian_storage[t * 8];
  ASSERT_TRUE(stack.Evaluate(pixels.data(), residuals.data(), jacobians.data()));
  blocks[10] = &parameters.scale;
  for (int k = 0; k < 8; ++k) {
    blocks[9] = parameters.filters[k].data();
    blocks[11] = &parameters.weights[k];
    double r = 0.0;
    std::vector<double> row(9);
    std::vector<double*> expert_jacobians(12, nullptr);
    for (int t = 0; t < 9; ++t) expert_jacobians[t] = &row[t];
    ASSERT_TRUE(expert->Evaluate(blocks.data(), &r, expert_jacobians.data()));
    EXPECT_EQ(residuals[k], r) << k;
    for (int t = 0; t < 9; ++t) EXPECT_EQ(jacobians[t][k], row[t]) << k << " " << t;
  }

  // Energy and gradient over the pixels.
  ceres::Problem::EvaluateOptions evaluate;
  evaluate.parameter_blocks = PixelBlocks(&parameters);
  double cost = 0.0, stacked_cost = 0.0;
  std::vector<double> gradient, stacked_gradient;
  ASSERT_TRUE(problem.Evaluate(evaluate, &cost, nullptr, &gradient, nullptr));
  ASSERT_TRUE(stacked.Evaluate(evaluate, &stacked_cost, nullptr, &stacked_gradient, nullptr));
  EXPECT_NEAR(stacked_cost, cost, 1e-13 * cost);
  ASSERT_EQ(stacked_gradient.size(), gradient.size());
  double gradient_norm = 0.0;
  for (double g : gradient) gradient_norm = std::max(gradient_norm, std::abs(g));
  for (size_t i = 0; i < gradient.size(); ++i) {
    EXPECT_NEAR(stacked_gradient[i], gradient[i], 1e-13 * gradient_norm) << i;
  }
}

TEST(FoeEnergy, ModelVectorRoundTripsAndValidates) {
  FieldsOfExperts model = DefaultFieldsOfExperts();
  ASSERT_TRUE(model.Validate().ok());
  EXPECT_EQ(model.num_parameters(), 8 * 10);
  Eigen::VectorXd w = model.ToVector();
  EXPECT_EQ(w[0], 0.12);
  EXPECT_EQ(w[8 + 5], 1.0);  // dx filter, tap 5
  w[1] = 0.5;
  model.FromVector(w);
  EXPECT_EQ(model.alpha[1], 0.5);
  model.alpha[2] = -1.0;
  EXPECT_NE(model.Validate().message().find("expert 2"), std::string::npos);
  model = DefaultFieldsOfExperts();
  model.filters[3][4] = std::nan("");
  EXPECT_NE(model.Validate().message().find("filter 3"), std::string::npos);
}

// ---------------------------------------------------------------------------
// The .foe reader.

std::string TestFile(const std::string& name, const std::string& contents) {
  const fs::path folder = fs::path(::testing::TempDir()) / "denoise_foe_foe_energy_test";
  fs::create_directories(folder);
  const std::string path = (folder / name).string();
  std::ofstream(path, std::ios::binary) << contents;
  return path;
}

const char kGoodFoe[] =
    "2 2\n"
    "0 1 0 1\n"
    "0 0 1 1\n"
    "\n"
    "0.5 2e-1\n"
    "1 -1 0 0\n"
    "1 0 -1 0\n";

TEST(FoeFile, ReadsAGoodFileAndWritesItBack) {
  const std::string path = TestFile("good.foe", kGoodFoe);
  FieldsOfExperts foe;
  ceres_wiberg::Status status = ReadFieldsOfExperts(path, &foe);
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(foe.size, 2);
  EXPECT_EQ(foe.num_experts(), 2);
  EXPECT_EQ(foe.x_offsets, (std::vector<int>{0, 1, 0, 1}));
  EXPECT_EQ(foe.y_offsets, (std::vector<int>{0, 0, 1, 1}));
  EXPECT_EQ(foe.alpha, (std::vector<double>{0.5, 0.2}));
  EXPECT_EQ(foe.filters[1], (std::vector<double>{1, 0, -1, 0}));

  const std::string copy = TestFile("copy.foe", "");
  ASSERT_TRUE(WriteFieldsOfExperts(copy, foe).ok());
  EXPECT_FALSE(fs::exists(copy + ".tmp"));
  FieldsOfExperts again;
  ASSERT_TRUE(ReadFieldsOfExperts(copy, &again).ok());
  EXPECT_EQ(again.alpha, foe.alpha);
  EXPECT_EQ(again.filters, foe.filters);
}

// Each malformed file gives an error naming the file, the line and the cause.
TEST(FoeFile, RejectsMalformedFilesNamingTheLineAndCause) {
  struct Case {
    const char* name;
    std::string contents;
    std::string expected;  // the message starts with the path and this
  };
  const std::vector<Case> cases = {
      {"bad_size.foe", "x 2\n", ":1: bad filter size \"x\""},
      {"zero_experts.foe", "2 0\n", ":1: bad number of experts \"0\""},
      {"bad_offset.foe", "2 2\n0 1 0 2\n", ":2: bad x offset 4 of 4 \"2\""},
      {"repeated_offset.foe", "2 1\n0 1 0 1\n0 0 0 1\n1\n1 1 1 1\n",
       ":3: tap 3 repeats the offset (0, 0)"},
      {"nan_weight.foe", "2 2\n0 1 0 1\n0 0 1 1\n0.5 nan\n",
       ":4: bad expert weight 2 of 2 \"nan\""},
      {"negative_weight.foe", "2 2\n0 1 0 1\n0 0 1 1\n0.5 -1\n",
       ":4: bad expert weight 2 of 2 \"-1\""},
      {"bad_tap.foe", "2 2\n0 1 0 1\n0 0 1 1\n0.5 0.2\n1 -1 0 0\n1 0 1.5.2 0\n",
       ":6: bad tap 3 of filter 2 of 2 \"1.5.2\""},
      {"truncated.foe", "2 2\n0 1 0 1\n0 0 1 1\n0.5 0.2\n1 -1 0 0\n1 0\n",
       ": file ends (after line 6) before tap 3 of filter 2 of 2"},
      {"extra.foe", std::string(kGoodFoe) + "7\n", ":8: extra content \"7\""},
  };
  for (const Case& c : cases) {
    const std::string path = TestFile(c.name, c.contents);
    FieldsOfExperts foe;
    const ceres_wiberg::Status status = ReadFieldsOfExperts(path, &foe);
    ASSERT_FALSE(status.ok()) << c.name;
    EXPECT_EQ(status.code(), ceres_wiberg::StatusCode::kInvalidArgument);
    EXPECT_EQ(status.message().rfind(path + c.expected, 0), 0u)
        << c.name << ": " << status.message();
  }
  FieldsOfExperts foe;
  const std::string missing = TestFile("x", "") + ".does_not_exist";
  const std::string message = ReadFieldsOfExperts(missing, &foe).message();
  EXPECT_NE(message.find("cannot open '" + missing + "'"), std::string::npos) << message;
}

TEST(FoeFile, ReadsRothsModelsFromTheSharedData) {
#ifdef CERES_WIBERG_SHARED_DATA_DIR
  const std::string folder = std::string(CERES_WIBERG_SHARED_DATA_DIR) + "/ceres_foe";
#else
  const std::string folder;
#endif
  if (folder.empty() || !fs::exists(folder + "/5x5.foe")) {
    GTEST_SKIP() << "shared data not found (" << folder << "/5x5.foe): skipping Roth's models";
  }
  for (const auto& [name, size, experts] :
       {std::tuple<const char*, int, int>{"3x3.foe", 3, 8}, {"5x5.foe", 5, 24}}) {
    FieldsOfExperts foe;
    const ceres_wiberg::Status status = ReadFieldsOfExperts(folder + "/" + name, &foe);
    ASSERT_TRUE(status.ok()) << status.ToString();
    EXPECT_EQ(foe.size, size);
    EXPECT_EQ(foe.num_experts(), experts);
    EXPECT_TRUE(foe.Validate().ok());
  }
}

}  // namespace
}  // namespace denoise_foe
