#include "ceres_wiberg/internal/stochastic_learner_checkpoint.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <sstream>
#include <utility>
#include <vector>

#include "ceres_wiberg/file.h"
#include "ceres_wiberg/internal/stochastic_learner_curve.h"
#include "nlohmann/json.hpp"

namespace ceres_wiberg {
namespace internal {

const char kCheckpointFormat[] = "ceres_wiberg.stochastic_learner.checkpoint";

namespace {

using Json = nlohmann::ordered_json;

// ---------------------------------------------------------------- Writing.

Json Number(double value) {
  if (std::isfinite(value)) return Json(value);
  if (std::isnan(value)) return Json("nan");
  return Json(value > 0 ? "inf" : "-inf");
}

Json NumberArray(const Eigen::VectorXd& values) {
  Json array = Json::array();
  for (int i = 0; i < values.size(); ++i) array.push_back(Number(values[i]));
  return array;
}

Json EpochToJson(const StochasticLearner::EpochSummary& epoch) {
  Json j;
  j["epoch"] = epoch.epoch;
  j["num_iterations"] = epoch.num_iterations;
  j["complete"] = epoch.complete;
  j["loss"] = Number(epoch.loss);
  j["gradient_norm"] = Number(epoch.gradient_norm);
  j["mean_step_norm"] = Number(epoch.mean_step_norm);
  j["validation_loss"] = Number(epoch.validation_loss);
  j["elapsed_seconds"] = Number(epoch.elapsed_seconds);
  return j;
}

Json CurveRowToJson(const CurveRow& row, int num_w_columns) {
  Json j = Json::array();
  j.push_back(row.iteration);
  j.push_back(row.epoch);
  j.push_back(Number(row.loss));
  j.push_back(Number(row.gradient_norm));
  j.push_back(Number(row.step_norm));
  j.push_back(Number(row.learning_rate));
  for (int i = 0; i < num_w_columns; ++i) j.push_back(Number(row.w[i]));
  return j;
}

bool HasStructuredElement(const Json& array) {
  for (const Json& element : array) {
    if (element.is_structured()) return true;
  }
  return false;
}

// Indented objects and arrays of containers; arrays of scalars on one line.
void PrintReadable(const Json& j, int indent, std::string* out) {
  const bool object = j.is_object();
  if (!(object || (j.is_array() && HasStructuredElement(j))) || j.empty()) {
    *out += j.dump();
    return;
  }
  *out += object ? "{\n" : "[\n";
  bool first = true;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!first) *out += ",\n";
    first = false;
    out->append(indent + 2, ' ');
    if (object) *out += Json(it.key()).dump() + ": ";
    PrintReadable(it.value(), indent + 2, out);
  }
  *out += "\n";
  out->append(indent, ' ');
  *out += object ? "}" : "]";
}

// ---------------------------------------------------------------- Reading.

// Reads typed values out of a parsed checkpoint, keeping the first error
// (later reads return defaults), so that parsing reads straight through and
// the caller checks ok() once.
class Reader {
 public:
  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }

  void Fail(const std::string& message) {
    if (error_.empty()) error_ = message;
  }

  // A short description of a value for messages. Containers are described,
  // never dumped: dump() recurses, and a value may be nested a million
  // levels deep.
  static std::string Describe(const Json& j) {
    if (j.is_array()) return "an array of " + std::to_string(j.size()) + " elements";
    if (j.is_object()) return "an object of " + std::to_string(j.size()) + " keys";
    const std::string text = j.dump();
    return text.size() <= 40 ? text : text.substr(0, 37) + "...";
  }

  // object[key], or null (and an error) if absent. `name` is the object's
  // path in messages ("" for the root).
  const Json& Member(const Json& object, const std::string& name, const std::string& key) {
    const std::string path = Join(name, key);
    if (!ok()) return Null();
    if (!object.is_object()) {
      Fail("'" + (name.empty() ? std::string("(root)") : name) + "' must be an object");
      return Null();
    }
    const auto it = object.find(key);
    if (it == object.end()) {
      Fail("missing key '" + path + "'");
      return Null();
    }
    return *it;
  }

  int Int(const Json& object, const std::string& name, const std::string& key, int min_value,
          int max_value) {
    const Json& j = Member(object, name, key);
    if (!ok()) return 0;
    if (!j.is_number_integer() || j.get<int64_t>() < min_value || j.get<int64_t>() > max_value) {
      Fail("key '" + Join(name, key) + "' must be an integer in [" + std::to_string(min_value) +
           ", " + std::to_string(max_value) + "], got " + Describe(j));
      return 0;
    }
    return static_cast<int>(j.get<int64_t>());
  }

  int NonNegativeInt(const Json& object, const std::string& name, const std::string& key) {
    return Int(object, name, key, 0, std::numeric_limits<int>::max());
  }

  uint64_t Uint64(const Json& object, const std::string& name, const std::string& key) {
    const Json& j = Member(object, name, key);
    if (!ok()) return 0;
    if (!j.is_number_unsigned()) {
      Fail("key '" + Join(name, key) + "' must be a non-negative integer, got " + Describe(j));
      return 0;
    }
    return j.get<uint64_t>();
  }

  bool Bool(const Json& object, const std::string& name, const std::string& key) {
    const Json& j = Member(object, name, key);
    if (!ok()) return false;
    if (!j.is_boolean()) {
      Fail("key '" + Join(name, key) + "' must be true or false, got " + Describe(j));
      return false;
    }
    return j.get<bool>();
  }

  std::string String(const Json& object, const std::string& name, const std::string& key) {
    const Json& j = Member(object, name, key);
    if (!ok()) return "";
    if (!j.is_string()) {
      Fail("key '" + Join(name, key) + "' must be a string, got " + Describe(j));
      return "";
    }
    return j.get<std::string>();
  }

  double Double(const Json& object, const std::string& name, const std::string& key) {
    const Json& j = Member(object, name, key);
    if (!ok()) return 0.0;
    double value = 0.0;
    if (!ToDouble(j, &value)) {
      Fail("key '" + Join(name, key) + "' must be a number (or \"nan\", \"inf\", \"-inf\"), got " +
           Describe(j));
    }
    return value;
  }

  // A finite number >= min_value.
  double FiniteDouble(const Json& object, const std::string& name, const std::string& key,
                      double min_value = -std::numeric_limits<double>::infinity()) {
    const double value = Double(object, name, key);
    if (ok() && !(std::isfinite(value) && value >= min_value)) {
      Fail("key '" + Join(name, key) + "' must be a finite number" +
           (std::isinf(min_value) ? std::string() : " >= " + FormatNumber(min_value)) +
           ", got " + FormatNumber(value));
    }
    return value;
  }

  // Vector() whose elements must be finite (and >= min_value).
  Eigen::VectorXd FiniteVector(const Json& object, const std::string& name, const std::string& key,
                               int size,
                               double min_value = -std::numeric_limits<double>::infinity()) {
    Eigen::VectorXd values = Vector(object, name, key, size);
    for (Eigen::Index i = 0; ok() && i < values.size(); ++i) {
      if (!(std::isfinite(values[i]) && values[i] >= min_value)) {
        Fail("key '" + Join(name, key) + "' element " + std::to_string(i) +
             " must be a finite number" +
             (std::isinf(min_value) ? std::string() : " >= " + FormatNumber(min_value)) +
             ", got " + FormatNumber(values[i]));
      }
    }
    return values;
  }

  static std::string FormatNumber(double value) { return Number(value).dump(); }

  // array[index] of an array known to be long enough.
  double DoubleAt(const Json& array, const std::string& name, size_t index) {
    double value = 0.0;
    if (ok() && !ToDouble(array[index], &value)) {
      Fail("key '" + name + "' element " + std::to_string(index) + " must be a number, got " +
           Describe(array[index]));
    }
    return value;
  }

  // An array of `size` numbers (any size if size < 0).
  Eigen::VectorXd Vector(const Json& object, const std::string& name, const std::string& key,
                         int size) {
    const Json& j = Member(object, name, key);
    Eigen::VectorXd values;
    if (!ok()) return values;
    if (!j.is_array() || (size >= 0 && static_cast<int>(j.size()) != size)) {
      Fail("key '" + Join(name, key) + "' must be an array of " +
           (size >= 0 ? std::to_string(size) + " " : std::string()) + "numbers");
      return values;
    }
    values.resize(static_cast<Eigen::Index>(j.size()));
    for (size_t i = 0; i < j.size(); ++i) {
      if (!ToDouble(j[i], &values[static_cast<Eigen::Index>(i)])) {
        Fail("key '" + Join(name, key) + "' element " + std::to_string(i) +
             " must be a number, got " + Describe(j[i]));
        return Eigen::VectorXd();
      }
    }
    return values;
  }

  const Json& Array(const Json& object, const std::string& name, const std::string& key) {
    const Json& j = Member(object, name, key);
    if (ok() && !j.is_array()) {
      Fail("key '" + Join(name, key) + "' must be an array");
      return Null();
    }
    return j;
  }

  static std::string Join(const std::string& name, const std::string& key) {
    return name.empty() ? key : name + "." + key;
  }

 private:
  static const Json& Null() {
    static const Json null_value;
    return null_value;
  }

  static bool ToDouble(const Json& j, double* value) {
    if (j.is_number()) {
      *value = j.get<double>();
      return true;
    }
    if (j.is_string()) {
      const std::string& s = j.get_ref<const std::string&>();
      if (s == "nan") {
        *value = std::numeric_limits<double>::quiet_NaN();
      } else if (s == "inf") {
        *value = std::numeric_limits<double>::infinity();
      } else if (s == "-inf") {
        *value = -std::numeric_limits<double>::infinity();
      } else {
        return false;
      }
      return true;
    }
    return false;
  }

  std::string error_;
};

void ReadEpoch(Reader* reader, const Json& j, const std::string& name,
               StochasticLearner::EpochSummary* epoch) {
  epoch->epoch = reader->NonNegativeInt(j, name, "epoch");
  epoch->num_iterations = reader->NonNegativeInt(j, name, "num_iterations");
  epoch->complete = reader->Bool(j, name, "complete");
  epoch->loss = reader->Double(j, name, "loss");
  epoch->gradient_norm = reader->Double(j, name, "gradient_norm");
  epoch->mean_step_norm = reader->Double(j, name, "mean_step_norm");
  epoch->validation_loss = reader->Double(j, name, "validation_loss");
  epoch->elapsed_seconds = reader->FiniteDouble(j, name, "elapsed_seconds", 0.0);
}

// True if the generator returns 0 forever. A Mersenne Twister whose state is
// not all zero (in the bits the recurrence uses) never reaches the all-zero
// state, and its outputs are a bijection of its state words; so if after
// regenerating the state once the next state_size outputs are all 0, the
// state is the degenerate one.
bool IsDegenerate(std::mt19937_64 rng) {
  rng.discard(std::mt19937_64::state_size);
  for (size_t i = 0; i < std::mt19937_64::state_size; ++i) {
    if (rng() != 0) return false;
  }
  return true;
}

// Format, version, optimiser, sizes, seed and transforms: the run's identity.
void ReadIdentity(Reader* reader, const Json& root, LearnerState* state) {
  Reader& r = *reader;
  const std::string format = r.String(root, "", "format");
  if (r.ok() && format != kCheckpointFormat) {
    r.Fail("key 'format' is \"" + format + "\", expected \"" + kCheckpointFormat + "\"");
  }
  const int version = r.Int(root, "", "version", 0, std::numeric_limits<int>::max());
  if (r.ok() && version < kCheckpointVersion) {
    r.Fail("version " + std::to_string(version) + " was written by an older ceres_wiberg " +
           "without the trajectory options that resuming checks (version " +
           std::to_string(kCheckpointVersion) + "); it cannot be resumed: start the run anew");
  } else if (r.ok() && version != kCheckpointVersion) {
    r.Fail("unsupported version " + std::to_string(version) + " (this library reads version " +
           std::to_string(kCheckpointVersion) + ")");
  }

  const std::string optimiser = r.String(root, "", "optimiser");
  if (r.ok() && !StringToStochasticOptimiser(optimiser, &state->optimiser)) {
    r.Fail("key 'optimiser' has unknown value \"" + optimiser + "\"");
  }
  const int n = r.Int(root, "", "num_parameters", 1, std::numeric_limits<int>::max());
  state->num_parameters = n;
  state->num_examples = r.Int(root, "", "num_examples", 1, std::numeric_limits<int>::max());
  state->batch_size = r.Int(root, "", "batch_size", 1, std::numeric_limits<int>::max());
  state->shuffle = r.Bool(root, "", "shuffle");
  state->seed = r.Uint64(root, "", "seed");

  const Json& transforms = r.Array(root, "", "parameter_transforms");
  if (r.ok() && static_cast<int>(transforms.size()) != n) {
    r.Fail("key 'parameter_transforms' must have num_parameters = " + std::to_string(n) +
           " entries");
  }
  state->transforms.assign(r.ok() ? n : 0, ParameterTransform::IDENTITY);
  for (int i = 0; r.ok() && i < n; ++i) {
    if (!transforms[i].is_string() ||
        !StringToParameterTransform(transforms[i].get<std::string>(), &state->transforms[i])) {
      r.Fail("key 'parameter_transforms' element " + std::to_string(i) +
             " must be IDENTITY, SQUARED or EXP");
    }
  }

  const Json& trajectory = r.Member(root, "", "trajectory");
  const std::string tr = "trajectory";
  TrajectoryOptions& t = state->trajectory;
  t.momentum = r.FiniteDouble(trajectory, tr, "momentum");
  t.adam_beta1 = r.FiniteDouble(trajectory, tr, "adam_beta1");
  t.adam_beta2 = r.FiniteDouble(trajectory, tr, "adam_beta2");
  t.adam_epsilon = r.FiniteDouble(trajectory, tr, "adam_epsilon");
  t.averaging_start_iteration = r.NonNegativeInt(trajectory, tr, "averaging_start_iteration");
  t.trust_radius = r.FiniteDouble(trajectory, tr, "trust_radius", 0.0);
  const Eigen::VectorXd lower = r.Vector(trajectory, tr, "lower_bounds", r.ok() ? n : 0);
  const Eigen::VectorXd upper = r.Vector(trajectory, tr, "upper_bounds", r.ok() ? n : 0);
  t.lower_bounds.assign(lower.data(), lower.data() + lower.size());
  t.upper_bounds.assign(upper.data(), upper.data() + upper.size());
  t.skip_failed_examples = r.Bool(trajectory, tr, "skip_failed_examples");
  t.objective_identity = r.String(trajectory, tr, "objective_identity");

  const Json& schedule = r.Member(root, "", "schedule");
  const std::string sc = "schedule";
  ScheduleOptions& s = state->schedule;
  s.learning_rate = r.FiniteDouble(schedule, sc, "learning_rate");
  s.learning_rate_decay = r.FiniteDouble(schedule, sc, "learning_rate_decay");
  s.learning_rate_decay_power = r.FiniteDouble(schedule, sc, "learning_rate_decay_power");
  s.num_epochs = r.NonNegativeInt(schedule, sc, "num_epochs");
  s.max_iterations = r.NonNegativeInt(schedule, sc, "max_iterations");
}

// Iteration counts, epoch order and position, and the RNG.
void ReadPosition(Reader* reader, const Json& root, LearnerState* state) {
  Reader& r = *reader;
  state->iterations_completed = r.NonNegativeInt(root, "", "iterations_completed");
  state->epochs_completed = r.NonNegativeInt(root, "", "epochs_completed");
  state->num_steps = r.NonNegativeInt(root, "", "num_steps");
  if (r.ok() && state->num_steps > state->iterations_completed) {
    r.Fail("key 'num_steps' exceeds 'iterations_completed'");
  }
  if (r.ok() && state->epochs_completed > state->iterations_completed) {
    r.Fail("key 'epochs_completed' exceeds 'iterations_completed' (every epoch takes at least "
           "one iteration)");
  }

  const Json& order = r.Array(root, "", "epoch_order");
  state->epoch_order.clear();
  if (r.ok() && !order.empty()) {
    const int num_examples = state->num_examples;
    if (static_cast<int>(order.size()) != num_examples) {
      r.Fail("key 'epoch_order' must be empty or a permutation of the " +
             std::to_string(num_examples) + " examples");
    }
    std::vector<bool> seen(r.ok() ? num_examples : 0, false);
    for (size_t i = 0; r.ok() && i < order.size(); ++i) {
      const Json& e = order[i];
      if (!e.is_number_integer() || e.get<int64_t>() < 0 || e.get<int64_t>() >= num_examples ||
          seen[e.get<size_t>()]) {
        r.Fail("key 'epoch_order' is not a permutation of 0.." + std::to_string(num_examples - 1) +
               " (element " + std::to_string(i) + ")");
        break;
      }
      seen[e.get<size_t>()] = true;
      state->epoch_order.push_back(e.get<int>());
    }
  }
  state->epoch_position = r.NonNegativeInt(root, "", "epoch_position");
  if (r.ok() && (state->epoch_order.empty() ? state->epoch_position != 0
                                            : state->epoch_position >= state->num_examples)) {
    r.Fail("key 'epoch_position' " + std::to_string(state->epoch_position) +
           " does not fit 'epoch_order'");
  }

  const std::string rng_state = r.String(root, "", "rng_state");
  if (r.ok()) {
    std::istringstream in(rng_state);
    in >> state->rng;
    if (in.fail() || !(in >> std::ws).eof()) {
      r.Fail("key 'rng_state' is not a std::mt19937_64 state");
    } else if (IsDegenerate(state->rng)) {
      r.Fail("key 'rng_state' is a degenerate std::mt19937_64 state (all zero): it would "
             "return 0 forever");
    }
  }
}

// Theta, w and the optimiser's own state.
void ReadIterate(Reader* reader, const Json& root, LearnerState* state) {
  Reader& r = *reader;
  const int n = state->num_parameters;
  state->theta = r.Vector(root, "", "theta", n);
  state->w = r.Vector(root, "", "w", n);
  if (r.ok() && !(state->theta.allFinite() && state->w.allFinite())) {
    r.Fail("keys 'theta' and 'w' must be finite");
  }

  const Json& optimiser_state = r.Member(root, "", "optimiser_state");
  const std::string os = "optimiser_state";
  state->velocity.resize(0);
  state->adam_m.resize(0);
  state->adam_v.resize(0);
  state->w_average.resize(0);
  state->num_averaged = 0;
  if (r.ok()) {
    switch (state->optimiser) {
      case StochasticOptimiser::SGD:
        break;
      case StochasticOptimiser::SGD_MOMENTUM:
        state->velocity = r.FiniteVector(optimiser_state, os, "velocity", n);
        break;
      case StochasticOptimiser::AVERAGED_SGD:
        state->w_average = r.FiniteVector(optimiser_state, os, "w_average", n);
        state->num_averaged = r.NonNegativeInt(optimiser_state, os, "num_averaged");
        if (r.ok() && state->num_averaged > state->iterations_completed) {
          r.Fail("key 'optimiser_state.num_averaged' exceeds 'iterations_completed'");
        }
        break;
      case StochasticOptimiser::ADAM:
        state->adam_m = r.FiniteVector(optimiser_state, os, "adam_m", n);
        state->adam_v = r.FiniteVector(optimiser_state, os, "adam_v", n, 0.0);
        break;
    }
  }
}

// The epoch in progress and the per-epoch history.
void ReadHistory(Reader* reader, const Json& root, LearnerState* state) {
  Reader& r = *reader;
  const int n = state->num_parameters;
  const Json& epoch = r.Member(root, "", "epoch_in_progress");
  const std::string ep = "epoch_in_progress";
  state->epoch.num_iterations = r.NonNegativeInt(epoch, ep, "num_iterations");
  state->epoch.num_evaluated_examples = r.NonNegativeInt(epoch, ep, "num_evaluated_examples");
  state->epoch.loss_sum = r.FiniteDouble(epoch, ep, "loss_sum");
  state->epoch.theta_gradient_sum = r.FiniteVector(epoch, ep, "theta_gradient_sum", n);
  state->epoch.step_norm_sum = r.FiniteDouble(epoch, ep, "step_norm_sum", 0.0);
  // Counts that the run adds to: bounded by what the iterations can hold.
  const int64_t max_examples =
      static_cast<int64_t>(state->iterations_completed) * state->batch_size;
  if (r.ok() && state->epoch.num_iterations > state->iterations_completed) {
    r.Fail("key 'epoch_in_progress.num_iterations' exceeds 'iterations_completed'");
  }
  if (r.ok() && state->epoch.num_evaluated_examples >
                    static_cast<int64_t>(state->epoch.num_iterations) * state->batch_size) {
    r.Fail("key 'epoch_in_progress.num_evaluated_examples' exceeds num_iterations * batch_size");
  }

  const Json& history = r.Member(root, "", "history");
  const std::string hs = "history";
  const Json& epochs = r.Array(history, hs, "epochs");
  state->epochs.clear();
  for (size_t i = 0; r.ok() && i < epochs.size(); ++i) {
    StochasticLearner::EpochSummary summary;
    ReadEpoch(&r, epochs[i], "history.epochs[" + std::to_string(i) + "]", &summary);
    state->epochs.push_back(summary);
  }
  if (r.ok() && static_cast<int>(state->epochs.size()) != state->epochs_completed) {
    r.Fail("key 'history.epochs' must hold epochs_completed = " +
           std::to_string(state->epochs_completed) + " entries");
  }
  state->max_gradient_norm = r.FiniteDouble(history, hs, "max_gradient_norm", 0.0);
  state->max_step_norm = r.FiniteDouble(history, hs, "max_step_norm", 0.0);
  state->num_capped_steps = r.NonNegativeInt(history, hs, "num_capped_steps");
  if (r.ok() && state->num_capped_steps > state->num_steps) {
    r.Fail("key 'history.num_capped_steps' exceeds 'num_steps'");
  }
  state->num_skipped_examples = r.NonNegativeInt(history, hs, "num_skipped_examples");
  if (r.ok() && state->num_skipped_examples > max_examples) {
    r.Fail("key 'history.num_skipped_examples' exceeds iterations_completed * batch_size");
  }
  state->num_skipped_validation_examples =
      r.NonNegativeInt(history, hs, "num_skipped_validation_examples");
  state->elapsed_seconds = r.FiniteDouble(history, hs, "elapsed_seconds", 0.0);
}

// The curve's columns and rows.
void ReadCurve(Reader* reader, const Json& root, LearnerState* state) {
  Reader& r = *reader;
  const int n = state->num_parameters;
  const Json& curve = r.Member(root, "", "curve");
  state->curve_recorded = r.Bool(curve, "curve", "recorded");
  const Json& columns = r.Array(curve, "curve", "columns");
  const Json& rows = r.Array(curve, "curve", "rows");
  state->curve.clear();
  state->curve_num_w_columns = 0;
  if (!r.ok()) return;
  const int num_w_columns = static_cast<int>(columns.size()) - 6;
  if (num_w_columns < 0 || num_w_columns > n || columns != Json(CurveColumns(num_w_columns))) {
    r.Fail(
        "key 'curve.columns' must list the curve's columns (iteration, epoch, loss, "
        "gradient_norm, step_norm, learning_rate, w_0, ...)");
    return;
  }
  state->curve_num_w_columns = num_w_columns;
  if (!state->curve_recorded) {
    if (!rows.empty()) r.Fail("key 'curve.rows' must be empty when 'curve.recorded' is false");
    return;
  }
  if (static_cast<int>(rows.size()) != state->iterations_completed) {
    r.Fail("key 'curve.rows' must hold iterations_completed = " +
           std::to_string(state->iterations_completed) + " rows");
    return;
  }
  state->curve.resize(rows.size());
  for (size_t i = 0; r.ok() && i < rows.size(); ++i) {
    const Json& row = rows[i];
    const std::string name = "curve.rows[" + std::to_string(i) + "]";
    if (!row.is_array() || row.size() != columns.size() || !row[0].is_number_integer() ||
        !row[1].is_number_integer()) {
      r.Fail("key '" + name + "' must be an array of " + std::to_string(columns.size()) +
             " numbers, the first two integers");
      return;
    }
    CurveRow& out = state->curve[i];
    out.iteration = static_cast<int>(i);
    out.epoch = 0;
    if (row[0].get<int64_t>() != static_cast<int64_t>(i) || row[1].get<int64_t>() < 0 ||
        row[1].get<int64_t>() > state->epochs_completed) {
      r.Fail("key '" + name + "' must start with its iteration " + std::to_string(i) +
             " and an epoch in [0, epochs_completed]");
      return;
    }
    out.epoch = static_cast<int>(row[1].get<int64_t>());
    out.loss = r.DoubleAt(row, name, 2);
    out.gradient_norm = r.DoubleAt(row, name, 3);
    out.step_norm = r.DoubleAt(row, name, 4);
    out.learning_rate = r.DoubleAt(row, name, 5);
    out.w.resize(num_w_columns);
    for (int c = 0; c < num_w_columns; ++c) out.w[c] = r.DoubleAt(row, name, 6 + c);
  }
}

// The byte offset at which arrays and objects of `text` (JSON) nest deeper
// than max_depth, or npos. Strings (with their escapes) are skipped.
size_t FindExcessiveNesting(const std::string& text, int max_depth) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return i;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return std::string::npos;
}

// Fills *state from the parsed root; errors go to the reader, and each part
// is read only while the reader has no error.
void ReadState(Reader* reader, const Json& root, LearnerState* state) {
  for (auto read : {ReadIdentity, ReadPosition, ReadIterate, ReadHistory, ReadCurve}) {
    if (!reader->ok()) return;
    read(reader, root, state);
  }
}

}  // namespace

std::string CheckpointToJson(const LearnerState& state) {
  Json root;
  root["format"] = kCheckpointFormat;
  root["version"] = kCheckpointVersion;
  root["optimiser"] = StochasticOptimiserToString(state.optimiser);
  root["num_parameters"] = state.num_parameters;
  root["num_examples"] = state.num_examples;
  root["batch_size"] = state.batch_size;
  root["shuffle"] = state.shuffle;
  root["seed"] = state.seed;
  Json transforms = Json::array();
  for (ParameterTransform t : state.transforms) transforms.push_back(ParameterTransformToString(t));
  root["parameter_transforms"] = transforms;
  const TrajectoryOptions& t = state.trajectory;
  Json trajectory;
  trajectory["momentum"] = Number(t.momentum);
  trajectory["adam_beta1"] = Number(t.adam_beta1);
  trajectory["adam_beta2"] = Number(t.adam_beta2);
  trajectory["adam_epsilon"] = Number(t.adam_epsilon);
  trajectory["averaging_start_iteration"] = t.averaging_start_iteration;
  trajectory["trust_radius"] = Number(t.trust_radius);
  trajectory["lower_bounds"] = NumberArray(Eigen::Map<const Eigen::VectorXd>(
      t.lower_bounds.data(), static_cast<Eigen::Index>(t.lower_bounds.size())));
  trajectory["upper_bounds"] = NumberArray(Eigen::Map<const Eigen::VectorXd>(
      t.upper_bounds.data(), static_cast<Eigen::Index>(t.upper_bounds.size())));
  trajectory["skip_failed_examples"] = t.skip_failed_examples;
  trajectory["objective_identity"] = t.objective_identity;
  root["trajectory"] = trajectory;
  Json schedule;
  schedule["learning_rate"] = Number(state.schedule.learning_rate);
  schedule["learning_rate_decay"] = Number(state.schedule.learning_rate_decay);
  schedule["learning_rate_decay_power"] = Number(state.schedule.learning_rate_decay_power);
  schedule["num_epochs"] = state.schedule.num_epochs;
  schedule["max_iterations"] = state.schedule.max_iterations;
  root["schedule"] = schedule;
  root["iterations_completed"] = state.iterations_completed;
  root["epochs_completed"] = state.epochs_completed;
  root["num_steps"] = state.num_steps;
  root["epoch_order"] = state.epoch_order;
  root["epoch_position"] = state.epoch_position;
  std::ostringstream rng;
  rng << state.rng;
  root["rng_state"] = rng.str();
  root["theta"] = NumberArray(state.theta);
  root["w"] = NumberArray(state.w);

  Json optimiser_state = Json::object();
  switch (state.optimiser) {
    case StochasticOptimiser::SGD:
      break;
    case StochasticOptimiser::SGD_MOMENTUM:
      optimiser_state["velocity"] = NumberArray(state.velocity);
      break;
    case StochasticOptimiser::AVERAGED_SGD:
      optimiser_state["w_average"] = NumberArray(state.w_average);
      optimiser_state["num_averaged"] = state.num_averaged;
      break;
    case StochasticOptimiser::ADAM:
      optimiser_state["adam_m"] = NumberArray(state.adam_m);
      optimiser_state["adam_v"] = NumberArray(state.adam_v);
      break;
  }
  root["optimiser_state"] = optimiser_state;

  Json epoch;
  epoch["num_iterations"] = state.epoch.num_iterations;
  epoch["num_evaluated_examples"] = state.epoch.num_evaluated_examples;
  epoch["loss_sum"] = Number(state.epoch.loss_sum);
  epoch["theta_gradient_sum"] = NumberArray(state.epoch.theta_gradient_sum);
  epoch["step_norm_sum"] = Number(state.epoch.step_norm_sum);
  root["epoch_in_progress"] = epoch;

  Json history;
  Json epochs = Json::array();
  for (const auto& e : state.epochs) epochs.push_back(EpochToJson(e));
  history["epochs"] = epochs;
  history["max_gradient_norm"] = Number(state.max_gradient_norm);
  history["max_step_norm"] = Number(state.max_step_norm);
  history["num_capped_steps"] = state.num_capped_steps;
  history["num_skipped_examples"] = state.num_skipped_examples;
  history["num_skipped_validation_examples"] = state.num_skipped_validation_examples;
  history["elapsed_seconds"] = Number(state.elapsed_seconds);
  root["history"] = history;

  Json curve;
  curve["recorded"] = state.curve_recorded;
  curve["columns"] = CurveColumns(state.curve_num_w_columns);
  Json rows = Json::array();
  for (const CurveRow& row : state.curve) {
    rows.push_back(CurveRowToJson(row, state.curve_num_w_columns));
  }
  curve["rows"] = rows;
  root["curve"] = curve;

  std::string text;
  PrintReadable(root, 0, &text);
  text += "\n";
  return text;
}

Status CheckpointFromJson(const std::string& text, const std::string& path, LearnerState* state) {
  const std::string where = "checkpoint '" + path + "': ";
  // A checkpoint nests 4 levels deep. Deeper values are refused before
  // parsing: the parser copies values recursively (ordered_json objects
  // copy their members when they grow), which a value nested a million
  // levels deep turns into a stack overflow.
  const size_t too_deep = FindExcessiveNesting(text, kMaxCheckpointNesting);
  if (too_deep != std::string::npos) {
    return InvalidArgumentError(where + "arrays and objects nested deeper than " +
                                std::to_string(kMaxCheckpointNesting) + " levels (at byte " +
                                std::to_string(too_deep) + ")");
  }
  Json root;
  try {
    root = Json::parse(text);
  } catch (const Json::parse_error& error) {
    return InvalidArgumentError(where + "not valid JSON (" +
                                (text.empty() ? "empty file" : error.what()) +
                                "); the file may be truncated");
  } catch (const Json::exception& error) {
    // E.g. out_of_range: a number beyond the range of a double.
    return InvalidArgumentError(where + "not a valid checkpoint (" + error.what() + ")");
  }
  Reader reader;
  LearnerState parsed;
  ReadState(&reader, root, &parsed);
  if (!reader.ok()) return InvalidArgumentError(where + reader.error());
  *state = std::move(parsed);
  return Status::Ok();
}

Status WriteCheckpoint(const std::string& path, const LearnerState& state, bool durable) {
  return WriteFileAtomically(path, CheckpointToJson(state), durable);
}

Status ReadCheckpoint(const std::string& path, LearnerState* state) {
  std::string text;
  Status status = ReadFileToString(path, &text);
  if (!status.ok()) return InvalidArgumentError("checkpoint: " + status.message());
  return CheckpointFromJson(text, path, state);
}

}  // namespace internal
}  // namespace ceres_wiberg
