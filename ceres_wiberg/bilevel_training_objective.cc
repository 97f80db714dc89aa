#include "ceres_wiberg/bilevel_training_objective.h"

#include "glog/logging.h"

namespace ceres_wiberg {

BilevelTrainingObjective::BilevelTrainingObjective(std::vector<BilevelExample*> examples)
    : examples_(std::move(examples)) {
  CHECK(!examples_.empty());
  num_parameters_ = examples_[0]->num_learnable_parameters();
  for (const BilevelExample* example : examples_) {
    CHECK_EQ(example->num_learnable_parameters(), num_parameters_);
  }
}

Status BilevelTrainingObjective::EvaluateExample(int example, const Eigen::VectorXd& w,
                                                 double* loss, Eigen::VectorXd* gradient) {
  CHECK_GE(example, 0);
  CHECK_LT(example, num_examples());
  Status status = examples_[example]->EvaluateLoss(w, loss, gradient);
  if (!status.ok()) {
    return Status(status.code(), "example " + std::to_string(example) + ": " + status.message());
  }
  return status;
}

}  // namespace ceres_wiberg
