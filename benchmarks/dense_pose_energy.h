// The dense benchmark family's energy (see dense_pose_benchmark.cc for the
// model): a pose-like problem with n_y = 60 and any n_w up to 6,600, shared by
// the benchmark and the instruction-count driver dense_pose_instructions.cc.
#ifndef CERES_WIBERG_BENCHMARKS_DENSE_POSE_ENERGY_H_
#define CERES_WIBERG_BENCHMARKS_DENSE_POSE_ENERGY_H_

#include <cstdio>
#include <memory>
#include <random>
#include <vector>

#include "Eigen/Core"
#include "Eigen/Geometry"
#include "ceres/ceres.h"
#include "ceres_wiberg/bilevel_problem.h"
#include "ceres_wiberg/minimiser_derivative_checker.h"

namespace ceres_wiberg {
namespace dense_pose {

constexpr int kLandmarks = 40;
constexpr int kCameras = 3;
constexpr int kBasis = 54;
constexpr int kModelSize = 3 * (kBasis + 1);  // per landmark: mean + basis
constexpr double kSigma = 0.01;               // detection noise
constexpr double kOutlierFraction = 0.1;


// S(q) P = (q0^2 - |v|^2) P + 2 (v . P) v + 2 q0 (v x P) = |q|^2 R(q / |q|) P
// for q = (q0, v) in Ceres' (w, x, y, z) order: a quadratic, so its
// derivatives are simple and it is smooth off the unit sphere.
inline Eigen::Matrix3d ScaledRotation(const double* q) {
  const double w = q[0], x = q[1], y = q[2], z = q[3];
  Eigen::Matrix3d S;
  S << w * w + x * x - y * y - z * z, 2 * (x * y - w * z), 2 * (x * z + w * y),
      2 * (x * y + w * z), w * w - x * x + y * y - z * z, 2 * (y * z - w * x),
      2 * (x * z - w * y), 2 * (y * z + w * x), w * w - x * x - y * y + z * z;
  return S;
}

// One landmark in one camera: r = (Pi (S(q) P(a) + t) - d) / sigma.
// Parameter blocks: q (4), t (3), a (B) and, if num_learnable > 0, the first
// num_learnable entries of this landmark's model theta (the rest are fixed).
class LandmarkCost final : public ceres::CostFunction {
 public:
  LandmarkCost(const Eigen::Matrix<double, 2, 3>& camera, const Eigen::Vector2d& detection,
               const std::vector<double>& model, int num_learnable)
      : camera_(camera / kSigma),
        detection_(detection / kSigma),
        model_(model),
        num_learnable_(num_learnable) {
    set_num_residuals(2);
    mutable_parameter_block_sizes()->assign({4, 3, kBasis});
    if (num_learnable_ > 0) mutable_parameter_block_sizes()->push_back(num_learnable_);
  }

  bool Evaluate(double const* const* parameters, double* residuals,
                double** jacobians) const override {
    const double* q = parameters[0];
    const Eigen::Map<const Eigen::Vector3d> t(parameters[1]);
    const double* a = parameters[2];
    const double* learnable = num_learnable_ > 0 ? parameters[3] : nullptr;
    auto theta = [&](int k) { return k < num_learnable_ ? learnable[k] : model_[k]; };

    Eigen::Vector3d P(theta(0), theta(1), theta(2));
    for (int b = 0; b < kBasis; ++b) {
      const int k = 3 * (b + 1);
      P += a[b] * Eigen::Vector3d(theta(k), theta(k + 1), theta(k + 2));
    }
    const Eigen::Matrix3d S = ScaledRotation(q);
    Eigen::Map<Eigen::Vector2d> r(residuals);
    r = camera_ * (S * P + t) - detection_;
    if (jacobians == nullptr) return true;

    if (jacobians[0] != nullptr) {
      const double q0 = q[0];
      const Eigen::Vector3d v(q[1], q[2], q[3]);
      Eigen::Matrix<double, 3, 4> dX_dq;
      dX_dq.col(0) = 2.0 * q0 * P + 2.0 * v.cross(P);
      for (int i = 0; i < 3; ++i) {
        const Eigen::Vector3d e = Eigen::Vector3d::Unit(i);
        dX_dq.col(i + 1) =
            -2.0 * v[i] * P + 2.0 * P[i] * v + 2.0 * v.dot(P) * e + 2.0 * q0 * e.cross(P);
      }
      Eigen::Map<Eigen::Matrix<double, 2, 4, Eigen::RowMajor>> J_q(jacobians[0]);
      J_q = camera_ * dX_dq;
    }
    if (jacobians[1] != nullptr) {
      Eigen::Map<Eigen::Matrix<double, 2, 3, Eigen::RowMajor>> J_t(jacobians[1]);
      J_t = camera_;
    }
    const Eigen::Matrix<double, 2, 3> M = camera_ * S;
    if (jacobians[2] != nullptr) {
      Eigen::Map<Eigen::Matrix<double, 2, Eigen::Dynamic, Eigen::RowMajor>> J(jacobians[2], 2,
                                                                              kBasis);
      for (int b = 0; b < kBasis; ++b) {
        const int k = 3 * (b + 1);
        J.col(b) = M * Eigen::Vector3d(theta(k), theta(k + 1), theta(k + 2));
      }
    }
    if (num_learnable_ > 0 && jacobians[3] != nullptr) {
      Eigen::Map<Eigen::Matrix<double, 2, Eigen::Dynamic, Eigen::RowMajor>> J(
          jacobians[3], 2, num_learnable_);
      for (int k = 0; k < num_learnable_; ++k) {
        const int m = k / 3;  // 0: the mean, b + 1: basis b
        J.col(k) = (m == 0 ? 1.0 : a[m - 1]) * M.col(k % 3);
      }
    }
    return true;
  }

 private:
  const Eigen::Matrix<double, 2, 3> camera_;  // divided by sigma
  const Eigen::Vector2d detection_;           // divided by sigma
  const std::vector<double> model_;
  const int num_learnable_;
};

// r = a: the shape prior 1/2 |a|^2.
class ShapePriorCost final : public ceres::CostFunction {
 public:
  ShapePriorCost() {
    set_num_residuals(kBasis);
    mutable_parameter_block_sizes()->push_back(kBasis);
  }
  bool Evaluate(double const* const* parameters, double* residuals,
                double** jacobians) const override {
    for (int b = 0; b < kBasis; ++b) residuals[b] = parameters[0][b];
    if (jacobians != nullptr && jacobians[0] != nullptr) {
      Eigen::Map<Eigen::Matrix<double, kBasis, kBasis, Eigen::RowMajor>> J(jacobians[0]);
      J.setIdentity();
    }
    return true;
  }
};

// One problem instance with its storage; built deterministically from n_w.
struct PoseProblem {
  std::vector<double> q, t, a;              // inner
  std::vector<std::vector<double>> learnable;  // one block per landmark with n_v > 0
  ceres::Problem problem;
  std::unique_ptr<BilevelProblem> bilevel;
  Eigen::VectorXd initial;  // inner values of the cold start
};

inline std::unique_ptr<PoseProblem> MakePoseProblem(int num_learnable) {
  auto out = std::make_unique<PoseProblem>();
  std::mt19937 rng(2019);
  std::normal_distribution<double> normal;
  std::uniform_real_distribution<double> uniform;

  // The true model: a mean shape of scale ~0.3 and basis shapes of
  // decreasing scale; the model in the energy (w and the fixed entries) is
  // the true one perturbed, so that there is something to learn.
  std::vector<std::vector<double>> truth(kLandmarks, std::vector<double>(kModelSize));
  std::vector<std::vector<double>> model = truth;
  for (int v = 0; v < kLandmarks; ++v) {
    for (int k = 0; k < kModelSize; ++k) {
      const int m = k / 3;
      const double scale = m == 0 ? 0.3 : 0.05 / (1.0 + (m - 1) / 6.0);
      truth[v][k] = scale * normal(rng);
      model[v][k] = truth[v][k] + 0.1 * scale * normal(rng);
    }
  }
  Eigen::VectorXd a_true(kBasis);
  for (int b = 0; b < kBasis; ++b) a_true[b] = normal(rng);
  const Eigen::Quaterniond q_true(
      Eigen::AngleAxisd(2.0, Eigen::Vector3d(normal(rng), normal(rng), normal(rng)).normalized()));
  const Eigen::Vector3d t_true(0.5 * normal(rng), 0.5 * normal(rng), 0.5 * normal(rng));

  std::vector<Eigen::Matrix<double, 2, 3>> cameras;
  for (int c = 0; c < kCameras; ++c) {
    const Eigen::Matrix3d R =
        (Eigen::AngleAxisd(0.35, Eigen::Vector3d::UnitX()) *
         Eigen::AngleAxisd(c * 1.05, Eigen::Vector3d::UnitY()))
            .toRotationMatrix();
    cameras.push_back(R.topRows<2>());
  }

  // Initial values: rotation 0.2 rad off, translation 0.1 off, a = 0.
  const Eigen::Quaterniond q_init =
      q_true * Eigen::Quaterniond(Eigen::AngleAxisd(0.2, Eigen::Vector3d(1, 1, 0).normalized()));
  out->q = {q_init.w(), q_init.x(), q_init.y(), q_init.z()};
  out->t = {t_true[0] + 0.1, t_true[1] - 0.1, t_true[2] + 0.05};
  out->a.assign(kBasis, 0.0);

  // Learnable entries dealt round-robin: landmark v gets n_v of them.
  out->learnable.resize(kLandmarks);
  std::vector<int> counts(kLandmarks, num_learnable / kLandmarks);
  for (int v = 0; v < num_learnable % kLandmarks; ++v) ++counts[v];
  for (int v = 0; v < kLandmarks; ++v) {
    out->learnable[v].assign(model[v].begin(), model[v].begin() + counts[v]);
  }

  ceres::LossFunction* loss = new ceres::SoftLOneLoss(1.0);  // shared, deleted once
  std::vector<double*> learnable_blocks;
  for (int v = 0; v < kLandmarks; ++v) {
    if (counts[v] > 0) learnable_blocks.push_back(out->learnable[v].data());
  }
  for (int c = 0; c < kCameras; ++c) {
    for (int v = 0; v < kLandmarks; ++v) {
      Eigen::Vector3d P(truth[v][0], truth[v][1], truth[v][2]);
      for (int b = 0; b < kBasis; ++b) {
        P += a_true[b] *
             Eigen::Vector3d(truth[v][3 * (b + 1)], truth[v][3 * (b + 1) + 1],
                             truth[v][3 * (b + 1) + 2]);
      }
      Eigen::Vector2d d = cameras[c] * (q_true * P + t_true);
      d += kSigma * Eigen::Vector2d(normal(rng), normal(rng));
      if (uniform(rng) < kOutlierFraction) d += 0.3 * Eigen::Vector2d(normal(rng), normal(rng));
      std::vector<double*> blocks = {out->q.data(), out->t.data(), out->a.data()};
      if (counts[v] > 0) blocks.push_back(out->learnable[v].data());
      out->problem.AddResidualBlock(new LandmarkCost(cameras[c], d, model[v], counts[v]), loss,
                                    blocks);
    }
  }
  out->problem.AddResidualBlock(new ShapePriorCost, nullptr, out->a.data());
  out->problem.SetManifold(out->q.data(), new ceres::QuaternionManifold);

  BilevelProblem::Options options;
  options.inner_parameter_blocks = {out->q.data(), out->t.data(), out->a.data()};
  const Status status =
      BilevelProblem::Create(&out->problem, learnable_blocks, options, &out->bilevel);
  if (!status.ok()) {
    std::fprintf(stderr, "BilevelProblem::Create: %s\n", status.ToString().c_str());
    return nullptr;
  }
  out->initial = out->bilevel->GetInnerValues();
  return out;
}

inline ceres::Solver::Options InnerSolverOptions() {
  ceres::Solver::Options options;
  options.linear_solver_type = ceres::DENSE_NORMAL_CHOLESKY;
  options.function_tolerance = 1e-12;
  options.gradient_tolerance = 1e-12;
  options.parameter_tolerance = 1e-12;
  options.max_num_iterations = 200;
  options.logging_type = ceres::SILENT;
  return options;
}

inline ceres::Solver::Options FiniteDifferenceSolverOptions() {
  ceres::Solver::Options options = TightSolverOptions();
  options.linear_solver_type = ceres::DENSE_NORMAL_CHOLESKY;
  return options;
}


}  // namespace dense_pose
}  // namespace ceres_wiberg

#endif  // CERES_WIBERG_BENCHMARKS_DENSE_POSE_ENERGY_H_
