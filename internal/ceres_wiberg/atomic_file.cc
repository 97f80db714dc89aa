#include "ceres_wiberg/atomic_file.h"

#include "ceres_wiberg/stochastic_learner_atomic_file.h"

namespace ceres_wiberg {

Status WriteFileAtomically(const std::string& path, const std::string& contents) {
  return internal::WriteFileAtomically(path, contents, /*durable=*/false);
}

}  // namespace ceres_wiberg
