// The probabilistic 3D pose model of Tome et al. (CVPR 2017) as used in
// supplementary section 4: a mixture of PPCA components and the weights of the
// reprojection energy. Plain data: fitting, reading and learning live elsewhere.
#ifndef CERES_WIBERG_EXAMPLES_HUMAN_POSE_POSE_MODEL_H_
#define CERES_WIBERG_EXAMPLES_HUMAN_POSE_POSE_MODEL_H_

#include <vector>

#include "Eigen/Core"
#include "pose_data.h"

namespace human_pose {

constexpr int kNumBasis = 25;

// One PPCA component in the model frame (z up, root joint at the origin, mm):
// pose = mean + sum_i c_i basis[i], with prior c_i ~ N(0, variances[i]).
struct PpcaComponent {
  Pose mean = Pose::Zero();
  std::vector<Pose> basis;    // kNumBasis basis poses
  Eigen::VectorXd variances;  // kNumBasis coefficient variances (> 0)
};

// The weights of the reprojection energy (hand-set in the baseline, learnt after).
struct EnergyWeights {
  Pose2D joint_weights = Pose2D::Ones();  // per-joint x and y weights
  double loss_scale = 10.0;    // pseudo-Huber scale, pixels (unused with l2)
  double prior_weight = 1.0;   // weight of the coefficient prior
};

struct PoseModel {
  std::vector<PpcaComponent> components;
  EnergyWeights weights;
};

}  // namespace human_pose

#endif  // CERES_WIBERG_EXAMPLES_HUMAN_POSE_POSE_MODEL_H_
