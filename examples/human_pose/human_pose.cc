// The paper's 3D human pose experiment (main paper Table 2, supplementary
// section 4: Table 1, Figures 1, 2 and 4) on the synthetic Human3.6M-like data
// set: a mixture of PPCA pose models fitted to the training poses (the
// baseline, hand-set energy weights) is re-tuned end to end — mean poses,
// bases, variances, per-joint weights and the pseudo-Huber scale — by
// differentiating the pose fit, then evaluated on the held-out subjects.
//
//   multi-view (4 cameras): baseline, trained with the l2 loss, trained with
//                           the pseudo-Huber loss;
//   monocular (1 camera):   K = 3, 6, 10 components, baseline and trained.
//
// Train on subjects 1, 5, 6, 7, 8; test on 9 and 11. Nothing is tuned on the
// test subjects: the data's difficulty and every setting below are fixed by
// --size before the test frames are seen.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "ceres_wiberg/enum_names.h"
#include "common/output_paths.h"
#include "common/text_tokens.h"
#include "gflags/gflags.h"
#include "nlohmann/json.hpp"
#include "pose_data.h"
#include "pose_fitter.h"
#include "pose_learning.h"
#include "pose_model.h"
#include "pose_report.h"
#include "ppca_fit.h"
#include "synthetic_h36m.h"
#include "tome_model.h"

DEFINE_string(size, "demo",
              "demo: a few minutes on 2 cores for every setting; full: the larger run "
              "(see README.md).");
DEFINE_uint64(seed, 1, "Seed of the data, the k-means of the baseline and the minibatches.");
DEFINE_string(output_json, "", "Write the results here (JSON); empty: none.");
DEFINE_string(output_dir, "human_pose_figures",
              "Figures (PNG via gnuplot), their data, scripts and the learning curves; "
              "empty: none.");
DEFINE_string(tome_model, "",
              "Optional model_parameters.h5 of Tome et al. (e.g. "
              "../shared/data/tome_ppca/model_parameters.h5): the initial model instead of the "
              "PPCA fit, when the file is present.");
DEFINE_int32(threads, 2, "Threads for fitting and learning.");
DEFINE_string(run, "all", "all, multiview or monocular.");
DEFINE_int32(monocular_camera, 0, "The camera (0-3) of the monocular setting.");
DEFINE_string(multiview_camera_model, "perspective",
              "Camera model of the multi-view setting: weak (Tome et al.'s weak perspective, per "
              "view a scale and an offset; the body's size is set by the prior) or perspective "
              "(the calibrated cameras, one root position; the size is triangulated).");
DEFINE_string(monocular_loss, "l2", "Loss of the monocular setting: l2 or huber.");
DEFINE_string(monocular_components, "3,6,10", "The K of the monocular setting, comma-separated.");
DEFINE_string(evaluate_on, "test",
              "test: the held-out subjects 9 and 11; validation: new sequences (seed + 1000) of "
              "the training subjects, for choosing settings without looking at the test "
              "subjects.");
DEFINE_int32(epochs, 0, "Epochs of every training run; 0: the --size preset.");
DEFINE_double(learning_rate, 0.0, "Adam learning rate; 0: PoseLearningOptions' default.");
DEFINE_int32(train_stride, 0,
             "The learner uses every n-th training frame; 0: the --size preset.");

namespace {

using ceres_wiberg::Status;
using namespace human_pose;  // NOLINT: an example program

// --size: the preset of every setting.
enum class ExperimentSize { kDemo, kFull };
// --run: the settings that run.
enum class ExperimentRun { kAll, kMultiview, kMonocular };
// --evaluate_on: the frames the models are evaluated on.
enum class EvaluationSet { kTest, kValidation };

const char* ExperimentSizeToString(ExperimentSize size) {
  return size == ExperimentSize::kDemo ? "demo" : "full";
}
const char* ExperimentRunToString(ExperimentRun run) {
  return run == ExperimentRun::kAll ? "all"
         : run == ExperimentRun::kMultiview ? "multiview" : "monocular";
}
const char* EvaluationSetToString(EvaluationSet set) {
  return set == EvaluationSet::kTest ? "test" : "validation";
}

// StringToX: the value whose XToString is `name`; false if there is none.
bool StringToExperimentSize(const std::string& name, ExperimentSize* size) {
  return ceres_wiberg::StringToEnum(name, {ExperimentSize::kDemo, ExperimentSize::kFull},
                                ExperimentSizeToString, size);
}
bool StringToExperimentRun(const std::string& name, ExperimentRun* run) {
  return ceres_wiberg::StringToEnum(
      name, {ExperimentRun::kAll, ExperimentRun::kMultiview, ExperimentRun::kMonocular},
      ExperimentRunToString, run);
}
bool StringToEvaluationSet(const std::string& name, EvaluationSet* set) {
  return ceres_wiberg::StringToEnum(name, {EvaluationSet::kTest, EvaluationSet::kValidation},
                                EvaluationSetToString, set);
}

// Everything --size fixes, before any test frame is seen.
struct Preset {
  std::string name;
  // The generator's settings (the same difficulty for training and test):
  // sequences per (subject, action) and frames per sequence.
  SyntheticH36MOptions data;
  // The learner sees every train_stride-th training frame; the baseline PPCA
  // mixture is fitted to all training poses. Every test_stride-th test frame
  // is evaluated.
  int train_stride = 1;
  int test_stride = 1;
  int multiview_components = 3;
  std::vector<int> monocular_components = {3, 6, 10};
  int multiview_rotation_seeds = 4;
  int monocular_rotation_seeds = 4;
  int num_epochs = 6;
  int batch_size = 16;
  // 0: PoseLearningOptions' default (Adam, its learning rate and decay).
  double learning_rate = 0.0;
  bool evaluate_training_error = true;
};

// More mixture components than any pose model here would use.
constexpr long kMaxComponents = 1000;

Preset MakePreset(ExperimentSize size, bool* ok) {
  Preset preset;
  preset.name = ExperimentSizeToString(size);
  // Detection errors: the generator's defaults (DATA.md), for every size.
  preset.data.seed = FLAGS_seed;
  *ok = true;
  if (size == ExperimentSize::kDemo) {
    preset.data.sequences_per_action = 1;
    preset.data.frames_per_sequence = 20;
    preset.train_stride = 2;   // 5 x 15 x 20 / 2 = 750 training frames
    preset.test_stride = 4;    // 2 x 15 x 20 / 4 = 150 test frames
    preset.multiview_rotation_seeds = 4;
    preset.monocular_rotation_seeds = 4;
    preset.num_epochs = 4;
    preset.batch_size = 16;
    preset.evaluate_training_error = false;
  } else {
    preset.data.sequences_per_action = 2;
    preset.data.frames_per_sequence = 20;
    preset.train_stride = 1;   // 5 x 15 x 40 = 3000 training frames
    preset.test_stride = 1;    // 2 x 15 x 40 = 1200 test frames
    preset.num_epochs = 6;
    preset.batch_size = 16;
    preset.evaluate_training_error = true;
  }
  preset.monocular_components.clear();
  std::stringstream list(FLAGS_monocular_components);
  for (std::string item; std::getline(list, item, ',');) {
    long k = 0;
    if (!examples::ParseCount(item, kMaxComponents, &k) || k < 1) *ok = false;
    preset.monocular_components.push_back(static_cast<int>(k));
  }
  if (preset.monocular_components.empty()) *ok = false;
  if (FLAGS_epochs > 0) preset.num_epochs = FLAGS_epochs;
  if (FLAGS_learning_rate > 0.0) preset.learning_rate = FLAGS_learning_rate;
  if (FLAGS_train_stride > 0) preset.train_stride = FLAGS_train_stride;
  return preset;
}

std::vector<Frame> EveryNth(const std::vector<Frame>& frames, int stride) {
  std::vector<Frame> kept;
  for (size_t i = 0; i < frames.size(); i += stride) kept.push_back(frames[i]);
  return kept;
}

double Seconds(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

const char* EvaluationSetName(EvaluationSet set) {
  return set == EvaluationSet::kValidation
             ? "VALIDATION (training subjects 1 5 6 7 8, new sequences)"
             : "test subjects 9 11";
}

bool Fail(const std::string& what, const Status& status) {
  std::fprintf(stderr, "%s: %s\n", what.c_str(), status.ToString().c_str());
  return false;
}

// One setting's model and results.
struct Run {
  std::string name;  // e.g. "multiview.l2"
  PoseModel model;
  std::vector<FrameResult> results;
  ActionSummary summary;
  PoseLearningSummary learning;
  bool trained = false;
  double train_seconds = 0.0, eval_seconds = 0.0;
};

class Experiment {
 public:
  Experiment(const Preset& preset, CameraModel multiview_camera_model,
             EvaluationSet evaluation_set)
      : preset_(preset),
        multiview_camera_model_(multiview_camera_model),
        evaluation_set_(evaluation_set) {}

  bool Setup() {
    const auto start = std::chrono::steady_clock::now();
    Dataset train, test;
    Status status = GenerateSyntheticH36M(preset_.data, TrainSubjects(), &train);
    if (!status.ok()) return Fail("generating the training subjects", status);
    if (evaluation_set_ == EvaluationSet::kValidation) {
      // Other sequences of the training subjects, about as many frames as the
      // test set has.
      SyntheticH36MOptions validation = preset_.data;
      validation.seed = preset_.data.seed + 1000;
      status = GenerateSyntheticH36M(validation, TrainSubjects(), &test);
      if (!status.ok()) return Fail("generating the validation sequences", status);
      test.frames = EveryNth(test.frames, (preset_.test_stride * 5) / 2);
    } else {
      status = GenerateSyntheticH36M(preset_.data, TestSubjects(), &test);
      if (!status.ok()) return Fail("generating the test subjects", status);
      test.frames = EveryNth(test.frames, preset_.test_stride);
    }
    cameras_ = train.cameras;
    for (const Frame& frame : train.frames) training_poses_.push_back(frame.pose);
    training_frames_ = EveryNth(train.frames, preset_.train_stride);
    test_frames_ = test.frames;
    std::printf(
        "data: synthetic Human3.6M-like (DATA.md), seed %llu, %d sequence(s) x %d frames per "
        "subject and action;\n      detections: pixel noise %.1f px, missed joints %.2f, "
        "left/right swaps %.2f, outliers %.2f (%.0f px)\n"
        "      training subjects 1 5 6 7 8: %zu poses for the baseline fit, %zu frames for "
        "learning\n      %s: %zu frames   (%.1f s)\n",
        static_cast<unsigned long long>(preset_.data.seed), preset_.data.sequences_per_action,
        preset_.data.frames_per_sequence, preset_.data.pixel_noise,
        preset_.data.miss_probability, preset_.data.swap_probability,
        preset_.data.outlier_probability, preset_.data.outlier_pixels, training_poses_.size(),
        training_frames_.size(), EvaluationSetName(evaluation_set_), test_frames_.size(),
        Seconds(start));
    return true;
  }

  // The initial (baseline) model with K components: Tome et al.'s when
  // --tome_model names a present file, else the PPCA mixture fitted to the
  // training poses. Energy weights: the hand-set defaults.
  bool Baseline(int num_components, PoseModel* model) {
    const auto start = std::chrono::steady_clock::now();
    const auto tome = tome_models_.find(num_components);
    if (tome != tome_models_.end()) {
      *model = tome->second;
      std::printf("  initial model: Tome et al., K = %d, from %s\n", num_components,
                  FLAGS_tome_model.c_str());
      return true;
    }
    PpcaFitOptions options;
    options.num_components = num_components;
    options.seed = FLAGS_seed;
    PpcaFitSummary summary;
    const Status status = FitPpcaMixture(training_poses_, options, model, &summary);
    if (!status.ok()) return Fail("fitting the baseline PPCA mixture", status);
    std::printf(
        "  initial model: PPCA mixture, K = %d, fitted to the %zu training poses (mean "
        "reconstruction error %.1f mm, %.1f s)\n",
        num_components, training_poses_.size(), summary.mean_reconstruction_error,
        Seconds(start));
    return true;
  }

  bool Evaluate(const PoseFitOptions& fit_options, Run* run) {
    const auto start = std::chrono::steady_clock::now();
    const Status status =
        EvaluateModel(run->model, cameras_, test_frames_, fit_options, FLAGS_threads,
                      &run->results);
    if (!status.ok()) return Fail("evaluating " + run->name, status);
    run->summary = SummariseByAction(run->results);
    run->eval_seconds = Seconds(start);
    std::printf("  %-22s %s P1 %6.1f  P2 %6.1f  P3 %6.1f mm  (%d frames", run->name.c_str(),
                EvaluationSetToString(evaluation_set_),
                run->summary.average_p1, run->summary.average_p2, run->summary.average_p3,
                run->summary.total_frames);
    if (run->summary.total_failed > 0) {
      std::printf(", %d FAILED FITS left out", run->summary.total_failed);
    }
    std::printf(", %.1f s)\n", run->eval_seconds);
    return true;
  }

  bool Train(const PoseFitOptions& fit_options, Run* run) {
    PoseLearningOptions options;
    options.num_epochs = preset_.num_epochs;
    options.batch_size = preset_.batch_size;
    if (preset_.learning_rate > 0.0) options.learning_rate = preset_.learning_rate;
    // PoseLearningOptions' decay (0.02) suits runs of ~100 steps (ENERGY.md);
    // longer runs decay proportionally slower: lr_t = lr / (1 + 2 t / steps),
    // a third of lr at the last step.
    const int steps = options.num_epochs *
                      ((static_cast<int>(training_frames_.size()) + options.batch_size - 1) /
                       options.batch_size);
    options.learning_rate_decay = 2.0 / std::max(1, steps);
    options.num_threads = FLAGS_threads;
    options.seed = FLAGS_seed;
    options.evaluate_training_error = preset_.evaluate_training_error;
    options.progress_stream = &std::cout;
    if (!FLAGS_output_dir.empty()) {
      std::string name = run->name;
      for (char& c : name) c = c == '.' ? '_' : c;
      options.curve_csv_path = FLAGS_output_dir + "/learning_curve_" + name + ".csv";
    }
    std::printf("  training %s on %zu frames (%s loss, %d epochs, batch %d, Adam lr %g, decay "
                "%g)\n",
                run->name.c_str(), training_frames_.size(),
                ReprojectionLossToString(fit_options.loss), options.num_epochs,
                options.batch_size, options.learning_rate, options.learning_rate_decay);
    std::fflush(stdout);
    const auto start = std::chrono::steady_clock::now();
    const Status status = TrainPoseModel(cameras_, training_frames_, fit_options, options,
                                         &run->model, &run->learning);
    if (!status.ok()) return Fail("training " + run->name, status);
    run->trained = true;
    run->train_seconds = Seconds(start);
    const PoseLearningSummary& s = run->learning;
    std::printf("  learnt %d parameters: %d epochs, %d steps, %d frame evaluations skipped; "
                "mean minibatch outer loss %.1f -> %.1f (first -> last epoch)",
                s.num_parameters, s.num_epochs, s.num_iterations, s.num_skipped_examples,
                s.epoch_losses.empty() ? NAN : s.epoch_losses.front(),
                s.epoch_losses.empty() ? NAN : s.epoch_losses.back());
    if (std::isfinite(s.initial_training_error)) {
      std::printf("; training P1 %.1f -> %.1f mm", s.initial_training_error,
                  s.final_training_error);
    }
    std::printf("; %.1f s\n", run->train_seconds);
    return true;
  }

  PoseFitOptions FitOptions(bool multiview, ReprojectionLoss loss) const {
    PoseFitOptions options;
    options.loss = loss;
    if (multiview) {
      options.views = {0, 1, 2, 3};
      options.camera_model = multiview_camera_model_;
      options.num_rotation_seeds = preset_.multiview_rotation_seeds;
    } else {
      options.views = {FLAGS_monocular_camera};
      options.num_rotation_seeds = preset_.monocular_rotation_seeds;
    }
    return options;
  }

  const std::vector<Frame>& test_frames() const { return test_frames_; }
  const std::vector<Frame>& training_frames() const { return training_frames_; }
  size_t num_training_poses() const { return training_poses_.size(); }

  // Reads Tome et al.'s model for every K in `num_components` when
  // --tome_model names a present file, so that a bad file fails before any
  // training.
  bool ReadInitialModels(const std::vector<int>& num_components) {
    if (FLAGS_tome_model.empty() || !std::filesystem::exists(FLAGS_tome_model)) return true;
    for (int k : num_components) {
      if (tome_models_.count(k) > 0) continue;
      const Status status = ReadTomeModel(FLAGS_tome_model, k, &tome_models_[k]);
      if (!status.ok()) return Fail("reading " + FLAGS_tome_model + " (K = " + std::to_string(k) + ")", status);
    }
    return true;
  }

 private:
  std::map<int, PoseModel> tome_models_;  // by K; empty without --tome_model
  Preset preset_;
  CameraModel multiview_camera_model_ = CameraModel::kWeakPerspective;
  EvaluationSet evaluation_set_ = EvaluationSet::kTest;
  std::vector<Camera> cameras_;
  std::vector<Pose> training_poses_;
  std::vector<Frame> training_frames_;
  std::vector<Frame> test_frames_;
};

nlohmann::json LearningJson(const Run& run) {
  const PoseLearningSummary& s = run.learning;
  return {{"training_frames", s.num_training_frames},
          {"parameters", s.num_parameters},
          {"epochs", s.num_epochs},
          {"iterations", s.num_iterations},
          {"skipped_examples", s.num_skipped_examples},
          {"initial_training_p1", JsonNumber(s.initial_training_error)},
          {"final_training_p1", JsonNumber(s.final_training_error)},
          {"epoch_losses", s.epoch_losses},
          {"train_seconds", run.train_seconds},
          {"eval_seconds", run.eval_seconds}};
}

// ---------------------------------------------------------------------------
// Inputs: the flags.

struct Settings {
  Preset preset;
  CameraModel multiview_camera_model = CameraModel::kCalibratedPerspective;
  ReprojectionLoss monocular_loss = ReprojectionLoss::kL2;
  bool do_multiview = true;
  bool do_monocular = true;
  EvaluationSet evaluation_set = EvaluationSet::kTest;
};

// Reads and checks the flags; creates --output_dir.
bool ReadSettings(Settings* settings) {
  ExperimentSize size = ExperimentSize::kDemo;
  bool ok = StringToExperimentSize(FLAGS_size, &size);
  if (ok) settings->preset = MakePreset(size, &ok);
  if (!ok) {
    std::fprintf(stderr, "unknown --size %s (demo or full) or bad --monocular_components %s\n",
                 FLAGS_size.c_str(), FLAGS_monocular_components.c_str());
    return false;
  }
  if (!StringToCameraModel(FLAGS_multiview_camera_model, &settings->multiview_camera_model)) {
    std::fprintf(stderr, "unknown --multiview_camera_model %s (weak or perspective)\n",
                 FLAGS_multiview_camera_model.c_str());
    return false;
  }
  if (!StringToReprojectionLoss(FLAGS_monocular_loss, &settings->monocular_loss)) {
    std::fprintf(stderr, "unknown --monocular_loss %s (l2 or huber)\n",
                 FLAGS_monocular_loss.c_str());
    return false;
  }
  ExperimentRun run = ExperimentRun::kAll;
  if (!StringToExperimentRun(FLAGS_run, &run)) {
    std::fprintf(stderr, "unknown --run %s (all, multiview or monocular)\n", FLAGS_run.c_str());
    return false;
  }
  settings->do_multiview = run != ExperimentRun::kMonocular;
  settings->do_monocular = run != ExperimentRun::kMultiview;
  if (!StringToEvaluationSet(FLAGS_evaluate_on, &settings->evaluation_set)) {
    std::fprintf(stderr, "unknown --evaluate_on %s (test or validation)\n",
                 FLAGS_evaluate_on.c_str());
    return false;
  }
  if (FLAGS_threads < 1 || FLAGS_monocular_camera < 0 || FLAGS_monocular_camera > 3) {
    std::fprintf(stderr, "--threads must be >= 1 and --monocular_camera in 0-3\n");
    return false;
  }
  if (FLAGS_epochs < 0 || FLAGS_train_stride < 0 || !std::isfinite(FLAGS_learning_rate) ||
      FLAGS_learning_rate < 0.0) {
    std::fprintf(stderr,
                 "--epochs and --train_stride must be >= 0 and --learning_rate finite and >= 0 "
                 "(0: the --size preset)\n");
    return false;
  }
  if (!FLAGS_output_dir.empty()) {
    const Status status = examples::PrepareOutputDirectory("--output_dir", FLAGS_output_dir);
    if (!status.ok()) return Fail("output", status);
  }
  if (!FLAGS_output_json.empty()) {
    const Status status = examples::CheckOutputFile("--output_json", FLAGS_output_json);
    if (!status.ok()) return Fail("output", status);
  }
  return true;
}

void PrintSettings(const Settings& settings) {
  std::printf("human pose (supplementary section 4), --size=%s, %d thread(s)\n",
              settings.preset.name.c_str(), FLAGS_threads);
  if (!FLAGS_tome_model.empty()) {
    std::printf("initial model: %s\n",
                std::filesystem::exists(FLAGS_tome_model)
                    ? ("Tome et al., " + FLAGS_tome_model).c_str()
                    : (FLAGS_tome_model + " is not there; using the PPCA fit").c_str());
  } else {
    std::printf("initial model: PPCA mixture fitted to the training poses (hand-set weights)\n");
  }
}

// ---------------------------------------------------------------------------
// Training and evaluation of every setting.

struct Outcome {
  ExperimentResults results;
  Run mv_baseline, mv_l2, mv_huber;
  std::vector<std::unique_ptr<Run>> mono_baseline, mono_trained;
  nlohmann::json training_json = nlohmann::json::object();
};

// Multi-view: the baseline, then the l2 and the Huber models trained from it.
bool RunMultiview(const Settings& settings, Experiment* experiment, Outcome* outcome) {
  const Preset& preset = settings.preset;
  std::printf("\nmulti-view (4 cameras, %s camera model), K = %d, %d rotation seeds\n",
              CameraModelToString(settings.multiview_camera_model), preset.multiview_components,
              preset.multiview_rotation_seeds);
  Run& baseline = outcome->mv_baseline;
  baseline.name = "multiview.baseline";
  if (!experiment->Baseline(preset.multiview_components, &baseline.model)) return false;
  if (!experiment->Evaluate(experiment->FitOptions(true, ReprojectionLoss::kL2), &baseline)) {
    return false;
  }
  for (Run* run : {&outcome->mv_l2, &outcome->mv_huber}) {
    const bool l2 = run == &outcome->mv_l2;
    const ReprojectionLoss loss = l2 ? ReprojectionLoss::kL2 : ReprojectionLoss::kPseudoHuber;
    run->name = l2 ? "multiview.l2" : "multiview.huber";
    run->model = baseline.model;
    const PoseFitOptions fit_options = experiment->FitOptions(true, loss);
    if (!experiment->Train(fit_options, run)) return false;
    if (!experiment->Evaluate(fit_options, run)) return false;
    outcome->training_json[run->name] = LearningJson(*run);
  }
  ExperimentResults& results = outcome->results;
  results.has_multiview = true;
  results.multiview_baseline = baseline.summary;
  results.multiview_l2 = outcome->mv_l2.summary;
  results.multiview_huber = outcome->mv_huber.summary;
  return true;
}

// Monocular: for each K, the baseline and the model trained from it.
bool RunMonocular(const Settings& settings, Experiment* experiment, Outcome* outcome) {
  const Preset& preset = settings.preset;
  std::printf("\nmonocular (camera %d), %s loss, %d rotation seeds\n", FLAGS_monocular_camera,
              ReprojectionLossToString(settings.monocular_loss), preset.monocular_rotation_seeds);
  const PoseFitOptions fit_options = experiment->FitOptions(false, settings.monocular_loss);
  ExperimentResults& results = outcome->results;
  for (int k : preset.monocular_components) {
    auto baseline = std::make_unique<Run>();
    auto trained = std::make_unique<Run>();
    baseline->name = "monocular.k" + std::to_string(k) + ".baseline";
    trained->name = "monocular.k" + std::to_string(k) + ".trained";
    if (!experiment->Baseline(k, &baseline->model)) return false;
    if (!experiment->Evaluate(fit_options, baseline.get())) return false;
    trained->model = baseline->model;
    if (!experiment->Train(fit_options, trained.get())) return false;
    if (!experiment->Evaluate(fit_options, trained.get())) return false;
    outcome->training_json[trained->name] = LearningJson(*trained);
    results.monocular_components.push_back(k);
    results.monocular_baseline.push_back(baseline->summary);
    results.monocular_trained.push_back(trained->summary);
    outcome->mono_baseline.push_back(std::move(baseline));
    outcome->mono_trained.push_back(std::move(trained));
  }
  results.has_monocular = true;
  return true;
}

// ---------------------------------------------------------------------------
// Report: the tables in the layout of the paper's, and the targets.

constexpr ErrorProtocol kProtocols[] = {ErrorProtocol::kP1, ErrorProtocol::kP2,
                                        ErrorProtocol::kP3};

// The multi-view tables and P1 by detection errors; returns the latter as
// JSON, by run ("baseline", "l2", "huber").
nlohmann::json PrintMultiviewTables(const Experiment& experiment, const Outcome& outcome,
                                    EvaluationSet evaluation_set) {
  const ExperimentResults& results = outcome.results;
  for (ErrorProtocol protocol : kProtocols) {
    const std::string suffix =
        protocol == ErrorProtocol::kP1
            ? ""
            : std::string(" (") + ErrorProtocolToString(protocol) + ")";
    std::printf("\n%s", FormatActionTable(
                            std::string("Multicamera ") + ErrorProtocolToString(protocol),
                            {{"Ours - Baseline" + suffix, &results.multiview_baseline, protocol},
                             {"Ours - L2" + suffix, &results.multiview_l2, protocol},
                             {"Ours - Huber" + suffix, &results.multiview_huber, protocol}})
                            .c_str());
  }
  std::printf("(paper, real Human3.6M, P1: baseline 91.8, l2 47.7, Huber 46.1)\n");
  // Where the l2 energy loses: frames with and without the generator's
  // gross errors (a swapped view or a joint's gross error in any view).
  std::printf("\nMulti-view P1 by detection errors (the generator's labels; %s, mm):\n",
              EvaluationSetName(evaluation_set));
  std::printf("  %-20s %24s %24s\n", "", "no gross error", "swap or gross error");
  nlohmann::json gross_error_json = nlohmann::json::object();
  for (const Run* run : {&outcome.mv_baseline, &outcome.mv_l2, &outcome.mv_huber}) {
    const GrossErrorBreakdown b =
        BreakDownByGrossErrors(experiment.test_frames(), run->results, {0, 1, 2, 3});
    std::printf("  %-20s %10.1f (%4d frames)  %10.1f (%4d frames)\n", run->name.c_str(),
                b.clean_p1, b.clean_frames, b.gross_p1, b.gross_frames);
    gross_error_json[run->name.substr(run->name.find('.') + 1)] = {
        {"clean_frames", b.clean_frames}, {"clean_p1", JsonNumber(b.clean_p1)},
        {"gross_frames", b.gross_frames}, {"gross_p1", JsonNumber(b.gross_p1)}};
  }
  return gross_error_json;
}

void PrintMonocularTables(const ExperimentResults& results) {
  std::vector<TableRow> rows;
  for (ErrorProtocol protocol : kProtocols) {
    const std::string p = ErrorProtocolToString(protocol);
    for (size_t i = 0; i < results.monocular_components.size(); ++i) {
      rows.push_back({std::to_string(results.monocular_components[i]) +
                          " Models - Baseline (" + p + ")",
                      &results.monocular_baseline[i], protocol});
    }
    for (size_t i = 0; i < results.monocular_components.size(); ++i) {
      rows.push_back({std::to_string(results.monocular_components[i]) + " Models (" + p + ")",
                      &results.monocular_trained[i], protocol});
    }
  }
  std::printf("\n%s", FormatActionTable("Monocular", rows).c_str());
  std::printf("(paper, real Human3.6M, P1: baselines 114.2 / 112.3 / 115.4, trained 76.1 / "
              "73.4 / 73.2 for K = 3 / 6 / 10)\n");
}

void PrintTargets(const ExperimentResults& results, EvaluationSet evaluation_set) {
  std::printf("\nTargets (P1 ratios the paper's results meet: Table 2, supplementary Table 1; "
              "%s):\n%s",
              EvaluationSetName(evaluation_set), FormatTargets(CheckTargets(results)).c_str());
  int failed_fits = 0;
  for (const ActionSummary* summary :
       {&results.multiview_baseline, &results.multiview_l2, &results.multiview_huber}) {
    failed_fits += summary->total_failed;
  }
  for (const auto& list : {&results.monocular_baseline, &results.monocular_trained}) {
    for (const ActionSummary& summary : *list) failed_fits += summary.total_failed;
  }
  if (failed_fits > 0) {
    std::printf("note: %d test fits failed and are left out of the averages\n", failed_fits);
  }
}

// ---------------------------------------------------------------------------
// Outputs: figures and the results JSON.

bool WriteFigureFiles(const Outcome& outcome) {
  const ExperimentResults& results = outcome.results;
  FigureInputs inputs;
  if (results.has_multiview) {
    inputs.multiview_baseline = &outcome.mv_baseline.results;
    inputs.multiview_l2 = &outcome.mv_l2.results;
    inputs.multiview_huber = &outcome.mv_huber.results;
    inputs.multiview_models = {{"l2", &outcome.mv_l2.model}, {"huber", &outcome.mv_huber.model}};
  }
  for (size_t i = 0; i < outcome.mono_trained.size(); ++i) {
    inputs.monocular_models.emplace_back("k" + std::to_string(results.monocular_components[i]),
                                         &outcome.mono_trained[i]->model);
  }
  FigureOutputs outputs;
  const Status status = WriteFigures(FLAGS_output_dir, inputs, /*render=*/true, &outputs);
  if (!status.ok()) {
    std::fprintf(stderr, "figures: %s\n", status.ToString().c_str());
    return false;
  }
  std::printf("\nfigures in %s:", FLAGS_output_dir.c_str());
  for (const std::string& image : outputs.images) {
    std::printf(" %s", std::filesystem::path(image).filename().c_str());
  }
  std::printf("\n");
  if (!outputs.message.empty()) std::printf("  %s\n", outputs.message.c_str());
  return true;
}

bool WriteResultsJson(const Settings& settings, const Experiment& experiment,
                      const Outcome& outcome, const nlohmann::json& gross_error_json,
                      double total_seconds) {
  const Preset& preset = settings.preset;
  nlohmann::json json_settings = {
      {"size", preset.name},
      {"seed", FLAGS_seed},
      {"threads", FLAGS_threads},
      {"initial_model", !FLAGS_tome_model.empty() && std::filesystem::exists(FLAGS_tome_model)
                            ? "tome:" + FLAGS_tome_model
                            : std::string("ppca_fit")},
      {"train_subjects", TrainSubjects()},
      {"evaluated_on", settings.evaluation_set == EvaluationSet::kValidation
                           ? "validation: training subjects, seed + 1000"
                           : "test subjects"},
      {"test_subjects", TestSubjects()},
      {"data",
       {{"sequences_per_action", preset.data.sequences_per_action},
        {"frames_per_sequence", preset.data.frames_per_sequence},
        {"pixel_noise", preset.data.pixel_noise},
        {"miss_probability", preset.data.miss_probability},
        {"swap_probability", preset.data.swap_probability},
        {"outlier_probability", preset.data.outlier_probability},
        {"outlier_pixels", preset.data.outlier_pixels}}},
      {"training_poses", experiment.num_training_poses()},
      {"training_frames", experiment.training_frames().size()},
      {"evaluated_frames", experiment.test_frames().size()},
      {"multiview_components", preset.multiview_components},
      {"multiview_rotation_seeds", preset.multiview_rotation_seeds},
      {"monocular_camera", FLAGS_monocular_camera},
      {"monocular_rotation_seeds", preset.monocular_rotation_seeds},
      {"epochs", preset.num_epochs},
      {"batch_size", preset.batch_size},
      {"learning_rate", preset.learning_rate > 0.0 ? preset.learning_rate
                                                   : PoseLearningOptions().learning_rate},
      {"learning_rate_decay", "2 / (number of steps)"},
      {"outer_loss", PoseLearningOptions().outer_loss == PoseOuterLoss::kJointError
                         ? "P1 (root-aligned mean joint error)"
                         : "mean squared root-aligned joint error"},
      {"baseline_loss", "l2"},
      {"monocular_loss", ReprojectionLossToString(settings.monocular_loss)},
      {"multiview_camera_model", CameraModelToString(settings.multiview_camera_model)},
      {"monocular_camera_model", CameraModelToString(CameraModel::kWeakPerspective)}};
  nlohmann::json json = ResultsToJson(outcome.results, json_settings);
  json["training"] = outcome.training_json;
  for (const auto& [run, breakdown] : gross_error_json.items()) {
    json["multiview"][run]["p1_by_gross_errors"] = breakdown;
  }
  json["total_seconds"] = total_seconds;
  const Status status = WriteFileAtomically(FLAGS_output_json, json.dump(2) + "\n");
  if (!status.ok()) {
    std::fprintf(stderr, "%s\n", status.ToString().c_str());
    return false;
  }
  std::printf("results: %s\n", FLAGS_output_json.c_str());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  gflags::SetUsageMessage(
      "The paper's 3D human pose experiment (Table 2; supplementary Table 1, Figures 1, 2, "
      "4) on synthetic Human3.6M-like data.");
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  const auto start = std::chrono::steady_clock::now();
  Settings settings;
  if (!ReadSettings(&settings)) return 1;
  PrintSettings(settings);
  Experiment experiment(settings.preset, settings.multiview_camera_model,
                        settings.evaluation_set);
  if (!experiment.Setup()) return 1;
  std::vector<int> num_components;
  if (settings.do_multiview) num_components.push_back(settings.preset.multiview_components);
  if (settings.do_monocular) {
    num_components.insert(num_components.end(), settings.preset.monocular_components.begin(),
                          settings.preset.monocular_components.end());
  }
  if (!experiment.ReadInitialModels(num_components)) return 1;
  Outcome outcome;
  if (settings.do_multiview && !RunMultiview(settings, &experiment, &outcome)) return 1;
  if (settings.do_monocular && !RunMonocular(settings, &experiment, &outcome)) return 1;

  std::printf("\n%s, mm. Avg is the mean over all evaluated frames.\n",
              EvaluationSetName(settings.evaluation_set));
  nlohmann::json gross_error_json = nlohmann::json::object();
  if (outcome.results.has_multiview) {
    gross_error_json = PrintMultiviewTables(experiment, outcome, settings.evaluation_set);
  }
  if (outcome.results.has_monocular) PrintMonocularTables(outcome.results);
  PrintTargets(outcome.results, settings.evaluation_set);

  if (!FLAGS_output_dir.empty() && !WriteFigureFiles(outcome)) return 1;
  const double total_seconds = Seconds(start);
  if (!FLAGS_output_json.empty() &&
      !WriteResultsJson(settings, experiment, outcome, gross_error_json, total_seconds)) {
    return 1;
  }
  std::printf("total time %.1f s\n", total_seconds);
  return 0;
}
