// Writes a synthetic tracking benchmark in the VOT layout (see README.md) and
// prints, per simulated tracker, its average overlap (failures count 0) and
// its number of failures, then the mean and median fusions.
//
//   make_synthetic_vot --output_dir=/tmp/synthetic_vot --seed=1

#include <cstdio>
#include <string>

#include "gflags/gflags.h"
#include "scoring.h"
#include "synthetic_tracking.h"
#include "vot_format.h"

DEFINE_string(output_dir, "synthetic_vot", "Root of the VOT tree to write.");
DEFINE_uint64(seed, 1, "Seed; the same seed and sizes give byte-identical files.");
DEFINE_int32(num_sequences, 20, "Sequences.");
DEFINE_int32(num_frames, 300, "Frames per sequence.");
DEFINE_int32(num_trackers, 20, "Simulated trackers (15-30 resemble VOT).");

namespace {

using tracker_fusion::FrameStatus;

int Run() {
  tracker_fusion::SyntheticTrackingOptions options;
  options.seed = FLAGS_seed;
  options.num_sequences = FLAGS_num_sequences;
  options.num_frames = FLAGS_num_frames;
  options.num_trackers = FLAGS_num_trackers;
  tracker_fusion::SyntheticDataset synthetic;
  ceres_wiberg::Status status = tracker_fusion::GenerateSyntheticDataset(options, &synthetic);
  if (status.ok()) status = tracker_fusion::WriteVotDataset(FLAGS_output_dir, synthetic.dataset);
  if (!status.ok()) {
    std::fprintf(stderr, "%s\n", status.ToString().c_str());
    return 1;
  }
  const tracker_fusion::Dataset& dataset = synthetic.dataset;
  int num_occlusions = 0;
  for (const auto& event : synthetic.events) {
    num_occlusions += event.type == tracker_fusion::HardEvent::Type::kOcclusion ? 1 : 0;
  }
  std::printf("Wrote %d sequences x %d frames, %d trackers to %s (seed %llu).\n",
              dataset.num_sequences(), options.num_frames, dataset.num_trackers(),
              FLAGS_output_dir.c_str(), static_cast<unsigned long long>(options.seed));
  std::printf("Hard events: %d occlusions, %d fast motions.\n", num_occlusions,
              static_cast<int>(synthetic.events.size()) - num_occlusions);
  const auto frames = tracker_fusion::AllFrames(dataset);
  std::printf("%-16s %8s %9s %9s\n", "tracker", "quality", "mean IoU", "failures");
  for (int t = 0; t < dataset.num_trackers(); ++t) {
    int failures = 0;
    for (const auto& sequence : dataset.sequences) {
      for (const auto& frame : sequence.tracks[t]) {
        failures += frame.status == FrameStatus::kFailed ? 1 : 0;
      }
    }
    const auto overlaps = tracker_fusion::TrackerOverlaps(dataset, t, frames);
    std::printf("%-16s %8.3f %9.3f %9d\n", dataset.tracker_names[t].c_str(),
                synthetic.trackers[t].quality, tracker_fusion::AverageOverlap(overlaps),
                failures);
  }
  for (auto rule : {tracker_fusion::FusionRule::kMean, tracker_fusion::FusionRule::kMedian}) {
    const auto overlaps = tracker_fusion::FusionOverlaps(dataset, rule, frames);
    std::printf("%-6s fusion: mean IoU %.3f, IoU = 0 on %.1f%% of frames\n",
                tracker_fusion::FusionRuleToString(rule), tracker_fusion::AverageOverlap(overlaps),
                100.0 * tracker_fusion::ZeroOverlapFraction(overlaps));
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  gflags::SetUsageMessage("Writes a synthetic tracking benchmark in the VOT layout.");
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  return Run();
}
