#include "skeleton.h"

#include <array>

#include "glog/logging.h"

namespace human_pose {
namespace {

void CheckJoint(int joint) {
  CHECK(joint >= 0 && joint < kNumJoints) << "joint " << joint << " is not in [0, " << kNumJoints
                                          << ")";
}

}  // namespace

const char* JointName(int joint) {
  static constexpr std::array<const char*, kNumJoints> kNames = {
      "Hip",   "RHip",      "RKnee",  "RFoot",  "LHip",      "LKnee",  "LFoot",
      "Spine", "Thorax",    "Neck/Nose", "Head", "LShoulder", "LElbow", "LWrist",
      "RShoulder", "RElbow", "RWrist"};
  CheckJoint(joint);
  return kNames[joint];
}

int Parent(int joint) {
  static constexpr std::array<int, kNumJoints> kParents = {
      -1,       kHip,   kRightHip,     kRightKnee, kHip,        kLeftHip,
      kLeftKnee, kHip,  kSpine,        kThorax,    kNeck,       kThorax,
      kLeftShoulder, kLeftElbow, kThorax, kRightShoulder, kRightElbow};
  CheckJoint(joint);
  return kParents[joint];
}

const std::vector<std::pair<int, int>>& Bones() {
  static const std::vector<std::pair<int, int>> bones = [] {
    std::vector<std::pair<int, int>> b;
    for (int j = 1; j < kNumJoints; ++j) b.emplace_back(Parent(j), j);
    return b;
  }();
  return bones;
}

int MirrorJoint(int joint) {
  static constexpr std::array<int, kNumJoints> kMirror = {
      kHip,      kLeftHip,  kLeftKnee,      kLeftFoot,   kRightHip,   kRightKnee,
      kRightFoot, kSpine,   kThorax,        kNeck,       kHead,       kRightShoulder,
      kRightElbow, kRightWrist, kLeftShoulder, kLeftElbow, kLeftWrist};
  CheckJoint(joint);
  return kMirror[joint];
}

const std::vector<int>& DetectedJoints() {
  static const std::vector<int> joints = [] {
    std::vector<int> j;
    for (int i = 0; i < kNumJoints; ++i) {
      if (i != kUndetectedJoint) j.push_back(i);
    }
    return j;
  }();
  return joints;
}

const std::vector<int>& P3Joints() {
  static const std::vector<int> joints = {
      kRightHip,    kRightKnee, kRightFoot, kLeftHip,       kLeftKnee,   kLeftFoot,  kThorax,
      kHead,        kLeftShoulder, kLeftElbow, kLeftWrist, kRightShoulder, kRightElbow, kRightWrist};
  return joints;
}

double BoneLength(const Pose& pose, int joint) {
  const int parent = Parent(joint);
  if (parent < 0) return 0.0;
  return (pose.col(joint) - pose.col(parent)).norm();
}

Pose MirrorLabels(const Pose& pose) {
  Pose mirrored;
  for (int j = 0; j < kNumJoints; ++j) mirrored.col(j) = pose.col(MirrorJoint(j));
  return mirrored;
}

}  // namespace human_pose
