// ceres_wiberg: learning energy parameters by differentiating Ceres minimisers.
//
// TrainingObjective: what a stochastic learner sees of a data set. Each example
// has a loss L_x(w) and its gradient dL_x/dw; for a bilevel example that is
// the outer loss at the inner minimiser y*(w; x), differentiated in reverse
// mode (BilevelTrainingObjective).

#ifndef CERES_WIBERG_TRAINING_OBJECTIVE_H_
#define CERES_WIBERG_TRAINING_OBJECTIVE_H_

#include <string>

#include "Eigen/Core"
#include "ceres_wiberg/status.h"

namespace ceres_wiberg {

class TrainingObjective {
 public:
  virtual ~TrainingObjective() = default;

  virtual int num_examples() const = 0;
  virtual int num_parameters() const = 0;

  // Loss of example `example` at parameters w, and (if gradient is not null)
  // its gradient, resized to num_parameters(). Calls for *different* examples
  // may run concurrently on different threads; calls for the same example
  // never do. Examples may keep state between calls (e.g. warm starts).
  virtual Status EvaluateExample(int example, const Eigen::VectorXd& w, double* loss,
                                 Eigen::VectorXd* gradient) = 0;

  // What the objective is (e.g. its data set and model: "denoise_foe 3x3
  // K=8, BSDS train 40 images"), stored in StochasticLearner checkpoints so
  // that Resume refuses a checkpoint of another objective with the same
  // sizes. "" (the default): not checked.
  virtual std::string Identity() const { return ""; }
};

}  // namespace ceres_wiberg

#endif  // CERES_WIBERG_TRAINING_OBJECTIVE_H_
