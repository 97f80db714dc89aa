// Tests of the human-pose report: per-action grouping and averaging, the
// table layout, the results JSON's keys, the targets, and the figure data.

#include "pose_report.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "pose_metrics.h"
#include "ppca_fit.h"
#include "skeleton.h"
#include "synthetic_h36m.h"

namespace human_pose {
namespace {

FrameResult MakeResult(int action, double p1, double p2, double p3, bool ok = true,
                       int frame_index = 0) {
  FrameResult result;
  result.subject = 9;
  result.action = action;
  result.frame_index = frame_index;
  result.ok = ok;
  result.p1 = p1;
  result.p2 = p2;
  result.p3 = p3;
  return result;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// A summary whose average P1/P2/P3 are p1, p1 / 2, p1 / 3, over 2 actions.
ActionSummary SummaryWithP1(double p1) {
  return SummariseByAction({MakeResult(0, p1, p1 / 2, p1 / 3), MakeResult(1, p1, p1 / 2, p1 / 3)},
                           2);
}

TEST(SummariseByAction, GroupsAndAveragesPerActionAndOverFrames) {
  const std::vector<FrameResult> results = {
      MakeResult(0, 10.0, 5.0, 4.0), MakeResult(0, 20.0, 7.0, 6.0),
      MakeResult(1, 30.0, 9.0, 8.0), MakeResult(1, 999.0, 999.0, 999.0, /*ok=*/false)};
  const ActionSummary summary = SummariseByAction(results, 3);
  EXPECT_EQ(summary.frames, (std::vector<int>{2, 1, 0}));
  EXPECT_EQ(summary.failed, (std::vector<int>{0, 1, 0}));
  ASSERT_EQ(summary.p1.size(), 3u);
  EXPECT_DOUBLE_EQ(summary.p1[0], 15.0);
  EXPECT_DOUBLE_EQ(summary.p2[0], 6.0);
  EXPECT_DOUBLE_EQ(summary.p3[0], 5.0);
  EXPECT_DOUBLE_EQ(summary.p1[1], 30.0);  // the failed fit is not averaged
  EXPECT_TRUE(std::isnan(summary.p1[2]));
  // The average is over frames (as the paper's Avg), not over actions:
  // (10 + 20 + 30) / 3 = 20, where the mean of the action means would be 22.5.
  EXPECT_DOUBLE_EQ(summary.average_p1, 20.0);
  EXPECT_DOUBLE_EQ(summary.average_p2, 7.0);
  EXPECT_DOUBLE_EQ(summary.average_p3, 6.0);
  EXPECT_EQ(summary.total_frames, 3);
  EXPECT_EQ(summary.total_failed, 1);
  EXPECT_DOUBLE_EQ(summary.Average(ErrorProtocol::kP2), 7.0);
  EXPECT_EQ(&summary.PerAction(ErrorProtocol::kP3), &summary.p3);
}

// Frames: clean; one joint labelled in view 2; view 3 swapped; a failed fit;
// a gross error only in view 1. With views {0, 2} the last one counts as clean.
TEST(BreakDownByGrossErrors, SplitsFramesByTheGeneratorsLabelsInTheUsedViews) {
  std::vector<Frame> frames(5);
  for (Frame& frame : frames) frame.views.resize(4);
  frames[1].views[2].gross_error[kLeftKnee] = true;
  frames[2].views[3].swapped = true;
  frames[3].views[0].swapped = true;
  frames[4].views[1].gross_error[kHead] = true;
  const std::vector<FrameResult> results = {
      MakeResult(0, 10.0, 0, 0), MakeResult(0, 40.0, 0, 0), MakeResult(0, 60.0, 0, 0),
      MakeResult(0, 999.0, 0, 0, /*ok=*/false), MakeResult(0, 30.0, 0, 0)};
  GrossErrorBreakdown all = BreakDownByGrossErrors(frames, results, {0, 1, 2, 3});
  EXPECT_EQ(all.clean_frames, 1);
  EXPECT_DOUBLE_EQ(all.clean_p1, 10.0);
  EXPECT_EQ(all.gross_frames, 3);
  EXPECT_DOUBLE_EQ(all.gross_p1, (40.0 + 60.0 + 30.0) / 3);
  GrossErrorBreakdown two = BreakDownByGrossErrors(frames, results, {0, 2});
  EXPECT_EQ(two.clean_frames, 3);
  EXPECT_DOUBLE_EQ(two.clean_p1, (10.0 + 60.0 + 30.0) / 3);
  EXPECT_EQ(two.gross_frames, 1);
  EXPECT_DOUBLE_EQ(two.gross_p1, 40.0);
  GrossErrorBreakdown none = BreakDownByGrossErrors({}, {}, {0});
  EXPECT_TRUE(std::isnan(none.clean_p1));
  EXPECT_TRUE(std::isnan(none.gross_p1));
}

TEST(SummariseByAction, DefaultsToTheFifteenActions) {
  const ActionSummary summary = SummariseByAction({MakeResult(14, 1.0, 2.0, 3.0)});
  ASSERT_EQ(summary.p1.size(), 15u);
  EXPECT_DOUBLE_EQ(summary.p1[14], 1.0);
  EXPECT_TRUE(std::isnan(summary.p1[0]));
}

TEST(FormatActionTable, UsesThePapersLayout) {
  const ActionSummary summary = SummariseByAction(
      {MakeResult(0, 10.0, 5.0, 4.0), MakeResult(0, 20.0, 7.0, 6.0), MakeResult(1, 30.0, 9.0, 8.0)},
      3);
  const std::string table = FormatActionTable(
      "Multicamera", {{"Ours - Baseline", &summary, ErrorProtocol::kP1},
                      {"Ours - Baseline (P2)", &summary, ErrorProtocol::kP2}},
      {"Directions", "Discussion", "WalkTogether"});
  const std::vector<std::string> lines = Lines(table);
  ASSERT_EQ(lines.size(), 3u);
  std::istringstream header(lines[0]);
  std::vector<std::string> words;
  for (std::string word; header >> word;) words.push_back(word);
  EXPECT_EQ(words, (std::vector<std::string>{"Multicamera", "Dir.", "Disc.", "WalkT.", "Avg"}));
  EXPECT_EQ(lines[1].substr(0, 15), "Ours - Baseline");
  std::istringstream row(lines[1].substr(std::string("Ours - Baseline (P2)").size()));
  words.clear();
  for (std::string word; row >> word;) words.push_back(word);
  EXPECT_EQ(words, (std::vector<std::string>{"15.0", "30.0", "-", "20.0"}));
  std::istringstream row2(lines[2].substr(std::string("Ours - Baseline (P2)").size()));
  words.clear();
  for (std::string word; row2 >> word;) words.push_back(word);
  EXPECT_EQ(words, (std::vector<std::string>{"6.0", "9.0", "-", "7.0"}));
  // Columns line up: every line has the same length.
  EXPECT_EQ(lines[0].size(), lines[1].size());
  EXPECT_EQ(lines[1].size(), lines[2].size());
}

TEST(ShortActionName, MatchesThePapersHeadings) {
  std::vector<std::string> headings;
  for (const std::string& action : ActionNames()) headings.push_back(ShortActionName(action));
  EXPECT_EQ(headings, (std::vector<std::string>{"Dir.", "Disc.", "Eat", "Greet", "Phone", "Photo",
                                                "Pose", "Purch.", "Sit", "SitD.", "Smoke", "Wait",
                                                "WalkD.", "Walk", "WalkT."}));
}

ExperimentResults MakeExperiment(double baseline, double l2, double huber,
                                 const std::vector<double>& mono_baseline,
                                 const std::vector<double>& mono_trained) {
  ExperimentResults results;
  results.has_multiview = true;
  results.multiview_baseline = SummaryWithP1(baseline);
  results.multiview_l2 = SummaryWithP1(l2);
  results.multiview_huber = SummaryWithP1(huber);
  results.has_monocular = true;
  results.monocular_components = {3, 6, 10};
  for (size_t i = 0; i < 3; ++i) {
    results.monocular_baseline.push_back(SummaryWithP1(mono_baseline[i]));
    results.monocular_trained.push_back(SummaryWithP1(mono_trained[i]));
  }
  return results;
}

TEST(ResultsToJson, HasExactlyTheRequiredKeys) {
  const ExperimentResults results =
      MakeExperiment(90.0, 48.0, 46.0, {114.0, 112.0, 115.0}, {76.0, 73.0, 90.0});
  const nlohmann::json json =
      ResultsToJson(results, {{"size", "demo"}}, {"Directions", "Discussion"});

  std::set<std::string> keys;
  for (const auto& item : json["multiview"].items()) keys.insert(item.key());
  EXPECT_EQ(keys, (std::set<std::string>{"baseline", "l2", "huber"}));
  keys.clear();
  for (const auto& item : json["monocular"].items()) keys.insert(item.key());
  EXPECT_EQ(keys, (std::set<std::string>{"k3", "k6", "k10"}));
  for (const char* k : {"k3", "k6", "k10"}) {
    keys.clear();
    for (const auto& item : json["monocular"][k].items()) keys.insert(item.key());
    EXPECT_EQ(keys, (std::set<std::string>{"baseline", "trained"})) << k;
  }

  // multiview.<run>.p<n> and monocular.k<K>.<run>.p<n> are the averages.
  const std::vector<std::pair<std::string, double>> multiview = {
      {"baseline", 90.0}, {"l2", 48.0}, {"huber", 46.0}};
  for (const auto& run : multiview) {
    const nlohmann::json& entry = json["multiview"][run.first];
    ASSERT_TRUE(entry["p1"].is_number()) << run.first;
    EXPECT_DOUBLE_EQ(entry["p1"].get<double>(), run.second);
    EXPECT_DOUBLE_EQ(entry["p2"].get<double>(), run.second / 2);
    EXPECT_DOUBLE_EQ(entry["p3"].get<double>(), run.second / 3);
    EXPECT_EQ(entry["frames"].get<int>(), 2);
    EXPECT_DOUBLE_EQ(entry["per_action"]["p1"]["Directions"].get<double>(), run.second);
  }
  EXPECT_DOUBLE_EQ(json["monocular"]["k6"]["baseline"]["p1"].get<double>(), 112.0);
  EXPECT_DOUBLE_EQ(json["monocular"]["k10"]["trained"]["p3"].get<double>(), 30.0);
  EXPECT_DOUBLE_EQ(json["monocular"]["k3"]["trained"]["p2"].get<double>(), 38.0);

  EXPECT_EQ(json["settings"]["size"], "demo");
  EXPECT_EQ(json["actions"], (nlohmann::json{"Directions", "Discussion"}));
  EXPECT_TRUE(json["targets"]["multiview.l2.p1_ratio"]["met"].get<bool>());
  EXPECT_FALSE(json["targets"]["monocular.k10.p1_ratio"]["met"].get<bool>());  // 90 / 115

  // Missing values are null, not NaN (which JSON cannot hold).
  ExperimentResults empty;
  empty.has_multiview = true;
  empty.multiview_baseline = SummariseByAction({}, 2);
  empty.multiview_l2 = empty.multiview_huber = empty.multiview_baseline;
  const nlohmann::json null_json = ResultsToJson(empty, {}, {"Directions", "Discussion"});
  EXPECT_TRUE(null_json["multiview"]["baseline"]["p1"].is_null());
  EXPECT_TRUE(null_json["multiview"]["baseline"]["per_action"]["p2"]["Discussion"].is_null());
  EXPECT_FALSE(null_json.contains("monocular"));
}

TEST(CheckTargets, ComparesTheRatiosOfIssueSix) {
  std::vector<TargetCheck> targets = CheckTargets(
      MakeExperiment(100.0, 60.0, 55.0, {100.0, 100.0, 100.0}, {75.0, 74.0, 76.0}));
  ASSERT_EQ(targets.size(), 6u);
  EXPECT_EQ(targets[0].name, "multiview.l2.p1_ratio");
  EXPECT_DOUBLE_EQ(targets[0].value, 0.6);
  EXPECT_TRUE(targets[0].met);  // at most 0.6
  EXPECT_DOUBLE_EQ(targets[1].value, 0.55);
  EXPECT_TRUE(targets[1].met);
  EXPECT_EQ(targets[2].name, "multiview.huber_over_l2.p1_ratio");
  EXPECT_DOUBLE_EQ(targets[2].value, 55.0 / 60.0);
  EXPECT_TRUE(targets[2].met);
  EXPECT_EQ(targets[3].name, "monocular.k3.p1_ratio");
  EXPECT_DOUBLE_EQ(targets[3].threshold, 0.75);
  EXPECT_TRUE(targets[3].met);
  EXPECT_TRUE(targets[4].met);
  EXPECT_FALSE(targets[5].met);  // 0.76 > 0.75

  targets = CheckTargets(MakeExperiment(100.0, 50.0, 61.0, {100, 100, 100}, {70, 70, 70}));
  EXPECT_TRUE(targets[0].met);
  EXPECT_FALSE(targets[1].met);  // 0.61
  EXPECT_FALSE(targets[2].met);  // Huber worse than l2
  const std::string text = FormatTargets(targets);
  EXPECT_NE(text.find("NOT MET"), std::string::npos);
  EXPECT_NE(text.find("multi-view Huber P1 / l2 P1"), std::string::npos);
}

// A pose facing +y (its left at -x), shoulders at z = 500.
Pose FacingPlusY() {
  Pose pose = Pose::Zero();
  for (int j = 0; j < kNumJoints; ++j) pose.col(j) = Eigen::Vector3d(10.0 * j, 5.0, 40.0 * j);
  pose.col(kHip) = Eigen::Vector3d(0.0, 0.0, 0.0);
  pose.col(kLeftShoulder) = Eigen::Vector3d(-200.0, 0.0, 500.0);
  pose.col(kRightShoulder) = Eigen::Vector3d(200.0, 0.0, 500.0);
  pose.col(kLeftHip) = Eigen::Vector3d(-100.0, 0.0, 0.0);
  pose.col(kRightHip) = Eigen::Vector3d(100.0, 0.0, 0.0);
  return pose;
}

TEST(FrontView, ShowsThePersonFacingTheViewer) {
  const Pose pose = FacingPlusY();
  const Pose2D view = FrontView(pose);
  EXPECT_NEAR(view(0, kLeftShoulder), 200.0, 1e-12);  // their left on the right
  EXPECT_NEAR(view(1, kLeftShoulder), 500.0, 1e-12);
  EXPECT_NEAR(view(0, kRightShoulder), -200.0, 1e-12);
  EXPECT_NEAR(view(0, kHead), -10.0 * kHead, 1e-12);
  EXPECT_NEAR(view(1, kHead), 40.0 * kHead, 1e-12);

  // Turning and moving the pose does not change its front view.
  const double angle = 1.1;
  Eigen::Matrix3d rotation;
  rotation << std::cos(angle), -std::sin(angle), 0, std::sin(angle), std::cos(angle), 0, 0, 0, 1;
  const Pose moved = (rotation * pose).colwise() + Eigen::Vector3d(300.0, -700.0, 900.0);
  const Pose2D moved_view = FrontView(moved);
  EXPECT_LT((moved_view - view).cwiseAbs().maxCoeff(), 1e-9);
}

TEST(ErrorDistributionText, SortsFramesScoredByAllRunsByHuberError) {
  const std::vector<FrameResult> huber = {MakeResult(0, 30.0, 0, 0, true, 0),
                                          MakeResult(1, 10.0, 0, 0, true, 1),
                                          MakeResult(2, 20.0, 0, 0, true, 2),
                                          MakeResult(3, 5.0, 0, 0, true, 3)};
  const std::vector<FrameResult> l2 = {MakeResult(0, 31.0, 0, 0, true, 0),
                                       MakeResult(1, 11.0, 0, 0, true, 1),
                                       MakeResult(2, 21.0, 0, 0, true, 2),
                                       MakeResult(3, 6.0, 0, 0, /*ok=*/false, 3)};
  const std::vector<FrameResult> baseline = {MakeResult(0, 90.0, 0, 0, true, 0),
                                             MakeResult(1, 70.0, 0, 0, true, 1),
                                             MakeResult(2, 80.0, 0, 0, true, 2),
                                             MakeResult(3, 60.0, 0, 0, true, 3)};
  std::vector<std::string> rows;
  for (const std::string& line : Lines(ErrorDistributionText(baseline, l2, huber))) {
    if (!line.empty() && line[0] != '#') rows.push_back(line);
  }
  // rank huber l2 baseline subject action sequence frame; frame 3 (l2 failed)
  // is left out.
  EXPECT_EQ(rows, (std::vector<std::string>{"1 10 11 70 9 1 0 1", "2 20 21 80 9 2 0 2",
                                            "3 30 31 90 9 0 0 0"}));
}

TEST(PickByErrorQuantile, PicksLowMiddleAndTail) {
  const std::vector<FrameResult> results = {
      MakeResult(0, 50.0, 0, 0), MakeResult(0, 10.0, 0, 0), MakeResult(0, 1.0, 0, 0, false),
      MakeResult(0, 30.0, 0, 0), MakeResult(0, 20.0, 0, 0), MakeResult(0, 40.0, 0, 0)};
  // Scored, sorted: 10 (1), 20 (4), 30 (3), 40 (5), 50 (0).
  EXPECT_EQ(PickByErrorQuantile(results, {0.0, 0.5, 1.0}), (std::vector<int>{1, 3, 0}));
  EXPECT_EQ(PickByErrorQuantile(results, {0.1, 0.95}), (std::vector<int>{1, 0}));
  EXPECT_TRUE(PickByErrorQuantile({MakeResult(0, 1.0, 0, 0, false)}, {0.5}).empty());
}

TEST(BonesText, WritesOneSegmentPerBone) {
  const Pose pose = FacingPlusY();
  const std::vector<std::string> lines3 = Lines(BonesText3D(pose));
  ASSERT_EQ(lines3.size(), Bones().size());
  for (size_t b = 0; b < Bones().size(); ++b) {
    double x1, y1, z1, x2, y2, z2;
    ASSERT_EQ(std::sscanf(lines3[b].c_str(), "%lf %lf %lf %lf %lf %lf", &x1, &y1, &z1, &x2, &y2,
                          &z2),
              6);
    EXPECT_DOUBLE_EQ(x1, pose(0, Bones()[b].first));
    EXPECT_DOUBLE_EQ(z1, pose(2, Bones()[b].first));
    EXPECT_DOUBLE_EQ(y2, pose(1, Bones()[b].second));
    EXPECT_DOUBLE_EQ(z2, pose(2, Bones()[b].second));
  }
  const Pose2D view = FrontView(pose);
  const std::vector<std::string> lines2 = Lines(BonesText2D(view));
  ASSERT_EQ(lines2.size(), 3u * Bones().size());
  double u, v;
  ASSERT_EQ(std::sscanf(lines2[3 * 10].c_str(), "%lf %lf", &u, &v), 2);
  EXPECT_DOUBLE_EQ(u, view(0, Bones()[10].first));
  ASSERT_EQ(std::sscanf(lines2[3 * 10 + 1].c_str(), "%lf %lf", &u, &v), 2);
  EXPECT_DOUBLE_EQ(u, view(0, Bones()[10].second));
  EXPECT_DOUBLE_EQ(v, view(1, Bones()[10].second));
  EXPECT_TRUE(lines2[3 * 10 + 2].empty());
}

TEST(ReconstructionText, CentresAndTurnsAllPosesLikeTheTruth) {
  const Pose truth = FacingPlusY();
  const Pose estimate = (truth * 1.1).colwise() + Eigen::Vector3d(1000.0, 0.0, 0.0);
  const std::string text = ReconstructionText(truth, estimate, truth);
  // Three gnuplot blocks separated by two blank lines.
  std::vector<std::vector<std::string>> blocks(1);
  int blank = 0;
  for (const std::string& line : Lines(text)) {
    if (line.empty()) {
      if (++blank == 2) blocks.emplace_back();
      continue;
    }
    blank = 0;
    if (line[0] != '#') blocks.back().push_back(line);
  }
  ASSERT_EQ(blocks.size(), 3u);
  for (const auto& block : blocks) ASSERT_EQ(block.size(), Bones().size());
  EXPECT_EQ(blocks[2], blocks[0]);  // the reference is the truth here
  // Bone 0 starts at the root, now at the origin; the truth's left shoulder
  // lands on +x after the turn.
  EXPECT_EQ(Bones()[0].first, kHip);
  double x1, y1, z1, x2, y2, z2;
  ASSERT_EQ(std::sscanf(blocks[1][0].c_str(), "%lf %lf %lf", &x1, &y1, &z1), 3);
  EXPECT_DOUBLE_EQ(x1, 0.0);
  EXPECT_DOUBLE_EQ(z1, 0.0);
  int found = 0;
  for (size_t b = 0; b < Bones().size(); ++b) {
    if (Bones()[b].second != kLeftShoulder) continue;
    ++found;
    ASSERT_EQ(std::sscanf(blocks[0][b].c_str(), "%lf %lf %lf %lf %lf %lf", &x1, &y1, &z1, &x2,
                          &y2, &z2),
              6);
    EXPECT_NEAR(x2, 200.0, 1e-9);
    EXPECT_NEAR(z2, 500.0, 1e-9);
    ASSERT_EQ(std::sscanf(blocks[1][b].c_str(), "%lf %lf %lf %lf %lf %lf", &x1, &y1, &z1, &x2,
                          &y2, &z2),
              6);
    EXPECT_NEAR(x2, 220.0, 1e-9);  // the estimate, 1.1 times larger
  }
  EXPECT_EQ(found, 1);
}

TEST(WriteFigures, WritesTheDataAndScripts) {
  const std::string dir =
      (std::filesystem::temp_directory_path() / "human_pose_report_test_figures").string();
  std::filesystem::remove_all(dir);

  PoseModel model;
  model.components.resize(1);
  model.components[0].mean = FacingPlusY();
  model.weights.joint_weights.row(0).setConstant(2.0);
  model.weights.joint_weights(1, kHead) = 0.25;

  std::vector<FrameResult> baseline, l2, huber;
  for (int i = 0; i < 5; ++i) {
    for (std::vector<FrameResult>* run : {&baseline, &l2, &huber}) {
      FrameResult result = MakeResult(i % 3, 10.0 * (i + 1) * (run == &baseline ? 2 : 1), 1, 1,
                                      true, i);
      result.truth = FacingPlusY();
      result.estimate = FacingPlusY() * 1.05;
      run->push_back(result);
    }
  }
  FigureInputs inputs;
  inputs.multiview_baseline = &baseline;
  inputs.multiview_l2 = &l2;
  inputs.multiview_huber = &huber;
  inputs.multiview_models = {{"l2", &model}, {"huber", &model}};
  inputs.monocular_models = {{"k3", &model}};
  FigureOutputs outputs;
  ASSERT_TRUE(WriteFigures(dir, inputs, /*render=*/false, &outputs).ok());
  EXPECT_TRUE(outputs.images.empty());

  EXPECT_EQ(ReadFile(dir + "/error_distribution.dat"), ErrorDistributionText(baseline, l2, huber));
  EXPECT_EQ(ReadFile(dir + "/joint_weights_multiview_huber_weights.dat"), JointWeightsText(model));
  const std::vector<std::string> weights =
      Lines(ReadFile(dir + "/joint_weights_monocular_k3_weights.dat"));
  ASSERT_EQ(weights.size(), 1u + kNumJoints);
  int joint;
  char name[32];
  double u, z, wx, wy;
  ASSERT_EQ(std::sscanf(weights[1 + kHead].c_str(), "%d %31s %lf %lf %lf %lf", &joint, name, &u,
                        &z, &wx, &wy),
            6);
  EXPECT_EQ(joint, kHead);
  EXPECT_EQ(std::string(name), JointName(kHead));
  EXPECT_DOUBLE_EQ(u, FrontView(model.components[0].mean)(0, kHead));
  EXPECT_DOUBLE_EQ(z, 40.0 * kHead);
  EXPECT_DOUBLE_EQ(wx, 2.0);
  EXPECT_DOUBLE_EQ(wy, 0.25);
  EXPECT_EQ(Lines(ReadFile(dir + "/joint_weights_multiview_l2_bones.dat")).size(),
            1u + 3u * Bones().size());

  // Low, middle and tail of Huber P1 {10, ..., 50}: ranks 0, 2 and 4.
  for (const std::pair<const char*, const char*>& pick :
       {std::make_pair("low", "Huber P1 10.0 mm, baseline P1 20.0"),
        std::make_pair("middle", "Huber P1 30.0 mm, baseline P1 60.0"),
        std::make_pair("tail", "Huber P1 50.0 mm, baseline P1 100.0")}) {
    const std::string text = ReadFile(dir + "/reconstruction_" + pick.first + ".dat");
    EXPECT_NE(text.find(pick.second), std::string::npos) << text.substr(0, 200);
  }
  for (const char* script : {"error_distribution.gp", "joint_weights_multiview.gp",
                             "joint_weights_monocular.gp", "reconstructions.gp"}) {
    const std::string text = ReadFile(dir + "/" + script);
    EXPECT_NE(text.find("set output output"), std::string::npos) << script;
  }
  EXPECT_EQ(outputs.scripts.size(), 4u);
  // Nothing half-written is left behind.
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    EXPECT_EQ(entry.path().string().find(".tmp"), std::string::npos) << entry.path();
  }
  std::filesystem::remove_all(dir);
}

TEST(WriteFileAtomically, ReportsAnUnwritablePath) {
  const std::string path =
      (std::filesystem::temp_directory_path() / "human_pose_report_test_atomic.txt").string();
  ASSERT_TRUE(WriteFileAtomically(path, "one\n").ok());
  ASSERT_TRUE(WriteFileAtomically(path, "two\n").ok());
  EXPECT_EQ(ReadFile(path), "two\n");
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  std::remove(path.c_str());
  const ceres_wiberg::Status status = WriteFileAtomically("/nonexistent_dir/x/y.json", "z");
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("/nonexistent_dir/x/y.json"), std::string::npos);
}

TEST(EvaluateModel, ScoresEveryFrameAsFitPoseDoesWithAnyThreadCount) {
  SyntheticH36MOptions data_options;
  data_options.sequences_per_action = 1;
  data_options.frames_per_sequence = 2;
  Dataset train, test;
  ASSERT_TRUE(GenerateSyntheticH36M(data_options, {1}, &train).ok());
  ASSERT_TRUE(GenerateSyntheticH36M(data_options, {9}, &test).ok());
  std::vector<Pose> poses;
  for (const Frame& frame : train.frames) poses.push_back(frame.pose);
  PpcaFitOptions ppca_options;
  ppca_options.num_components = 1;
  PoseModel model;
  ASSERT_TRUE(FitPpcaMixture(poses, ppca_options, &model).ok());

  const std::vector<Frame> frames = {test.frames[0], test.frames[7], test.frames[20]};
  PoseFitOptions fit_options;
  fit_options.num_rotation_seeds = 2;
  std::vector<FrameResult> one_thread, two_threads;
  ASSERT_TRUE(EvaluateModel(model, test.cameras, frames, fit_options, 1, &one_thread).ok());
  ASSERT_TRUE(EvaluateModel(model, test.cameras, frames, fit_options, 2, &two_threads).ok());
  ASSERT_EQ(one_thread.size(), 3u);
  for (size_t i = 0; i < frames.size(); ++i) {
    PoseFit fit;
    ASSERT_TRUE(FitPose(model, test.cameras, frames[i], fit_options, &fit).ok());
    ASSERT_TRUE(one_thread[i].ok) << one_thread[i].error;
    EXPECT_EQ(one_thread[i].action, frames[i].action);
    EXPECT_EQ(one_thread[i].frame_index, frames[i].frame_index);
    EXPECT_DOUBLE_EQ(one_thread[i].p1, P1(fit.pose, frames[i].pose));
    EXPECT_DOUBLE_EQ(one_thread[i].p2, P2(fit.pose, frames[i].pose));
    EXPECT_DOUBLE_EQ(one_thread[i].p3, P3(fit.pose, frames[i].pose));
    EXPECT_EQ(one_thread[i].component, fit.component);
    EXPECT_DOUBLE_EQ(two_threads[i].p1, one_thread[i].p1);
    EXPECT_TRUE(std::isfinite(one_thread[i].p1));
  }

  std::vector<FrameResult> results;
  EXPECT_FALSE(EvaluateModel(model, test.cameras, {}, fit_options, 1, &results).ok());
  fit_options.views = {4};
  EXPECT_FALSE(EvaluateModel(model, test.cameras, frames, fit_options, 1, &results).ok());
  EXPECT_FALSE(EvaluateModel(PoseModel(), test.cameras, frames, {}, 1, &results).ok());
}

}  // namespace
}  // namespace human_pose
