// A seeded synthetic tracking benchmark in place of the VOT data, which cannot
// be downloaded here. Each sequence has a smoothly moving object whose size
// and aspect change, and shared hard events (occlusions, fast motions); each
// simulated tracker has its own character (jitter, scale bias, drift growing
// with the frames since initialisation, failures that freeze, jump to the
// background or run away in scale) and is run under the VOT supervised
// protocol: it fails when its box stops overlapping the ground truth and is
// re-initialised with the ground truth 5 frames later. The model and its
// defaults are documented in examples/tracker_fusion/README.md.

#ifndef CERES_WIBERG_EXAMPLES_TRACKER_FUSION_SYNTHETIC_TRACKING_H_
#define CERES_WIBERG_EXAMPLES_TRACKER_FUSION_SYNTHETIC_TRACKING_H_

#include <cstdint>
#include <string>
#include <vector>

#include "ceres_wiberg/status.h"
#include "tracking_data.h"

namespace tracker_fusion {

struct SyntheticTrackingOptions {
  // Everything is a function of the seed and the options below; the same
  // options give bit-identical data.
  uint64_t seed = 1;
  int num_sequences = 20;
  int num_frames = 300;
  int num_trackers = 20;

  // The image, in pixels; boxes stay inside it.
  double image_width = 640.0;
  double image_height = 480.0;

  // Ground truth: initial width ~ U[min, max] pixels, aspect h/w log-uniform
  // in [1 / max_aspect, max_aspect]; log-size and log-aspect oscillate with
  // amplitudes up to these values.
  double min_object_width = 40.0;
  double max_object_width = 120.0;
  double max_aspect = 2.0;
  double scale_amplitude = 0.35;
  double aspect_amplitude = 0.15;

  // Shared hard events: expected number per frame of each kind.
  double occlusions_per_frame = 1.0 / 150.0;
  double fast_motions_per_frame = 1.0 / 150.0;

  // Errors common to all trackers (appearance changes, distractors): the
  // amplitude of each of the oscillations (periods 20-120 frames) of the
  // shared centre offset, in object sizes, and of the shared log-size error.
  // Occlusions add a pull of 0.2-0.5 object sizes (times their severity).
  // Each tracker takes these times its susceptibility.
  double shared_error = 0.25;

  // Frames reported as skipped (0) after a failure (2) before the
  // re-initialisation (1); VOT re-initialises 5 frames after a failure.
  int skipped_frames_after_failure = 4;

  // Returns false and explains in *error when an option is unusable.
  bool IsValid(std::string* error) const;
};

// The parameter group of a simulated tracker that is doubled (or tripled)
// with respect to its quality.
enum class TrackerWeakness {
  kJitter,   // centre and size noise
  kScale,    // scale bias, slow scale adaptation
  kDrift,    // drift rate
  kFragile,  // hazard and vulnerability to events
};
// "jitter", "scale", "drift", "fragile"; StringToTrackerWeakness returns false
// for any other name.
const char* TrackerWeaknessToString(TrackerWeakness weakness);
bool StringToTrackerWeakness(const std::string& name, TrackerWeakness* weakness);

// The character of one simulated tracker (see the README).
struct SyntheticTracker {
  std::string name;
  TrackerWeakness weakness = TrackerWeakness::kJitter;
  // In (0, 1); interpolates every parameter between a bad and a good value.
  double quality = 0.0;
  double jitter = 0.0;                     // centre noise std / sqrt(w h)
  double size_jitter = 0.0;                // log-size noise std
  double scale_bias = 0.0;                 // log-size bias
  double aspect_bias = 0.0;                // log-aspect bias
  double scale_adaptation = 0.0;           // per-frame rate towards the true size
  double motion_lag = 0.0;                 // frames of lag behind the motion
  double drift_rate = 0.0;                 // drift per frame since init / sqrt(w h)
  double hazard = 0.0;                     // per-frame probability of getting lost
  double occlusion_vulnerability = 0.0;    // P(lost) in a full-severity occlusion
  double fast_motion_vulnerability = 0.0;  // P(lost) in a full-severity fast motion
  double susceptibility = 0.0;             // share of the common error taken
  double jump_probability = 0.0;           // P(a loss jumps to the background)
  double runaway_probability = 0.0;        // P(a loss grows the box); else freezes
};

struct HardEvent {
  enum class Type { kOcclusion, kFastMotion };
  Type type = Type::kOcclusion;
  int sequence = 0;
  int first_frame = 0;
  int num_frames = 0;
  double severity = 0.0;  // in (0, 1]; scales the trackers' vulnerability
};
const char* HardEventTypeToString(HardEvent::Type type);

struct SyntheticDataset {
  Dataset dataset;
  std::vector<SyntheticTracker> trackers;  // as dataset.tracker_names
  std::vector<HardEvent> events;
};

ceres_wiberg::Status GenerateSyntheticDataset(const SyntheticTrackingOptions& options,
                                              SyntheticDataset* synthetic);

}  // namespace tracker_fusion

#endif  // CERES_WIBERG_EXAMPLES_TRACKER_FUSION_SYNTHETIC_TRACKING_H_
