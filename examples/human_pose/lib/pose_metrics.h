// 3D pose errors of the Human3.6M protocols used in the paper (supplementary
// section 4, Table 1): P1 is the mean per-joint position error after aligning
// the root joints; P2 and P3 first align the estimate to the ground truth by
// Procrustes analysis (a similarity: rotation, translation and scale), P2 on
// all 17 joints, P3 on the 14 joints of P3Joints(). The paper does not state
// more; these are the common Human3.6M definitions (Martinez et al. 2017):
// errors are Euclidean distances in mm averaged over the joints, the
// similarity is the least-squares one (Umeyama 1991) fitted on the same joints
// that are averaged, and the rotation is proper (no reflection).
#ifndef CERES_WIBERG_EXAMPLES_HUMAN_POSE_POSE_METRICS_H_
#define CERES_WIBERG_EXAMPLES_HUMAN_POSE_POSE_METRICS_H_

#include <vector>

#include "pose_data.h"

namespace human_pose {

// Mean over the 17 joints of |(e_j - e_root) - (t_j - t_root)|, mm.
double P1(const Pose& estimate, const Pose& truth);

// Mean over the 17 joints of |a_j - t_j|, mm, with a = ProcrustesAlign(
// estimate, truth, all 17 joints).
double P2(const Pose& estimate, const Pose& truth);

// Mean over the 14 joints of P3Joints() of |a_j - t_j|, mm, with
// a = ProcrustesAlign(estimate, truth, P3Joints()).
double P3(const Pose& estimate, const Pose& truth);

// The estimate mapped by the similarity x -> s R x + t (R a rotation,
// det R = +1, s >= 0) minimising sum over `joints` of |s R e_j + t - t_j|^2;
// every column of the estimate is mapped. With fewer than 2 distinct estimate
// points among `joints` the scale is 0 and every joint maps to the centroid of
// the truth's `joints`. `joints` must be non-empty, each in [0, kNumJoints).
Pose ProcrustesAlign(const Pose& estimate, const Pose& truth, const std::vector<int>& joints);

// Mean over `joints` of |a_j - b_j|, mm (no alignment).
double MeanJointError(const Pose& a, const Pose& b, const std::vector<int>& joints);

}  // namespace human_pose

#endif  // CERES_WIBERG_EXAMPLES_HUMAN_POSE_POSE_METRICS_H_
