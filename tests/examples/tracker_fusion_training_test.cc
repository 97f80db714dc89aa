// Learning the tracker-fusion energy (examples/tracker_fusion/lib/
// fusion_training.h): the objective's gradient against differences of its
// loss, its errors, and a small end-to-end training run that must raise the
// IoU of the fused boxes on its training frames.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <vector>

#include "ceres_wiberg/stochastic_learner.h"
#include "fusion_training.h"
#include "gtest/gtest.h"
#include "synthetic_tracking.h"

namespace tracker_fusion {
namespace {

using ceres_wiberg::Status;

// A small synthetic benchmark (test data only; the experiment's benchmark is
// the generator's defaults).
Dataset SmallDataset(int num_frames) {
  SyntheticTrackingOptions options;
  options.seed = 11;
  options.num_sequences = 1;
  options.num_frames = num_frames;
  options.num_trackers = 8;
  SyntheticDataset synthetic;
  const Status status = GenerateSyntheticDataset(options, &synthetic);
  EXPECT_TRUE(status.ok()) << status.ToString();
  return synthetic.dataset;
}

Eigen::VectorXd VariedParameters(int num_trackers) {
  Eigen::VectorXd w = MakeInitialParameters(num_trackers, InitialParameters());
  for (int i = 0; i < w.size(); ++i) w[i] += 0.2 * std::cos(0.9 * i);
  return w;
}

// dL/dw of one frame (reverse mode through both corners, scattered into the
// global w) against central differences of the loss, whose inner solve is the
// full multi-start. At lambda = 0 the analytic gradient is the true
// derivative, so they must agree while no start switches optimum.
TEST(FusionTrainingTest, GradientMatchesDifferencesOfTheLoss) {
  const Dataset dataset = SmallDataset(40);  // the generator's minimum length
  FusionTrainingOptions options;
  options.derivative.lambda = 0.0;
  std::unique_ptr<FusionTrainingObjective> objective;
  ASSERT_TRUE(
      FusionTrainingObjective::Create(dataset, AllFrames(dataset), options, &objective).ok());
  const Eigen::VectorXd w = VariedParameters(dataset.num_trackers());
  int checked = 0;
  for (int example : {10, 20, 30}) {
    double loss = 0.0;
    Eigen::VectorXd gradient;
    ASSERT_TRUE(objective->EvaluateExample(example, w, &loss, &gradient).ok());
    ASSERT_EQ(gradient.size(), w.size());
    // h = 1e-5 in log-space: O(h^2) truncation ~1e-10 relative; the inner
    // solves stop at |g| <= 1e-11, i.e. loss errors ~1e-12 and gradient
    // errors ~1e-7 after division by h. Tolerance 1e-6 of the largest entry
    // (measured: 1e-7 and below).
    const double h = 1e-5;
    Eigen::VectorXd numeric(w.size());
    for (int i = 0; i < w.size(); ++i) {
      Eigen::VectorXd plus = w, minus = w;
      plus[i] += h;
      minus[i] -= h;
      double loss_plus = 0.0, loss_minus = 0.0;
      ASSERT_TRUE(objective->EvaluateExample(example, plus, &loss_plus, nullptr).ok());
      ASSERT_TRUE(objective->EvaluateExample(example, minus, &loss_minus, nullptr).ok());
      numeric[i] = (loss_plus - loss_minus) / (2.0 * h);
    }
    const double scale = numeric.cwiseAbs().maxCoeff();
    ASSERT_GT(scale, 1e-8) << "example " << example;
    // Trackers without a box on this frame get exactly zero.
    const double error = (gradient - numeric).cwiseAbs().maxCoeff() / scale;
    std::printf("example %d: |dL/dw|_max %.3g, max error / max |numeric| %.3g\n", example, scale,
                error);
    for (int i = 0; i < w.size(); ++i) {
      if (std::abs(gradient[i] - numeric[i]) > 1e-6 * scale) {
        std::printf("  w[%d]: analytic %.9g numeric %.9g\n", i, gradient[i], numeric[i]);
      }
    }
    EXPECT_LT(error, 1e-6) << "example " << example;
    ++checked;
  }
  EXPECT_EQ(checked, 3);
  const FusionTrainingDiagnostics diagnostics = objective->diagnostics();
  EXPECT_EQ(diagnostics.num_evaluations, 3);
  EXPECT_EQ(diagnostics.num_singular_hessians + diagnostics.num_indefinite_hessians, 0);
}

TEST(FusionTrainingTest, BadGroundTruthAndOptionsAreStatuses) {
  Dataset dataset = SmallDataset(40);
  dataset.sequences[0].groundtruth[7].width = 0.0;
  std::unique_ptr<FusionTrainingObjective> objective;
  Status status = FusionTrainingObjective::Create(dataset, AllFrames(dataset),
                                                  FusionTrainingOptions(), &objective);
  EXPECT_EQ(status.code(), ceres_wiberg::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("frame 7"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("ground-truth"), std::string::npos) << status.message();

  FusionTrainingOptions bad;
  bad.outer_loss_scale = -1.0;
  status = FusionTrainingObjective::Create(SmallDataset(40), AllFrames(dataset), bad, &objective);
  EXPECT_EQ(status.code(), ceres_wiberg::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("outer_loss_scale"), std::string::npos) << status.message();

  // Only frames without boxes (the initialisation frame): nothing to learn.
  FrameRef first;
  status = FusionTrainingObjective::Create(SmallDataset(40), {first}, FusionTrainingOptions(),
                                           &objective);
  EXPECT_EQ(status.code(), ceres_wiberg::StatusCode::kInvalidArgument);
}

// A small end-to-end run: Adam with the trust-region derivative on 120
// frames raises the mean IoU of the fused boxes on those frames and lowers
// the loss.
TEST(FusionTrainingTest, TrainingImprovesIoUOnTrainingFrames) {
  const Dataset dataset = SmallDataset(120);
  const std::vector<FrameRef> frames = AllFrames(dataset);
  FusionTrainingOptions options;  // lambda = 0.1
  std::unique_ptr<FusionTrainingObjective> objective;
  ASSERT_TRUE(FusionTrainingObjective::Create(dataset, frames, options, &objective).ok());
  const Eigen::VectorXd w0 = MakeInitialParameters(dataset.num_trackers(), InitialParameters());
  std::vector<double> overlaps;
  ASSERT_TRUE(
      EnergyFusionOverlaps(dataset, frames, w0, options.model, options.solver, &overlaps).ok());
  const double iou_before = AverageOverlap(overlaps);

  ceres_wiberg::StochasticLearner::Options learner_options;
  learner_options.optimiser = ceres_wiberg::StochasticOptimiser::ADAM;
  learner_options.learning_rate = 0.05;
  learner_options.batch_size = 16;
  learner_options.num_epochs = 4;
  learner_options.seed = 1;
  ceres_wiberg::StochasticLearner learner(learner_options);
  Eigen::VectorXd w = w0;
  ceres_wiberg::StochasticLearner::Summary summary;
  const Status status = learner.Learn(objective.get(), &w, &summary);
  ASSERT_TRUE(status.ok()) << status.ToString();
  ASSERT_TRUE(w.allFinite());
  ASSERT_TRUE(
      EnergyFusionOverlaps(dataset, frames, w, options.model, options.solver, &overlaps).ok());
  const double iou_after = AverageOverlap(overlaps);
  std::printf("IoU on the training frames %.4f -> %.4f; epoch loss %.4g -> %.4g\n", iou_before,
              iou_after, summary.epochs.front().loss, summary.epochs.back().loss);
  // Measured: IoU 0.456 -> 0.647, loss 0.062 -> 0.031.
  EXPECT_LT(summary.epochs.back().loss, 0.8 * summary.epochs.front().loss);
  EXPECT_GT(iou_after, iou_before + 0.05);
  EXPECT_EQ(summary.num_skipped_examples, 0);
}

}  // namespace
}  // namespace tracker_fusion
