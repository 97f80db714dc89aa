#include "ceres_wiberg/types.h"

namespace ceres_wiberg {

const char* DampingTypeToString(DampingType type) {
  switch (type) {
    case DampingType::IDENTITY:
      return "IDENTITY";
    case DampingType::HESSIAN_DIAGONAL:
      return "HESSIAN_DIAGONAL";
  }
  return "UNKNOWN";
}

const char* HessianModelToString(HessianModel model) {
  switch (model) {
    case HessianModel::GAUSS_NEWTON:
      return "GAUSS_NEWTON";
    case HessianModel::EXACT:
      return "EXACT";
  }
  return "UNKNOWN";
}

const char* LinearSolverTypeToString(LinearSolverType type) {
  switch (type) {
    case LinearSolverType::AUTOMATIC:
      return "AUTOMATIC";
    case LinearSolverType::DENSE:
      return "DENSE";
    case LinearSolverType::SPARSE:
      return "SPARSE";
  }
  return "UNKNOWN";
}

}  // namespace ceres_wiberg
