// End-to-end learning of the pose model (supplementary section 4): mean poses,
// basis poses, coefficient variances, per-joint x/y weights and the
// pseudo-Huber scale are learnt so that the pose FitPose returns is close to
// the ground truth, with ceres_wiberg::StochasticLearner and the reverse-mode
// minimiser derivative. See ../ENERGY.md.
//
// The outer loss of a frame is the mean squared 3D joint error after root
// alignment, in mm^2 (PoseOuterLoss::kSquaredError):
//   L = 1/17 sum_j |(X_j - X_root) - (T_j - T_root)|^2,
// or the mean joint error itself, P1 (kJointError, smoothed below 1 mm), X the
// model pose of the lowest-energy candidate at its minimiser y*(w) and T
// the ground truth. It is differentiated through that candidate only:
//   dL/dw = dL/dw|_direct + (dy*/dw)^T dL/dy,
// the second term by MinimiserDerivative::VectorJacobianProduct on the winner's
// learnable problem (PoseEnergy::CreateLearnable), after one final damped
// Newton step; the direct term is X's own dependence on the mean and basis.
//
// The learner's variables (one vector, PoseParameterLayout) are rescaled and
// log-parameterised model values, so that one unit means the same in every
// group and a single Adam learning rate fits all:
//   mean_k(:, j)        = shape_unit * w                    (mm)
//   basis_k[i](:, j)    = shape_unit / sqrt(v0_ki) * w      (v0: initial variance;
//                          a unit moves a typical pose, c_i ~ sqrt(v0_ki), by shape_unit)
//   variances_k[i]      = exp(w)
//   joint_weights(d, j) = w
//   loss_scale          = exp(w)                            (pseudo-Huber only)
// Root columns (j = kHip) are not learnt: the model keeps its root at the origin.
#ifndef CERES_WIBERG_EXAMPLES_HUMAN_POSE_POSE_LEARNING_H_
#define CERES_WIBERG_EXAMPLES_HUMAN_POSE_POSE_LEARNING_H_

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "Eigen/Core"
#include "ceres_wiberg/learner_communicator.h"
#include "ceres_wiberg/minimiser_derivative.h"
#include "ceres_wiberg/status.h"
#include "ceres_wiberg/stochastic_learner.h"
#include "ceres_wiberg/training_objective.h"
#include "pose_data.h"
#include "pose_energy.h"
#include "pose_fitter.h"
#include "pose_model.h"

namespace human_pose {

// The mean squared root-aligned joint error 1/17 sum_j |...|^2 (mm^2) and, if
// gradient is not null, its gradient w.r.t. the estimate (3 x 17).
double RootAlignedSquaredError(const Pose& estimate, const Pose& truth, Pose* gradient = nullptr);

// The mean root-aligned joint distance 1/17 sum_j sqrt(|...|^2 + 1) - 1 (mm;
// P1 smoothed within 1 mm of zero error so that it is differentiable) and,
// if gradient is not null, its gradient w.r.t. the estimate.
double RootAlignedJointError(const Pose& estimate, const Pose& truth, Pose* gradient = nullptr);

// The outer loss of one frame.
enum class PoseOuterLoss {
  kSquaredError,  // RootAlignedSquaredError, mm^2
  kJointError,    // RootAlignedJointError, mm: P1 itself, less dominated by failed frames
};

// The map between a PoseModel and the learner's vector (see the file comment).
class PoseParameterLayout {
 public:
  // Coordinates for the groups enabled in `groups` (loss_scale only under
  // kPseudoHuber); the basis units are taken from `initial_model`'s variances.
  PoseParameterLayout(const PoseModel& initial_model, const LearnableGroups& groups,
                      ReprojectionLoss loss, double shape_unit);

  int size() const { return size_; }
  Eigen::VectorXd Pack(const PoseModel& model) const;
  // Writes the learnt groups of w into *model (the others are left as they
  // are); *model must have the initial model's shape.
  void Unpack(const Eigen::VectorXd& w, PoseModel* model) const;
  // Index of coordinate `offset` of a learnable block in w, or -1 if its
  // group is not in the layout.
  int Index(const LearnableBlock& block, int offset) const;
  // Index of mean_k(d, j) and basis_k[i](d, j) (-1 if not learnt, j = kHip).
  int MeanIndex(int k, int j, int d) const;
  int BasisIndex(int k, int i, int j, int d) const;
  // d(model value)/dw at coordinate `index` of w (the chain factor).
  double Derivative(const Eigen::VectorXd& w, int index) const;
  const LearnableGroups& groups() const { return groups_; }

 private:
  LearnableGroups groups_;
  int num_components_ = 0;
  double shape_unit_ = 0.0;
  std::vector<std::vector<double>> basis_units_;  // [k][i]
  int mean_offset_ = -1, basis_offset_ = -1, variance_offset_ = -1, weight_offset_ = -1,
      scale_offset_ = -1, size_ = 0;
};

// The training set as a TrainingObjective over the layout's vector: example
// x is frame x, its loss L (mm^2, see the file comment) and dL/dw. Calls for
// different frames may run concurrently: each works on its own copy of the
// model, taken from a pool. Every call fits from the seeds (no warm starts),
// so results depend only on (frame, w).
class PoseTrainingObjective : public ceres_wiberg::TrainingObjective {
 public:
  // Borrows everything; `model` gives the shape and the values of the groups
  // that are not learnt.
  PoseTrainingObjective(const std::vector<Camera>* cameras, const std::vector<Frame>* frames,
                        const PoseFitOptions& fit_options,
                        const ceres_wiberg::MinimiserDerivative::Options& derivative_options,
                        const PoseParameterLayout* layout, const PoseModel& model,
                        PoseOuterLoss outer_loss = PoseOuterLoss::kSquaredError);
  ~PoseTrainingObjective() override;

  int num_examples() const override { return static_cast<int>(frames_->size()); }
  int num_parameters() const override { return layout_->size(); }
  ceres_wiberg::Status EvaluateExample(int example, const Eigen::VectorXd& w, double* loss,
                                       Eigen::VectorXd* gradient) override;

 private:
  struct Workspace;
  std::unique_ptr<Workspace> Acquire();
  void Release(std::unique_ptr<Workspace> workspace);

  const std::vector<Camera>* cameras_;
  const std::vector<Frame>* frames_;
  PoseFitOptions fit_options_;
  ceres_wiberg::MinimiserDerivative::Options derivative_options_;
  const PoseParameterLayout* layout_;
  PoseModel model_;
  PoseOuterLoss outer_loss_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<Workspace>> pool_;
};

struct PoseLearningOptions {
  // Which groups are learnt (all by default; loss_scale only matters under
  // the pseudo-Huber loss).
  LearnableGroups groups;

  // The per-frame loss whose mean is minimised. P1 itself by default: on
  // held-out training subjects it gave 55.8 mm (l2) and 34.5 mm (Huber)
  // where the squared error gave 62.0 and 40.2 (ENERGY.md).
  PoseOuterLoss outer_loss = PoseOuterLoss::kJointError;

  // ---- The stochastic learner.
  ceres_wiberg::StochasticOptimiser optimiser = ceres_wiberg::StochasticOptimiser::ADAM;
  int num_epochs = 6;
  int batch_size = 16;           // frames per step
  double learning_rate = 0.03;   // in the layout's units (see the file comment)
  // lr_t = learning_rate / (1 + learning_rate_decay t), t the iteration.
  double learning_rate_decay = 0.02;
  double momentum = 0.9;         // SGD_MOMENTUM only
  double trust_radius = 0.0;     // cap on each step's norm in w; 0: off
  int num_threads = 2;
  uint64_t seed = 1;             // minibatch order
  // A frame whose fit or derivative fails (e.g. an indefinite damped Hessian)
  // is left out of its minibatch and counted, rather than stopping the run.
  bool skip_failed_examples = true;

  // ---- The parameterisation: one unit of a mean or basis coordinate moves
  // a typical pose by this much, mm.
  double shape_unit = 10.0;

  // ---- The minimiser derivative.
  double lambda = 0.1;  // trust-region damping (the paper's 0.1)
  ceres_wiberg::DampingType damping = ceres_wiberg::DampingType::IDENTITY;
  ceres_wiberg::HessianModel hessian_model = ceres_wiberg::HessianModel::EXACT;
  bool final_newton_step = true;

  // ---- Monitoring.
  // Held-out frames whose loss is evaluated after every epoch (and whose
  // mean per-joint error is reported before and after). Borrowed; may be null.
  const std::vector<Frame>* validation_frames = nullptr;
  // Evaluate the training frames' error before and after learning (one pass
  // of FitPose each) for the summary.
  bool evaluate_training_error = true;
  // One line per epoch from the learner; null: silent.
  std::ostream* progress_stream = nullptr;
  // If not empty, the learner's per-iteration CSV (iteration, epoch, loss,
  // gradient norm, step norm, learning rate).
  std::string curve_csv_path;
  // If not empty, the learner's checkpoint, written after every epoch.
  std::string checkpoint_path;
  // If not empty, TrainPoseModel continues the run of this checkpoint
  // (StochasticLearner::Resume: *model then only gives the shape and the
  // groups that are not learnt) instead of starting from *model.
  std::string resume_from;

  // ---- Several processes (e.g. MPI: human_pose_mpi.cc). If not null, this
  // process learns together with the others of the communicator
  // (StochasticLearner::Options::communicator): TrainPoseModel is then
  // collective, and the other evaluations it makes (evaluate_training_error,
  // validation_frames) run on every process; the distributed demo turns
  // them off. Borrowed.
  ceres_wiberg::LearnerCommunicator* communicator = nullptr;
  ceres_wiberg::ExampleDistribution example_distribution =
      ceres_wiberg::ExampleDistribution::SHARDED;

  bool IsValid(std::string* error) const;
};

struct PoseLearningSummary {
  int num_training_frames = 0;
  int num_validation_frames = 0;
  int num_parameters = 0;  // learnt coordinates
  int num_epochs = 0;
  int num_iterations = 0;
  int num_skipped_examples = 0;  // failed evaluations left out, summed over steps

  // Over all training (validation) frames, with FitPose on the model before
  // and after learning: the outer loss (mean squared root-aligned joint
  // error, mm^2) and the mean per-joint error (P1, mm). NaN if not evaluated.
  double initial_training_loss = 0.0, final_training_loss = 0.0;
  double initial_training_error = 0.0, final_training_error = 0.0;
  double initial_validation_error = 0.0, final_validation_error = 0.0;

  // Per epoch: the mean minibatch outer loss (mm for kJointError, mm^2 for
  // kSquaredError; at the iterates the minibatches saw)
  // and the validation loss (NaN without validation frames).
  std::vector<double> epoch_losses;
  std::vector<double> epoch_validation_losses;

  double time_in_seconds = 0.0;
  ceres_wiberg::StochasticLearner::Summary learner_summary;

  // One line: sizes, training loss and error before -> after, validation
  // error before -> after, epochs, time.
  std::string BriefReport() const;
};

// Mean outer loss (mm^2) and mean P1 (mm) of FitPose over `frames`, on
// `num_threads` threads. Errors: the first failing frame's status.
ceres_wiberg::Status EvaluatePoseModel(const PoseModel& model, const std::vector<Camera>& cameras,
                                       const std::vector<Frame>& frames,
                                       const PoseFitOptions& fit_options, int num_threads,
                                       double* mean_loss, double* mean_error);

// Learns *model (the warm start, e.g. the baseline PPCA fit) on the training
// frames and writes the result back. Errors: invalid options or model
// (kInvalidArgument), no training frames, or the learner's status (naming the
// frame) when a frame fails and failures are not skipped. summary may be null.
ceres_wiberg::Status TrainPoseModel(const std::vector<Camera>& cameras,
                                    const std::vector<Frame>& training_frames,
                                    const PoseFitOptions& fit_options,
                                    const PoseLearningOptions& options, PoseModel* model,
                                    PoseLearningSummary* summary);

}  // namespace human_pose

#endif  // CERES_WIBERG_EXAMPLES_HUMAN_POSE_POSE_LEARNING_H_
