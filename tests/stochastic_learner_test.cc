// Tests of the StochasticLearner on small objectives with known optima:
// per-example quadratics 1/2 ||w - x_i||^2 (optimum: the mean of the x_i) and
// a noisy linear regression 1/2 (a_i^T w - b_i)^2 (optimum: the least-squares
// solution). No Ceres problem is involved.

#include "ceres_wiberg/stochastic_learner.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "Eigen/Dense"
#include "ceres_wiberg/learner_communicator.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace ceres_wiberg {

// Names the optimiser in messages of parameterised tests.
void PrintTo(StochasticOptimiser optimiser, std::ostream* out) {
  *out << StochasticOptimiserToString(optimiser);
}

namespace {

using Options = StochasticLearner::Options;
using Summary = StochasticLearner::Summary;

constexpr double kInfinity = std::numeric_limits<double>::infinity();

const StochasticOptimiser kAllOptimisers[] = {
    StochasticOptimiser::SGD,
    StochasticOptimiser::SGD_MOMENTUM,
    StochasticOptimiser::AVERAGED_SGD,
    StochasticOptimiser::ADAM,
};

// ------------------------------------------------------------ Objectives.

// Base with failure injection and a check that the same example is never
// evaluated concurrently.
class TestObjective : public TrainingObjective {
 public:
  TestObjective(int num_examples, int num_parameters)
      : num_examples_(num_examples),
        num_parameters_(num_parameters),
        busy_(new std::atomic<bool>[num_examples]) {
    for (int i = 0; i < num_examples; ++i) busy_[i] = false;
  }

  int num_examples() const override { return num_examples_; }
  int num_parameters() const override { return num_parameters_; }

  Status EvaluateExample(int example, const Eigen::VectorXd& w, double* loss,
                         Eigen::VectorXd* gradient) override {
    if (busy_[example].exchange(true)) same_example_concurrently_ = true;
    evaluations_.fetch_add(1);
    Status status;
    if (example == throwing_example) {
      busy_[example] = false;
      throw std::runtime_error("injected exception");
    }
    if (example == failing_example) {
      status = Status(StatusCode::kNoConvergence, "inner solve did not converge");
    } else {
      Evaluate(example, w, loss, gradient);
      if (example == nan_gradient_example && gradient != nullptr) {
        (*gradient)[0] = std::numeric_limits<double>::quiet_NaN();
      }
      if (example == wrong_size_example && gradient != nullptr) gradient->resize(1);
    }
    busy_[example] = false;
    return status;
  }

  // The mean loss over all examples at w, summed in example order.
  double MeanLoss(const Eigen::VectorXd& w) const {
    double sum = 0.0;
    for (int i = 0; i < num_examples_; ++i) {
      double loss = 0.0;
      Evaluate(i, w, &loss, nullptr);
      sum += loss;
    }
    return sum / num_examples_;
  }

  bool same_example_concurrently() const { return same_example_concurrently_; }
  int evaluations() const { return evaluations_.load(); }

  int failing_example = -1;
  int nan_gradient_example = -1;
  int wrong_size_example = -1;
  int throwing_example = -1;

 protected:
  virtual void Evaluate(int example, const Eigen::VectorXd& w, double* loss,
                        Eigen::VectorXd* gradient) const = 0;

 private:
  const int num_examples_;
  const int num_parameters_;
  std::unique_ptr<std::atomic<bool>[]> busy_;
  std::atomic<bool> same_example_concurrently_{false};
  std::atomic<int> evaluations_{0};
};

// L_i(w) = 1/2 ||w - x_i||^2; the optimum is the mean of the x_i.
class QuadraticObjective : public TestObjective {
 public:
  explicit QuadraticObjective(std::vector<Eigen::VectorXd> targets)
      : TestObjective(static_cast<int>(targets.size()), static_cast<int>(targets[0].size())),
        targets_(std::move(targets)) {}

  Eigen::VectorXd Mean(int excluded = -1) const {
    Eigen::VectorXd sum = Eigen::VectorXd::Zero(num_parameters());
    int count = 0;
    for (int i = 0; i < num_examples(); ++i) {
      if (i == excluded) continue;
      sum += targets_[i];
      ++count;
    }
    return sum / count;
  }

 protected:
  void Evaluate(int example, const Eigen::VectorXd& w, double* loss,
                Eigen::VectorXd* gradient) const override {
    const Eigen::VectorXd residual = w - targets_[example];
    *loss = 0.5 * residual.squaredNorm();
    if (gradient != nullptr) *gradient = residual;
  }

 private:
  std::vector<Eigen::VectorXd> targets_;
};

// L_i(w) = 1/2 (a_i^T w - b_i)^2 with b_i = a_i^T w_true + noise.
class RegressionObjective : public TestObjective {
 public:
  RegressionObjective(int num_examples, const Eigen::VectorXd& w_true, double noise, int salt = 0)
      : TestObjective(num_examples, static_cast<int>(w_true.size())),
        a_(num_examples, w_true.size()),
        b_(num_examples) {
    for (int i = 0; i < num_examples; ++i) {
      for (int j = 0; j < w_true.size(); ++j) {
        a_(i, j) =
            std::sin(1.3 * (i + salt) + 2.1 * j + 0.4 * (i + salt) * j) + (j == 0 ? 1.0 : 0.0);
      }
      b_[i] = a_.row(i).dot(w_true) + noise * std::cos(3.7 * (i + salt) + 0.5);
    }
  }

  Eigen::VectorXd LeastSquaresSolution() const {
    return (a_.transpose() * a_).ldlt().solve(a_.transpose() * b_);
  }

 protected:
  void Evaluate(int example, const Eigen::VectorXd& w, double* loss,
                Eigen::VectorXd* gradient) const override {
    const double r = a_.row(example).dot(w) - b_[example];
    *loss = 0.5 * r * r;
    if (gradient != nullptr) *gradient = r * a_.row(example).transpose();
  }

 private:
  Eigen::MatrixXd a_;
  Eigen::VectorXd b_;
};

// num_examples targets center + spread * (deterministic pseudo-noise).
std::vector<Eigen::VectorXd> MakeTargets(int num_examples, const Eigen::VectorXd& center,
                                         double spread) {
  std::vector<Eigen::VectorXd> targets;
  for (int i = 0; i < num_examples; ++i) {
    Eigen::VectorXd x = center;
    for (int j = 0; j < center.size(); ++j) {
      x[j] += spread * std::sin(1.7 * i + 2.9 * j + 0.3 * i * j + 0.1);
    }
    targets.push_back(x);
  }
  return targets;
}

// ------------------------------------------------------------ Files.

std::string TestPath(const std::string& suffix) {
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = std::string(info->test_suite_name()) + "_" + info->name();
  for (char& c : name) {
    if (c == '/') c = '_';
  }
  return ::testing::TempDir() + "stochastic_learner_test_" + name + "_" + suffix;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
}

bool FileExists(const std::string& path) { return std::ifstream(path).good(); }

// ------------------------------------------------------------ Options.

TEST(StochasticLearnerOptions, DefaultsAreValid) {
  std::string error;
  EXPECT_TRUE(Options().IsValid(&error)) << error;
}

TEST(StochasticLearnerOptions, InvalidOptionsAreRejectedWithAMessage) {
  struct Case {
    std::function<void(Options*)> change;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {[](Options* o) { o->learning_rate = 0.0; }, "learning_rate"},
      {[](Options* o) { o->learning_rate = std::nan(""); }, "learning_rate"},
      {[](Options* o) { o->learning_rate_decay = -1.0; }, "learning_rate_decay"},
      {[](Options* o) { o->momentum = 1.0; }, "momentum"},
      {[](Options* o) { o->adam_beta2 = -0.1; }, "adam_beta2"},
      {[](Options* o) { o->adam_epsilon = 0.0; }, "adam_epsilon"},
      {[](Options* o) { o->trust_radius = -1.0; }, "trust_radius"},
      {[](Options* o) { o->batch_size = 0; }, "batch_size"},
      {[](Options* o) { o->num_threads = 0; }, "num_threads"},
      {[](Options* o) { o->num_threads = 1 << 20; }, "num_threads"},
      {[](Options* o) { o->optimiser = static_cast<StochasticOptimiser>(7); }, "optimiser"},
      {[](Options* o) {
         o->parameter_transforms = {ParameterTransform::IDENTITY,
                                    static_cast<ParameterTransform>(-1)};
       },
       "parameter_transforms[1]"},
      {[](Options* o) { o->curve_max_parameters = -1; }, "curve_max_parameters"},
      {[](Options* o) { o->averaging_start_iteration = -1; }, "averaging_start_iteration"},
      {[](Options* o) {
         o->num_epochs = 0;
         o->max_iterations = 0;
       },
       "num_epochs"},
      {[](Options* o) { o->checkpoint_every_n_epochs = -1; }, "checkpoint_every_n_epochs"},
      {[](Options* o) {
         o->lower_bounds = {0.0, 0.0};
         o->upper_bounds = {1.0};
       },
       "must be empty or all of the same size"},
      {[](Options* o) {
         o->lower_bounds = {0.0, 2.0};
         o->upper_bounds = {1.0, 1.0};
       },
       "lower bound 2.000000 > upper bound 1.000000 of parameter 1"},
      {[](Options* o) {
         o->parameter_transforms = {ParameterTransform::EXP};
         o->upper_bounds = {-1.0};
       },
       "must be > 0 for EXP"},
  };
  for (const Case& c : cases) {
    Options options;
    c.change(&options);
    std::string error;
    EXPECT_FALSE(options.IsValid(&error)) << c.expected;
    EXPECT_NE(error.find(c.expected), std::string::npos) << "error: " << error;

    // Learn refuses them too, with the same message.
    QuadraticObjective objective(MakeTargets(4, Eigen::Vector2d(0.0, 0.0), 1.0));
    Eigen::VectorXd w = Eigen::Vector2d(0.5, 0.5);
    const Status status = StochasticLearner(options).Learn(&objective, &w, nullptr);
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(status.message(), error);
    EXPECT_EQ(objective.evaluations(), 0);
  }
}

TEST(StochasticLearnerOptions, OptionsThatDoNotFitTheObjectiveAreRejected) {
  QuadraticObjective objective(MakeTargets(4, Eigen::Vector2d(0.0, 0.0), 1.0));
  Eigen::VectorXd w = Eigen::Vector2d(0.5, 0.5);
  auto learn = [&](const Options& options, Eigen::VectorXd w0) {
    return StochasticLearner(options).Learn(&objective, &w0, nullptr);
  };
  Options options;
  options.lower_bounds = {0.0, 0.0, 0.0};
  Status status = learn(options, w);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("lower_bounds has 3 entries"), std::string::npos)
      << status.message();

  status = learn(Options(), Eigen::Vector3d(0.0, 0.0, 0.0));
  EXPECT_NE(status.message().find("w has size 3"), std::string::npos) << status.message();

  options = Options();
  options.upper_bounds = {0.25, kInfinity};
  status = learn(options, w);
  EXPECT_NE(status.message().find("initial parameter 0 (w = 0.5) is outside its bounds"),
            std::string::npos)
      << status.message();

  options = Options();
  options.parameter_transforms = {ParameterTransform::IDENTITY, ParameterTransform::SQUARED};
  status = learn(options, Eigen::Vector2d(0.5, 0.0));
  EXPECT_NE(status.message().find("parameter 1 (w = 0) must be > 0 for SQUARED"), std::string::npos)
      << status.message();
  EXPECT_EQ(objective.evaluations(), 0);
}

// ------------------------------------------------------------ Convergence.

// Batch size 1, lr_t = 1 / (1 + t): SGD on 1/2 (w - x_i)^2 computes the
// running mean, so after one epoch w is the mean of all x_i up to rounding
// (tolerance 1e-12, absolute, for |x| ~ 1).
TEST(StochasticLearnerConvergence, SgdWithHarmonicStepIsTheRunningMean) {
  QuadraticObjective objective(MakeTargets(50, Eigen::Vector2d(1.5, -0.5), 1.0));
  Options options;
  options.optimiser = StochasticOptimiser::SGD;
  options.learning_rate = 1.0;
  options.learning_rate_decay = 1.0;
  options.batch_size = 1;
  options.num_epochs = 1;
  options.seed = 3;
  Eigen::VectorXd w = Eigen::Vector2d(5.0, 5.0);
  Summary summary;
  ASSERT_TRUE(StochasticLearner(options).Learn(&objective, &w, &summary).ok()) << summary.message;
  EXPECT_EQ(summary.num_iterations, 50);
  EXPECT_EQ(summary.num_epochs, 1);
  EXPECT_EQ(summary.termination, StochasticTermination::MAX_EPOCHS);
  EXPECT_LT((w - objective.Mean()).norm(), 1e-12);
}

// Full-batch steps have no gradient noise: each optimiser must reach the
// mean of the targets to 1e-12 (absolute; targets ~ 1, start 5 away). Adam is
// the slowest: its error falls about 100x per 100 iterations here, to
// rounding level by iteration 700.
TEST(StochasticLearnerConvergence, FullBatchReachesTheOptimumWithEveryOptimiser) {
  QuadraticObjective objective(MakeTargets(16, Eigen::Vector2d(1.5, -0.5), 1.0));
  for (StochasticOptimiser optimiser : kAllOptimisers) {
    Options options;
    options.optimiser = optimiser;
    options.batch_size = 16;
    options.num_epochs = 800;
    options.learning_rate = 0.5;
    options.momentum = 0.5;
    if (optimiser == StochasticOptimiser::ADAM) options.learning_rate = 0.2;
    // Averaging starts once the iterates have converged.
    options.averaging_start_iteration = 200;
    Eigen::VectorXd w = Eigen::Vector2d(5.0, -5.0);
    Summary summary;
    ASSERT_TRUE(StochasticLearner(options).Learn(&objective, &w, &summary).ok()) << summary.message;
    EXPECT_LT((w - objective.Mean()).norm(), 1e-12) << StochasticOptimiserToString(optimiser);
  }
}

// Minibatches of 4 out of 64: the noise of the minibatch gradient limits the
// accuracy. From 5 away, each optimiser must come within 0.02 of the
// optimum (targets spread 1; lr decaying as 1/t, or iterate averaging).
TEST(StochasticLearnerConvergence, MinibatchesReachTheOptimumWithEveryOptimiser) {
  QuadraticObjective objective(MakeTargets(64, Eigen::Vector2d(1.5, -0.5), 1.0));
  for (StochasticOptimiser optimiser : kAllOptimisers) {
    Options options;
    options.optimiser = optimiser;
    options.batch_size = 4;
    options.num_epochs = 40;
    options.seed = 11;
    switch (optimiser) {
      case StochasticOptimiser::SGD:
        options.learning_rate = 0.5;
        options.learning_rate_decay = 0.05;
        break;
      case StochasticOptimiser::SGD_MOMENTUM:
        options.learning_rate = 0.05;
        options.momentum = 0.9;
        options.learning_rate_decay = 0.05;
        break;
      case StochasticOptimiser::AVERAGED_SGD:
        options.learning_rate = 0.1;  // constant, as in the paper's toy
        options.averaging_start_iteration = 64;
        break;
      case StochasticOptimiser::ADAM:
        options.learning_rate = 0.2;
        options.learning_rate_decay = 0.05;
        break;
    }
    Eigen::VectorXd w = Eigen::Vector2d(5.0, -5.0);
    Summary summary;
    ASSERT_TRUE(StochasticLearner(options).Learn(&objective, &w, &summary).ok()) << summary.message;
    EXPECT_LT((w - objective.Mean()).norm(), 0.02) << StochasticOptimiserToString(optimiser);
    EXPECT_EQ(summary.num_iterations, 40 * 16);
    ASSERT_EQ(summary.epochs.size(), 40u);
    EXPECT_LT(summary.final_loss, summary.epochs.front().loss);
  }
}

// The least-squares solution of a noisy regression, with Adam over shuffled
// minibatches: within 1e-3 (coefficients ~ 1, noise 0.1).
TEST(StochasticLearnerConvergence, AdamSolvesANoisyRegression) {
  const Eigen::Vector3d w_true(1.0, -2.0, 0.5);
  RegressionObjective objective(200, w_true, 0.1);
  Options options;
  options.optimiser = StochasticOptimiser::ADAM;
  options.learning_rate = 0.05;
  options.learning_rate_decay = 0.02;
  options.batch_size = 20;
  options.num_epochs = 150;
  Eigen::VectorXd w = Eigen::Vector3d::Zero();
  Summary summary;
  ASSERT_TRUE(StochasticLearner(options).Learn(&objective, &w, &summary).ok()) << summary.message;
  EXPECT_LT((w - objective.LeastSquaresSolution()).norm(), 1e-3);
}

// ------------------------------------------------------------ Determinism.

Options DeterminismOptions() {
  Options options;
  options.optimiser = StochasticOptimiser::ADAM;
  options.learning_rate = 0.05;
  options.batch_size = 16;
  options.num_epochs = 3;
  options.seed = 1234;
  return options;
}

TEST(StochasticLearnerDeterminism, SameSeedIsBitIdenticalForAnyNumberOfThreads) {
  const Eigen::Vector4d w_true(1.0, -2.0, 0.5, 3.0);
  Eigen::VectorXd reference_w;
  std::string reference_csv;
  std::vector<double> reference_losses;
  for (int num_threads : {1, 2, 3}) {
    RegressionObjective objective(200, w_true, 0.3);
    Options options = DeterminismOptions();
    options.num_threads = num_threads;
    options.curve_csv_path = TestPath("curve_" + std::to_string(num_threads) + ".csv");
    Eigen::VectorXd w = Eigen::Vector4d::Zero();
    Summary summary;
    ASSERT_TRUE(StochasticLearner(options).Learn(&objective, &w, &summary).ok()) << summary.message;
    EXPECT_FALSE(objective.same_example_concurrently());
    EXPECT_EQ(summary.num_threads, num_threads);
    const std::string csv = ReadFile(options.curve_csv_path);
    std::vector<double> losses;
    for (const auto& epoch : summary.epochs) losses.push_back(epoch.loss);
    if (num_threads == 1) {
      reference_w = w;
      reference_csv = csv;
      reference_losses = losses;
      continue;
    }
    for (int i = 0; i < 4; ++i) EXPECT_EQ(w[i], reference_w[i]) << "threads " << num_threads;
    EXPECT_EQ(csv, reference_csv) << "threads " << num_threads;
    EXPECT_EQ(losses, reference_losses);
  }
  // 200 / 16 -> 13 minibatches per epoch, 3 epochs, plus the header.
  EXPECT_EQ(std::count(reference_csv.begin(), reference_csv.end(), '\n'), 1 + 3 * 13);
}

TEST(StochasticLearnerDeterminism, DifferentSeedGivesADifferentRunWhenShuffling) {
  const Eigen::Vector4d w_true(1.0, -2.0, 0.5, 3.0);
  RegressionObjective objective(200, w_true, 0.3);
  auto run = [&](uint64_t seed, bool shuffle) {
    Options options = DeterminismOptions();
    options.seed = seed;
    options.shuffle = shuffle;
    Eigen::VectorXd w = Eigen::Vector4d::Zero();
    EXPECT_TRUE(StochasticLearner(options).Learn(&objective, &w, nullptr).ok());
    return w;
  };
  const Eigen::VectorXd a = run(1, true);
  const Eigen::VectorXd b = run(2, true);
  EXPECT_NE(a, b);
  EXPECT_EQ(run(1, true), a);
  // Without shuffling the seed is unused.
  EXPECT_EQ(run(1, false), run(2, false));
}

// The robust-mean experiment's schedule: exactly 10,000 iterations of batch
// size 1 over 10,000 examples in the fixed order, recorded per iteration.
TEST(StochasticLearnerDeterminism, FixedOrderVisitsEveryExampleOnceInOrder) {
  const int n = 10000;
  std::vector<Eigen::VectorXd> targets;
  for (int i = 0; i < n; ++i) targets.push_back(Eigen::VectorXd::Constant(1, std::sin(0.37 * i)));
  QuadraticObjective objective(targets);
  Options options;
  options.optimiser = StochasticOptimiser::SGD;
  options.learning_rate = 1.0;
  options.learning_rate_decay = 1.0;
  options.batch_size = 1;
  options.shuffle = false;
  options.num_epochs = 0;
  options.max_iterations = 10000;
  int calls = 0;
  bool in_order = true;
  options.iteration_callback = [&](const IterationRecord& record) {
    in_order = in_order && record.iteration == calls && record.examples.size() == 1 &&
               record.examples[0] == calls && record.batch_size == 1;
    ++calls;
    return true;
  };
  Eigen::VectorXd w = Eigen::VectorXd::Constant(1, 10.0);
  Summary summary;
  ASSERT_TRUE(StochasticLearner(options).Learn(&objective, &w, &summary).ok()) << summary.message;
  EXPECT_EQ(calls, 10000);
  EXPECT_TRUE(in_order);
  EXPECT_EQ(summary.num_iterations, 10000);
  EXPECT_EQ(summary.num_epochs, 1);
  EXPECT_EQ(summary.termination, StochasticTermination::MAX_ITERATIONS);
  EXPECT_NEAR(w[0], objective.Mean()[0], 1e-12);
}

// ------------------------------------------------------------ Checkpoints.

// A run exercising every piece of state: mixed transforms and bounds, a
// trust radius, validation, the curve, 30 examples in minibatches of 4
// (8 per epoch, the last of 2).
Options ResumeOptions(StochasticOptimiser optimiser) {
  Options options;
  options.optimiser = optimiser;
  options.learning_rate = optimiser == StochasticOptimiser::ADAM ? 0.05 : 0.02;
  options.learning_rate_decay = 0.01;
  options.averaging_start_iteration = 10;
  options.trust_radius = 0.3;
  options.batch_size = 4;
  options.num_epochs = 6;
  options.seed = 99;
  options.parameter_transforms = {ParameterTransform::IDENTITY, ParameterTransform::EXP,
                                  ParameterTransform::SQUARED};
  options.lower_bounds = {-kInfinity, 0.05, 0.1};
  options.upper_bounds = {1.5, 10.0, kInfinity};
  // No fsync: a dozen synced writes per run would dominate the test's time.
  options.durable_writes = false;
  return options;
}

const Eigen::Vector3d kResumeWTrue(1.0, 2.0, 0.5);
const Eigen::Vector3d kResumeW0(0.2, 0.5, 0.7);

class StochasticLearnerResume : public ::testing::TestWithParam<StochasticOptimiser> {
 protected:
  // The uninterrupted run, checkpointing every epoch. `on_iteration` sees
  // every record.
  void RunUninterrupted(const std::function<void(const IterationRecord&)>& on_iteration) {
    RegressionObjective objective(30, kResumeWTrue, 0.2);
    RegressionObjective validation(10, kResumeWTrue, 0.2, /*salt=*/100);
    Options options = ResumeOptions(GetParam());
    options.validation_objective = &validation;
    options.checkpoint_path = TestPath("uninterrupted.json");
    options.curve_csv_path = TestPath("uninterrupted.csv");
    options.iteration_callback = [&](const IterationRecord& record) {
      if (on_iteration) on_iteration(record);
      return true;
    };
    w_ = kResumeW0;
    ASSERT_TRUE(StochasticLearner(options).Learn(&objective, &w_, &summary_).ok())
        << summary_.message;
    csv_ = ReadFile(options.curve_csv_path);
    EXPECT_FALSE(FileExists(options.checkpoint_path + ".tmp"));
    EXPECT_FALSE(FileExists(options.curve_csv_path + ".tmp"));
  }

  // Resumes `checkpoint` with num_threads and compares with the
  // uninterrupted run, bit for bit.
  void ResumeAndCompare(const std::string& checkpoint, int num_threads) {
    RegressionObjective objective(30, kResumeWTrue, 0.2);
    RegressionObjective validation(10, kResumeWTrue, 0.2, /*salt=*/100);
    Options options = ResumeOptions(GetParam());
    options.validation_objective = &validation;
    options.num_threads = num_threads;
    options.checkpoint_path = TestPath("resumed.json");
    options.curve_csv_path = TestPath("resumed.csv");
    Eigen::VectorXd w;
    Summary summary;
    ASSERT_TRUE(StochasticLearner(options).Resume(checkpoint, &objective, &w, &summary).ok())
        << summary.message;
    EXPECT_TRUE(summary.resumed);
    ASSERT_EQ(w.size(), 3);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(w[i], w_[i]) << "coordinate " << i;
    EXPECT_EQ(ReadFile(options.curve_csv_path), csv_);
    EXPECT_EQ(summary.num_iterations, summary_.num_iterations);
    EXPECT_EQ(summary.num_epochs, 6);
    ASSERT_EQ(summary.epochs.size(), summary_.epochs.size());
    for (size_t e = 0; e < summary.epochs.size(); ++e) {
      EXPECT_EQ(summary.epochs[e].loss, summary_.epochs[e].loss) << "epoch " << e;
      EXPECT_EQ(summary.epochs[e].gradient_norm, summary_.epochs[e].gradient_norm);
      EXPECT_EQ(summary.epochs[e].mean_step_norm, summary_.epochs[e].mean_step_norm);
      EXPECT_EQ(summary.epochs[e].validation_loss, summary_.epochs[e].validation_loss);
    }
    EXPECT_EQ(summary.max_gradient_norm, summary_.max_gradient_norm);
    EXPECT_EQ(summary.max_step_norm, summary_.max_step_norm);
    EXPECT_EQ(summary.num_capped_steps, summary_.num_capped_steps);
    EXPECT_EQ(summary.best_validation_loss, summary_.best_validation_loss);
  }

  Eigen::VectorXd w_;
  Summary summary_;
  std::string csv_;
};

// A crash after epoch 3: resume from the periodic checkpoint written then.
TEST_P(StochasticLearnerResume, FromAPeriodicCheckpointIsBitIdentical) {
  const std::string copy = TestPath("after_epoch_3.json");
  bool copied = false;
  RunUninterrupted([&](const IterationRecord& record) {
    // The first iteration of epoch 3 (counting from 0) runs after the
    // checkpoint of epoch 2 was written.
    if (record.epoch == 3 && !copied) {
      WriteFile(copy, ReadFile(TestPath("uninterrupted.json")));
      copied = true;
    }
  });
  ASSERT_TRUE(copied);
  const nlohmann::json checkpoint = nlohmann::json::parse(ReadFile(copy));
  EXPECT_EQ(checkpoint["epochs_completed"], 3);
  EXPECT_EQ(checkpoint["iterations_completed"], 24);
  ResumeAndCompare(copy, /*num_threads=*/1);
}

// Stopped by the callback in the middle of epoch 1, resumed on 2 threads.
TEST_P(StochasticLearnerResume, FromAStopMidEpochIsBitIdentical) {
  RunUninterrupted(nullptr);

  RegressionObjective objective(30, kResumeWTrue, 0.2);
  RegressionObjective validation(10, kResumeWTrue, 0.2, /*salt=*/100);
  Options options = ResumeOptions(GetParam());
  options.validation_objective = &validation;
  options.checkpoint_path = TestPath("stopped.json");
  options.curve_csv_path = TestPath("stopped.csv");
  options.iteration_callback = [](const IterationRecord& record) { return record.iteration != 12; };
  Eigen::VectorXd w = kResumeW0;
  Summary summary;
  ASSERT_TRUE(StochasticLearner(options).Learn(&objective, &w, &summary).ok()) << summary.message;
  EXPECT_EQ(summary.termination, StochasticTermination::USER_REQUESTED);
  EXPECT_EQ(summary.num_iterations, 13);
  ASSERT_EQ(summary.epochs.size(), 2u);
  EXPECT_FALSE(summary.epochs[1].complete);
  EXPECT_EQ(summary.epochs[1].num_iterations, 5);

  ResumeAndCompare(options.checkpoint_path, /*num_threads=*/2);
}

// Stopped by max_iterations, then extended: resuming with larger limits.
TEST_P(StochasticLearnerResume, ExtendingAFinishedRunIsBitIdentical) {
  RunUninterrupted(nullptr);

  RegressionObjective objective(30, kResumeWTrue, 0.2);
  RegressionObjective validation(10, kResumeWTrue, 0.2, /*salt=*/100);
  Options options = ResumeOptions(GetParam());
  options.validation_objective = &validation;
  options.max_iterations = 19;
  options.checkpoint_every_n_epochs = 0;
  options.checkpoint_path = TestPath("short.json");
  options.curve_csv_path = TestPath("short.csv");
  Eigen::VectorXd w = kResumeW0;
  Summary summary;
  ASSERT_TRUE(StochasticLearner(options).Learn(&objective, &w, &summary).ok()) << summary.message;
  EXPECT_EQ(summary.termination, StochasticTermination::MAX_ITERATIONS);
  EXPECT_EQ(summary.num_iterations, 19);

  ResumeAndCompare(options.checkpoint_path, /*num_threads=*/1);
}

INSTANTIATE_TEST_SUITE_P(AllOptimisers, StochasticLearnerResume,
                         ::testing::ValuesIn(kAllOptimisers),
                         [](const ::testing::TestParamInfo<StochasticOptimiser>& info) {
                           return std::string(StochasticOptimiserToString(info.param));
                         });

// Writes a checkpoint of a short ADAM run and returns its path.
std::string WriteShortCheckpoint(StochasticOptimiser optimiser = StochasticOptimiser::ADAM,
                                 bool durable_writes = false) {
  RegressionObjective objective(30, kResumeWTrue, 0.2);
  Options options = ResumeOptions(optimiser);
  options.durable_writes = durable_writes;
  options.num_epochs = 2;
  options.checkpoint_path = TestPath("short.json");
  options.curve_csv_path = TestPath("short.csv");
  Eigen::VectorXd w = kResumeW0;
  EXPECT_TRUE(StochasticLearner(options).Learn(&objective, &w, nullptr).ok());
  return options.checkpoint_path;
}

TEST(StochasticLearnerCheckpoint, IsValidJsonWithTheDocumentedKeys) {
  for (StochasticOptimiser optimiser : kAllOptimisers) {
    // Synced writes once, to run that path too.
    const std::string path = WriteShortCheckpoint(optimiser, optimiser == StochasticOptimiser::SGD);
    const std::string text = ReadFile(path);
    ASSERT_TRUE(nlohmann::json::accept(text)) << text;
    const nlohmann::json j = nlohmann::json::parse(text);
    for (const char* key : {"format",
                            "version",
                            "optimiser",
                            "num_parameters",
                            "num_examples",
                            "batch_size",
                            "shuffle",
                            "seed",
                            "parameter_transforms",
                            "iterations_completed",
                            "epochs_completed",
                            "num_steps",
                            "epoch_order",
                            "epoch_position",
                            "rng_state",
                            "theta",
                            "w",
                            "optimiser_state",
                            "epoch_in_progress",
                            "history",
                            "curve"}) {
      EXPECT_TRUE(j.contains(key)) << key;
    }
    EXPECT_EQ(j["format"], "ceres_wiberg.stochastic_learner.checkpoint");
    EXPECT_EQ(j["version"], 2);
    EXPECT_TRUE(j["trajectory"].is_object());
    EXPECT_EQ(j["optimiser"], StochasticOptimiserToString(optimiser));
    EXPECT_EQ(j["num_parameters"], 3);
    EXPECT_EQ(j["num_examples"], 30);
    EXPECT_EQ(j["iterations_completed"], 16);
    EXPECT_EQ(j["epochs_completed"], 2);
    EXPECT_EQ(j["epoch_order"].size(), 0u);  // written at an epoch boundary
    EXPECT_EQ(j["parameter_transforms"], nlohmann::json::array({"IDENTITY", "EXP", "SQUARED"}));
    EXPECT_TRUE(j["rng_state"].is_string());
    // Both theta and w, consistent with the transforms.
    ASSERT_EQ(j["theta"].size(), 3u);
    ASSERT_EQ(j["w"].size(), 3u);
    const double theta0 = j["theta"][0], theta1 = j["theta"][1], theta2 = j["theta"][2];
    EXPECT_EQ(j["w"][0].get<double>(), theta0);
    EXPECT_NEAR(j["w"][1].get<double>(), std::exp(theta1), 1e-15 * std::exp(theta1));
    EXPECT_NEAR(j["w"][2].get<double>(), theta2 * theta2, 1e-15 * theta2 * theta2);
    const nlohmann::json& state = j["optimiser_state"];
    switch (optimiser) {
      case StochasticOptimiser::SGD:
        EXPECT_TRUE(state.empty());
        break;
      case StochasticOptimiser::SGD_MOMENTUM:
        EXPECT_EQ(state["velocity"].size(), 3u);
        break;
      case StochasticOptimiser::AVERAGED_SGD:
        EXPECT_EQ(state["w_average"].size(), 3u);
        EXPECT_EQ(state["num_averaged"], 16 - 10);
        break;
      case StochasticOptimiser::ADAM:
        EXPECT_EQ(state["adam_m"].size(), 3u);
        EXPECT_EQ(state["adam_v"].size(), 3u);
        break;
    }
    EXPECT_EQ(j["history"]["epochs"].size(), 2u);
    EXPECT_EQ(j["curve"]["rows"].size(), 16u);
    EXPECT_EQ(j["curve"]["columns"].size(), 6u + 3u);
    EXPECT_FALSE(FileExists(path + ".tmp"));
  }
}

TEST(StochasticLearnerCheckpoint, MalformedCheckpointsGiveAClearErrorNamingTheFile) {
  const std::string good_path = WriteShortCheckpoint();
  const std::string good = ReadFile(good_path);
  const std::string bad_path = TestPath("bad.json");
  RegressionObjective objective(30, kResumeWTrue, 0.2);
  const Options options = ResumeOptions(StochasticOptimiser::ADAM);
  auto resume = [&](const std::string& path) {
    Eigen::VectorXd w;
    return StochasticLearner(options).Resume(path, &objective, &w, nullptr);
  };
  auto expect_error = [&](const std::string& contents, const std::string& expected) {
    WriteFile(bad_path, contents);
    const Status status = resume(bad_path);
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << expected;
    EXPECT_NE(status.message().find("'" + bad_path + "'"), std::string::npos) << status.message();
    EXPECT_NE(status.message().find(expected), std::string::npos) << status.message();
  };

  ASSERT_TRUE(resume(good_path).ok());
  expect_error(good.substr(0, good.size() / 2), "not valid JSON");
  expect_error("", "not valid JSON");

  nlohmann::json j = nlohmann::json::parse(good);
  nlohmann::json missing = j;
  missing.erase("theta");
  expect_error(missing.dump(), "missing key 'theta'");

  nlohmann::json wrong_size = j;
  wrong_size["theta"] = {1.0, 2.0};
  expect_error(wrong_size.dump(), "key 'theta' must be an array of 3 numbers");

  nlohmann::json wrong_type = j;
  wrong_type["history"]["epochs"][1]["loss"] = true;
  expect_error(wrong_type.dump(), "key 'history.epochs[1].loss' must be a number");

  nlohmann::json bad_rng = j;
  bad_rng["rng_state"] = "12 oops";
  expect_error(bad_rng.dump(), "key 'rng_state' is not a std::mt19937_64 state");

  nlohmann::json new_version = j;
  new_version["version"] = 3;
  expect_error(new_version.dump(), "unsupported version 3");

  nlohmann::json not_a_permutation = j;
  not_a_permutation["epoch_order"] = nlohmann::json::array();
  for (int i = 0; i < 30; ++i) not_a_permutation["epoch_order"].push_back(i == 5 ? 4 : i);
  not_a_permutation["epoch_position"] = 8;
  expect_error(not_a_permutation.dump(), "key 'epoch_order' is not a permutation");

  const std::string absent = TestPath("absent.json");
  Status status = resume(absent);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find(absent), std::string::npos) << status.message();

  // A well-formed checkpoint of a different run.
  Options other = options;
  other.batch_size = 5;
  Eigen::VectorXd w;
  status = StochasticLearner(other).Resume(good_path, &objective, &w, nullptr);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("batch_size 4"), std::string::npos) << status.message();
}

// ------------------------------------------------------------ Hostile checkpoints.

// Resumes `contents` (written to a file) with `options` on the regression
// objective of WriteShortCheckpoint.
Status ResumeText(const std::string& contents, const Options& options,
                  Summary* summary = nullptr, TrainingObjective* objective = nullptr) {
  const std::string path = TestPath("hostile.json");
  WriteFile(path, contents);
  RegressionObjective regression(30, kResumeWTrue, 0.2);
  Eigen::VectorXd w;
  return StochasticLearner(options).Resume(
      path, objective != nullptr ? objective : &regression, &w, summary);
}

nlohmann::json ShortCheckpointJson() {
  return nlohmann::json::parse(ReadFile(WriteShortCheckpoint()));
}

void ExpectRefused(const Status& status, const std::string& expected) {
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << status.message();
  EXPECT_NE(status.message().find(expected), std::string::npos) << status.message();
}

TEST(StochasticLearnerHostileCheckpoint, ANumberBeyondDoubleRangeIsAnError) {
  std::string text = ShortCheckpointJson().dump();
  const std::string key = "\"theta\":[";
  const size_t at = text.find(key);
  ASSERT_NE(at, std::string::npos);
  text.insert(at + key.size(), "1e400,");
  ExpectRefused(ResumeText(text, ResumeOptions(StochasticOptimiser::ADAM)), "1e400");
}

TEST(StochasticLearnerHostileCheckpoint, DeepNestingUnderAWrongTypeIsAnError) {
  nlohmann::json j = ShortCheckpointJson();
  j.erase("optimiser");
  std::string text = j.dump();
  const int depth = 1000000;
  text.insert(1, "\"optimiser\":" + std::string(depth, '[') + std::string(depth, ']') + ",");
  ExpectRefused(ResumeText(text, ResumeOptions(StochasticOptimiser::ADAM)),
                "nested deeper than 64 levels (at byte 76)");
  // Shallower, the value is described, not printed.
  text = j.dump();
  text.insert(1, "\"optimiser\":" + std::string(40, '[') + std::string(40, ']') + ",");
  ExpectRefused(ResumeText(text, ResumeOptions(StochasticOptimiser::ADAM)),
                "key 'optimiser' must be a string, got an array of 1 elements");
}

TEST(StochasticLearnerHostileCheckpoint, NonFiniteOrHugeElapsedTimeIsHandled) {
  const Options options = ResumeOptions(StochasticOptimiser::ADAM);
  nlohmann::json j = ShortCheckpointJson();
  j["history"]["elapsed_seconds"] = "inf";
  ExpectRefused(ResumeText(j.dump(), options), "history.elapsed_seconds");
  j = ShortCheckpointJson();
  j["history"]["epochs"][0]["elapsed_seconds"] = -1.0;
  ExpectRefused(ResumeText(j.dump(), options), "history.epochs[0].elapsed_seconds");

  // A huge but finite time is printed in full: the progress line of the
  // interrupted epoch grows beyond any fixed buffer.
  j = ShortCheckpointJson();
  j["history"]["elapsed_seconds"] = 1e300;
  Options resumed = options;
  resumed.num_epochs = 3;
  resumed.max_iterations = 17;
  std::ostringstream progress;
  resumed.progress_stream = &progress;
  Summary summary;
  const Status status = ResumeText(j.dump(), resumed, &summary);
  ASSERT_TRUE(status.ok()) << status.message();
  EXPECT_NE(progress.str().find("s  (interrupted after 1 iterations)\n"), std::string::npos)
      << progress.str();
}

TEST(StochasticLearnerHostileCheckpoint, ADegenerateRngStateIsAnError) {
  nlohmann::json j = ShortCheckpointJson();
  std::istringstream in(j["rng_state"].get<std::string>());
  std::vector<std::string> words;
  for (std::string word; in >> word;) words.push_back(word);
  ASSERT_EQ(words.size(), 313u);
  std::string zeros;
  for (size_t i = 0; i + 1 < words.size(); ++i) zeros += "0 ";
  j["rng_state"] = zeros + words.back();
  ExpectRefused(ResumeText(j.dump(), ResumeOptions(StochasticOptimiser::ADAM)), "rng_state");
}

TEST(StochasticLearnerHostileCheckpoint, NonFiniteOptimiserStateAndCounterOverflowAreErrors) {
  const Options options = ResumeOptions(StochasticOptimiser::ADAM);
  nlohmann::json j = ShortCheckpointJson();
  j["optimiser_state"]["adam_v"][1] = "inf";
  ExpectRefused(ResumeText(j.dump(), options), "optimiser_state.adam_v");
  j = ShortCheckpointJson();
  j["optimiser_state"]["adam_m"][0] = "nan";
  ExpectRefused(ResumeText(j.dump(), options), "optimiser_state.adam_m");

  // A run at the end of the iteration counter stops with an error instead of
  // overflowing it.
  j = ShortCheckpointJson();
  j["iterations_completed"] = std::numeric_limits<int>::max();
  j["curve"]["recorded"] = false;
  j["curve"]["rows"] = nlohmann::json::array();
  Options resumed = options;
  resumed.curve_csv_path.clear();
  resumed.num_epochs = 3;
  Summary summary;
  const Status status = ResumeText(j.dump(), resumed, &summary);
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("iterations_completed"), std::string::npos)
      << status.message();
  EXPECT_EQ(summary.num_iterations, std::numeric_limits<int>::max());
}

// Reports an identity, as an objective over a named data set would.
class NamedRegression : public RegressionObjective {
 public:
  explicit NamedRegression(std::string identity)
      : RegressionObjective(30, kResumeWTrue, 0.2), identity_(std::move(identity)) {}
  std::string Identity() const override { return identity_; }

 private:
  std::string identity_;
};

TEST(StochasticLearnerHostileCheckpoint, ACheckpointOfAnotherRunIsRefusedNamingTheField) {
  const std::string text = ReadFile(WriteShortCheckpoint());
  const Options options = ResumeOptions(StochasticOptimiser::ADAM);
  struct Case {
    std::function<void(Options*)> change;
    std::string field;
  };
  const std::vector<Case> cases = {
      {[](Options* o) { o->adam_beta1 = 0.8; }, "adam_beta1"},
      {[](Options* o) { o->adam_beta2 = 0.99; }, "adam_beta2"},
      {[](Options* o) { o->adam_epsilon = 1e-6; }, "adam_epsilon"},
      {[](Options* o) { o->trust_radius = 0.5; }, "trust_radius"},
      {[](Options* o) { o->lower_bounds[1] = 0.01; }, "lower_bounds"},
      {[](Options* o) { o->upper_bounds.clear(); }, "upper_bounds"},
      {[](Options* o) { o->skip_failed_examples = true; }, "skip_failed_examples"},
  };
  for (const Case& c : cases) {
    Options changed = options;
    c.change(&changed);
    ExpectRefused(ResumeText(text, changed), c.field);
  }

  // The objective's identity, when it has one.
  {
    NamedRegression first("data set A");
    Options named = options;
    named.checkpoint_path = TestPath("named.json");
    Eigen::VectorXd w = kResumeW0;
    named.num_epochs = 1;
    ASSERT_TRUE(StochasticLearner(named).Learn(&first, &w, nullptr).ok());
    const std::string named_text = ReadFile(named.checkpoint_path);
    NamedRegression second("data set B");
    named.num_epochs = 2;
    ExpectRefused(ResumeText(named_text, named, nullptr, &second), "data set A");
    NamedRegression same("data set A");
    EXPECT_TRUE(ResumeText(named_text, named, nullptr, &same).ok());
  }

  // The learning rate and the limits may change: reported, not refused.
  Options changed = options;
  changed.learning_rate = 0.01;
  changed.num_epochs = 3;
  Summary summary;
  ASSERT_TRUE(ResumeText(text, changed, &summary).ok()) << summary.message;
  bool reported = false;
  for (const std::string& change : summary.resume_changes) {
    if (change.find("learning_rate 0.05 -> 0.01") != std::string::npos) reported = true;
  }
  EXPECT_TRUE(reported);
  EXPECT_NE(summary.FullReport().find("learning_rate 0.05 -> 0.01"), std::string::npos)
      << summary.FullReport();

  // A checkpoint of the previous format, without these fields.
  nlohmann::json old = nlohmann::json::parse(text);
  old["version"] = 1;
  old.erase("trajectory");
  ExpectRefused(ResumeText(old.dump(), options), "version 1");
}

TEST(StochasticLearnerHostileCheckpoint, CurveCsvPathMayNotBeTheCheckpointPath) {
  Options options;
  options.checkpoint_path = "run/checkpoint.json";
  options.curve_csv_path = "run/./checkpoint.json";
  std::string error;
  EXPECT_FALSE(options.IsValid(&error));
  EXPECT_NE(error.find("curve_csv_path"), std::string::npos) << error;
}

// ------------------------------------------------------------ Constraints.

// Optima outside the box for every coordinate; every iterate (and average)
// must lie inside, and the non-averaged ones end on the active bound.
TEST(StochasticLearnerConstraints, BoundsAreRespectedAtEveryIteration) {
  const std::vector<double> lower = {-1.0, 0.25, 0.5};
  const std::vector<double> upper = {0.5, 4.0, 2.0};
  QuadraticObjective objective(MakeTargets(20, Eigen::Vector3d(3.0, 0.01, 5.0), 0.5));
  for (StochasticOptimiser optimiser : kAllOptimisers) {
    Options options;
    options.optimiser = optimiser;
    options.learning_rate = optimiser == StochasticOptimiser::ADAM ? 0.3 : 0.4;
    options.batch_size = 3;
    options.num_epochs = 15;
    options.parameter_transforms = {ParameterTransform::IDENTITY, ParameterTransform::SQUARED,
                                    ParameterTransform::EXP};
    options.lower_bounds = lower;
    options.upper_bounds = upper;
    int violations = 0;
    options.iteration_callback = [&](const IterationRecord& record) {
      for (int i = 0; i < 3; ++i) {
        for (double value : {record.w[i], record.w_average[i], record.w_evaluated[i]}) {
          if (!(value >= lower[i] && value <= upper[i])) ++violations;
        }
      }
      return true;
    };
    Eigen::VectorXd w = Eigen::Vector3d(0.0, 1.0, 1.0);
    Summary summary;
    ASSERT_TRUE(StochasticLearner(options).Learn(&objective, &w, &summary).ok()) << summary.message;
    EXPECT_EQ(violations, 0) << StochasticOptimiserToString(optimiser);
    if (optimiser != StochasticOptimiser::AVERAGED_SGD) {
      EXPECT_EQ(w[0], 0.5);
      EXPECT_NEAR(w[1], 0.25, 1e-15);
      EXPECT_NEAR(w[2], 2.0, 4e-16);
    } else {
      EXPECT_NEAR(w[0], 0.5, 0.05);
    }
  }
}

// With the optimum at w = -1 < 0, SQUARED and EXP keep w positive.
TEST(StochasticLearnerConstraints, SquaredAndExpKeepWPositive) {
  QuadraticObjective objective(MakeTargets(20, Eigen::Vector2d(-1.0, -1.0), 0.5));
  Options options;
  options.optimiser = StochasticOptimiser::SGD;
  options.learning_rate = 0.2;
  options.batch_size = 4;
  options.num_epochs = 20;
  options.parameter_transforms = {ParameterTransform::SQUARED, ParameterTransform::EXP};
  int non_positive = 0;
  options.iteration_callback = [&](const IterationRecord& record) {
    if (!(record.w[0] > 0.0) || !(record.w[1] > 0.0)) ++non_positive;
    return true;
  };
  Eigen::VectorXd w = Eigen::Vector2d(2.0, 2.0);
  ASSERT_TRUE(StochasticLearner(options).Learn(&objective, &w, nullptr).ok());
  EXPECT_EQ(non_positive, 0);
  // Both head for the boundary w = 0 of their range.
  EXPECT_LT(w[0], 0.05);
  EXPECT_LT(w[1], 0.2);
}

// dL/dtheta from the record against central differences of the mean loss in
// theta, h = 1e-5: truncation O(h^2) ~ 1e-10, rounding ~ 1e-16 / h ~ 1e-11;
// tolerance 1e-7 relative to max(1, |dL/dtheta|).
TEST(StochasticLearnerConstraints, ChainedGradientMatchesFiniteDifferencesInTheta) {
  RegressionObjective objective(12, Eigen::Vector3d(0.5, 1.5, 0.8), 0.2);
  const std::vector<ParameterTransform> transforms = {
      ParameterTransform::IDENTITY, ParameterTransform::SQUARED, ParameterTransform::EXP};
  auto w_of_theta = [&](const Eigen::VectorXd& theta) {
    return Eigen::Vector3d(theta[0], theta[1] * theta[1], std::exp(theta[2]));
  };
  Options options;
  options.optimiser = StochasticOptimiser::SGD;
  options.batch_size = 12;  // the whole set: the record's gradient is the full one
  options.shuffle = false;
  options.num_epochs = 0;
  options.max_iterations = 3;
  options.learning_rate = 0.1;
  options.parameter_transforms = transforms;
  std::vector<IterationRecord> records;
  options.iteration_callback = [&](const IterationRecord& record) {
    records.push_back(record);
    return true;
  };
  Eigen::VectorXd w = Eigen::Vector3d(0.3, 0.7, 1.3);
  ASSERT_TRUE(StochasticLearner(options).Learn(&objective, &w, nullptr).ok());
  ASSERT_EQ(records.size(), 3u);
  const double h = 1e-5;
  for (const IterationRecord& record : records) {
    const Eigen::VectorXd& theta = record.theta_evaluated;
    EXPECT_NEAR((record.w_evaluated - w_of_theta(theta)).norm(), 0.0, 1e-15);
    EXPECT_NEAR(record.loss, objective.MeanLoss(record.w_evaluated), 1e-15);
    for (int i = 0; i < 3; ++i) {
      Eigen::VectorXd plus = theta, minus = theta;
      plus[i] += h;
      minus[i] -= h;
      const double numeric =
          (objective.MeanLoss(w_of_theta(plus)) - objective.MeanLoss(w_of_theta(minus))) / (2 * h);
      const double analytic = record.theta_gradient[i];
      EXPECT_NEAR(analytic, numeric, 1e-7 * std::max(1.0, std::abs(analytic)))
          << ParameterTransformToString(transforms[i]) << " at iteration " << record.iteration;
    }
    EXPECT_DOUBLE_EQ(record.gradient_norm, record.theta_gradient.norm());
  }
}

// lr = 10 on a unit-curvature quadratic diverges without a trust radius;
// with radius 0.1 every step is at most 0.1 long and the run converges.
TEST(StochasticLearnerConstraints, TrustRadiusCapsEveryStep) {
  QuadraticObjective objective(MakeTargets(20, Eigen::Vector2d(1.0, 2.0), 0.3));
  for (StochasticOptimiser optimiser : {StochasticOptimiser::SGD, StochasticOptimiser::ADAM}) {
    Options options;
    options.optimiser = optimiser;
    options.learning_rate = 10.0;
    options.learning_rate_decay = 0.1;
    options.trust_radius = 0.1;
    options.batch_size = 20;
    options.num_epochs = 300;
    int too_long = 0;
    int inconsistent = 0;
    options.iteration_callback = [&](const IterationRecord& record) {
      if (record.step_norm > 0.1 * (1.0 + 1e-12)) ++too_long;
      if (std::abs(record.step_norm - (record.theta - record.theta_evaluated).norm()) > 1e-15) {
        ++inconsistent;
      }
      return true;
    };
    Eigen::VectorXd w = Eigen::Vector2d(-3.0, 5.0);
    Summary summary;
    ASSERT_TRUE(StochasticLearner(options).Learn(&objective, &w, &summary).ok());
    EXPECT_EQ(too_long, 0);
    EXPECT_EQ(inconsistent, 0);
    EXPECT_GT(summary.num_capped_steps, 0);
    EXPECT_LE(summary.max_step_norm, 0.1 * (1.0 + 1e-12));
    EXPECT_LT((w - objective.Mean()).norm(), 1e-3) << StochasticOptimiserToString(optimiser);
  }
}

// ------------------------------------------------------------ Failures.

TEST(StochasticLearnerFailures, AFailingExampleReturnsAnErrorNamingIt) {
  QuadraticObjective objective(MakeTargets(20, Eigen::Vector2d(1.0, 2.0), 0.3));
  objective.failing_example = 7;
  Options options;
  options.optimiser = StochasticOptimiser::SGD_MOMENTUM;
  options.learning_rate = 0.1;
  options.batch_size = 3;
  options.num_epochs = 2;
  options.curve_csv_path = TestPath("curve.csv");
  Eigen::VectorXd last_w = Eigen::Vector2d(0.0, 0.0);
  int iterations = 0;
  options.iteration_callback = [&](const IterationRecord& record) {
    last_w = record.w;
    ++iterations;
    return true;
  };
  Eigen::VectorXd w = last_w;
  Summary summary;
  const Status status = StochasticLearner(options).Learn(&objective, &w, &summary);
  EXPECT_EQ(status.code(), StatusCode::kNoConvergence);
  EXPECT_NE(status.message().find("example 7 (iteration " + std::to_string(iterations) +
                                  ", epoch 0): inner solve did not converge"),
            std::string::npos)
      << status.message();
  EXPECT_EQ(summary.termination, StochasticTermination::FAILURE);
  EXPECT_EQ(summary.num_iterations, iterations);
  EXPECT_EQ(w, last_w);  // the last good iterate
  // The curve up to the last good iterate is still written.
  const std::string csv = ReadFile(options.curve_csv_path);
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 1 + iterations);
}

TEST(StochasticLearnerFailures, ANanGradientIsANumericalFailureNamingTheExample) {
  QuadraticObjective objective(MakeTargets(8, Eigen::Vector2d(1.0, 2.0), 0.3));
  objective.nan_gradient_example = 3;
  Options options;
  options.batch_size = 8;
  Eigen::VectorXd w = Eigen::Vector2d(0.0, 0.0);
  const Status status = StochasticLearner(options).Learn(&objective, &w, nullptr);
  EXPECT_EQ(status.code(), StatusCode::kNumericalFailure);
  EXPECT_NE(status.message().find("example 3 (iteration 0, epoch 0): gradient is not finite"),
            std::string::npos)
      << status.message();
  EXPECT_EQ(w, Eigen::Vector2d(0.0, 0.0));
}

TEST(StochasticLearnerFailures, SkippedExamplesAreCountedAndLeftOut) {
  QuadraticObjective objective(MakeTargets(20, Eigen::Vector2d(1.0, 2.0), 0.3));
  objective.failing_example = 7;
  Options options;
  options.optimiser = StochasticOptimiser::SGD;
  options.skip_failed_examples = true;
  options.learning_rate = 0.5;
  options.batch_size = 20;
  options.num_epochs = 60;
  Eigen::VectorXd w = Eigen::Vector2d(0.0, 0.0);
  Summary summary;
  ASSERT_TRUE(StochasticLearner(options).Learn(&objective, &w, &summary).ok()) << summary.message;
  EXPECT_EQ(summary.num_skipped_examples, 60);
  // Full batches without example 7: the mean of the other 19 (1e-12).
  EXPECT_LT((w - objective.Mean(/*excluded=*/7)).norm(), 1e-12);
}

TEST(StochasticLearnerFailures, AWrongGradientSizeIsAnErrorEvenWhenSkipping) {
  QuadraticObjective objective(MakeTargets(8, Eigen::Vector2d(1.0, 2.0), 0.3));
  objective.wrong_size_example = 2;
  Options options;
  options.skip_failed_examples = true;
  options.batch_size = 8;
  Eigen::VectorXd w = Eigen::Vector2d(0.0, 0.0);
  const Status status = StochasticLearner(options).Learn(&objective, &w, nullptr);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("example 2"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("gradient of size 1"), std::string::npos) << status.message();
}

TEST(StochasticLearnerFailures, AnExceptionIsAnErrorNamingTheExampleEvenWhenSkipping) {
  QuadraticObjective objective(MakeTargets(8, Eigen::Vector2d(1.0, 2.0), 0.3));
  objective.throwing_example = 5;
  Options options;
  options.skip_failed_examples = true;
  options.batch_size = 4;
  options.num_threads = 2;
  Eigen::VectorXd w = Eigen::Vector2d(0.0, 0.0);
  const Status status = StochasticLearner(options).Learn(&objective, &w, nullptr);
  EXPECT_EQ(status.code(), StatusCode::kInternalError);
  EXPECT_NE(status.message().find("example 5 (iteration"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("EvaluateExample threw: injected exception"),
            std::string::npos)
      << status.message();
}

// ------------------------------------------------------------ Processes.

// P "processes" as threads of this test, exchanging through shared memory:
// the LearnerCommunicator seam without MPI (tests/mpi runs it on MPI).
class ThreadGroup {
 public:
  explicit ThreadGroup(int size) : size_(size), slots_(size) {}
  int size() const { return size_; }
  void AllGather(int rank, const std::string& local, std::vector<std::string>* all) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      slots_[rank] = local;
    }
    Barrier();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      *all = slots_;
    }
    Barrier();  // nobody overwrites a slot before everyone has read it
  }

 private:
  void Barrier() {
    std::unique_lock<std::mutex> lock(mutex_);
    const int64_t generation = generation_;
    if (++waiting_ == size_) {
      waiting_ = 0;
      ++generation_;
      condition_.notify_all();
    } else {
      condition_.wait(lock, [&] { return generation_ != generation; });
    }
  }
  const int size_;
  std::mutex mutex_;
  std::condition_variable condition_;
  std::vector<std::string> slots_;
  int waiting_ = 0;
  int64_t generation_ = 0;
};

class ThreadCommunicator : public LearnerCommunicator {
 public:
  ThreadCommunicator(ThreadGroup* group, int rank) : group_(group), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return group_->size(); }
  void AllGather(const std::string& local, std::vector<std::string>* all) override {
    group_->AllGather(rank_, local, all);
  }

 private:
  ThreadGroup* group_;
  int rank_;
};

struct ProcessRun {
  Status status;
  Eigen::VectorXd w;
  Summary summary;
  std::vector<Eigen::VectorXd> iterates;
  int evaluations = 0;  // of this process's training objective
};

// Learns on `num_processes` thread-processes (0: no communicator), each with
// its own objective; `setup` adjusts each process's objective and options.
std::vector<ProcessRun> LearnOnProcesses(
    int num_processes, const std::function<void(int, RegressionObjective*, Options*)>& setup) {
  const int runs = std::max(1, num_processes);
  std::vector<ProcessRun> results(runs);
  ThreadGroup group(runs);
  auto run = [&](int rank) {
    RegressionObjective objective(29, Eigen::Vector3d(0.5, -1.0, 2.0), 0.3);
    RegressionObjective validation(9, Eigen::Vector3d(0.5, -1.0, 2.0), 0.3, /*salt=*/100);
    ThreadCommunicator communicator(&group, rank);
    Options options;
    options.optimiser = StochasticOptimiser::ADAM;
    options.learning_rate = 0.05;
    options.batch_size = 4;
    options.num_epochs = 5;
    options.seed = 3;
    options.validation_objective = &validation;
    if (num_processes > 0) options.communicator = &communicator;
    options.iteration_callback = [&results, rank](const IterationRecord& record) {
      results[rank].iterates.push_back(record.w);
      return true;
    };
    setup(rank, &objective, &options);
    Eigen::VectorXd w = Eigen::Vector3d::Zero();
    results[rank].status = StochasticLearner(options).Learn(&objective, &w, &results[rank].summary);
    results[rank].w = w;
    results[rank].evaluations = objective.evaluations();
  };
  std::vector<std::thread> threads;
  for (int rank = 1; rank < runs; ++rank) threads.emplace_back(run, rank);
  run(0);
  for (std::thread& thread : threads) thread.join();
  return results;
}

bool SameBits(const Eigen::VectorXd& a, const Eigen::VectorXd& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), sizeof(double) * a.size()) == 0;
}

TEST(StochasticLearnerProcesses, BitIdenticalToOneProcessWithEitherDistribution) {
  for (ExampleDistribution distribution :
       {ExampleDistribution::SHARDED, ExampleDistribution::ROUND_ROBIN}) {
    for (bool skip : {false, true}) {
      auto setup = [&](int, RegressionObjective* objective, Options* options) {
        options->example_distribution = distribution;
        options->skip_failed_examples = skip;
        if (skip) objective->failing_example = 6;
      };
      const ProcessRun expected = LearnOnProcesses(0, setup)[0];
      ASSERT_TRUE(expected.status.ok()) << expected.status.ToString();
      EXPECT_EQ(expected.summary.num_skipped_examples, skip ? 5 : 0);
      for (int processes : {1, 3}) {
        for (const ProcessRun& actual : LearnOnProcesses(processes, setup)) {
          SCOPED_TRACE(std::string(ExampleDistributionToString(distribution)) + ", " +
                       std::to_string(processes) + " processes, skip " + (skip ? "on" : "off"));
          ASSERT_TRUE(actual.status.ok()) << actual.status.ToString();
          EXPECT_TRUE(SameBits(expected.w, actual.w));
          ASSERT_EQ(expected.iterates.size(), actual.iterates.size());
          for (size_t i = 0; i < expected.iterates.size(); ++i) {
            EXPECT_TRUE(SameBits(expected.iterates[i], actual.iterates[i])) << "iteration " << i;
          }
          EXPECT_EQ(expected.summary.num_skipped_examples, actual.summary.num_skipped_examples);
          ASSERT_EQ(expected.summary.epochs.size(), actual.summary.epochs.size());
          for (size_t e = 0; e < expected.summary.epochs.size(); ++e) {
            EXPECT_EQ(expected.summary.epochs[e].loss, actual.summary.epochs[e].loss);
            EXPECT_EQ(expected.summary.epochs[e].validation_loss,
                      actual.summary.epochs[e].validation_loss);
          }
          EXPECT_EQ(actual.summary.num_processes, processes);
        }
      }
    }
  }
}

TEST(StochasticLearnerProcesses, EachProcessEvaluatesOnlyItsShare) {
  // 29 examples, minibatches of 4 (the last of an epoch holds 1), 5 epochs,
  // 3 processes.
  const struct {
    ExampleDistribution distribution;
    std::vector<int> evaluations;
  } cases[] = {
      // Examples e with e mod 3 == rank: 10, 10 and 9 per epoch.
      {ExampleDistribution::SHARDED, {50, 50, 45}},
      // Positions k mod 3 == rank of 7 minibatches of 4 and one of 1:
      // 15, 7 and 7 per epoch.
      {ExampleDistribution::ROUND_ROBIN, {75, 35, 35}},
  };
  for (const auto& c : cases) {
    const std::vector<ProcessRun> runs =
        LearnOnProcesses(3, [&](int, RegressionObjective*, Options* options) {
          options->validation_objective = nullptr;
          options->example_distribution = c.distribution;
        });
    for (int rank = 0; rank < 3; ++rank) {
      ASSERT_TRUE(runs[rank].status.ok()) << runs[rank].status.ToString();
      EXPECT_EQ(runs[rank].evaluations, c.evaluations[rank])
          << ExampleDistributionToString(c.distribution) << ", process " << rank;
    }
  }
}

TEST(StochasticLearnerProcesses, AFailureOnOneProcessStopsAllWithTheSameStatus) {
  const std::vector<ProcessRun> runs =
      LearnOnProcesses(3, [](int rank, RegressionObjective* objective, Options*) {
        // Example 7 is process 1's (SHARDED, 7 mod 3); only that process's
        // objective fails, or throws.
        if (rank == 1) objective->failing_example = 7;
      });
  for (const ProcessRun& run : runs) {
    EXPECT_EQ(run.status.code(), StatusCode::kNoConvergence);
    EXPECT_NE(run.status.message().find("example 7 (iteration"), std::string::npos)
        << run.status.message();
    EXPECT_NE(run.status.message().find("on process 1 of 3"), std::string::npos)
        << run.status.message();
    EXPECT_TRUE(SameBits(run.w, runs[0].w));
  }
  const std::vector<ProcessRun> thrown =
      LearnOnProcesses(3, [](int rank, RegressionObjective* objective, Options* options) {
        if (rank == 1) objective->throwing_example = 7;
        options->skip_failed_examples = true;
      });
  for (const ProcessRun& run : thrown) {
    EXPECT_EQ(run.status.code(), StatusCode::kInternalError);
    EXPECT_NE(run.status.message().find("threw: injected exception"), std::string::npos)
        << run.status.message();
  }
}

TEST(StochasticLearnerProcesses, ProcessesThatStartDifferentRunsAreRefused) {
  const std::vector<ProcessRun> runs =
      LearnOnProcesses(2, [](int rank, RegressionObjective*, Options* options) {
        if (rank == 1) options->learning_rate = 0.01;
      });
  for (const ProcessRun& run : runs) {
    EXPECT_EQ(run.status.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(run.status.message().find("process 1 starts another run than process 0"),
              std::string::npos)
        << run.status.message();
  }
}

TEST(StochasticLearnerProcesses, ExampleDistributionNamesAndCommunicatorChecks) {
  for (ExampleDistribution distribution :
       {ExampleDistribution::SHARDED, ExampleDistribution::ROUND_ROBIN}) {
    ExampleDistribution read;
    ASSERT_TRUE(StringToExampleDistribution(ExampleDistributionToString(distribution), &read));
    EXPECT_EQ(read, distribution);
  }
  ExampleDistribution read;
  EXPECT_FALSE(StringToExampleDistribution("SHARD", &read));
  ThreadGroup group(2);
  ThreadCommunicator out_of_range(&group, 2);
  Options options;
  options.communicator = &out_of_range;
  std::string error;
  EXPECT_FALSE(options.IsValid(&error));
  EXPECT_NE(error.find("rank 2 of size 2"), std::string::npos) << error;
  options.communicator = nullptr;
  options.example_distribution = static_cast<ExampleDistribution>(7);
  EXPECT_FALSE(options.IsValid(&error));
  EXPECT_NE(error.find("example_distribution"), std::string::npos) << error;
}

// ------------------------------------------------------------ Monitoring.

TEST(StochasticLearnerMonitoring, ValidationProgressAndCurve) {
  QuadraticObjective objective(MakeTargets(24, Eigen::Vector2d(1.0, 2.0), 0.5));
  QuadraticObjective validation(MakeTargets(10, Eigen::Vector2d(1.1, 1.9), 0.5));
  Options options;
  options.optimiser = StochasticOptimiser::AVERAGED_SGD;
  options.learning_rate = 0.1;
  options.batch_size = 5;  // 5 minibatches per epoch, the last of 4
  options.num_epochs = 3;
  options.num_threads = 2;
  options.validation_objective = &validation;
  options.curve_csv_path = TestPath("curve.csv");
  std::ostringstream progress;
  options.progress_stream = &progress;
  std::map<int, Eigen::VectorXd> model_after_epoch;
  options.iteration_callback = [&](const IterationRecord& record) {
    model_after_epoch[record.epoch] = record.w_average;
    return true;
  };
  Eigen::VectorXd w = Eigen::Vector2d(0.0, 0.0);
  Summary summary;
  ASSERT_TRUE(StochasticLearner(options).Learn(&objective, &w, &summary).ok()) << summary.message;
  EXPECT_FALSE(validation.same_example_concurrently());

  // Validation: the mean validation loss at each epoch's final model.
  ASSERT_EQ(summary.epochs.size(), 3u);
  for (int e = 0; e < 3; ++e) {
    EXPECT_EQ(summary.epochs[e].epoch, e);
    EXPECT_EQ(summary.epochs[e].num_iterations, 5);
    EXPECT_DOUBLE_EQ(summary.epochs[e].validation_loss, validation.MeanLoss(model_after_epoch[e]));
  }
  EXPECT_EQ(w, model_after_epoch[2]);
  EXPECT_EQ(summary.final_validation_loss, summary.epochs[2].validation_loss);
  EXPECT_GE(summary.best_validation_epoch, 0);

  // Progress: one line per epoch.
  std::vector<std::string> lines;
  std::istringstream in(progress.str());
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 3u) << progress.str();
  EXPECT_EQ(lines[0].rfind("epoch   1/3  loss ", 0), 0u) << lines[0];
  for (const char* field : {"|g| ", "|step| ", "val ", " s"}) {
    EXPECT_NE(lines[2].find(field), std::string::npos) << lines[2];
  }

  // Curve: header plus one row per iteration, with w after each step.
  std::istringstream csv(ReadFile(options.curve_csv_path));
  std::string header;
  std::getline(csv, header);
  EXPECT_EQ(header, "iteration,epoch,loss,gradient_norm,step_norm,learning_rate,w_0,w_1");
  int rows = 0;
  for (std::string line; std::getline(csv, line);) {
    EXPECT_EQ(std::count(line.begin(), line.end(), ','), 7) << line;
    EXPECT_EQ(line.rfind(std::to_string(rows) + "," + std::to_string(rows / 5) + ",", 0), 0u)
        << line;
    ++rows;
  }
  EXPECT_EQ(rows, 15);
  EXPECT_NE(summary.BriefReport().find("AVERAGED_SGD, 15 iterations, 3 epochs"), std::string::npos)
      << summary.BriefReport();
  EXPECT_NE(summary.FullReport().find("MAX_EPOCHS"), std::string::npos);
}

TEST(StochasticLearnerMonitoring, StoppingMidEpochReportsTheInterruptedEpoch) {
  QuadraticObjective objective(MakeTargets(40, Eigen::Vector2d(1.0, 2.0), 0.5));
  Options options;
  options.batch_size = 4;
  options.max_iterations = 5;
  std::ostringstream progress;
  options.progress_stream = &progress;
  Eigen::VectorXd w = Eigen::Vector2d(0.0, 0.0);
  Summary summary;
  ASSERT_TRUE(StochasticLearner(options).Learn(&objective, &w, &summary).ok());
  EXPECT_EQ(summary.termination, StochasticTermination::MAX_ITERATIONS);
  EXPECT_EQ(summary.num_iterations, 5);
  EXPECT_EQ(summary.num_epochs, 0);
  ASSERT_EQ(summary.epochs.size(), 1u);
  EXPECT_FALSE(summary.epochs[0].complete);
  EXPECT_EQ(summary.epochs[0].num_iterations, 5);
  EXPECT_EQ(objective.evaluations(), 20);
  EXPECT_NE(progress.str().find("(interrupted after 5 iterations)"), std::string::npos)
      << progress.str();
}

}  // namespace
}  // namespace ceres_wiberg
