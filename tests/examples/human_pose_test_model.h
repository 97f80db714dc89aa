// Tiny pose models and cameras shared by the human-pose energy and learning
// tests: a stick figure, random PPCA components around it, four cameras.
#ifndef CERES_WIBERG_TESTS_HUMAN_POSE_TEST_MODEL_H_
#define CERES_WIBERG_TESTS_HUMAN_POSE_TEST_MODEL_H_

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "Eigen/Geometry"
#include "Eigen/QR"
#include "pose_data.h"
#include "pose_model.h"

namespace human_pose {
namespace testing {

// A stick figure in the model frame: root at the origin, z up, facing +y,
// right hip at +x (ppca_fit.h), mm.
inline Pose StickFigure() {
  Pose p;
  p << 0, 110, 110, 110, -110, -110, -110, 0, 0, 0, 0, -160, -170, -160, 160, 170, 160,  //
      0, 0, 10, 0, 0, 10, 0, 0, 0, 20, 10, 0, 30, 60, 0, 30, 60,                          //
      0, 0, -450, -900, 0, -450, -900, 230, 480, 580, 700, 450, 170, -80, 450, 170, -80;
  return p;
}

// K components: the stick figure plus a random offset, an orthonormal random
// basis (root columns zero) and variances from 2500 down to 100 mm^2. Joint
// weights are all 1, or random in [0.5, 1.5] if random_joint_weights.
inline PoseModel RandomModel(int num_components, uint32_t seed, bool random_joint_weights) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  PoseModel model;
  for (int k = 0; k < num_components; ++k) {
    PpcaComponent component;
    component.mean = StickFigure();
    for (int j = 1; j < kNumJoints; ++j) {
      for (int d = 0; d < 3; ++d) component.mean(d, j) += 30.0 * normal(rng);
    }
    Eigen::MatrixXd random(3 * (kNumJoints - 1), kNumBasis);
    for (int r = 0; r < random.rows(); ++r) {
      for (int c = 0; c < kNumBasis; ++c) random(r, c) = normal(rng);
    }
    const Eigen::MatrixXd q = random.householderQr().householderQ() *
                              Eigen::MatrixXd::Identity(random.rows(), kNumBasis);
    component.variances.resize(kNumBasis);
    for (int i = 0; i < kNumBasis; ++i) {
      Pose basis = Pose::Zero();
      for (int j = 1; j < kNumJoints; ++j) basis.col(j) = q.block<3, 1>(3 * (j - 1), i);
      component.basis.push_back(basis);
      component.variances[i] = 2500.0 * std::pow(0.04, i / (kNumBasis - 1.0));
    }
    model.components.push_back(component);
  }
  if (random_joint_weights) {
    for (int j = 0; j < kNumJoints; ++j) {
      for (int d = 0; d < 2; ++d) model.weights.joint_weights(d, j) = 0.5 + uniform(rng);
    }
  }
  model.weights.loss_scale = 8.0;
  model.weights.prior_weight = 1.0;
  return model;
}

// Four cameras 4.5 m from the origin at 45 + 90 m degrees, 1.5 m up, looking
// at (0, 0, 900): camera z forward, x right, y down.
inline std::vector<Camera> TestCameras() {
  std::vector<Camera> cameras;
  for (int m = 0; m < 4; ++m) {
    const double angle = M_PI / 4 + m * M_PI / 2;
    Camera camera;
    camera.name = "camera" + std::to_string(m);
    camera.position = Eigen::Vector3d(4500 * std::cos(angle), 4500 * std::sin(angle), 1500);
    const Eigen::Vector3d forward = (Eigen::Vector3d(0, 0, 900) - camera.position).normalized();
    const Eigen::Vector3d right = forward.cross(Eigen::Vector3d::UnitZ()).normalized();
    camera.rotation.row(0) = right.transpose();
    camera.rotation.row(1) = forward.cross(right).transpose();
    camera.rotation.row(2) = forward.transpose();
    cameras.push_back(camera);
  }
  return cameras;
}

}  // namespace testing
}  // namespace human_pose

#endif  // CERES_WIBERG_TESTS_HUMAN_POSE_TEST_MODEL_H_
