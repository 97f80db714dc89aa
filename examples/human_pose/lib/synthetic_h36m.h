// A seeded synthetic Human3.6M-like data set, in place of Human3.6M, which
// cannot be downloaded here: 17-joint poses of subjects with their own bone
// lengths, the 15 Human3.6M actions driven by joint angles and forward
// kinematics, a global position and heading wandering in the room, 4
// calibrated perspective cameras placed like Human3.6M's, and 2D detections
// with the errors of a 16-joint detector (pixel noise that differs per joint,
// missed joints, single-joint outliers, left/right label swaps; kSpine never
// detected). The model and its defaults are documented in
// examples/human_pose/DATA.md.
#ifndef CERES_WIBERG_EXAMPLES_HUMAN_POSE_SYNTHETIC_H36M_H_
#define CERES_WIBERG_EXAMPLES_HUMAN_POSE_SYNTHETIC_H36M_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "ceres_wiberg/status.h"
#include "pose_data.h"

namespace human_pose {

struct SyntheticH36MOptions {
  // Everything is a function of the seed and the options below; the same
  // options give bit-identical data on every standard library. Each
  // (subject, action, sequence) has its own random streams, so a sequence
  // does not depend on which other subjects are generated, and the ground
  // truth does not depend on the detection-error options.
  uint64_t seed = 1;
  int sequences_per_action = 2;  // per subject
  int frames_per_sequence = 20;
  // Seconds between frames: Human3.6M's 50 Hz sampled one frame in 5, as in
  // the paper's data.
  double frame_period = 0.1;

  // 2D detection errors. The per-joint factors (DATA.md) have a root mean
  // square of 1 over the 16 detected joints, so these are the averages.
  double pixel_noise = 4.0;         // std of 2D detection noise, pixels
  double miss_probability = 0.05;   // per joint and view: joint not detected
  double swap_probability = 0.05;   // per view and frame: left/right labels swapped
  // Per joint and view: the detection lands far from the joint, displaced by
  // a 2D normal of std outlier_pixels (a gross error of a single joint).
  double outlier_probability = 0.02;
  double outlier_pixels = 60.0;

  // The root stays within this distance (mm) of the capture volume centre.
  // At the default every camera sees the whole body (checked on seeds 1-6);
  // up to the maximum of 1500, joints may leave an image and are then missed.
  double room_radius = 1000.0;

  // Returns false and explains in *error when an option is unusable.
  bool IsValid(std::string* error) const;
};

// The 15 Human3.6M actions in Human3.6M order: Directions, Discussion,
// Eating, Greeting, Phoning, Photo, Posing, Purchases, Sitting, SittingDown,
// Smoking, Waiting, WalkDog, Walking, WalkTogether.
const std::vector<std::string>& ActionNames();
// Index into ActionNames() of `name`, or -1.
int ActionIndex(const std::string& name);

const std::vector<int>& TrainSubjects();  // 1, 5, 6, 7, 8
const std::vector<int>& TestSubjects();   // 9, 11

// 4 cameras placed like Human3.6M's (positions, focal lengths and principal
// points close to its calibration), looking at the capture volume centre
// (0, 0, 900) mm; 1000 x 1000 images.
std::vector<Camera> H36MLikeCameras();

// Length (mm) of the bone from Parent(j) to j for each joint j (0 for the
// root) of a subject: deterministic in the subject number only (the same
// for every seed), left and right bones equal. Subject must be > 0.
std::array<double, kNumJoints> SubjectBoneLengths(int subject);

// Frames of every (subject, action, sequence), detections in every camera.
// Frames are ordered by subject (in the given order), action, sequence and
// frame. Subjects must be positive and distinct. Replaces *dataset.
ceres_wiberg::Status GenerateSyntheticH36M(const SyntheticH36MOptions& options,
                                           const std::vector<int>& subjects, Dataset* dataset);

}  // namespace human_pose

#endif  // CERES_WIBERG_EXAMPLES_HUMAN_POSE_SYNTHETIC_H36M_H_
