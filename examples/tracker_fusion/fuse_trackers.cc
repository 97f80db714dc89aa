// The tracker-fusion experiment of Toso, Campbell and Russell (NeurIPS 2019,
// Table 1 and Figure 2; supplementary section 3): learn the per-tracker
// parameters of the fusion energy (fusion_energy.h) with the implicit
// derivative (lambda = 0) and with the trust-region derivative (lambda =
// 0.1), under both protocols of the paper (frames assigned at random to
// train/test; sequences assigned at random), and compare on held-out frames
// with the best single trackers, mean and median fusion and the untrained
// energy. See README.md.
//
//   fuse_trackers --output_json=fusion.json --output_dir=figure      # synthetic
//   fuse_trackers --vot_root=/data/vot2018                           # real VOT results

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "ceres_wiberg/file.h"
#include "ceres_wiberg/stochastic_learner.h"
#include "ceres_wiberg/enum_names.h"
#include "common/gnuplot.h"
#include "common/output_paths.h"
#include "fusion_energy.h"
#include "fusion_model.h"
#include "fusion_training.h"
#include "gflags/gflags.h"
#include "nlohmann/json.hpp"
#include "scoring.h"
#include "synthetic_tracking.h"
#include "vot_format.h"

DEFINE_string(vot_root, "",
              "A VOT result tree (sequences/, results/) to run on; empty: the synthetic "
              "benchmark with its default options.");
DEFINE_uint64(synthetic_seed, 1, "Seed of the synthetic benchmark (its documented default: 1).");
DEFINE_string(protocols, "frames,sequences",
              "Comma-separated: 'frames' (frames assigned at random to train/test) and/or "
              "'sequences' (sequences assigned at random).");
DEFINE_uint64(split_seed, 7, "Seed of the train/test assignment.");
DEFINE_double(train_fraction, 0.5, "Fraction of frames (or sequences) assigned to training.");
DEFINE_int32(max_train_frames, 0,
             "Train on at most this many of the training frames (a seeded random subset); 0: "
             "all. The test frames are never subsampled.");
DEFINE_int32(num_epochs, 8, "Epochs of the stochastic learner.");
DEFINE_int32(batch_size, 32, "Frames per minibatch.");
DEFINE_string(optimiser, "ADAM",
              "SGD, SGD_MOMENTUM, AVERAGED_SGD or ADAM (same for both derivatives).");
DEFINE_double(learning_rate, 0.02, "Step size on the log-parameters.");
DEFINE_double(learning_rate_decay, 0.0, "lr_t = learning_rate / (1 + decay t)^1, t the iteration.");
DEFINE_uint64(learner_seed, 3, "Seed of the minibatch order (same for both derivatives).");
DEFINE_double(trust_region_lambda, 0.1, "lambda of the trust-region derivative.");
DEFINE_double(outer_loss_scale, 0.25,
              "Cauchy scale of the outer loss, in ground-truth object sizes; 0: squared error.");
DEFINE_string(size_reference, "CONSENSUS",
              "w_0,t of eq. 15: CONSENSUS (median box size of the frame) or INITIALISATION "
              "(ground truth the tracker was initialised with).");
DEFINE_bool(multi_start, true,
            "Inner solve from every tracker's corner, keeping the lowest optimum (true), or one "
            "local descent from the median corner (false; for comparison).");
DEFINE_int32(num_threads, 1, "Threads evaluating a minibatch.");
DEFINE_string(output_json, "", "Write the results here (JSON, atomically).");
DEFINE_string(output_dir, "",
              "Write the Figure-2 data, a gnuplot script and (with gnuplot on PATH) a PNG here.");

namespace {

using ceres_wiberg::Status;
using ceres_wiberg::StochasticLearner;
using tracker_fusion::Dataset;
using tracker_fusion::FrameRef;
using tracker_fusion::FusionTrainingObjective;
using tracker_fusion::FusionTrainingOptions;

double Seconds(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The synthetic benchmark with its documented defaults, written in the VOT
// layout to a temporary folder and read back through ReadVotDataset (the code
// path of real data).
Status LoadData(Dataset* dataset, std::string* description) {
  if (!FLAGS_vot_root.empty()) {
    *description = "VOT results in " + FLAGS_vot_root;
    return tracker_fusion::ReadVotDataset(FLAGS_vot_root, tracker_fusion::VotReadOptions(),
                                          dataset);
  }
  tracker_fusion::SyntheticTrackingOptions options;
  options.seed = FLAGS_synthetic_seed;
  tracker_fusion::SyntheticDataset synthetic;
  Status status = tracker_fusion::GenerateSyntheticDataset(options, &synthetic);
  if (!status.ok()) return status;
  std::string pattern = (std::filesystem::temp_directory_path() / "fuse_trackers_XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) {
    return Status(ceres_wiberg::StatusCode::kInternalError,
                  "could not create a temporary folder " + pattern);
  }
  status = tracker_fusion::WriteVotDataset(pattern, synthetic.dataset);
  if (status.ok()) {
    status = tracker_fusion::ReadVotDataset(pattern, tracker_fusion::VotReadOptions(), dataset);
  }
  std::error_code ignored;
  std::filesystem::remove_all(pattern, ignored);
  std::ostringstream text;
  text << "synthetic benchmark (seed " << options.seed << ", " << options.num_sequences
       << " sequences x " << options.num_frames << " frames, " << options.num_trackers
       << " trackers), via the VOT layout";
  *description = text.str();
  return status;
}

// The paper's two protocols: frames or whole sequences assigned at random to
// train / test.
enum class SplitProtocol { kFrames, kSequences };

const char* SplitProtocolToString(SplitProtocol protocol) {
  return protocol == SplitProtocol::kFrames ? "frames" : "sequences";
}

// "frames" or "sequences"; false for any other name.
bool StringToSplitProtocol(const std::string& name, SplitProtocol* protocol) {
  return ceres_wiberg::StringToEnum(name, {SplitProtocol::kFrames, SplitProtocol::kSequences},
                                SplitProtocolToString, protocol);
}

struct Split {
  std::vector<FrameRef> train;
  std::vector<FrameRef> test;
};

Split MakeSplit(const Dataset& dataset, SplitProtocol protocol) {
  Split split;
  std::mt19937_64 rng(FLAGS_split_seed);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  if (protocol == SplitProtocol::kSequences) {
    // A random permutation; the first round(fraction * n) sequences train.
    std::vector<int> order(dataset.num_sequences());
    std::iota(order.begin(), order.end(), 0);
    for (int i = static_cast<int>(order.size()) - 1; i > 0; --i) {
      std::swap(order[i], order[static_cast<int>(unit(rng) * (i + 1)) % (i + 1)]);
    }
    const int num_train = static_cast<int>(std::lround(FLAGS_train_fraction * order.size()));
    std::vector<bool> is_train(dataset.num_sequences(), false);
    for (int i = 0; i < num_train; ++i) is_train[order[i]] = true;
    for (const FrameRef& ref : tracker_fusion::AllFrames(dataset)) {
      (is_train[ref.sequence] ? split.train : split.test).push_back(ref);
    }
  } else {
    for (const FrameRef& ref : tracker_fusion::AllFrames(dataset)) {
      (unit(rng) < FLAGS_train_fraction ? split.train : split.test).push_back(ref);
    }
  }
  return split;
}

std::vector<FrameRef> Subsample(const std::vector<FrameRef>& frames, int max_frames) {
  if (max_frames <= 0 || static_cast<int>(frames.size()) <= max_frames) return frames;
  std::vector<FrameRef> copy = frames;
  std::mt19937_64 rng(FLAGS_split_seed + 1);
  for (int i = 0; i < max_frames; ++i) {
    std::uniform_int_distribution<int> pick(i, static_cast<int>(copy.size()) - 1);
    std::swap(copy[i], copy[pick(rng)]);
  }
  copy.resize(max_frames);
  return copy;
}

struct Score {
  double iou = 0.0;
  double zero_fraction = 0.0;
};

Score MakeScore(const std::vector<double>& overlaps) {
  return {tracker_fusion::AverageOverlap(overlaps), tracker_fusion::ZeroOverlapFraction(overlaps)};
}

nlohmann::json ScoreJson(const Score& score) {
  return {{"iou", score.iou}, {"zero_iou_fraction", score.zero_fraction}};
}

struct TrainingRun {
  std::string name;
  double lambda = 0.0;
  bool converged = false;
  std::string verdict;  // why (not) converged
  Eigen::VectorXd w;
  Score train;
  Score test;
  std::vector<double> epoch_loss;
  std::vector<double> epoch_gradient_norm;
  // Mean training loss at w0 and at the learnt w.
  double initial_loss = std::numeric_limits<double>::quiet_NaN();
  double final_loss = std::numeric_limits<double>::quiet_NaN();
  double max_gradient_norm = 0.0;
  int num_skipped = 0;
  int num_evaluations = 0;
  tracker_fusion::FusionTrainingDiagnostics diagnostics;
  std::string termination;
  double seconds = 0.0;
};

// The mean loss of all the objective's examples at w (no derivatives).
Status MeanLoss(FusionTrainingObjective* objective, const Eigen::VectorXd& w, double* mean) {
  double sum = 0.0;
  for (int i = 0; i < objective->num_examples(); ++i) {
    double loss = 0.0;
    const Status status = objective->EvaluateExample(i, w, &loss, nullptr);
    if (!status.ok()) return status;
    sum += loss;
  }
  *mean = sum / objective->num_examples();
  return Status::Ok();
}

FusionTrainingOptions TrainingOptions(double lambda) {
  FusionTrainingOptions options;
  options.derivative.lambda = lambda;
  options.outer_loss_scale = FLAGS_outer_loss_scale;
  options.solver.multi_start = FLAGS_multi_start;
  // Validated in Run().
  CHECK(tracker_fusion::StringToSizeReference(FLAGS_size_reference, &options.model.size_reference));
  return options;
}

// The learner's options from the flags, for a training set of num_examples.
StochasticLearner::Options LearnerOptions(int num_examples) {
  StochasticLearner::Options options;
  CHECK(ceres_wiberg::StringToStochasticOptimiser(FLAGS_optimiser,
                                                  &options.optimiser));  // see Run()
  options.learning_rate = FLAGS_learning_rate;
  options.learning_rate_decay = FLAGS_learning_rate_decay;
  options.batch_size = std::min(FLAGS_batch_size, num_examples);
  options.num_epochs = FLAGS_num_epochs;
  options.seed = FLAGS_learner_seed;
  options.num_threads = FLAGS_num_threads;
  // A frame whose damped Hessian is singular or indefinite (possible only at
  // lambda = 0) has no derivative: it is left out of its minibatch and
  // counted, and the count is reported.
  options.skip_failed_examples = true;
  options.progress_stream = nullptr;
  return options;
}

// Trains from w0 on train_frames and scores on the split. Errors: data the
// objective refuses (e.g. a degenerate ground-truth box).
Status Train(const std::string& name, double lambda, const Dataset& dataset,
             const std::vector<FrameRef>& train_frames, const Split& split,
             const Eigen::VectorXd& w0, TrainingRun* result) {
  const auto start = std::chrono::steady_clock::now();
  TrainingRun& run = *result;
  run.name = name;
  run.lambda = lambda;
  const FusionTrainingOptions options = TrainingOptions(lambda);
  std::unique_ptr<FusionTrainingObjective> objective;
  Status status = FusionTrainingObjective::Create(dataset, train_frames, options, &objective);
  if (!status.ok()) return status;

  StochasticLearner learner(LearnerOptions(objective->num_examples()));
  run.w = w0;
  StochasticLearner::Summary summary;
  status = learner.Learn(objective.get(), &run.w, &summary);
  run.termination = status.ok() ? summary.BriefReport() : status.ToString();
  for (const auto& epoch : summary.epochs) {
    run.epoch_loss.push_back(epoch.loss);
    run.epoch_gradient_norm.push_back(epoch.gradient_norm);
  }
  run.max_gradient_norm = summary.max_gradient_norm;
  run.num_skipped = summary.num_skipped_examples;
  run.diagnostics = objective->diagnostics();
  run.num_evaluations = run.diagnostics.num_evaluations;

  // Converged: the learner finished, w and every epoch loss are finite, and
  // the mean training loss at the learnt w is below that at w0 (both
  // evaluated over all training frames after training, no derivatives).
  bool finite = status.ok() && run.w.allFinite() && !run.epoch_loss.empty();
  for (double loss : run.epoch_loss) finite = finite && std::isfinite(loss);
  if (finite) {
    Status loss_status = MeanLoss(objective.get(), w0, &run.initial_loss);
    if (loss_status.ok()) loss_status = MeanLoss(objective.get(), run.w, &run.final_loss);
    if (!loss_status.ok()) return loss_status;
    finite = std::isfinite(run.final_loss);
  }
  std::ostringstream verdict;
  if (!status.ok()) {
    verdict << "learner failed: " << status.ToString();
  } else if (!finite) {
    verdict << "non-finite parameters or loss";
  } else if (!(run.final_loss < run.initial_loss)) {
    verdict << "training loss did not decrease (" << run.initial_loss << " -> " << run.final_loss
            << ")";
  } else {
    run.converged = true;
    verdict << "training loss " << run.initial_loss << " -> " << run.final_loss;
  }
  verdict << "; " << run.num_skipped << " of " << run.num_evaluations
          << " frame evaluations had no derivative (singular H: "
          << run.diagnostics.num_singular_hessians
          << ", indefinite H: " << run.diagnostics.num_indefinite_hessians << ")";
  run.verdict = verdict.str();

  if (run.w.allFinite()) {
    std::vector<double> overlaps;
    status = tracker_fusion::EnergyFusionOverlaps(dataset, split.train, run.w, options.model,
                                                  options.solver, &overlaps);
    if (!status.ok()) return status;
    run.train = MakeScore(overlaps);
    status = tracker_fusion::EnergyFusionOverlaps(dataset, split.test, run.w, options.model,
                                                  options.solver, &overlaps);
    if (!status.ok()) return status;
    run.test = MakeScore(overlaps);
  }
  run.seconds = Seconds(start);
  return Status::Ok();
}

// The learnt parameters per tracker, as values (not logs).
nlohmann::json ParametersJson(const Dataset& dataset, const Eigen::VectorXd& w) {
  nlohmann::json json = nlohmann::json::object();
  const char* names[tracker_fusion::kNumTrackerParameters] = {"sigma_T", "sigma_L", "s", "sigma_w",
                                                              "sigma_h", "A",       "B"};
  for (int t = 0; t < dataset.num_trackers(); ++t) {
    nlohmann::json entry;
    for (int i = 0; i < tracker_fusion::kNumTrackerParameters; ++i) {
      entry[names[i]] = std::exp(w[tracker_fusion::kNumTrackerParameters * t + i]);
    }
    json[dataset.tracker_names[t]] = entry;
  }
  return json;
}

// ---------------------------------------------------------------------------
// Figure 2: the energy of the top-left corner of one test frame before and
// after training, with the trackers' boxes, the ground truth and the fused
// boxes.

std::string Format(const char* format, double a, double b, double c) {
  char buffer[128];
  std::snprintf(buffer, sizeof(buffer), format, a, b, c);
  return buffer;
}

std::string RectanglesText(const std::vector<tracker_fusion::Box>& boxes) {
  // Closed outlines, one per block, for "with lines".
  std::string text;
  for (const auto& box : boxes) {
    const double xs[5] = {box.x, box.right(), box.right(), box.x, box.x};
    const double ys[5] = {box.y, box.y, box.bottom(), box.bottom(), box.y};
    for (int i = 0; i < 5; ++i) text += Format("%.4f %.4f\n", xs[i], ys[i], 0.0);
    text += "\n";
  }
  return text;
}

// E(y) of eq. 14 (the maximised mixture, sum_t m_t exp(-|u_t|^2)) on a grid
// of the top-left corner in pixels.
std::string EnergyGridText(const tracker_fusion::FrameInput& input, const Eigen::VectorXd& w,
                           double x_min, double x_max, double y_min, double y_max, int n) {
  const auto params = tracker_fusion::FrameParameters(input, w);
  double total_weight = 0.0;
  for (size_t t = 0; t < params.size(); ++t) {
    total_weight += tracker_fusion::MixingWeight(input.corners[0][t], params[t]);
  }
  std::string text;
  for (int i = 0; i < n; ++i) {
    const double px = x_min + (x_max - x_min) * i / (n - 1);
    for (int j = 0; j < n; ++j) {
      const double py = y_min + (y_max - y_min) * j / (n - 1);
      const double y[2] = {(px - input.centre_x) / input.scale,
                           (py - input.centre_y) / input.scale};
      // E~ = 1/2 (sum m - E)  =>  E = sum m - 2 E~.
      const double energy =
          total_weight - 2.0 * tracker_fusion::CornerEnergy(input.corners[0], params, y);
      text += Format("%.4f %.4f %.6g\n", px, py, energy);
    }
    text += "\n";
  }
  return text;
}

void WriteFigure(const Dataset& dataset, const Split& split, const Eigen::VectorXd& before,
                 const Eigen::VectorXd& after, nlohmann::json* json) {
  namespace fs = std::filesystem;
  const FusionTrainingOptions options = TrainingOptions(FLAGS_trust_region_lambda);
  // The held-out frame (with at least 10 boxes) on which training raised the
  // IoU most: an illustration, like the paper's, not a statistic.
  int best = -1;
  double best_gain = -1.0;
  tracker_fusion::FrameInput input;
  for (int i = 0; i < static_cast<int>(split.test.size()); ++i) {
    const FrameRef& ref = split.test[i];
    if (!tracker_fusion::MakeFrameInput(dataset, ref, options.model, &input).ok()) continue;
    if (input.trackers.size() < 10) continue;
    const auto& truth = dataset.sequences[ref.sequence].groundtruth[ref.frame];
    tracker_fusion::Box box_before, box_after;
    tracker_fusion::FuseFrame(input, before, options.solver, &box_before);
    tracker_fusion::FuseFrame(input, after, options.solver, &box_after);
    const double gain = IoU(box_after, truth) - IoU(box_before, truth);
    if (gain > best_gain) {
      best_gain = gain;
      best = i;
    }
  }
  if (best < 0) {
    std::printf("figure: no held-out frame with 10 or more boxes; none written\n");
    return;
  }
  const FrameRef ref = split.test[best];
  CHECK(tracker_fusion::MakeFrameInput(dataset, ref, options.model, &input).ok());
  const auto& sequence = dataset.sequences[ref.sequence];
  const tracker_fusion::Box& truth = sequence.groundtruth[ref.frame];
  std::vector<tracker_fusion::Box> boxes;
  tracker_fusion::AvailableBoxes(sequence, ref.frame, nullptr, &boxes);
  tracker_fusion::Box box_before, box_after;
  tracker_fusion::FuseFrame(input, before, options.solver, &box_before);
  tracker_fusion::FuseFrame(input, after, options.solver, &box_after);

  // The grid: around the top-left corners, 1.5 reference sizes each side.
  const double half = 1.5 * input.scale;
  const double cx = truth.x, cy = truth.y;
  const int n = 121;
  const fs::path dir(FLAGS_output_dir);
  examples::GnuplotFigure figure;
  std::string corners;
  for (const auto& box : boxes) corners += Format("%.4f %.4f\n", box.x, box.y, 0.0);
  figure.data_files = {
      {"trackers.dat", RectanglesText(boxes)},
      {"groundtruth.dat", RectanglesText({truth})},
      {"fused_before.dat", RectanglesText({box_before})},
      {"fused_after.dat", RectanglesText({box_after})},
      {"corners.dat", corners},
      {"energy_before.dat",
       EnergyGridText(input, before, cx - half, cx + half, cy - half, cy + half, n)},
      {"energy_after.dat",
       EnergyGridText(input, after, cx - half, cx + half, cy - half, cy + half, n)}};
  std::ostringstream script;
  script << "# Figure 2 of Toso et al. (2019) on " << sequence.name << " frame " << ref.frame
         << ".\n"
         << "set multiplot layout 1,3\nset size ratio -1\nset yrange [*:*] reverse\n"
         << "set title 'boxes: trackers (blue), truth (red), fused (yellow)'\n"
         << "plot 'trackers.dat' w l lc rgb 'blue' notitle, 'groundtruth.dat' w l lw 3 lc rgb "
            "'red' notitle, 'fused_after.dat' w l lw 3 lc rgb 'gold' notitle\n"
         << "set view map\nset pm3d map\nunset colorbox\n"
         << "set xrange [" << cx - half << ":" << cx + half << "]\n"
         << "set yrange [" << cy + half << ":" << cy - half << "]\n"
         << "set title 'top-left corner energy, before training (IoU "
         << Format("%.2f", IoU(box_before, truth), 0, 0) << ")'\n"
         << "splot 'energy_before.dat' w pm3d notitle, 'corners.dat' u 1:2:(0) w p pt 7 ps 0.6 "
            "lc rgb 'white' notitle, '-' u 1:2:(0) w p pt 3 ps 2.5 lw 3 lc rgb 'red' notitle\n"
         << truth.x << " " << truth.y << "\ne\n"
         << "set title 'after training (IoU " << Format("%.2f", IoU(box_after, truth), 0, 0)
         << ")'\n"
         << "splot 'energy_after.dat' w pm3d notitle, 'corners.dat' u 1:2:(0) w p pt 7 ps 0.6 "
            "lc rgb 'white' notitle, '-' u 1:2:(0) w p pt 3 ps 2.5 lw 3 lc rgb 'red' notitle\n"
         << truth.x << " " << truth.y << "\ne\n"
         << "unset multiplot\n";
  figure.script = script.str();
  figure.width = 1500;
  figure.height = 480;
  Status status = examples::WriteFigure(FLAGS_output_dir, "figure2", figure);
  if (!status.ok()) {
    std::printf("figure: could not write the files in %s: %s\n", FLAGS_output_dir.c_str(),
                status.ToString().c_str());
    return;
  }
  (*json)["figure"] = {{"sequence", sequence.name},
                       {"frame", ref.frame},
                       {"iou_before", IoU(box_before, truth)},
                       {"iou_after", IoU(box_after, truth)},
                       {"script", (dir / "figure2.gp").string()}};
  status = examples::RenderFigure(FLAGS_output_dir, "figure2");
  if (status.ok()) {
    std::printf("figure: %s\n", (dir / "figure2.png").string().c_str());
    (*json)["figure"]["png"] = (dir / "figure2.png").string();
  } else {
    std::printf("figure: %s\n", status.message().c_str());
  }
}

// ---------------------------------------------------------------------------

Status RunProtocol(const Dataset& dataset, SplitProtocol split_protocol, bool write_figure,
                   nlohmann::json* result) {
  const auto start = std::chrono::steady_clock::now();
  const std::string protocol = SplitProtocolToString(split_protocol);
  const Split split = MakeSplit(dataset, split_protocol);
  const std::vector<FrameRef> train_frames = Subsample(split.train, FLAGS_max_train_frames);
  if (train_frames.empty() || split.test.empty()) {
    return ceres_wiberg::InvalidArgumentError("protocol '" + protocol +
                                              "': the split leaves no training or no test frame");
  }
  std::printf(
      "\n== protocol: %s assigned at random (%zu train frames, %zu used; %zu test "
      "frames)\n",
      protocol.c_str(), split.train.size(), train_frames.size(), split.test.size());

  // Baselines on the held-out frames.
  std::vector<std::pair<double, int>> ranked;
  std::vector<Score> tracker_scores(dataset.num_trackers());
  for (int t = 0; t < dataset.num_trackers(); ++t) {
    tracker_scores[t] = MakeScore(tracker_fusion::TrackerOverlaps(dataset, t, split.test));
    ranked.push_back({-tracker_scores[t].iou, t});
  }
  std::sort(ranked.begin(), ranked.end());
  const Score mean_fusion = MakeScore(
      tracker_fusion::FusionOverlaps(dataset, tracker_fusion::FusionRule::kMean, split.test));
  const Score median_fusion = MakeScore(
      tracker_fusion::FusionOverlaps(dataset, tracker_fusion::FusionRule::kMedian, split.test));

  const Eigen::VectorXd w0 = tracker_fusion::MakeInitialParameters(
      dataset.num_trackers(), tracker_fusion::InitialParameters());
  const FusionTrainingOptions options = TrainingOptions(FLAGS_trust_region_lambda);
  std::vector<double> overlaps;
  Status status = tracker_fusion::EnergyFusionOverlaps(dataset, split.test, w0, options.model,
                                                       options.solver, &overlaps);
  if (!status.ok()) return status;
  const Score untrained = MakeScore(overlaps);

  TrainingRun implicit, trust;
  status = Train("implicit", 0.0, dataset, train_frames, split, w0, &implicit);
  if (!status.ok()) return status;
  status =
      Train("trust_region", FLAGS_trust_region_lambda, dataset, train_frames, split, w0, &trust);
  if (!status.ok()) return status;

  std::printf("%-34s %8s %10s\n", "method (held-out frames)", "IoU", "IoU = 0");
  for (int i = 0; i < std::min(5, dataset.num_trackers()); ++i) {
    const int t = ranked[i].second;
    std::printf("%-34s %8.3f %9.1f%%\n", dataset.tracker_names[t].c_str(), tracker_scores[t].iou,
                100.0 * tracker_scores[t].zero_fraction);
  }
  auto row = [](const std::string& name, const Score& score) {
    std::printf("%-34s %8.3f %9.1f%%\n", name.c_str(), score.iou, 100.0 * score.zero_fraction);
  };
  row("mean fusion", mean_fusion);
  row("median fusion", median_fusion);
  row("energy, untrained", untrained);
  for (const TrainingRun* run : {&implicit, &trust}) {
    const std::string name = run->lambda == 0.0
                                 ? std::string("energy, lambda = 0 (implicit)")
                                 : Format("energy, lambda = %g (trust region)", run->lambda, 0, 0);
    if (run->converged) {
      row(name, run->test);
    } else {
      std::printf("%-34s %8s %10s\n", name.c_str(), "N/A*", "");
    }
  }
  for (const TrainingRun* run : {&implicit, &trust}) {
    std::printf("  %s: %s%s\n    %s (%.1f s; train IoU %.3f)\n", run->name.c_str(),
                run->converged ? "converged: " : "did not converge: ", run->verdict.c_str(),
                run->termination.c_str(), run->seconds, run->train.iou);
    std::printf("    epoch losses:");
    for (double loss : run->epoch_loss) std::printf(" %.4g", loss);
    std::printf("\n    epoch |dL/dtheta|:");
    for (double g : run->epoch_gradient_norm) std::printf(" %.3g", g);
    std::printf(
        "\n    max minibatch |dL/dtheta| %.3g, max example |dL/dw| %.3g, min "
        "eigenvalue of H + lambda I %.3g, max condition number %.3g\n",
        run->max_gradient_norm, run->diagnostics.max_example_gradient_norm,
        run->diagnostics.min_eigenvalue, run->diagnostics.max_condition_number);
    if (!run->diagnostics.first_failure.empty()) {
      std::printf("    first failure: %s\n", run->diagnostics.first_failure.c_str());
    }
  }

  nlohmann::json json;
  json["num_train_frames"] = split.train.size();
  json["num_train_frames_used"] = train_frames.size();
  json["num_test_frames"] = split.test.size();
  json["best_single_iou"] = tracker_scores[ranked[0].second].iou;
  json["best_single_tracker"] = dataset.tracker_names[ranked[0].second];
  nlohmann::json top = nlohmann::json::array();
  for (int i = 0; i < std::min(5, dataset.num_trackers()); ++i) {
    const int t = ranked[i].second;
    nlohmann::json entry = ScoreJson(tracker_scores[t]);
    entry["tracker"] = dataset.tracker_names[t];
    top.push_back(entry);
  }
  json["top_trackers"] = top;
  json["mean_fusion_iou"] = mean_fusion.iou;
  json["median_fusion_iou"] = median_fusion.iou;
  json["untrained_iou"] = untrained.iou;
  json["implicit_iou"] =
      implicit.converged ? nlohmann::json(implicit.test.iou) : nlohmann::json(nullptr);
  json["trust_region_iou"] =
      trust.converged ? nlohmann::json(trust.test.iou) : nlohmann::json(nullptr);
  json["zero_iou_fraction"] = {{"best_single", tracker_scores[ranked[0].second].zero_fraction},
                               {"mean_fusion", mean_fusion.zero_fraction},
                               {"median_fusion", median_fusion.zero_fraction},
                               {"untrained", untrained.zero_fraction},
                               {"implicit", implicit.test.zero_fraction},
                               {"trust_region", trust.test.zero_fraction}};
  for (const TrainingRun* run : {&implicit, &trust}) {
    json["runs"][run->name] = {
        {"lambda", run->lambda},
        {"converged", run->converged},
        {"verdict", run->verdict},
        {"test_iou", run->test.iou},
        {"train_iou", run->train.iou},
        {"initial_training_loss", run->initial_loss},
        {"final_training_loss", run->final_loss},
        {"epoch_loss", run->epoch_loss},
        {"epoch_gradient_norm", run->epoch_gradient_norm},
        {"max_minibatch_gradient_norm", run->max_gradient_norm},
        {"max_example_gradient_norm", run->diagnostics.max_example_gradient_norm},
        {"min_eigenvalue", run->diagnostics.min_eigenvalue},
        {"max_condition_number", run->diagnostics.max_condition_number},
        {"parameters", ParametersJson(dataset, run->w)},
        {"num_frame_evaluations", run->num_evaluations},
        {"num_skipped_frame_evaluations", run->num_skipped},
        {"num_singular_hessians", run->diagnostics.num_singular_hessians},
        {"num_indefinite_hessians", run->diagnostics.num_indefinite_hessians},
        {"seconds", run->seconds}};
  }
  if (write_figure && !FLAGS_output_dir.empty() && trust.w.allFinite()) {
    WriteFigure(dataset, split, w0, trust.w, &json);
  }
  json["seconds"] = Seconds(start);
  std::printf("  protocol time %.1f s\n", Seconds(start));
  *result = std::move(json);
  return Status::Ok();
}

int Run() {
  const auto start = std::chrono::steady_clock::now();
  tracker_fusion::SizeReference size_reference;
  ceres_wiberg::StochasticOptimiser optimiser;
  if (!tracker_fusion::StringToSizeReference(FLAGS_size_reference, &size_reference)) {
    std::fprintf(stderr, "unknown --size_reference=%s (CONSENSUS, INITIALISATION)\n",
                 FLAGS_size_reference.c_str());
    return 1;
  }
  if (!ceres_wiberg::StringToStochasticOptimiser(FLAGS_optimiser, &optimiser)) {
    std::fprintf(stderr, "unknown --optimiser=%s\n", FLAGS_optimiser.c_str());
    return 1;
  }
  if (!(FLAGS_train_fraction > 0.0 && FLAGS_train_fraction < 1.0) || FLAGS_num_epochs < 1 ||
      FLAGS_batch_size < 1 || !(FLAGS_trust_region_lambda > 0.0) || FLAGS_max_train_frames < 0) {
    std::fprintf(stderr,
                 "need 0 < --train_fraction < 1, --num_epochs >= 1, --batch_size >= 1, "
                 "--trust_region_lambda > 0 and --max_train_frames >= 0\n");
    return 1;
  }
  // Every option is checked before the data is read and anything is trained.
  std::string error;
  for (double lambda : {0.0, FLAGS_trust_region_lambda}) {
    if (!TrainingOptions(lambda).IsValid(&error)) {
      std::fprintf(stderr, "training options: %s\n", error.c_str());
      return 1;
    }
  }
  if (!LearnerOptions(FLAGS_batch_size).IsValid(&error)) {
    std::fprintf(stderr, "learner options: %s\n", error.c_str());
    return 1;
  }
  Status status = Status::Ok();
  if (!FLAGS_output_json.empty()) {
    status = examples::CheckOutputFile("--output_json", FLAGS_output_json);
  }
  if (status.ok() && !FLAGS_output_dir.empty()) {
    status = examples::PrepareOutputDirectory("--output_dir", FLAGS_output_dir);
  }
  if (!status.ok()) {
    std::fprintf(stderr, "%s\n", status.ToString().c_str());
    return 1;
  }
  std::vector<SplitProtocol> protocols;
  std::stringstream protocol_list(FLAGS_protocols);
  std::string name;
  while (std::getline(protocol_list, name, ',')) {
    SplitProtocol protocol;
    if (!StringToSplitProtocol(name, &protocol)) {
      std::fprintf(stderr, "unknown protocol '%s' in --protocols (frames, sequences)\n",
                   name.c_str());
      return 1;
    }
    protocols.push_back(protocol);
  }
  Dataset dataset;
  std::string description;
  status = LoadData(&dataset, &description);
  if (!status.ok()) {
    std::fprintf(stderr, "%s\n", status.ToString().c_str());
    return 1;
  }
  std::printf("Data: %s; %d sequences, %d trackers.\n", description.c_str(),
              dataset.num_sequences(), dataset.num_trackers());
  if (dataset.num_trackers() == 0 || dataset.num_sequences() == 0) {
    std::fprintf(stderr, "the data has no trackers or no sequences\n");
    return 1;
  }
  nlohmann::json json;
  json["data"] = description;
  json["settings"] = {{"split_seed", FLAGS_split_seed},
                      {"train_fraction", FLAGS_train_fraction},
                      {"max_train_frames", FLAGS_max_train_frames},
                      {"num_epochs", FLAGS_num_epochs},
                      {"batch_size", FLAGS_batch_size},
                      {"optimiser", FLAGS_optimiser},
                      {"learning_rate", FLAGS_learning_rate},
                      {"learning_rate_decay", FLAGS_learning_rate_decay},
                      {"trust_region_lambda", FLAGS_trust_region_lambda},
                      {"outer_loss_scale", FLAGS_outer_loss_scale},
                      {"size_reference", FLAGS_size_reference},
                      {"multi_start", FLAGS_multi_start}};
  bool first = true;
  for (SplitProtocol protocol : protocols) {
    status = RunProtocol(dataset, protocol, first, &json[SplitProtocolToString(protocol)]);
    if (!status.ok()) {
      std::fprintf(stderr, "%s\n", status.ToString().c_str());
      return 1;
    }
    first = false;
  }
  json["seconds"] = Seconds(start);
  std::printf("\ntotal time %.1f s\n", Seconds(start));
  if (!FLAGS_output_json.empty()) {
    status = ceres_wiberg::WriteFileAtomically(FLAGS_output_json, json.dump(2) + "\n");
    if (!status.ok()) {
      std::fprintf(stderr, "%s\n", status.ToString().c_str());
      return 1;
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  gflags::SetUsageMessage("Learns to fuse trackers' boxes (Toso et al. 2019, Table 1).");
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  return Run();
}
