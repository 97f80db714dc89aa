// A short training run of the bundle-adjustment example (per-camera weights
// and the pseudo-Huber scale, Adam on their logarithms, reverse-mode
// gradients of the aligned point RMSE at lambda = 0.1, D = diag(H)) lowers
// the training loss; the held-out aligned point RMSE is reported.

#include <cmath>
#include <cstdio>
#include <memory>
#include <vector>

#include "ba_energy.h"
#include "ba_learning.h"
#include "bal_scene.h"
#include "ceres_wiberg/stochastic_learner.h"
#include "gtest/gtest.h"

namespace bundle_adjustment {
namespace {

std::vector<Scene> Scenes(int count, uint64_t first_seed) {
  std::vector<Scene> scenes;
  for (int i = 0; i < count; ++i) {
    SceneOptions options;
    options.num_cameras = 8;
    options.num_points = 100;
    options.seed = first_seed + i;
    Scene scene;
    EXPECT_TRUE(GenerateScene(options, &scene).ok());
    scenes.push_back(std::move(scene));
  }
  return scenes;
}

double HeldOutRmse(const std::vector<Scene>& scenes, const BaModel& model) {
  BaEnergyOptions options;
  options.loss = BaLoss::LEARNT;
  options.gauge = GaugeFixing::FIRST_CAMERA_AND_ONE_COORDINATE;
  options.newton_polish = false;
  double sum = 0.0;
  for (const Scene& scene : scenes) {
    double rmse = 0.0;
    const ceres_wiberg::Status status = SolveAndScore(scene.initial, scene.truth, options, model,
                                                      BaSolverOptions(), &rmse, nullptr);
    EXPECT_TRUE(status.ok()) << status.ToString();
    sum += rmse;
  }
  return sum / scenes.size();
}

TEST(BundleAdjustmentLearning, ShortTrainingRunLowersTrainingLoss) {
  const std::vector<Scene> train = Scenes(3, 1);
  const std::vector<Scene> test = Scenes(6, 1001);
  // The program's starting point: a = 0.5 px, where the initial model
  // matches the Huber baseline (examples/bundle_adjustment/README.md).
  BaModel initial = BaModel::Initial(8);
  initial.scale = 0.5;
  std::unique_ptr<BaTrainingObjective> objective;
  ASSERT_TRUE(BaTrainingObjective::Create(&train, initial, BaTrainingObjective::Options(),
                                          &objective)
                  .ok());
  ceres_wiberg::StochasticLearner::Options options;
  options.optimiser = ceres_wiberg::StochasticOptimiser::ADAM;
  options.learning_rate = 0.1;
  options.batch_size = 3;
  options.num_epochs = 4;
  options.parameter_transforms.assign(9, ceres_wiberg::ParameterTransform::EXP);
  Eigen::VectorXd w = initial.ToVector();
  ceres_wiberg::StochasticLearner learner(options);
  ceres_wiberg::StochasticLearner::Summary summary;
  const ceres_wiberg::Status status = learner.Learn(objective.get(), &w, &summary);
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_LT(summary.final_loss, summary.epochs.front().loss) << summary.BriefReport();
  const double before = HeldOutRmse(test, initial);
  const double after = HeldOutRmse(test, BaModel::FromVector(w));
  std::printf("held-out aligned RMSE: initial model %.5f, after %d steps %.5f\n", before,
              summary.num_iterations, after);
  // Not asserted: 4 steps on 3 scenes of 100 points, with no validation
  // scenes to stop on, do NOT lower the held-out mean (measured: 0.0186 ->
  // 0.0273 here). The program's validation split and early stopping are
  // what make the learnt energy generalise (examples/bundle_adjustment/README.md).
  EXPECT_TRUE(std::isfinite(after));
}

}  // namespace
}  // namespace bundle_adjustment
