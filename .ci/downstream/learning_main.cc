// Learns w in min_w 1/N sum_x 1/2 (w - x)^2 over x in {1, 2, 3, 4} with the
// installed learning target's stochastic learner: w -> 2.5.
#include <cmath>
#include <cstdio>

#include "ceres_wiberg/learning.h"

class MeanObjective : public ceres_wiberg::TrainingObjective {
 public:
  int num_examples() const override { return 4; }
  int num_parameters() const override { return 1; }
  ceres_wiberg::Status EvaluateExample(int example, const Eigen::VectorXd& w, double* loss,
                                       Eigen::VectorXd* gradient) override {
    const double residual = w(0) - (example + 1.0);
    *loss = 0.5 * residual * residual;
    if (gradient != nullptr) *gradient = Eigen::VectorXd::Constant(1, residual);
    return ceres_wiberg::Status::Ok();
  }
};

int main() {
  ceres_wiberg::StochasticLearner::Options options;
  options.optimiser = ceres_wiberg::StochasticOptimiser::SGD;
  options.learning_rate = 0.5;
  options.batch_size = 4;
  options.num_epochs = 40;
  MeanObjective objective;
  Eigen::VectorXd w = Eigen::VectorXd::Zero(1);
  ceres_wiberg::StochasticLearner::Summary summary;
  if (!ceres_wiberg::StochasticLearner(options).Learn(&objective, &w, &summary).ok()) return 1;
  std::printf("downstream_learning: w = %.6f (expected 2.5)\n", w(0));
  return std::abs(w(0) - 2.5) < 1e-6 ? 0 : 1;
}
