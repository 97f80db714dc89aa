// ceres_wiberg: learning energy parameters by differentiating Ceres minimisers.
//
// BilevelTrainingObjective: a TrainingObjective over BilevelExamples, for the
// stochastic learner: each example's loss 1/2 |r(y*(w), w)|^2 and its gradient
// in reverse mode.
//
// Each example's learnable parameters are a selection of one global w: entry
// i of the example's w is w[global_index[i]]. Examples may select different
// parameters (e.g. the weights of the trackers present in one frame); the
// gradient is scattered back, zero for the parameters an example does not
// use. The identity map (every example has all n_w parameters, in order) is
// the default.

#ifndef CERES_WIBERG_BILEVEL_TRAINING_OBJECTIVE_H_
#define CERES_WIBERG_BILEVEL_TRAINING_OBJECTIVE_H_

#include <memory>
#include <vector>

#include "ceres_wiberg/bilevel_example.h"
#include "ceres_wiberg/status.h"
#include "ceres_wiberg/training_objective.h"

namespace ceres_wiberg {

class BilevelTrainingObjective : public TrainingObjective {
 public:
  // A borrowed example and where its learnable parameters sit in w.
  struct MappedExample {
    BilevelExample* example = nullptr;
    // example->num_learnable_parameters() distinct indices in
    // [0, num_parameters); empty: the identity.
    std::vector<int> global_index;
  };

  // Errors (kInvalidArgument, naming the example): no examples, a null
  // example, a map of the wrong size, an index out of range or repeated, an
  // identity map on an example whose n_w is not num_parameters.
  static Status Create(std::vector<MappedExample> examples, int num_parameters,
                       std::unique_ptr<BilevelTrainingObjective>* objective);

  // The identity map over borrowed examples; CHECKs that there is at least
  // one and that they agree on n_w.
  explicit BilevelTrainingObjective(std::vector<BilevelExample*> examples);

  int num_examples() const override { return static_cast<int>(examples_.size()); }
  int num_parameters() const override { return num_parameters_; }
  // Errors of BilevelExample::EvaluateLoss, prefixed with "example i: ".
  Status EvaluateExample(int example, const Eigen::VectorXd& w, double* loss,
                         Eigen::VectorXd* gradient) override;

  BilevelExample* example(int i) const { return examples_[i].example; }

 private:
  BilevelTrainingObjective(std::vector<MappedExample> examples, int num_parameters);

  std::vector<MappedExample> examples_;
  int num_parameters_ = 0;
};

}  // namespace ceres_wiberg

#endif  // CERES_WIBERG_BILEVEL_TRAINING_OBJECTIVE_H_
