// human_pose_mpi: the multi-view human-pose model (supplementary section 4)
// trained with the stochastic learner on several MPI processes.
//
//   mpirun -np 2 build/examples/human_pose/human_pose_mpi --output_dir=out/human_pose_mpi
//   # as root (containers, these machines):
//   mpirun --allow-run-as-root --oversubscribe -np 2 build/examples/human_pose/human_pose_mpi
//
// Every process generates the same synthetic Human3.6M-like data (the
// demo size of human_pose) and fits the same baseline PPCA mixture (K = 3,
// deterministic); the learner then gives each process every P-th frame of
// each minibatch (ROUND_ROBIN; or, with --distribution=SHARDED, its fixed
// shard of the frames: ceres_wiberg::ExampleDistribution), gathers their losses
// and gradients and sums them in minibatch order, so the model learnt is
// bit-identical for any number of processes and threads: the program prints
// a fingerprint of it to compare runs. Process 0 alone prints, writes the
// checkpoint (after every epoch; --resume continues it, with any number of
// processes), the learning curve and the JSON. The test frames are fitted
// before and after learning, each process fitting every P-th frame.

#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "ceres_wiberg/file.h"
#include "ceres_wiberg/mpi_communicator.h"
#include "ceres_wiberg/stochastic_learner.h"
#include "ceres_wiberg/thread_pool.h"
#include "common/output_paths.h"
#include "gflags/gflags.h"
#include "mpi.h"
#include "nlohmann/json.hpp"
#include "pose_learning.h"
#include "ppca_fit.h"
#include "synthetic_h36m.h"

DEFINE_uint64(seed, 1, "Seed of the data, the k-means of the baseline and the minibatches.");
DEFINE_int32(threads, 1, "Threads per process for fitting and learning.");
DEFINE_int32(epochs, 2, "Epochs of training in all (human_pose --size=demo trains 4).");
DEFINE_int32(schedule_epochs, 0,
             "The learning rate decays as lr / (1 + 2 t / T), T the steps of this many "
             "epochs (as human_pose); 0: --epochs. A run stopped early and resumed keeps "
             "its trajectory when it keeps T: e.g. --epochs=1 --schedule_epochs=2, then "
             "--resume --epochs=2.");DEFINE_int32(train_stride, 2,
             "The learner uses every n-th training frame (2: the 750 frames of the demo size).");
DEFINE_int32(test_stride, 4, "Every n-th test frame is fitted before and after (4: 150).");
DEFINE_string(distribution, "ROUND_ROBIN",
              "Which process evaluates which frame: ROUND_ROBIN (minibatch position k on "
              "process k mod P: the same number of frames per process and step; every process "
              "holds all frames here) or SHARDED (frame f on process f mod P, always).");
DEFINE_string(output_dir, "", "Checkpoint and learning curve go here; empty: none.");
DEFINE_bool(resume, false, "Continue the checkpoint in --output_dir (with any number of processes).");
DEFINE_bool(evaluate, true, "Fit the test frames before and after learning.");
DEFINE_string(output_json, "", "Write the results here (JSON, process 0); empty: none.");

namespace {

using ceres_wiberg::MpiCommunicator;
using ceres_wiberg::Status;
using namespace human_pose;  // NOLINT: an example program

std::vector<Frame> EveryNth(const std::vector<Frame>& frames, int stride) {
  std::vector<Frame> kept;
  for (size_t i = 0; i < frames.size(); i += stride) kept.push_back(frames[i]);
  return kept;
}

// FNV-1a of the model's learnt vector: equal fingerprints, equal bits.
uint64_t Fingerprint(const Eigen::VectorXd& w) {
  uint64_t hash = 14695981039346656037ull;
  const unsigned char* bytes = reinterpret_cast<const unsigned char*>(w.data());
  for (size_t i = 0; i < sizeof(double) * static_cast<size_t>(w.size()); ++i) {
    hash = (hash ^ bytes[i]) * 1099511628211ull;
  }
  return hash;
}

// Mean P1 (mm) over `frames`, each process fitting frames f with f mod P ==
// rank on its threads. The per-frame errors are combined exactly (a sum of
// one value and zeros) and averaged in frame order: the same on every
// process and for every P. A failed fit on any process is an error on all.
Status DistributedP1(const MpiCommunicator& world, const PoseModel& model,
                     const std::vector<Camera>& cameras, const std::vector<Frame>& frames,
                     const PoseFitOptions& fit_options, double* p1) {
  const int n = static_cast<int>(frames.size());
  std::vector<int> own;
  for (int f = world.rank(); f < n; f += world.size()) own.push_back(f);
  std::vector<double> errors(n, 0.0), failed(n, 0.0);
  ceres_wiberg::ParallelFor(static_cast<int>(own.size()), FLAGS_threads, [&](int i) {
    const int f = own[i];
    double loss = 0.0;
    const Status status = EvaluatePoseModel(model, cameras, {frames[f]}, fit_options, 1, &loss,
                                            &errors[f]);
    if (!status.ok()) failed[f] = 1.0;
  });
  MPI_Allreduce(MPI_IN_PLACE, errors.data(), n, MPI_DOUBLE, MPI_SUM, world.communicator());
  MPI_Allreduce(MPI_IN_PLACE, failed.data(), n, MPI_DOUBLE, MPI_SUM, world.communicator());
  double sum = 0.0;
  for (int f = 0; f < n; ++f) {
    if (failed[f] != 0.0) {
      return Status(ceres_wiberg::StatusCode::kNoConvergence,
                    "the fit of test frame " + std::to_string(f) + " failed");
    }
    sum += errors[f];
  }
  *p1 = sum / n;
  return Status::Ok();
}

// Examples the learner evaluated in iterations [first, end) of a run over
// num_examples examples in minibatches of batch_size (the last minibatch of
// an epoch holds the remainder).
double ExamplesEvaluated(int first, int end, int num_examples, int batch_size) {
  const int steps_per_epoch = (num_examples + batch_size - 1) / batch_size;
  double count = 0.0;
  for (int t = first; t < end; ++t) {
    count += t % steps_per_epoch == steps_per_epoch - 1
                 ? num_examples - batch_size * (steps_per_epoch - 1)
                 : batch_size;
  }
  return count;
}

int Run(MpiCommunicator& world) {
  const bool root = world.rank() == 0;
  auto say = [root](const char* format, auto... args) {
    if (root) {
      std::printf(format, args...);
      std::fflush(stdout);
    }
  };
  auto fail = [root](const std::string& what, const Status& status) {
    // Every process gets the same status (the learner's and DistributedP1's
    // are collective); process 0 reports it.
    if (root) std::fprintf(stderr, "%s: %s\n", what.c_str(), status.ToString().c_str());
    return 1;
  };
  ceres_wiberg::ExampleDistribution distribution;
  if (!ceres_wiberg::StringToExampleDistribution(FLAGS_distribution, &distribution) ||
      FLAGS_threads < 1 || FLAGS_epochs < 1 || FLAGS_schedule_epochs < 0 ||
      FLAGS_train_stride < 1 || FLAGS_test_stride < 1) {
    if (root) {
      std::fprintf(stderr, "bad flags: --distribution SHARDED or ROUND_ROBIN, --threads, "
                           "--epochs, --train_stride and --test_stride >= 1\n");
    }
    return 2;
  }
  if (FLAGS_resume && FLAGS_output_dir.empty()) {
    if (root) std::fprintf(stderr, "--resume needs the --output_dir of the checkpoint\n");
    return 2;
  }
  // The outputs, before the long work; every process learns whether process
  // 0 can write them.
  int made = 1;
  if (root) {
    Status output = Status::Ok();
    if (!FLAGS_output_dir.empty()) {
      output = examples::PrepareOutputDirectory("--output_dir", FLAGS_output_dir);
    }
    if (output.ok() && !FLAGS_output_json.empty()) {
      output = examples::CheckOutputFile("--output_json", FLAGS_output_json);
    }
    if (!output.ok()) {
      std::fprintf(stderr, "%s\n", output.ToString().c_str());
      made = 0;
    }
  }
  MPI_Bcast(&made, 1, MPI_INT, 0, world.communicator());
  if (!made) return 2;

  // The data: human_pose's demo size, the same on every process.
  SyntheticH36MOptions data;
  data.seed = FLAGS_seed;
  data.sequences_per_action = 1;
  data.frames_per_sequence = 20;
  Dataset train, test;
  Status status = GenerateSyntheticH36M(data, TrainSubjects(), &train);
  if (!status.ok()) return fail("generating the training subjects", status);
  status = GenerateSyntheticH36M(data, TestSubjects(), &test);
  if (!status.ok()) return fail("generating the test subjects", status);
  std::vector<Pose> training_poses;
  for (const Frame& frame : train.frames) training_poses.push_back(frame.pose);
  const std::vector<Frame> training_frames = EveryNth(train.frames, FLAGS_train_stride);
  const std::vector<Frame> test_frames = EveryNth(test.frames, FLAGS_test_stride);

  PoseModel model;
  PpcaFitOptions ppca;
  ppca.num_components = 3;
  ppca.seed = FLAGS_seed;
  status = FitPpcaMixture(training_poses, ppca, &model);
  if (!status.ok()) return fail("fitting the baseline PPCA mixture", status);
  PoseFitOptions fit_options;
  fit_options.views = {0, 1, 2, 3};
  fit_options.camera_model = CameraModel::kCalibratedPerspective;
  fit_options.num_rotation_seeds = 4;
  say("human_pose_mpi: %d process(es) x %d thread(s), %s; multi-view K = 3, l2; %zu training "
      "frames, %zu test frames\n",
      world.size(), FLAGS_threads, FLAGS_distribution.c_str(), training_frames.size(),
      test_frames.size());

  double baseline_p1 = NAN, trained_p1 = NAN;
  if (FLAGS_evaluate) {
    status = DistributedP1(world, model, train.cameras, test_frames, fit_options, &baseline_p1);
    if (!status.ok()) return fail("evaluating the baseline", status);
    say("  baseline   test P1 %.1f mm\n", baseline_p1);
  }

  PoseLearningOptions options;
  options.num_epochs = FLAGS_epochs;
  options.batch_size = 16;
  const int schedule_epochs = FLAGS_schedule_epochs > 0 ? FLAGS_schedule_epochs : FLAGS_epochs;
  const int steps = schedule_epochs * ((static_cast<int>(training_frames.size()) + 15) / 16);
  options.learning_rate_decay = 2.0 / std::max(1, steps);  // as human_pose
  options.num_threads = FLAGS_threads;
  options.seed = FLAGS_seed;
  options.evaluate_training_error = false;
  options.progress_stream = &std::cout;  // the learner prints on process 0 only
  options.communicator = &world;
  options.example_distribution = distribution;
  if (!FLAGS_output_dir.empty()) {
    options.curve_csv_path = FLAGS_output_dir + "/learning_curve.csv";
    options.checkpoint_path = FLAGS_output_dir + "/checkpoint.json";
  }
  if (FLAGS_resume) options.resume_from = options.checkpoint_path;
  PoseLearningSummary learning;
  status = TrainPoseModel(train.cameras, training_frames, fit_options, options, &model, &learning);
  if (!status.ok()) return fail("training", status);
  const ceres_wiberg::StochasticLearner::Summary& s = learning.learner_summary;
  const PoseParameterLayout layout(model, options.groups, fit_options.loss, options.shape_unit);
  const Eigen::VectorXd w = layout.Pack(model);
  say("  learnt %d parameters: %d epochs, %d steps, %d skipped; model fingerprint %016" PRIx64
      "\n",
      learning.num_parameters, s.num_epochs, s.num_iterations, s.num_skipped_examples,
      Fingerprint(w));
  const double evaluations =
      ExamplesEvaluated(s.resumed_from_iteration, s.num_iterations,
                        static_cast<int>(training_frames.size()), options.batch_size);
  const double examples_per_second =
      s.time_in_seconds > 0.0 ? evaluations / s.time_in_seconds : NAN;
  say("  training: %.1f s, %.2f examples/s (%d process(es) x %d thread(s))\n", s.time_in_seconds,
      examples_per_second, world.size(), FLAGS_threads);
  // Per process: time evaluating its frames, and exchanging (mostly waiting
  // for the slowest process of each step).
  double times[2] = {s.evaluation_time_in_seconds, s.communication_time_in_seconds};
  std::vector<double> all_times(2 * world.size());
  MPI_Gather(times, 2, MPI_DOUBLE, all_times.data(), 2, MPI_DOUBLE, 0, world.communicator());
  for (int r = 0; r < world.size(); ++r) {
    say("    process %d: evaluating %.1f s, exchanging %.1f s\n", r, all_times[2 * r],
        all_times[2 * r + 1]);
  }
  if (FLAGS_evaluate) {
    status = DistributedP1(world, model, train.cameras, test_frames, fit_options, &trained_p1);
    if (!status.ok()) return fail("evaluating the trained model", status);
    say("  trained    test P1 %.1f mm (baseline %.1f mm)\n", trained_p1, baseline_p1);
  }
  if (root && !FLAGS_output_json.empty()) {
    char fingerprint[32];
    std::snprintf(fingerprint, sizeof(fingerprint), "%016" PRIx64, Fingerprint(w));
    nlohmann::json json = {
        {"processes", world.size()},
        {"threads_per_process", FLAGS_threads},
        {"distribution", FLAGS_distribution},
        {"training_frames", training_frames.size()},
        {"parameters", learning.num_parameters},
        {"epochs", s.num_epochs},
        {"iterations", s.num_iterations},
        {"skipped_examples", s.num_skipped_examples},
        {"epoch_losses", learning.epoch_losses},
        {"train_seconds", s.time_in_seconds},
        {"examples_evaluated", evaluations},
        {"evaluation_seconds_per_process", [&] {
           std::vector<double> v;
           for (int r = 0; r < world.size(); ++r) v.push_back(all_times[2 * r]);
           return v;
         }()},
        {"exchange_seconds_per_process", [&] {
           std::vector<double> v;
           for (int r = 0; r < world.size(); ++r) v.push_back(all_times[2 * r + 1]);
           return v;
         }()},
        {"examples_per_second", examples_per_second},
        {"model_fingerprint", fingerprint},
        {"baseline_test_p1", std::isfinite(baseline_p1) ? nlohmann::json(baseline_p1) : nullptr},
        {"trained_test_p1", std::isfinite(trained_p1) ? nlohmann::json(trained_p1) : nullptr}};
    status = ceres_wiberg::WriteFileAtomically(FLAGS_output_json, json.dump(2) + "\n");
    if (!status.ok()) std::fprintf(stderr, "%s\n", status.ToString().c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  MPI_Init(&argc, &argv);
  int result = 0;
  {
    MpiCommunicator world(MPI_COMM_WORLD);
    try {
      result = Run(world);  // NOLINT: a non-const reference to the communicator
    } catch (const std::exception& exception) {
      // Not recoverable here, and the other processes would wait for this
      // one: end them all with the message.
      world.Abort(std::string("uncaught exception: ") + exception.what());
    } catch (...) {
      world.Abort("uncaught exception that is not a std::exception");
    }
  }
  MPI_Finalize();
  return result;
}
