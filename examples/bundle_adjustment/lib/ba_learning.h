// Learning the per-camera weights and the pseudo-Huber scale of the LEARNT
// bundle-adjustment energy (ba_energy.h) on training scenes.
//
// Example i is training scene i; its loss is
//
//   L_i(w) = 1/2 RMSE_i(w)^2,   RMSE_i = aligned point RMSE of the minimiser
//                                        (aligned_point_error.h)
//
// half the mean squared point error after the best similarity onto the
// truth, which does not depend on the gauge. Its gradient is
// (dy*/dw)^T dL/dy by the library's reverse mode (BilevelExample ->
// BilevelTrainingObjective): dL/dy is the envelope gradient of the
// alignment, and dy*/dw the trust-region derivative with D = diag(H)
// (lambda > 0: with every camera free, H is singular along the 7-dof gauge;
// dL/dy and G have no gauge component, so the damping only regularises).

#ifndef CERES_WIBERG_EXAMPLES_BUNDLE_ADJUSTMENT_BA_LEARNING_H_
#define CERES_WIBERG_EXAMPLES_BUNDLE_ADJUSTMENT_BA_LEARNING_H_

#include <memory>
#include <string>
#include <vector>

#include "ba_energy.h"
#include "bal_scene.h"
#include "ceres_wiberg/bilevel_example.h"
#include "ceres_wiberg/bilevel_training_objective.h"
#include "ceres_wiberg/minimiser_derivative.h"
#include "ceres_wiberg/status.h"
#include "ceres_wiberg/training_objective.h"

namespace bundle_adjustment {

// The derivative used for learning: lambda = 0.1, D = diag(H) (units-
// invariant: cameras mix radians, scene units and pixels of focal length),
// EXACT Hessian, a final damped Newton step, no eigenvalue iterations.
ceres_wiberg::MinimiserDerivative::Options BaLearningDerivativeOptions();

class BaTrainingObjective : public ceres_wiberg::TrainingObjective {
 public:
  struct Options {
    ceres::Solver::Options solver_options = BaSolverOptions();
    ceres_wiberg::MinimiserDerivative::Options derivative_options =
        BaLearningDerivativeOptions();
    // Start each inner solve from the scene's last solution (true), or from
    // its initial estimates (false).
    bool warm_start = true;
    // The outer loss: 1/2 RMSE^2 (false), or 1/2 P^2 with P the robust
    // aligned point error (true; aligned_point_error.h) with this relative
    // scale.
    bool robust_outer_loss = false;
    double robust_relative_scale = 0.01;
  };

  // One LEARNT energy per scene, starting from its initial estimates
  // (borrowed: `scenes` must outlive the objective). Errors: no scenes,
  // scenes with different numbers of cameras, or a scene BaEnergy refuses
  // (naming the scene).
  static ceres_wiberg::Status Create(const std::vector<Scene>* scenes, const BaModel& initial,
                                     const Options& options,
                                     std::unique_ptr<BaTrainingObjective>* objective);
  ~BaTrainingObjective() override;

  int num_examples() const override { return objective_->num_examples(); }
  int num_parameters() const override { return objective_->num_parameters(); }
  ceres_wiberg::Status EvaluateExample(int example, const Eigen::VectorXd& w, double* loss,
                                       Eigen::VectorXd* gradient) override;
  std::string Identity() const override { return identity_; }

 private:
  BaTrainingObjective() = default;

  std::vector<std::unique_ptr<BaEnergy>> energies_;
  std::vector<std::unique_ptr<ceres_wiberg::BilevelExample>> examples_;
  std::unique_ptr<ceres_wiberg::BilevelTrainingObjective> objective_;
  std::string identity_;
};

}  // namespace bundle_adjustment

#endif  // CERES_WIBERG_EXAMPLES_BUNDLE_ADJUSTMENT_BA_LEARNING_H_
