// Evaluation and reporting for the human-pose example (supplementary section
// 4): per-frame P1/P2/P3 of a model's fits on test frames, per-action tables in
// the layout of the paper's Table 2 (multi-view) and supplementary Table 1
// (monocular), the results JSON, the P1-ratio targets, and the gnuplot
// figures (supplementary Figures 1, 2 and 4).
//
// Usage:
//   std::vector<FrameResult> results;
//   Status status = EvaluateModel(model, cameras, test_frames, fit_options,
//                                 /*num_threads=*/2, &results);
//   ActionSummary summary = SummariseByAction(results);
//   std::cout << FormatActionTable("Multicamera", {{"Baseline", &summary,
//                                                   ErrorProtocol::kP1}});
#ifndef CERES_WIBERG_EXAMPLES_HUMAN_POSE_POSE_REPORT_H_
#define CERES_WIBERG_EXAMPLES_HUMAN_POSE_POSE_REPORT_H_

#include <string>
#include <utility>
#include <vector>

#include "ceres_wiberg/file.h"
#include "ceres_wiberg/status.h"
#include "nlohmann/json.hpp"
#include "pose_data.h"
#include "pose_fitter.h"
#include "pose_model.h"

namespace human_pose {

// The fit of one test frame and its errors (mm).
struct FrameResult {
  int subject = 0;
  int action = 0;  // index into ActionNames()
  int sequence = 0;
  int frame_index = 0;
  bool ok = false;     // false: FitPose failed; `error` says why
  std::string error;
  double p1 = 0.0;     // mean per-joint error, 17 joints
  double p2 = 0.0;     // after Procrustes alignment, 17 joints
  double p3 = 0.0;     // after Procrustes alignment, 14 joints
  int component = -1;  // the mixture component of the chosen candidate
  double energy = 0.0;
  Pose truth = Pose::Zero();
  Pose estimate = Pose::Zero();
};

// Fits every frame with FitPose (frames spread over num_threads threads) and
// scores it with P1, P2 and P3. A frame whose fit fails is kept with ok = false
// and its message; the call itself fails only for unusable arguments (no
// frames, no components, frames without the views fit_options asks for).
ceres_wiberg::Status EvaluateModel(const PoseModel& model,
                                   const std::vector<Camera>& cameras,
                                   const std::vector<Frame>& frames,
                                   const PoseFitOptions& fit_options,
                                   int num_threads,
                                   std::vector<FrameResult>* results);

enum class ErrorProtocol { kP1, kP2, kP3 };
const char* ErrorProtocolToString(ErrorProtocol protocol);  // "P1", "P2", "P3"

// One row of the paper's tables: errors per action and on average.
struct ActionSummary {
  // Per action, in ActionNames() order: frames scored (fits that succeeded),
  // fits that failed, and the mean errors over the scored frames (NaN where
  // an action has no scored frame).
  std::vector<int> frames;
  std::vector<int> failed;
  std::vector<double> p1, p2, p3;
  // Means over all scored frames (the paper's "Avg" is the mean over frames,
  // not over actions).
  double average_p1 = 0.0, average_p2 = 0.0, average_p3 = 0.0;
  int total_frames = 0;
  int total_failed = 0;

  const std::vector<double>& PerAction(ErrorProtocol protocol) const;
  double Average(ErrorProtocol protocol) const;
};

// Groups the results by action (num_actions columns; results whose action is
// outside [0, num_actions) are a programmer error) and averages them.
ActionSummary SummariseByAction(const std::vector<FrameResult>& results,
                                int num_actions);
// The same with num_actions = ActionNames().size().
ActionSummary SummariseByAction(const std::vector<FrameResult>& results);

// Mean P1 of the frames without a gross detection error in the used views
// (no swapped view, no joint labelled Detection::gross_error) and of the
// others; the generator's labels are read for this analysis only. Frames
// whose fit failed are left out; a mean over no frames is NaN.
struct GrossErrorBreakdown {
  int clean_frames = 0;
  double clean_p1 = 0.0;
  int gross_frames = 0;
  double gross_p1 = 0.0;
};
// results[i] is the fit of frames[i] (as EvaluateModel returns them).
GrossErrorBreakdown BreakDownByGrossErrors(const std::vector<Frame>& frames,
                                           const std::vector<FrameResult>& results,
                                           const std::vector<int>& views);

// The paper's short column heading of an action ("Directions" -> "Dir.");
// names it does not know are returned unchanged.
std::string ShortActionName(const std::string& action);

struct TableRow {
  std::string label;
  const ActionSummary* summary = nullptr;
  ErrorProtocol protocol = ErrorProtocol::kP1;
};

// A table in the layout of the paper's tables: a header of the corner text,
// the short action names and "Avg", then one line per row, in mm with one
// decimal ("-" where an action has no scored frame).
std::string FormatActionTable(const std::string& corner,
                              const std::vector<TableRow>& rows,
                              const std::vector<std::string>& action_names);
std::string FormatActionTable(const std::string& corner,
                              const std::vector<TableRow>& rows);

// Everything the example measures on the test subjects.
struct ExperimentResults {
  ActionSummary multiview_baseline, multiview_l2, multiview_huber;
  std::vector<int> monocular_components;  // e.g. {3, 6, 10}
  std::vector<ActionSummary> monocular_baseline;  // one per entry above
  std::vector<ActionSummary> monocular_trained;
  bool has_multiview = false;
  bool has_monocular = false;
};

// One target, a P1 ratio the paper's results meet (multi-view 47.7 / 91.8 =
// 0.52, Table 2; monocular 76.1 / 114.2 = 0.67, supplementary Table 1):
// value <= threshold.
struct TargetCheck {
  std::string name;         // e.g. "multiview.l2.p1_ratio"
  std::string description;  // e.g. "multi-view l2 P1 / baseline P1"
  double value = 0.0;
  double threshold = 0.0;
  bool met = false;
};

// Multi-view: l2 / baseline <= 0.6 and Huber / baseline <= 0.6 (P1), Huber P1
// / l2 P1 <= 1; monocular: trained / baseline <= 0.75 (P1) for each K.
std::vector<TargetCheck> CheckTargets(const ExperimentResults& results);
std::string FormatTargets(const std::vector<TargetCheck>& targets);

// {"p1", "p2", "p3", "frames", "failed_frames", "per_action": {"p1": {action:
// mm, ...}, "p2": ..., "p3": ..., "frames": ...}}; NaN per-action entries are
// null.
nlohmann::json SummaryToJson(const ActionSummary& summary,
                             const std::vector<std::string>& action_names);

// The results file: multiview.{baseline,l2,huber} and
// monocular.k<K>.{baseline,trained}, each as SummaryToJson (so
// j["multiview"]["baseline"]["p1"] is the average P1), "targets" (name ->
// {value, threshold, met}) and "settings" as given.
nlohmann::json ResultsToJson(const ExperimentResults& results,
                             const nlohmann::json& settings,
                             const std::vector<std::string>& action_names);
nlohmann::json ResultsToJson(const ExperimentResults& results,
                             const nlohmann::json& settings);

// The results, figures and data files are written with the library's
// atomic replacement (path.tmp and a rename).
using ceres_wiberg::WriteFileAtomically;

// A number, or JSON null when it is not finite (NaN averages, failed runs).
nlohmann::json JsonNumber(double value);

// ---- Figures -------------------------------------------------------------

// The pose seen from the front: column j is (u, z) where u is the horizontal
// axis from the right to the left shoulder, so the person faces the viewer
// (their left on the right of the picture), and z is up. Root at u = 0.
Pose2D FrontView(const Pose& pose);

// Supplementary Figure 1: frames scored in all three runs, sorted by Huber P1.
// Columns: rank, huber_p1, l2_p1, baseline_p1, subject, action, sequence,
// frame. The three vectors are results for the same frames in the same order
// (a programmer error otherwise).
std::string ErrorDistributionText(const std::vector<FrameResult>& baseline,
                                  const std::vector<FrameResult>& l2,
                                  const std::vector<FrameResult>& huber);

// Figures 2 and 4: per joint, "joint name u z weight_x weight_y" with (u, z)
// the front view of the model's first component mean.
std::string JointWeightsText(const PoseModel& model);

// The bones of a pose, in the order of Bones(). 2D (front view): per bone
// the lines "u1 z1" and "u2 z2" (parent, child) and a blank line, for
// gnuplot's `with lines`. 3D: per bone one line "x1 y1 z1 x2 y2 z2", for
// `with vectors nohead` (splot would join equal-length blocks into a mesh).
std::string BonesText2D(const Pose2D& joints);
std::string BonesText3D(const Pose& pose);

// Indices into `results` of the scored frames at the given quantiles of P1
// (0 = lowest error, 1 = highest), e.g. {0.1, 0.5, 0.95}: low, middle, tail.
std::vector<int> PickByErrorQuantile(const std::vector<FrameResult>& results,
                                     const std::vector<double>& quantiles);

// Figure (c): one reconstruction, three gnuplot data blocks separated by two
// blank lines (index 0: ground truth, 1: estimate, 2: the reference
// estimate, e.g. the baseline's), each BonesText3D of the pose centred on
// its root and turned so that the ground truth faces the viewer.
std::string ReconstructionText(const Pose& truth, const Pose& estimate,
                               const Pose& reference);

// What the figures are drawn from; null / empty entries are skipped.
struct FigureInputs {
  // Multi-view results on the same test frames (Figure 1 and the
  // reconstructions).
  const std::vector<FrameResult>* multiview_baseline = nullptr;
  const std::vector<FrameResult>* multiview_l2 = nullptr;
  const std::vector<FrameResult>* multiview_huber = nullptr;
  // (label, model) whose joint weights are drawn: Figure 2 (multi-view) and
  // Figure 4 (monocular).
  std::vector<std::pair<std::string, const PoseModel*>> multiview_models;
  std::vector<std::pair<std::string, const PoseModel*>> monocular_models;
};

struct FigureOutputs {
  std::vector<std::string> data_files;  // written
  std::vector<std::string> scripts;     // gnuplot scripts written
  std::vector<std::string> images;      // PNGs rendered
  std::string message;  // why images are missing, if they are
};

// Writes the data files and gnuplot scripts to output_dir (created if
// missing) and, if render and gnuplot is on PATH, renders the PNGs:
// error_distribution.png, joint_weights_multiview.png,
// joint_weights_monocular.png, reconstructions.png. A missing or failing
// gnuplot is not an error (outputs->message says so); a file that cannot be
// written is.
ceres_wiberg::Status WriteFigures(const std::string& output_dir,
                                  const FigureInputs& inputs, bool render,
                                  FigureOutputs* outputs);

}  // namespace human_pose

#endif  // CERES_WIBERG_EXAMPLES_HUMAN_POSE_POSE_REPORT_H_
