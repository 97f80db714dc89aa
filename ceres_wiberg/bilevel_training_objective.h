// ceres_wiberg: learning energy parameters by differentiating Ceres minimisers.
//
// BilevelTrainingObjective: a TrainingObjective over BilevelExamples, for the
// stochastic learner: each example's loss 1/2 |r(y*(w), w)|^2 and its gradient
// in reverse mode. All examples must have the same learnable layout (n_w).

#ifndef CERES_WIBERG_BILEVEL_TRAINING_OBJECTIVE_H_
#define CERES_WIBERG_BILEVEL_TRAINING_OBJECTIVE_H_

#include <vector>

#include "ceres_wiberg/bilevel_example.h"
#include "ceres_wiberg/training_objective.h"

namespace ceres_wiberg {

class BilevelTrainingObjective : public TrainingObjective {
 public:
  // Borrows the examples; CHECKs that there is at least one and that they
  // agree on n_w.
  explicit BilevelTrainingObjective(std::vector<BilevelExample*> examples);

  int num_examples() const override { return static_cast<int>(examples_.size()); }
  int num_parameters() const override { return num_parameters_; }
  Status EvaluateExample(int example, const Eigen::VectorXd& w, double* loss,
                         Eigen::VectorXd* gradient) override;

 private:
  std::vector<BilevelExample*> examples_;
  int num_parameters_ = 0;
};

}  // namespace ceres_wiberg

#endif  // CERES_WIBERG_BILEVEL_TRAINING_OBJECTIVE_H_
