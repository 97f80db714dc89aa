// Data types shared by the human-pose example (supplementary section 4): the
// 17-joint Human3.6M skeleton, calibrated cameras, 2D detections and frames.
// World frame: z up, millimetres. Image frame: pixels, x right, y down.
#ifndef CERES_WIBERG_EXAMPLES_HUMAN_POSE_POSE_DATA_H_
#define CERES_WIBERG_EXAMPLES_HUMAN_POSE_POSE_DATA_H_

#include <array>
#include <string>
#include <vector>

#include "Eigen/Core"

namespace human_pose {

constexpr int kNumJoints = 17;

// The Human3.6M joint order (left/right as in Human3.6M).
enum Joint {
  kHip = 0,  // root
  kRightHip,
  kRightKnee,
  kRightFoot,
  kLeftHip,
  kLeftKnee,
  kLeftFoot,
  kSpine,  // the chest joint: the 16-joint 2D detector has no counterpart
  kThorax,
  kNeck,  // neck / nose
  kHead,
  kLeftShoulder,
  kLeftElbow,
  kLeftWrist,
  kRightShoulder,
  kRightElbow,
  kRightWrist,
};

// The joint the 2D detector does not give; always marked occluded.
constexpr int kUndetectedJoint = kSpine;

using Pose = Eigen::Matrix<double, 3, kNumJoints>;    // columns are joints, mm
using Pose2D = Eigen::Matrix<double, 2, kNumJoints>;  // columns are joints, pixels

// A calibrated pinhole camera.
struct Camera {
  std::string name;
  Eigen::Matrix3d rotation = Eigen::Matrix3d::Identity();  // world -> camera axes
  Eigen::Vector3d position = Eigen::Vector3d::Zero();      // centre in world, mm
  double focal_length = 1145.0;                            // pixels
  Eigen::Vector2d principal_point = Eigen::Vector2d(500.0, 500.0);
  int width = 1000, height = 1000;  // image size, pixels

  // Perspective projection of a world point (mm) to pixels.
  Eigen::Vector2d Project(const Eigen::Vector3d& point) const {
    const Eigen::Vector3d p = rotation * (point - position);
    return focal_length * p.head<2>() / p.z() + principal_point;
  }
};

// One camera's 2D detections of one frame.
struct Detection {
  Pose2D joints = Pose2D::Zero();  // pixels; meaningless where !visible
  std::array<bool, kNumJoints> visible{};  // false for missed joints and kSpine
  // What the generator did (for analysis only; the energy never reads it):
  // every left/right label exchanged, and the joints given a gross error.
  bool swapped = false;
  std::array<bool, kNumJoints> gross_error{};
};

// One frame of one sequence, seen by every camera.
struct Frame {
  int subject = 0;      // Human3.6M subject number (1, 5, 6, 7, 8, 9, 11)
  int action = 0;       // index into ActionNames()
  int sequence = 0;     // sequence index within (subject, action)
  int frame_index = 0;  // frame within the sequence
  Pose pose = Pose::Zero();      // ground-truth 3D joints, world frame, mm
  std::vector<Detection> views;  // one per camera, in Dataset::cameras order
};

struct Dataset {
  std::vector<Camera> cameras;
  std::vector<Frame> frames;
};

}  // namespace human_pose

#endif  // CERES_WIBERG_EXAMPLES_HUMAN_POSE_POSE_DATA_H_
