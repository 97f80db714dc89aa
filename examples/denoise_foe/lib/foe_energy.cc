#include "foe_energy.h"

#include <cmath>
#include <cstdio>
#include <set>
#include <utility>

#include "ceres_wiberg/file.h"
#include "ceres_wiberg/learnable_loss.h"
#include "common/text_tokens.h"
#include "glog/logging.h"

namespace denoise_foe {
namespace {

using ceres_wiberg::InvalidArgumentError;
using ceres_wiberg::Status;

using examples::LineError;

// A non-negative integer token no larger than max.
bool ParseIndex(const std::string& token, int max, int* value) {
  long parsed = 0;
  if (!examples::ParseCount(token, max, &parsed)) return false;
  *value = static_cast<int>(parsed);
  return true;
}

}  // namespace

Eigen::VectorXd FieldsOfExperts::ToVector() const {
  Eigen::VectorXd w(num_parameters());
  int i = 0;
  for (double a : alpha) w[i++] = a;
  for (const auto& filter : filters) {
    for (double tap : filter) w[i++] = tap;
  }
  return w;
}

void FieldsOfExperts::FromVector(const Eigen::VectorXd& w) {
  CHECK_EQ(w.size(), num_parameters());
  int i = 0;
  for (double& a : alpha) a = w[i++];
  for (auto& filter : filters) {
    for (double& tap : filter) tap = w[i++];
  }
}

Status FieldsOfExperts::Validate() const {
  if (size <= 0) return InvalidArgumentError("filter size must be positive");
  const int taps = num_taps();
  if (static_cast<int>(x_offsets.size()) != taps || static_cast<int>(y_offsets.size()) != taps) {
    return InvalidArgumentError("need " + std::to_string(taps) + " x and y offsets");
  }
  if (alpha.empty()) return InvalidArgumentError("no experts");
  if (filters.size() != alpha.size()) {
    return InvalidArgumentError(std::to_string(alpha.size()) + " weights but " +
                                std::to_string(filters.size()) + " filters");
  }
  std::set<std::pair<int, int>> seen;
  for (int t = 0; t < taps; ++t) {
    if (x_offsets[t] < 0 || x_offsets[t] >= size || y_offsets[t] < 0 || y_offsets[t] >= size) {
      return InvalidArgumentError("tap " + std::to_string(t) + " offset outside the window");
    }
    if (!seen.insert({x_offsets[t], y_offsets[t]}).second) {
      return InvalidArgumentError("tap " + std::to_string(t) + " repeats an offset");
    }
  }
  for (int k = 0; k < num_experts(); ++k) {
    if (!(alpha[k] > 0.0) || !std::isfinite(alpha[k])) {
      return InvalidArgumentError("weight of expert " + std::to_string(k) +
                                  " is not positive and finite");
    }
    if (static_cast<int>(filters[k].size()) != taps) {
      return InvalidArgumentError("filter " + std::to_string(k) + " has the wrong size");
    }
    for (double tap : filters[k]) {
      if (!std::isfinite(tap)) {
        return InvalidArgumentError("filter " + std::to_string(k) + " has a non-finite tap");
      }
    }
  }
  return Status::Ok();
}

FieldsOfExperts DefaultFieldsOfExperts() {
  FieldsOfExperts foe;
  foe.size = 3;
  foe.x_offsets = {0, 1, 2, 0, 1, 2, 0, 1, 2};
  foe.y_offsets = {0, 0, 0, 1, 1, 1, 2, 2, 2};
  foe.filters = {
      {0, 0, 0, 0, -1, 1, 0, 0, 0},               // dx
      {0, 0, 0, 0, -1, 0, 0, 1, 0},               // dy
      {0, 0, 0, 0, -1, 0, 0, 0, 1},               // diagonal
      {0, 0, 0, 0, -1, 0, 1, 0, 0},               // anti-diagonal
      {0, 0, 0, 1, -2, 1, 0, 0, 0},               // dxx
      {0, 1, 0, 0, -2, 0, 0, 1, 0},               // dyy
      {0.25, 0, -0.25, 0, 0, 0, -0.25, 0, 0.25},  // dxy
      {0, 1, 0, 1, -4, 1, 0, 1, 0},               // Laplacian
  };
  foe.alpha = {0.12, 0.12, 0.06, 0.06, 0.04, 0.04, 0.04, 0.02};
  return foe;
}

Status ReadFieldsOfExperts(const std::string& path, FieldsOfExperts* foe) {
  std::string contents;
  const Status status = ceres_wiberg::ReadFileToString(path, &contents);
  if (!status.ok()) return status;
  return ParseFieldsOfExperts(contents, path, foe);
}

Status ParseFieldsOfExperts(const std::string& contents, const std::string& path,
                            FieldsOfExperts* foe) {
  examples::Tokeniser tokens(contents, /*comments=*/false);
  std::string token;
  int line = 0;
  auto missing = [&](const std::string& what) {
    return InvalidArgumentError(path + ": file ends (after line " + std::to_string(line) +
                                ") before " + what);
  };
  FieldsOfExperts result;
  int num_experts = 0;
  if (!tokens.Next(&token, &line)) return missing("the filter size");
  if (!ParseIndex(token, 64, &result.size) || result.size == 0) {
    return LineError(path, line, "bad filter size \"" + token + "\" (expected 1..64)");
  }
  if (!tokens.Next(&token, &line)) return missing("the number of experts");
  if (!ParseIndex(token, 10000, &num_experts) || num_experts == 0) {
    return LineError(path, line, "bad number of experts \"" + token + "\" (expected 1..10000)");
  }
  const int taps = result.num_taps();
  for (int axis = 0; axis < 2; ++axis) {
    std::vector<int>& offsets = axis == 0 ? result.x_offsets : result.y_offsets;
    const std::string name = axis == 0 ? "x offset " : "y offset ";
    for (int t = 0; t < taps; ++t) {
      const std::string what = name + std::to_string(t + 1) + " of " + std::to_string(taps);
      if (!tokens.Next(&token, &line)) return missing(what);
      int offset = 0;
      if (!ParseIndex(token, result.size - 1, &offset)) {
        return LineError(path, line,
                         "bad " + what + " \"" + token + "\" (expected 0.." +
                             std::to_string(result.size - 1) + ")");
      }
      offsets.push_back(offset);
    }
  }
  {
    std::set<std::pair<int, int>> seen;
    for (int t = 0; t < taps; ++t) {
      if (!seen.insert({result.x_offsets[t], result.y_offsets[t]}).second) {
        return LineError(path, line,
                         "tap " + std::to_string(t + 1) + " repeats the offset (" +
                             std::to_string(result.x_offsets[t]) + ", " +
                             std::to_string(result.y_offsets[t]) + ")");
      }
    }
  }
  for (int k = 0; k < num_experts; ++k) {
    const std::string what =
        "expert weight " + std::to_string(k + 1) + " of " + std::to_string(num_experts);
    if (!tokens.Next(&token, &line)) return missing(what);
    double value = 0.0;
    if (!examples::ParseFiniteDouble(token, &value) || value <= 0.0) {
      return LineError(path, line,
                       "bad " + what + " \"" + token + "\" (expected a positive finite number)");
    }
    result.alpha.push_back(value);
  }
  for (int k = 0; k < num_experts; ++k) {
    result.filters.emplace_back();
    for (int t = 0; t < taps; ++t) {
      const std::string what = "tap " + std::to_string(t + 1) + " of filter " +
                               std::to_string(k + 1) + " of " + std::to_string(num_experts);
      if (!tokens.Next(&token, &line)) return missing(what);
      double value = 0.0;
      if (!examples::ParseFiniteDouble(token, &value)) {
        return LineError(path, line,
                         "bad " + what + " \"" + token + "\" (expected a finite number)");
      }
      result.filters.back().push_back(value);
    }
  }
  if (tokens.Next(&token, &line)) {
    return LineError(path, line, "extra content \"" + token + "\" after the last filter");
  }
  *foe = std::move(result);
  return Status::Ok();
}

Status WriteFieldsOfExperts(const std::string& path, const FieldsOfExperts& foe) {
  Status status = foe.Validate();
  if (!status.ok()) return InvalidArgumentError(path + ": " + status.message());
  std::string text = std::to_string(foe.size) + " " + std::to_string(foe.num_experts()) + "\n";
  char buffer[32];
  auto append_ints = [&text](const std::vector<int>& values) {
    for (std::size_t i = 0; i < values.size(); ++i) {
      text += (i ? " " : "") + std::to_string(values[i]);
    }
    text += "\n";
  };
  auto append_doubles = [&text, &buffer](const std::vector<double>& values) {
    for (std::size_t i = 0; i < values.size(); ++i) {
      std::snprintf(buffer, sizeof(buffer), "%.17g", values[i]);
      text += (i ? " " : "") + std::string(buffer);
    }
    text += "\n";
  };
  append_ints(foe.x_offsets);
  append_ints(foe.y_offsets);
  append_doubles(foe.alpha);
  for (const auto& filter : foe.filters) append_doubles(filter);
  return WriteFileAtomically(path, text);
}

DataCost::DataCost(double observed, double sigma)
    : observed_(observed), inverse_sigma_(1.0 / sigma) {}

bool DataCost::Evaluate(double const* const* parameters, double* residuals,
                        double** jacobians) const {
  residuals[0] = (parameters[0][0] - observed_) * inverse_sigma_;
  if (jacobians != nullptr && jacobians[0] != nullptr) jacobians[0][0] = inverse_sigma_;
  return true;
}

ExpertResponseCost::ExpertResponseCost(int num_taps) : num_taps_(num_taps) {
  CHECK_GT(num_taps, 0);
  set_num_residuals(1);
  for (int t = 0; t < num_taps; ++t) mutable_parameter_block_sizes()->push_back(1);
  mutable_parameter_block_sizes()->push_back(num_taps);
}

bool ExpertResponseCost::Evaluate(double const* const* parameters, double* residuals,
                                  double** jacobians) const {
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

ceres::CostFunction* NewExpertCost(int num_taps) {
  return new ceres_wiberg::LearnableLossCostFunction(new ExpertResponseCost(num_taps),
                                                     ceres_wiberg::LearnableLossType::CAUCHY,
                                                     /*has_weight_block=*/true);
}

ExpertStackCost::ExpertStackCost(int num_taps, FoeParameters* parameters)
    : num_taps_(num_taps), values_(parameters), expert_(NewExpertCost(num_taps)) {
  CHECK(parameters != nullptr);
  CHECK(!parameters->weights.empty());
  CHECK_EQ(parameters->filters.size(), parameters->weights.size());
  set_num_residuals(static_cast<int>(parameters->weights.size()));
  for (int t = 0; t < num_taps; ++t) mutable_parameter_block_sizes()->push_back(1);
}

bool ExpertStackCost::Evaluate(double const* const* parameters, double* residuals,
                               double** jacobians) const {
  const int K = num_residuals();
  // The expert's blocks: the pixels, then f_k, a and m_k (set per expert).
  std::vector<const double*> blocks(parameters, parameters + num_taps_);
  blocks.resize(num_taps_ + 3);
  blocks[num_taps_ + 1] = &values_->scale;
  // The expert's pixel Jacobians (1 x 1 each) into row k of ours, none for
  // f_k, a and m_k.
  std::vector<double> row(jacobians != nullptr ? num_taps_ : 0);
  std::vector<double*> expert_jacobians(jacobians != nullptr ? num_taps_ + 3 : 0, nullptr);
  for (int t = 0; t < static_cast<int>(row.size()); ++t) {
    if (jacobians[t] != nullptr) expert_jacobians[t] = &row[t];
  }
  for (int k = 0; k < K; ++k) {
    blocks[num_taps_] = values_->filters[k].data();
    blocks[num_taps_ + 2] = &values_->weights[k];
    if (!expert_->Evaluate(blocks.data(), residuals + k,
                           jacobians != nullptr ? expert_jacobians.data() : nullptr)) {
      return false;
    }
    if (jacobians == nullptr) continue;
    for (int t = 0; t < num_taps_; ++t) {
      if (jacobians[t] != nullptr) jacobians[t][k] = row[t];
    }
  }
  return true;
}

void InitialiseFoeParameters(const Image& noisy, const FieldsOfExperts& foe,
                             const FoeProblemOptions& options, FoeParameters* parameters) {
  parameters->pixels =
      options.start_from_noisy ? noisy.pixels : std::vector<double>(noisy.pixels.size(), 0.0);
  parameters->scale = std::sqrt(2.0);
  parameters->weights = foe.alpha;
  parameters->filters = foe.filters;
}

int BuildFoeProblem(const Image& noisy, const FieldsOfExperts& foe,
                    const FoeProblemOptions& options, FoeParameters* parameters,
                    ceres::Problem* problem) {
  CHECK(foe.Validate().ok()) << foe.Validate().message();
  CHECK_GE(noisy.width, foe.size);
  CHECK_GE(noisy.height, foe.size);
  CHECK_GT(options.sigma, 0.0);
  const int K = foe.num_experts();
  const int taps = foe.num_taps();
  InitialiseFoeParameters(noisy, foe, options, parameters);

  for (int p = 0; p < noisy.num_pixels(); ++p) {
    problem->AddResidualBlock(new DataCost(noisy.pixels[p], options.sigma), nullptr,
                              &parameters->pixels[p]);
  }
  // One cost function for every expert residual (Ceres deletes it once).
  ceres::CostFunction* expert = NewExpertCost(taps);
  std::vector<double*> blocks(taps + 3);
  int num_expert_residuals = 0;
  for (int y = 0; y + foe.size <= noisy.height; ++y) {
    for (int x = 0; x + foe.size <= noisy.width; ++x) {
      for (int t = 0; t < taps; ++t) {
        blocks[t] = &parameters->pixels[static_cast<size_t>(y + foe.y_offsets[t]) * noisy.width +
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

int BuildStackedFoeProblem(const Image& noisy, const FieldsOfExperts& foe, double sigma,
                           FoeParameters* parameters, ceres::Problem* problem) {
  CHECK(foe.Validate().ok()) << foe.Validate().message();
  CHECK_GE(noisy.width, foe.size);
  CHECK_GE(noisy.height, foe.size);
  CHECK_GT(sigma, 0.0);
  CHECK_EQ(parameters->pixels.size(), noisy.pixels.size());
  CHECK_EQ(parameters->weights.size(), foe.alpha.size());
  CHECK_EQ(parameters->filters.size(), foe.filters.size());
  const int taps = foe.num_taps();
  for (const auto& filter : parameters->filters) CHECK_EQ(static_cast<int>(filter.size()), taps);
  for (int p = 0; p < noisy.num_pixels(); ++p) {
    problem->AddResidualBlock(new DataCost(noisy.pixels[p], sigma), nullptr,
                              &parameters->pixels[p]);
  }
  // One cost function for every position (Ceres deletes it once).
  ceres::CostFunction* stack = new ExpertStackCost(taps, parameters);
  std::vector<double*> blocks(taps);
  int num_blocks = 0;
  for (int y = 0; y + foe.size <= noisy.height; ++y) {
    for (int x = 0; x + foe.size <= noisy.width; ++x) {
      for (int t = 0; t < taps; ++t) {
        blocks[t] = &parameters->pixels[static_cast<size_t>(y + foe.y_offsets[t]) * noisy.width +
                                        x + foe.x_offsets[t]];
      }
      problem->AddResidualBlock(stack, nullptr, blocks);
      ++num_blocks;
    }
  }
  return num_blocks;
}

std::vector<double*> PixelBlocks(FoeParameters* parameters) {
  std::vector<double*> blocks;
  blocks.reserve(parameters->pixels.size());
  for (double& p : parameters->pixels) blocks.push_back(&p);
  return blocks;
}

std::vector<double*> LearnableBlocks(FoeParameters* parameters, bool learn_weights,
                                     bool learn_filters) {
  std::vector<double*> blocks;
  if (learn_weights) {
    for (double& m : parameters->weights) blocks.push_back(&m);
  }
  if (learn_filters) {
    for (auto& f : parameters->filters) blocks.push_back(f.data());
  }
  return blocks;
}

}  // namespace denoise_foe
