#include "ceres_wiberg/stochastic_learner.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <limits>
#include <memory>
#include <ostream>
#include <sstream>
#include <utility>

#include "ceres_wiberg/file.h"
#include "ceres_wiberg/internal/stochastic_learner_checkpoint.h"
#include "ceres_wiberg/internal/stochastic_learner_curve.h"
#include "ceres_wiberg/internal/stochastic_learner_exchange.h"
#include "ceres_wiberg/internal/stochastic_learner_optimiser.h"
#include "ceres_wiberg/internal/stochastic_learner_parameter_map.h"
#include "ceres_wiberg/internal/stochastic_learner_state.h"
#include "ceres_wiberg/enum_names.h"
#include "ceres_wiberg/internal/string_util.h"
#include "ceres_wiberg/learner_communicator.h"
#include "ceres_wiberg/thread_pool.h"
#include "glog/logging.h"

namespace ceres_wiberg {

const char* StochasticOptimiserToString(StochasticOptimiser optimiser) {
  switch (optimiser) {
    case StochasticOptimiser::SGD:
      return "SGD";
    case StochasticOptimiser::SGD_MOMENTUM:
      return "SGD_MOMENTUM";
    case StochasticOptimiser::AVERAGED_SGD:
      return "AVERAGED_SGD";
    case StochasticOptimiser::ADAM:
      return "ADAM";
  }
  return "UNKNOWN";
}

const char* ParameterTransformToString(ParameterTransform transform) {
  switch (transform) {
    case ParameterTransform::IDENTITY:
      return "IDENTITY";
    case ParameterTransform::SQUARED:
      return "SQUARED";
    case ParameterTransform::EXP:
      return "EXP";
  }
  return "UNKNOWN";
}

const char* StochasticTerminationToString(StochasticTermination termination) {
  switch (termination) {
    case StochasticTermination::MAX_EPOCHS:
      return "MAX_EPOCHS";
    case StochasticTermination::MAX_ITERATIONS:
      return "MAX_ITERATIONS";
    case StochasticTermination::USER_REQUESTED:
      return "USER_REQUESTED";
    case StochasticTermination::FAILURE:
      return "FAILURE";
  }
  return "UNKNOWN";
}

const char* ExampleDistributionToString(ExampleDistribution distribution) {
  switch (distribution) {
    case ExampleDistribution::SHARDED:
      return "SHARDED";
    case ExampleDistribution::ROUND_ROBIN:
      return "ROUND_ROBIN";
  }
  return "UNKNOWN";
}

bool StringToExampleDistribution(const std::string& name, ExampleDistribution* distribution) {
  return StringToEnum(name, {ExampleDistribution::SHARDED, ExampleDistribution::ROUND_ROBIN},
                      ExampleDistributionToString, distribution);
}

bool StringToStochasticOptimiser(const std::string& name, StochasticOptimiser* optimiser) {
  return StringToEnum(name,
                                {StochasticOptimiser::SGD, StochasticOptimiser::SGD_MOMENTUM,
                                 StochasticOptimiser::AVERAGED_SGD, StochasticOptimiser::ADAM},
                                StochasticOptimiserToString, optimiser);
}

bool StringToParameterTransform(const std::string& name, ParameterTransform* transform) {
  return StringToEnum(
      name, {ParameterTransform::IDENTITY, ParameterTransform::SQUARED, ParameterTransform::EXP},
      ParameterTransformToString, transform);
}

// ------------------------------------------------------------------ Options.

bool StochasticLearner::Options::IsValid(std::string* error) const {
  auto fail = [error](const std::string& message) {
    if (error != nullptr) *error = message;
    return false;
  };
  auto in_unit_interval = [](double x) { return x >= 0.0 && x < 1.0; };
  StochasticOptimiser known_optimiser;
  if (!StringToStochasticOptimiser(StochasticOptimiserToString(optimiser), &known_optimiser)) {
    return fail("optimiser has the unknown value " +
                std::to_string(static_cast<int>(optimiser)));
  }
  if (!(learning_rate > 0.0) || !std::isfinite(learning_rate)) {
    return fail("learning_rate must be finite and > 0, got " + std::to_string(learning_rate));
  }
  if (!(learning_rate_decay >= 0.0) || !std::isfinite(learning_rate_decay)) {
    return fail("learning_rate_decay must be finite and >= 0");
  }
  if (!(learning_rate_decay_power > 0.0) || !std::isfinite(learning_rate_decay_power)) {
    return fail("learning_rate_decay_power must be finite and > 0");
  }
  if (!in_unit_interval(momentum)) return fail("momentum must be in [0, 1)");
  if (!in_unit_interval(adam_beta1)) return fail("adam_beta1 must be in [0, 1)");
  if (!in_unit_interval(adam_beta2)) return fail("adam_beta2 must be in [0, 1)");
  if (!(adam_epsilon > 0.0) || !std::isfinite(adam_epsilon)) {
    return fail("adam_epsilon must be finite and > 0");
  }
  if (averaging_start_iteration < 0) return fail("averaging_start_iteration must be >= 0");
  if (!(trust_radius >= 0.0) || !std::isfinite(trust_radius)) {
    return fail("trust_radius must be finite and >= 0 (0: off)");
  }
  if (batch_size < 1) return fail("batch_size must be >= 1, got " + std::to_string(batch_size));
  if (num_epochs < 0) return fail("num_epochs must be >= 0 (0: no limit)");
  if (max_iterations < 0) return fail("max_iterations must be >= 0 (0: no limit)");
  if (num_epochs == 0 && max_iterations == 0) {
    return fail("num_epochs and max_iterations are both 0 (no limit): set at least one");
  }
  if (num_threads < 1 || num_threads > kMaxNumThreads) {
    return fail("num_threads must be in [1, " + std::to_string(kMaxNumThreads) + "], got " +
                std::to_string(num_threads));
  }
  if (curve_max_parameters < 0) return fail("curve_max_parameters must be >= 0");
  ExampleDistribution known_distribution;
  if (!StringToExampleDistribution(ExampleDistributionToString(example_distribution),
                                   &known_distribution)) {
    return fail("example_distribution has the unknown value " +
                std::to_string(static_cast<int>(example_distribution)));
  }
  if (communicator != nullptr &&
      (communicator->size() < 1 || communicator->rank() < 0 ||
       communicator->rank() >= communicator->size())) {
    return fail("the communicator has rank " + std::to_string(communicator->rank()) +
                " of size " + std::to_string(communicator->size()) +
                ": the size must be >= 1 and the rank in [0, size)");
  }
  if (checkpoint_every_n_epochs < 0 || checkpoint_every_n_iterations < 0) {
    return fail("checkpoint_every_n_epochs and checkpoint_every_n_iterations must be >= 0");
  }
  if (!checkpoint_path.empty() && !curve_csv_path.empty() &&
      std::filesystem::path(checkpoint_path).lexically_normal() ==
          std::filesystem::path(curve_csv_path).lexically_normal()) {
    return fail("curve_csv_path is the checkpoint_path (\"" + checkpoint_path +
                "\"): the curve would overwrite the checkpoint");
  }
  for (size_t i = 0; i < parameter_transforms.size(); ++i) {
    ParameterTransform known;
    if (!StringToParameterTransform(ParameterTransformToString(parameter_transforms[i]),
                                    &known)) {
      return fail("parameter_transforms[" + std::to_string(i) + "] has the unknown value " +
                  std::to_string(static_cast<int>(parameter_transforms[i])));
    }
  }

  // Per-coordinate vectors: equal sizes where given, consistent values.
  size_t n = 0;
  for (size_t size : {parameter_transforms.size(), lower_bounds.size(), upper_bounds.size()}) {
    if (size == 0) continue;
    if (n != 0 && size != n) {
      return fail("parameter_transforms (" + std::to_string(parameter_transforms.size()) +
                  "), lower_bounds (" + std::to_string(lower_bounds.size()) +
                  ") and upper_bounds (" + std::to_string(upper_bounds.size()) +
                  ") must be empty or all of the same size");
    }
    n = size;
  }
  for (size_t i = 0; i < n; ++i) {
    const std::string coordinate = " of parameter " + std::to_string(i);
    const double lower =
        lower_bounds.empty() ? -std::numeric_limits<double>::infinity() : lower_bounds[i];
    const double upper =
        upper_bounds.empty() ? std::numeric_limits<double>::infinity() : upper_bounds[i];
    if (std::isnan(lower) || std::isnan(upper)) return fail("NaN bound" + coordinate);
    if (lower > upper) {
      return fail("lower bound " + std::to_string(lower) + " > upper bound " +
                  std::to_string(upper) + coordinate);
    }
    if (lower == std::numeric_limits<double>::infinity() ||
        upper == -std::numeric_limits<double>::infinity()) {
      return fail("empty bounds" + coordinate);
    }
    const ParameterTransform transform =
        parameter_transforms.empty() ? ParameterTransform::IDENTITY : parameter_transforms[i];
    if (transform == ParameterTransform::EXP && !(upper > 0.0)) {
      return fail("upper bound" + coordinate + " must be > 0 for EXP (w = exp(theta) > 0)");
    }
    if (transform == ParameterTransform::SQUARED && !(upper > 0.0)) {
      return fail("upper bound" + coordinate + " must be > 0 for SQUARED (w = theta^2 >= 0)");
    }
  }
  return true;
}

// ------------------------------------------------------------------ Summary.

namespace {

std::string FormatShort(double value, const char* format = "%.3e") {
  if (std::isnan(value)) return "-";
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), format, value);
  return buffer;
}

}  // namespace

std::string StochasticLearner::Summary::BriefReport() const {
  std::ostringstream out;
  out << "StochasticLearner: " << StochasticOptimiserToString(optimiser) << ", " << num_iterations
      << " iterations, " << num_epochs << " epochs, loss " << FormatShort(final_loss) << " (best "
      << FormatShort(best_loss) << ")";
  if (best_validation_epoch >= 0) {
    out << ", val " << FormatShort(final_validation_loss) << " (best "
        << FormatShort(best_validation_loss) << ")";
  }
  if (num_skipped_examples > 0) out << ", " << num_skipped_examples << " skipped";
  out << ", " << StochasticTerminationToString(termination);
  return out.str();
}

std::string StochasticLearner::Summary::FullReport() const {
  std::ostringstream out;
  out << "StochasticLearner report\n"
      << "  optimiser                    " << StochasticOptimiserToString(optimiser) << "\n"
      << "  examples, parameters         " << num_examples << ", " << num_parameters << "\n"
      << "  batch size, threads          " << batch_size << ", " << num_threads << "\n"
      << "  processes                    " << num_processes << "\n"
      << "  iterations, epochs           " << num_iterations << ", " << num_epochs << "\n";
  if (resumed) {
    out << "  resumed from iteration       " << resumed_from_iteration << "\n";
    for (const std::string& change : resume_changes) {
      out << "  changed on resume            " << change << "\n";
    }
  }
  out << "  final, best loss             " << FormatShort(final_loss) << ", "
      << FormatShort(best_loss) << " (epoch " << best_epoch + 1 << ")\n";
  if (best_validation_epoch >= 0) {
    out << "  final, best validation loss  " << FormatShort(final_validation_loss) << ", "
        << FormatShort(best_validation_loss) << " (epoch " << best_validation_epoch + 1 << ")\n";
  }
  out << "  max |dL/dtheta|, max |step|  " << FormatShort(max_gradient_norm) << ", "
      << FormatShort(max_step_norm) << "\n"
      << "  steps capped by trust radius " << num_capped_steps << "\n"
      << "  skipped examples (val)       " << num_skipped_examples << " ("
      << num_skipped_validation_examples << ")\n"
      << "  time this call, total (s)    " << FormatShort(time_in_seconds, "%.3f") << ", "
      << FormatShort(total_time_in_seconds, "%.3f") << "\n"
      << "  evaluating, exchanging (s)   " << FormatShort(evaluation_time_in_seconds, "%.3f")
      << ", " << FormatShort(communication_time_in_seconds, "%.3f") << "\n"
      << "  termination                  " << StochasticTerminationToString(termination) << ": "
      << message << "\n";
  if (!epochs.empty()) {
    out << "  epoch  iterations        loss         |g|      |step|         val     time\n";
    for (const EpochSummary& e : epochs) {
      char line[160];
      std::snprintf(line, sizeof(line), "  %5d  %10d  %10s  %10s  %10s  %10s  %7.2f%s\n",
                    e.epoch + 1, e.num_iterations, FormatShort(e.loss).c_str(),
                    FormatShort(e.gradient_norm).c_str(), FormatShort(e.mean_step_norm).c_str(),
                    FormatShort(e.validation_loss).c_str(), e.elapsed_seconds,
                    e.complete ? "" : "  (interrupted)");
      out << line;
    }
  }
  return out.str();
}

// ------------------------------------------------------------------ Learning.

namespace {

using internal::CurveRow;
using internal::LearnerState;
using internal::ParameterMap;

// An unbiased integer in [0, bound) from the generator's raw output, so that
// shuffles are the same with every standard library (the distributions of
// <random> are implementation-defined).
uint64_t UniformBelow(std::mt19937_64* rng, uint64_t bound) {
  // Reject the lowest 2^64 mod bound outputs.
  const uint64_t threshold = (0 - bound) % bound;
  for (;;) {
    const uint64_t r = (*rng)();
    if (r >= threshold) return r % bound;
  }
}

std::string ExampleContext(int example, int iteration, int epoch) {
  return "example " + std::to_string(example) + " (iteration " + std::to_string(iteration) +
         ", epoch " + std::to_string(epoch) + ")";
}

// One call of Learn or Resume: the loop over minibatches and epochs.
class LearnerRun {
 public:
  LearnerRun(const StochasticLearner::Options& options, TrainingObjective* objective,
             LearnerState* state)
      : options_(options),
        objective_(objective),
        state_(*state),
        map_(state->transforms, options.lower_bounds, options.upper_bounds, state->num_parameters),
        pool_(options.num_threads),
        start_(std::chrono::steady_clock::now()),
        elapsed_before_(state->elapsed_seconds),
        communicator_(options.communicator != nullptr && options.communicator->size() > 1
                          ? options.communicator
                          : nullptr),
        rank_(communicator_ != nullptr ? communicator_->rank() : 0),
        num_processes_(communicator_ != nullptr ? communicator_->size() : 1) {}

  // Runs to termination and fills *summary; returns the error of a FAILURE.
  Status Run(StochasticLearner::Summary* summary);

 private:
  double ElapsedSeconds() const {
    return elapsed_before_ +
           std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

  // The reduced minibatch: sums in minibatch order, means over the
  // evaluated examples (loss NaN if none was).
  struct MinibatchResult {
    double loss_sum = 0.0;
    double loss = std::numeric_limits<double>::quiet_NaN();
    Eigen::VectorXd gradient_w;
    int num_evaluated = 0;
    int num_skipped = 0;
  };
  struct StepResult {
    Eigen::VectorXd theta_before;
    Eigen::VectorXd w_before;
    Eigen::VectorXd theta_gradient;
    double gradient_norm = 0.0;
    double step_norm = 0.0;
  };

  void StartEpoch();
  // One minibatch step; *stop is set if the callback asks to stop.
  Status Iterate(bool* stop);
  // Evaluates the minibatch's examples into the per-position slots: this
  // process's own, then (several processes) the others', gathered. An error
  // if the processes no longer hold the same iterate.
  Status EvaluateMinibatch(int first, int size);
  // Evaluates slot k (example `example`) with this process's objective.
  void EvaluateSlot(int k, int example);
  // The process that evaluates the example at position k of a minibatch
  // (or validation example k).
  int OwnerOf(int position, int example) const {
    return (options_.example_distribution == ExampleDistribution::SHARDED ? example : position) %
           num_processes_;
  }
  // Several processes: every process learns the status process 0 passes
  // (e.g. of writing a file only process 0 writes).
  Status StatusOfProcessZero(const Status& status);
  // Several processes: an error unless every process starts the same run.
  Status CheckProcessesAgree();
  // Sums the slots; the first failure that may not be skipped is returned.
  Status ReduceMinibatch(int first, int size, MinibatchResult* result) const;
  // The optimiser's step on theta (capped, projected), and the average.
  Status TakeStep(const MinibatchResult& result, double learning_rate, StepResult* step);
  // Epoch accumulators, maxima and the curve; counts the iteration.
  void RecordIteration(const MinibatchResult& result, double learning_rate,
                       const StepResult& step);
  // The iteration callback; false if it asks to stop.
  bool NotifyCallback(int first, int size, const MinibatchResult& result, double learning_rate,
                      const StepResult& step);
  // The summary of the epoch in progress (validated, printed). For a
  // complete epoch it is committed to the state and the next epoch is due.
  Status EndEpoch(bool complete, StochasticLearner::EpochSummary* epoch);
  Status Validate(const Eigen::VectorXd& w, double* loss, int* num_skipped);
  Status SaveCheckpoint();
  Status SaveCurve();
  void PrintProgress(const StochasticLearner::EpochSummary& epoch) const;
  // An error if one more iteration (and epoch end) could overflow a counter.
  Status CheckCounterLimits() const;

  const StochasticLearner::Options& options_;
  TrainingObjective* objective_;
  LearnerState& state_;
  const ParameterMap map_;
  ThreadPool pool_;
  const std::chrono::steady_clock::time_point start_;
  const double elapsed_before_;
  int last_checkpoint_iteration_ = -1;
  // Validation examples skipped after an interrupted epoch (not in the state).
  int extra_skipped_validation_examples_ = 0;
  // Null for a single process; rank_ in [0, num_processes_).
  LearnerCommunicator* const communicator_;
  const int rank_;
  const int num_processes_;
  std::vector<std::string> gathered_;
  // Time this process spent evaluating its training examples and in their
  // AllGather.
  double evaluation_seconds_ = 0.0;
  double communication_seconds_ = 0.0;

  // Per-minibatch scratch, indexed by position in the minibatch.
  std::vector<double> losses_;
  std::vector<Eigen::VectorXd> gradients_;
  std::vector<Status> statuses_;
  std::vector<char> broken_contract_;
  IterationRecord record_;
};

void LearnerRun::StartEpoch() {
  const int n = state_.num_examples;
  state_.epoch_order.resize(n);
  for (int i = 0; i < n; ++i) state_.epoch_order[i] = i;
  if (state_.shuffle) {
    // Fisher-Yates.
    for (int i = n - 1; i > 0; --i) {
      const int j = static_cast<int>(UniformBelow(&state_.rng, static_cast<uint64_t>(i) + 1));
      std::swap(state_.epoch_order[i], state_.epoch_order[j]);
    }
  }
  state_.epoch_position = 0;
  state_.epoch = internal::EpochAccumulator();
  state_.epoch.theta_gradient_sum = Eigen::VectorXd::Zero(state_.num_parameters);
}

Status LearnerRun::Iterate(bool* stop) {
  const int t = state_.iterations_completed;
  const int first = state_.epoch_position;
  const int size = std::min(state_.batch_size, state_.num_examples - first);
  const double learning_rate = internal::LearningRate(options_, t);

  Status status = EvaluateMinibatch(first, size);
  if (!status.ok()) return status;
  MinibatchResult result;
  status = ReduceMinibatch(first, size, &result);
  if (!status.ok()) return status;

  StepResult step;
  step.theta_before = state_.theta;
  step.w_before = state_.w;
  status = TakeStep(result, learning_rate, &step);
  if (!status.ok()) return status;
  RecordIteration(result, learning_rate, step);
  state_.epoch_position += size;

  *stop = false;
  if (options_.iteration_callback) {
    *stop = !NotifyCallback(first, size, result, learning_rate, step);
    if (communicator_ != nullptr) {
      // Stop when any process's callback asks to.
      communicator_->AllGather(std::string(1, *stop ? '1' : '0'), &gathered_);
      for (const std::string& bytes : gathered_) *stop = *stop || bytes == "1";
    }
  }
  return Status::Ok();
}

void LearnerRun::EvaluateSlot(int k, int example) {
  const int n = state_.num_parameters;
  broken_contract_[k] = 0;
  try {
    statuses_[k] = objective_->EvaluateExample(example, state_.w, &losses_[k], &gradients_[k]);
  } catch (const std::exception& exception) {
    broken_contract_[k] = 1;
    statuses_[k] = Status(StatusCode::kInternalError,
                          std::string("EvaluateExample threw: ") + exception.what());
    return;
  } catch (...) {
    broken_contract_[k] = 1;
    statuses_[k] = Status(StatusCode::kInternalError,
                          "EvaluateExample threw an exception that is not a std::exception");
    return;
  }
  if (!statuses_[k].ok()) return;
  if (gradients_[k].size() != n) {
    broken_contract_[k] = 1;
    statuses_[k] = InvalidArgumentError("EvaluateExample returned a gradient of size " +
                                        std::to_string(gradients_[k].size()) +
                                        ", expected num_parameters = " + std::to_string(n));
  } else if (!std::isfinite(losses_[k])) {
    statuses_[k] = NumericalFailureError("loss is " + internal::FormatDouble(losses_[k]));
  } else if (!gradients_[k].allFinite()) {
    statuses_[k] = NumericalFailureError("gradient is not finite");
  }
}

Status LearnerRun::EvaluateMinibatch(int first, int size) {
  const int n = state_.num_parameters;
  if (static_cast<int>(losses_.size()) < size) {
    losses_.resize(size);
    gradients_.resize(size);
    statuses_.resize(size);
    broken_contract_.resize(size);
  }
  std::vector<int> own;
  for (int k = 0; k < size; ++k) {
    if (OwnerOf(k, state_.epoch_order[first + k]) == rank_) own.push_back(k);
  }
  auto clock_start = std::chrono::steady_clock::now();
  pool_.ParallelFor(static_cast<int>(own.size()), [&](int i) {
    EvaluateSlot(own[i], state_.epoch_order[first + own[i]]);
  });
  evaluation_seconds_ +=
      std::chrono::duration<double>(std::chrono::steady_clock::now() - clock_start).count();
  if (communicator_ == nullptr) return Status::Ok();

  // Every process sends its slots with the iteration and the fingerprint of
  // the iterate it evaluated them at, and decodes every process's message
  // (its own too), so that all of them take the same decisions.
  internal::ByteWriter writer;
  writer.Int(state_.iterations_completed);
  writer.Int(static_cast<int64_t>(internal::Fingerprint(
      state_.w.data(), sizeof(double) * static_cast<size_t>(state_.w.size()))));
  writer.Int(static_cast<int64_t>(own.size()));
  for (int k : own) {
    writer.Int(k);
    writer.Int(broken_contract_[k]);
    writer.StatusValue(statuses_[k]);
    if (statuses_[k].ok()) {
      writer.Double(losses_[k]);
      writer.Doubles(gradients_[k]);
    }
  }
  clock_start = std::chrono::steady_clock::now();
  communicator_->AllGather(writer.bytes(), &gathered_);
  communication_seconds_ +=
      std::chrono::duration<double>(std::chrono::steady_clock::now() - clock_start).count();
  std::vector<char> filled(size, 0);
  int64_t iteration0 = 0, fingerprint0 = 0;
  for (int process = 0; process < num_processes_; ++process) {
    internal::ByteReader reader(gathered_[process]);
    int64_t iteration = 0, fingerprint = 0, count = 0;
    reader.Int(&iteration);
    reader.Int(&fingerprint);
    if (process == 0) {
      iteration0 = iteration;
      fingerprint0 = fingerprint;
    } else if (reader.ok() && (iteration != iteration0 || fingerprint != fingerprint0)) {
      return InvalidArgumentError(
          "process " + std::to_string(process) + " evaluated iteration " +
          std::to_string(iteration) + " at an iterate other than process 0's (iteration " +
          std::to_string(iteration0) +
          "): the processes no longer follow the same trajectory (different options, "
          "objectives or data on different processes?)");
    }
    reader.Int(&count);
    for (int64_t i = 0; reader.ok() && i < count; ++i) {
      int64_t k = -1, broken = 0;
      Status status;
      double loss = 0.0;
      Eigen::VectorXd gradient;
      if (!reader.Int(&k) || !reader.Int(&broken) || !reader.StatusValue(&status)) break;
      if (status.ok() && (!reader.Double(&loss) || !reader.Doubles(n, &gradient))) break;
      if (k < 0 || k >= size || filled[k] ||
          OwnerOf(static_cast<int>(k), state_.epoch_order[first + k]) != process) {
        return InvalidArgumentError("process " + std::to_string(process) +
                                    " sent the result of minibatch position " +
                                    std::to_string(k) + ", which is not its own");
      }
      filled[k] = 1;
      if (process == rank_) continue;  // the slot holds it already
      broken_contract_[k] = static_cast<char>(broken != 0);
      statuses_[k] = std::move(status);
      losses_[k] = loss;
      if (statuses_[k].ok()) gradients_[k] = std::move(gradient);
    }
    if (!reader.ok() || !reader.at_end()) {
      return InvalidArgumentError("the results of process " + std::to_string(process) +
                                  " are malformed (the processes do not run the same program "
                                  "and options?)");
    }
  }
  for (int k = 0; k < size; ++k) {
    if (!filled[k]) {
      return InvalidArgumentError("no process evaluated minibatch position " + std::to_string(k) +
                                  " (the processes disagree on example_distribution?)");
    }
  }
  return Status::Ok();
}

Status LearnerRun::ReduceMinibatch(int first, int size, MinibatchResult* result) const {
  // Sum in minibatch order (never in completion order): bit-identical
  // results for any number of threads.
  result->gradient_w = Eigen::VectorXd::Zero(state_.num_parameters);
  for (int k = 0; k < size; ++k) {
    if (!statuses_[k].ok()) {
      if (broken_contract_[k] || !options_.skip_failed_examples) {
        const int example = state_.epoch_order[first + k];
        std::string context =
            ExampleContext(example, state_.iterations_completed, state_.epochs_completed);
        if (communicator_ != nullptr) {
          context += " on process " + std::to_string(OwnerOf(k, example)) + " of " +
                     std::to_string(num_processes_);
        }
        return Status(statuses_[k].code(), context + ": " + statuses_[k].message());
      }
      ++result->num_skipped;
      continue;
    }
    result->loss_sum += losses_[k];
    result->gradient_w += gradients_[k];
    ++result->num_evaluated;
  }
  if (result->num_evaluated > 0) {
    result->loss = result->loss_sum / result->num_evaluated;
    result->gradient_w /= static_cast<double>(result->num_evaluated);
  }
  return Status::Ok();
}

Status LearnerRun::TakeStep(const MinibatchResult& result, double learning_rate,
                            StepResult* step_result) {
  const int t = state_.iterations_completed;
  step_result->theta_gradient = Eigen::VectorXd::Zero(state_.num_parameters);
  if (result.num_evaluated > 0) {
    map_.ChainGradient(state_.theta, result.gradient_w, &step_result->theta_gradient);
    Eigen::VectorXd step;
    internal::ComputeStep(options_, step_result->theta_gradient, learning_rate, &state_, &step);
    if (!step.allFinite()) {
      return NumericalFailureError(
          "the step of iteration " + std::to_string(t) + " is not finite (|dL/dtheta| = " +
          internal::FormatDouble(step_result->theta_gradient.norm()) +
          "); lower the learning rate or set a trust radius");
    }
    if (internal::CapStep(options_.trust_radius, &step)) ++state_.num_capped_steps;
    Eigen::VectorXd theta = state_.theta + step;
    map_.Project(state_.theta, &theta);
    step_result->step_norm = (theta - state_.theta).norm();
    state_.theta = theta;
    map_.WFromTheta(state_.theta, &state_.w);
  }
  internal::UpdateAverage(options_, t, &state_);
  if (state_.optimiser == StochasticOptimiser::AVERAGED_SGD) map_.ClampW(&state_.w_average);
  step_result->gradient_norm = step_result->theta_gradient.norm();
  return Status::Ok();
}

void LearnerRun::RecordIteration(const MinibatchResult& result, double learning_rate,
                                 const StepResult& step) {
  internal::EpochAccumulator& accumulator = state_.epoch;
  ++accumulator.num_iterations;
  accumulator.num_evaluated_examples += result.num_evaluated;
  accumulator.loss_sum += result.loss_sum;
  accumulator.theta_gradient_sum += static_cast<double>(result.num_evaluated) * step.theta_gradient;
  accumulator.step_norm_sum += step.step_norm;
  state_.max_gradient_norm = std::max(state_.max_gradient_norm, step.gradient_norm);
  state_.max_step_norm = std::max(state_.max_step_norm, step.step_norm);
  state_.num_skipped_examples += result.num_skipped;

  if (state_.curve_recorded) {
    CurveRow row;
    row.iteration = state_.iterations_completed;
    row.epoch = state_.epochs_completed;
    row.loss = result.loss;
    row.gradient_norm = step.gradient_norm;
    row.step_norm = step.step_norm;
    row.learning_rate = learning_rate;
    row.w = state_.w.head(state_.curve_num_w_columns);
    state_.curve.push_back(std::move(row));
  }
  ++state_.iterations_completed;
}

bool LearnerRun::NotifyCallback(int first, int size, const MinibatchResult& result,
                                double learning_rate, const StepResult& step) {
  record_.iteration = state_.iterations_completed - 1;
  record_.epoch = state_.epochs_completed;
  record_.batch_size = size;
  record_.num_skipped_examples = result.num_skipped;
  record_.examples.assign(state_.epoch_order.begin() + first,
                          state_.epoch_order.begin() + first + size);
  record_.learning_rate = learning_rate;
  record_.loss = result.loss;
  record_.w_evaluated = step.w_before;
  record_.gradient = result.gradient_w;
  record_.theta_evaluated = step.theta_before;
  record_.theta_gradient = step.theta_gradient;
  record_.gradient_norm = step.gradient_norm;
  record_.step_norm = step.step_norm;
  record_.w = state_.w;
  record_.theta = state_.theta;
  record_.w_average = state_.model_w();
  return options_.iteration_callback(record_);
}

Status LearnerRun::Validate(const Eigen::VectorXd& w, double* loss, int* num_skipped) {
  TrainingObjective* validation = options_.validation_objective;
  const int num_examples = validation->num_examples();
  std::vector<double> losses(num_examples);
  std::vector<Status> statuses(num_examples);
  std::vector<int> own;
  for (int i = 0; i < num_examples; ++i) {
    if (OwnerOf(i, i) == rank_) own.push_back(i);
  }
  // Exceptions stop the run even when failures are skipped.
  std::vector<char> threw(num_examples, 0);
  pool_.ParallelFor(static_cast<int>(own.size()), [&](int j) {
    const int i = own[j];
    try {
      statuses[i] = validation->EvaluateExample(i, w, &losses[i], nullptr);
    } catch (const std::exception& exception) {
      threw[i] = 1;
      statuses[i] = Status(StatusCode::kInternalError,
                           std::string("EvaluateExample threw: ") + exception.what());
    } catch (...) {
      threw[i] = 1;
      statuses[i] = Status(StatusCode::kInternalError,
                           "EvaluateExample threw an exception that is not a std::exception");
    }
    if (statuses[i].ok() && !std::isfinite(losses[i])) {
      statuses[i] = NumericalFailureError("loss is " + internal::FormatDouble(losses[i]));
    }
  });
  if (communicator_ != nullptr) {
    internal::ByteWriter writer;
    writer.Int(static_cast<int64_t>(own.size()));
    for (int i : own) {
      writer.Int(i);
      writer.Int(threw[i]);
      writer.StatusValue(statuses[i]);
      writer.Double(losses[i]);
    }
    communicator_->AllGather(writer.bytes(), &gathered_);
    std::vector<char> filled(num_examples, 0);
    for (int process = 0; process < num_processes_; ++process) {
      internal::ByteReader reader(gathered_[process]);
      int64_t count = 0;
      reader.Int(&count);
      for (int64_t j = 0; reader.ok() && j < count; ++j) {
        int64_t i = -1, broken = 0;
        Status status;
        double loss = 0.0;
        if (!reader.Int(&i) || !reader.Int(&broken) || !reader.StatusValue(&status) ||
            !reader.Double(&loss)) {
          break;
        }
        if (i < 0 || i >= num_examples || filled[i] || OwnerOf(i, i) != process) {
          return InvalidArgumentError("process " + std::to_string(process) +
                                      " sent the result of validation example " +
                                      std::to_string(i) + ", which is not its own");
        }
        filled[i] = 1;
        if (!status.ok()) {
          status = Status(status.code(), "on process " + std::to_string(process) + " of " +
                                             std::to_string(num_processes_) + ": " +
                                             status.message());
        }
        statuses[i] = std::move(status);
        losses[i] = loss;
        threw[i] = static_cast<char>(broken != 0);
      }
      if (!reader.ok() || !reader.at_end()) {
        return InvalidArgumentError("the validation results of process " +
                                    std::to_string(process) + " are malformed");
      }
    }
    for (int i = 0; i < num_examples; ++i) {
      if (!filled[i]) {
        return InvalidArgumentError("no process evaluated validation example " +
                                    std::to_string(i));
      }
    }
  }
  double sum = 0.0;
  int count = 0;
  *num_skipped = 0;
  for (int i = 0; i < num_examples; ++i) {
    if (!statuses[i].ok()) {
      if (!options_.skip_failed_examples || threw[i]) {
        return Status(statuses[i].code(),
                      "validation example " + std::to_string(i) + " (after epoch " +
                          std::to_string(state_.epochs_completed) + "): " + statuses[i].message());
      }
      ++*num_skipped;
      continue;
    }
    sum += losses[i];
    ++count;
  }
  *loss = count > 0 ? sum / count : std::numeric_limits<double>::quiet_NaN();
  return Status::Ok();
}

Status LearnerRun::EndEpoch(bool complete, StochasticLearner::EpochSummary* epoch) {
  const internal::EpochAccumulator& accumulator = state_.epoch;
  const int evaluated = accumulator.num_evaluated_examples;
  *epoch = StochasticLearner::EpochSummary();
  epoch->epoch = state_.epochs_completed;
  epoch->num_iterations = accumulator.num_iterations;
  epoch->complete = complete;
  epoch->loss =
      evaluated > 0 ? accumulator.loss_sum / evaluated : std::numeric_limits<double>::quiet_NaN();
  epoch->gradient_norm =
      evaluated > 0 ? (accumulator.theta_gradient_sum / static_cast<double>(evaluated)).norm()
                    : 0.0;
  epoch->mean_step_norm =
      accumulator.num_iterations > 0 ? accumulator.step_norm_sum / accumulator.num_iterations : 0.0;
  if (options_.validation_objective != nullptr) {
    int num_skipped = 0;
    Status status = Validate(state_.model_w(), &epoch->validation_loss, &num_skipped);
    if (!status.ok()) return status;
    // An interrupted epoch's validation is not part of the trajectory (a
    // resumed run does not repeat it), so only the summary counts it.
    if (complete) {
      state_.num_skipped_validation_examples += num_skipped;
    } else {
      extra_skipped_validation_examples_ += num_skipped;
    }
  }
  epoch->elapsed_seconds = ElapsedSeconds();
  PrintProgress(*epoch);
  if (complete) {
    state_.epochs.push_back(*epoch);
    ++state_.epochs_completed;
    state_.epoch_order.clear();
    state_.epoch_position = 0;
  }
  return Status::Ok();
}

void LearnerRun::PrintProgress(const StochasticLearner::EpochSummary& epoch) const {
  if (options_.progress_stream == nullptr || rank_ != 0) return;
  // Each piece is formatted on its own (a piece fits its buffer: %.1f of
  // the largest double is 310 characters) and appended, so the line has no
  // length limit.
  char piece[400];
  std::string line;
  auto append = [&line, &piece](int length) {
    line.append(piece, std::min<size_t>(std::max(length, 0), sizeof(piece) - 1));
  };
  append(options_.num_epochs > 0 ? std::snprintf(piece, sizeof(piece), "epoch %3d/%d",
                                                 epoch.epoch + 1, options_.num_epochs)
                                 : std::snprintf(piece, sizeof(piece), "epoch %3d",
                                                 epoch.epoch + 1));
  append(std::snprintf(piece, sizeof(piece), "  loss %.3e  |g| %.1e  |step| %.1e", epoch.loss,
                       epoch.gradient_norm, epoch.mean_step_norm));
  if (options_.validation_objective != nullptr) {
    append(std::snprintf(piece, sizeof(piece), "  val %.3e", epoch.validation_loss));
  }
  append(std::snprintf(piece, sizeof(piece), "  %.1f s", epoch.elapsed_seconds));
  if (!epoch.complete) {
    append(std::snprintf(piece, sizeof(piece), "  (interrupted after %d iterations)",
                         epoch.num_iterations));
  }
  *options_.progress_stream << line << std::endl;
}

Status LearnerRun::CheckCounterLimits() const {
  const int64_t max = std::numeric_limits<int>::max();
  const int64_t batch = state_.batch_size;
  const int64_t validation = options_.validation_objective != nullptr
                                 ? options_.validation_objective->num_examples()
                                 : 0;
  const struct {
    const char* name;
    int64_t value;
    int64_t increment;
  } counters[] = {
      {"iterations_completed", state_.iterations_completed, 1},
      {"epoch_in_progress.num_evaluated_examples", state_.epoch.num_evaluated_examples, batch},
      {"history.num_skipped_examples", state_.num_skipped_examples, batch},
      {"history.num_skipped_validation_examples", state_.num_skipped_validation_examples,
       validation},
  };
  for (const auto& counter : counters) {
    if (counter.value > max - counter.increment) {
      return InvalidArgumentError(std::string(counter.name) + " = " +
                                  std::to_string(counter.value) +
                                  " is at the limit of its counter (an int): the run cannot "
                                  "take another iteration");
    }
  }
  return Status::Ok();
}

Status LearnerRun::StatusOfProcessZero(const Status& status) {
  if (communicator_ == nullptr) return status;
  internal::ByteWriter writer;
  if (rank_ == 0) writer.StatusValue(status);
  communicator_->AllGather(writer.bytes(), &gathered_);
  internal::ByteReader reader(gathered_[0]);
  Status zero;
  if (!reader.StatusValue(&zero) || !reader.at_end()) {
    return InvalidArgumentError("process 0 sent a malformed status");
  }
  if (zero.ok()) return zero;
  return Status(zero.code(), "process 0: " + zero.message());
}

Status LearnerRun::CheckProcessesAgree() {
  if (communicator_ == nullptr) return Status::Ok();
  // The run: the state (a checkpoint's text: sizes, options that shape the
  // trajectory, position, iterate), and the options that decide which
  // collective calls a process makes.
  LearnerState state = state_;
  state.elapsed_seconds = 0.0;
  const std::string text = internal::CheckpointToJson(state);
  const TrainingObjective* validation = options_.validation_objective;
  const int64_t calls[] = {
      static_cast<int64_t>(options_.example_distribution),
      validation != nullptr ? validation->num_examples() : -1,
      options_.iteration_callback ? 1 : 0,
      options_.checkpoint_path.empty() ? 0 : 1,
      options_.checkpoint_every_n_epochs,
      options_.checkpoint_every_n_iterations,
      options_.curve_csv_path.empty() ? 0 : 1};
  internal::ByteWriter writer;
  writer.Int(static_cast<int64_t>(internal::Fingerprint(text.data(), text.size())));
  for (int64_t value : calls) writer.Int(value);
  communicator_->AllGather(writer.bytes(), &gathered_);
  for (int process = 1; process < num_processes_; ++process) {
    if (gathered_[process] != gathered_[0]) {
      return InvalidArgumentError(
          "process " + std::to_string(process) +
          " starts another run than process 0 (the options, the objectives' sizes or "
          "identities, the initial w, the validation set, the callback, the checkpoint or "
          "curve settings differ): every process must start the same run");
    }
  }
  return Status::Ok();
}

Status LearnerRun::SaveCurve() {
  if (options_.curve_csv_path.empty()) return Status::Ok();
  Status status;
  if (rank_ == 0) {
    status = WriteFileAtomically(options_.curve_csv_path,
                                 internal::CurveToCsv(state_.curve, state_.curve_num_w_columns),
                                 options_.durable_writes);
  }
  return StatusOfProcessZero(status);
}

Status LearnerRun::SaveCheckpoint() {
  if (options_.checkpoint_path.empty() ||
      last_checkpoint_iteration_ == state_.iterations_completed) {
    return Status::Ok();
  }
  state_.elapsed_seconds = ElapsedSeconds();
  Status status;
  if (rank_ == 0) {
    status = internal::WriteCheckpoint(options_.checkpoint_path, state_, options_.durable_writes);
  }
  status = StatusOfProcessZero(status);
  if (!status.ok()) return status;
  last_checkpoint_iteration_ = state_.iterations_completed;
  return SaveCurve();
}

Status LearnerRun::Run(StochasticLearner::Summary* summary) {
  const int resumed_from = state_.iterations_completed;
  StochasticTermination termination = StochasticTermination::FAILURE;
  std::string message;
  // Several processes: all of them make the same collective calls from here
  // on, as they take the same decisions on the same data.
  Status status = CheckProcessesAgree();
  const bool agreed = status.ok();
  while (status.ok()) {
    if (options_.max_iterations > 0 && state_.iterations_completed >= options_.max_iterations) {
      termination = StochasticTermination::MAX_ITERATIONS;
      message = "took max_iterations = " + std::to_string(options_.max_iterations) + " iterations";
      break;
    }
    if (state_.epoch_order.empty() && options_.num_epochs > 0 &&
        state_.epochs_completed >= options_.num_epochs) {
      termination = StochasticTermination::MAX_EPOCHS;
      message = "completed num_epochs = " + std::to_string(options_.num_epochs) + " epochs";
      break;
    }
    status = CheckCounterLimits();
    if (!status.ok()) break;
    if (state_.epoch_order.empty()) StartEpoch();
    bool stop = false;
    status = Iterate(&stop);
    if (!status.ok()) break;
    if (state_.epoch_position == state_.num_examples) {
      StochasticLearner::EpochSummary epoch;
      status = EndEpoch(/*complete=*/true, &epoch);
      if (!status.ok()) break;
      if (options_.checkpoint_every_n_epochs > 0 &&
          state_.epochs_completed % options_.checkpoint_every_n_epochs == 0) {
        status = SaveCheckpoint();
        if (!status.ok()) break;
      }
    }
    if (options_.checkpoint_every_n_iterations > 0 &&
        state_.iterations_completed % options_.checkpoint_every_n_iterations == 0) {
      status = SaveCheckpoint();
      if (!status.ok()) break;
    }
    if (stop) {
      termination = StochasticTermination::USER_REQUESTED;
      message = "the iteration callback returned false after iteration " +
                std::to_string(state_.iterations_completed - 1);
      break;
    }
  }

  std::vector<StochasticLearner::EpochSummary> epochs = state_.epochs;
  if (status.ok()) {
    if (!state_.epoch_order.empty()) {
      StochasticLearner::EpochSummary interrupted;
      status = EndEpoch(/*complete=*/false, &interrupted);
      if (status.ok()) epochs.push_back(interrupted);
    }
    if (status.ok()) status = SaveCheckpoint();
  }
  if (status.ok()) {
    status = SaveCurve();
  } else if (agreed) {
    // Keep the curve up to the last good iterate; the first error is the
    // news, so a failure to save the curve as well is dropped.
    (void)SaveCurve();
  }
  if (!status.ok()) {
    termination = StochasticTermination::FAILURE;
    message = status.ToString();
  }

  // The summary.
  StochasticLearner::Summary& s = *summary;
  s.termination = termination;
  s.message = message;
  s.optimiser = state_.optimiser;
  s.num_examples = state_.num_examples;
  s.num_parameters = state_.num_parameters;
  s.batch_size = std::min(state_.batch_size, state_.num_examples);
  s.num_threads = options_.num_threads;
  s.num_processes = num_processes_;
  s.num_iterations = state_.iterations_completed;
  s.num_epochs = state_.epochs_completed;
  s.resumed_from_iteration = resumed_from;
  s.epochs = std::move(epochs);
  for (const StochasticLearner::EpochSummary& e : s.epochs) {
    s.final_loss = e.loss;
    if (!std::isnan(e.loss) && (s.best_epoch < 0 || e.loss < s.best_loss)) {
      s.best_loss = e.loss;
      s.best_epoch = e.epoch;
    }
    s.final_validation_loss = e.validation_loss;
    if (!std::isnan(e.validation_loss) &&
        (s.best_validation_epoch < 0 || e.validation_loss < s.best_validation_loss)) {
      s.best_validation_loss = e.validation_loss;
      s.best_validation_epoch = e.epoch;
    }
  }
  s.max_gradient_norm = state_.max_gradient_norm;
  s.max_step_norm = state_.max_step_norm;
  s.num_capped_steps = state_.num_capped_steps;
  s.num_skipped_examples = state_.num_skipped_examples;
  s.num_skipped_validation_examples =
      state_.num_skipped_validation_examples + extra_skipped_validation_examples_;
  s.time_in_seconds = ElapsedSeconds() - elapsed_before_;
  s.total_time_in_seconds = ElapsedSeconds();
  s.evaluation_time_in_seconds = evaluation_seconds_;
  s.communication_time_in_seconds = communication_seconds_;
  return status;
}

// Checks the objective (and the validation objective) against the options.
Status CheckObjective(const StochasticLearner::Options& options, TrainingObjective* objective) {
  if (objective == nullptr) return InvalidArgumentError("objective is null");
  const int n = objective->num_parameters();
  if (n < 1) return InvalidArgumentError("the objective has no parameters");
  if (objective->num_examples() < 1) return InvalidArgumentError("the objective has no examples");
  auto check_size = [n](size_t size, const char* name) {
    if (size != 0 && static_cast<int>(size) != n) {
      return InvalidArgumentError(std::string(name) + " has " + std::to_string(size) +
                                  " entries, the objective " + std::to_string(n) + " parameters");
    }
    return Status::Ok();
  };
  Status status = check_size(options.parameter_transforms.size(), "parameter_transforms");
  if (status.ok()) status = check_size(options.lower_bounds.size(), "lower_bounds");
  if (status.ok()) status = check_size(options.upper_bounds.size(), "upper_bounds");
  if (!status.ok()) return status;
  if (options.validation_objective != nullptr) {
    if (options.validation_objective->num_parameters() != n) {
      return InvalidArgumentError("the validation objective has " +
                                  std::to_string(options.validation_objective->num_parameters()) +
                                  " parameters, the objective " + std::to_string(n));
    }
    if (options.validation_objective->num_examples() < 1) {
      return InvalidArgumentError("the validation objective has no examples");
    }
  }
  return Status::Ok();
}

std::vector<ParameterTransform> ExpandTransforms(const StochasticLearner::Options& options, int n) {
  return options.parameter_transforms.empty()
             ? std::vector<ParameterTransform>(n, ParameterTransform::IDENTITY)
             : options.parameter_transforms;
}

// "[a, b, c]", each element formatted by `format`.
template <typename T, typename Format>
std::string ListToString(const std::vector<T>& values, Format format) {
  std::string text = "[";
  for (size_t i = 0; i < values.size(); ++i) text += (i > 0 ? ", " : "") + format(values[i]);
  return text + "]";
}

std::string TransformsToString(const std::vector<ParameterTransform>& transforms) {
  return ListToString(transforms, [](ParameterTransform transform) {
    return std::string(ParameterTransformToString(transform));
  });
}

// The options that shape the trajectory, bounds expanded to n entries.
internal::TrajectoryOptions TrajectoryOf(const StochasticLearner::Options& options, int n,
                                         const TrainingObjective& objective) {
  internal::TrajectoryOptions t;
  t.momentum = options.momentum;
  t.adam_beta1 = options.adam_beta1;
  t.adam_beta2 = options.adam_beta2;
  t.adam_epsilon = options.adam_epsilon;
  t.averaging_start_iteration = options.averaging_start_iteration;
  t.trust_radius = options.trust_radius;
  constexpr double kInfinity = std::numeric_limits<double>::infinity();
  t.lower_bounds = options.lower_bounds.empty() ? std::vector<double>(n, -kInfinity)
                                                : options.lower_bounds;
  t.upper_bounds = options.upper_bounds.empty() ? std::vector<double>(n, kInfinity)
                                                : options.upper_bounds;
  t.skip_failed_examples = options.skip_failed_examples;
  t.objective_identity = objective.Identity();
  return t;
}

internal::ScheduleOptions ScheduleOf(const StochasticLearner::Options& options) {
  internal::ScheduleOptions s;
  s.learning_rate = options.learning_rate;
  s.learning_rate_decay = options.learning_rate_decay;
  s.learning_rate_decay_power = options.learning_rate_decay_power;
  s.num_epochs = options.num_epochs;
  s.max_iterations = options.max_iterations;
  return s;
}

// The first field of `saved` (a checkpoint's) that differs from `now` (the
// options'), among those the optimiser uses: its name, and both values.
// False if they agree.
bool FirstTrajectoryDifference(const internal::TrajectoryOptions& saved,
                               const internal::TrajectoryOptions& now,
                               StochasticOptimiser optimiser, std::string* field,
                               std::string* saved_value, std::string* now_value) {
  const bool momentum = optimiser == StochasticOptimiser::SGD_MOMENTUM;
  const bool adam = optimiser == StochasticOptimiser::ADAM;
  const bool averaged = optimiser == StochasticOptimiser::AVERAGED_SGD;
  const struct {
    bool used;
    const char* name;
    double saved, now;
  } numbers[] = {
      {momentum, "momentum", saved.momentum, now.momentum},
      {adam, "adam_beta1", saved.adam_beta1, now.adam_beta1},
      {adam, "adam_beta2", saved.adam_beta2, now.adam_beta2},
      {adam, "adam_epsilon", saved.adam_epsilon, now.adam_epsilon},
      {averaged, "averaging_start_iteration", static_cast<double>(saved.averaging_start_iteration),
       static_cast<double>(now.averaging_start_iteration)},
      {true, "trust_radius", saved.trust_radius, now.trust_radius},
      {true, "skip_failed_examples", saved.skip_failed_examples ? 1.0 : 0.0,
       now.skip_failed_examples ? 1.0 : 0.0},
  };
  for (const auto& number : numbers) {
    if (number.used && number.saved != number.now) {
      *field = number.name;
      *saved_value = internal::FormatShortestDouble(number.saved);
      *now_value = internal::FormatShortestDouble(number.now);
      return true;
    }
  }
  const struct {
    const char* name;
    const std::vector<double>& saved;
    const std::vector<double>& now;
  } bounds[] = {{"lower_bounds", saved.lower_bounds, now.lower_bounds},
                {"upper_bounds", saved.upper_bounds, now.upper_bounds}};
  for (const auto& bound : bounds) {
    if (bound.saved != bound.now) {
      *field = bound.name;
      *saved_value = ListToString(bound.saved, internal::FormatShortestDouble);
      *now_value = ListToString(bound.now, internal::FormatShortestDouble);
      return true;
    }
  }
  if (saved.objective_identity != now.objective_identity) {
    *field = "objective identity";
    *saved_value = "\"" + saved.objective_identity + "\"";
    *now_value = "\"" + now.objective_identity + "\"";
    return true;
  }
  return false;
}

// "learning_rate 0.05 -> 0.01" for each schedule option that changed.
std::vector<std::string> ScheduleChanges(const internal::ScheduleOptions& saved,
                                         const internal::ScheduleOptions& now) {
  const struct {
    const char* name;
    double saved, now;
  } fields[] = {
      {"learning_rate", saved.learning_rate, now.learning_rate},
      {"learning_rate_decay", saved.learning_rate_decay, now.learning_rate_decay},
      {"learning_rate_decay_power", saved.learning_rate_decay_power,
       now.learning_rate_decay_power},
      {"num_epochs", static_cast<double>(saved.num_epochs), static_cast<double>(now.num_epochs)},
      {"max_iterations", static_cast<double>(saved.max_iterations),
       static_cast<double>(now.max_iterations)},
  };
  std::vector<std::string> changes;
  for (const auto& field : fields) {
    if (field.saved != field.now) {
      changes.push_back(std::string(field.name) + " " +
                        internal::FormatShortestDouble(field.saved) + " -> " +
                        internal::FormatShortestDouble(field.now));
    }
  }
  return changes;
}


// With a communicator of several processes: every process gets the first
// error of any process (by rank), naming it, or OK if none had one. Without
// (or with an unusable one, which IsValid reports): `local`.
Status AgreeAcrossProcesses(LearnerCommunicator* communicator, const Status& local) {
  if (communicator == nullptr || communicator->size() <= 1 || communicator->rank() < 0 ||
      communicator->rank() >= communicator->size()) {
    return local;
  }
  internal::ByteWriter writer;
  writer.StatusValue(local);
  std::vector<std::string> gathered;
  communicator->AllGather(writer.bytes(), &gathered);
  for (size_t process = 0; process < gathered.size(); ++process) {
    internal::ByteReader reader(gathered[process]);
    Status status;
    if (!reader.StatusValue(&status) || !reader.at_end()) {
      return InvalidArgumentError("process " + std::to_string(process) +
                                  " sent a malformed status");
    }
    if (!status.ok()) {
      return Status(status.code(), "process " + std::to_string(process) + " of " +
                                       std::to_string(gathered.size()) + ": " + status.message());
    }
  }
  return Status::Ok();
}

// The text of the checkpoint at `path`: read by process 0 and sent to the
// others when there are several (collective), so that the file need only be
// visible to process 0.
Status ReadCheckpointText(LearnerCommunicator* communicator, const std::string& path,
                          std::string* text) {
  const bool several = communicator != nullptr && communicator->size() > 1;
  Status status;
  if (!several || communicator->rank() == 0) {
    status = ReadFileToString(path, text);
    if (!status.ok()) status = InvalidArgumentError("checkpoint: " + status.message());
  }
  if (!several) return status;
  internal::ByteWriter writer;
  if (communicator->rank() == 0) {
    writer.StatusValue(status);
    writer.String(*text);
  }
  std::vector<std::string> gathered;
  communicator->AllGather(writer.bytes(), &gathered);
  internal::ByteReader reader(gathered[0]);
  if (!reader.StatusValue(&status) || !reader.String(text) || !reader.at_end()) {
    return InvalidArgumentError("checkpoint: process 0 sent a malformed checkpoint");
  }
  return status;
}

// The initial state of Learn (local: no communication).
Status PrepareLearn(const StochasticLearner::Options& options, TrainingObjective* objective,
                    const Eigen::VectorXd& w, LearnerState* state_out) {
  std::string error;
  if (!options.IsValid(&error)) return InvalidArgumentError(error);
  Status status = CheckObjective(options, objective);
  if (!status.ok()) return status;
  const int n = objective->num_parameters();
  if (w.size() != n) {
    return InvalidArgumentError("w has size " + std::to_string(w.size()) + ", the objective " +
                                std::to_string(n) + " parameters");
  }

  LearnerState& state = *state_out;
  state.optimiser = options.optimiser;
  state.num_parameters = n;
  state.num_examples = objective->num_examples();
  state.batch_size = options.batch_size;
  state.shuffle = options.shuffle;
  state.seed = options.seed;
  state.transforms = ExpandTransforms(options, n);
  state.trajectory = TrajectoryOf(options, n, *objective);
  state.schedule = ScheduleOf(options);
  state.rng.seed(options.seed);
  const ParameterMap map(state.transforms, options.lower_bounds, options.upper_bounds, n);
  status = map.ThetaFromW(w, &state.theta);
  if (!status.ok()) return status;
  map.WFromTheta(state.theta, &state.w);
  internal::InitialiseOptimiserState(&state);
  state.epoch.theta_gradient_sum = Eigen::VectorXd::Zero(n);
  state.curve_recorded = !options.curve_csv_path.empty();
  state.curve_num_w_columns = n <= options.curve_max_parameters ? n : 0;
  return Status::Ok();
}

// The state of Resume from the checkpoint (collective with several
// processes: they agree on the checks of the options, then process 0 reads
// the file for all).
Status PrepareResume(const StochasticLearner::Options& options,
                     const std::string& checkpoint_path, TrainingObjective* objective,
                     LearnerState* state_out, std::vector<std::string>* changes) {
  std::string error;
  Status status;
  if (!options.IsValid(&error)) {
    status = InvalidArgumentError(error);
  } else {
    status = CheckObjective(options, objective);
  }
  status = AgreeAcrossProcesses(options.communicator, status);
  if (!status.ok()) return status;
  std::string text;
  status = ReadCheckpointText(options.communicator, checkpoint_path, &text);
  if (!status.ok()) return status;
  LearnerState& state = *state_out;
  status = internal::CheckpointFromJson(text, checkpoint_path, &state);
  if (!status.ok()) return status;

  const std::string where = "checkpoint '" + checkpoint_path + "' ";
  auto mismatch = [&where](const std::string& what, const std::string& saved,
                           const std::string& now) {
    return InvalidArgumentError(where + "has " + what + " " + saved +
                                ", but the options/objective " + "have " + now +
                                "; resuming would not continue the same run");
  };
  const int n = objective->num_parameters();
  if (state.optimiser != options.optimiser) {
    return mismatch("optimiser", StochasticOptimiserToString(state.optimiser),
                    StochasticOptimiserToString(options.optimiser));
  }
  if (state.num_parameters != n) {
    return mismatch("num_parameters", std::to_string(state.num_parameters), std::to_string(n));
  }
  if (state.num_examples != objective->num_examples()) {
    return mismatch("num_examples", std::to_string(state.num_examples),
                    std::to_string(objective->num_examples()));
  }
  if (state.batch_size != options.batch_size) {
    return mismatch("batch_size", std::to_string(state.batch_size),
                    std::to_string(options.batch_size));
  }
  if (state.shuffle != options.shuffle) {
    return mismatch("shuffle", state.shuffle ? "true" : "false",
                    options.shuffle ? "true" : "false");
  }
  const std::vector<ParameterTransform> transforms = ExpandTransforms(options, n);
  if (state.transforms != transforms) {
    return mismatch("parameter_transforms", TransformsToString(state.transforms),
                    TransformsToString(transforms));
  }
  std::string field, saved_value, now_value;
  if (FirstTrajectoryDifference(state.trajectory, TrajectoryOf(options, n, *objective),
                                state.optimiser, &field, &saved_value, &now_value)) {
    return mismatch(field, saved_value, now_value);
  }
  if (!options.curve_csv_path.empty() && !state.curve_recorded) {
    return InvalidArgumentError(where +
                                "holds no training curve (it was written without "
                                "curve_csv_path), so curve_csv_path cannot be continued; clear it");
  }
  const ParameterMap map(state.transforms, options.lower_bounds, options.upper_bounds, n);
  status = map.CheckBounds(state.w, where + "iterate");
  if (!status.ok()) return status;
  *changes = ScheduleChanges(state.schedule, ScheduleOf(options));
  state.schedule = ScheduleOf(options);
  return Status::Ok();
}

}  // namespace

StochasticLearner::StochasticLearner(const Options& options) : options_(options) {}

Status StochasticLearner::Learn(TrainingObjective* objective, Eigen::VectorXd* w,
                                Summary* summary) {
  CHECK(w != nullptr);
  Summary local_summary;
  Summary& s = summary != nullptr ? *summary : local_summary;
  s = Summary();
  LearnerState state;
  Status status = PrepareLearn(options_, objective, *w, &state);
  status = AgreeAcrossProcesses(options_.communicator, status);
  if (!status.ok()) return status;
  LearnerRun run(options_, objective, &state);
  status = run.Run(&s);
  *w = state.model_w();
  return status;
}

Status StochasticLearner::Resume(const std::string& checkpoint_path, TrainingObjective* objective,
                                 Eigen::VectorXd* w, Summary* summary) {
  CHECK(w != nullptr);
  Summary local_summary;
  Summary& s = summary != nullptr ? *summary : local_summary;
  s = Summary();
  LearnerState state;
  std::vector<std::string> changes;
  Status status = PrepareResume(options_, checkpoint_path, objective, &state, &changes);
  status = AgreeAcrossProcesses(options_.communicator, status);
  if (!status.ok()) return status;
  LearnerRun run(options_, objective, &state);
  status = run.Run(&s);
  s.resumed = true;
  s.resume_changes = changes;
  *w = state.model_w();
  return status;
}

}  // namespace ceres_wiberg
