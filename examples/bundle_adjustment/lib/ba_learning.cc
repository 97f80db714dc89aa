#include "ba_learning.h"

#include <utility>

#include "aligned_point_error.h"

namespace bundle_adjustment {

using ceres_wiberg::InvalidArgumentError;
using ceres_wiberg::Status;

ceres_wiberg::MinimiserDerivative::Options BaLearningDerivativeOptions() {
  ceres_wiberg::MinimiserDerivative::Options options;
  options.lambda = 0.1;
  options.damping = ceres_wiberg::DampingType::HESSIAN_DIAGONAL;
  options.hessian_model = ceres_wiberg::HessianModel::EXACT;
  options.final_newton_step = true;
  options.eigenvalue_iterations = 0;
  return options;
}

BaTrainingObjective::~BaTrainingObjective() = default;

Status BaTrainingObjective::Create(const std::vector<Scene>* scenes, const BaModel& initial,
                                   const Options& options,
                                   std::unique_ptr<BaTrainingObjective>* objective) {
  if (scenes->empty()) return InvalidArgumentError("bundle adjustment: no training scenes");
  const int num_cameras = (*scenes)[0].initial.num_cameras();
  std::unique_ptr<BaTrainingObjective> result(new BaTrainingObjective);
  std::vector<ceres_wiberg::BilevelExample*> examples;
  int num_points = 0;
  for (size_t i = 0; i < scenes->size(); ++i) {
    const Scene& scene = (*scenes)[i];
    const std::string name = "training scene " + std::to_string(i) + ": ";
    if (scene.initial.num_cameras() != num_cameras) {
      return InvalidArgumentError(name + std::to_string(scene.initial.num_cameras()) +
                                  " cameras, scene 0 has " + std::to_string(num_cameras));
    }
    BaEnergyOptions energy_options;
    energy_options.loss = BaLoss::LEARNT;
    std::unique_ptr<BaEnergy> energy;
    Status status = BaEnergy::Create(scene.initial, energy_options, initial, &energy);
    if (!status.ok()) return InvalidArgumentError(name + status.message());
    ceres_wiberg::BilevelExample::Options example_options;
    example_options.inner_solver_options = options.solver_options;
    example_options.derivative_options = options.derivative_options;
    example_options.warm_start = options.warm_start;
    std::unique_ptr<ceres_wiberg::BilevelExample> example;
    status = ceres_wiberg::BilevelExample::Create(
        energy->bilevel(),
        options.robust_outer_loss
            ? static_cast<ceres::CostFunction*>(new RobustAlignedPointCost(
                  PointMatrix(scene.truth), options.robust_relative_scale))
            : new AlignedPointRmseCost(PointMatrix(scene.truth)),
        ceres::TAKE_OWNERSHIP, energy->point_blocks(), example_options, &example);
    if (!status.ok()) return InvalidArgumentError(name + status.message());
    num_points += energy->num_points();
    examples.push_back(example.get());
    result->energies_.push_back(std::move(energy));
    result->examples_.push_back(std::move(example));
  }
  result->objective_ = std::make_unique<ceres_wiberg::BilevelTrainingObjective>(examples);
  result->identity_ = "bundle_adjustment LEARNT pseudo-Huber + per-camera weights, " +
                      std::to_string(scenes->size()) + " scenes, " +
                      std::to_string(num_cameras) + " cameras, " + std::to_string(num_points) +
                      " points";
  *objective = std::move(result);
  return Status::Ok();
}

Status BaTrainingObjective::EvaluateExample(int example, const Eigen::VectorXd& w, double* loss,
                                            Eigen::VectorXd* gradient) {
  return objective_->EvaluateExample(example, w, loss, gradient);
}

}  // namespace bundle_adjustment
