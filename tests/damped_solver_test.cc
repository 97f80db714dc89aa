// Tests of the sparse classification of A = H + lambda D by DampedSolver:
// positive definite, singular (with its null space's dimension) and
// indefinite (with an upper bound on the smallest eigenvalue), on both
// sparse libraries, against dense eigenvalues computed apart from it; and of
// its Schur elimination (SPARSE_SCHUR) on bundle-adjustment-shaped matrices,
// against dense solves and eigenvalues of the whole matrix.

#include "ceres_wiberg/internal/damped_solver.h"

#include <algorithm>
#include <cmath>
#include <random>
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

// Dense: A's own extreme eigenvalues (computed on their first read after a
// Factorise) are those of the last Factorise's H + lambda I, whatever was
// read or factorised before, against a SelfAdjointEigenSolver of the whole
// matrix run apart (tolerance 1e-12 of the largest |eigenvalue|); and an
// indefinite matrix's message names its own negative eigenvalue, not the
// positive one of an earlier factorisation.
TEST(DampedSolverDense, ExtremeEigenvaluesAreThoseOfTheLastFactorisation) {
  MinimiserDerivative::Options options;
  options.linear_solver_type = LinearSolverType::DENSE;
  DampedSolver solver(options);
  auto expect_eigenvalues_of = [&](const Eigen::MatrixXd& A) {
    const Eigen::VectorXd eigenvalues =
        Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(A, Eigen::EigenvaluesOnly).eigenvalues();
    const double tolerance = 1e-12 * eigenvalues.cwiseAbs().maxCoeff();
    EXPECT_NEAR(solver.min_eigenvalue(), eigenvalues.minCoeff(), tolerance);
    EXPECT_NEAR(solver.max_eigenvalue(), eigenvalues.maxCoeff(), tolerance);
    EXPECT_FALSE(solver.eigenvalues_are_estimates());
  };
  const Eigen::MatrixXd H = BadlyScaledTridiagonal(Eigen::VectorXd::Constant(kSize, 2.5));
  const Eigen::MatrixXd I = Eigen::MatrixXd::Identity(kSize, kSize);
  solver.SetDense(H);
  ASSERT_TRUE(solver.Factorise(1.0).ok());
  ASSERT_TRUE(solver.Factorise(1e3).ok());  // not read in between
  expect_eigenvalues_of(H + 1e3 * I);
  expect_eigenvalues_of(H + 1e3 * I);  // read twice
  ASSERT_TRUE(solver.Factorise(1.0).ok());
  expect_eigenvalues_of(H + I);

  Eigen::VectorXd diagonal = Eigen::VectorXd::Constant(kSize, 2.5);
  diagonal[kSize / 2] = diagonal[kSize / 2 + 1] = 0.2;
  const Eigen::MatrixXd indefinite = BadlyScaledTridiagonal(diagonal);
  solver.SetDense(indefinite);
  const Status status = solver.Factorise(0.0);
  ASSERT_EQ(status.code(), StatusCode::kIndefiniteHessian) << status.ToString();
  EXPECT_NE(status.message().find("its smallest eigenvalue is -"), std::string::npos)
      << status.message();
  expect_eigenvalues_of(indefinite);
}

// A bundle-adjustment-shaped H = J^T J over kCameras blocks of 6
// coordinates, then kPoints blocks of 3, each point observed (2 residuals)
// by 3 distinct random cameras (`sequential`: cameras c, c + 1, c + 2 for
// c = p mod (kCameras - 2), so that R is block banded, 68% of its upper
// triangle, and stays sparse), with random Jacobian entries, its
// coordinates' units spanning 10^-5 ... 10^5 (H = U J^T J U). With a `null`
// direction z (n entries, in the unscaled coordinates), each observation's
// rows are made orthogonal to z's entries on its blocks: J z = 0 exactly,
// so U^-1 z spans H's null space (a gauge).
constexpr int kCameras = 6;
constexpr int kCameraSize = 6;
constexpr int kPoints = 40;
constexpr int kBaSize = kCameras * kCameraSize + kPoints * 3;

struct BaShaped {
  Eigen::MatrixXd H;
  Eigen::VectorXd units;
  std::vector<int> block_sizes;
};

BaShaped BaShapedHessian(const Eigen::VectorXd& null = Eigen::VectorXd(),
                         bool sequential = false) {
  std::mt19937 rng(7);
  std::normal_distribution<double> normal;
  std::uniform_int_distribution<int> camera(0, kCameras - 1);
  BaShaped out;
  out.H = Eigen::MatrixXd::Zero(kBaSize, kBaSize);
  for (int p = 0; p < kPoints; ++p) {
    std::vector<int> cameras;
    while (cameras.size() < 3) {
      const int c = sequential ? p % (kCameras - 2) + static_cast<int>(cameras.size()) : camera(rng);
      if (std::find(cameras.begin(), cameras.end(), c) == cameras.end()) cameras.push_back(c);
    }
    for (int c : cameras) {
      std::vector<int> columns;
      for (int i = 0; i < kCameraSize; ++i) columns.push_back(c * kCameraSize + i);
      for (int i = 0; i < 3; ++i) columns.push_back(kCameras * kCameraSize + 3 * p + i);
      for (int row = 0; row < 2; ++row) {
        Eigen::VectorXd J_row(columns.size());
        for (int i = 0; i < J_row.size(); ++i) J_row[i] = normal(rng);
        if (null.size() > 0) {
          const Eigen::VectorXd z = null(columns);
          J_row -= J_row.dot(z) / z.squaredNorm() * z;
        }
        out.H(columns, columns) += J_row * J_row.transpose();
      }
    }
  }
  out.units = Eigen::VectorXd::LinSpaced(kBaSize, -5.0, 5.0).unaryExpr([](double e) {
    return std::pow(10.0, e);
  });
  // Shuffled, so that every block mixes units.
  std::shuffle(out.units.data(), out.units.data() + kBaSize, rng);
  out.H = out.units.asDiagonal() * out.H * out.units.asDiagonal();
  out.block_sizes.assign(kCameras, kCameraSize);
  out.block_sizes.insert(out.block_sizes.end(), kPoints, 3);
  return out;
}

// The Jacobi-scaled matrix and its scale, computed here apart from the
// solver.
Eigen::VectorXd Scale(const Eigen::MatrixXd& A) {
  return A.diagonal().cwiseAbs().cwiseSqrt().cwiseInverse();
}

MinimiserDerivative::Options SchurOptions(SparseLinearAlgebraLibraryType library) {
  MinimiserDerivative::Options options = SparseOptions(library);
  options.linear_solver_type = LinearSolverType::SPARSE_SCHUR;
  return options;
}

class DampedSolverSchur : public ::testing::TestWithParam<SparseLinearAlgebraLibraryType> {};

void SolvesLikeADenseFactorisation(SparseLinearAlgebraLibraryType library, bool sequential) {
  BaShaped ba = BaShapedHessian(Eigen::VectorXd(), sequential);
  ba.H.diagonal() += 1e-3 * ba.H.diagonal();  // H + 1e-3 diag(H): positive definite
  const Eigen::MatrixXd& A = ba.H;
  const Eigen::VectorXd s = Scale(A);
  Eigen::MatrixXd B(kBaSize, 3);
  for (int j = 0; j < 3; ++j) {
    B.col(j) = Eigen::VectorXd::LinSpaced(kBaSize, 1.0 + j, -2.0).cwiseQuotient(s);
  }
  const Eigen::MatrixXd scaled = s.asDiagonal() * A * s.asDiagonal();
  const Eigen::MatrixXd X_ref = s.asDiagonal() * scaled.ldlt().solve(s.asDiagonal() * B);
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eigen(scaled, Eigen::EigenvaluesOnly);
  ASSERT_GT(eigen.eigenvalues().minCoeff(), 1e-6);

  for (LinearSolverType type : {LinearSolverType::SPARSE_SCHUR, LinearSolverType::SPARSE}) {
    MinimiserDerivative::Options options = SchurOptions(library);
    options.linear_solver_type = type;
    DampedSolver solver(options);
    solver.SetBlocks(ba.block_sizes);
    Eigen::SparseMatrix<double> upper = UpperTriangle(A);
    solver.SetSparse(&upper);
    ASSERT_TRUE(solver.Factorise(0.0).ok());
    EXPECT_EQ(solver.solver_type(), type);
    EXPECT_EQ(solver.num_eliminated(), type == LinearSolverType::SPARSE_SCHUR ? 3 * kPoints : 0);
    EXPECT_EQ(solver.reduced_matrix_is_dense(),
              type == LinearSolverType::SPARSE_SCHUR && !sequential);
    const Eigen::MatrixXd X = solver.Solve(B);
    // In scaled (unit-free) coordinates.
    EXPECT_LE((s.cwiseInverse().asDiagonal() * (X - X_ref)).norm(),
              1e-10 * (s.cwiseInverse().asDiagonal() * X_ref).norm())
        << LinearSolverTypeToString(type);
    EXPECT_GE(solver.scaled_min_eigenvalue(), eigen.eigenvalues().minCoeff() * (1 - 1e-10));
    EXPECT_LE(solver.scaled_max_eigenvalue(), eigen.eigenvalues().maxCoeff() * (1 + 1e-10));
  }
}

// The points (120 of 156 coordinates) are eliminated; the solves of three
// right-hand sides match a dense LDL^T of the whole scaled matrix to 1e-10
// (its scaled condition number is about 1e4), as do the full sparse
// factorisation's; the eigenvalue estimates (power and inverse iterations
// through the Schur solves) lie inside the dense eigenvalues' range. With
// random cameras every two share a point and R is stored dense; with
// sequential ones R is sparse.
TEST_P(DampedSolverSchur, SolvesLikeADenseFactorisationOfTheWholeMatrix) {
  for (const bool sequential : {false, true}) {
    SCOPED_TRACE(sequential ? "sequential cameras" : "random cameras");
    SolvesLikeADenseFactorisation(GetParam(), sequential);
  }
}

// A bundle-adjustment-shaped H = U J^T J U over blocks of mixed sizes in a
// shuffled order (points before and after cameras, so that couplings are
// stored both in the points' columns and in the cameras'): cameras of 9
// coordinates (the fixed-size kernels) and one of 7, points of 3 (fixed
// size) and of 4, 2 and 1; each point observed (2 residuals) by 3 cameras,
// random ones (R dense) or neighbours (R block banded, sparse); units
// spanning 10^-5 ... 10^5.
struct MixedBa {
  Eigen::MatrixXd H;
  std::vector<int> block_sizes;  // in coordinate order
  int num_point_coordinates = 0;
};

MixedBa MixedBaHessian(bool sequential) {
  const std::vector<int> camera_sizes = {9, 9, 7, 9, 9, 9, 9, 9};
  const std::vector<int> point_size_cycle = {3, 3, 3, 4, 2, 1};
  constexpr int kMixedPoints = 60;
  const int num_cameras = static_cast<int>(camera_sizes.size());
  std::vector<int> sizes = camera_sizes;  // cameras, then points
  for (int p = 0; p < kMixedPoints; ++p) sizes.push_back(point_size_cycle[p % 6]);
  std::mt19937 rng(5);
  std::vector<int> order(sizes.size());
  for (size_t b = 0; b < order.size(); ++b) order[b] = static_cast<int>(b);
  std::shuffle(order.begin(), order.end(), rng);
  MixedBa out;
  std::vector<int> start(sizes.size());
  int n = 0;
  for (int b : order) {
    start[b] = n;
    n += sizes[b];
    out.block_sizes.push_back(sizes[b]);
  }
  for (int p = 0; p < kMixedPoints; ++p) out.num_point_coordinates += sizes[num_cameras + p];
  std::normal_distribution<double> normal;
  std::uniform_int_distribution<int> camera(0, num_cameras - 1);
  out.H = Eigen::MatrixXd::Zero(n, n);
  for (int p = 0; p < kMixedPoints; ++p) {
    std::vector<int> cameras;
    while (cameras.size() < 3) {
      const int c = sequential ? p % (num_cameras - 2) + static_cast<int>(cameras.size())
                               : camera(rng);
      if (std::find(cameras.begin(), cameras.end(), c) == cameras.end()) cameras.push_back(c);
    }
    const int point = num_cameras + p;
    for (int c : cameras) {
      std::vector<int> columns;
      for (int i = 0; i < sizes[c]; ++i) columns.push_back(start[c] + i);
      for (int i = 0; i < sizes[point]; ++i) columns.push_back(start[point] + i);
      Eigen::MatrixXd J(2, columns.size());
      for (int i = 0; i < J.size(); ++i) J.data()[i] = normal(rng);
      out.H(columns, columns) += J.transpose() * J;
    }
  }
  Eigen::VectorXd units = Eigen::VectorXd::LinSpaced(n, -5.0, 5.0).unaryExpr([](double e) {
    return std::pow(10.0, e);
  });
  std::shuffle(units.data(), units.data() + n, rng);
  out.H = units.asDiagonal() * out.H * units.asDiagonal();
  out.H.diagonal() += 1e-3 * out.H.diagonal();  // H + 1e-3 diag(H): positive definite
  return out;
}

// Two right-hand sides B (of A's units) and X = A^-1 B by a dense LDL^T of
// the Jacobi-scaled S A S, computed apart from the solver.
struct DenseSolves {
  Eigen::VectorXd s;
  Eigen::MatrixXd scaled, B, X;
};

DenseSolves SolveDense(const Eigen::MatrixXd& A) {
  DenseSolves out;
  const int n = static_cast<int>(A.rows());
  out.s = Scale(A);
  out.B.resize(n, 2);
  out.B.col(0) = Eigen::VectorXd::LinSpaced(n, 1.0, -2.0).cwiseQuotient(out.s);
  out.B.col(1) = Eigen::VectorXd::LinSpaced(n, -3.0, 0.5).cwiseQuotient(out.s);
  out.scaled = out.s.asDiagonal() * A * out.s.asDiagonal();
  out.X = out.s.asDiagonal() * out.scaled.ldlt().solve(out.s.asDiagonal() * out.B);
  return out;
}

// The mixed shapes above: every point eliminated, whatever its size and
// wherever its couplings are stored; the solves of two right-hand sides
// match a dense LDL^T of the whole scaled matrix to 1e-10 (scaled
// coordinates), for R dense and sparse, and the pivots' eigenvalue range
// lies inside the dense one (to 1e-10).
TEST_P(DampedSolverSchur, MixedBlockSizesAndOrderSolveLikeADenseFactorisation) {
  for (const bool sequential : {false, true}) {
    SCOPED_TRACE(sequential ? "neighbouring cameras" : "random cameras");
    const MixedBa ba = MixedBaHessian(sequential);
    const Eigen::MatrixXd& A = ba.H;
    const DenseSolves dense = SolveDense(A);
    const Eigen::VectorXd& s = dense.s;
    const Eigen::MatrixXd& X_ref = dense.X;
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eigen(dense.scaled, Eigen::EigenvaluesOnly);
    ASSERT_GT(eigen.eigenvalues().minCoeff(), 1e-8);

    MinimiserDerivative::Options options = SchurOptions(GetParam());
    options.eigenvalue_iterations = 0;  // the pivots' range alone
    DampedSolver solver(options);
    solver.SetBlocks(ba.block_sizes);
    Eigen::SparseMatrix<double> upper = UpperTriangle(A);
    solver.SetSparse(&upper);
    const Status status = solver.Factorise(0.0);
    ASSERT_TRUE(status.ok()) << status.ToString();
    EXPECT_EQ(solver.solver_type(), LinearSolverType::SPARSE_SCHUR);
    EXPECT_EQ(solver.num_eliminated(), ba.num_point_coordinates);
    EXPECT_EQ(solver.reduced_matrix_is_dense(), !sequential);
    const Eigen::MatrixXd X = solver.Solve(dense.B);
    EXPECT_LE((s.cwiseInverse().asDiagonal() * (X - X_ref)).norm(),
              1e-10 * (s.cwiseInverse().asDiagonal() * X_ref).norm());
    EXPECT_GE(solver.scaled_min_eigenvalue(), eigen.eigenvalues().minCoeff() * (1 - 1e-10));
    EXPECT_LE(solver.scaled_max_eigenvalue(), eigen.eigenvalues().maxCoeff() * (1 + 1e-10));
  }
}

// Blocks coupled to nothing (H block diagonal, units 1e-4 to 1e4): every
// block is eliminated alone, each with no coupling to solve for and an empty
// reduced matrix (the derivative_options fuzzer's case). The solve matches a
// dense LDL^T of the whole scaled matrix to 1e-10.
TEST_P(DampedSolverSchur, BlocksCoupledToNothingAreEliminatedAlone) {
  std::mt19937 rng(3);
  std::normal_distribution<double> normal;
  const std::vector<int> sizes = {3, 2, 3, 1};
  const int n = 9;
  Eigen::MatrixXd A = Eigen::MatrixXd::Zero(n, n);
  int start = 0;
  for (int size : sizes) {
    Eigen::MatrixXd M(size, size);
    for (int i = 0; i < M.size(); ++i) M.data()[i] = normal(rng);
    A.block(start, start, size, size) =
        M * M.transpose() + Eigen::MatrixXd::Identity(size, size);
    start += size;
  }
  const Eigen::VectorXd units = Eigen::VectorXd::LinSpaced(n, -4.0, 4.0).unaryExpr(
      [](double e) { return std::pow(10.0, e); });
  A = units.asDiagonal() * A * units.asDiagonal();
  const DenseSolves dense = SolveDense(A);
  const Eigen::VectorXd& s = dense.s;
  const Eigen::MatrixXd& X_ref = dense.X;

  DampedSolver solver(SchurOptions(GetParam()));
  solver.SetBlocks(sizes);
  Eigen::SparseMatrix<double> upper = UpperTriangle(A);
  solver.SetSparse(&upper);
  const Status status = solver.Factorise(0.0);
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(solver.solver_type(), LinearSolverType::SPARSE_SCHUR);
  EXPECT_EQ(solver.num_eliminated(), n);
  const Eigen::MatrixXd X = solver.Solve(dense.B);
  EXPECT_LE((s.cwiseInverse().asDiagonal() * (X - X_ref)).norm(),
            1e-10 * (s.cwiseInverse().asDiagonal() * X_ref).norm());
}

// A gauge: H z = 0 for a z over all blocks. Refused as singular (dense
// eigenvalues: one within 1e-12 of zero, the next above 1e-4), and the null
// direction found is z's, in scaled coordinates, to 1e-6.
TEST_P(DampedSolverSchur, GaugeIsSingularWithItsNullDirection) {
  const Eigen::VectorXd z = Eigen::VectorXd::LinSpaced(kBaSize, 1.0, 3.0);
  const BaShaped ba = BaShapedHessian(z);
  const Eigen::VectorXd s = Scale(ba.H);
  const Eigen::MatrixXd scaled = s.asDiagonal() * ba.H * s.asDiagonal();
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eigen(scaled);
  ASSERT_LT(std::abs(eigen.eigenvalues()[0]), 1e-12 * eigen.eigenvalues().maxCoeff());
  ASSERT_GT(eigen.eigenvalues()[1], 1e-4 * eigen.eigenvalues().maxCoeff());
  DampedSolver solver(SchurOptions(GetParam()));
  solver.SetBlocks(ba.block_sizes);
  Eigen::SparseMatrix<double> upper = UpperTriangle(ba.H);
  solver.SetSparse(&upper);
  const Status status = solver.Factorise(0.0);
  EXPECT_EQ(status.code(), StatusCode::kSingularHessian) << status.ToString();
  const Eigen::VectorXd v = solver.null_direction();
  ASSERT_EQ(v.size(), kBaSize);
  EXPECT_NEAR(std::abs(v.normalized().dot(eigen.eigenvectors().col(0))), 1.0, 1e-6);
}

// Indefinite inside an eliminated block (a point's diagonal block has a
// negative eigenvalue), and only in R (every point block positive definite,
// a camera's diagonal lowered): both refused as indefinite by the full
// factorisation (the Schur route declines), with a smallest eigenvalue that
// is negative and not below the dense one.
TEST_P(DampedSolverSchur, IndefiniteInABlockOrOnlyInTheReducedMatrixIsRefused) {
  for (const bool in_block : {true, false}) {
    BaShaped ba = BaShapedHessian();
    ba.H.diagonal() += 1e-3 * ba.H.diagonal();
    if (in_block) {
      const int point = kCameras * kCameraSize + 3 * 5;
      ba.H(point + 1, point + 1) *= -1.0;
    } else {
      for (int i = 0; i < kCameraSize; ++i) ba.H(2 * kCameraSize + i, 2 * kCameraSize + i) *= 0.05;
    }
    const Eigen::VectorXd s = Scale(ba.H);
    const Eigen::MatrixXd scaled = s.asDiagonal() * ba.H * s.asDiagonal();
    const double true_min =
        Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(scaled, Eigen::EigenvaluesOnly)
            .eigenvalues()
            .minCoeff();
    ASSERT_LT(true_min, -1e-3);
    if (!in_block) {
      for (int p = 0; p < kPoints; ++p) {
        const int start = kCameras * kCameraSize + 3 * p;
        ASSERT_EQ(scaled.block(start, start, 3, 3).llt().info(), Eigen::Success);
      }
    }
    DampedSolver solver(SchurOptions(GetParam()));
    solver.SetBlocks(ba.block_sizes);
    Eigen::SparseMatrix<double> upper = UpperTriangle(ba.H);
    solver.SetSparse(&upper);
    const Status status = solver.Factorise(0.0);
    EXPECT_EQ(status.code(), StatusCode::kIndefiniteHessian)
        << (in_block ? "in a block: " : "in R: ") << status.ToString();
    EXPECT_EQ(solver.solver_type(), LinearSolverType::SPARSE);
    EXPECT_LT(solver.scaled_min_eigenvalue(), 0.0);
    EXPECT_GE(solver.scaled_min_eigenvalue(), true_min - 1e-12);
  }
}

// Fixed coordinates (one of a point, a whole point, one of a camera) leave
// the system: the solve matches a dense solve of A_FF (to 1e-10, scaled),
// zero on the fixed rows, and the partly fixed point is still eliminated.
TEST_P(DampedSolverSchur, FixedCoordinatesLeaveTheSystem) {
  BaShaped ba = BaShapedHessian();
  ba.H.diagonal() += 1e-3 * ba.H.diagonal();
  std::vector<char> fixed(kBaSize, 0);
  const int points = kCameras * kCameraSize;
  fixed[points + 1] = 1;                                            // of point 0
  fixed[points + 9] = fixed[points + 10] = fixed[points + 11] = 1;  // point 3
  fixed[4] = 1;                                                     // of camera 0
  std::vector<int> free;
  for (int i = 0; i < kBaSize; ++i) {
    if (!fixed[i]) free.push_back(i);
  }
  const Eigen::MatrixXd A_FF = ba.H(free, free);
  const Eigen::VectorXd s = Scale(A_FF);
  const Eigen::VectorXd b = Eigen::VectorXd::LinSpaced(kBaSize, -1.0, 2.0);
  const Eigen::MatrixXd scaled = s.asDiagonal() * A_FF * s.asDiagonal();
  const Eigen::VectorXd x_F = s.asDiagonal() * scaled.ldlt().solve(s.asDiagonal() * b(free));
  DampedSolver solver(SchurOptions(GetParam()));
  solver.SetBlocks(ba.block_sizes);
  solver.SetFixed(fixed);
  Eigen::SparseMatrix<double> upper = UpperTriangle(ba.H);
  solver.SetSparse(&upper);
  ASSERT_TRUE(solver.Factorise(0.0).ok());
  EXPECT_EQ(solver.solver_type(), LinearSolverType::SPARSE_SCHUR);
  EXPECT_EQ(solver.num_eliminated(), 3 * kPoints - 4);
  const Eigen::VectorXd x = solver.Solve(b);
  EXPECT_LE((s.cwiseInverse().asDiagonal() * (x(free) - x_F)).norm(),
            1e-10 * (s.cwiseInverse().asDiagonal() * x_F).norm());
  for (int i = 0; i < kBaSize; ++i) {
    if (fixed[i]) EXPECT_EQ(x[i], 0.0) << i;
  }
}

// AUTOMATIC: the Schur route for the BA shape (the points are 77% of the
// coordinates), not for an image whose pixels (1-coordinate blocks) are
// coupled through 5 x 5 windows, where few pixels are independent.
TEST_P(DampedSolverSchur, AutomaticChoosesTheSchurRouteWhereItEliminatesMost) {
  MinimiserDerivative::Options options = SparseOptions(GetParam());
  options.linear_solver_type = LinearSolverType::AUTOMATIC;
  BaShaped ba = BaShapedHessian();
  ba.H.diagonal() += 1e-3 * ba.H.diagonal();
  DampedSolver ba_solver(options);
  ba_solver.SetBlocks(ba.block_sizes);
  Eigen::SparseMatrix<double> upper = UpperTriangle(ba.H);
  ba_solver.SetSparse(&upper);
  ASSERT_TRUE(ba_solver.Factorise(0.0).ok());
  EXPECT_EQ(ba_solver.solver_type(), LinearSolverType::SPARSE_SCHUR);

  constexpr int kSide = 16;
  Eigen::MatrixXd image = Eigen::MatrixXd::Zero(kSide * kSide, kSide * kSide);
  for (int i = 0; i < kSide * kSide; ++i) {
    for (int j = 0; j < kSide * kSide; ++j) {
      const int dx = std::abs(i % kSide - j % kSide), dy = std::abs(i / kSide - j / kSide);
      if (i != j && dx <= 2 && dy <= 2) image(i, j) = -0.01;
    }
    image(i, i) = 1.0;
  }
  DampedSolver image_solver(options);
  image_solver.SetBlocks(std::vector<int>(kSide * kSide, 1));
  upper = UpperTriangle(image);
  image_solver.SetSparse(&upper);
  ASSERT_TRUE(image_solver.Factorise(0.0).ok());
  EXPECT_EQ(image_solver.solver_type(), LinearSolverType::SPARSE);
}

INSTANTIATE_TEST_SUITE_P(BothLibraries, DampedSolverSchur,
                         ::testing::Values(SparseLinearAlgebraLibraryType::SUITE_SPARSE,
                                           SparseLinearAlgebraLibraryType::EIGEN_SPARSE));

}  // namespace
}  // namespace internal
}  // namespace ceres_wiberg
