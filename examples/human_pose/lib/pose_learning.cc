#include "pose_learning.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <utility>

#include "ceres_wiberg/bilevel_problem.h"
#include "ceres_wiberg/thread_pool.h"
#include "glog/logging.h"

namespace human_pose {
namespace {

using ceres_wiberg::InvalidArgumentError;
using ceres_wiberg::Status;

constexpr int kMovableJoints = kNumJoints - 1;  // every joint but the root
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// dR_z/dtheta for RotationAboutZ (ppca_fit.h).
Eigen::Matrix3d RotationAboutZDerivative(double theta) {
  const double c = std::cos(theta), s = std::sin(theta);
  Eigen::Matrix3d d;
  d << -s, -c, 0.0, c, -s, 0.0, 0.0, 0.0, 0.0;
  return d;
}

}  // namespace

double RootAlignedSquaredError(const Pose& estimate, const Pose& truth, Pose* gradient) {
  const Pose e = (estimate.colwise() - estimate.col(kHip)) - (truth.colwise() - truth.col(kHip));
  if (gradient != nullptr) {
    *gradient = (2.0 / kNumJoints) * e;
    gradient->col(kHip) = -(2.0 / kNumJoints) * e.rowwise().sum();  // e.col(kHip) = 0
  }
  return e.squaredNorm() / kNumJoints;
}

double RootAlignedJointError(const Pose& estimate, const Pose& truth, Pose* gradient) {
  const Pose e = (estimate.colwise() - estimate.col(kHip)) - (truth.colwise() - truth.col(kHip));
  const Eigen::Matrix<double, 1, kNumJoints> norms =
      (e.colwise().squaredNorm().array() + 1.0).sqrt().matrix();
  if (gradient != nullptr) {
    for (int j = 0; j < kNumJoints; ++j) gradient->col(j) = e.col(j) / (kNumJoints * norms[j]);
    gradient->col(kHip) = -gradient->rowwise().sum();  // e.col(kHip) = 0
  }
  return (norms.array() - 1.0).sum() / kNumJoints;
}

namespace {

double OuterLoss(PoseOuterLoss type, const Pose& estimate, const Pose& truth, Pose* gradient) {
  return type == PoseOuterLoss::kJointError ? RootAlignedJointError(estimate, truth, gradient)
                                            : RootAlignedSquaredError(estimate, truth, gradient);
}

}  // namespace

// ---------------------------------------------------------------------------
// PoseParameterLayout

PoseParameterLayout::PoseParameterLayout(const PoseModel& initial_model,
                                         const LearnableGroups& groups, ReprojectionLoss loss,
                                         double shape_unit)
    : groups_(groups),
      num_components_(static_cast<int>(initial_model.components.size())),
      shape_unit_(shape_unit) {
  if (loss == ReprojectionLoss::kL2) groups_.loss_scale = false;
  basis_units_.resize(num_components_);
  for (int k = 0; k < num_components_; ++k) {
    for (int i = 0; i < kNumBasis; ++i) {
      basis_units_[k].push_back(shape_unit / std::sqrt(initial_model.components[k].variances[i]));
    }
  }
  int cursor = 0;
  auto take = [&](bool enabled, int count) {
    if (!enabled) return -1;
    const int offset = cursor;
    cursor += count;
    return offset;
  };
  mean_offset_ = take(groups_.means, num_components_ * kMovableJoints * 3);
  basis_offset_ = take(groups_.bases, num_components_ * kNumBasis * kMovableJoints * 3);
  variance_offset_ = take(groups_.variances, num_components_ * kNumBasis);
  weight_offset_ = take(groups_.joint_weights, 2 * kNumJoints);
  scale_offset_ = take(groups_.loss_scale, 1);
  size_ = cursor;
}

int PoseParameterLayout::MeanIndex(int k, int j, int d) const {
  if (mean_offset_ < 0 || j == kHip) return -1;
  return mean_offset_ + (k * kMovableJoints + (j - 1)) * 3 + d;
}

int PoseParameterLayout::BasisIndex(int k, int i, int j, int d) const {
  if (basis_offset_ < 0 || j == kHip) return -1;
  return basis_offset_ + ((k * kNumBasis + i) * kMovableJoints + (j - 1)) * 3 + d;
}

int PoseParameterLayout::Index(const LearnableBlock& block, int offset) const {
  switch (block.group) {
    case LearnableGroup::kMean:
      return MeanIndex(block.component, block.joint, offset);
    case LearnableGroup::kBasis:
      return BasisIndex(block.component, block.basis, block.joint, offset);
    case LearnableGroup::kVariances:
      return variance_offset_ < 0 ? -1 : variance_offset_ + block.component * kNumBasis + offset;
    case LearnableGroup::kJointWeights:
      return weight_offset_ < 0 ? -1 : weight_offset_ + 2 * block.joint + offset;
    case LearnableGroup::kLossScale:
      return scale_offset_;
  }
  return -1;
}

double PoseParameterLayout::Derivative(const Eigen::VectorXd& w, int index) const {
  if (mean_offset_ >= 0 && index >= mean_offset_ &&
      index < mean_offset_ + num_components_ * kMovableJoints * 3) {
    return shape_unit_;
  }
  if (basis_offset_ >= 0 && index >= basis_offset_ &&
      index < basis_offset_ + num_components_ * kNumBasis * kMovableJoints * 3) {
    const int ki = (index - basis_offset_) / (kMovableJoints * 3);
    return basis_units_[ki / kNumBasis][ki % kNumBasis];
  }
  if (variance_offset_ >= 0 && index >= variance_offset_ &&
      index < variance_offset_ + num_components_ * kNumBasis) {
    return std::exp(w[index]);
  }
  if (index == scale_offset_) return std::exp(w[index]);
  return 1.0;  // joint weights
}

Eigen::VectorXd PoseParameterLayout::Pack(const PoseModel& model) const {
  CHECK_EQ(static_cast<int>(model.components.size()), num_components_);
  Eigen::VectorXd w(size_);
  for (int k = 0; k < num_components_; ++k) {
    const PpcaComponent& component = model.components[k];
    for (int j = 1; j < kNumJoints; ++j) {
      for (int d = 0; d < 3; ++d) {
        if (groups_.means) w[MeanIndex(k, j, d)] = component.mean(d, j) / shape_unit_;
        for (int i = 0; groups_.bases && i < kNumBasis; ++i) {
          w[BasisIndex(k, i, j, d)] = component.basis[i](d, j) / basis_units_[k][i];
        }
      }
    }
    for (int i = 0; groups_.variances && i < kNumBasis; ++i) {
      w[variance_offset_ + k * kNumBasis + i] = std::log(component.variances[i]);
    }
  }
  for (int j = 0; groups_.joint_weights && j < kNumJoints; ++j) {
    for (int d = 0; d < 2; ++d) w[weight_offset_ + 2 * j + d] = model.weights.joint_weights(d, j);
  }
  if (groups_.loss_scale) w[scale_offset_] = std::log(model.weights.loss_scale);
  return w;
}

void PoseParameterLayout::Unpack(const Eigen::VectorXd& w, PoseModel* model) const {
  CHECK_EQ(w.size(), size_);
  CHECK_EQ(static_cast<int>(model->components.size()), num_components_);
  for (int k = 0; k < num_components_; ++k) {
    PpcaComponent& component = model->components[k];
    for (int j = 1; j < kNumJoints; ++j) {
      for (int d = 0; d < 3; ++d) {
        if (groups_.means) component.mean(d, j) = shape_unit_ * w[MeanIndex(k, j, d)];
        for (int i = 0; groups_.bases && i < kNumBasis; ++i) {
          component.basis[i](d, j) = basis_units_[k][i] * w[BasisIndex(k, i, j, d)];
        }
      }
    }
    for (int i = 0; groups_.variances && i < kNumBasis; ++i) {
      component.variances[i] = std::exp(w[variance_offset_ + k * kNumBasis + i]);
    }
  }
  for (int j = 0; groups_.joint_weights && j < kNumJoints; ++j) {
    for (int d = 0; d < 2; ++d) model->weights.joint_weights(d, j) = w[weight_offset_ + 2 * j + d];
  }
  if (groups_.loss_scale) model->weights.loss_scale = std::exp(w[scale_offset_]);
}

// ---------------------------------------------------------------------------
// PoseTrainingObjective

struct PoseTrainingObjective::Workspace {
  PoseModel model;
};

PoseTrainingObjective::PoseTrainingObjective(
    const std::vector<Camera>* cameras, const std::vector<Frame>* frames,
    const PoseFitOptions& fit_options,
    const ceres_wiberg::MinimiserDerivative::Options& derivative_options,
    const PoseParameterLayout* layout, const PoseModel& model, PoseOuterLoss outer_loss)
    : cameras_(cameras),
      frames_(frames),
      fit_options_(fit_options),
      derivative_options_(derivative_options),
      layout_(layout),
      model_(model),
      outer_loss_(outer_loss) {
  CHECK(cameras != nullptr && frames != nullptr && layout != nullptr);
}

PoseTrainingObjective::~PoseTrainingObjective() = default;

std::unique_ptr<PoseTrainingObjective::Workspace> PoseTrainingObjective::Acquire() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (pool_.empty()) {
    auto workspace = std::make_unique<Workspace>();
    workspace->model = model_;
    return workspace;
  }
  std::unique_ptr<Workspace> workspace = std::move(pool_.back());
  pool_.pop_back();
  return workspace;
}

void PoseTrainingObjective::Release(std::unique_ptr<Workspace> workspace) {
  std::lock_guard<std::mutex> lock(mutex_);
  pool_.push_back(std::move(workspace));
}

Status PoseTrainingObjective::EvaluateExample(int example, const Eigen::VectorXd& w, double* loss,
                                              Eigen::VectorXd* gradient) {
  CHECK(loss != nullptr);
  if (example < 0 || example >= num_examples()) {
    return InvalidArgumentError("example " + std::to_string(example) + " is out of range");
  }
  if (w.size() != layout_->size()) {
    return InvalidArgumentError("w has size " + std::to_string(w.size()) + ", expected " +
                                std::to_string(layout_->size()));
  }
  const Frame& frame = (*frames_)[example];
  std::unique_ptr<Workspace> workspace = Acquire();
  PoseModel& model = workspace->model;
  layout_->Unpack(w, &model);
  auto finish = [&](Status status) {
    Release(std::move(workspace));
    if (!status.ok()) {
      return Status(status.code(), "frame " + std::to_string(example) + ": " + status.message());
    }
    return status;
  };

  PoseFit fit;
  Status status = FitPose(model, *cameras_, frame, fit_options_, &fit);
  if (!status.ok()) return finish(status);
  if (gradient == nullptr) {
    *loss = OuterLoss(outer_loss_, fit.pose, frame.pose, nullptr);
    return finish(Status::Ok());
  }

  // The winner's learnable problem, at the fit's minimiser.
  std::unique_ptr<PoseEnergy> energy;
  status = PoseEnergy::CreateLearnable(&model, *cameras_, frame, fit_options_.loss,
                                       fit_options_.camera_model, fit_options_.views,
                                       fit.component, layout_->groups(), &energy);
  if (!status.ok()) return finish(status);
  energy->SetInnerValues(fit.inner_values);
  ceres_wiberg::BilevelProblem::Options bilevel_options;
  bilevel_options.inner_parameter_blocks = energy->inner_parameter_blocks();
  std::unique_ptr<ceres_wiberg::BilevelProblem> bilevel;
  status = ceres_wiberg::BilevelProblem::Create(
      energy->problem(), energy->learnable_parameter_blocks(), bilevel_options, &bilevel);
  if (!status.ok()) return finish(status);
  ceres_wiberg::MinimiserDerivative derivative(derivative_options_);
  status = derivative.Linearise(bilevel.get(), nullptr);  // takes the final Newton step
  if (!status.ok()) return finish(status);

  // L and dL/dy at the (stepped) minimiser; y = (c, theta, camera variables),
  // and the root-aligned pose depends on c and theta only.
  const PpcaComponent& component = model.components[fit.component];
  const double theta = energy->rotation();
  const Eigen::Matrix3d rz = RotationAboutZ(theta);
  const Pose estimate = energy->ModelPose();
  Pose dl_dx;
  *loss = OuterLoss(outer_loss_, estimate, frame.pose, &dl_dx);
  const Pose dl_dp = rz.transpose() * dl_dx;  // w.r.t. P = mean + sum_i c_i basis_i
  Eigen::VectorXd dl_dy = Eigen::VectorXd::Zero(energy->num_inner_parameters());
  for (int i = 0; i < kNumBasis; ++i) dl_dy[i] = dl_dp.cwiseProduct(component.basis[i]).sum();
  Pose p = component.mean;
  for (int i = 0; i < kNumBasis; ++i) p += energy->coefficients()[i] * component.basis[i];
  dl_dy[kNumBasis] = dl_dx.cwiseProduct(RotationAboutZDerivative(theta) * p).sum();

  Eigen::VectorXd implicit;
  status = derivative.VectorJacobianProduct(dl_dy, &implicit);
  if (!status.ok()) return finish(status);

  // dL/d(model values), gathered into the layout, then chained to w.
  gradient->setZero(layout_->size());
  int position = 0;
  for (const LearnableBlock& block : energy->learnable_blocks()) {
    for (int o = 0; o < block.size; ++o, ++position) {
      const int index = layout_->Index(block, o);
      CHECK_GE(index, 0);
      (*gradient)[index] += implicit[position];
    }
  }
  CHECK_EQ(position, implicit.size());
  const double* c = energy->coefficients();
  for (int j = 1; j < kNumJoints; ++j) {
    for (int d = 0; d < 3; ++d) {
      const int mean_index = layout_->MeanIndex(fit.component, j, d);
      if (mean_index >= 0) (*gradient)[mean_index] += dl_dp(d, j);
      for (int i = 0; i < kNumBasis; ++i) {
        const int basis_index = layout_->BasisIndex(fit.component, i, j, d);
        if (basis_index >= 0) (*gradient)[basis_index] += c[i] * dl_dp(d, j);
      }
    }
  }
  for (int index = 0; index < layout_->size(); ++index) {
    if ((*gradient)[index] != 0.0) (*gradient)[index] *= layout_->Derivative(w, index);
  }
  return finish(Status::Ok());
}

// ---------------------------------------------------------------------------
// Options, summary, training

bool PoseLearningOptions::IsValid(std::string* error) const {
  auto fail = [&](const std::string& message) {
    if (error != nullptr) *error = message;
    return false;
  };
  if (num_epochs < 1) return fail("num_epochs must be >= 1");
  if (batch_size < 1) return fail("batch_size must be >= 1");
  if (!(learning_rate > 0.0) || !std::isfinite(learning_rate)) {
    return fail("learning_rate must be positive and finite");
  }
  if (!(learning_rate_decay >= 0.0)) return fail("learning_rate_decay must be >= 0");
  if (!(momentum >= 0.0 && momentum < 1.0)) return fail("momentum must be in [0, 1)");
  if (!(trust_radius >= 0.0)) return fail("trust_radius must be >= 0");
  if (num_threads < 1) return fail("num_threads must be >= 1");
  if (!(shape_unit > 0.0) || !std::isfinite(shape_unit)) {
    return fail("shape_unit must be positive and finite");
  }
  if (!(lambda >= 0.0) || !std::isfinite(lambda)) return fail("lambda must be >= 0 and finite");
  if (!groups.means && !groups.bases && !groups.variances && !groups.joint_weights &&
      !groups.loss_scale) {
    return fail("no parameter group is learnt");
  }
  return true;
}

std::string PoseLearningSummary::BriefReport() const {
  char buffer[512];
  std::snprintf(buffer, sizeof(buffer),
                "pose learning: %d frames, %d parameters, %d epochs (%d iterations, %d skipped), "
                "training loss %.1f -> %.1f mm^2, P1 %.1f -> %.1f mm, validation P1 %.1f -> "
                "%.1f mm (%d frames), %.1f s",
                num_training_frames, num_parameters, num_epochs, num_iterations,
                num_skipped_examples, initial_training_loss, final_training_loss,
                initial_training_error, final_training_error, initial_validation_error,
                final_validation_error, num_validation_frames, time_in_seconds);
  return buffer;
}

Status EvaluatePoseModel(const PoseModel& model, const std::vector<Camera>& cameras,
                         const std::vector<Frame>& frames, const PoseFitOptions& fit_options,
                         int num_threads, double* mean_loss, double* mean_error) {
  CHECK(mean_loss != nullptr && mean_error != nullptr);
  if (frames.empty()) return InvalidArgumentError("EvaluatePoseModel: no frames");
  const int n = static_cast<int>(frames.size());
  std::vector<double> losses(n), errors(n);
  std::vector<Status> statuses(n);
  ceres_wiberg::ParallelFor(n, std::max(1, num_threads), [&](int f) {
    PoseFit fit;
    statuses[f] = FitPose(model, cameras, frames[f], fit_options, &fit);
    if (!statuses[f].ok()) return;
    losses[f] = RootAlignedSquaredError(fit.pose, frames[f].pose);
    const Pose truth = frames[f].pose.colwise() - frames[f].pose.col(kHip);
    errors[f] = (fit.pose - truth).colwise().norm().mean();
  });
  double loss_sum = 0.0, error_sum = 0.0;
  for (int f = 0; f < n; ++f) {
    if (!statuses[f].ok()) {
      return Status(statuses[f].code(), "frame " + std::to_string(f) + ": " +
                                            statuses[f].message());
    }
    loss_sum += losses[f];
    error_sum += errors[f];
  }
  *mean_loss = loss_sum / n;
  *mean_error = error_sum / n;
  return Status::Ok();
}

Status TrainPoseModel(const std::vector<Camera>& cameras,
                      const std::vector<Frame>& training_frames,
                      const PoseFitOptions& fit_options, const PoseLearningOptions& options,
                      PoseModel* model, PoseLearningSummary* summary) {
  CHECK(model != nullptr);
  const auto start = std::chrono::steady_clock::now();
  PoseLearningSummary local_summary;
  PoseLearningSummary& s = summary != nullptr ? *summary : local_summary;
  s = PoseLearningSummary();
  std::string error;
  if (!options.IsValid(&error)) return InvalidArgumentError("PoseLearningOptions: " + error);
  if (!fit_options.IsValid(&error)) return InvalidArgumentError("PoseFitOptions: " + error);
  if (training_frames.empty()) return InvalidArgumentError("TrainPoseModel: no training frames");
  Status status = ValidatePoseModel(*model, fit_options.loss);
  if (!status.ok()) return status;

  const PoseParameterLayout layout(*model, options.groups, fit_options.loss, options.shape_unit);
  ceres_wiberg::MinimiserDerivative::Options derivative_options;
  derivative_options.lambda = options.lambda;
  derivative_options.damping = options.damping;
  derivative_options.hessian_model = options.hessian_model;
  derivative_options.final_newton_step = options.final_newton_step;
  PoseTrainingObjective objective(&cameras, &training_frames, fit_options, derivative_options,
                                  &layout, *model, options.outer_loss);
  std::unique_ptr<PoseTrainingObjective> validation;
  const bool has_validation =
      options.validation_frames != nullptr && !options.validation_frames->empty();
  if (has_validation) {
    validation = std::make_unique<PoseTrainingObjective>(
        &cameras, options.validation_frames, fit_options, derivative_options, &layout, *model,
        options.outer_loss);
  }

  s.num_training_frames = static_cast<int>(training_frames.size());
  s.num_validation_frames = has_validation ? static_cast<int>(options.validation_frames->size()) : 0;
  s.num_parameters = layout.size();
  s.initial_training_loss = s.final_training_loss = kNaN;
  s.initial_training_error = s.final_training_error = kNaN;
  s.initial_validation_error = s.final_validation_error = kNaN;
  double unused = 0.0;
  if (options.evaluate_training_error) {
    status = EvaluatePoseModel(*model, cameras, training_frames, fit_options, options.num_threads,
                               &s.initial_training_loss, &s.initial_training_error);
    if (!status.ok()) return status;
  }
  if (has_validation) {
    status = EvaluatePoseModel(*model, cameras, *options.validation_frames, fit_options,
                               options.num_threads, &unused, &s.initial_validation_error);
    if (!status.ok()) return status;
  }

  ceres_wiberg::StochasticLearner::Options learner_options;
  learner_options.optimiser = options.optimiser;
  learner_options.learning_rate = options.learning_rate;
  learner_options.learning_rate_decay = options.learning_rate_decay;
  learner_options.momentum = options.momentum;
  learner_options.trust_radius = options.trust_radius;
  learner_options.batch_size = std::min<int>(options.batch_size, training_frames.size());
  learner_options.shuffle = true;
  learner_options.seed = options.seed;
  learner_options.num_epochs = options.num_epochs;
  learner_options.num_threads = options.num_threads;
  learner_options.skip_failed_examples = options.skip_failed_examples;
  learner_options.validation_objective = validation.get();
  learner_options.progress_stream = options.progress_stream;
  learner_options.curve_csv_path = options.curve_csv_path;
  learner_options.curve_max_parameters = 0;
  learner_options.durable_writes = false;
  learner_options.checkpoint_path = options.checkpoint_path;
  learner_options.communicator = options.communicator;
  learner_options.example_distribution = options.example_distribution;
  ceres_wiberg::StochasticLearner learner(learner_options);
  Eigen::VectorXd w = layout.Pack(*model);
  status = options.resume_from.empty()
               ? learner.Learn(&objective, &w, &s.learner_summary)
               : learner.Resume(options.resume_from, &objective, &w, &s.learner_summary);
  layout.Unpack(w, model);  // the last good iterate, also on error
  s.num_epochs = s.learner_summary.num_epochs;
  s.num_iterations = s.learner_summary.num_iterations;
  s.num_skipped_examples = s.learner_summary.num_skipped_examples;
  for (const auto& epoch : s.learner_summary.epochs) {
    s.epoch_losses.push_back(epoch.loss);
    s.epoch_validation_losses.push_back(epoch.validation_loss);
  }
  if (!status.ok()) return status;

  if (options.evaluate_training_error) {
    status = EvaluatePoseModel(*model, cameras, training_frames, fit_options, options.num_threads,
                               &s.final_training_loss, &s.final_training_error);
    if (!status.ok()) return status;
  }
  if (has_validation) {
    status = EvaluatePoseModel(*model, cameras, *options.validation_frames, fit_options,
                               options.num_threads, &unused, &s.final_validation_error);
    if (!status.ok()) return status;
  }
  s.time_in_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return Status::Ok();
}

}  // namespace human_pose
