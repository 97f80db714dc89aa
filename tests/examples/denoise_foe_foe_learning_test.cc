// Learning in examples/denoise_foe: the training objective's reverse-mode
// gradient against central differences of its loss through re-solves, a
// short training run that lowers the outer loss on its training images, and
// errors on bad data.

#include "foe_learning.h"

#include <cmath>
#include <memory>
#include <random>

#include "ceres_wiberg/minimiser_derivative_checker.h"
#include "ceres_wiberg/stochastic_learner.h"
#include "gtest/gtest.h"

namespace denoise_foe {
namespace {

using ceres_wiberg::Status;

std::vector<NoisyPair> TinyPairs(int count, int side) {
  SyntheticImageOptions options;
  options.width = options.height = side;
  return MakeNoisyPairs(options, count, 21, 20.0);
}

TEST(FoeTrainingObjective, GradientMatchesCentralDifferencesOfTheLoss) {
  const std::vector<NoisyPair> pairs = TinyPairs(1, 8);
  FoeTrainingObjective::Options options;
  options.solver_options = ceres_wiberg::TightSolverOptions();
  options.derivative_options.lambda = 0.0;  // the true gradient of the loss
  options.warm_start = false;  // every solve from the noisy image
  std::unique_ptr<FoeTrainingObjective> objective;
  const FieldsOfExperts model = DefaultFieldsOfExperts();
  ASSERT_TRUE(FoeTrainingObjective::Create(&pairs, model, options, &objective).ok());
  ASSERT_EQ(objective->num_parameters(), 80);
  const Eigen::VectorXd w = objective->ParametersOf(model);
  double loss = 0.0;
  Eigen::VectorXd gradient;
  Status status = objective->EvaluateExample(0, w, &loss, &gradient);
  ASSERT_TRUE(status.ok()) << status.ToString();
  std::mt19937 rng(2);
  std::normal_distribution<double> normal(0.0, 1.0);
  // Central differences along v at steps h and 2h, Richardson-extrapolated
  // (the loss bends sharply: a plain difference at h = 1e-4 is off by ~1e-3).
  auto central = [&](const Eigen::VectorXd& v, double h) {
    double plus = 0.0, minus = 0.0;
    EXPECT_TRUE(objective->EvaluateExample(0, w + h * v, &plus, nullptr).ok());
    EXPECT_TRUE(objective->EvaluateExample(0, w - h * v, &minus, nullptr).ok());
    return (plus - minus) / (2.0 * h);
  };
  for (int trial = 0; trial < 2; ++trial) {
    Eigen::VectorXd v(w.size());
    for (int i = 0; i < v.size(); ++i) v[i] = normal(rng) * std::max(0.05, std::abs(w[i]));
    const double h = 1e-5;
    const double numeric = (4.0 * central(v, h) - central(v, 2.0 * h)) / 3.0;
    const double analytic = gradient.dot(v);
    // O(h^4) truncation and solver round-off / h: 1e-6 relative.
    EXPECT_NEAR(analytic, numeric, 1e-6 * std::abs(numeric)) << "trial " << trial;
  }
}

TEST(FoeTrainingObjective, ShortTrainingRunLowersTheOuterLoss) {
  const std::vector<NoisyPair> pairs = TinyPairs(2, 10);
  FoeTrainingObjective::Options options;
  std::unique_ptr<FoeTrainingObjective> objective;
  const FieldsOfExperts initial = DefaultFieldsOfExperts();
  ASSERT_TRUE(FoeTrainingObjective::Create(&pairs, initial, options, &objective).ok());
  ceres_wiberg::StochasticLearner::Options learner_options;
  learner_options.optimiser = ceres_wiberg::StochasticOptimiser::ADAM;
  learner_options.learning_rate = 0.005;
  learner_options.batch_size = 2;
  learner_options.num_epochs = 0;
  learner_options.max_iterations = 8;
  std::string curve;
  learner_options.iteration_callback = [&curve](const ceres_wiberg::IterationRecord& record) {
    curve += " " + std::to_string(record.loss);
    return true;
  };
  learner_options.parameter_transforms = objective->ParameterTransforms();
  Eigen::VectorXd w = objective->ParametersOf(initial);
  ceres_wiberg::StochasticLearner::Summary summary;
  const Status status = ceres_wiberg::StochasticLearner(learner_options)
                            .Learn(objective.get(), &w, &summary);
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(summary.num_iterations, 8);
  const FieldsOfExperts learned = objective->ModelOf(w);
  for (double m : learned.alpha) EXPECT_GT(m, 0.0);  // log-weights keep them positive

  // Denoising the training images from scratch: half the MSE per image.
  PsnrResult before, after;
  ASSERT_TRUE(EvaluateModel(pairs, initial, 20.0, DenoisingSolverOptions(), &before).ok());
  ASSERT_TRUE(EvaluateModel(pairs, learned, 20.0, DenoisingSolverOptions(), &after).ok());
  // Measured: 142.95 -> 137.56 (-3.8%, +0.17 dB). The inner energy is not
  // convex, so y*(w) jumps between local minima and the descent is noisy.
  EXPECT_LT(after.mean_loss, 0.98 * before.mean_loss)
      << "loss " << before.mean_loss << " -> " << after.mean_loss << ", minibatch losses" << curve;
  EXPECT_GT(after.mean_psnr_restored, before.mean_psnr_restored + 0.08);
}

TEST(FoeTrainingObjective, BadDataGivesAStatus) {
  std::vector<NoisyPair> pairs = TinyPairs(2, 8);
  pairs[1].noisy.pixels[5] = std::nan("");
  std::unique_ptr<FoeTrainingObjective> objective;
  Status status = FoeTrainingObjective::Create(&pairs, DefaultFieldsOfExperts(),
                                               FoeTrainingObjective::Options(), &objective);
  EXPECT_EQ(status.code(), ceres_wiberg::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "pair 1 noisy image: pixel 5 is not finite");

  pairs = TinyPairs(1, 4);
  FieldsOfExperts model = DefaultFieldsOfExperts();
  ASSERT_TRUE(
      FoeTrainingObjective::Create(&pairs, model, FoeTrainingObjective::Options(), &objective)
          .ok());
  Eigen::VectorXd w = objective->ParametersOf(model);
  w[3] = -0.5;
  double loss = 0.0;
  status = objective->EvaluateExample(0, w, &loss, nullptr);
  EXPECT_EQ(status.code(), ceres_wiberg::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("example 0: weight of expert 3"), std::string::npos)
      << status.message();
  EXPECT_EQ(objective->num_failures(), 1);

  Image tiny(2, 2, 10.0), restored;
  status = Denoise(tiny, model, 20.0, DenoisingSolverOptions(), &restored, nullptr);
  EXPECT_EQ(status.message(), "noisy image (2 x 2) is smaller than the 3 x 3 filters");
}

}  // namespace
}  // namespace denoise_foe
