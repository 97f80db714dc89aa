// Tests of the sparse classification of A = H + lambda D by DampedSolver:
// positive definite, singular (with its null space's dimension) and
// indefinite (with an upper bound on the smallest eigenvalue), on both
// sparse libraries, against dense eigenvalues computed apart from it.

#include "ceres_wiberg/internal/damped_solver.h"

#include <cmath>
#include <vector>

#include "Eigen/Eigenvalues"
#include "Eigen/SparseCore"
#include "ceres_wiberg/minimiser_derivative.h"
#include "ceres_wiberg/types.h"
#include "gtest/gtest.h"

namespace ceres_wiberg {
namespace internal {
namespace {

constexpr int kSize = 60;

// A tridiagonal matrix with diagonal `diagonal` and off-diagonal -1, its
// rows and columns scaled by 10^-6 ... 10^6 (units spanning 12 orders of
// magnitude, which the Jacobi scaling must remove).
Eigen::MatrixXd BadlyScaledTridiagonal(const Eigen::VectorXd& diagonal) {
  Eigen::MatrixXd A = Eigen::MatrixXd::Zero(kSize, kSize);
  for (int i = 0; i < kSize; ++i) {
    A(i, i) = diagonal[i];
    if (i + 1 < kSize) A(i, i + 1) = A(i + 1, i) = -1.0;
  }
  const Eigen::VectorXd units =
      Eigen::VectorXd::LinSpaced(kSize, -6.0, 6.0).unaryExpr([](double e) {
        return std::pow(10.0, e);
      });
  return units.asDiagonal() * A * units.asDiagonal();
}

Eigen::SparseMatrix<double> UpperTriangle(const Eigen::MatrixXd& A) {
  Eigen::MatrixXd upper = A.triangularView<Eigen::Upper>();
  return upper.sparseView();
}

// The smallest eigenvalue of the Jacobi-scaled S A S, S = diag(|A_ii|)^-1/2.
double ScaledMinEigenvalue(const Eigen::MatrixXd& A) {
  const Eigen::VectorXd s = A.diagonal().cwiseAbs().cwiseSqrt().cwiseInverse();
  const Eigen::MatrixXd scaled = s.asDiagonal() * A * s.asDiagonal();
  return Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(scaled, Eigen::EigenvaluesOnly)
      .eigenvalues()
      .minCoeff();
}

MinimiserDerivative::Options SparseOptions(SparseLinearAlgebraLibraryType library) {
  MinimiserDerivative::Options options;
  options.lambda = 0.0;
  options.linear_solver_type = LinearSolverType::SPARSE;
  options.sparse_linear_algebra_library_type = library;
  return options;
}

class DampedSolverClassification
    : public ::testing::TestWithParam<SparseLinearAlgebraLibraryType> {};

TEST_P(DampedSolverClassification, PositiveDefiniteIsFactorised) {
  const Eigen::MatrixXd A = BadlyScaledTridiagonal(Eigen::VectorXd::Constant(kSize, 2.5));
  DampedSolver solver(SparseOptions(GetParam()));
  Eigen::SparseMatrix<double> upper = UpperTriangle(A);
  solver.SetSparse(&upper);
  ASSERT_TRUE(solver.Factorise(0.0).ok());
  const Eigen::VectorXd b = Eigen::VectorXd::LinSpaced(kSize, 1.0, 2.0);
  const Eigen::VectorXd x = solver.Solve(b);
  EXPECT_LE((A * x - b).norm(), 1e-10 * b.norm());
}

// A path graph's Laplacian: positive semi-definite with the constant vector
// as its only null direction.
TEST_P(DampedSolverClassification, SingularIsRefusedWithItsNullSpaceDimension) {
  Eigen::VectorXd diagonal = Eigen::VectorXd::Constant(kSize, 2.0);
  diagonal[0] = diagonal[kSize - 1] = 1.0;
  const Eigen::MatrixXd A = BadlyScaledTridiagonal(diagonal);
  DampedSolver solver(SparseOptions(GetParam()));
  Eigen::SparseMatrix<double> upper = UpperTriangle(A);
  solver.SetSparse(&upper);
  const Status status = solver.Factorise(0.0);
  EXPECT_EQ(status.code(), StatusCode::kSingularHessian) << status.ToString();
  EXPECT_NE(status.message().find("null space has dimension 1"), std::string::npos)
      << status.message();
}

// One diagonal entry below the others' coupling: one negative eigenvalue.
// The reported smallest (Jacobi-scaled) eigenvalue is a Rayleigh quotient:
// negative, and not below the true one (dense eigenvalues, tolerance 1e-12).
TEST_P(DampedSolverClassification, IndefiniteIsRefusedWithAnUpperBoundOnTheSmallestEigenvalue) {
  Eigen::VectorXd diagonal = Eigen::VectorXd::Constant(kSize, 2.5);
  diagonal[kSize / 2] = 0.2;
  diagonal[kSize / 2 + 1] = 0.2;
  const Eigen::MatrixXd A = BadlyScaledTridiagonal(diagonal);
  const double true_min = ScaledMinEigenvalue(A);
  ASSERT_LT(true_min, -0.1);
  DampedSolver solver(SparseOptions(GetParam()));
  Eigen::SparseMatrix<double> upper = UpperTriangle(A);
  solver.SetSparse(&upper);
  const Status status = solver.Factorise(0.0);
  EXPECT_EQ(status.code(), StatusCode::kIndefiniteHessian) << status.ToString();
  EXPECT_LT(solver.scaled_min_eigenvalue(), 0.0);
  EXPECT_GE(solver.scaled_min_eigenvalue(), true_min - 1e-12);
}

INSTANTIATE_TEST_SUITE_P(BothLibraries, DampedSolverClassification,
                         ::testing::Values(SparseLinearAlgebraLibraryType::SUITE_SPARSE,
                                           SparseLinearAlgebraLibraryType::EIGEN_SPARSE));

}  // namespace
}  // namespace internal
}  // namespace ceres_wiberg
