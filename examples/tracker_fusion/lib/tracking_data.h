// In-memory tracking data: per sequence the ground truth and, per tracker and
// frame, either a box or one of VOT's special states. Both the VOT reader and
// the synthetic generator produce a Dataset.

#ifndef CERES_WIBERG_EXAMPLES_TRACKER_FUSION_TRACKING_DATA_H_
#define CERES_WIBERG_EXAMPLES_TRACKER_FUSION_TRACKING_DATA_H_

#include <string>
#include <vector>

#include "boxes.h"

namespace tracker_fusion {

// What a tracker reported on one frame. The VOT result-file line is given
// with each value.
enum class FrameStatus {
  // A box ("x,y,w,h" or an 8-number polygon).
  kBox,
  // "1": the tracker was (re)initialised on this frame with the ground truth;
  // it reports no box of its own.
  kInitialised,
  // "2": the tracker failed on this frame (its box stopped overlapping the
  // ground truth).
  kFailed,
  // "0": skipped, the frames between a failure and the re-initialisation.
  kSkipped,
};
const char* FrameStatusToString(FrameStatus status);

struct TrackerFrame {
  FrameStatus status = FrameStatus::kSkipped;
  // Meaningful only when status == kBox.
  Box box;
  // f of the fusion energy (supplementary, eq. 16): frames since the
  // tracker's last kInitialised frame, 0 on that frame. Before the first
  // kInitialised frame it counts from the first frame of the sequence. -1 on
  // kFailed and kSkipped frames.
  int frames_since_initialisation = -1;
};

// Sets frames_since_initialisation of every frame from the statuses.
void AssignFramesSinceInitialisation(std::vector<TrackerFrame>* frames);

struct Sequence {
  std::string name;
  // One box per frame.
  std::vector<Box> groundtruth;
  // tracks[t][f]: tracker t on frame f; every track has groundtruth.size()
  // frames.
  std::vector<std::vector<TrackerFrame>> tracks;

  int num_frames() const { return static_cast<int>(groundtruth.size()); }
};

struct Dataset {
  // tracker_names[t] names the tracker of Sequence::tracks[t].
  std::vector<std::string> tracker_names;
  std::vector<Sequence> sequences;

  int num_trackers() const { return static_cast<int>(tracker_names.size()); }
  int num_sequences() const { return static_cast<int>(sequences.size()); }
};

}  // namespace tracker_fusion

#endif  // CERES_WIBERG_EXAMPLES_TRACKER_FUSION_TRACKING_DATA_H_
