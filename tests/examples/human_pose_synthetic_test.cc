#include "synthetic_h36m.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "Eigen/LU"
#include "gtest/gtest.h"
#include "pose_data.h"
#include "skeleton.h"

namespace human_pose {
namespace {

using ceres_wiberg::StatusCode;

Dataset Generate(const SyntheticH36MOptions& options, const std::vector<int>& subjects) {
  Dataset dataset;
  const auto status = GenerateSyntheticH36M(options, subjects, &dataset);
  EXPECT_TRUE(status.ok()) << status.ToString();
  return dataset;
}

bool SameFrames(const Dataset& a, const Dataset& b) {
  if (a.frames.size() != b.frames.size()) return false;
  for (size_t i = 0; i < a.frames.size(); ++i) {
    const Frame& f = a.frames[i];
    const Frame& g = b.frames[i];
    if (f.subject != g.subject || f.action != g.action || f.sequence != g.sequence ||
        f.frame_index != g.frame_index || f.pose != g.pose || f.views.size() != g.views.size()) {
      return false;
    }
    for (size_t v = 0; v < f.views.size(); ++v) {
      if (f.views[v].joints != g.views[v].joints || f.views[v].visible != g.views[v].visible) {
        return false;
      }
    }
  }
  return true;
}

// True when the detection is closer to the mirrored labels of the projected
// ground truth than to the ground truth itself.
bool LooksSwapped(const Camera& camera, const Pose& pose, const Detection& detection) {
  double direct = 0.0, mirrored = 0.0;
  for (int j : DetectedJoints()) {
    if (!detection.visible[j] || MirrorJoint(j) == j) continue;
    direct += (detection.joints.col(j) - camera.Project(pose.col(j))).norm();
    mirrored += (detection.joints.col(j) - camera.Project(pose.col(MirrorJoint(j)))).norm();
  }
  return mirrored < direct;
}

// ---------------------------------------------------------------------------
// Skeleton.

TEST(SkeletonTest, TreeMirrorAndJointSets) {
  EXPECT_EQ(Parent(kHip), -1);
  EXPECT_EQ(Bones().size(), 16u);
  for (int j = 1; j < kNumJoints; ++j) {
    // Every joint reaches the root through parents with smaller indices.
    EXPECT_LT(Parent(j), j);
    EXPECT_GE(Parent(j), 0);
    EXPECT_EQ(MirrorJoint(MirrorJoint(j)), j);
    // The mirror map preserves the tree.
    EXPECT_EQ(Parent(MirrorJoint(j)), MirrorJoint(Parent(j)));
  }
  EXPECT_EQ(MirrorJoint(kLeftWrist), kRightWrist);
  EXPECT_EQ(MirrorJoint(kRightFoot), kLeftFoot);
  EXPECT_EQ(MirrorJoint(kHead), kHead);
  EXPECT_STREQ(JointName(kNeck), "Neck/Nose");
  EXPECT_EQ(DetectedJoints().size(), 16u);
  EXPECT_EQ(std::count(DetectedJoints().begin(), DetectedJoints().end(), kSpine), 0);
  const std::set<int> p3(P3Joints().begin(), P3Joints().end());
  EXPECT_EQ(p3.size(), 14u);
  EXPECT_EQ(p3.count(kHip) + p3.count(kSpine) + p3.count(kNeck), 0u);
  Pose pose;
  for (int j = 0; j < kNumJoints; ++j) pose.col(j) = Eigen::Vector3d(j, 2 * j, 3 * j);
  EXPECT_EQ(MirrorLabels(pose)(0, kLeftHip), kRightHip);
  EXPECT_EQ(MirrorLabels(MirrorLabels(pose)), pose);
}

// ---------------------------------------------------------------------------
// Options and setup.

TEST(SyntheticH36MTest, ActionsSubjectsAndCameras) {
  ASSERT_EQ(ActionNames().size(), 15u);
  EXPECT_EQ(ActionNames().front(), "Directions");
  EXPECT_EQ(ActionNames().back(), "WalkTogether");
  EXPECT_EQ(ActionIndex("SittingDown"), 9);
  EXPECT_EQ(ActionIndex("Swimming"), -1);
  EXPECT_EQ(TrainSubjects(), (std::vector<int>{1, 5, 6, 7, 8}));
  EXPECT_EQ(TestSubjects(), (std::vector<int>{9, 11}));
  const std::vector<Camera> cameras = H36MLikeCameras();
  ASSERT_EQ(cameras.size(), 4u);
  const Eigen::Vector3d centre(0.0, 0.0, 900.0);
  for (const Camera& camera : cameras) {
    const double distance = (camera.position - centre).norm();
    EXPECT_GT(distance, 4000.0);
    EXPECT_LT(distance, 6000.0);
    EXPECT_GT(camera.position.z(), 1400.0);
    EXPECT_LT(camera.position.z(), 1800.0);
    EXPECT_NEAR(camera.focal_length, 1147.0, 5.0);
    EXPECT_EQ(camera.width, 1000);
    EXPECT_EQ(camera.height, 1000);
    EXPECT_LT((camera.rotation * camera.rotation.transpose() - Eigen::Matrix3d::Identity()).norm(),
              1e-12);
    EXPECT_NEAR(camera.rotation.determinant(), 1.0, 1e-12);
    // Looking at the centre, upright (image y points down the world z).
    EXPECT_LT((camera.Project(centre) - camera.principal_point).norm(), 1e-9);
    EXPECT_GT(camera.Project(centre - Eigen::Vector3d(0, 0, 500)).y(),
              camera.Project(centre).y());
  }
}

TEST(SyntheticH36MTest, InvalidOptionsAndSubjectsGiveErrors) {
  Dataset dataset;
  auto expect_error = [&](const SyntheticH36MOptions& options, const std::vector<int>& subjects,
                          const std::string& cause) {
    const auto status = GenerateSyntheticH36M(options, subjects, &dataset);
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << cause;
    EXPECT_NE(status.message().find(cause), std::string::npos) << status.message();
  };
  SyntheticH36MOptions options;
  std::string error;
  EXPECT_TRUE(options.IsValid(&error));
  options.sequences_per_action = 0;
  expect_error(options, {1}, "sequences_per_action");
  options = {};
  options.frames_per_sequence = 0;
  expect_error(options, {1}, "frames_per_sequence");
  options = {};
  options.pixel_noise = -1.0;
  expect_error(options, {1}, "pixel_noise");
  options = {};
  options.pixel_noise = NAN;
  expect_error(options, {1}, "pixel_noise");
  options = {};
  options.miss_probability = 1.5;
  expect_error(options, {1}, "miss_probability");
  options = {};
  options.swap_probability = -0.1;
  expect_error(options, {1}, "swap_probability");
  options = {};
  options.outlier_probability = 2.0;
  expect_error(options, {1}, "outlier_probability");
  options = {};
  options.frame_period = 0.0;
  expect_error(options, {1}, "frame_period");
  options = {};
  options.room_radius = 5000.0;
  expect_error(options, {1}, "room_radius");
  options = {};
  expect_error(options, {0}, "subject 0");
  expect_error(options, {9, 9}, "subject 9 is listed twice");
}

// ---------------------------------------------------------------------------
// Determinism.

TEST(SyntheticH36MTest, DeterministicForASeedAndDifferentForAnother) {
  SyntheticH36MOptions options;
  options.sequences_per_action = 1;
  options.frames_per_sequence = 5;
  const Dataset a = Generate(options, {9, 11});
  const Dataset b = Generate(options, {9, 11});
  ASSERT_EQ(a.frames.size(), 2u * 15u * 5u);
  EXPECT_TRUE(SameFrames(a, b));
  options.seed = 2;
  const Dataset c = Generate(options, {9, 11});
  ASSERT_EQ(c.frames.size(), a.frames.size());
  EXPECT_FALSE(SameFrames(a, c));
  for (size_t i = 0; i < a.frames.size(); ++i) {
    EXPECT_GT((a.frames[i].pose - c.frames[i].pose).norm(), 1.0);
  }
  // Ordered by subject, action, sequence, frame.
  EXPECT_EQ(a.frames.front().subject, 9);
  EXPECT_EQ(a.frames.front().action, 0);
  EXPECT_EQ(a.frames[5].action, 1);
  EXPECT_EQ(a.frames[4].frame_index, 4);
  EXPECT_EQ(a.frames.back().subject, 11);
  EXPECT_EQ(a.frames.back().action, 14);
  EXPECT_EQ(a.frames.front().views.size(), 4u);
}

TEST(SyntheticH36MTest, ExtremeErrorOptions) {
  SyntheticH36MOptions options;
  options.sequences_per_action = 1;
  options.frames_per_sequence = 10;
  options.swap_probability = 0.0;
  options.miss_probability = 0.0;
  options.outlier_probability = 0.0;
  options.pixel_noise = 0.0;
  const Dataset exact = Generate(options, {7});
  for (const Frame& frame : exact.frames) {
    for (size_t v = 0; v < frame.views.size(); ++v) {
      for (int j : DetectedJoints()) {
        ASSERT_TRUE(frame.views[v].visible[j]);
        EXPECT_LT((frame.views[v].joints.col(j) -
                   exact.cameras[v].Project(frame.pose.col(j))).norm(), 1e-9);
      }
    }
  }
  options.swap_probability = 1.0;
  options.miss_probability = 1.0;
  const Dataset missed = Generate(options, {7});
  for (const Frame& frame : missed.frames) {
    for (const Detection& d : frame.views) {
      for (int j = 0; j < kNumJoints; ++j) EXPECT_FALSE(d.visible[j]);
    }
  }
  options.miss_probability = 0.0;
  const Dataset swapped = Generate(options, {7});
  for (const Frame& frame : swapped.frames) {
    for (size_t v = 0; v < frame.views.size(); ++v) {
      EXPECT_LT((frame.views[v].joints.col(kLeftWrist) -
                 swapped.cameras[v].Project(frame.pose.col(kRightWrist))).norm(), 1e-9);
      EXPECT_TRUE(LooksSwapped(swapped.cameras[v], frame.pose, frame.views[v]));
    }
  }
}

// The labels of the generator's gross errors say what happened: with no
// pixel noise, a detection is exact unless it is labelled, a labelled one is
// off by more than 1 px, a swapped view is the mirror labelling, and the
// label rates are the options' probabilities.
TEST(SyntheticH36MTest, GrossErrorLabelsMatchTheDetections) {
  SyntheticH36MOptions options;
  options.sequences_per_action = 2;
  options.frames_per_sequence = 20;
  options.pixel_noise = 0.0;
  options.miss_probability = 0.0;
  const Dataset data = Generate(options, {1, 5});
  int views = 0, swapped = 0, detections = 0, gross = 0;
  for (const Frame& frame : data.frames) {
    for (size_t v = 0; v < frame.views.size(); ++v) {
      const Detection& d = frame.views[v];
      ++views;
      swapped += d.swapped;
      for (int j : DetectedJoints()) {
        if (!d.visible[j]) continue;  // a gross error pushed it out of the image
        ++detections;
        gross += d.gross_error[j];
        const int source = d.swapped ? MirrorJoint(j) : j;
        const double error =
            (d.joints.col(j) - data.cameras[v].Project(frame.pose.col(source))).norm();
        if (d.gross_error[j]) {
          EXPECT_GT(error, 1e-3);
        } else {
          EXPECT_LT(error, 1e-9);
        }
      }
      EXPECT_FALSE(d.gross_error[kUndetectedJoint]);
    }
  }
  // 4,800 views and 76,800 detections: 3 binomial standard deviations.
  EXPECT_NEAR(static_cast<double>(swapped) / views, options.swap_probability,
              3 * std::sqrt(0.05 * 0.95 / views));
  EXPECT_NEAR(static_cast<double>(gross) / detections, options.outlier_probability,
              3 * std::sqrt(0.02 * 0.98 / detections));
}

TEST(SyntheticH36MTest, SequencesDoNotDependOnTheOtherSubjectsOrTheDetectionErrors) {
  SyntheticH36MOptions options;
  options.sequences_per_action = 1;
  options.frames_per_sequence = 4;
  const Dataset both = Generate(options, {9, 11});
  const Dataset only11 = Generate(options, {11});
  Dataset second_half;
  for (const Frame& f : both.frames) {
    if (f.subject == 11) second_half.frames.push_back(f);
  }
  EXPECT_TRUE(SameFrames(second_half, only11));
  options.pixel_noise = 0.0;
  options.swap_probability = 0.5;
  const Dataset clean = Generate(options, {9, 11});
  ASSERT_EQ(clean.frames.size(), both.frames.size());
  for (size_t i = 0; i < both.frames.size(); ++i) {
    EXPECT_EQ(clean.frames[i].pose, both.frames[i].pose);
  }
}

// ---------------------------------------------------------------------------
// Data statistics over many frames (1,200 frames, 4,800 views).

class SyntheticH36MStatisticsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    SyntheticH36MOptions options;
    options.sequences_per_action = 4;
    options.frames_per_sequence = 20;
    dataset_ = new Dataset(Generate(options, {1, 11}));
  }
  static void TearDownTestSuite() {
    delete dataset_;
    dataset_ = nullptr;
  }
  static Dataset* dataset_;
};
Dataset* SyntheticH36MStatisticsTest::dataset_ = nullptr;

TEST_F(SyntheticH36MStatisticsTest, SpineIsNeverVisible) {
  for (const Frame& frame : dataset_->frames) {
    for (const Detection& d : frame.views) EXPECT_FALSE(d.visible[kSpine]);
  }
}

TEST_F(SyntheticH36MStatisticsTest, MissAndSwapRatesMatchTheOptions) {
  const SyntheticH36MOptions defaults;
  int missed = 0, detections = 0, swapped = 0, views = 0;
  for (const Frame& frame : dataset_->frames) {
    for (size_t v = 0; v < frame.views.size(); ++v) {
      const Detection& d = frame.views[v];
      for (int j : DetectedJoints()) missed += d.visible[j] ? 0 : 1;
      detections += static_cast<int>(DetectedJoints().size());
      swapped += LooksSwapped(dataset_->cameras[v], frame.pose, d) ? 1 : 0;
      ++views;
    }
  }
  ASSERT_EQ(views, 2 * 15 * 4 * 20 * 4);
  // Binomial standard deviations: 0.0008 for the misses, 0.003 for the swaps.
  EXPECT_NEAR(static_cast<double>(missed) / detections, defaults.miss_probability, 0.004);
  EXPECT_NEAR(static_cast<double>(swapped) / views, defaults.swap_probability, 0.012);
}

TEST_F(SyntheticH36MStatisticsTest, GroundTruthProjectsIntoEveryImage) {
  for (const Frame& frame : dataset_->frames) {
    for (const Camera& camera : dataset_->cameras) {
      for (int j = 0; j < kNumJoints; ++j) {
        const Eigen::Vector3d p = camera.rotation * (frame.pose.col(j) - camera.position);
        ASSERT_GT(p.z(), 1000.0);
        const Eigen::Vector2d x = camera.Project(frame.pose.col(j));
        ASSERT_GT(x.x(), 0.0);
        ASSERT_GT(x.y(), 0.0);
        ASSERT_LT(x.x(), camera.width);
        ASSERT_LT(x.y(), camera.height);
      }
    }
  }
}

TEST_F(SyntheticH36MStatisticsTest, BoneLengthsAreConstantPerSubjectAndDifferAcross) {
  for (const Frame& frame : dataset_->frames) {
    const auto lengths = SubjectBoneLengths(frame.subject);
    for (int j = 1; j < kNumJoints; ++j) {
      ASSERT_NEAR(BoneLength(frame.pose, j), lengths[j], 1e-9 * lengths[j]);
    }
  }
  // Every pair of the 7 subjects differs by more than 1% in some bone, and
  // bones are symmetric.
  const std::vector<int> subjects = {1, 5, 6, 7, 8, 9, 11};
  for (size_t a = 0; a < subjects.size(); ++a) {
    const auto la = SubjectBoneLengths(subjects[a]);
    for (int j = 1; j < kNumJoints; ++j) EXPECT_EQ(la[j], la[MirrorJoint(j)]);
    for (size_t b = a + 1; b < subjects.size(); ++b) {
      const auto lb = SubjectBoneLengths(subjects[b]);
      double largest = 0.0;
      for (int j = 1; j < kNumJoints; ++j) largest = std::max(largest, std::abs(la[j] / lb[j] - 1.0));
      EXPECT_GT(largest, 0.01) << subjects[a] << " vs " << subjects[b];
    }
  }
}

TEST_F(SyntheticH36MStatisticsTest, DetectionNoiseIsAsDocumented) {
  // Without swaps and outliers, detections scatter around the projections
  // with a per-axis std of pixel_noise on average, wrists the most.
  SyntheticH36MOptions options;
  options.sequences_per_action = 2;
  options.swap_probability = 0.0;
  options.outlier_probability = 0.0;
  const Dataset dataset = Generate(options, {5});
  std::vector<double> sum(kNumJoints, 0.0);
  std::vector<int> count(kNumJoints, 0);
  for (const Frame& frame : dataset.frames) {
    for (size_t v = 0; v < frame.views.size(); ++v) {
      for (int j : DetectedJoints()) {
        if (!frame.views[v].visible[j]) continue;
        const Eigen::Vector2d e =
            frame.views[v].joints.col(j) - dataset.cameras[v].Project(frame.pose.col(j));
        sum[j] += e.squaredNorm() / 2.0;
        ++count[j];
      }
    }
  }
  double mean_variance = 0.0;
  for (int j : DetectedJoints()) mean_variance += sum[j] / count[j] / 16.0;
  EXPECT_NEAR(std::sqrt(mean_variance), options.pixel_noise, 0.05 * options.pixel_noise);
  EXPECT_GT(std::sqrt(sum[kLeftWrist] / count[kLeftWrist]),
            2.0 * std::sqrt(sum[kThorax] / count[kThorax]));
}

TEST_F(SyntheticH36MStatisticsTest, SequencesAreTemporallyCoherentAndOnTheFloor) {
  double step_sum = 0.0, jump_sum = 0.0;
  int steps = 0;
  for (size_t i = 0; i < dataset_->frames.size(); ++i) {
    const Frame& frame = dataset_->frames[i];
    const double lowest = frame.pose.row(2).minCoeff();
    EXPECT_GE(lowest, 70.0);
    EXPECT_LE(lowest, 90.0);
    if (frame.frame_index == 0) continue;
    const Frame& previous = dataset_->frames[i - 1];
    ASSERT_EQ(previous.frame_index + 1, frame.frame_index);
    // 0.1 s apart: the root moves at most 1.4 m/s (plus the gait's bob), a
    // swinging foot at most ~4 times the walking speed.
    EXPECT_LT((frame.pose.col(kHip) - previous.pose.col(kHip)).norm(), 200.0);
    const double step = (frame.pose - previous.pose).colwise().norm().maxCoeff();
    EXPECT_LT(step, 550.0) << ActionNames()[frame.action] << " frame " << frame.frame_index;
    step_sum += (frame.pose - previous.pose).colwise().norm().mean();
    // Against the same frame of the next sequence.
    const Frame& other = dataset_->frames[(i + 20) % dataset_->frames.size()];
    jump_sum += (frame.pose - other.pose).colwise().norm().mean();
    ++steps;
  }
  EXPECT_LT(step_sum / steps, 0.1 * jump_sum / steps);
}

// Mean over the frames of an action of a function of the pose.
template <typename F>
double ActionMean(const Dataset& dataset, int action, F f) {
  double sum = 0.0;
  int n = 0;
  for (const Frame& frame : dataset.frames) {
    if (frame.action != action) continue;
    sum += f(frame);
    ++n;
  }
  return sum / n;
}

TEST_F(SyntheticH36MStatisticsTest, ActionsHaveTheirOwnPoses) {
  auto pelvis_height = [](const Frame& f) { return f.pose(2, kHip); };
  auto hand_to_head = [](const Frame& f) {
    return std::min((f.pose.col(kLeftWrist) - f.pose.col(kHead)).norm(),
                    (f.pose.col(kRightWrist) - f.pose.col(kHead)).norm());
  };
  const int walking = ActionIndex("Walking"), sitting = ActionIndex("Sitting");
  const int phoning = ActionIndex("Phoning"), waiting = ActionIndex("Waiting");
  EXPECT_GT(ActionMean(*dataset_, walking, pelvis_height), 800.0);
  EXPECT_LT(ActionMean(*dataset_, sitting, pelvis_height), 650.0);
  EXPECT_LT(ActionMean(*dataset_, phoning, hand_to_head), 250.0);
  EXPECT_GT(ActionMean(*dataset_, waiting, hand_to_head), 350.0);
  // Walking covers ground; SittingDown ends lower than it starts.
  const int sitting_down = ActionIndex("SittingDown");
  for (size_t i = 0; i + 19 < dataset_->frames.size(); i += 20) {
    const Frame& start = dataset_->frames[i];
    const Frame& end = dataset_->frames[i + 19];
    ASSERT_EQ(end.frame_index, 19);
    if (start.action == walking) {
      EXPECT_GT((end.pose.col(kHip) - start.pose.col(kHip)).norm(), 1000.0);
    }
    if (start.action == sitting_down) {
      EXPECT_LT(end.pose(2, kHip), start.pose(2, kHip) - 250.0);
    }
  }
}

}  // namespace
}  // namespace human_pose
