#include "synthetic_tracking.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <utility>

#include "boxes.h"
#include "ceres_wiberg/enum_names.h"

namespace tracker_fusion {
namespace {

using ceres_wiberg::InvalidArgumentError;
using ceres_wiberg::Status;

constexpr double kPi = 3.14159265358979323846;

// SplitMix64: derives independent stream seeds from (seed, a, b).
uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
uint64_t StreamSeed(uint64_t seed, uint64_t a, uint64_t b) {
  return Mix(Mix(Mix(seed) ^ a) ^ b);
}

// Draws built only on std::mt19937_64, whose output the standard fixes (the
// std:: distributions are implementation-defined).
class Random {
 public:
  explicit Random(uint64_t seed) : engine_(seed) {}
  // U[0, 1).
  double Uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  double Uniform(double low, double high) { return low + (high - low) * Uniform(); }
  // Uniform in {low, ..., high}.
  int UniformInt(int low, int high) {
    return low + static_cast<int>(Uniform() * static_cast<double>(high - low + 1));
  }
  bool Bernoulli(double p) { return Uniform() < p; }
  // N(0, 1) by Box-Muller.
  double Normal() {
    const double u = 1.0 - Uniform();  // (0, 1]
    return std::sqrt(-2.0 * std::log(u)) * std::cos(2.0 * kPi * Uniform());
  }
  // floor(mean + U[0, 1)): an integer with expectation `mean`.
  int StochasticRound(double mean) { return static_cast<int>(std::floor(mean + Uniform())); }

 private:
  std::mt19937_64 engine_;
};

double Lerp(double bad, double good, double quality) { return bad + (good - bad) * quality; }

// Rounds to 1e-4 pixel so that the shortest decimal written is short.
double Round4(double value) { return std::round(value * 1e4) / 1e4; }

Box RoundBox(const Box& box) {
  Box rounded;
  rounded.x = Round4(box.x);
  rounded.y = Round4(box.y);
  rounded.width = Round4(box.width);
  rounded.height = Round4(box.height);
  return rounded;
}

Box CentredBox(double cx, double cy, double width, double height) {
  return BoxFromCorners(cx - 0.5 * width, cy - 0.5 * height, cx + 0.5 * width,
                        cy + 0.5 * height);
}

// Clips to the image; an empty intersection gives a zero-size box.
Box ClipBox(const Box& box, double image_width, double image_height) {
  const double x0 = std::clamp(box.x, 0.0, image_width);
  const double y0 = std::clamp(box.y, 0.0, image_height);
  const double x1 = std::clamp(box.right(), x0, image_width);
  const double y1 = std::clamp(box.bottom(), y0, image_height);
  return BoxFromCorners(x0, y0, x1, y1);
}

struct Sinusoid {
  double amplitude = 0.0;
  double period = 1.0;
  double phase = 0.0;
  double operator()(int frame) const {
    return amplitude * std::sin(2.0 * kPi * frame / period + phase);
  }
};

Sinusoid RandomSinusoid(Random* random, double max_amplitude, double min_period,
                        double max_period) {
  Sinusoid s;
  s.amplitude = random->Uniform(0.0, max_amplitude);
  s.period = random->Uniform(min_period, max_period);
  s.phase = random->Uniform(0.0, 2.0 * kPi);
  return s;
}

double SmoothStep(double t) {
  t = std::clamp(t, 0.0, 1.0);
  return t * t * (3.0 - 2.0 * t);
}

// The error common to all trackers on one frame (appearance changes and
// distractors mislead them alike), in object sizes and log-size; each tracker
// takes it times its susceptibility.
struct SharedError {
  double dx = 0.0;
  double dy = 0.0;
  double log_scale = 0.0;
};

// The ground truth of sequence `index`, its hard events and shared errors.
void GenerateGroundTruth(const SyntheticTrackingOptions& options, int index,
                         std::vector<Box>* groundtruth, std::vector<HardEvent>* events,
                         std::vector<SharedError>* shared) {
  Random random(StreamSeed(options.seed, 1, static_cast<uint64_t>(index)));
  const int n = options.num_frames;
  const double W = options.image_width, H = options.image_height;
  const double width0 = random.Uniform(options.min_object_width, options.max_object_width);
  const double aspect0 =
      std::exp(random.Uniform(-std::log(options.max_aspect), std::log(options.max_aspect)));
  const double height0 = width0 * aspect0;
  const double size0 = std::sqrt(width0 * height0);
  const Sinusoid scale[2] = {RandomSinusoid(&random, 0.5 * options.scale_amplitude, 60, 300),
                             RandomSinusoid(&random, 0.5 * options.scale_amplitude, 60, 300)};
  const Sinusoid aspect = RandomSinusoid(&random, options.aspect_amplitude, 80, 300);
  const Sinusoid motion_x[2] = {RandomSinusoid(&random, 0.15 * W, 80, 400),
                                RandomSinusoid(&random, 0.15 * W, 80, 400)};
  const Sinusoid motion_y[2] = {RandomSinusoid(&random, 0.15 * H, 80, 400),
                                RandomSinusoid(&random, 0.15 * H, 80, 400)};
  auto base_x = [&](int f) { return 0.5 * W + motion_x[0](f) + motion_x[1](f); };
  auto base_y = [&](int f) { return 0.5 * H + motion_y[0](f) + motion_y[1](f); };

  // Fast motions: a displacement of 1.5-3 object sizes in 4-10 frames,
  // towards a random point of the central part of the image; it persists.
  struct Jump {
    int onset, duration;
    double dx, dy;
  };
  std::vector<Jump> jumps;
  const int num_fast = random.StochasticRound(options.fast_motions_per_frame * n);
  std::vector<int> onsets;
  for (int i = 0; i < num_fast; ++i) onsets.push_back(random.UniformInt(10, n - 20));
  std::sort(onsets.begin(), onsets.end());
  auto offset = [&](int f, double* ox, double* oy) {
    *ox = *oy = 0.0;
    for (const Jump& jump : jumps) {
      const double s = SmoothStep(static_cast<double>(f - jump.onset) / jump.duration);
      *ox += s * jump.dx;
      *oy += s * jump.dy;
    }
  };
  for (int onset : onsets) {
    Jump jump;
    jump.onset = onset;
    jump.duration = random.UniformInt(4, 10);
    const double distance = random.Uniform(1.5, 3.0) * size0;
    const double target_x = random.Uniform(0.2 * W, 0.8 * W);
    const double target_y = random.Uniform(0.2 * H, 0.8 * H);
    double ox, oy;
    offset(onset, &ox, &oy);
    const double vx = target_x - (base_x(onset) + ox), vy = target_y - (base_y(onset) + oy);
    const double norm = std::max(std::hypot(vx, vy), 1e-9);
    jump.dx = distance * vx / norm;
    jump.dy = distance * vy / norm;
    jumps.push_back(jump);
    HardEvent event;
    event.type = HardEvent::Type::kFastMotion;
    event.sequence = index;
    event.first_frame = onset;
    event.num_frames = jump.duration;
    event.severity = random.Uniform(0.6, 1.0);
    events->push_back(event);
  }

  // Occlusions: 8-30 frames.
  const int num_occlusions = random.StochasticRound(options.occlusions_per_frame * n);
  for (int i = 0; i < num_occlusions; ++i) {
    HardEvent event;
    event.type = HardEvent::Type::kOcclusion;
    event.sequence = index;
    event.first_frame = random.UniformInt(10, n - 10);
    event.num_frames = std::min(random.UniformInt(8, 30), n - event.first_frame);
    event.severity = random.Uniform(0.5, 1.0);
    events->push_back(event);
  }

  // Shared errors: slow oscillations, plus a pull of 0.2-0.5 object sizes
  // towards a random side during each occlusion.
  const Sinusoid shared_x[2] = {RandomSinusoid(&random, options.shared_error, 20, 120),
                                RandomSinusoid(&random, options.shared_error, 20, 120)};
  const Sinusoid shared_y[2] = {RandomSinusoid(&random, options.shared_error, 20, 120),
                                RandomSinusoid(&random, options.shared_error, 20, 120)};
  const Sinusoid shared_scale = RandomSinusoid(&random, options.shared_error, 20, 120);
  shared->assign(n, SharedError());
  for (int f = 0; f < n; ++f) {
    (*shared)[f].dx = shared_x[0](f) + shared_x[1](f);
    (*shared)[f].dy = shared_y[0](f) + shared_y[1](f);
    (*shared)[f].log_scale = shared_scale(f);
  }
  for (const HardEvent& event : *events) {
    if (event.type != HardEvent::Type::kOcclusion) continue;
    const double angle = random.Uniform(0.0, 2.0 * kPi);
    const double pull = random.Uniform(0.2, 0.5) * event.severity;
    for (int f = event.first_frame; f < event.first_frame + event.num_frames; ++f) {
      (*shared)[f].dx += pull * std::cos(angle);
      (*shared)[f].dy += pull * std::sin(angle);
    }
  }

  groundtruth->resize(n);
  for (int f = 0; f < n; ++f) {
    const double log_scale = scale[0](f) + scale[1](f);
    const double log_aspect = aspect(f);
    const double width = std::min(width0 * std::exp(log_scale - 0.5 * log_aspect), 0.5 * W);
    const double height = std::min(height0 * std::exp(log_scale + 0.5 * log_aspect), 0.5 * H);
    double ox, oy;
    offset(f, &ox, &oy);
    const double cx = std::clamp(base_x(f) + ox, 0.5 * width + 1.0, W - 0.5 * width - 1.0);
    const double cy = std::clamp(base_y(f) + oy, 0.5 * height + 1.0, H - 0.5 * height - 1.0);
    (*groundtruth)[f] = RoundBox(CentredBox(cx, cy, width, height));
  }
}

constexpr TrackerWeakness kWeaknesses[] = {TrackerWeakness::kJitter, TrackerWeakness::kScale,
                                           TrackerWeakness::kDrift, TrackerWeakness::kFragile};

std::vector<SyntheticTracker> GenerateTrackers(const SyntheticTrackingOptions& options) {
  Random random(StreamSeed(options.seed, 2, 0));
  const int n = options.num_trackers;
  // Qualities evenly spread over (0, 1), in random order.
  std::vector<int> rank(n);
  for (int t = 0; t < n; ++t) rank[t] = t;
  for (int t = n - 1; t > 0; --t) std::swap(rank[t], rank[random.UniformInt(0, t)]);
  std::vector<SyntheticTracker> trackers(n);
  for (int t = 0; t < n; ++t) {
    SyntheticTracker& k = trackers[t];
    k.weakness = kWeaknesses[t % 4];
    char name[64];
    std::snprintf(name, sizeof(name), "t%02d_%s", t, TrackerWeaknessToString(k.weakness));
    k.name = name;
    const double q = (rank[t] + 0.5) / n;
    k.quality = q;
    auto noisy = [&](double value) { return value * std::exp(0.2 * random.Normal()); };
    k.jitter = noisy(Lerp(0.10, 0.02, q));
    k.size_jitter = noisy(Lerp(0.08, 0.02, q));
    k.scale_bias = (random.Bernoulli(0.5) ? 1.0 : -1.0) * noisy(Lerp(0.20, 0.03, q));
    k.aspect_bias = 0.05 * random.Normal();
    k.scale_adaptation = noisy(Lerp(0.05, 0.3, q));
    k.motion_lag = noisy(Lerp(1.5, 0.3, q));
    k.drift_rate = noisy(Lerp(0.004, 0.0005, q));
    k.hazard = noisy(Lerp(0.004, 0.0003, q));
    k.occlusion_vulnerability = std::min(1.0, noisy(Lerp(0.9, 0.2, q)));
    k.fast_motion_vulnerability = std::min(1.0, noisy(Lerp(0.9, 0.2, q)));
    k.susceptibility = noisy(Lerp(1.0, 0.4, q));
    k.jump_probability = random.Uniform(0.2, 0.6);
    k.runaway_probability = random.Uniform(0.0, 0.3);
    switch (k.weakness) {
      case TrackerWeakness::kJitter:
        k.jitter *= 2.0;
        k.size_jitter *= 2.0;
        break;
      case TrackerWeakness::kScale:
        k.scale_bias *= 2.0;
        k.scale_adaptation *= 0.2;
        break;
      case TrackerWeakness::kDrift:
        k.drift_rate *= 3.0;
        break;
      case TrackerWeakness::kFragile:
        k.hazard *= 3.0;
        k.occlusion_vulnerability = std::min(1.0, 1.5 * k.occlusion_vulnerability);
        k.fast_motion_vulnerability = std::min(1.0, 1.5 * k.fast_motion_vulnerability);
        break;
    }
  }
  return trackers;
}

// Runs `tracker` on one sequence under the VOT supervised protocol.
std::vector<TrackerFrame> RunTracker(const SyntheticTrackingOptions& options,
                                     const SyntheticTracker& tracker, int tracker_index,
                                     int sequence_index, const std::vector<Box>& groundtruth,
                                     const std::vector<HardEvent>& events,
                                     const std::vector<SharedError>& shared) {
  Random random(StreamSeed(StreamSeed(options.seed, 3, static_cast<uint64_t>(sequence_index)),
                           4, static_cast<uint64_t>(tracker_index)));
  const int n = static_cast<int>(groundtruth.size());
  const double W = options.image_width, H = options.image_height;

  // Per frame: jitter factor of occlusions, and whether an event makes this
  // tracker lost (decided up front, 0-2 frames after the event's onset).
  std::vector<double> occlusion(n, 0.0);
  std::vector<bool> event_loss(n, false);
  for (const HardEvent& event : events) {
    const bool occluding = event.type == HardEvent::Type::kOcclusion;
    const double vulnerability =
        occluding ? tracker.occlusion_vulnerability : tracker.fast_motion_vulnerability;
    const bool lost = random.Bernoulli(vulnerability * event.severity);
    const int frame = event.first_frame + random.UniformInt(0, 2);
    if (lost && frame < n) event_loss[frame] = true;
    if (occluding) {
      for (int f = event.first_frame; f < std::min(n, event.first_frame + event.num_frames); ++f) {
        occlusion[f] = std::max(occlusion[f], event.severity);
      }
    }
  }

  enum class Mode { kTracking, kFrozen, kRunaway, kDown };
  Mode mode = Mode::kDown;
  int next_initialisation = 0;
  int initialisation_frame = 0;
  double log_width = 0.0, log_height = 0.0, drift_angle = 0.0;
  Box last_box;
  std::vector<TrackerFrame> frames(n);
  for (int f = 0; f < n; ++f) {
    const Box& truth = groundtruth[f];
    TrackerFrame& out = frames[f];
    if (f == next_initialisation) {
      out.status = FrameStatus::kInitialised;
      mode = Mode::kTracking;
      initialisation_frame = f;
      log_width = std::log(truth.width);
      log_height = std::log(truth.height);
      drift_angle = random.Uniform(0.0, 2.0 * kPi);
      last_box = truth;
      continue;
    }
    if (mode == Mode::kDown) {
      out.status = FrameStatus::kSkipped;
      continue;
    }
    if (mode == Mode::kTracking && (event_loss[f] || random.Bernoulli(tracker.hazard))) {
      const double u = random.Uniform();
      if (u < tracker.jump_probability) {
        // Jumps to a background patch of its current size, then stays there.
        const double x = random.Uniform(0.0, std::max(0.0, W - last_box.width));
        const double y = random.Uniform(0.0, std::max(0.0, H - last_box.height));
        last_box.x = x;
        last_box.y = y;
        mode = Mode::kFrozen;
      } else if (u < tracker.jump_probability + tracker.runaway_probability) {
        mode = Mode::kRunaway;
      } else {
        mode = Mode::kFrozen;
      }
    }
    Box box;
    if (mode == Mode::kTracking) {
      const Box& previous = groundtruth[f - 1];
      const double cx = truth.x + 0.5 * truth.width, cy = truth.y + 0.5 * truth.height;
      const double vx = cx - (previous.x + 0.5 * previous.width);
      const double vy = cy - (previous.y + 0.5 * previous.height);
      const double log_aspect_bias = 0.5 * tracker.aspect_bias;
      log_width += tracker.scale_adaptation *
                   (std::log(truth.width) + tracker.scale_bias - log_aspect_bias - log_width);
      log_height += tracker.scale_adaptation *
                    (std::log(truth.height) + tracker.scale_bias + log_aspect_bias - log_height);
      const SharedError& common = shared[f];
      const double log_common = tracker.susceptibility * common.log_scale;
      const double width =
          std::exp(log_width + log_common + tracker.size_jitter * random.Normal());
      const double height =
          std::exp(log_height + log_common + tracker.size_jitter * random.Normal());
      const double size = std::sqrt(truth.width * truth.height);
      drift_angle += 0.1 * random.Normal();
      const double drift = tracker.drift_rate * (f - initialisation_frame) * size;
      const double jitter = tracker.jitter * (1.0 + 2.0 * occlusion[f]) * size;
      const double x = cx - tracker.motion_lag * vx + drift * std::cos(drift_angle) +
                       tracker.susceptibility * common.dx * size + jitter * random.Normal();
      const double y = cy - tracker.motion_lag * vy + drift * std::sin(drift_angle) +
                       tracker.susceptibility * common.dy * size + jitter * random.Normal();
      box = CentredBox(x, y, width, height);
    } else if (mode == Mode::kRunaway) {
      // Grows by 6% a frame about its centre.
      box = CentredBox(last_box.x + 0.5 * last_box.width, last_box.y + 0.5 * last_box.height,
                       1.06 * last_box.width, 1.06 * last_box.height);
    } else {
      box = last_box;
    }
    box = RoundBox(ClipBox(box, W, H));
    last_box = box;
    if (IoU(box, truth) > 0.0) {
      out.status = FrameStatus::kBox;
      out.box = box;
    } else {
      out.status = FrameStatus::kFailed;
      mode = Mode::kDown;
      next_initialisation = f + options.skipped_frames_after_failure + 1;
    }
  }
  AssignFramesSinceInitialisation(&frames);
  return frames;
}

}  // namespace

const char* TrackerWeaknessToString(TrackerWeakness weakness) {
  switch (weakness) {
    case TrackerWeakness::kJitter:
      return "jitter";
    case TrackerWeakness::kScale:
      return "scale";
    case TrackerWeakness::kDrift:
      return "drift";
    case TrackerWeakness::kFragile:
      return "fragile";
  }
  return "unknown";
}

bool StringToTrackerWeakness(const std::string& name, TrackerWeakness* weakness) {
  return ceres_wiberg::StringToEnum(name,
                                {TrackerWeakness::kJitter, TrackerWeakness::kScale,
                                 TrackerWeakness::kDrift, TrackerWeakness::kFragile},
                                TrackerWeaknessToString, weakness);
}

bool SyntheticTrackingOptions::IsValid(std::string* error) const {
  auto fail = [error](const std::string& message) {
    if (error != nullptr) *error = message;
    return false;
  };
  if (num_sequences < 1) return fail("num_sequences must be >= 1");
  if (num_frames < 40) return fail("num_frames must be >= 40");
  if (num_trackers < 1 || num_trackers > 100) return fail("num_trackers must be in [1, 100]");
  if (!(image_width >= 64.0 && image_height >= 64.0)) {
    return fail("image_width and image_height must be >= 64");
  }
  if (!(max_aspect >= 1.0)) return fail("max_aspect must be >= 1");
  if (!(min_object_width >= 4.0 && max_object_width >= min_object_width &&
        max_object_width <= 0.25 * image_width &&
        max_object_width * max_aspect <= 0.5 * image_height)) {
    return fail(
        "need 4 <= min_object_width <= max_object_width <= image_width / 4 and "
        "max_object_width * max_aspect <= image_height / 2");
  }
  if (!(scale_amplitude >= 0.0 && scale_amplitude <= 1.0)) {
    return fail("scale_amplitude must be in [0, 1]");
  }
  if (!(aspect_amplitude >= 0.0 && aspect_amplitude <= 1.0)) {
    return fail("aspect_amplitude must be in [0, 1]");
  }
  if (!(occlusions_per_frame >= 0.0 && occlusions_per_frame <= 0.1 &&
        fast_motions_per_frame >= 0.0 && fast_motions_per_frame <= 0.1)) {
    return fail("occlusions_per_frame and fast_motions_per_frame must be in [0, 0.1]");
  }
  if (!(shared_error >= 0.0 && shared_error <= 1.0)) return fail("shared_error must be in [0, 1]");
  if (skipped_frames_after_failure < 0) return fail("skipped_frames_after_failure must be >= 0");
  return true;
}

const char* HardEventTypeToString(HardEvent::Type type) {
  switch (type) {
    case HardEvent::Type::kOcclusion:
      return "occlusion";
    case HardEvent::Type::kFastMotion:
      return "fast_motion";
  }
  return "unknown";
}

Status GenerateSyntheticDataset(const SyntheticTrackingOptions& options,
                                SyntheticDataset* synthetic) {
  std::string error;
  if (!options.IsValid(&error)) return InvalidArgumentError(error);
  SyntheticDataset result;
  result.trackers = GenerateTrackers(options);
  for (const SyntheticTracker& tracker : result.trackers) {
    result.dataset.tracker_names.push_back(tracker.name);
  }
  result.dataset.sequences.resize(options.num_sequences);
  for (int s = 0; s < options.num_sequences; ++s) {
    Sequence& sequence = result.dataset.sequences[s];
    char name[32];
    std::snprintf(name, sizeof(name), "synthetic_%03d", s);
    sequence.name = name;
    std::vector<HardEvent> events;
    std::vector<SharedError> shared;
    GenerateGroundTruth(options, s, &sequence.groundtruth, &events, &shared);
    for (int t = 0; t < options.num_trackers; ++t) {
      sequence.tracks.push_back(
          RunTracker(options, result.trackers[t], t, s, sequence.groundtruth, events, shared));
    }
    result.events.insert(result.events.end(), events.begin(), events.end());
  }
  *synthetic = std::move(result);
  return Status::Ok();
}

}  // namespace tracker_fusion
