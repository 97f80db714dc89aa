// ceres_wiberg: learning energy parameters by differentiating Ceres minimisers.
//
// StochasticLearner: minibatch stochastic learning of w over a
// TrainingObjective, for data sets too large for full-batch (Ceres) steps.
//
//   min_w  1/N sum_x L_x(w)
//
// Each iteration evaluates the examples of one minibatch (on worker threads),
// averages their losses and gradients, and takes one step of SGD, SGD with
// momentum, averaged SGD or Adam on the optimisation variables theta, where
// w_i = T_i(theta_i) is a per-coordinate parameterisation (identity, theta^2
// or exp(theta)) that keeps w positive. The step is optionally capped to a
// trust radius and projected onto per-coordinate bounds.
//
// Usage:
//   StochasticLearner::Options options;
//   options.optimiser = StochasticOptimiser::ADAM;
//   options.batch_size = 32;
//   options.num_epochs = 20;
//   options.checkpoint_path = "run/checkpoint.json";
//   StochasticLearner learner(options);
//   Eigen::VectorXd w = initial_w;           // the warm start
//   StochasticLearner::Summary summary;
//   Status status = learner.Learn(&objective, &w, &summary);
//   std::cout << summary.BriefReport() << "\n";
//   // After a crash, continue the same trajectory bit for bit:
//   status = learner.Resume("run/checkpoint.json", &objective, &w, &summary);
//
// Determinism. The minibatches come from a std::mt19937_64 seeded with
// Options::seed (shuffled with a portable Fisher-Yates, not std::shuffle), and
// the per-example gradients are summed in minibatch order, never in order of
// completion, so a run is bit-identical for the same seed with any
// num_threads, provided the objective's own results depend only on (example,
// w). Warm-started inner solves (examples that keep state between calls) can
// break this.
//
// Checkpoints are human-readable JSON (version 2) holding everything the
// trajectory depends on. Top-level keys: format, version, optimiser,
// num_parameters, num_examples, batch_size, shuffle, seed,
// parameter_transforms, trajectory (the options that shape the trajectory:
// momentum, Adam's settings, averaging start, trust radius, bounds, failure
// policy, and the objective's Identity()) (the run's identity); schedule
// (learning rate, decay, limits: may change on resume); iterations_completed,
// epochs_completed, num_steps, epoch_order, epoch_position, rng_state (the
// position, the RNG as std::mt19937_64 operator<< text); theta and w (both:
// the optimiser's variables and the iterate); optimiser_state (velocity;
// adam_m, adam_v; or w_average, num_averaged); epoch_in_progress (running
// sums of the current epoch); history (per-epoch summaries, maxima, skip
// counts, elapsed time); curve (columns and one row per iteration).
// Doubles are written so that they read back to the same bits; non-finite
// ones as "nan", "inf", "-inf". See internal stochastic_learner_checkpoint.h.
//
// Several processes (data parallelism, e.g. MPI). With
// Options::communicator set (ceres_wiberg/learner_communicator.h; over MPI:
// ceres_wiberg/mpi_communicator.h), Learn and Resume are collective: every
// process calls them with the same options (but for the communicator and
// the streams) and an objective over the same examples. Per minibatch each
// process evaluates only the examples Options::example_distribution gives
// it, on its own num_threads threads; the per-example losses, gradients and
// statuses are then gathered by every process and summed in minibatch order,
// as above, so the trajectory is bit-identical for any number of processes
// and threads, and equal to the single-process one. Every process holds the
// whole learner state; process 0 alone writes the checkpoint and the curve
// and prints progress, and on Resume reads the checkpoint and sends it to
// the others (so a run checkpointed with N processes resumes with M).
// Failures are the single process's: a failing example is skipped and
// counted (or stops the run) on every process alike; an exception thrown by
// EvaluateExample is caught and stops the run on every process with an
// error naming the example and the process; a file that process 0 cannot
// write stops every process. Processes that disagree (other options, data
// sizes or initial w) are detected when Learn starts and at every minibatch
// (the iterates' fingerprints) and stop with kInvalidArgument.

#ifndef CERES_WIBERG_STOCHASTIC_LEARNER_H_
#define CERES_WIBERG_STOCHASTIC_LEARNER_H_

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <limits>
#include <string>
#include <vector>

#include "Eigen/Core"
#include "ceres_wiberg/status.h"
#include "ceres_wiberg/training_objective.h"

namespace ceres_wiberg {

enum class StochasticOptimiser {
  // theta <- theta - lr_t g.
  SGD,
  // v <- momentum v + g;  theta <- theta - lr_t v  (heavy ball, v_0 = 0).
  SGD_MOMENTUM,
  // SGD iterates, plus the running mean of the iterates w_{t+1} of every
  // iteration t >= Options::averaging_start_iteration (Polyak-Ruppert). The
  // mean is taken in w (not theta), so bounds and positivity hold for it; it
  // is what Learn returns, what validation evaluates and what the
  // Summary reports as the model.
  AVERAGED_SGD,
  // Adam (Kingma and Ba 2015) with bias correction:
  //   m <- b1 m + (1 - b1) g,  v <- b2 v + (1 - b2) g^2,
  //   theta <- theta - lr_t (m / (1 - b1^k)) / (sqrt(v / (1 - b2^k)) + eps),
  // k the number of steps taken so far, this one included.
  ADAM,
};

// The parameterisation w_i = T(theta_i) of one coordinate. The optimiser works
// on theta; gradients are chained, dL/dtheta_i = dL/dw_i T'(theta_i).
enum class ParameterTransform {
  // w = theta.
  IDENTITY,
  // w = theta^2 >= 0; theta_0 = sqrt(w_0), and w_0 must be > 0 (theta = 0 is
  // a stationary point that SGD never leaves). theta may change sign unless
  // the lower bound is positive.
  SQUARED,
  // w = exp(theta) > 0 (until exp underflows, theta < -745); theta_0 =
  // log(w_0), w_0 > 0.
  EXP,
};

// Which process evaluates which example when there are several
// (Options::communicator); P processes, process p in [0, P).
enum class ExampleDistribution {
  // Example e (training or validation) on process e mod P, always: a
  // process's objective need only hold its shard of the data (its
  // EvaluateExample is called for no other example). Per minibatch the
  // processes get binomially distributed shares of its examples.
  SHARDED,
  // The example at position k of each minibatch (and validation example k)
  // on process k mod P: every process evaluates ceil or floor of batch/P
  // examples per step (balanced load), but any process may be asked for any
  // training example.
  ROUND_ROBIN,
};

enum class StochasticTermination {
  // Options::num_epochs epochs completed.
  MAX_EPOCHS,
  // Options::max_iterations iterations taken.
  MAX_ITERATIONS,
  // The iteration callback returned false.
  USER_REQUESTED,
  // An example failed (and failures are not skipped), or a checkpoint or
  // curve file could not be written. Summary::message says which.
  FAILURE,
};

const char* StochasticOptimiserToString(StochasticOptimiser optimiser);
const char* ParameterTransformToString(ParameterTransform transform);
const char* StochasticTerminationToString(StochasticTermination termination);
const char* ExampleDistributionToString(ExampleDistribution distribution);
// Inverses of the above (exact, upper-case names); false if unknown.
bool StringToStochasticOptimiser(const std::string& name, StochasticOptimiser* optimiser);
bool StringToParameterTransform(const std::string& name, ParameterTransform* transform);
bool StringToExampleDistribution(const std::string& name, ExampleDistribution* distribution);

class LearnerCommunicator;

// What the iteration callback sees after each step. Iterations and epochs
// count from 0. Vectors are in w unless named theta.
struct IterationRecord {
  int iteration = 0;
  int epoch = 0;
  // Examples in this minibatch (the last one of an epoch may be smaller),
  // and how many of them were skipped as failures.
  int batch_size = 0;
  int num_skipped_examples = 0;
  // The examples of this minibatch, in the order their gradients are summed.
  std::vector<int> examples;
  // The learning rate lr_t used by this step.
  double learning_rate = 0.0;
  // Mean loss and gradient dL/dw of the minibatch's evaluated examples at
  // w_evaluated (NaN loss and zero gradient if all were skipped; then no step
  // is taken).
  double loss = 0.0;
  Eigen::VectorXd w_evaluated;
  Eigen::VectorXd gradient;
  // The same point and gradient in theta: what the optimiser steps with.
  Eigen::VectorXd theta_evaluated;
  Eigen::VectorXd theta_gradient;
  // ||theta_gradient||_2, and ||theta - theta_evaluated||_2 after the trust
  // radius and the bounds.
  double gradient_norm = 0.0;
  double step_norm = 0.0;
  // The iterate after the step, in w and theta.
  Eigen::VectorXd w;
  Eigen::VectorXd theta;
  // AVERAGED_SGD: the averaged iterate after this step (equal to w before
  // averaging starts). Other optimisers: equal to w.
  Eigen::VectorXd w_average;
};

class StochasticLearner {
 public:
  struct Options {
    // ---- The optimiser.
    StochasticOptimiser optimiser = StochasticOptimiser::ADAM;

    // lr_t = learning_rate / (1 + learning_rate_decay t)^learning_rate_decay_power
    // at iteration t (counting from 0, across epochs and resumes). decay = 0
    // gives a constant step, as the averaged SGD of the paper's toy uses;
    // decay = 1/learning_rate with power 1 and batch size 1 turns SGD on
    // 1/2 (w - x_i)^2 into the running mean of the x_i.
    double learning_rate = 1e-3;
    double learning_rate_decay = 0.0;
    double learning_rate_decay_power = 1.0;

    // SGD_MOMENTUM: the factor on the previous velocity, in [0, 1).
    double momentum = 0.9;

    // ADAM: moment decay rates in [0, 1), and the denominator's epsilon > 0.
    double adam_beta1 = 0.9;
    double adam_beta2 = 0.999;
    double adam_epsilon = 1e-8;

    // AVERAGED_SGD: the first iteration whose resulting iterate enters the
    // average. Before it, the "average" is the current iterate; from it on,
    // it is the mean of w_{t+1} over iterations t >= averaging_start_iteration.
    int averaging_start_iteration = 0;

    // If > 0, each step (in theta) is scaled down to ||step||_2 <= trust_radius
    // before the projection onto the bounds, which never lengthens it.
    // 0: off.
    double trust_radius = 0.0;

    // ---- Minibatches and stopping.

    // Examples per minibatch (at most num_examples; the last minibatch of an
    // epoch holds the remainder). 1 is plain stochastic gradient descent.
    int batch_size = 1;

    // Visit the examples of each epoch in a fresh random order (from seed),
    // or in the fixed order 0, 1, ..., N-1.
    bool shuffle = true;
    uint64_t seed = 0;

    // Stop after num_epochs passes over the data or max_iterations steps,
    // whichever comes first; 0 means no limit, but at least one must be > 0.
    // Both count in total, across resumes: resuming with a larger num_epochs
    // extends a finished run.
    int num_epochs = 10;
    int max_iterations = 0;

    // Threads that evaluate the examples of a minibatch (and of the
    // validation set) concurrently; the calling thread is one of them.
    // At most kMaxNumThreads.
    int num_threads = 1;
    static constexpr int kMaxNumThreads = 1024;

    // ---- Parameters.

    // Per-coordinate parameterisation w_i = T(theta_i). Empty: all IDENTITY;
    // otherwise one entry per parameter.
    std::vector<ParameterTransform> parameter_transforms;

    // Per-coordinate bounds on w. Empty: unbounded; otherwise one entry per
    // parameter, +-infinity for an unbounded side. Each step is projected
    // onto them (in theta, where the box is an interval; SQUARED with a
    // positive lower bound keeps theta on its side of zero), so every iterate
    // and the averaged iterate lie within them. The initial w must too.
    std::vector<double> lower_bounds;
    std::vector<double> upper_bounds;

    // ---- Failures.

    // An example whose evaluation returns a non-OK status or a non-finite
    // loss or gradient. false: Learn returns that status (message naming
    // the example) with w at the last good iterate. true: the example is left
    // out of its minibatch's mean and counted in the Summary.
    bool skip_failed_examples = false;

    // ---- Monitoring.

    // If not null, its mean loss (over all its examples, no gradients) is
    // evaluated at the model w after every epoch, with the same failure
    // policy. Must outlive Learn.
    TrainingObjective* validation_objective = nullptr;

    // One line per epoch ("epoch   3/10  loss 1.234e-02  |g| 3.2e-03
    // |step| 1.1e-03  val 1.5e-02  2.3 s"): the epoch's mean example loss,
    // the norm of its mean dL/dtheta, its mean step norm, the validation
    // loss and the elapsed time. Null: silent.
    std::ostream* progress_stream = nullptr;

    // If not empty, a CSV with a header line and one row per iteration:
    // iteration, epoch, loss, gradient_norm, step_norm, learning_rate and,
    // when num_parameters <= curve_max_parameters, w_0, w_1, ... after the
    // step. Doubles in %.17g. Written atomically at every checkpoint and
    // when Learn returns. Must not be the checkpoint_path.
    std::string curve_csv_path;
    int curve_max_parameters = 16;

    // Called after every step (see IterationRecord); return false to stop.
    std::function<bool(const IterationRecord&)> iteration_callback;

    // ---- Checkpoints.

    // If not empty, a checkpoint is written here (atomically: path + ".tmp",
    // fsync, rename; see durable_writes) every checkpoint_every_n_epochs epochs and/or every
    // checkpoint_every_n_iterations iterations (0: never), and when Learn
    // stops for any reason other than FAILURE, so that Resume can extend or
    // continue the run.
    std::string checkpoint_path;
    int checkpoint_every_n_epochs = 1;
    int checkpoint_every_n_iterations = 0;

    // fsync checkpoint and curve files before the rename (and their
    // directory after it), so that they survive a power loss. Replacement is
    // atomic either way; false trades durability for speed (tmpfs, tests,
    // frequent checkpoints on slow disks).
    bool durable_writes = true;

    // ---- Several processes.

    // If not null, this process is process communicator->rank() of
    // communicator->size() that learn together (see the file comment); null
    // or a communicator of size 1: one process. Must outlive Learn.
    LearnerCommunicator* communicator = nullptr;
    // Which process evaluates which example (not part of the trajectory: it
    // may change on resume).
    ExampleDistribution example_distribution = ExampleDistribution::SHARDED;

    bool IsValid(std::string* error) const;
  };

  // One pass over the data (or the part of it taken before Learn stopped).
  struct EpochSummary {
    int epoch = 0;
    // Iterations in this epoch; false for the last, interrupted epoch.
    int num_iterations = 0;
    bool complete = true;
    // Mean loss of the epoch's evaluated examples (each at the iterate its
    // minibatch saw), the norm of their mean dL/dtheta and the mean step norm.
    double loss = 0.0;
    double gradient_norm = 0.0;
    double mean_step_norm = 0.0;
    // Mean validation loss at the end of the epoch; NaN without a validation
    // objective.
    double validation_loss = std::numeric_limits<double>::quiet_NaN();
    // Wall time since the run started (across resumes) at the epoch's end.
    double elapsed_seconds = 0.0;
  };

  struct Summary {
    StochasticTermination termination = StochasticTermination::FAILURE;
    // Why Learn stopped; for FAILURE the error.
    std::string message;

    StochasticOptimiser optimiser = StochasticOptimiser::ADAM;
    int num_examples = 0;
    int num_parameters = 0;
    int batch_size = 0;
    int num_threads = 0;
    // Processes that learnt together (1 without a communicator).
    int num_processes = 1;

    // Totals across resumes. num_epochs counts complete epochs.
    int num_iterations = 0;
    int num_epochs = 0;
    // True if this run continued a checkpoint taken after
    // resumed_from_iteration iterations.
    bool resumed = false;
    int resumed_from_iteration = 0;
    // When resumed: the options that may change on resume (learning rate,
    // decay, limits) and differ from the checkpoint's run, one entry each,
    // "learning_rate 0.05 -> 0.01".
    std::vector<std::string> resume_changes;

    // Every epoch, the complete ones (from the checkpoint, when resumed) then
    // the interrupted one if Learn stopped mid-epoch.
    std::vector<EpochSummary> epochs;

    // The last and the lowest epoch loss (NaN if no epoch), and the latter's
    // epoch; likewise for the validation loss.
    double final_loss = std::numeric_limits<double>::quiet_NaN();
    double best_loss = std::numeric_limits<double>::quiet_NaN();
    int best_epoch = -1;
    double final_validation_loss = std::numeric_limits<double>::quiet_NaN();
    double best_validation_loss = std::numeric_limits<double>::quiet_NaN();
    int best_validation_epoch = -1;

    // Largest ||dL/dtheta||_2 of a minibatch and largest step norm seen, and
    // the number of steps the trust radius shortened.
    double max_gradient_norm = 0.0;
    double max_step_norm = 0.0;
    int num_capped_steps = 0;

    // Examples skipped as failures (with Options::skip_failed_examples),
    // counted once per evaluation.
    int num_skipped_examples = 0;
    int num_skipped_validation_examples = 0;

    // Wall time of this call, and since the run started (across resumes).
    double time_in_seconds = 0.0;
    double total_time_in_seconds = 0.0;
    // Of this call's time, on this process: evaluating its training
    // examples (the ParallelFor over its share of each minibatch), and, with
    // several processes, exchanging results (including waiting for slower
    // processes: with balanced loads it is the communication time).
    double evaluation_time_in_seconds = 0.0;
    double communication_time_in_seconds = 0.0;

    // One line: optimiser, iterations, epochs, losses, termination.
    std::string BriefReport() const;
    // Settings, totals and the per-epoch table.
    std::string FullReport() const;
  };

  explicit StochasticLearner(const Options& options);

  const Options& options() const { return options_; }

  // Learns from *w (the warm start: the initial value, within the bounds,
  // positive where the transform needs it) and returns the model in *w (the
  // averaged iterate for AVERAGED_SGD). The first iterate is w = T(theta_0)
  // with theta_0 = T^-1(*w), which for SQUARED and EXP may differ from *w in
  // the last bit. `summary` may be null.
  //
  // Errors: invalid options, or options that do not fit the objective
  // (kInvalidArgument); an example's status, naming the example
  // (kNumericalFailure for a non-finite loss or gradient), unless skipped;
  // a checkpoint or curve file that cannot be written (kInternalError).
  // On error *w is the model at the last good iterate.
  Status Learn(TrainingObjective* objective, Eigen::VectorXd* w, Summary* summary);

  // Continues the run saved in the checkpoint at `checkpoint_path` with these
  // options, so that a run stopped and resumed is bit-identical to one that
  // never stopped. The optimiser, batch size, shuffle flag, transforms and
  // the objective's sizes must match the checkpoint's, and so must the
  // options that shape the trajectory (momentum for SGD_MOMENTUM, adam_*
  // for ADAM, averaging_start_iteration for AVERAGED_SGD, trust_radius,
  // bounds, skip_failed_examples) and the objective's Identity(): a mismatch
  // is kInvalidArgument naming the field. The seed is unused (the RNG state
  // is restored); the others (learning rate and its decay, limits,
  // checkpointing, threads) may change, and changes of the learning rate,
  // its decay and the limits are listed in Summary::resume_changes. *w is
  // output only. A missing, truncated or
  // malformed checkpoint gives kInvalidArgument naming the file and the key.
  Status Resume(const std::string& checkpoint_path, TrainingObjective* objective,
                Eigen::VectorXd* w, Summary* summary);

 private:
  Options options_;
};

}  // namespace ceres_wiberg

#endif  // CERES_WIBERG_STOCHASTIC_LEARNER_H_
