// Fuzzes StochasticLearner::Options: every field from the input (raw bit
// patterns included), then IsValid. Options it accepts must run: a few
// iterations of Learn on a small quadratic objective, which must not crash
// (an invalid value that IsValid lets through is a bug).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "ceres_wiberg/stochastic_learner.h"
#include "fuzz_input.h"
#include "glog/logging.h"

namespace {

using ceres_wiberg::ExampleDistribution;
using ceres_wiberg::ParameterTransform;
using ceres_wiberg::Status;
using ceres_wiberg::StochasticLearner;
using ceres_wiberg::StochasticOptimiser;

constexpr int kNumParameters = 2;
constexpr int kNumExamples = 5;

// L_i(w) = 1/2 ||w - (i, -i)||^2 / (1 + i).
class Quadratic : public ceres_wiberg::TrainingObjective {
 public:
  int num_examples() const override { return kNumExamples; }
  int num_parameters() const override { return kNumParameters; }
  Status EvaluateExample(int example, const Eigen::VectorXd& w, double* loss,
                         Eigen::VectorXd* gradient) override {
    CHECK(example >= 0 && example < kNumExamples) << example;
    CHECK_EQ(w.size(), kNumParameters);
    const Eigen::Vector2d r = (w - Eigen::Vector2d(example, -example)) / (1.0 + example);
    *loss = 0.5 * r.squaredNorm();
    if (gradient != nullptr) *gradient = r / (1.0 + example);
    return Status::Ok();
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ceres_wiberg::fuzz::FuzzInput in(data, size);
  StochasticLearner::Options options;
  options.optimiser = static_cast<StochasticOptimiser>(in.Int());
  options.learning_rate = in.Double();
  options.learning_rate_decay = in.Double();
  options.learning_rate_decay_power = in.Double();
  options.momentum = in.Double();
  options.adam_beta1 = in.Double();
  options.adam_beta2 = in.Double();
  options.adam_epsilon = in.Double();
  options.averaging_start_iteration = in.Int();
  options.trust_radius = in.Double();
  options.batch_size = in.Int();
  options.shuffle = in.Bool();
  options.seed = in.Raw<uint64_t>();
  options.num_epochs = in.Int();
  options.max_iterations = in.Int();
  options.num_threads = in.Int();
  options.skip_failed_examples = in.Bool();
  options.curve_max_parameters = in.Int();
  options.checkpoint_every_n_epochs = in.Int();
  options.checkpoint_every_n_iterations = in.Int();
  const uint8_t vectors = in.Byte();
  if (vectors & 1) {
    for (int i = 0; i < kNumParameters; ++i) {
      options.parameter_transforms.push_back(static_cast<ParameterTransform>(in.Int()));
    }
  }
  if (vectors & 2) {
    for (int i = 0; i < kNumParameters; ++i) options.lower_bounds.push_back(in.Double());
  }
  if (vectors & 4) {
    for (int i = 0; i < kNumParameters; ++i) options.upper_bounds.push_back(in.Double());
  }
  const bool same_paths = vectors & 8;
  if (same_paths) {
    options.checkpoint_path = "/nonexistent/ceres_wiberg_fuzz/checkpoint.json";
    options.curve_csv_path = "/nonexistent/ceres_wiberg_fuzz/./checkpoint.json";
  }
  Eigen::VectorXd w(kNumParameters);
  w[0] = in.Double();
  w[1] = in.Double();
  // Read last, so that the seed corpus written before it keeps its meaning:
  // an exhausted input reads 0 (SHARDED); 2 is an unknown value.
  options.example_distribution = static_cast<ExampleDistribution>(in.Byte() % 3);

  std::string error;
  if (!options.IsValid(&error)) {
    CHECK(!error.empty());
    return 0;
  }
  CHECK(!same_paths) << "IsValid accepted curve_csv_path == checkpoint_path";
  // Runs of up to 20 iterations on at most 4 threads: the limits and the
  // thread count are valid beyond these, but would only make runs slow.
  if (options.num_threads > 4) return 0;
  options.num_epochs = std::min(options.num_epochs, 4);
  options.max_iterations = options.max_iterations == 0 ? 20 : std::min(options.max_iterations, 20);
  std::ostringstream progress;
  options.progress_stream = &progress;
  Quadratic objective;
  StochasticLearner::Summary summary;
  const Status status = StochasticLearner(options).Learn(&objective, &w, &summary);
  if (status.ok()) CHECK_EQ(w.size(), kNumParameters);
  summary.FullReport();
  return 0;
}
