#include "boxes.h"

#include <vector>

#include "gtest/gtest.h"
#include "scoring.h"
#include "tracking_data.h"

namespace tracker_fusion {
namespace {

Box MakeBox(double x, double y, double width, double height) {
  Box box;
  box.x = x;
  box.y = y;
  box.width = width;
  box.height = height;
  return box;
}

void ExpectBoxEq(const Box& actual, const Box& expected) {
  EXPECT_DOUBLE_EQ(actual.x, expected.x);
  EXPECT_DOUBLE_EQ(actual.y, expected.y);
  EXPECT_DOUBLE_EQ(actual.width, expected.width);
  EXPECT_DOUBLE_EQ(actual.height, expected.height);
}

TEST(BoxesTest, IoUMatchesHandComputedValues) {
  const Box a = MakeBox(0, 0, 10, 10);
  EXPECT_DOUBLE_EQ(IoU(a, a), 1.0);
  // Overlap 5 x 5 = 25, union 100 + 100 - 25 = 175.
  EXPECT_DOUBLE_EQ(IoU(a, MakeBox(5, 5, 10, 10)), 25.0 / 175.0);
  // Contained 4 x 4.
  EXPECT_DOUBLE_EQ(IoU(a, MakeBox(2, 2, 4, 4)), 16.0 / 100.0);
  // Overlap 2 x 10 = 20, union 100 + 60 - 20 = 140.
  EXPECT_DOUBLE_EQ(IoU(a, MakeBox(8, -5, 3, 20)), 20.0 / 140.0);
  EXPECT_DOUBLE_EQ(IoU(MakeBox(8, -5, 3, 20), a), 20.0 / 140.0);
  EXPECT_EQ(IoU(a, MakeBox(10, 0, 5, 5)), 0.0);  // touching edges
  EXPECT_EQ(IoU(a, MakeBox(20, 20, 5, 5)), 0.0);
  EXPECT_EQ(IoU(MakeBox(1, 1, 0, 0), MakeBox(1, 1, 0, 0)), 0.0);
}

TEST(BoxesTest, PolygonToBoxIsTheAxisAlignedBoundingBox) {
  ExpectBoxEq(PolygonToBox({5, 0, 10, 5, 5, 10, 0, 5}), MakeBox(0, 0, 10, 10));
  ExpectBoxEq(PolygonToBox({1, 2, 4, 2, 4, 7, 1, 7}), MakeBox(1, 2, 3, 5));
  // A rotated rectangle, corners in VOT's order.
  ExpectBoxEq(PolygonToBox({10.5, 3, 14, 6.5, 11, 9.5, 7.5, 6}), MakeBox(7.5, 3, 6.5, 6.5));
}

TEST(BoxesTest, MeanAndMedianFuseCornersCoordinateWise) {
  const std::vector<Box> boxes = {MakeBox(0, 0, 10, 10), MakeBox(2, 2, 10, 10),
                                  MakeBox(100, 100, 10, 10)};
  Box fused;
  ASSERT_TRUE(FuseBoxes(boxes, FusionRule::kMean, &fused));
  ExpectBoxEq(fused, MakeBox(34, 34, 10, 10));
  ASSERT_TRUE(FuseBoxes(boxes, FusionRule::kMedian, &fused));
  ExpectBoxEq(fused, MakeBox(2, 2, 10, 10));
  // Even count: the mean of the two middle values, per corner coordinate.
  const std::vector<Box> four = {MakeBox(0, 0, 10, 10), MakeBox(2, 4, 6, 10),
                                 MakeBox(50, 50, 1, 1), MakeBox(-40, 1, 90, 20)};
  // x0 {0, 2, 50, -40} -> 1; y0 {0, 4, 50, 1} -> 2.5;
  // x1 {10, 8, 51, 50} -> 30; y1 {10, 14, 51, 21} -> 17.5.
  ASSERT_TRUE(FuseBoxes(four, FusionRule::kMedian, &fused));
  ExpectBoxEq(fused, MakeBox(1, 2.5, 29, 15));
  EXPECT_FALSE(FuseBoxes({}, FusionRule::kMean, &fused));
}

// One sequence of 4 frames: tracker 0 is exact then fails, tracker 1 is off.
Dataset ScoringDataset() {
  Dataset dataset;
  dataset.tracker_names = {"exact", "offset"};
  Sequence sequence;
  sequence.name = "s";
  for (int f = 0; f < 4; ++f) sequence.groundtruth.push_back(MakeBox(10 * f, 0, 10, 10));
  std::vector<TrackerFrame> exact(4), offset(4);
  exact[0].status = FrameStatus::kInitialised;
  exact[1].status = FrameStatus::kBox;
  exact[1].box = sequence.groundtruth[1];
  exact[2].status = FrameStatus::kBox;
  exact[2].box = sequence.groundtruth[2];
  exact[3].status = FrameStatus::kFailed;
  offset[0].status = FrameStatus::kInitialised;
  for (int f = 1; f < 4; ++f) {
    offset[f].status = FrameStatus::kBox;
    offset[f].box = sequence.groundtruth[f];
    offset[f].box.x += 5;  // IoU 50 / 150 = 1/3
  }
  AssignFramesSinceInitialisation(&exact);
  AssignFramesSinceInitialisation(&offset);
  sequence.tracks = {exact, offset};
  dataset.sequences.push_back(sequence);
  return dataset;
}

TEST(ScoringTest, FailedAndInitialisationFramesCountAsZero) {
  const Dataset dataset = ScoringDataset();
  const std::vector<FrameRef> frames = AllFrames(dataset);
  ASSERT_EQ(frames.size(), 4u);
  const std::vector<double> exact = TrackerOverlaps(dataset, 0, frames);
  EXPECT_EQ(exact, (std::vector<double>{0.0, 1.0, 1.0, 0.0}));
  EXPECT_DOUBLE_EQ(AverageOverlap(exact), 0.5);
  EXPECT_DOUBLE_EQ(ZeroOverlapFraction(exact), 0.5);
  EXPECT_DOUBLE_EQ(AverageOverlap(TrackerOverlaps(dataset, 1, frames)), 0.75 / 3.0);
  double best = 0.0;
  EXPECT_EQ(BestTracker(dataset, frames, &best), 0);
  EXPECT_DOUBLE_EQ(best, 0.5);
  // On frame 3 alone tracker 1 is the better one.
  EXPECT_EQ(BestTracker(dataset, {frames[3]}, &best), 1);
  EXPECT_DOUBLE_EQ(best, 1.0 / 3.0);
}

TEST(ScoringTest, AvailableBoxesAndFusion) {
  const Dataset dataset = ScoringDataset();
  std::vector<int> trackers;
  std::vector<Box> boxes;
  AvailableBoxes(dataset.sequences[0], 0, &trackers, &boxes);
  EXPECT_TRUE(trackers.empty());
  AvailableBoxes(dataset.sequences[0], 2, &trackers, &boxes);
  EXPECT_EQ(trackers, (std::vector<int>{0, 1}));
  ASSERT_EQ(boxes.size(), 2u);
  AvailableBoxes(dataset.sequences[0], 3, &trackers, nullptr);
  EXPECT_EQ(trackers, (std::vector<int>{1}));

  // Frame 0: nothing to fuse (0); frames 1, 2: the mean of the exact and the
  // shifted box is shifted by 2.5 (IoU 75 / 125); frame 3: tracker 1 alone.
  const std::vector<double> mean = FusionOverlaps(dataset, FusionRule::kMean, AllFrames(dataset));
  ASSERT_EQ(mean.size(), 4u);
  EXPECT_EQ(mean[0], 0.0);
  EXPECT_DOUBLE_EQ(mean[1], 0.6);
  EXPECT_DOUBLE_EQ(mean[2], 0.6);
  EXPECT_DOUBLE_EQ(mean[3], 1.0 / 3.0);
  EXPECT_DOUBLE_EQ(ZeroOverlapFraction(mean), 0.25);
}

TEST(TrackingDataTest, FramesSinceInitialisation) {
  std::vector<TrackerFrame> frames(7);
  const FrameStatus statuses[] = {FrameStatus::kBox,         FrameStatus::kBox,
                                  FrameStatus::kFailed,      FrameStatus::kSkipped,
                                  FrameStatus::kInitialised, FrameStatus::kBox,
                                  FrameStatus::kBox};
  for (int f = 0; f < 7; ++f) frames[f].status = statuses[f];
  AssignFramesSinceInitialisation(&frames);
  const int expected[] = {0, 1, -1, -1, 0, 1, 2};
  for (int f = 0; f < 7; ++f) EXPECT_EQ(frames[f].frames_since_initialisation, expected[f]);
}

}  // namespace
}  // namespace tracker_fusion
