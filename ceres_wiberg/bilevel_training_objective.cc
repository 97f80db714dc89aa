#include "ceres_wiberg/bilevel_training_objective.h"

#include <string>
#include <utility>

#include "glog/logging.h"

namespace ceres_wiberg {
namespace {

// kInvalidArgument naming the example if its map does not fit.
Status CheckMap(const BilevelTrainingObjective::MappedExample& mapped, int index,
                int num_parameters) {
  const std::string name = "example " + std::to_string(index) + ": ";
  if (mapped.example == nullptr) return InvalidArgumentError(name + "is null");
  const int n_w = mapped.example->num_learnable_parameters();
  if (mapped.global_index.empty()) {
    if (n_w != num_parameters) {
      return InvalidArgumentError(name + "has " + std::to_string(n_w) +
                                  " learnable parameters and no map into the " +
                                  std::to_string(num_parameters) + " of w");
    }
    return Status::Ok();
  }
  if (static_cast<int>(mapped.global_index.size()) != n_w) {
    return InvalidArgumentError(name + "its map has " +
                                std::to_string(mapped.global_index.size()) +
                                " entries for " + std::to_string(n_w) + " learnable parameters");
  }
  std::vector<bool> used(num_parameters, false);
  for (int i = 0; i < n_w; ++i) {
    const int j = mapped.global_index[i];
    if (j < 0 || j >= num_parameters) {
      return InvalidArgumentError(name + "map entry " + std::to_string(i) + " is " +
                                  std::to_string(j) + ", outside [0, " +
                                  std::to_string(num_parameters) + ")");
    }
    if (used[j]) {
      return InvalidArgumentError(name + "map entry " + std::to_string(i) + " repeats index " +
                                  std::to_string(j));
    }
    used[j] = true;
  }
  return Status::Ok();
}

}  // namespace

Status BilevelTrainingObjective::Create(std::vector<MappedExample> examples, int num_parameters,
                                        std::unique_ptr<BilevelTrainingObjective>* objective) {
  CHECK(objective != nullptr);
  if (examples.empty()) return InvalidArgumentError("no examples");
  if (num_parameters < 1) return InvalidArgumentError("num_parameters must be >= 1");
  for (size_t i = 0; i < examples.size(); ++i) {
    Status status = CheckMap(examples[i], static_cast<int>(i), num_parameters);
    if (!status.ok()) return status;
  }
  objective->reset(new BilevelTrainingObjective(std::move(examples), num_parameters));
  return Status::Ok();
}

BilevelTrainingObjective::BilevelTrainingObjective(std::vector<MappedExample> examples,
                                                   int num_parameters)
    : examples_(std::move(examples)), num_parameters_(num_parameters) {}

BilevelTrainingObjective::BilevelTrainingObjective(std::vector<BilevelExample*> examples) {
  CHECK(!examples.empty());
  num_parameters_ = examples[0]->num_learnable_parameters();
  for (BilevelExample* example : examples) {
    CHECK_EQ(example->num_learnable_parameters(), num_parameters_);
    examples_.push_back({example, {}});
  }
}

Status BilevelTrainingObjective::EvaluateExample(int example, const Eigen::VectorXd& w,
                                                 double* loss, Eigen::VectorXd* gradient) {
  CHECK_GE(example, 0);
  CHECK_LT(example, num_examples());
  CHECK_EQ(w.size(), num_parameters_);
  const MappedExample& mapped = examples_[example];
  const std::vector<int>& index = mapped.global_index;
  Status status;
  if (index.empty()) {
    status = mapped.example->EvaluateLoss(w, loss, gradient);
  } else {
    Eigen::VectorXd local_w(index.size());
    for (size_t i = 0; i < index.size(); ++i) local_w[i] = w[index[i]];
    Eigen::VectorXd local_gradient;
    status = mapped.example->EvaluateLoss(local_w, loss,
                                          gradient != nullptr ? &local_gradient : nullptr);
    if (status.ok() && gradient != nullptr) {
      gradient->setZero(num_parameters_);
      for (size_t i = 0; i < index.size(); ++i) (*gradient)[index[i]] = local_gradient[i];
    }
  }
  if (!status.ok()) {
    return Status(status.code(), "example " + std::to_string(example) + ": " + status.message());
  }
  return status;
}

}  // namespace ceres_wiberg
