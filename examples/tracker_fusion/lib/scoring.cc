#include "scoring.h"

namespace tracker_fusion {

std::vector<FrameRef> AllFrames(const Dataset& dataset) {
  std::vector<FrameRef> frames;
  for (int s = 0; s < dataset.num_sequences(); ++s) {
    for (int f = 0; f < dataset.sequences[s].num_frames(); ++f) {
      FrameRef ref;
      ref.sequence = s;
      ref.frame = f;
      frames.push_back(ref);
    }
  }
  return frames;
}

void AvailableBoxes(const Sequence& sequence, int frame, std::vector<int>* trackers,
                    std::vector<Box>* boxes) {
  if (trackers != nullptr) trackers->clear();
  if (boxes != nullptr) boxes->clear();
  for (int t = 0; t < static_cast<int>(sequence.tracks.size()); ++t) {
    const TrackerFrame& tracker_frame = sequence.tracks[t][frame];
    if (tracker_frame.status != FrameStatus::kBox) continue;
    if (trackers != nullptr) trackers->push_back(t);
    if (boxes != nullptr) boxes->push_back(tracker_frame.box);
  }
}

std::vector<double> TrackerOverlaps(const Dataset& dataset, int tracker,
                                    const std::vector<FrameRef>& frames) {
  std::vector<double> overlaps;
  overlaps.reserve(frames.size());
  for (const FrameRef& ref : frames) {
    const Sequence& sequence = dataset.sequences[ref.sequence];
    const TrackerFrame& tracker_frame = sequence.tracks[tracker][ref.frame];
    overlaps.push_back(tracker_frame.status == FrameStatus::kBox
                           ? IoU(tracker_frame.box, sequence.groundtruth[ref.frame])
                           : 0.0);
  }
  return overlaps;
}

std::vector<double> FusionOverlaps(const Dataset& dataset, FusionRule rule,
                                   const std::vector<FrameRef>& frames) {
  std::vector<double> overlaps;
  overlaps.reserve(frames.size());
  std::vector<Box> boxes;
  for (const FrameRef& ref : frames) {
    const Sequence& sequence = dataset.sequences[ref.sequence];
    AvailableBoxes(sequence, ref.frame, nullptr, &boxes);
    Box fused;
    overlaps.push_back(FuseBoxes(boxes, rule, &fused)
                           ? IoU(fused, sequence.groundtruth[ref.frame])
                           : 0.0);
  }
  return overlaps;
}

double AverageOverlap(const std::vector<double>& overlaps) {
  if (overlaps.empty()) return 0.0;
  double sum = 0.0;
  for (double overlap : overlaps) sum += overlap;
  return sum / static_cast<double>(overlaps.size());
}

double ZeroOverlapFraction(const std::vector<double>& overlaps) {
  if (overlaps.empty()) return 0.0;
  int zeros = 0;
  for (double overlap : overlaps) zeros += overlap == 0.0 ? 1 : 0;
  return static_cast<double>(zeros) / static_cast<double>(overlaps.size());
}

int BestTracker(const Dataset& dataset, const std::vector<FrameRef>& frames,
                double* average_overlap) {
  int best = -1;
  double best_overlap = 0.0;
  for (int t = 0; t < dataset.num_trackers(); ++t) {
    const double overlap = AverageOverlap(TrackerOverlaps(dataset, t, frames));
    if (best < 0 || overlap > best_overlap) {
      best = t;
      best_overlap = overlap;
    }
  }
  if (average_overlap != nullptr) *average_overlap = best_overlap;
  return best;
}

}  // namespace tracker_fusion
