// Scoring conventions of the tracker-fusion experiment.
//
// Average overlap (VOT-style, with failures counted): the mean over a set of
// frames of the IoU between a prediction and the ground truth, where a frame
// without a prediction counts as IoU 0. For a single tracker those are its
// kInitialised, kFailed and kSkipped frames (on an initialisation frame the
// tracker is handed the ground truth and predicts nothing); for a fusion they
// are the frames on which no tracker reports a box. Every method is thus
// scored on the same frames.

#ifndef CERES_WIBERG_EXAMPLES_TRACKER_FUSION_SCORING_H_
#define CERES_WIBERG_EXAMPLES_TRACKER_FUSION_SCORING_H_

#include <vector>

#include "boxes.h"
#include "tracking_data.h"

namespace tracker_fusion {

// One frame of a dataset.
struct FrameRef {
  int sequence = 0;
  int frame = 0;
};

// Every frame of every sequence, in order.
std::vector<FrameRef> AllFrames(const Dataset& dataset);

// The trackers reporting a box on `frame` of `sequence` (status kBox), in
// tracker order, and their boxes. Either output may be null.
void AvailableBoxes(const Sequence& sequence, int frame, std::vector<int>* trackers,
                    std::vector<Box>* boxes);

// Per frame of `frames`, the IoU of tracker `tracker` (0 without a box).
std::vector<double> TrackerOverlaps(const Dataset& dataset, int tracker,
                                    const std::vector<FrameRef>& frames);

// Per frame of `frames`, the IoU of the fusion of the available boxes (0 when
// there are none).
std::vector<double> FusionOverlaps(const Dataset& dataset, FusionRule rule,
                                   const std::vector<FrameRef>& frames);

// The mean of `overlaps`; 0 when empty.
double AverageOverlap(const std::vector<double>& overlaps);

// The fraction of `overlaps` equal to 0; 0 when empty.
double ZeroOverlapFraction(const std::vector<double>& overlaps);

// The tracker with the highest average overlap on `frames` (the lowest index
// among ties) and that overlap. Returns -1 when the dataset has no trackers.
int BestTracker(const Dataset& dataset, const std::vector<FrameRef>& frames,
                double* average_overlap);

}  // namespace tracker_fusion

#endif  // CERES_WIBERG_EXAMPLES_TRACKER_FUSION_SCORING_H_
