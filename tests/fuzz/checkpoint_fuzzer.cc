// Fuzzes the StochasticLearner checkpoint reader (JSON). An accepted
// checkpoint must write back to itself, and small ones are resumed for a few
// iterations on a quadratic objective of their sizes (with a progress
// stream), so that what the reader lets through is also safe to run.

#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>

#include "ceres_wiberg/internal/stochastic_learner_checkpoint.h"
#include "ceres_wiberg/stochastic_learner.h"
#include "glog/logging.h"

namespace {

using ceres_wiberg::Status;
using ceres_wiberg::StochasticLearner;
using ceres_wiberg::internal::LearnerState;

// L_i(w) = 1/2 ||w - 0.1 i||^2.
class Quadratic : public ceres_wiberg::TrainingObjective {
 public:
  Quadratic(int num_examples, int num_parameters, std::string identity)
      : num_examples_(num_examples),
        num_parameters_(num_parameters),
        identity_(std::move(identity)) {}
  int num_examples() const override { return num_examples_; }
  int num_parameters() const override { return num_parameters_; }
  std::string Identity() const override { return identity_; }
  Status EvaluateExample(int example, const Eigen::VectorXd& w, double* loss,
                         Eigen::VectorXd* gradient) override {
    CHECK(example >= 0 && example < num_examples_) << example;
    const Eigen::VectorXd r = w.array() - 0.1 * example;
    *loss = 0.5 * r.squaredNorm();
    if (gradient != nullptr) *gradient = r;
    return Status::Ok();
  }

 private:
  int num_examples_;
  int num_parameters_;
  std::string identity_;
};

void Resume(const std::string& text, const LearnerState& state) {
  if (state.num_examples > 64 || state.num_parameters > 16) return;
  StochasticLearner::Options options;
  options.optimiser = state.optimiser;
  options.batch_size = state.batch_size;
  options.shuffle = state.shuffle;
  options.parameter_transforms = state.transforms;
  options.momentum = state.trajectory.momentum;
  options.adam_beta1 = state.trajectory.adam_beta1;
  options.adam_beta2 = state.trajectory.adam_beta2;
  options.adam_epsilon = state.trajectory.adam_epsilon;
  options.averaging_start_iteration = state.trajectory.averaging_start_iteration;
  options.trust_radius = state.trajectory.trust_radius;
  options.lower_bounds = state.trajectory.lower_bounds;
  options.upper_bounds = state.trajectory.upper_bounds;
  options.skip_failed_examples = state.trajectory.skip_failed_examples;
  options.learning_rate = state.schedule.learning_rate;
  options.learning_rate_decay = state.schedule.learning_rate_decay;
  options.learning_rate_decay_power = state.schedule.learning_rate_decay_power;
  // A few more iterations at most.
  const int max = std::numeric_limits<int>::max();
  options.max_iterations = std::min<int64_t>(int64_t{state.iterations_completed} + 3, max);
  options.num_epochs = std::min<int64_t>(int64_t{state.epochs_completed} + 1, max);
  options.durable_writes = false;
  std::ostringstream progress;
  options.progress_stream = &progress;
  static const std::string path =
      "/tmp/ceres_wiberg_checkpoint_fuzzer_" + std::to_string(getpid()) + ".json";
  static const std::string curve_path = path + ".csv";
  if (state.curve_recorded) options.curve_csv_path = curve_path;
  if (!options.IsValid(nullptr)) return;

  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
  }
  Quadratic objective(state.num_examples, state.num_parameters,
                      state.trajectory.objective_identity);
  Eigen::VectorXd w;
  StochasticLearner::Summary summary;
  const Status status = StochasticLearner(options).Resume(path, &objective, &w, &summary);
  if (status.ok()) CHECK_EQ(w.size(), state.num_parameters);
  std::remove(path.c_str());
  std::remove(curve_path.c_str());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  LearnerState state;
  const Status status = ceres_wiberg::internal::CheckpointFromJson(text, "fuzz.json", &state);
  if (!status.ok()) {
    CHECK_NE(status.message().find("'fuzz.json'"), std::string::npos) << status.message();
    return 0;
  }
  // What was accepted writes back to text that reads back to the same.
  const std::string written = ceres_wiberg::internal::CheckpointToJson(state);
  LearnerState again;
  const Status reread = ceres_wiberg::internal::CheckpointFromJson(written, "again", &again);
  CHECK(reread.ok()) << reread.message() << "\n" << written;
  CHECK_EQ(ceres_wiberg::internal::CheckpointToJson(again), written);
  Resume(text, state);
  return 0;
}
