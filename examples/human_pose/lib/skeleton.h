// The 17-joint Human3.6M skeleton of pose_data.h: joint names, the kinematic
// tree, the left/right mirror map and the joint subsets of the protocols.
#ifndef CERES_WIBERG_EXAMPLES_HUMAN_POSE_SKELETON_H_
#define CERES_WIBERG_EXAMPLES_HUMAN_POSE_SKELETON_H_

#include <utility>
#include <vector>

#include "pose_data.h"

namespace human_pose {

// Human3.6M's names: "Hip", "RHip", "RKnee", "RFoot", "LHip", "LKnee",
// "LFoot", "Spine", "Thorax", "Neck/Nose", "Head", "LShoulder", "LElbow",
// "LWrist", "RShoulder", "RElbow", "RWrist". joint in [0, kNumJoints).
const char* JointName(int joint);

// The parent in the kinematic tree rooted at kHip; -1 for kHip.
int Parent(int joint);

// The 16 bones as (parent, child) pairs, ordered by child.
const std::vector<std::pair<int, int>>& Bones();

// The joint with left and right exchanged (itself on the midline).
int MirrorJoint(int joint);

// The 16 joints a 2D detector gives: all but kSpine.
const std::vector<int>& DetectedJoints();

// The 14 joints of protocol 3 (P3): the 14-joint LSP skeleton within the 17
// joints — ankles, knees, hips, wrists, elbows, shoulders, thorax (the neck
// base) and head — i.e. all but the three midline joints with no LSP
// counterpart: kHip (pelvis, the root), kSpine (the chest, which the detector
// does not give) and kNeck (neck/nose).
const std::vector<int>& P3Joints();

// Distance (mm) from joint to Parent(joint); 0 for the root.
double BoneLength(const Pose& pose, int joint);

// The pose with left and right labels exchanged (columns permuted).
Pose MirrorLabels(const Pose& pose);

}  // namespace human_pose

#endif  // CERES_WIBERG_EXAMPLES_HUMAN_POSE_SKELETON_H_
