#include "pose_energy.h"

#include <cmath>
#include <set>
#include <utility>

#include "Eigen/Cholesky"
#include "Eigen/Eigenvalues"
#include "ceres/cost_function.h"
#include "ceres_wiberg/learnable_loss.h"
#include "glog/logging.h"

namespace human_pose {
namespace {

using ceres_wiberg::InvalidArgumentError;
using ceres_wiberg::Status;

// dR_z/dtheta, for RotationAboutZ (ppca_fit.h): R_z = [c -s 0; s c 0; 0 0 1].
Eigen::Matrix3d RotationAboutZDerivative(double theta) {
  const double c = std::cos(theta), s = std::sin(theta);
  Eigen::Matrix3d d;
  d << -s, -c, 0.0, c, -s, 0.0, 0.0, 0.0, 0.0;
  return d;
}

// What the two reprojection residuals of joint j share: parameter blocks c
// (kNumBasis), theta (1), then the camera blocks, then, if `learnable`,
// mean_j (3), b_0j ... b_{24}j (3 each) and w (2); otherwise those values are
// read from the pointers given at construction. P = mean_j + sum_i c_i b_ij.
class JointCostBase : public ceres::CostFunction {
 protected:
  JointCostBase(const std::vector<int>& camera_block_sizes, const Eigen::Vector2d& detection,
                bool learnable, const double* mean, std::array<const double*, kNumBasis> basis,
                const double* weight)
      : mean_block_(2 + static_cast<int>(camera_block_sizes.size())),
        detection_(detection),
        learnable_(learnable),
        mean_(mean),
        basis_(basis),
        weight_(weight) {
    set_num_residuals(2);
    mutable_parameter_block_sizes()->push_back(kNumBasis);
    mutable_parameter_block_sizes()->push_back(1);
    for (int size : camera_block_sizes) mutable_parameter_block_sizes()->push_back(size);
    if (learnable_) {
      mutable_parameter_block_sizes()->push_back(3);
      for (int i = 0; i < kNumBasis; ++i) mutable_parameter_block_sizes()->push_back(3);
      mutable_parameter_block_sizes()->push_back(2);
    }
  }

  const double* Basis(double const* const* parameters, int i) const {
    return learnable_ ? parameters[mean_block_ + 1 + i] : basis_[i];
  }
  Eigen::Vector2d Weight(double const* const* parameters) const {
    const double* w = learnable_ ? parameters[mean_block_ + 1 + kNumBasis] : weight_;
    return Eigen::Vector2d(w[0], w[1]);
  }
  // P = mean_j + sum_i c_i b_ij.
  Eigen::Vector3d ModelPoint(double const* const* parameters) const {
    Eigen::Vector3d p =
        Eigen::Map<const Eigen::Vector3d>(learnable_ ? parameters[mean_block_] : mean_);
    for (int i = 0; i < kNumBasis; ++i) {
      p += parameters[0][i] * Eigen::Map<const Eigen::Vector3d>(Basis(parameters, i));
    }
    return p;
  }

  // The blocks of c and of the learnable model values, given dr/dP and the
  // unweighted error e (r = w .* e).
  void PoseJacobians(double const* const* parameters, const Eigen::Matrix<double, 2, 3>& dr_dp,
                     const Eigen::Vector2d& e, double** jacobians) const {
    if (jacobians[0] != nullptr) {
      Eigen::Map<Eigen::Matrix<double, 2, kNumBasis, Eigen::RowMajor>> j(jacobians[0]);
      for (int i = 0; i < kNumBasis; ++i) {
        j.col(i) = dr_dp * Eigen::Map<const Eigen::Vector3d>(Basis(parameters, i));
      }
    }
    if (!learnable_) return;
    if (jacobians[mean_block_] != nullptr) {
      Eigen::Map<Eigen::Matrix<double, 2, 3, Eigen::RowMajor>> j(jacobians[mean_block_]);
      j = dr_dp;
    }
    for (int i = 0; i < kNumBasis; ++i) {
      if (jacobians[mean_block_ + 1 + i] != nullptr) {
        Eigen::Map<Eigen::Matrix<double, 2, 3, Eigen::RowMajor>> j(jacobians[mean_block_ + 1 + i]);
        j = parameters[0][i] * dr_dp;
      }
    }
    if (jacobians[mean_block_ + 1 + kNumBasis] != nullptr) {
      Eigen::Map<Eigen::Matrix<double, 2, 2, Eigen::RowMajor>> j(
          jacobians[mean_block_ + 1 + kNumBasis]);
      j = e.asDiagonal();
    }
  }

  const Eigen::Vector2d& detection() const { return detection_; }

 private:
  const int mean_block_;
  const Eigen::Vector2d detection_;
  const bool learnable_;
  const double* mean_;
  const std::array<const double*, kNumBasis> basis_;
  const double* weight_;
};

// The weighted weak-perspective residual of joint j in one view:
//   r = w .* (s (R_v R_z(theta) P).head<2>() + t - d).
// Camera blocks: s (1), t (2).
class JointReprojectionCost final : public JointCostBase {
 public:
  JointReprojectionCost(const Eigen::Matrix3d& camera_rotation, const Eigen::Vector2d& detection,
                        bool learnable, const double* mean,
                        std::array<const double*, kNumBasis> basis, const double* weight)
      : JointCostBase({1, 2}, detection, learnable, mean, basis, weight),
        camera_rotation_(camera_rotation) {}

  bool Evaluate(double const* const* parameters, double* residuals,
                double** jacobians) const override {
    const double theta = parameters[1][0];
    const double s = parameters[2][0];
    const Eigen::Vector2d t(parameters[3][0], parameters[3][1]);
    const Eigen::Vector3d p = ModelPoint(parameters);
    const Eigen::Matrix<double, 2, 3> a = (camera_rotation_ * RotationAboutZ(theta)).topRows<2>();
    const Eigen::Vector2d u = a * p;
    const Eigen::Vector2d w = Weight(parameters);
    const Eigen::Vector2d e = s * u + t - detection();
    Eigen::Map<Eigen::Vector2d> r(residuals);
    r = w.cwiseProduct(e);
    if (jacobians == nullptr) return true;

    // Row-major 2 x n blocks. W s A is the Jacobian of r w.r.t. P.
    PoseJacobians(parameters, w.asDiagonal() * (s * a), e, jacobians);
    if (jacobians[1] != nullptr) {
      const Eigen::Vector2d d =
          (camera_rotation_ * RotationAboutZDerivative(theta)).topRows<2>() * p;
      Eigen::Map<Eigen::Vector2d> j(jacobians[1]);
      j = s * w.cwiseProduct(d);
    }
    if (jacobians[2] != nullptr) {
      Eigen::Map<Eigen::Vector2d> j(jacobians[2]);
      j = w.cwiseProduct(u);
    }
    if (jacobians[3] != nullptr) {
      Eigen::Map<Eigen::Matrix<double, 2, 2, Eigen::RowMajor>> j(jacobians[3]);
      j = w.asDiagonal();
    }
    return true;
  }

 private:
  const Eigen::Matrix3d camera_rotation_;
};

// The weighted pinhole residual of joint j in one calibrated view:
//   r = w .* (pi(R_v (R_z(theta) P + T - C_v)) - d),
// pi(p) = f p.head<2>() / p.z + principal point. Camera block: T (3). Fails
// (returns false) for a point less than 1 mm in front of the camera.
class PerspectiveJointCost final : public JointCostBase {
 public:
  PerspectiveJointCost(const Camera& camera, const Eigen::Vector2d& detection, bool learnable,
                       const double* mean, std::array<const double*, kNumBasis> basis,
                       const double* weight)
      : JointCostBase({3}, detection, learnable, mean, basis, weight), camera_(camera) {}

  bool Evaluate(double const* const* parameters, double* residuals,
                double** jacobians) const override {
    const double theta = parameters[1][0];
    const Eigen::Map<const Eigen::Vector3d> root(parameters[2]);
    const Eigen::Vector3d p = ModelPoint(parameters);
    const Eigen::Matrix3d rz = RotationAboutZ(theta);
    const Eigen::Vector3d q = camera_.rotation * (rz * p + root - camera_.position);
    if (!(q.z() >= 1.0)) return false;
    const double f = camera_.focal_length;
    const Eigen::Vector2d u = f * q.head<2>() / q.z() + camera_.principal_point;
    const Eigen::Vector2d w = Weight(parameters);
    const Eigen::Vector2d e = u - detection();
    Eigen::Map<Eigen::Vector2d> r(residuals);
    r = w.cwiseProduct(e);
    if (jacobians == nullptr) return true;

    // m = dr/dT = W dpi/dq R_v; dr/dP = m R_z.
    Eigen::Matrix<double, 2, 3> dpi_dq;
    dpi_dq << 1.0, 0.0, -q.x() / q.z(), 0.0, 1.0, -q.y() / q.z();
    dpi_dq *= f / q.z();
    const Eigen::Matrix<double, 2, 3> m = w.asDiagonal() * dpi_dq * camera_.rotation;
    PoseJacobians(parameters, m * rz, e, jacobians);
    if (jacobians[1] != nullptr) {
      Eigen::Map<Eigen::Vector2d> j(jacobians[1]);
      j = m * (RotationAboutZDerivative(theta) * p);
    }
    if (jacobians[2] != nullptr) {
      Eigen::Map<Eigen::Matrix<double, 2, 3, Eigen::RowMajor>> j(jacobians[2]);
      j = m;
    }
    return true;
  }

 private:
  const Camera camera_;
};

// The coefficient prior r_i = sqrt(prior_weight) c_i / sqrt(v_i). Parameter
// blocks: c and, if `learnable`, the variances v; otherwise v is read from the
// pointer given at construction. Fails (returns false) if some v_i <= 0.
class CoefficientPriorCost final : public ceres::CostFunction {
 public:
  CoefficientPriorCost(double prior_weight, bool learnable, const double* variances)
      : sqrt_prior_weight_(std::sqrt(prior_weight)), learnable_(learnable), variances_(variances) {
    set_num_residuals(kNumBasis);
    mutable_parameter_block_sizes()->push_back(kNumBasis);
    if (learnable_) mutable_parameter_block_sizes()->push_back(kNumBasis);
  }

  bool Evaluate(double const* const* parameters, double* residuals,
                double** jacobians) const override {
    const double* c = parameters[0];
    const double* v = learnable_ ? parameters[1] : variances_;
    for (int i = 0; i < kNumBasis; ++i) {
      if (!(v[i] > 0.0) || !std::isfinite(v[i])) return false;
    }
    for (int i = 0; i < kNumBasis; ++i) residuals[i] = sqrt_prior_weight_ * c[i] / std::sqrt(v[i]);
    if (jacobians == nullptr) return true;
    if (jacobians[0] != nullptr) {
      Eigen::Map<Eigen::Matrix<double, kNumBasis, kNumBasis, Eigen::RowMajor>> j(jacobians[0]);
      j.setZero();
      for (int i = 0; i < kNumBasis; ++i) j(i, i) = sqrt_prior_weight_ / std::sqrt(v[i]);
    }
    if (learnable_ && jacobians[1] != nullptr) {
      Eigen::Map<Eigen::Matrix<double, kNumBasis, kNumBasis, Eigen::RowMajor>> j(jacobians[1]);
      j.setZero();
      for (int i = 0; i < kNumBasis; ++i) {
        j(i, i) = -0.5 * sqrt_prior_weight_ * c[i] / (v[i] * std::sqrt(v[i]));
      }
    }
    return true;
  }

 private:
  const double sqrt_prior_weight_;
  const bool learnable_;
  const double* variances_;
};

bool AllFinite(const Eigen::Ref<const Eigen::MatrixXd>& m) { return m.allFinite(); }

}  // namespace

Status ValidatePoseModel(const PoseModel& model, ReprojectionLoss loss) {
  if (model.components.empty()) return InvalidArgumentError("the pose model has no components");
  for (size_t k = 0; k < model.components.size(); ++k) {
    const PpcaComponent& component = model.components[k];
    const std::string name = "component " + std::to_string(k);
    if (static_cast<int>(component.basis.size()) != kNumBasis) {
      return InvalidArgumentError(name + " has " + std::to_string(component.basis.size()) +
                                  " basis poses, expected " + std::to_string(kNumBasis));
    }
    if (component.variances.size() != kNumBasis) {
      return InvalidArgumentError(name + " has " + std::to_string(component.variances.size()) +
                                  " variances, expected " + std::to_string(kNumBasis));
    }
    if (!AllFinite(component.mean)) return InvalidArgumentError(name + ": non-finite mean pose");
    for (int i = 0; i < kNumBasis; ++i) {
      if (!AllFinite(component.basis[i])) {
        return InvalidArgumentError(name + ": non-finite basis pose " + std::to_string(i));
      }
      const double v = component.variances[i];
      if (!(v > 0.0) || !std::isfinite(v)) {
        return InvalidArgumentError(name + ": variance " + std::to_string(i) + " = " +
                                    std::to_string(v) + " is not positive and finite");
      }
    }
  }
  const EnergyWeights& weights = model.weights;
  if (!AllFinite(weights.joint_weights)) return InvalidArgumentError("non-finite joint weights");
  if (!(weights.prior_weight > 0.0) || !std::isfinite(weights.prior_weight)) {
    return InvalidArgumentError("prior_weight = " + std::to_string(weights.prior_weight) +
                                " is not positive and finite");
  }
  if (loss == ReprojectionLoss::kPseudoHuber) {
    const Status status = ceres_wiberg::ValidateLearnableLossParameters(weights.loss_scale);
    if (!status.ok()) return InvalidArgumentError("loss_scale: " + status.message());
  }
  return Status::Ok();
}

Status ValidateFrameViews(const std::vector<Camera>& cameras, const Frame& frame,
                          const std::vector<int>& views) {
  if (views.empty()) return InvalidArgumentError("no views selected");
  int num_visible = 0;
  std::set<int> seen;
  for (int v : views) {
    if (v < 0 || v >= static_cast<int>(cameras.size()) ||
        v >= static_cast<int>(frame.views.size())) {
      return InvalidArgumentError("view " + std::to_string(v) + " is out of range (" +
                                  std::to_string(cameras.size()) + " cameras, " +
                                  std::to_string(frame.views.size()) + " detections in the frame)");
    }
    if (!seen.insert(v).second) {
      return InvalidArgumentError("view " + std::to_string(v) + " is listed twice");
    }
    if (!AllFinite(cameras[v].rotation)) {
      return InvalidArgumentError("camera " + std::to_string(v) + " has a non-finite rotation");
    }
    const Detection& detection = frame.views[v];
    for (int j = 0; j < kNumJoints; ++j) {
      if (!detection.visible[j]) continue;
      if (!detection.joints.col(j).allFinite()) {
        return InvalidArgumentError("view " + std::to_string(v) + ", joint " + std::to_string(j) +
                                    ": visible detection is not finite");
      }
      ++num_visible;
    }
  }
  if (num_visible == 0) return InvalidArgumentError("no visible joint in the used views");
  return Status::Ok();
}

PoseEnergy::~PoseEnergy() = default;

Status PoseEnergy::CreateForFit(const PoseModel& model, const std::vector<Camera>& cameras,
                                const Frame& frame, ReprojectionLoss loss, CameraModel camera_model,
                                const std::vector<int>& views, int component,
                                std::unique_ptr<PoseEnergy>* energy) {
  return Build(nullptr, model, cameras, frame, loss, camera_model, views, component, nullptr,
               energy);
}

Status PoseEnergy::CreateLearnable(PoseModel* model, const std::vector<Camera>& cameras,
                                   const Frame& frame, ReprojectionLoss loss,
                                   CameraModel camera_model, const std::vector<int>& views,
                                   int component, const LearnableGroups& groups,
                                   std::unique_ptr<PoseEnergy>* energy) {
  CHECK(model != nullptr);
  return Build(model, *model, cameras, frame, loss, camera_model, views, component, &groups,
               energy);
}

Status PoseEnergy::Build(PoseModel* mutable_model, const PoseModel& model,
                         const std::vector<Camera>& cameras, const Frame& frame,
                         ReprojectionLoss loss, CameraModel camera_model,
                         const std::vector<int>& views, int component,
                         const LearnableGroups* groups, std::unique_ptr<PoseEnergy>* energy) {
  CHECK(energy != nullptr);
  Status status = ValidatePoseModel(model, loss);
  if (!status.ok()) return status;
  status = ValidateFrameViews(cameras, frame, views);
  if (!status.ok()) return status;
  if (component < 0 || component >= static_cast<int>(model.components.size())) {
    return InvalidArgumentError("component " + std::to_string(component) + " is out of range (" +
                                std::to_string(model.components.size()) + " components)");
  }
  const bool learnable = mutable_model != nullptr;

  std::unique_ptr<PoseEnergy> e(new PoseEnergy());
  e->model_ = &model;
  e->component_ = component;
  e->camera_model_ = camera_model;
  e->views_ = views;
  e->cameras_.resize(views.size());
  e->detections_.resize(views.size());
  e->fixed_loss_scale_ = model.weights.loss_scale;
  for (size_t n = 0; n < views.size(); ++n) {
    e->camera_rotations_.push_back(cameras[views[n]].rotation);
    e->used_cameras_.push_back(cameras[views[n]]);
    const Detection& detection = frame.views[views[n]];
    for (int j = 0; j < kNumJoints; ++j) {
      if (detection.visible[j]) e->detections_[n].emplace_back(j, detection.joints.col(j));
    }
  }

  ceres::Problem::Options problem_options;
  problem_options.cost_function_ownership = ceres::TAKE_OWNERSHIP;
  e->problem_ = std::make_unique<ceres::Problem>(problem_options);
  ceres::Problem* problem = e->problem_.get();

  const PpcaComponent& comp = model.components[component];
  // Model storage as (possibly) parameter blocks; const_cast is only used in
  // learnable mode, where the model is mutable.
  auto mean_ptr = [&](int j) { return comp.mean.data() + 3 * j; };
  auto basis_ptr = [&](int i, int j) { return comp.basis[i].data() + 3 * j; };
  auto weight_ptr = [&](int j) { return model.weights.joint_weights.data() + 2 * j; };
  auto mutable_ptr = [](const double* p) { return const_cast<double*>(p); };
  double* scale_block = learnable ? &mutable_model->weights.loss_scale : &e->fixed_loss_scale_;

  std::set<int> used_joints;
  for (size_t n = 0; n < views.size(); ++n) {
    for (const auto& [j, d] : e->detections_[n]) {
      used_joints.insert(j);
      std::array<const double*, kNumBasis> basis;
      for (int i = 0; i < kNumBasis; ++i) basis[i] = basis_ptr(i, j);
      ceres::CostFunction* cost = nullptr;
      std::vector<double*> blocks = {e->coefficients_.data(), &e->theta_};
      if (camera_model == CameraModel::kWeakPerspective) {
        cost = new JointReprojectionCost(e->camera_rotations_[n], d, learnable, mean_ptr(j), basis,
                                         weight_ptr(j));
        blocks.push_back(e->cameras_[n].data());
        blocks.push_back(e->cameras_[n].data() + 1);
      } else {
        cost = new PerspectiveJointCost(e->used_cameras_[n], d, learnable, mean_ptr(j), basis,
                                        weight_ptr(j));
        blocks.push_back(e->root_.data());
      }
      if (learnable) {
        blocks.push_back(mutable_ptr(mean_ptr(j)));
        for (int i = 0; i < kNumBasis; ++i) blocks.push_back(mutable_ptr(basis_ptr(i, j)));
        blocks.push_back(mutable_ptr(weight_ptr(j)));
      }
      if (loss == ReprojectionLoss::kPseudoHuber) {
        cost = new ceres_wiberg::LearnableLossCostFunction(
            cost, ceres_wiberg::LearnableLossType::PSEUDO_HUBER);
        blocks.push_back(scale_block);
      }
      problem->AddResidualBlock(cost, nullptr, blocks);
    }
  }
  double* variances = mutable_ptr(comp.variances.data());
  {
    std::vector<double*> blocks = {e->coefficients_.data()};
    if (learnable) blocks.push_back(variances);
    problem->AddResidualBlock(
        new CoefficientPriorCost(model.weights.prior_weight, learnable, comp.variances.data()),
        nullptr, blocks);
  }
  if (loss == ReprojectionLoss::kPseudoHuber && !learnable) {
    problem->SetParameterBlockConstant(scale_block);
  }

  if (learnable) {
    // Learnable blocks of the enabled groups, in a fixed order; the others
    // (and the root's pose columns) are held constant.
    auto add = [&](double* values, int size, LearnableGroup group, bool enabled, int basis,
                   int joint) {
      if (!enabled) {
        problem->SetParameterBlockConstant(values);
        return;
      }
      LearnableBlock block;
      block.values = values;
      block.size = size;
      block.group = group;
      block.component =
          group == LearnableGroup::kJointWeights || group == LearnableGroup::kLossScale ? -1
                                                                                        : component;
      block.basis = basis;
      block.joint = joint;
      e->learnable_blocks_.push_back(block);
    };
    for (int j : used_joints) {
      const bool movable = j != kHip;
      add(mutable_ptr(mean_ptr(j)), 3, LearnableGroup::kMean, movable && groups->means, -1, j);
      for (int i = 0; i < kNumBasis; ++i) {
        add(mutable_ptr(basis_ptr(i, j)), 3, LearnableGroup::kBasis, movable && groups->bases, i,
            j);
      }
    }
    add(variances, kNumBasis, LearnableGroup::kVariances, groups->variances, -1, -1);
    for (int j : used_joints) {
      add(mutable_ptr(weight_ptr(j)), 2, LearnableGroup::kJointWeights, groups->joint_weights, -1,
          j);
    }
    if (loss == ReprojectionLoss::kPseudoHuber) {
      add(scale_block, 1, LearnableGroup::kLossScale, groups->loss_scale, -1, -1);
    }
  }
  e->Initialise(0.0);
  *energy = std::move(e);
  return Status::Ok();
}

std::vector<double*> PoseEnergy::inner_parameter_blocks() {
  std::vector<double*> blocks = {coefficients_.data(), &theta_};
  if (camera_model_ == CameraModel::kCalibratedPerspective) {
    blocks.push_back(root_.data());
    return blocks;
  }
  for (auto& camera : cameras_) {
    blocks.push_back(camera.data());      // s_v
    blocks.push_back(camera.data() + 1);  // t_v
  }
  return blocks;
}

std::vector<double*> PoseEnergy::learnable_parameter_blocks() const {
  std::vector<double*> blocks;
  for (const LearnableBlock& block : learnable_blocks_) blocks.push_back(block.values);
  return blocks;
}

void PoseEnergy::Initialise(double rotation) {
  coefficients_.fill(0.0);
  theta_ = rotation;
  const Pose& mean = model_->components[component_].mean;
  const Eigen::Matrix3d rz = RotationAboutZ(rotation);
  // Per view: the weak-perspective (s, t) and, for the calibrated seed, the
  // ray through the detections' centroid and the depth that matches spreads.
  Eigen::Matrix3d normal_matrix = Eigen::Matrix3d::Zero();
  Eigen::Vector3d normal_rhs = Eigen::Vector3d::Zero();
  Eigen::Vector3d point_sum = Eigen::Vector3d::Zero();
  Eigen::Vector3d mean_centroid_sum = Eigen::Vector3d::Zero();
  for (size_t n = 0; n < views_.size(); ++n) {
    const auto& detections = detections_[n];
    const Eigen::Matrix<double, 2, 3> a = (camera_rotations_[n] * rz).topRows<2>();
    Eigen::Vector2d mean_u = Eigen::Vector2d::Zero(), mean_d = Eigen::Vector2d::Zero();
    Eigen::Vector3d mean_centroid = Eigen::Vector3d::Zero();
    for (const auto& [j, d] : detections) {
      mean_u += a * mean.col(j);
      mean_d += d;
      mean_centroid += rz * mean.col(j);
    }
    const double count = std::max<size_t>(detections.size(), 1);
    mean_u /= count;
    mean_d /= count;
    mean_centroid /= count;
    double spread_u = 0.0, spread_d = 0.0;
    for (const auto& [j, d] : detections) {
      spread_u += (a * mean.col(j) - mean_u).squaredNorm();
      spread_d += (d - mean_d).squaredNorm();
    }
    // A single visible joint (or a degenerate projection) fixes no scale: use
    // a typical one (focal length over a 5 m depth).
    double s = 1145.0 / 5000.0;
    if (spread_u > 1e-12 && spread_d > 1e-12) s = std::sqrt(spread_d / spread_u);
    const Eigen::Vector2d t = mean_d - s * mean_u;
    if (camera_model_ == CameraModel::kWeakPerspective) {
      cameras_[n] = {s, t.x(), t.y()};
      continue;
    }
    const Camera& camera = used_cameras_[n];
    const Eigen::Vector3d ray =
        camera.rotation.transpose() *
        Eigen::Vector3d((mean_d - camera.principal_point).x() / camera.focal_length,
                        (mean_d - camera.principal_point).y() / camera.focal_length, 1.0)
            .normalized();
    const Eigen::Matrix3d off_ray = Eigen::Matrix3d::Identity() - ray * ray.transpose();
    normal_matrix += off_ray;
    normal_rhs += off_ray * camera.position;
    point_sum += camera.position + (camera.focal_length / s) * ray;
    mean_centroid_sum += mean_centroid;
  }
  if (camera_model_ == CameraModel::kWeakPerspective) return;
  const double num_views = static_cast<double>(views_.size());
  // The rays' nearest point when they are not (nearly) parallel, else the
  // mean of the per-view points at the matched depths.
  Eigen::Vector3d centroid = point_sum / num_views;
  const Eigen::SelfAdjointEigenSolver<Eigen::Matrix3d> eigen(normal_matrix);
  if (views_.size() >= 2 && eigen.eigenvalues()(0) > 1e-3) {
    centroid = normal_matrix.ldlt().solve(normal_rhs);
  }
  const Eigen::Vector3d root = centroid - mean_centroid_sum / num_views;
  root_ = {root.x(), root.y(), root.z()};
}

Eigen::VectorXd PoseEnergy::GetInnerValues() const {
  Eigen::VectorXd values(num_inner_parameters());
  for (int i = 0; i < kNumBasis; ++i) values[i] = coefficients_[i];
  values[kNumBasis] = theta_;
  if (camera_model_ == CameraModel::kCalibratedPerspective) {
    for (int k = 0; k < kRootBlockSize; ++k) values[kNumBasis + 1 + k] = root_[k];
    return values;
  }
  for (int n = 0; n < num_views(); ++n) {
    for (int k = 0; k < kCameraBlockSize; ++k) {
      values[kNumBasis + 1 + kCameraBlockSize * n + k] = cameras_[n][k];
    }
  }
  return values;
}

void PoseEnergy::SetInnerValues(const Eigen::VectorXd& values) {
  CHECK_EQ(values.size(), num_inner_parameters());
  for (int i = 0; i < kNumBasis; ++i) coefficients_[i] = values[i];
  theta_ = values[kNumBasis];
  if (camera_model_ == CameraModel::kCalibratedPerspective) {
    for (int k = 0; k < kRootBlockSize; ++k) root_[k] = values[kNumBasis + 1 + k];
    return;
  }
  for (int n = 0; n < num_views(); ++n) {
    for (int k = 0; k < kCameraBlockSize; ++k) {
      cameras_[n][k] = values[kNumBasis + 1 + kCameraBlockSize * n + k];
    }
  }
}

Pose PoseEnergy::ModelPose() const {
  const PpcaComponent& comp = model_->components[component_];
  Pose p = comp.mean;
  for (int i = 0; i < kNumBasis; ++i) p += coefficients_[i] * comp.basis[i];
  return RotationAboutZ(theta_) * p;
}

bool PoseEnergy::Evaluate(double* cost) {
  return problem_->Evaluate(ceres::Problem::EvaluateOptions(), cost, nullptr, nullptr, nullptr);
}

}  // namespace human_pose
