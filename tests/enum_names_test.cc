// StringToEnum and the library's StringToX: every XToString name reads back,
// case is ignored, unknown names leave the value untouched.

#include "ceres_wiberg/enum_names.h"

#include <cctype>
#include <string>

#include "ceres_wiberg/learnable_loss.h"
#include "ceres_wiberg/linear_least_squares.h"
#include "ceres_wiberg/types.h"
#include "gtest/gtest.h"

namespace ceres_wiberg {
namespace {

TEST(EnumNames, EveryNameReadsBackIgnoringCase) {
  for (HessianModel model : {HessianModel::GAUSS_NEWTON, HessianModel::EXACT}) {
    HessianModel read = model == HessianModel::EXACT ? HessianModel::GAUSS_NEWTON
                                                     : HessianModel::EXACT;
    std::string name = HessianModelToString(model);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    ASSERT_TRUE(StringToHessianModel(name, &read)) << name;
    EXPECT_EQ(read, model);
  }
  for (DampingType type : {DampingType::IDENTITY, DampingType::HESSIAN_DIAGONAL}) {
    DampingType read;
    ASSERT_TRUE(StringToDampingType(DampingTypeToString(type), &read));
    EXPECT_EQ(read, type);
  }
  for (LinearSolverType type : {LinearSolverType::AUTOMATIC, LinearSolverType::DENSE,
                                LinearSolverType::SPARSE, LinearSolverType::SPARSE_SCHUR}) {
    LinearSolverType read;
    ASSERT_TRUE(StringToLinearSolverType(LinearSolverTypeToString(type), &read));
    EXPECT_EQ(read, type);
  }
  for (SparseLinearAlgebraLibraryType type : {SparseLinearAlgebraLibraryType::SUITE_SPARSE,
                                              SparseLinearAlgebraLibraryType::EIGEN_SPARSE}) {
    SparseLinearAlgebraLibraryType read;
    ASSERT_TRUE(StringToSparseLinearAlgebraLibraryType(
        SparseLinearAlgebraLibraryTypeToString(type), &read));
    EXPECT_EQ(read, type);
  }
  for (InnerSolverType type : {InnerSolverType::CERES, InnerSolverType::NEWTON}) {
    InnerSolverType read;
    ASSERT_TRUE(StringToInnerSolverType(InnerSolverTypeToString(type), &read));
    EXPECT_EQ(read, type);
  }
  for (LearnableLossType type : {LearnableLossType::PSEUDO_HUBER, LearnableLossType::CAUCHY,
                                 LearnableLossType::WELSCH, LearnableLossType::NORMALISED_WELSCH}) {
    LearnableLossType read;
    ASSERT_TRUE(StringToLearnableLossType(LearnableLossTypeToString(type), &read));
    EXPECT_EQ(read, type);
  }
  for (LeastSquaresMethod method :
       {LeastSquaresMethod::FULL_RANK_CHOLESKY, LeastSquaresMethod::MINIMUM_NORM}) {
    LeastSquaresMethod read;
    ASSERT_TRUE(StringToLeastSquaresMethod(LeastSquaresMethodToString(method), &read));
    EXPECT_EQ(read, method);
  }
}

TEST(EnumNames, UnknownNamesAreRefusedAndLeaveTheValue) {
  HessianModel model = HessianModel::EXACT;
  for (const char* name : {"", "EXAC", "EXACT ", "GAUSS-NEWTON", "UNKNOWN"}) {
    EXPECT_FALSE(StringToHessianModel(name, &model)) << "'" << name << "'";
    EXPECT_EQ(model, HessianModel::EXACT);
  }
  EXPECT_TRUE(EqualsIgnoringCase("Sparse", "SPARSE"));
  EXPECT_FALSE(EqualsIgnoringCase("SPARSER", "SPARSE"));
}

}  // namespace
}  // namespace ceres_wiberg
