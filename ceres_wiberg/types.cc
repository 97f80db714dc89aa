#include "ceres_wiberg/types.h"

#include "ceres_wiberg/enum_names.h"

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
    case LinearSolverType::SPARSE_SCHUR:
      return "SPARSE_SCHUR";
  }
  return "UNKNOWN";
}

const char* SparseLinearAlgebraLibraryTypeToString(SparseLinearAlgebraLibraryType type) {
  switch (type) {
    case SparseLinearAlgebraLibraryType::SUITE_SPARSE:
      return "SUITE_SPARSE";
    case SparseLinearAlgebraLibraryType::EIGEN_SPARSE:
      return "EIGEN_SPARSE";
  }
  return "UNKNOWN";
}

const char* InnerSolverTypeToString(InnerSolverType type) {
  switch (type) {
    case InnerSolverType::CERES:
      return "CERES";
    case InnerSolverType::NEWTON:
      return "NEWTON";
  }
  return "UNKNOWN";
}

bool StringToDampingType(const std::string& name, DampingType* type) {
  return StringToEnum(name, {DampingType::IDENTITY, DampingType::HESSIAN_DIAGONAL},
                                DampingTypeToString, type);
}

bool StringToHessianModel(const std::string& name, HessianModel* model) {
  return StringToEnum(name, {HessianModel::GAUSS_NEWTON, HessianModel::EXACT},
                                HessianModelToString, model);
}

bool StringToLinearSolverType(const std::string& name, LinearSolverType* type) {
  return StringToEnum(
      name,
      {LinearSolverType::AUTOMATIC, LinearSolverType::DENSE, LinearSolverType::SPARSE,
       LinearSolverType::SPARSE_SCHUR},
      LinearSolverTypeToString, type);
}

bool StringToSparseLinearAlgebraLibraryType(const std::string& name,
                                            SparseLinearAlgebraLibraryType* type) {
  return StringToEnum(name,
                      {SparseLinearAlgebraLibraryType::SUITE_SPARSE,
                       SparseLinearAlgebraLibraryType::EIGEN_SPARSE},
                      SparseLinearAlgebraLibraryTypeToString, type);
}

bool StringToInnerSolverType(const std::string& name, InnerSolverType* type) {
  return StringToEnum(name, {InnerSolverType::CERES, InnerSolverType::NEWTON},
                      InnerSolverTypeToString, type);
}

}  // namespace ceres_wiberg
