#include "synthetic_tracking.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "scoring.h"
#include "vot_format.h"

namespace tracker_fusion {
namespace {

namespace fs = std::filesystem;

std::string TestFolder() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const fs::path folder = fs::path(::testing::TempDir()) / "tracker_fusion_synthetic_test" /
                          (std::string(info->test_suite_name()) + "." + info->name());
  fs::remove_all(folder);
  fs::create_directories(folder);
  return folder.string();
}

// Relative path -> content of every file under `root`.
std::map<std::string, std::string> ReadTree(const std::string& root) {
  std::map<std::string, std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream stream(entry.path(), std::ios::binary);
    files[fs::relative(entry.path(), root).string()] =
        std::string(std::istreambuf_iterator<char>(stream), std::istreambuf_iterator<char>());
  }
  return files;
}

SyntheticTrackingOptions SmallOptions(uint64_t seed) {
  SyntheticTrackingOptions options;
  options.seed = seed;
  options.num_sequences = 3;
  options.num_frames = 120;
  options.num_trackers = 15;
  return options;
}

std::map<std::string, std::string> GenerateAndWrite(const SyntheticTrackingOptions& options,
                                                    const std::string& root) {
  SyntheticDataset synthetic;
  EXPECT_TRUE(GenerateSyntheticDataset(options, &synthetic).ok());
  EXPECT_TRUE(WriteVotDataset(root, synthetic.dataset).ok());
  return ReadTree(root);
}

TEST(SyntheticTrackingTest, SameSeedGivesByteIdenticalFilesAnotherSeedDoesNot) {
  const std::string folder = TestFolder();
  const auto first = GenerateAndWrite(SmallOptions(7), folder + "/a");
  const auto second = GenerateAndWrite(SmallOptions(7), folder + "/b");
  const auto other = GenerateAndWrite(SmallOptions(8), folder + "/c");
  // list.txt, 3 ground truths, 3 x 15 result files.
  EXPECT_EQ(first.size(), 1u + 3u + 45u);
  EXPECT_EQ(first, second);
  ASSERT_EQ(first.size(), other.size());
  const std::string groundtruth = "sequences/synthetic_000/groundtruth.txt";
  EXPECT_NE(first.at(groundtruth), other.at(groundtruth));
  EXPECT_NE(first, other);
}

TEST(SyntheticTrackingTest, ReadingTheWrittenTreeGivesTheGeneratedData) {
  const std::string root = TestFolder() + "/vot";
  SyntheticDataset synthetic;
  ASSERT_TRUE(GenerateSyntheticDataset(SmallOptions(3), &synthetic).ok());
  ASSERT_TRUE(WriteVotDataset(root, synthetic.dataset).ok());
  Dataset read;
  const ceres_wiberg::Status status = ReadVotDataset(root, VotReadOptions(), &read);
  ASSERT_TRUE(status.ok()) << status.ToString();
  ASSERT_EQ(read.tracker_names, synthetic.dataset.tracker_names);
  ASSERT_EQ(read.num_sequences(), synthetic.dataset.num_sequences());
  for (int s = 0; s < read.num_sequences(); ++s) {
    const Sequence& a = synthetic.dataset.sequences[s];
    const Sequence& b = read.sequences[s];
    ASSERT_EQ(a.num_frames(), b.num_frames());
    for (int f = 0; f < a.num_frames(); ++f) {
      EXPECT_EQ(a.groundtruth[f].x, b.groundtruth[f].x);
      EXPECT_EQ(a.groundtruth[f].height, b.groundtruth[f].height);
      for (int t = 0; t < read.num_trackers(); ++t) {
        EXPECT_EQ(a.tracks[t][f].status, b.tracks[t][f].status);
        EXPECT_EQ(a.tracks[t][f].frames_since_initialisation,
                  b.tracks[t][f].frames_since_initialisation);
        EXPECT_EQ(a.tracks[t][f].box.x, b.tracks[t][f].box.x);
        EXPECT_EQ(a.tracks[t][f].box.width, b.tracks[t][f].box.width);
      }
    }
  }
}

TEST(SyntheticTrackingTest, TracksFollowTheVotProtocol) {
  const SyntheticTrackingOptions options = SmallOptions(5);
  SyntheticDataset synthetic;
  ASSERT_TRUE(GenerateSyntheticDataset(options, &synthetic).ok());
  for (const Sequence& sequence : synthetic.dataset.sequences) {
    for (const Box& box : sequence.groundtruth) {
      EXPECT_GT(box.width, 0.0);
      EXPECT_GE(box.x, 0.0);
      EXPECT_LE(box.right(), options.image_width);
      EXPECT_LE(box.bottom(), options.image_height);
    }
    for (const std::vector<TrackerFrame>& track : sequence.tracks) {
      ASSERT_EQ(static_cast<int>(track.size()), sequence.num_frames());
      EXPECT_EQ(track[0].status, FrameStatus::kInitialised);
      for (int f = 0; f < sequence.num_frames(); ++f) {
        if (track[f].status == FrameStatus::kBox) {
          // VOT declares a failure as soon as the overlap is zero.
          EXPECT_GT(IoU(track[f].box, sequence.groundtruth[f]), 0.0);
        }
        if (track[f].status != FrameStatus::kFailed) continue;
        // 2, then 0 for four frames, then 1 (unless the sequence ends).
        for (int k = 1; k <= 5 && f + k < sequence.num_frames(); ++k) {
          EXPECT_EQ(track[f + k].status, k < 5 ? FrameStatus::kSkipped : FrameStatus::kInitialised);
        }
      }
    }
  }
}

// The documented statistics of the default benchmark (seed 1): see README.md.
TEST(SyntheticTrackingTest, DefaultBenchmarkStatistics) {
  const SyntheticTrackingOptions options;
  SyntheticDataset synthetic;
  ASSERT_TRUE(GenerateSyntheticDataset(options, &synthetic).ok());
  const Dataset& dataset = synthetic.dataset;
  ASSERT_EQ(dataset.num_trackers(), 20);
  ASSERT_EQ(dataset.num_sequences(), 20);
  const std::vector<FrameRef> frames = AllFrames(dataset);
  double lowest = 1.0, highest = 0.0;
  for (int t = 0; t < dataset.num_trackers(); ++t) {
    const double overlap = AverageOverlap(TrackerOverlaps(dataset, t, frames));
    lowest = std::min(lowest, overlap);
    highest = std::max(highest, overlap);
  }
  // Trackers spread over [0.2, 0.7], at least 0.2 apart.
  EXPECT_GT(lowest, 0.2);
  EXPECT_LT(highest, 0.7);
  EXPECT_GT(highest - lowest, 0.2);
  // Mean fusion is hurt by the lost trackers' boxes, median fusion much less.
  const double mean = AverageOverlap(FusionOverlaps(dataset, FusionRule::kMean, frames));
  const double median = AverageOverlap(FusionOverlaps(dataset, FusionRule::kMedian, frames));
  EXPECT_LT(mean, highest);
  EXPECT_GT(median, mean);

  // Shared hard events make several trackers fail together: frames on which
  // at least 3 trackers fail, inside an event or within 10 frames after it.
  int joint_failures_in_events = 0;
  for (const HardEvent& event : synthetic.events) {
    const Sequence& sequence = dataset.sequences[event.sequence];
    const int end = std::min(sequence.num_frames(), event.first_frame + event.num_frames + 10);
    for (int f = event.first_frame; f < end; ++f) {
      int failures = 0;
      for (const auto& track : sequence.tracks) {
        failures += track[f].status == FrameStatus::kFailed ? 1 : 0;
      }
      joint_failures_in_events += failures >= 3 ? 1 : 0;
    }
  }
  EXPECT_GE(joint_failures_in_events, 5);
}

TEST(SyntheticTrackingTest, InvalidOptionsAreRejected) {
  SyntheticTrackingOptions options;
  std::string error;
  EXPECT_TRUE(options.IsValid(&error)) << error;
  options.num_trackers = 0;
  EXPECT_FALSE(options.IsValid(&error));
  SyntheticDataset synthetic;
  const ceres_wiberg::Status status = GenerateSyntheticDataset(options, &synthetic);
  EXPECT_EQ(status.code(), ceres_wiberg::StatusCode::kInvalidArgument);
  options = SyntheticTrackingOptions();
  options.num_frames = 10;
  EXPECT_FALSE(options.IsValid(&error));
  options = SyntheticTrackingOptions();
  options.max_object_width = 1000.0;
  EXPECT_FALSE(options.IsValid(&error));
}

}  // namespace
}  // namespace tracker_fusion
