#include "pose_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <tuple>

#include "ceres_wiberg/thread_pool.h"
#include "common/gnuplot.h"
#include "glog/logging.h"
#include "pose_metrics.h"
#include "skeleton.h"
#include "synthetic_h36m.h"

namespace human_pose {
namespace {

using ceres_wiberg::Status;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string Format(const char* format, double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), format, value);
  return buffer;
}

// "%.6g" for data files; "nan" stays readable by gnuplot.
std::string Number(double value) { return Format("%.6g", value); }

}  // namespace

nlohmann::json JsonNumber(double value) {
  return std::isfinite(value) ? nlohmann::json(value) : nlohmann::json(nullptr);
}

Status EvaluateModel(const PoseModel& model, const std::vector<Camera>& cameras,
                     const std::vector<Frame>& frames,
                     const PoseFitOptions& fit_options, int num_threads,
                     std::vector<FrameResult>* results) {
  CHECK(results != nullptr);
  if (frames.empty()) {
    return ceres_wiberg::InvalidArgumentError("EvaluateModel: no frames");
  }
  if (model.components.empty()) {
    return ceres_wiberg::InvalidArgumentError(
        "EvaluateModel: the model has no components");
  }
  std::string error;
  if (!fit_options.IsValid(&error)) {
    return ceres_wiberg::InvalidArgumentError("EvaluateModel: " + error);
  }
  for (int view : fit_options.views) {
    if (view < 0 || view >= static_cast<int>(cameras.size())) {
      return ceres_wiberg::InvalidArgumentError(
          "EvaluateModel: view " + std::to_string(view) + " but " +
          std::to_string(cameras.size()) + " cameras");
    }
  }
  for (size_t i = 0; i < frames.size(); ++i) {
    if (frames[i].views.size() != cameras.size()) {
      return ceres_wiberg::InvalidArgumentError(
          "EvaluateModel: frame " + std::to_string(i) + " has " +
          std::to_string(frames[i].views.size()) + " views for " +
          std::to_string(cameras.size()) + " cameras");
    }
  }

  results->assign(frames.size(), FrameResult());
  const int num_frames = static_cast<int>(frames.size());
  ceres_wiberg::ParallelFor(num_frames, std::max(1, num_threads), [&](int i) {
    const Frame& frame = frames[i];
    FrameResult& result = (*results)[i];
    result.subject = frame.subject;
    result.action = frame.action;
    result.sequence = frame.sequence;
    result.frame_index = frame.frame_index;
    result.truth = frame.pose;
    PoseFit fit;
    const Status status = FitPose(model, cameras, frame, fit_options, &fit);
    if (!status.ok()) {
      result.error = status.ToString();
      return;
    }
    result.ok = true;
    result.estimate = fit.pose;
    result.component = fit.component;
    result.energy = fit.energy;
    result.p1 = P1(fit.pose, frame.pose);
    result.p2 = P2(fit.pose, frame.pose);
    result.p3 = P3(fit.pose, frame.pose);
  });
  return Status::Ok();
}

const char* ErrorProtocolToString(ErrorProtocol protocol) {
  switch (protocol) {
    case ErrorProtocol::kP1:
      return "P1";
    case ErrorProtocol::kP2:
      return "P2";
    case ErrorProtocol::kP3:
      return "P3";
  }
  return "unknown";
}

const std::vector<double>& ActionSummary::PerAction(
    ErrorProtocol protocol) const {
  switch (protocol) {
    case ErrorProtocol::kP1:
      return p1;
    case ErrorProtocol::kP2:
      return p2;
    case ErrorProtocol::kP3:
      return p3;
  }
  return p1;
}

double ActionSummary::Average(ErrorProtocol protocol) const {
  switch (protocol) {
    case ErrorProtocol::kP1:
      return average_p1;
    case ErrorProtocol::kP2:
      return average_p2;
    case ErrorProtocol::kP3:
      return average_p3;
  }
  return average_p1;
}

ActionSummary SummariseByAction(const std::vector<FrameResult>& results,
                                int num_actions) {
  CHECK_GE(num_actions, 0);
  ActionSummary summary;
  summary.frames.assign(num_actions, 0);
  summary.failed.assign(num_actions, 0);
  std::vector<double> sum1(num_actions, 0.0), sum2(num_actions, 0.0),
      sum3(num_actions, 0.0);
  double total1 = 0.0, total2 = 0.0, total3 = 0.0;
  for (const FrameResult& result : results) {
    CHECK(result.action >= 0 && result.action < num_actions)
        << "action " << result.action << " outside [0, " << num_actions << ")";
    if (!result.ok) {
      ++summary.failed[result.action];
      ++summary.total_failed;
      continue;
    }
    ++summary.frames[result.action];
    ++summary.total_frames;
    sum1[result.action] += result.p1;
    sum2[result.action] += result.p2;
    sum3[result.action] += result.p3;
    total1 += result.p1;
    total2 += result.p2;
    total3 += result.p3;
  }
  for (int a = 0; a < num_actions; ++a) {
    const double n = summary.frames[a];
    summary.p1.push_back(n > 0 ? sum1[a] / n : kNaN);
    summary.p2.push_back(n > 0 ? sum2[a] / n : kNaN);
    summary.p3.push_back(n > 0 ? sum3[a] / n : kNaN);
  }
  const double n = summary.total_frames;
  summary.average_p1 = n > 0 ? total1 / n : kNaN;
  summary.average_p2 = n > 0 ? total2 / n : kNaN;
  summary.average_p3 = n > 0 ? total3 / n : kNaN;
  return summary;
}

ActionSummary SummariseByAction(const std::vector<FrameResult>& results) {
  return SummariseByAction(results, static_cast<int>(ActionNames().size()));
}

GrossErrorBreakdown BreakDownByGrossErrors(const std::vector<Frame>& frames,
                                           const std::vector<FrameResult>& results,
                                           const std::vector<int>& views) {
  CHECK_EQ(frames.size(), results.size());
  GrossErrorBreakdown breakdown;
  for (size_t i = 0; i < frames.size(); ++i) {
    if (!results[i].ok) continue;
    bool gross = false;
    for (int v : views) {
      CHECK_LT(v, static_cast<int>(frames[i].views.size()));
      const Detection& detection = frames[i].views[v];
      gross = gross || detection.swapped;
      for (int j = 0; j < kNumJoints; ++j) gross = gross || detection.gross_error[j];
    }
    if (gross) {
      ++breakdown.gross_frames;
      breakdown.gross_p1 += results[i].p1;
    } else {
      ++breakdown.clean_frames;
      breakdown.clean_p1 += results[i].p1;
    }
  }
  const double nan = std::numeric_limits<double>::quiet_NaN();
  breakdown.clean_p1 =
      breakdown.clean_frames > 0 ? breakdown.clean_p1 / breakdown.clean_frames : nan;
  breakdown.gross_p1 =
      breakdown.gross_frames > 0 ? breakdown.gross_p1 / breakdown.gross_frames : nan;
  return breakdown;
}

std::string ShortActionName(const std::string& action) {
  // The column headings of the paper's Table 2 and supplementary Table 1.
  static const std::map<std::string, std::string> kShort = {
      {"Directions", "Dir."},   {"Discussion", "Disc."},
      {"Eating", "Eat"},        {"Greeting", "Greet"},
      {"Phoning", "Phone"},     {"Photo", "Photo"},
      {"TakingPhoto", "Photo"}, {"Posing", "Pose"},
      {"Purchases", "Purch."},  {"Sitting", "Sit"},
      {"SittingDown", "SitD."}, {"Smoking", "Smoke"},
      {"Waiting", "Wait"},      {"WalkDog", "WalkD."},
      {"WalkingDog", "WalkD."}, {"Walking", "Walk"},
      {"WalkTogether", "WalkT."}, {"WalkingTogether", "WalkT."}};
  const auto it = kShort.find(action);
  return it == kShort.end() ? action : it->second;
}

std::string FormatActionTable(const std::string& corner,
                              const std::vector<TableRow>& rows,
                              const std::vector<std::string>& action_names) {
  size_t label_width = corner.size();
  for (const TableRow& row : rows) label_width = std::max(label_width, row.label.size());
  std::vector<std::string> headings;
  for (const std::string& name : action_names) headings.push_back(ShortActionName(name));
  headings.push_back("Avg");
  std::vector<size_t> widths;
  for (const std::string& heading : headings) {
    widths.push_back(std::max<size_t>(heading.size(), 6));
  }

  auto pad_left = [](const std::string& text, size_t width) {
    return std::string(width > text.size() ? width - text.size() : 0, ' ') + text;
  };
  auto pad_right = [](const std::string& text, size_t width) {
    return text + std::string(width > text.size() ? width - text.size() : 0, ' ');
  };
  std::string text = pad_right(corner, label_width);
  for (size_t c = 0; c < headings.size(); ++c) text += " " + pad_left(headings[c], widths[c]);
  text += "\n";
  for (const TableRow& row : rows) {
    CHECK(row.summary != nullptr) << "row " << row.label << " has no summary";
    const std::vector<double>& values = row.summary->PerAction(row.protocol);
    CHECK_EQ(values.size(), action_names.size()) << "row " << row.label;
    text += pad_right(row.label, label_width);
    for (size_t c = 0; c < headings.size(); ++c) {
      const double value =
          c < values.size() ? values[c] : row.summary->Average(row.protocol);
      const std::string cell = std::isfinite(value) ? Format("%.1f", value) : "-";
      text += " " + pad_left(cell, widths[c]);
    }
    text += "\n";
  }
  return text;
}

std::string FormatActionTable(const std::string& corner,
                              const std::vector<TableRow>& rows) {
  return FormatActionTable(corner, rows, ActionNames());
}

std::vector<TargetCheck> CheckTargets(const ExperimentResults& results) {
  std::vector<TargetCheck> targets;
  auto add = [&targets](const std::string& name, const std::string& description,
                        double numerator, double denominator, double threshold) {
    TargetCheck target;
    target.name = name;
    target.description = description;
    target.value = numerator / denominator;
    target.threshold = threshold;
    target.met = std::isfinite(target.value) && target.value <= threshold;
    targets.push_back(target);
  };
  if (results.has_multiview) {
    const double baseline = results.multiview_baseline.average_p1;
    add("multiview.l2.p1_ratio", "multi-view l2 P1 / baseline P1",
        results.multiview_l2.average_p1, baseline, 0.6);
    add("multiview.huber.p1_ratio", "multi-view Huber P1 / baseline P1",
        results.multiview_huber.average_p1, baseline, 0.6);
    add("multiview.huber_over_l2.p1_ratio", "multi-view Huber P1 / l2 P1",
        results.multiview_huber.average_p1, results.multiview_l2.average_p1, 1.0);
  }
  if (results.has_monocular) {
    CHECK_EQ(results.monocular_baseline.size(), results.monocular_components.size());
    CHECK_EQ(results.monocular_trained.size(), results.monocular_components.size());
    for (size_t i = 0; i < results.monocular_components.size(); ++i) {
      const std::string k = std::to_string(results.monocular_components[i]);
      add("monocular.k" + k + ".p1_ratio",
          "monocular K=" + k + " trained P1 / baseline P1",
          results.monocular_trained[i].average_p1,
          results.monocular_baseline[i].average_p1, 0.75);
    }
  }
  return targets;
}

std::string FormatTargets(const std::vector<TargetCheck>& targets) {
  std::string text;
  for (const TargetCheck& target : targets) {
    char line[256];
    std::snprintf(line, sizeof(line), "  %-42s %6.3f  (target <= %.2f)  %s\n",
                  target.description.c_str(), target.value, target.threshold,
                  target.met ? "met" : "NOT MET");
    text += line;
  }
  return text;
}

nlohmann::json SummaryToJson(const ActionSummary& summary,
                             const std::vector<std::string>& action_names) {
  nlohmann::json json;
  json["p1"] = JsonNumber(summary.average_p1);
  json["p2"] = JsonNumber(summary.average_p2);
  json["p3"] = JsonNumber(summary.average_p3);
  json["frames"] = summary.total_frames;
  json["failed_frames"] = summary.total_failed;
  nlohmann::json per_action = {{"p1", nlohmann::json::object()},
                               {"p2", nlohmann::json::object()},
                               {"p3", nlohmann::json::object()},
                               {"frames", nlohmann::json::object()}};
  CHECK_EQ(summary.p1.size(), action_names.size());
  for (size_t a = 0; a < action_names.size(); ++a) {
    per_action["p1"][action_names[a]] = JsonNumber(summary.p1[a]);
    per_action["p2"][action_names[a]] = JsonNumber(summary.p2[a]);
    per_action["p3"][action_names[a]] = JsonNumber(summary.p3[a]);
    per_action["frames"][action_names[a]] = summary.frames[a];
  }
  json["per_action"] = per_action;
  return json;
}

nlohmann::json ResultsToJson(const ExperimentResults& results,
                             const nlohmann::json& settings,
                             const std::vector<std::string>& action_names) {
  nlohmann::json json;
  if (results.has_multiview) {
    json["multiview"]["baseline"] = SummaryToJson(results.multiview_baseline, action_names);
    json["multiview"]["l2"] = SummaryToJson(results.multiview_l2, action_names);
    json["multiview"]["huber"] = SummaryToJson(results.multiview_huber, action_names);
  }
  if (results.has_monocular) {
    CHECK_EQ(results.monocular_baseline.size(), results.monocular_components.size());
    CHECK_EQ(results.monocular_trained.size(), results.monocular_components.size());
    for (size_t i = 0; i < results.monocular_components.size(); ++i) {
      const std::string k = "k" + std::to_string(results.monocular_components[i]);
      json["monocular"][k]["baseline"] =
          SummaryToJson(results.monocular_baseline[i], action_names);
      json["monocular"][k]["trained"] =
          SummaryToJson(results.monocular_trained[i], action_names);
    }
  }
  json["targets"] = nlohmann::json::object();
  for (const TargetCheck& target : CheckTargets(results)) {
    json["targets"][target.name] = {{"description", target.description},
                                    {"value", JsonNumber(target.value)},
                                    {"threshold", target.threshold},
                                    {"met", target.met}};
  }
  json["actions"] = action_names;
  json["settings"] = settings;
  return json;
}

nlohmann::json ResultsToJson(const ExperimentResults& results,
                             const nlohmann::json& settings) {
  return ResultsToJson(results, settings, ActionNames());
}

// ---- Figures -------------------------------------------------------------

namespace {

// The horizontal unit vector from the right to the left shoulder (x if the
// shoulders are vertically aligned).
Eigen::Vector2d ShoulderAxis(const Pose& pose) {
  const Eigen::Vector3d across = pose.col(kLeftShoulder) - pose.col(kRightShoulder);
  Eigen::Vector2d u(across.x(), across.y());
  if (u.norm() < 1e-9) return Eigen::Vector2d(1.0, 0.0);
  return u.normalized();
}

// Rotation about z taking the shoulder axis to +x, so the person faces -y
// (towards a viewer looking along +y).
Eigen::Matrix3d FacingRotation(const Pose& pose) {
  const Eigen::Vector2d u = ShoulderAxis(pose);
  Eigen::Matrix3d rotation = Eigen::Matrix3d::Identity();
  rotation(0, 0) = u.x();
  rotation(0, 1) = u.y();
  rotation(1, 0) = -u.y();
  rotation(1, 1) = u.x();
  return rotation;
}

Pose CentreAndTurn(const Pose& pose, const Eigen::Matrix3d& rotation) {
  Pose centred = pose.colwise() - pose.col(kHip);
  return rotation * centred;
}

}  // namespace

Pose2D FrontView(const Pose& pose) {
  const Pose turned = CentreAndTurn(pose, FacingRotation(pose));
  Pose2D view;
  view.row(0) = turned.row(0);
  view.row(1) = turned.row(2);
  return view;
}

std::string ErrorDistributionText(const std::vector<FrameResult>& baseline,
                                  const std::vector<FrameResult>& l2,
                                  const std::vector<FrameResult>& huber) {
  CHECK_EQ(baseline.size(), huber.size());
  CHECK_EQ(l2.size(), huber.size());
  std::vector<int> order;
  for (size_t i = 0; i < huber.size(); ++i) {
    CHECK(baseline[i].subject == huber[i].subject &&
          baseline[i].action == huber[i].action &&
          baseline[i].sequence == huber[i].sequence &&
          baseline[i].frame_index == huber[i].frame_index &&
          l2[i].subject == huber[i].subject && l2[i].action == huber[i].action &&
          l2[i].sequence == huber[i].sequence &&
          l2[i].frame_index == huber[i].frame_index)
        << "results " << i << " are not of the same frame";
    if (baseline[i].ok && l2[i].ok && huber[i].ok) order.push_back(static_cast<int>(i));
  }
  std::stable_sort(order.begin(), order.end(),
                   [&huber](int a, int b) { return huber[a].p1 < huber[b].p1; });
  std::string text =
      "# Supplementary Figure 1: per-frame multi-view P1 (mm), sorted by Huber P1\n"
      "# rank huber_p1 l2_p1 baseline_p1 subject action sequence frame\n";
  for (size_t r = 0; r < order.size(); ++r) {
    const int i = order[r];
    text += std::to_string(r + 1) + " " + Number(huber[i].p1) + " " + Number(l2[i].p1) +
            " " + Number(baseline[i].p1) + " " + std::to_string(huber[i].subject) + " " +
            std::to_string(huber[i].action) + " " + std::to_string(huber[i].sequence) +
            " " + std::to_string(huber[i].frame_index) + "\n";
  }
  return text;
}

std::string JointWeightsText(const PoseModel& model) {
  CHECK(!model.components.empty());
  const Pose2D view = FrontView(model.components[0].mean);
  std::string text = "# joint name u_mm z_mm weight_x weight_y\n";
  for (int j = 0; j < kNumJoints; ++j) {
    text += std::to_string(j) + " " + JointName(j) + " " + Number(view(0, j)) + " " +
            Number(view(1, j)) + " " + Number(model.weights.joint_weights(0, j)) + " " +
            Number(model.weights.joint_weights(1, j)) + "\n";
  }
  return text;
}

std::string BonesText2D(const Pose2D& joints) {
  std::string text;
  for (const auto& bone : Bones()) {
    for (int k : {bone.first, bone.second}) {
      text += Number(joints(0, k)) + " " + Number(joints(1, k)) + "\n";
    }
    text += "\n";
  }
  return text;
}

std::string BonesText3D(const Pose& pose) {
  std::string text;
  for (const auto& bone : Bones()) {
    text += Number(pose(0, bone.first)) + " " + Number(pose(1, bone.first)) + " " +
            Number(pose(2, bone.first)) + " " + Number(pose(0, bone.second)) + " " +
            Number(pose(1, bone.second)) + " " + Number(pose(2, bone.second)) + "\n";
  }
  return text;
}

std::vector<int> PickByErrorQuantile(const std::vector<FrameResult>& results,
                                     const std::vector<double>& quantiles) {
  std::vector<int> order;
  for (size_t i = 0; i < results.size(); ++i) {
    if (results[i].ok) order.push_back(static_cast<int>(i));
  }
  std::stable_sort(order.begin(), order.end(),
                   [&results](int a, int b) { return results[a].p1 < results[b].p1; });
  std::vector<int> picked;
  if (order.empty()) return picked;
  for (double q : quantiles) {
    const double clamped = std::min(1.0, std::max(0.0, q));
    const int rank = static_cast<int>(std::lround(clamped * (order.size() - 1)));
    picked.push_back(order[rank]);
  }
  return picked;
}

std::string ReconstructionText(const Pose& truth, const Pose& estimate,
                               const Pose& reference) {
  const Eigen::Matrix3d rotation = FacingRotation(truth);
  return "# ground truth: x1 y1 z1 x2 y2 z2 per bone\n" +
         BonesText3D(CentreAndTurn(truth, rotation)) + "\n\n# estimate\n" +
         BonesText3D(CentreAndTurn(estimate, rotation)) + "\n\n# reference\n" +
         BonesText3D(CentreAndTurn(reference, rotation));
}

namespace {

std::string Quote(const std::string& text) { return examples::GnuplotQuote(text); }

// Joint-weight panels (x and y weight per model), one row per model.
std::string JointWeightsScript(
    const std::string& name, const std::string& title,
    const std::vector<std::pair<std::string, const PoseModel*>>& models) {
  const int rows = static_cast<int>(models.size());
  std::string script =
      "set multiplot layout " + std::to_string(rows) + ",2 title " + Quote(title) + "\n";
  script +=
      "set size ratio -1\nunset key\nset xtics format ''\nset ytics format ''\n"
      "set offsets 150,150,150,150\nset palette defined (0 'blue', 1 'grey80', 2 'red')\n"
      "set cblabel 'weight'\n";
  for (const auto& model : models) {
    const std::string stem = name + "_" + model.first;
    for (int axis = 0; axis < 2; ++axis) {
      const std::string column = axis == 0 ? "5" : "6";
      script += "set title " + Quote(model.first + ": " + (axis == 0 ? "x" : "y") +
                                     " weights (size and colour)") + "\n";
      script += "plot " + Quote(stem + "_bones.dat") + " with lines lc 'grey40' lw 2, " +
                Quote(stem + "_weights.dat") + " using 3:4:(1.0+2.5*$" + column +
                "):" + column + " with points pt 7 ps variable lc palette\n";
    }
  }
  script += "unset multiplot\n";
  return script;
}

}  // namespace

Status WriteFigures(const std::string& output_dir, const FigureInputs& inputs,
                    bool render, FigureOutputs* outputs) {
  CHECK(outputs != nullptr);
  *outputs = FigureOutputs();
  if (output_dir.find('\'') != std::string::npos) {
    return ceres_wiberg::InvalidArgumentError("figure directory " + output_dir +
                                              " contains a single quote");
  }
  std::error_code error;
  std::filesystem::create_directories(output_dir, error);
  if (error) {
    return Status(ceres_wiberg::StatusCode::kInternalError,
                  "cannot create " + output_dir + ": " + error.message());
  }
  // (name, figure): name.gp, name.png and the figure's data files in output_dir.
  std::vector<std::pair<std::string, examples::GnuplotFigure>> figures;

  // (a) Supplementary Figure 1.
  if (inputs.multiview_baseline && inputs.multiview_l2 && inputs.multiview_huber) {
    examples::GnuplotFigure figure;
    figure.data_files = {{"error_distribution.dat",
                          ErrorDistributionText(*inputs.multiview_baseline,
                                                *inputs.multiview_l2, *inputs.multiview_huber)}};
    figure.width = 900;
    figure.height = 500;
    figure.script =
        "set title 'Multi-view P1 per test frame, sorted by the Huber error "
        "(supplementary Figure 1)'\nset xlabel 'test frame (sorted by Huber P1)'\n"
        "set ylabel 'P1 (mm)'\nset key top left\nset grid\n"
        "plot 'error_distribution.dat' using 1:4 with points pt 7 ps 0.5 lc rgb '#999999' "
        "title 'Baseline', '' using 1:3 with points pt 7 ps 0.5 lc rgb '#1f77b4' title 'l2', "
        "'' using 1:2 with lines lw 2 lc rgb '#d62728' title 'Huber'\n";
    figures.emplace_back("error_distribution", std::move(figure));
  }

  // (b) Figures 2 and 4: joint weights on the skeleton.
  using ModelList = std::vector<std::pair<std::string, const PoseModel*>>;
  const std::vector<std::tuple<std::string, std::string, const ModelList*>> weight_figures = {
      {"joint_weights_multiview", "Multi-view: per-joint reprojection weights (Figure 2)",
       &inputs.multiview_models},
      {"joint_weights_monocular", "Monocular: per-joint reprojection weights (Figure 4)",
       &inputs.monocular_models}};
  for (const auto& weight_figure : weight_figures) {
    const std::string& name = std::get<0>(weight_figure);
    const ModelList& models = *std::get<2>(weight_figure);
    if (models.empty()) continue;
    examples::GnuplotFigure figure;
    for (const auto& model : models) {
      CHECK(model.second != nullptr && !model.second->components.empty())
          << "model " << model.first;
      const std::string stem = name + "_" + model.first;
      figure.data_files.emplace_back(stem + "_weights.dat", JointWeightsText(*model.second));
      figure.data_files.emplace_back(
          stem + "_bones.dat", "# bones of the first component's mean, front view (mm)\n" +
                                   BonesText2D(FrontView(model.second->components[0].mean)));
    }
    figure.width = 900;
    figure.height = 380 * static_cast<int>(models.size());
    figure.script = JointWeightsScript(name, std::get<1>(weight_figure), models);
    figures.emplace_back(name, std::move(figure));
  }

  // (c) Reconstructions from the low, middle and tail of the Huber errors.
  if (inputs.multiview_baseline && inputs.multiview_huber) {
    const std::vector<FrameResult>& huber = *inputs.multiview_huber;
    const std::vector<FrameResult>& baseline = *inputs.multiview_baseline;
    CHECK_EQ(huber.size(), baseline.size());
    const std::vector<int> picked = PickByErrorQuantile(huber, {0.1, 0.5, 0.95});
    const char* kLabels[] = {"low", "middle", "tail"};
    examples::GnuplotFigure figure;
    // Front (x, z) and side (y, z) views: a row each, a column per pick.
    std::string front, side;
    for (size_t r = 0; r < picked.size(); ++r) {
      const FrameResult& result = huber[picked[r]];
      const FrameResult& reference = baseline[picked[r]];
      const std::string data = std::string("reconstruction_") + kLabels[r] + ".dat";
      const std::string action =
          result.action < static_cast<int>(ActionNames().size()) ? ActionNames()[result.action]
                                                                 : "?";
      char header[256];
      std::snprintf(header, sizeof(header),
                    "# %s: subject %d action %d (%s) sequence %d frame %d; Huber P1 %.1f mm, "
                    "baseline P1 %.1f mm\n",
                    kLabels[r], result.subject, result.action, action.c_str(), result.sequence,
                    result.frame_index, result.p1, reference.ok ? reference.p1 : kNaN);
      figure.data_files.emplace_back(
          data, header + ReconstructionText(result.truth, result.estimate,
                                            reference.ok ? reference.estimate : result.estimate));
      char title[160];
      std::snprintf(title, sizeof(title), "%s: Huber %.0f, baseline %.0f mm", kLabels[r],
                    result.p1, reference.ok ? reference.p1 : kNaN);
      for (int view = 0; view < 2; ++view) {
        // Columns x1 y1 z1 x2 y2 z2: front uses x and z, side y and z.
        const std::string bone = view == 0 ? " using 1:3:($4-$1):($6-$3) with vectors nohead "
                                           : " using 2:3:($5-$2):($6-$3) with vectors nohead ";
        std::string& panel = view == 0 ? front : side;
        panel += "set title " + Quote(std::string(title) + (view == 0 ? " (front)" : " (side)")) +
                 "\nplot " + Quote(data) + " index 2" + bone + "lw 2 lc rgb '#aaaaaa', '' index 0" +
                 bone + "lw 3 lc rgb 'black', '' index 1" + bone + "lw 2 lc rgb '#d62728'\n";
      }
    }
    figure.width = 1200;
    figure.height = 1000;
    figure.script =
        "set multiplot layout 2,3 title 'Multi-view reconstructions at the 10th, 50th and "
        "95th percentile of Huber P1: ground truth (black), Huber (red), baseline (grey); mm, "
        "root-centred'\nset size ratio -1\nunset key\nset grid\nset xtics 400\nset ytics 400\n"
        "set offsets 100,100,100,100\n" +
        front + side + "unset multiplot\n";
    if (!picked.empty()) figures.emplace_back("reconstructions", std::move(figure));
  }

  for (const auto& [name, figure] : figures) {
    const Status status = examples::WriteFigure(output_dir, name, figure);
    if (!status.ok()) return status;
    for (const auto& data_file : figure.data_files) {
      outputs->data_files.push_back(output_dir + "/" + data_file.first);
    }
    outputs->scripts.push_back(output_dir + "/" + name + ".gp");
  }
  if (!render || figures.empty()) return Status::Ok();
  if (!examples::GnuplotOnPath()) {
    outputs->message = "gnuplot is not on PATH; the data files and .gp scripts are in " +
                       output_dir + " (run gnuplot <name>.gp there)";
    return Status::Ok();
  }
  for (const auto& figure : figures) {
    if (examples::RenderFigure(output_dir, figure.first).ok()) {
      outputs->images.push_back(output_dir + "/" + figure.first + ".png");
    } else {
      outputs->message += "gnuplot failed on " + output_dir + "/" + figure.first + ".gp; ";
    }
  }
  return Status::Ok();
}

}  // namespace human_pose
