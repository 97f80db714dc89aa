#include "vot_format.h"

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace tracker_fusion {
namespace {

namespace fs = std::filesystem;

// A fresh folder under ::testing::TempDir() named after the running test.
std::string TestFolder() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const fs::path folder = fs::path(::testing::TempDir()) / "tracker_fusion_vot_format_test" /
                          (std::string(info->test_suite_name()) + "." + info->name());
  fs::remove_all(folder);
  fs::create_directories(folder);
  return folder.string();
}

void WriteText(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream stream(path, std::ios::binary);
  stream << text;
}

// One tracker, sequences "ball" and "car" of two frames.
Dataset SmallDatasetForList() {
  Dataset dataset;
  dataset.tracker_names = {"alpha"};
  for (const std::string name : {"ball", "car"}) {
    Sequence sequence;
    sequence.name = name;
    Box box;
    box.width = 2.0;
    box.height = 3.0;
    sequence.groundtruth = {box, box};
    std::vector<TrackerFrame> track(2);
    track[0].status = FrameStatus::kInitialised;
    track[1].box = box;
    AssignFramesSinceInitialisation(&track);
    sequence.tracks.push_back(track);
    dataset.sequences.push_back(sequence);
  }
  return dataset;
}

TEST(VotFormatTest, ReadsGroundTruthWithAllSeparatorsAndPolygons) {
  const std::string path = TestFolder() + "/groundtruth.txt";
  WriteText(path,
            "1,2,3,4\n"
            "1\t2\t3\t4\n"
            "  1 2   3 4\n"
            "1.5, 2.5 ,3,4\r\n"
            "5,0,10,5,5,10,0,5\n"
            "0 0 10 0 10 5 0 5\n"
            "\n\n");
  std::vector<Box> boxes;
  ASSERT_TRUE(ReadGroundTruthFile(path, &boxes).ok());
  ASSERT_EQ(boxes.size(), 6u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(boxes[i].x, 1.0);
    EXPECT_EQ(boxes[i].y, 2.0);
    EXPECT_EQ(boxes[i].width, 3.0);
    EXPECT_EQ(boxes[i].height, 4.0);
  }
  EXPECT_EQ(boxes[3].x, 1.5);
  EXPECT_EQ(boxes[3].y, 2.5);
  // The rotated square (5,0), (10,5), (5,10), (0,5) has the AABB [0,10]^2.
  EXPECT_EQ(boxes[4].x, 0.0);
  EXPECT_EQ(boxes[4].y, 0.0);
  EXPECT_EQ(boxes[4].width, 10.0);
  EXPECT_EQ(boxes[4].height, 10.0);
  EXPECT_EQ(boxes[5].width, 10.0);
  EXPECT_EQ(boxes[5].height, 5.0);
}

TEST(VotFormatTest, ReadsResultSpecialLinesAndFramesSinceInitialisation) {
  const std::string path = TestFolder() + "/result.txt";
  WriteText(path, "1\n10,20,30,40\n10\t20\t30\t40\n2\n0\n0\n0\n0\n1\n5 6 7 8\n0,0,4,0,4,2,0,2\n");
  std::vector<TrackerFrame> frames;
  ASSERT_TRUE(ReadResultFile(path, &frames).ok());
  ASSERT_EQ(frames.size(), 11u);
  const FrameStatus expected_status[] = {
      FrameStatus::kInitialised, FrameStatus::kBox,     FrameStatus::kBox,
      FrameStatus::kFailed,      FrameStatus::kSkipped, FrameStatus::kSkipped,
      FrameStatus::kSkipped,     FrameStatus::kSkipped, FrameStatus::kInitialised,
      FrameStatus::kBox,         FrameStatus::kBox};
  const int expected_since[] = {0, 1, 2, -1, -1, -1, -1, -1, 0, 1, 2};
  for (int f = 0; f < 11; ++f) {
    EXPECT_EQ(frames[f].status, expected_status[f]) << "frame " << f;
    EXPECT_EQ(frames[f].frames_since_initialisation, expected_since[f]) << "frame " << f;
  }
  EXPECT_EQ(frames[1].box.x, 10.0);
  EXPECT_EQ(frames[1].box.height, 40.0);
  EXPECT_EQ(frames[9].box.width, 7.0);
  EXPECT_EQ(frames[10].box.width, 4.0);
  EXPECT_EQ(frames[10].box.height, 2.0);
}

TEST(VotFormatTest, BoxesBeforeAnyInitialisationCountFromTheFirstFrame) {
  const std::string path = TestFolder() + "/result.txt";
  WriteText(path, "1,1,2,2\n1,1,2,2\n");
  std::vector<TrackerFrame> frames;
  ASSERT_TRUE(ReadResultFile(path, &frames).ok());
  EXPECT_EQ(frames[0].frames_since_initialisation, 0);
  EXPECT_EQ(frames[1].frames_since_initialisation, 1);
}

struct MalformedCase {
  std::string content;
  int line;
};

TEST(VotFormatTest, MalformedResultLinesNameFileAndLine) {
  const std::string folder = TestFolder();
  const std::vector<MalformedCase> cases = {
      {"1\n1,2,abc,4\n", 2},        // non-numeric token
      {"1\n1,2,3\n", 2},            // wrong number of fields
      {"1\n1,2,3,4,5,6\n", 2},      // wrong number of fields
      {"1\n0\n1,2,-3,4\n", 3},      // negative width
      {"1,2,3,-4\n", 1},            // negative height
      {"1\n3\n", 2},                // unknown code
      {"1\n1.0\n", 2},              // a single non-integer
      {"1\n\n1,2,3,4\n", 2},        // blank line inside the file
      {"1\n1,,3,4\n", 2},           // empty field
      {"1\n1, 2 3,4\n", 2},         // mixed separators
      {"1\nnan,2,3,4\n", 2},        // not finite
      {"1\n1,2,3,4\n1e999,2,3,4\n", 3},
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const std::string path = folder + "/bad_" + std::to_string(i) + ".txt";
    WriteText(path, cases[i].content);
    std::vector<TrackerFrame> frames;
    const ceres_wiberg::Status status = ReadResultFile(path, &frames);
    ASSERT_FALSE(status.ok()) << cases[i].content;
    EXPECT_EQ(status.code(), ceres_wiberg::StatusCode::kInvalidArgument);
    EXPECT_NE(status.message().find(path + ":" + std::to_string(cases[i].line) + ":"),
              std::string::npos)
        << status.message();
  }
}

TEST(VotFormatTest, MalformedGroundTruthNamesFileAndLine) {
  const std::string folder = TestFolder();
  const std::vector<MalformedCase> cases = {
      {"1,2,3,4\n1\n", 2},  // a special code is no ground truth
      {"1,2,3,4\n1,2,3,4\nx,2,3,4\n", 3},
      {"1,2,-1,4\n", 1},
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const std::string path = folder + "/groundtruth_" + std::to_string(i) + ".txt";
    WriteText(path, cases[i].content);
    std::vector<Box> boxes;
    const ceres_wiberg::Status status = ReadGroundTruthFile(path, &boxes);
    ASSERT_FALSE(status.ok());
    EXPECT_NE(status.message().find(path + ":" + std::to_string(cases[i].line) + ":"),
              std::string::npos)
        << status.message();
  }
}

TEST(VotFormatTest, ADoubleSignIsNotANumber) {
  const std::string path = TestFolder() + "/groundtruth.txt";
  WriteText(path, "1,2,3,4\n+-5,2,3,4\n");
  std::vector<Box> boxes;
  const ceres_wiberg::Status status = ReadGroundTruthFile(path, &boxes);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find(path + ":2: \"+-5\" is not a number"), std::string::npos)
      << status.message();
  WriteText(path, "++5,2,3,4\n");
  EXPECT_FALSE(ReadGroundTruthFile(path, &boxes).ok());
  WriteText(path, "+5,2,3,4\n");
  ASSERT_TRUE(ReadGroundTruthFile(path, &boxes).ok());
  EXPECT_EQ(boxes[0].x, 5.0);
}

TEST(VotFormatTest, DotDotAndRepeatedNamesInListTxtAreErrors) {
  const std::string root = TestFolder();
  ASSERT_TRUE(WriteVotDataset(root, SmallDatasetForList()).ok());
  for (const std::string& bad : {std::string("."), std::string("..")}) {
    WriteText(root + "/sequences/list.txt", "ball\n" + bad + "\n");
    Dataset dataset;
    const ceres_wiberg::Status status = ReadVotDataset(root, VotReadOptions(), &dataset);
    ASSERT_FALSE(status.ok()) << bad;
    EXPECT_NE(status.message().find("list.txt:2: \"" + bad + "\" is not a sequence name"),
              std::string::npos)
        << status.message();
  }
  WriteText(root + "/sequences/list.txt", "ball\ncar\nball\n");
  Dataset dataset;
  const ceres_wiberg::Status status = ReadVotDataset(root, VotReadOptions(), &dataset);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("list.txt:3: \"ball\" repeats line 1"), std::string::npos)
      << status.message();
}

// An entry that cannot be examined (a symbolic link to itself) makes the
// listing fail instead of being silently left out.
TEST(VotFormatTest, AnUnreadableFolderEntryIsAnErrorNotAShorterList) {
  const std::string root = TestFolder();
  ASSERT_TRUE(WriteVotDataset(root, SmallDatasetForList()).ok());
  fs::remove(root + "/sequences/list.txt");
  fs::create_symlink("loop", root + "/sequences/loop");
  Dataset dataset;
  const ceres_wiberg::Status status = ReadVotDataset(root, VotReadOptions(), &dataset);
  ASSERT_FALSE(status.ok()) << dataset.sequences.size() << " sequences";
  EXPECT_NE(status.message().find(root + "/sequences/loop"), std::string::npos)
      << status.message();
}

TEST(VotFormatTest, MissingFileIsAnErrorNamingIt) {
  const std::string path = TestFolder() + "/does_not_exist.txt";
  std::vector<Box> boxes;
  const ceres_wiberg::Status status = ReadGroundTruthFile(path, &boxes);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find(path), std::string::npos);
}

// A two-sequence, two-tracker tree built by hand.
Dataset SmallDataset() {
  Dataset dataset;
  dataset.tracker_names = {"alpha", "beta"};
  for (const std::string name : {"ball", "car"}) {
    Sequence sequence;
    sequence.name = name;
    for (int f = 0; f < 8; ++f) {
      Box box;
      box.x = 10.25 + f / 3.0;
      box.y = 20.0 - f * 0.1;
      box.width = 30.0 + f;
      box.height = 40.5;
      sequence.groundtruth.push_back(box);
    }
    for (int t = 0; t < 2; ++t) {
      std::vector<TrackerFrame> track(8);
      for (int f = 0; f < 8; ++f) {
        track[f].status = FrameStatus::kBox;
        track[f].box = sequence.groundtruth[f];
        track[f].box.x += 0.7 * t + 1e-3 * f;
      }
      track[0].status = FrameStatus::kInitialised;
      if (t == 1) {
        track[2].status = FrameStatus::kFailed;
        for (int f = 3; f < 7; ++f) track[f].status = FrameStatus::kSkipped;
        track[7].status = FrameStatus::kInitialised;
      }
      AssignFramesSinceInitialisation(&track);
      sequence.tracks.push_back(track);
    }
    dataset.sequences.push_back(sequence);
  }
  return dataset;
}

TEST(VotFormatTest, WriteReadRoundTripIsExact) {
  const std::string root = TestFolder() + "/vot";
  const Dataset written = SmallDataset();
  ASSERT_TRUE(WriteVotDataset(root, written).ok());
  EXPECT_TRUE(fs::exists(root + "/sequences/list.txt"));
  EXPECT_TRUE(fs::exists(root + "/results/beta/baseline/car/car_001.txt"));
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    EXPECT_NE(entry.path().extension(), ".tmp") << entry.path();
  }
  Dataset read;
  const ceres_wiberg::Status status = ReadVotDataset(root, VotReadOptions(), &read);
  ASSERT_TRUE(status.ok()) << status.ToString();
  ASSERT_EQ(read.tracker_names, written.tracker_names);
  ASSERT_EQ(read.num_sequences(), 2);
  for (int s = 0; s < 2; ++s) {
    const Sequence& a = written.sequences[s];
    const Sequence& b = read.sequences[s];
    EXPECT_EQ(a.name, b.name);
    ASSERT_EQ(a.num_frames(), b.num_frames());
    for (int f = 0; f < a.num_frames(); ++f) {
      EXPECT_EQ(a.groundtruth[f].x, b.groundtruth[f].x);
      EXPECT_EQ(a.groundtruth[f].y, b.groundtruth[f].y);
      EXPECT_EQ(a.groundtruth[f].width, b.groundtruth[f].width);
      EXPECT_EQ(a.groundtruth[f].height, b.groundtruth[f].height);
      for (int t = 0; t < 2; ++t) {
        const TrackerFrame& p = a.tracks[t][f];
        const TrackerFrame& q = b.tracks[t][f];
        EXPECT_EQ(p.status, q.status);
        EXPECT_EQ(p.frames_since_initialisation, q.frames_since_initialisation);
        if (p.status == FrameStatus::kBox) {
          EXPECT_EQ(p.box.x, q.box.x);
          EXPECT_EQ(p.box.y, q.box.y);
          EXPECT_EQ(p.box.width, q.box.width);
          EXPECT_EQ(p.box.height, q.box.height);
        }
      }
    }
  }
}

TEST(VotFormatTest, WithoutListTxtSequencesAreTheFoldersSorted) {
  const std::string root = TestFolder() + "/vot";
  ASSERT_TRUE(WriteVotDataset(root, SmallDataset()).ok());
  fs::remove(root + "/sequences/list.txt");
  fs::create_directories(root + "/sequences/not_a_sequence");
  Dataset read;
  ASSERT_TRUE(ReadVotDataset(root, VotReadOptions(), &read).ok());
  ASSERT_EQ(read.num_sequences(), 2);
  EXPECT_EQ(read.sequences[0].name, "ball");
  EXPECT_EQ(read.sequences[1].name, "car");

  VotReadOptions only_beta;
  only_beta.trackers = {"beta"};
  only_beta.sequences = {"car"};
  ASSERT_TRUE(ReadVotDataset(root, only_beta, &read).ok());
  EXPECT_EQ(read.num_trackers(), 1);
  EXPECT_EQ(read.num_sequences(), 1);
}

TEST(VotFormatTest, ResultWithAnotherFrameCountIsAnErrorNamingFileAndLine) {
  const std::string root = TestFolder() + "/vot";
  ASSERT_TRUE(WriteVotDataset(root, SmallDataset()).ok());
  const std::string result = ResultPath(root, "alpha", "car");
  Dataset read;

  WriteText(result, "1\n1,2,3,4\n1,2,3,4\n");  // 3 lines, groundtruth has 8
  ceres_wiberg::Status status = ReadVotDataset(root, VotReadOptions(), &read);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find(result + ":4:"), std::string::npos) << status.message();

  std::string long_file = "1\n";
  for (int f = 1; f < 10; ++f) long_file += "1,2,3,4\n";  // 10 lines
  WriteText(result, long_file);
  status = ReadVotDataset(root, VotReadOptions(), &read);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find(result + ":9:"), std::string::npos) << status.message();

  fs::remove(result);
  status = ReadVotDataset(root, VotReadOptions(), &read);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find(result), std::string::npos) << status.message();
}

}  // namespace
}  // namespace tracker_fusion
