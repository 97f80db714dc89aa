// MpiCommunicator and StochasticLearner on several MPI processes. Run under
// mpirun with any number of processes P (ctest runs P = 1, 2 and 3):
// every test compares the distributed run with the single-process learner
// that each process also runs on its own, bit for bit.
//
// The objective is a small bilevel problem per example (robust fusion of
// four sensors: a Cauchy-loss inner solve in Ceres and the reverse-mode
// derivative), so each example is what a real one is: a solve, a
// linearisation and an adjoint solve.

#include "ceres_wiberg/mpi_communicator.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "ceres/autodiff_cost_function.h"
#include "ceres/loss_function.h"
#include "ceres/problem.h"
#include "ceres_wiberg/bilevel_example.h"
#include "ceres_wiberg/bilevel_problem.h"
#include "ceres_wiberg/bilevel_training_objective.h"
#include "ceres_wiberg/file.h"
#include "ceres_wiberg/stochastic_learner.h"
#include "gtest/gtest.h"
#include "mpi.h"

namespace ceres_wiberg {
namespace {

constexpr int kNumSensors = 4;

// r = w (y - x): a sensor at x whose trust is w, under a Cauchy loss.
struct SensorTerm {
  SensorTerm(double x0, double x1) : x{x0, x1} {}
  template <typename T>
  bool operator()(const T* y, const T* w, T* r) const {
    r[0] = w[0] * (y[0] - x[0]);
    r[1] = w[0] * (y[1] - x[1]);
    return true;
  }
  double x[2];
};

// The outer loss: r = y* - truth.
struct TruthTerm {
  TruthTerm(double t0, double t1) : t{t0, t1} {}
  template <typename T>
  bool operator()(const T* y, T* r) const {
    r[0] = y[0] - t[0];
    r[1] = y[1] - t[1];
    return true;
  }
  double t[2];
};

// One frame: four sensors see a point with noise of different scales (the
// third one now and then grossly wrong); the weights are learnt.
struct FusionFrame {
  FusionFrame(int index, bool warm_start) {
    const double truth[2] = {std::sin(0.7 * index), std::cos(1.3 * index)};
    const double noise[kNumSensors] = {0.05, 0.2, 0.5, 1.0};
    for (int k = 0; k < kNumSensors; ++k) {
      double x[2];
      for (int d = 0; d < 2; ++d) {
        x[d] = truth[d] + noise[k] * std::sin(3.1 * index + 1.7 * k + 2.3 * d + 0.4 * index * k);
      }
      if (k == 2 && index % 5 == 0) x[0] += 3.0;
      problem.AddResidualBlock(
          new ceres::AutoDiffCostFunction<SensorTerm, 2, 2, 1>(new SensorTerm(x[0], x[1])),
          new ceres::CauchyLoss(1.0), y, w[k]);
    }
    std::vector<double*> learnable;
    for (int k = 0; k < kNumSensors; ++k) learnable.push_back(w[k]);
    EXPECT_TRUE(BilevelProblem::Create(&problem, learnable, &bilevel).ok());
    BilevelExample::Options options;
    options.warm_start = warm_start;
    EXPECT_TRUE(BilevelExample::Create(bilevel.get(),
                                       new ceres::AutoDiffCostFunction<TruthTerm, 2, 2>(
                                           new TruthTerm(truth[0], truth[1])),
                                       ceres::TAKE_OWNERSHIP, {y}, options, &example)
                    .ok());
  }
  double y[2] = {0.0, 0.0};
  double w[kNumSensors][1] = {{1.0}, {1.0}, {1.0}, {1.0}};
  ceres::Problem problem;
  std::unique_ptr<BilevelProblem> bilevel;
  std::unique_ptr<BilevelExample> example;
};

// A fresh data set (examples keep warm-start state: every run gets its own),
// with failure injection.
class FusionObjective : public TrainingObjective {
 public:
  FusionObjective(int num_examples, int first_index, bool warm_start) {
    std::vector<BilevelExample*> examples;
    for (int i = 0; i < num_examples; ++i) {
      frames_.push_back(std::make_unique<FusionFrame>(first_index + i, warm_start));
      examples.push_back(frames_.back()->example.get());
    }
    objective_ = std::make_unique<BilevelTrainingObjective>(examples);
  }
  int num_examples() const override { return objective_->num_examples(); }
  int num_parameters() const override { return objective_->num_parameters(); }
  std::string Identity() const override { return "mpi_communicator_test fusion"; }
  Status EvaluateExample(int example, const Eigen::VectorXd& w, double* loss,
                         Eigen::VectorXd* gradient) override {
    if (example == failing_example) {
      return Status(StatusCode::kNoConvergence, "injected failure");
    }
    if (example == throwing_example) throw std::runtime_error("injected exception");
    if (example == dying_example) std::_Exit(3);
    return objective_->EvaluateExample(example, w, loss, gradient);
  }

  int failing_example = -1;
  int throwing_example = -1;
  int dying_example = -1;

 private:
  std::vector<std::unique_ptr<FusionFrame>> frames_;
  std::unique_ptr<BilevelTrainingObjective> objective_;
};

constexpr int kNumExamples = 23;  // batches of 5: the last one of an epoch has 3

StochasticLearner::Options BaseOptions() {
  StochasticLearner::Options options;
  options.optimiser = StochasticOptimiser::ADAM;
  options.learning_rate = 0.05;
  options.batch_size = 5;
  options.num_epochs = 4;
  options.seed = 11;
  options.parameter_transforms.assign(kNumSensors, ParameterTransform::EXP);
  options.durable_writes = false;
  return options;
}

// Everything a run's trajectory shows, bit for bit.
struct Trajectory {
  Status status;
  Eigen::VectorXd w;
  std::vector<double> losses;          // per iteration
  std::vector<Eigen::VectorXd> iterates;
  std::vector<double> epoch_losses, validation_losses;
  int num_iterations = 0;
  int num_skipped = 0;
  int num_skipped_validation = 0;
  int num_processes = 0;
};

struct RunSpec {
  LearnerCommunicator* communicator = nullptr;
  ExampleDistribution distribution = ExampleDistribution::SHARDED;
  int num_threads = 1;
  bool warm_start = true;
  bool validation = true;
  int failing_example = -1;
  bool skip_failed_examples = false;
  int num_epochs = 4;
  std::string checkpoint_path;
  std::string resume_from;  // Resume from this checkpoint instead of Learn
};

Trajectory RunLearner(const RunSpec& spec, FusionObjective* objective = nullptr) {
  FusionObjective own(kNumExamples, 0, spec.warm_start);
  if (objective == nullptr) objective = &own;
  objective->failing_example = spec.failing_example;
  FusionObjective validation(7, 100, spec.warm_start);
  StochasticLearner::Options options = BaseOptions();
  options.communicator = spec.communicator;
  options.example_distribution = spec.distribution;
  options.num_threads = spec.num_threads;
  options.skip_failed_examples = spec.skip_failed_examples;
  options.num_epochs = spec.num_epochs;
  options.checkpoint_path = spec.checkpoint_path;
  if (spec.validation) options.validation_objective = &validation;
  Trajectory t;
  options.iteration_callback = [&t](const IterationRecord& record) {
    t.losses.push_back(record.loss);
    t.iterates.push_back(record.w);
    return true;
  };
  StochasticLearner learner(options);
  Eigen::VectorXd w = Eigen::VectorXd::Ones(kNumSensors);
  StochasticLearner::Summary summary;
  t.status = spec.resume_from.empty() ? learner.Learn(objective, &w, &summary)
                                      : learner.Resume(spec.resume_from, objective, &w, &summary);
  t.w = w;
  for (const auto& epoch : summary.epochs) {
    t.epoch_losses.push_back(epoch.loss);
    t.validation_losses.push_back(epoch.validation_loss);
  }
  t.num_iterations = summary.num_iterations;
  t.num_skipped = summary.num_skipped_examples;
  t.num_skipped_validation = summary.num_skipped_validation_examples;
  t.num_processes = summary.num_processes;
  return t;
}

bool SameBits(double a, double b) { return std::memcmp(&a, &b, sizeof(a)) == 0; }

bool SameBits(const Eigen::VectorXd& a, const Eigen::VectorXd& b) {
  return a.size() == b.size() &&
         std::memcmp(a.data(), b.data(), sizeof(double) * a.size()) == 0;
}

void ExpectBitIdentical(const Trajectory& expected, const Trajectory& actual) {
  ASSERT_TRUE(expected.status.ok()) << expected.status.ToString();
  ASSERT_TRUE(actual.status.ok()) << actual.status.ToString();
  EXPECT_TRUE(SameBits(expected.w, actual.w))
      << "w " << expected.w.transpose() << " vs " << actual.w.transpose();
  EXPECT_EQ(expected.num_iterations, actual.num_iterations);
  EXPECT_EQ(expected.num_skipped, actual.num_skipped);
  EXPECT_EQ(expected.num_skipped_validation, actual.num_skipped_validation);
  ASSERT_EQ(expected.epoch_losses.size(), actual.epoch_losses.size());
  for (size_t e = 0; e < expected.epoch_losses.size(); ++e) {
    EXPECT_TRUE(SameBits(expected.epoch_losses[e], actual.epoch_losses[e])) << "epoch " << e;
    EXPECT_TRUE(SameBits(expected.validation_losses[e], actual.validation_losses[e]))
        << "epoch " << e;
  }
  // The resumed part of a trajectory is the tail of the whole one.
  ASSERT_LE(actual.losses.size(), expected.losses.size());
  const size_t offset = expected.losses.size() - actual.losses.size();
  for (size_t i = 0; i < actual.losses.size(); ++i) {
    EXPECT_TRUE(SameBits(expected.losses[offset + i], actual.losses[i])) << "iteration " << i;
    EXPECT_TRUE(SameBits(expected.iterates[offset + i], actual.iterates[i])) << "iteration " << i;
  }
}

int WorldRank() {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}

int WorldSize() {
  int size = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  return size;
}

// A directory of process 0's making, the same path on every process.
std::string SharedTemporaryDirectory() {
  char path[4096] = {0};
  if (WorldRank() == 0) {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "mpi_communicator_test_XXXXXX").string();
    std::vector<char> buffer(pattern.begin(), pattern.end());
    buffer.push_back('\0');
    if (mkdtemp(buffer.data()) == nullptr) std::abort();
    std::snprintf(path, sizeof(path), "%s", buffer.data());
  }
  MPI_Bcast(path, sizeof(path), MPI_CHAR, 0, MPI_COMM_WORLD);
  return path;
}

TEST(MpiCommunicator, AllGatherReturnsEveryProcessBytesInRankOrder) {
  MpiCommunicator world(MPI_COMM_WORLD);
  EXPECT_EQ(world.rank(), WorldRank());
  EXPECT_EQ(world.size(), WorldSize());
  // Sizes differ by rank, including an empty message and embedded zeros.
  std::string local(static_cast<size_t>(3 * world.rank()), '\0');
  for (size_t i = 0; i < local.size(); ++i) local[i] = static_cast<char>(i % 2 ? 0 : world.rank());
  std::vector<std::string> all;
  world.AllGather(local, &all);
  ASSERT_EQ(static_cast<int>(all.size()), world.size());
  for (int r = 0; r < world.size(); ++r) {
    ASSERT_EQ(all[r].size(), static_cast<size_t>(3 * r));
    for (size_t i = 0; i < all[r].size(); ++i) {
      EXPECT_EQ(all[r][i], static_cast<char>(i % 2 ? 0 : r));
    }
  }
}

TEST(MpiStochasticLearner, BitIdenticalForAnyNumberOfProcessesAndThreads) {
  MpiCommunicator world(MPI_COMM_WORLD), self(MPI_COMM_SELF);
  RunSpec reference;  // one process, one thread, no communicator
  const Trajectory expected = RunLearner(reference);
  ASSERT_TRUE(expected.status.ok());
  EXPECT_GT(expected.num_iterations, 0);
  EXPECT_EQ(expected.num_processes, 1);
  for (LearnerCommunicator* communicator : {static_cast<LearnerCommunicator*>(&world),
                                            static_cast<LearnerCommunicator*>(&self)}) {
    for (int threads : {1, 2}) {
      SCOPED_TRACE("processes " + std::to_string(communicator->size()) + ", threads " +
                   std::to_string(threads));
      RunSpec spec;
      spec.communicator = communicator;
      spec.num_threads = threads;
      const Trajectory actual = RunLearner(spec);
      ExpectBitIdentical(expected, actual);
      EXPECT_EQ(actual.num_processes, communicator->size());
    }
  }
}

TEST(MpiStochasticLearner, RoundRobinIsBitIdenticalWithoutWarmStarts) {
  // Round robin sends an example to different processes from one epoch to
  // the next, so per-example state (warm starts) would differ: cold starts.
  MpiCommunicator world(MPI_COMM_WORLD);
  RunSpec reference;
  reference.warm_start = false;
  const Trajectory expected = RunLearner(reference);
  RunSpec spec = reference;
  spec.communicator = &world;
  spec.distribution = ExampleDistribution::ROUND_ROBIN;
  ExpectBitIdentical(expected, RunLearner(spec));
}

TEST(MpiStochasticLearner, ACheckpointOfNProcessesResumesWithM) {
  MpiCommunicator world(MPI_COMM_WORLD), self(MPI_COMM_SELF);
  const std::string directory = SharedTemporaryDirectory();
  const std::string rank = std::to_string(world.rank());
  RunSpec reference;
  reference.warm_start = false;  // a resumed run starts its examples afresh
  const Trajectory expected = RunLearner(reference);

  // P processes for 2 epochs (process 0 writes), then each process resumes
  // alone (P = 1) for the last 2.
  RunSpec first = reference;
  first.communicator = &world;
  first.num_epochs = 2;
  first.checkpoint_path = directory + "/world.json";
  const Trajectory head = RunLearner(first);
  ASSERT_TRUE(head.status.ok()) << head.status.ToString();
  if (world.rank() == 0) EXPECT_TRUE(std::filesystem::exists(first.checkpoint_path));
  RunSpec second = reference;
  second.communicator = &self;
  second.resume_from = first.checkpoint_path;
  second.checkpoint_path = directory + "/self_" + rank + ".json";
  ExpectBitIdentical(expected, RunLearner(second));

  // One process for 2 epochs, then P processes resume its checkpoint (read
  // by process 0 and sent to the others).
  first.communicator = &self;
  first.checkpoint_path = directory + "/self_head_" + rank + ".json";
  ASSERT_TRUE(RunLearner(first).status.ok());
  MPI_Barrier(MPI_COMM_WORLD);
  second.communicator = &world;
  second.resume_from = directory + "/self_head_0.json";
  second.checkpoint_path = directory + "/world_tail.json";
  ExpectBitIdentical(expected, RunLearner(second));
  MPI_Barrier(MPI_COMM_WORLD);
  if (world.rank() == 0) std::filesystem::remove_all(directory);
}

TEST(MpiStochasticLearner, AFailingExampleIsSkippedAndCountedAsInOneProcess) {
  MpiCommunicator world(MPI_COMM_WORLD);
  for (int failing : {3, 4}) {  // owned by different processes when P > 1
    RunSpec reference;
    reference.failing_example = failing;
    reference.skip_failed_examples = true;
    const Trajectory expected = RunLearner(reference);
    ASSERT_TRUE(expected.status.ok());
    EXPECT_EQ(expected.num_skipped, reference.num_epochs);  // once per epoch
    RunSpec spec = reference;
    spec.communicator = &world;
    ExpectBitIdentical(expected, RunLearner(spec));
  }
}

TEST(MpiStochasticLearner, AFailingExampleStopsEveryProcessAsInOneProcess) {
  MpiCommunicator world(MPI_COMM_WORLD);
  RunSpec reference;
  reference.failing_example = 4;
  const Trajectory expected = RunLearner(reference);
  ASSERT_FALSE(expected.status.ok());
  RunSpec spec = reference;
  spec.communicator = &world;
  const Trajectory actual = RunLearner(spec);
  EXPECT_EQ(actual.status.code(), expected.status.code());
  EXPECT_EQ(actual.status.code(), StatusCode::kNoConvergence);
  EXPECT_NE(actual.status.message().find("example 4 (iteration"), std::string::npos)
      << actual.status.message();
  if (world.size() > 1) {
    EXPECT_NE(actual.status.message().find("on process " + std::to_string(4 % world.size())),
              std::string::npos)
        << actual.status.message();
  }
  // Stopped at the same iterate.
  EXPECT_TRUE(SameBits(expected.w, actual.w));
  EXPECT_EQ(expected.num_iterations, actual.num_iterations);
}

TEST(MpiStochasticLearner, AnExceptionOnOneProcessStopsEveryProcessWithAMessage) {
  MpiCommunicator world(MPI_COMM_WORLD);
  // The last process throws on an example it owns; skipping failures does
  // not skip exceptions.
  const int thrower = world.size() - 1;
  FusionObjective objective(kNumExamples, 0, true);
  objective.throwing_example = world.size() + thrower;  // e mod P == thrower
  ASSERT_LT(objective.throwing_example, kNumExamples);
  RunSpec spec;
  spec.communicator = &world;
  spec.skip_failed_examples = true;
  const Trajectory actual = RunLearner(spec, &objective);
  ASSERT_FALSE(actual.status.ok());
  EXPECT_EQ(actual.status.code(), StatusCode::kInternalError);
  const std::string& message = actual.status.message();
  EXPECT_NE(message.find("example " + std::to_string(objective.throwing_example)),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("threw: injected exception"), std::string::npos) << message;
  if (world.size() > 1) {
    EXPECT_NE(message.find("on process " + std::to_string(thrower)), std::string::npos)
        << message;
  }
}

TEST(MpiStochasticLearner, ProcessesThatStartDifferentRunsAreRefused) {
  MpiCommunicator world(MPI_COMM_WORLD);
  if (world.size() == 1) GTEST_SKIP() << "needs two processes";
  FusionObjective objective(kNumExamples, 0, true);
  StochasticLearner::Options options = BaseOptions();
  options.communicator = &world;
  options.seed = world.rank() == 1 ? 12 : 11;
  Eigen::VectorXd w = Eigen::VectorXd::Ones(kNumSensors);
  const Status status = StochasticLearner(options).Learn(&objective, &w, nullptr);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("process 1 starts another run than process 0"),
            std::string::npos)
      << status.message();

  // An invalid option on one process: every process returns its error.
  options.seed = 11;
  options.batch_size = world.rank() == 1 ? 0 : 5;
  const Status invalid = StochasticLearner(options).Learn(&objective, &w, nullptr);
  EXPECT_EQ(invalid.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(invalid.message().find("process 1 of"), std::string::npos) << invalid.message();
  EXPECT_NE(invalid.message().find("batch_size must be >= 1"), std::string::npos)
      << invalid.message();
}

TEST(MpiStochasticLearner, OnlyProcessZeroWritesTheCheckpointAndCurve) {
  MpiCommunicator world(MPI_COMM_WORLD);
  const std::string directory = SharedTemporaryDirectory();
  FusionObjective objective(kNumExamples, 0, true);
  StochasticLearner::Options options = BaseOptions();
  options.communicator = &world;
  options.num_epochs = 1;
  // Every process names its own files: only process 0's may appear.
  options.checkpoint_path = directory + "/checkpoint_" + std::to_string(world.rank()) + ".json";
  options.curve_csv_path = directory + "/curve_" + std::to_string(world.rank()) + ".csv";
  Eigen::VectorXd w = Eigen::VectorXd::Ones(kNumSensors);
  ASSERT_TRUE(StochasticLearner(options).Learn(&objective, &w, nullptr).ok());
  MPI_Barrier(MPI_COMM_WORLD);
  for (int r = 0; r < world.size(); ++r) {
    EXPECT_EQ(std::filesystem::exists(directory + "/checkpoint_" + std::to_string(r) + ".json"),
              r == 0);
    EXPECT_EQ(std::filesystem::exists(directory + "/curve_" + std::to_string(r) + ".csv"),
              r == 0);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  if (world.rank() == 0) std::filesystem::remove_all(directory);
}

// --die: the last process exits in the middle of an evaluation; mpirun must
// end the job (tests/mpi/expect_job_failure.cmake checks that it does, with
// a message, instead of hanging).
int DieInTheMiddle() {
  MpiCommunicator world(MPI_COMM_WORLD);
  FusionObjective objective(kNumExamples, 0, true);
  objective.dying_example = 2 * world.size() - 1;
  StochasticLearner::Options options = BaseOptions();
  options.communicator = &world;
  Eigen::VectorXd w = Eigen::VectorXd::Ones(kNumSensors);
  const Status status = StochasticLearner(options).Learn(&objective, &w, nullptr);
  std::fprintf(stderr, "rank %d: Learn returned %s\n", world.rank(), status.ToString().c_str());
  return 0;
}

}  // namespace
}  // namespace ceres_wiberg

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int result = 0;
  if (argc > 1 && std::strcmp(argv[1], "--die") == 0) {
    result = ceres_wiberg::DieInTheMiddle();
  } else {
    ::testing::InitGoogleTest(&argc, argv);
    result = RUN_ALL_TESTS();
  }
  MPI_Finalize();
  return result;
}
