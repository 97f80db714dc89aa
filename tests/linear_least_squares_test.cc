// Tests of DifferentiableLinearLeastSquares: the closed-form derivatives
// (F1)/(R1) and (F2)/(R2) of include/ceres_wiberg/linear_least_squares.h
// against central finite differences of an independent solver, on the four
// shapes (over-determined, square, under-determined, rank-deficient), both
// modes, several seeds; and against the general minimiser derivative of the
// core library on the same problems written as ceres::Problems.
//
// Tolerances. Every derivative check requires a relative error <= 1e-7,
// measured as max_ij |actual_ij - expected_ij| / max_ij |expected_ij| (for a
// scalar, |actual - expected| / |expected|).
//
// Finite differences. Central differences with step h = 1e-5 (about the
// optimal cbrt(eps)) along a unit (Frobenius) direction: the truncation error
// h^2 |y'''| / 6 and the rounding error eps |y| / h are both of order 1e-11
// to 1e-10 (measured worst: 8e-10) for the test matrices, whose nonzero
// singular values are drawn in [1, 2] (so that the derivative constants, which
// grow like powers of the condition number, are O(1) and 1e-7 is a meaningful
// margin rather than a guess). The FD reference solves with Eigen's
// CompleteOrthogonalDecomposition (l2 = 0) or a column-pivoted QR of the
// stacked matrix [A; sqrt(l2) I] (l2 > 0), never with the class under test.

#include "ceres_wiberg/linear_least_squares.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <iostream>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "Eigen/Dense"
#include "ceres/ceres.h"
#include "ceres_wiberg/bilevel_problem.h"
#include "ceres_wiberg/minimiser_derivative.h"
#include "gtest/gtest.h"

namespace ceres_wiberg {
namespace {

using Eigen::MatrixXd;
using Eigen::VectorXd;
using Options = DifferentiableLinearLeastSquares::Options;

constexpr double kDerivativeTolerance = 1e-7;
constexpr double kStep = 1e-5;
constexpr int kNumSeeds = 5;

// ---------------------------------------------------------------------------
// Helpers.

MatrixXd Gaussian(int rows, int cols, std::mt19937* rng) {
  std::normal_distribution<double> normal;
  MatrixXd x(rows, cols);
  for (int j = 0; j < cols; ++j) {
    for (int i = 0; i < rows; ++i) x(i, j) = normal(*rng);
  }
  return x;
}

MatrixXd UnitGaussian(int rows, int cols, std::mt19937* rng) {
  const MatrixXd x = Gaussian(rows, cols, rng);
  return x / x.norm();
}

// rows x cols with orthonormal columns (cols <= rows).
MatrixXd RandomOrthonormal(int rows, int cols, std::mt19937* rng) {
  Eigen::HouseholderQR<MatrixXd> qr(Gaussian(rows, cols, rng));
  return qr.householderQ() * MatrixXd::Identity(rows, cols);
}

double RelativeError(const MatrixXd& actual, const MatrixXd& expected) {
  EXPECT_EQ(actual.rows(), expected.rows());
  EXPECT_EQ(actual.cols(), expected.cols());
  if (actual.rows() != expected.rows() || actual.cols() != expected.cols()) {
    return std::numeric_limits<double>::infinity();
  }
  return (actual - expected).cwiseAbs().maxCoeff() /
         expected.cwiseAbs().maxCoeff();
}

double RelativeError(double actual, double expected) {
  return std::abs(actual - expected) / std::abs(expected);
}

// <X, Y> = tr(X^T Y).
double Inner(const MatrixXd& x, const MatrixXd& y) {
  return x.cwiseProduct(y).sum();
}

// argmin ||A y - b||^2 + l2 ||y||^2 (minimum norm for l2 = 0) by a
// decomposition independent of the class under test. The COD threshold 1e-10
// sits in the gap between the test matrices' singular values ([1, 2]) and
// the rounding-level ones (~1e-16) of their exactly rank-deficient
// perturbations, so the reference rank is the true rank.
MatrixXd ReferenceSolution(const MatrixXd& A, const MatrixXd& b, double l2) {
  if (l2 == 0.0) {
    Eigen::CompleteOrthogonalDecomposition<MatrixXd> cod;
    cod.setThreshold(1e-10);
    cod.compute(A);
    return cod.solve(b);
  }
  const int m = A.rows();
  const int n = A.cols();
  MatrixXd stacked_A(m + n, n);
  stacked_A << A, std::sqrt(l2) * MatrixXd::Identity(n, n);
  MatrixXd stacked_b(m + n, b.cols());
  stacked_b << b, MatrixXd::Zero(n, b.cols());
  return stacked_A.colPivHouseholderQr().solve(stacked_b);
}

// A = B C, B m x r, C r x n, with singular values drawn in [1, 2].
struct Factors {
  MatrixXd B;
  MatrixXd C;
};

Factors RandomFactors(int m, int n, int rank, std::mt19937* rng) {
  std::uniform_real_distribution<double> uniform(1.0, 2.0);
  VectorXd s(rank);
  for (int i = 0; i < rank; ++i) s(i) = uniform(*rng);
  Factors factors;
  factors.B = RandomOrthonormal(m, rank, rng) * s.asDiagonal();
  factors.C = RandomOrthonormal(n, rank, rng).transpose();
  return factors;
}

// One problem of a shape, and a path t -> (A(t), b(t)) through it with
// A'(0) = dA, b'(0) = db along which derivatives are compared with FD.
//
// Why rank-preserving paths: for l2 = 0 and rank(A) = r < min(m, n), the
// minimum-norm solution is not differentiable. A generic straight line
// A + t dA has rank > r for every t != 0, with new singular values O(t),
// so A^+ (A + t dA) contains O(1/t) terms and y* jumps (see the test
// GenericPerturbationOfRankDeficientAIsDiscontinuous): central differences
// diverge as h -> 0 rather than converge to anything. The formula (F2) is
// the derivative along rank-r matrices, so there the path is
// A(t) = (B + t dB)(C + t dC), which has rank r for all small t, and
// dA = dB C + B dC. This tangent direction still exercises every term of (F2):
// (I - A A^+) dB C != 0 and B dC (I - A^+ A) != 0.
struct TestPath {
  bool rank_preserving = false;
  MatrixXd A, b;            // At t = 0.
  Factors factors;          // A = B C.
  MatrixXd dA, db, dB, dC;  // Direction.

  MatrixXd AAt(double t) const {
    return rank_preserving
               ? MatrixXd((factors.B + t * dB) * (factors.C + t * dC))
               : MatrixXd(A + t * dA);
  }
  MatrixXd BAt(double t) const { return b + t * db; }
};

struct ProblemCase {
  const char* name;
  int m;
  int n;
  int k;
  int rank;
  LeastSquaresMethod method;
  double l2;

  bool NeedsRankPreservingPath() const {
    return l2 == 0.0 && rank < std::min(m, n);
  }
  Options MakeOptions() const {
    Options options;
    options.method = method;
    options.l2_regulariser = l2;
    return options;
  }
};

TestPath MakePath(const ProblemCase& c, std::mt19937* rng) {
  TestPath path;
  path.rank_preserving = c.NeedsRankPreservingPath();
  path.factors = RandomFactors(c.m, c.n, c.rank, rng);
  path.A = path.factors.B * path.factors.C;
  path.b = Gaussian(c.m, c.k, rng);
  path.db = UnitGaussian(c.m, c.k, rng);
  if (path.rank_preserving) {
    path.dB = Gaussian(c.m, c.rank, rng);
    path.dC = Gaussian(c.rank, c.n, rng);
    const double scale = (path.dB * path.factors.C + path.factors.B * path.dC)
                             .norm();
    path.dB /= scale;
    path.dC /= scale;
    path.dA = path.dB * path.factors.C + path.factors.B * path.dC;
  } else {
    path.dA = UnitGaussian(c.m, c.n, rng);
  }
  return path;
}

// d/dt y*(A(t), b(t)) at 0 by central differences of the reference solver.
MatrixXd CentralDifference(const TestPath& path, double l2) {
  const MatrixXd y_plus =
      ReferenceSolution(path.AAt(kStep), path.BAt(kStep), l2);
  const MatrixXd y_minus =
      ReferenceSolution(path.AAt(-kStep), path.BAt(-kStep), l2);
  return (y_plus - y_minus) / (2.0 * kStep);
}

// ---------------------------------------------------------------------------
// Options and enums.

TEST(LinearLeastSquaresTest, MethodToString) {
  EXPECT_STREQ(
      LeastSquaresMethodToString(LeastSquaresMethod::FULL_RANK_CHOLESKY),
      "FULL_RANK_CHOLESKY");
  EXPECT_STREQ(LeastSquaresMethodToString(LeastSquaresMethod::MINIMUM_NORM),
               "MINIMUM_NORM");
}

TEST(LinearLeastSquaresTest, OptionsIsValid) {
  std::string error;
  EXPECT_TRUE(Options().IsValid(&error)) << error;
  EXPECT_TRUE(error.empty());

  Options options;
  options.l2_regulariser = -1.0;
  EXPECT_FALSE(options.IsValid(&error));
  EXPECT_NE(error.find("l2_regulariser"), std::string::npos) << error;

  options = Options();
  options.l2_regulariser = std::nan("");
  EXPECT_FALSE(options.IsValid(&error));

  options = Options();
  options.rank_tolerance = 1.0;
  EXPECT_FALSE(options.IsValid(&error));
  EXPECT_NE(error.find("rank_tolerance"), std::string::npos) << error;

  options = Options();
  options.cholesky_rcond_tolerance = std::numeric_limits<double>::infinity();
  EXPECT_FALSE(options.IsValid(&error));

  options = Options();
  options.num_threads = 0;
  EXPECT_FALSE(options.IsValid(&error));
  EXPECT_NE(error.find("num_threads"), std::string::npos) << error;

  // Solve refuses invalid options with a status, not an abort.
  DifferentiableLinearLeastSquares lstsq(options);
  const Status status = lstsq.Solve(MatrixXd::Identity(2, 2),
                                    MatrixXd::Ones(2, 1));
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(lstsq.is_solved());
}

// ---------------------------------------------------------------------------
// Derivatives against finite differences, every shape and path.

class LinearLeastSquaresDerivativeTest
    : public ::testing::TestWithParam<ProblemCase> {};

TEST_P(LinearLeastSquaresDerivativeTest, SolutionMatchesReference) {
  const ProblemCase& c = GetParam();
  for (int seed = 1; seed <= kNumSeeds; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 rng(seed);
    const TestPath path = MakePath(c, &rng);
    DifferentiableLinearLeastSquares lstsq(c.MakeOptions());
    ASSERT_TRUE(lstsq.Solve(path.A, path.b).ok());
    const MatrixXd reference = ReferenceSolution(path.A, path.b, c.l2);
    // Both solutions are backward stable for matrices of condition <= 2.
    EXPECT_LE(RelativeError(lstsq.solution(), reference), 1e-12);
    EXPECT_EQ(lstsq.num_rows(), c.m);
    EXPECT_EQ(lstsq.num_cols(), c.n);
    EXPECT_EQ(lstsq.num_rhs(), c.k);
    if (c.method == LeastSquaresMethod::MINIMUM_NORM) {
      EXPECT_EQ(lstsq.rank(), c.rank);
    } else {
      EXPECT_EQ(lstsq.rank(), c.l2 == 0.0 ? c.n : -1);
    }
  }
}

TEST_P(LinearLeastSquaresDerivativeTest, ForwardMatchesCentralDifferences) {
  const ProblemCase& c = GetParam();
  double worst = 0.0;
  for (int seed = 1; seed <= kNumSeeds; ++seed) {
    std::mt19937 rng(seed);
    const TestPath path = MakePath(c, &rng);
    DifferentiableLinearLeastSquares lstsq(c.MakeOptions());
    ASSERT_TRUE(lstsq.Solve(path.A, path.b).ok());
    MatrixXd dy;
    ASSERT_TRUE(lstsq.Forward(path.dA, path.db, &dy).ok());
    const double error = RelativeError(dy, CentralDifference(path, c.l2));
    EXPECT_LE(error, kDerivativeTolerance) << "seed " << seed;
    worst = std::max(worst, error);
  }
  std::cout << "  " << c.name << " forward: worst relative error " << worst
            << "\n";
}

// <dL/dy*, dy*> = <dL/dA, dA> + <dL/db, db> with dy* from finite differences
// and a random dL/dy*.
TEST_P(LinearLeastSquaresDerivativeTest, ReverseAdjointMatchesCentralDifferences) {
  const ProblemCase& c = GetParam();
  double worst = 0.0;
  for (int seed = 1; seed <= kNumSeeds; ++seed) {
    std::mt19937 rng(seed);
    const TestPath path = MakePath(c, &rng);
    const MatrixXd dL_dy = Gaussian(c.n, c.k, &rng);
    DifferentiableLinearLeastSquares lstsq(c.MakeOptions());
    ASSERT_TRUE(lstsq.Solve(path.A, path.b).ok());
    MatrixXd dL_dA, dL_db;
    ASSERT_TRUE(lstsq.Reverse(dL_dy, &dL_dA, &dL_db).ok());
    ASSERT_EQ(dL_dA.rows(), c.m);
    ASSERT_EQ(dL_dA.cols(), c.n);
    ASSERT_EQ(dL_db.rows(), c.m);
    ASSERT_EQ(dL_db.cols(), c.k);
    const double expected = Inner(dL_dy, CentralDifference(path, c.l2));
    const double actual = Inner(dL_dA, path.dA) + Inner(dL_db, path.db);
    const double error = RelativeError(actual, expected);
    EXPECT_LE(error, kDerivativeTolerance) << "seed " << seed;
    worst = std::max(worst, error);
  }
  std::cout << "  " << c.name << " reverse (adjoint): worst relative error "
            << worst << "\n";
}

// dL/dA and dL/db entry by entry against central differences of
// L = <G, y*>. For rank-deficient A with l2 = 0 single entries of A are not
// rank-preserving directions, so the entries differenced are those of the
// factors B and C (A = B C), compared with the chain rule dL/dB = dL/dA C^T
// and dL/dC = B^T dL/dA.
TEST_P(LinearLeastSquaresDerivativeTest, ReverseMatchesEntrywiseDifferences) {
  const ProblemCase& c = GetParam();
  double worst = 0.0;
  for (int seed = 1; seed <= kNumSeeds; ++seed) {
    std::mt19937 rng(seed);
    const TestPath path = MakePath(c, &rng);
    const MatrixXd G = Gaussian(c.n, c.k, &rng);
    DifferentiableLinearLeastSquares lstsq(c.MakeOptions());
    ASSERT_TRUE(lstsq.Solve(path.A, path.b).ok());
    MatrixXd dL_dA, dL_db;
    ASSERT_TRUE(lstsq.Reverse(G, &dL_dA, &dL_db).ok());

    const Factors& f = path.factors;
    auto loss = [&](const MatrixXd& A, const MatrixXd& b) {
      return Inner(G, ReferenceSolution(A, b, c.l2));
    };
    // Central difference of loss(A(x), b(x)) in each entry of x.
    auto entrywise = [&](const MatrixXd& x,
                         const std::function<double(const MatrixXd&)>& f_x) {
      MatrixXd gradient(x.rows(), x.cols());
      for (int j = 0; j < x.cols(); ++j) {
        for (int i = 0; i < x.rows(); ++i) {
          MatrixXd plus = x, minus = x;
          plus(i, j) += kStep;
          minus(i, j) -= kStep;
          gradient(i, j) = (f_x(plus) - f_x(minus)) / (2.0 * kStep);
        }
      }
      return gradient;
    };
    const MatrixXd fd_b = entrywise(
        path.b, [&](const MatrixXd& b) { return loss(path.A, b); });
    double error = RelativeError(dL_db, fd_b);
    if (path.rank_preserving) {
      const MatrixXd fd_B = entrywise(
          f.B, [&](const MatrixXd& B) { return loss(B * f.C, path.b); });
      const MatrixXd fd_C = entrywise(
          f.C, [&](const MatrixXd& C) { return loss(f.B * C, path.b); });
      error = std::max(error, RelativeError(dL_dA * f.C.transpose(), fd_B));
      error = std::max(error, RelativeError(f.B.transpose() * dL_dA, fd_C));
    } else {
      const MatrixXd fd_A = entrywise(
          path.A, [&](const MatrixXd& A) { return loss(A, path.b); });
      error = std::max(error, RelativeError(dL_dA, fd_A));
    }
    EXPECT_LE(error, kDerivativeTolerance) << "seed " << seed;
    worst = std::max(worst, error);
  }
  std::cout << "  " << c.name << " reverse (entrywise): worst relative error "
            << worst << "\n";
}

// Reverse mode must be the exact adjoint of forward mode (to rounding), for
// any direction, including non-rank-preserving ones.
TEST_P(LinearLeastSquaresDerivativeTest, ReverseIsAdjointOfForward) {
  const ProblemCase& c = GetParam();
  std::mt19937 rng(17);
  const TestPath path = MakePath(c, &rng);
  DifferentiableLinearLeastSquares lstsq(c.MakeOptions());
  ASSERT_TRUE(lstsq.Solve(path.A, path.b).ok());
  const MatrixXd dA = Gaussian(c.m, c.n, &rng);
  const MatrixXd db = Gaussian(c.m, c.k, &rng);
  const MatrixXd G = Gaussian(c.n, c.k, &rng);
  MatrixXd dy, dL_dA, dL_db;
  ASSERT_TRUE(lstsq.Forward(dA, db, &dy).ok());
  ASSERT_TRUE(lstsq.Reverse(G, &dL_dA, &dL_db).ok());
  EXPECT_LE(RelativeError(Inner(dL_dA, dA) + Inner(dL_db, db), Inner(G, dy)),
            1e-12);
}

const ProblemCase kProblemCases[] = {
    // name, m, n, k, rank, method, l2
    {"OverdeterminedCholesky", 7, 4, 2, 4,
     LeastSquaresMethod::FULL_RANK_CHOLESKY, 0.0},
    {"OverdeterminedMinimumNorm", 7, 4, 2, 4, LeastSquaresMethod::MINIMUM_NORM,
     0.0},
    {"SquareCholesky", 5, 5, 2, 5, LeastSquaresMethod::FULL_RANK_CHOLESKY, 0.0},
    {"SquareMinimumNorm", 5, 5, 2, 5, LeastSquaresMethod::MINIMUM_NORM, 0.0},
    {"UnderdeterminedMinimumNorm", 3, 6, 2, 3,
     LeastSquaresMethod::MINIMUM_NORM, 0.0},
    {"RankDeficientTallMinimumNorm", 7, 5, 2, 3,
     LeastSquaresMethod::MINIMUM_NORM, 0.0},
    {"RankDeficientWideMinimumNorm", 4, 6, 2, 2,
     LeastSquaresMethod::MINIMUM_NORM, 0.0},
    {"RankDeficientSquareMinimumNorm", 5, 5, 1, 3,
     LeastSquaresMethod::MINIMUM_NORM, 0.0},
    // l2 > 0: the regularised problem is full rank whatever the shape.
    {"OverdeterminedCholeskyL2", 7, 4, 2, 4,
     LeastSquaresMethod::FULL_RANK_CHOLESKY, 0.3},
    {"UnderdeterminedCholeskyL2", 3, 6, 2, 3,
     LeastSquaresMethod::FULL_RANK_CHOLESKY, 0.3},
    {"RankDeficientCholeskyL2", 7, 5, 2, 3,
     LeastSquaresMethod::FULL_RANK_CHOLESKY, 0.3},
    {"OverdeterminedMinimumNormL2", 7, 4, 2, 4,
     LeastSquaresMethod::MINIMUM_NORM, 0.3},
    {"UnderdeterminedMinimumNormL2", 3, 6, 2, 3,
     LeastSquaresMethod::MINIMUM_NORM, 0.3},
    {"RankDeficientMinimumNormL2", 7, 5, 2, 3,
     LeastSquaresMethod::MINIMUM_NORM, 0.3},
};

INSTANTIATE_TEST_SUITE_P(
    AllShapes, LinearLeastSquaresDerivativeTest,
    ::testing::ValuesIn(kProblemCases),
    [](const ::testing::TestParamInfo<ProblemCase>& param_info) {
      return std::string(param_info.param.name);
    });

// ---------------------------------------------------------------------------
// The two methods, and the structure of the rank-deficient derivative.

// On full-rank A (l2 = 0) and on any A (l2 > 0), (F2)/(F1) through the SVD
// and (F1) through Cholesky are the same derivative.
TEST(LinearLeastSquaresTest, MethodsAgreeWhereBothApply) {
  struct Shape {
    int m, n, rank;
    double l2;
  };
  for (const Shape& shape : {Shape{7, 4, 4, 0.0}, Shape{5, 5, 5, 0.0},
                             Shape{7, 5, 3, 0.3}, Shape{3, 6, 3, 0.3}}) {
    std::mt19937 rng(3);
    const Factors f = RandomFactors(shape.m, shape.n, shape.rank, &rng);
    const MatrixXd A = f.B * f.C;
    const MatrixXd b = Gaussian(shape.m, 2, &rng);
    const MatrixXd dA = Gaussian(shape.m, shape.n, &rng);
    const MatrixXd db = Gaussian(shape.m, 2, &rng);
    const MatrixXd G = Gaussian(shape.n, 2, &rng);
    Options options;
    options.l2_regulariser = shape.l2;
    options.method = LeastSquaresMethod::FULL_RANK_CHOLESKY;
    DifferentiableLinearLeastSquares cholesky(options);
    options.method = LeastSquaresMethod::MINIMUM_NORM;
    DifferentiableLinearLeastSquares svd(options);
    ASSERT_TRUE(cholesky.Solve(A, b).ok());
    ASSERT_TRUE(svd.Solve(A, b).ok());
    MatrixXd dy_cholesky, dy_svd, dL_dA_cholesky, dL_dA_svd, dL_db_cholesky,
        dL_db_svd;
    ASSERT_TRUE(cholesky.Forward(dA, db, &dy_cholesky).ok());
    ASSERT_TRUE(svd.Forward(dA, db, &dy_svd).ok());
    ASSERT_TRUE(cholesky.Reverse(G, &dL_dA_cholesky, &dL_db_cholesky).ok());
    ASSERT_TRUE(svd.Reverse(G, &dL_dA_svd, &dL_db_svd).ok());
    EXPECT_LE(RelativeError(svd.solution(), cholesky.solution()), 1e-12);
    EXPECT_LE(RelativeError(dy_svd, dy_cholesky), 1e-12);
    EXPECT_LE(RelativeError(dL_dA_svd, dL_dA_cholesky), 1e-12);
    EXPECT_LE(RelativeError(dL_db_svd, dL_db_cholesky), 1e-12);
  }
}

// The gradient (R2) at a rank-deficient A lies in the tangent space of the
// rank-r matrices: U_perp^T dL/dA V_perp = 0, and (F2) vanishes on normal
// directions U_perp Z V_perp^T.
TEST(LinearLeastSquaresTest, RankDeficientDerivativeLivesOnTangentSpace) {
  std::mt19937 rng(5);
  const int m = 7, n = 5, r = 3;
  const Factors f = RandomFactors(m, n, r, &rng);
  const MatrixXd A = f.B * f.C;
  const MatrixXd b = Gaussian(m, 2, &rng);
  Options options;
  options.method = LeastSquaresMethod::MINIMUM_NORM;
  DifferentiableLinearLeastSquares lstsq(options);
  ASSERT_TRUE(lstsq.Solve(A, b).ok());
  ASSERT_EQ(lstsq.rank(), r);

  Eigen::JacobiSVD<MatrixXd> svd(A, Eigen::ComputeFullU | Eigen::ComputeFullV);
  const MatrixXd U_perp = svd.matrixU().rightCols(m - r);
  const MatrixXd V_perp = svd.matrixV().rightCols(n - r);
  MatrixXd dL_dA;
  ASSERT_TRUE(lstsq.Reverse(Gaussian(n, 2, &rng), &dL_dA, nullptr).ok());
  EXPECT_LE((U_perp.transpose() * dL_dA * V_perp).norm(),
            1e-13 * dL_dA.norm());

  MatrixXd dy;
  const MatrixXd normal = U_perp * Gaussian(m - r, n - r, &rng) *
                          V_perp.transpose();
  ASSERT_TRUE(lstsq.Forward(normal, MatrixXd::Zero(m, 2), &dy).ok());
  EXPECT_LE(dy.norm(), 1e-13);
}

// Why the rank-deficient tests use rank-preserving paths: along a generic
// direction the minimum-norm solution jumps: A + h dA has new singular values
// O(h), so y* moves by O(1/h) and the difference quotient grows like 1/h^2
// instead of converging.
TEST(LinearLeastSquaresTest, GenericPerturbationOfRankDeficientAIsDiscontinuous) {
  std::mt19937 rng(11);
  const int m = 7, n = 5, r = 3;
  const Factors f = RandomFactors(m, n, r, &rng);
  const MatrixXd A = f.B * f.C;
  const MatrixXd b = Gaussian(m, 1, &rng);
  const MatrixXd dA = UnitGaussian(m, n, &rng);
  const MatrixXd y = ReferenceSolution(A, b, 0.0);
  double previous_quotient = 0.0;
  for (double h : {1e-3, 1e-4, 1e-5}) {
    const MatrixXd y_h = ReferenceSolution(A + h * dA, b, 0.0);
    const double quotient = (y_h - y).norm() / h;
    // y* moves by O(1/h), not O(h): the quotient grows ~100-fold per step.
    EXPECT_GT(quotient, 5.0 * previous_quotient) << "h = " << h;
    EXPECT_GT((y_h - y).norm(), 1e-2) << "h = " << h;
    previous_quotient = quotient;
  }
}

// The printed equations (11)-(13) of supplementary section 2, written out
// with explicit inverses and pseudo-inverses, against central differences:
// the corrected forms in the header pass at 1e-7, the printed ones are off by
// O(1). (Equation (10), the Golub-Pereyra derivative of A^+, is printed
// correctly and is checked here as a matrix identity.)
TEST(LinearLeastSquaresTest, PrintedEquationsFailWhereCorrectedOnesPass) {
  // Printed is wrong: relative error above this.
  constexpr double kWrong = 1e-2;
  std::mt19937 rng(21);

  // (12): d(M^-1) = -M^-1 dM M^-1 for a symmetric positive definite M.
  {
    const MatrixXd X = Gaussian(6, 4, &rng);
    const MatrixXd M = X.transpose() * X + MatrixXd::Identity(4, 4);
    const MatrixXd dM = UnitGaussian(4, 4, &rng);
    const MatrixXd fd = ((M + kStep * dM).inverse() -
                         (M - kStep * dM).inverse()) / (2.0 * kStep);
    const MatrixXd M_inv = M.inverse();
    const double corrected = RelativeError(-M_inv * dM * M_inv, fd);
    const double printed = RelativeError(M_inv * dM * M_inv, fd);
    EXPECT_LE(corrected, kDerivativeTolerance);
    EXPECT_GT(printed, kWrong);
    std::cout << "  (12): corrected " << corrected << ", printed " << printed
              << "\n";
  }

  // (13): full column rank, y* = (A^T A)^-1 A^T b.
  {
    const Factors f = RandomFactors(7, 4, 4, &rng);
    TestPath path;
    path.A = f.B * f.C;
    path.b = Gaussian(7, 1, &rng);
    path.dA = UnitGaussian(7, 4, &rng);
    path.db = UnitGaussian(7, 1, &rng);
    const MatrixXd fd = CentralDifference(path, 0.0);
    const MatrixXd& A = path.A;
    const MatrixXd& dA = path.dA;
    const MatrixXd M_inv = (A.transpose() * A).inverse();
    const MatrixXd y = M_inv * A.transpose() * path.b;
    const MatrixXd common = M_inv * A.transpose() * path.db +
                            M_inv * dA.transpose() * path.b;
    const MatrixXd corrected =
        common - M_inv * (dA.transpose() * A + A.transpose() * dA) * y;
    const MatrixXd printed = common + M_inv * (2.0 * dA.transpose() * A) * y;
    // The sign alone fixed is not enough: d(A^T A) != 2 dA^T A.
    const MatrixXd sign_fixed =
        common - M_inv * (2.0 * dA.transpose() * A) * y;
    EXPECT_LE(RelativeError(corrected, fd), kDerivativeTolerance);
    EXPECT_GT(RelativeError(printed, fd), kWrong);
    EXPECT_GT(RelativeError(sign_fixed, fd), kWrong);
    std::cout << "  (13): corrected " << RelativeError(corrected, fd)
              << ", printed " << RelativeError(printed, fd)
              << ", printed with the sign fixed "
              << RelativeError(sign_fixed, fd) << "\n";
  }

  // (10) and (11): square rank-deficient A (the printed (11) only has
  // matching dimensions when m = n), along a rank-preserving path.
  {
    const int n = 5, r = 3;
    TestPath path;
    path.rank_preserving = true;
    path.factors = RandomFactors(n, n, r, &rng);
    path.A = path.factors.B * path.factors.C;
    path.b = Gaussian(n, 1, &rng);
    path.dB = UnitGaussian(n, r, &rng);
    path.dC = UnitGaussian(r, n, &rng);
    path.db = UnitGaussian(n, 1, &rng);
    path.dA = path.dB * path.factors.C + path.factors.B * path.dC;
    auto pinv = [](const MatrixXd& A) {
      Eigen::CompleteOrthogonalDecomposition<MatrixXd> cod;
      cod.setThreshold(1e-10);
      cod.compute(A);
      return MatrixXd(cod.pseudoInverse());
    };
    const MatrixXd& A = path.A;
    const MatrixXd& dA = path.dA;
    const MatrixXd P = pinv(A);
    const MatrixXd I = MatrixXd::Identity(n, n);
    const MatrixXd dP = -P * dA * P +
                        P * P.transpose() * dA.transpose() * (I - A * P) +
                        (I - P * A) * dA.transpose() * P.transpose() * P;
    const MatrixXd fd_P =
        (pinv(path.AAt(kStep)) - pinv(path.AAt(-kStep))) / (2.0 * kStep);
    EXPECT_LE(RelativeError(dP, fd_P), kDerivativeTolerance);  // (10).
    std::cout << "  (10): " << RelativeError(dP, fd_P) << "\n";

    const MatrixXd fd = CentralDifference(path, 0.0);
    const MatrixXd common = P * path.db - P * dA * P * path.b +
                            P * P.transpose() * dA.transpose() *
                                (I - A * P) * path.b;
    const MatrixXd corrected =
        common + (I - P * A) * dA.transpose() * P.transpose() * P * path.b;
    const MatrixXd printed =
        common + (I - P * A) * dA.transpose() * P.transpose() * P * dP *
                     path.b;
    EXPECT_LE(RelativeError(corrected, fd), kDerivativeTolerance);
    EXPECT_GT(RelativeError(printed, fd), kWrong);
    std::cout << "  (11): corrected " << RelativeError(corrected, fd)
              << ", printed " << RelativeError(printed, fd) << "\n";
  }
}

// ---------------------------------------------------------------------------
// Rank determination and errors.

TEST(LinearLeastSquaresTest, CholeskyRejectsRankDeficientAWithTheRank) {
  std::mt19937 rng(2);
  const Factors f = RandomFactors(7, 5, 3, &rng);
  DifferentiableLinearLeastSquares lstsq;  // FULL_RANK_CHOLESKY, l2 = 0.
  const Status status = lstsq.Solve(f.B * f.C, Gaussian(7, 1, &rng));
  EXPECT_EQ(status.code(), StatusCode::kSingularHessian) << status.ToString();
  EXPECT_NE(status.message().find("numerical rank 3 < n = 5"),
            std::string::npos)
      << status.message();
  EXPECT_NE(status.message().find("MINIMUM_NORM"), std::string::npos);
  EXPECT_NE(status.message().find("l2_regulariser > 0"), std::string::npos);
  EXPECT_FALSE(lstsq.is_solved());
  MatrixXd dy;
  EXPECT_EQ(lstsq.Forward(MatrixXd::Zero(7, 5), MatrixXd::Zero(7, 1), &dy)
                .code(),
            StatusCode::kInvalidArgument);
}

TEST(LinearLeastSquaresTest, CholeskyRejectsUnderdeterminedA) {
  std::mt19937 rng(2);
  DifferentiableLinearLeastSquares lstsq;
  const Status status = lstsq.Solve(Gaussian(3, 6, &rng), Gaussian(3, 1, &rng));
  EXPECT_EQ(status.code(), StatusCode::kSingularHessian);
  EXPECT_NE(status.message().find("numerical rank 3 < n = 6"),
            std::string::npos)
      << status.message();
  EXPECT_NE(status.message().find("more columns than rows"), std::string::npos);
}

TEST(LinearLeastSquaresTest, CholeskyRejectsZeroMatrix) {
  DifferentiableLinearLeastSquares lstsq;
  const Status status = lstsq.Solve(MatrixXd::Zero(4, 3), MatrixXd::Ones(4, 1));
  EXPECT_EQ(status.code(), StatusCode::kSingularHessian);
  EXPECT_NE(status.message().find("numerical rank 0"), std::string::npos)
      << status.message();
  // The minimum-norm solution of A = 0 is 0.
  Options options;
  options.method = LeastSquaresMethod::MINIMUM_NORM;
  DifferentiableLinearLeastSquares min_norm(options);
  ASSERT_TRUE(min_norm.Solve(MatrixXd::Zero(4, 3), MatrixXd::Ones(4, 1)).ok());
  EXPECT_EQ(min_norm.rank(), 0);
  EXPECT_EQ(min_norm.solution(), MatrixXd::Zero(3, 1));
}

// Full rank but too ill-conditioned for the normal equations: the Cholesky
// path refuses and says why; MINIMUM_NORM, which works on A, solves it.
TEST(LinearLeastSquaresTest, IllConditionedFullRankA) {
  std::mt19937 rng(4);
  const MatrixXd U = RandomOrthonormal(6, 3, &rng);
  const MatrixXd V = RandomOrthonormal(3, 3, &rng);
  const MatrixXd A = U * Eigen::Vector3d(1.0, 1.0, 1e-9).asDiagonal() *
                     V.transpose();
  const MatrixXd b = Gaussian(6, 1, &rng);
  DifferentiableLinearLeastSquares cholesky;
  const Status status = cholesky.Solve(A, b);
  EXPECT_EQ(status.code(), StatusCode::kSingularHessian);
  EXPECT_NE(status.message().find("numerical rank 3 = n"), std::string::npos)
      << status.message();
  EXPECT_NE(status.message().find("condition number"), std::string::npos);

  Options options;
  options.method = LeastSquaresMethod::MINIMUM_NORM;
  DifferentiableLinearLeastSquares min_norm(options);
  ASSERT_TRUE(min_norm.Solve(A, b).ok());
  EXPECT_EQ(min_norm.rank(), 3);
  // The exact solution V S^-1 U^T b; the 1e9 amplification of the smallest
  // direction limits agreement to about 1e9 * epsilon.
  const MatrixXd exact = V *
                         Eigen::Vector3d(1.0, 1.0, 1e9).asDiagonal() *
                         U.transpose() * b;
  EXPECT_LE(RelativeError(min_norm.solution(), exact), 1e-6);
}

TEST(LinearLeastSquaresTest, RankToleranceTruncatesSmallSingularValues) {
  std::mt19937 rng(6);
  const MatrixXd U = RandomOrthonormal(6, 3, &rng);
  const MatrixXd V = RandomOrthonormal(3, 3, &rng);
  const VectorXd s = Eigen::Vector3d(2.0, 1.0, 1e-9);
  const MatrixXd A = U * s.asDiagonal() * V.transpose();
  const MatrixXd b = Gaussian(6, 1, &rng);
  Options options;
  options.method = LeastSquaresMethod::MINIMUM_NORM;
  DifferentiableLinearLeastSquares automatic(options);
  ASSERT_TRUE(automatic.Solve(A, b).ok());
  EXPECT_EQ(automatic.rank(), 3);  // 1e-9 / 2 > 3 epsilon.

  options.rank_tolerance = 1e-6;  // Relative to s_max = 2.
  DifferentiableLinearLeastSquares truncated(options);
  ASSERT_TRUE(truncated.Solve(A, b).ok());
  EXPECT_EQ(truncated.rank(), 2);
  const MatrixXd expected = V.leftCols(2) *
                            s.head(2).cwiseInverse().asDiagonal() *
                            U.leftCols(2).transpose() * b;
  EXPECT_LE(RelativeError(truncated.solution(), expected), 1e-12);
}

TEST(LinearLeastSquaresTest, NonFiniteDataIsNumericalFailure) {
  for (LeastSquaresMethod method : {LeastSquaresMethod::FULL_RANK_CHOLESKY,
                                    LeastSquaresMethod::MINIMUM_NORM}) {
    Options options;
    options.method = method;
    DifferentiableLinearLeastSquares lstsq(options);
    MatrixXd A = MatrixXd::Identity(3, 2);
    MatrixXd b = MatrixXd::Ones(3, 1);
    A(2, 1) = std::nan("");
    Status status = lstsq.Solve(A, b);
    EXPECT_EQ(status.code(), StatusCode::kNumericalFailure);
    EXPECT_NE(status.message().find("A(2, 1)"), std::string::npos)
        << status.message();

    A(2, 1) = 0.0;
    b(1, 0) = std::numeric_limits<double>::infinity();
    status = lstsq.Solve(A, b);
    EXPECT_EQ(status.code(), StatusCode::kNumericalFailure);
    EXPECT_NE(status.message().find("b(1, 0)"), std::string::npos)
        << status.message();
    EXPECT_FALSE(lstsq.is_solved());

    b(1, 0) = 1.0;
    ASSERT_TRUE(lstsq.Solve(A, b).ok());
    MatrixXd dA = MatrixXd::Zero(3, 2);
    dA(0, 0) = std::nan("");
    MatrixXd dy;
    EXPECT_EQ(lstsq.Forward(dA, MatrixXd::Zero(3, 1), &dy).code(),
              StatusCode::kNumericalFailure);
    MatrixXd dL_dy(2, 1);
    dL_dy << 1.0, -std::numeric_limits<double>::infinity();
    MatrixXd dL_dA;
    EXPECT_EQ(lstsq.Reverse(dL_dy, &dL_dA, nullptr).code(),
              StatusCode::kNumericalFailure);
  }
}

TEST(LinearLeastSquaresTest, MismatchedSizesAreInvalidArgument) {
  DifferentiableLinearLeastSquares lstsq;
  MatrixXd dy;
  EXPECT_EQ(lstsq.Forward(MatrixXd::Zero(3, 2), MatrixXd::Zero(3, 1), &dy)
                .code(),
            StatusCode::kInvalidArgument);  // Before any Solve.
  EXPECT_EQ(lstsq.Reverse(MatrixXd::Zero(2, 1), nullptr, nullptr).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(lstsq.Solve(MatrixXd::Identity(3, 2), MatrixXd::Ones(4, 1)).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(lstsq.Solve(MatrixXd(0, 2), MatrixXd(0, 1)).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(lstsq.Solve(MatrixXd::Identity(3, 2), MatrixXd(3, 0)).code(),
            StatusCode::kInvalidArgument);

  ASSERT_TRUE(lstsq.Solve(MatrixXd::Identity(3, 2), MatrixXd::Ones(3, 2)).ok());
  const Status status =
      lstsq.Forward(MatrixXd::Zero(2, 3), MatrixXd::Zero(3, 2), &dy);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("dA is 2 x 3, expected 3 x 2"),
            std::string::npos)
      << status.message();
  EXPECT_EQ(lstsq.Forward(MatrixXd::Zero(3, 2), MatrixXd::Zero(3, 1), &dy)
                .code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(lstsq.Reverse(MatrixXd::Zero(3, 2), nullptr, nullptr).code(),
            StatusCode::kInvalidArgument);
}

// ---------------------------------------------------------------------------
// Batches.

TEST(LinearLeastSquaresBatchTest, MatchesIndividualSystems) {
  for (LeastSquaresMethod method : {LeastSquaresMethod::FULL_RANK_CHOLESKY,
                                    LeastSquaresMethod::MINIMUM_NORM}) {
    for (int num_threads : {1, 3}) {
      SCOPED_TRACE(std::string(LeastSquaresMethodToString(method)) + ", " +
                   std::to_string(num_threads) + " threads");
      std::mt19937 rng(8);
      std::vector<MatrixXd> A, b, dA, db, G;
      for (int i = 0; i < 20; ++i) {
        const int n = 2 + i % 4;
        const int m = n + 1 + i % 3;
        const Factors f = RandomFactors(m, n, n, &rng);
        A.push_back(f.B * f.C);
        b.push_back(Gaussian(m, 1 + i % 2, &rng));
        dA.push_back(Gaussian(m, n, &rng));
        db.push_back(Gaussian(m, b.back().cols(), &rng));
        G.push_back(Gaussian(n, b.back().cols(), &rng));
      }
      Options options;
      options.method = method;
      options.l2_regulariser = 0.01;
      options.num_threads = num_threads;
      DifferentiableLinearLeastSquaresBatch batch(options);
      ASSERT_TRUE(batch.Solve(A, b).ok());
      ASSERT_EQ(batch.size(), 20);
      std::vector<MatrixXd> dy, dL_dA, dL_db;
      ASSERT_TRUE(batch.Forward(dA, db, &dy).ok());
      ASSERT_TRUE(batch.Reverse(G, &dL_dA, &dL_db).ok());
      for (int i = 0; i < 20; ++i) {
        DifferentiableLinearLeastSquares single(options);
        ASSERT_TRUE(single.Solve(A[i], b[i]).ok());
        MatrixXd dy_i, dL_dA_i, dL_db_i;
        ASSERT_TRUE(single.Forward(dA[i], db[i], &dy_i).ok());
        ASSERT_TRUE(single.Reverse(G[i], &dL_dA_i, &dL_db_i).ok());
        EXPECT_EQ(batch.system(i).solution(), single.solution());
        EXPECT_EQ(dy[i], dy_i);
        EXPECT_EQ(dL_dA[i], dL_dA_i);
        EXPECT_EQ(dL_db[i], dL_db_i);
      }
    }
  }
}

TEST(LinearLeastSquaresBatchTest, ReportsTheFirstFailingSystem) {
  std::mt19937 rng(9);
  std::vector<MatrixXd> A, b;
  for (int i = 0; i < 6; ++i) {
    A.push_back(Gaussian(5, 3, &rng));
    b.push_back(Gaussian(5, 1, &rng));
  }
  const Factors f = RandomFactors(5, 3, 2, &rng);
  A[4] = f.B * f.C;  // Rank 2 of 3.
  A[5](0, 0) = std::nan("");
  Options options;
  options.num_threads = 2;
  DifferentiableLinearLeastSquaresBatch batch(options);
  Status status = batch.Solve(A, b);
  EXPECT_EQ(status.code(), StatusCode::kSingularHessian);
  EXPECT_NE(status.message().find("system 4:"), std::string::npos)
      << status.message();
  EXPECT_EQ(batch.size(), 0);

  std::vector<MatrixXd> short_b(b.begin(), b.end() - 1);
  EXPECT_EQ(batch.Solve(A, short_b).code(), StatusCode::kInvalidArgument);

  A.resize(4);
  b.resize(4);
  ASSERT_TRUE(batch.Solve(A, b).ok());
  std::vector<MatrixXd> dy;
  EXPECT_EQ(batch.Forward(std::vector<MatrixXd>(3), std::vector<MatrixXd>(3),
                          &dy)
                .code(),
            StatusCode::kInvalidArgument);
  std::vector<MatrixXd> G(4, MatrixXd::Zero(3, 1));
  G[2].resize(2, 1);
  status = batch.Reverse(G, nullptr, nullptr);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("system 2:"), std::string::npos)
      << status.message();
}

// ---------------------------------------------------------------------------
// Against the core library: the same energy as a ceres::Problem.
//
// Ceres minimises 1/2 sum ||r||^2, so the residuals are A y - b and
// sqrt(l2) y: E_ceres = 1/2 (||A y - b||^2 + l2 ||y||^2), with the same
// minimiser and the same dy*/dw as ours. k = 1. The learnable blocks are A
// (row-major, m n values) and b (m values), so w = [vec_row(A); b].

// r = A y - b over the blocks (y: n, A: m n row-major, b: m).
class LinearResidual : public ceres::CostFunction {
 public:
  LinearResidual(int m, int n) : m_(m), n_(n) {
    set_num_residuals(m);
    *mutable_parameter_block_sizes() = {n, m * n, m};
  }

  bool Evaluate(double const* const* parameters, double* residuals,
                double** jacobians) const override {
    const double* y = parameters[0];
    const double* A = parameters[1];
    const double* b = parameters[2];
    for (int i = 0; i < m_; ++i) {
      residuals[i] = -b[i];
      for (int j = 0; j < n_; ++j) residuals[i] += A[i * n_ + j] * y[j];
    }
    if (jacobians == nullptr) return true;
    if (jacobians[0] != nullptr) {  // m x n: dr_i/dy_j = A_ij.
      std::copy(A, A + m_ * n_, jacobians[0]);
    }
    if (jacobians[1] != nullptr) {  // m x (m n): dr_i/dA_ij = y_j.
      std::fill(jacobians[1], jacobians[1] + m_ * m_ * n_, 0.0);
      for (int i = 0; i < m_; ++i) {
        for (int j = 0; j < n_; ++j) {
          jacobians[1][i * m_ * n_ + i * n_ + j] = y[j];
        }
      }
    }
    if (jacobians[2] != nullptr) {  // m x m: -I.
      std::fill(jacobians[2], jacobians[2] + m_ * m_, 0.0);
      for (int i = 0; i < m_; ++i) jacobians[2][i * m_ + i] = -1.0;
    }
    return true;
  }

 private:
  int m_;
  int n_;
};

// r = sqrt(l2) y.
class RidgeResidual : public ceres::CostFunction {
 public:
  RidgeResidual(int n, double l2) : n_(n), scale_(std::sqrt(l2)) {
    set_num_residuals(n);
    *mutable_parameter_block_sizes() = {n};
  }

  bool Evaluate(double const* const* parameters, double* residuals,
                double** jacobians) const override {
    for (int j = 0; j < n_; ++j) residuals[j] = scale_ * parameters[0][j];
    if (jacobians != nullptr && jacobians[0] != nullptr) {
      std::fill(jacobians[0], jacobians[0] + n_ * n_, 0.0);
      for (int j = 0; j < n_; ++j) jacobians[0][j * n_ + j] = scale_;
    }
    return true;
  }

 private:
  int n_;
  double scale_;
};

// The problem's storage and the Ceres problem over it.
struct CeresLeastSquares {
  std::vector<double> y, A, b;
  ceres::Problem problem;
  std::unique_ptr<BilevelProblem> bilevel;

  CeresLeastSquares(const MatrixXd& A_matrix, const VectorXd& b_vector,
                    double l2) {
    const int m = A_matrix.rows();
    const int n = A_matrix.cols();
    y.assign(n, 0.0);
    A.resize(m * n);
    Eigen::Map<Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic,
                             Eigen::RowMajor>>(A.data(), m, n) = A_matrix;
    b.assign(b_vector.data(), b_vector.data() + m);
    problem.AddResidualBlock(new LinearResidual(m, n), nullptr, y.data(),
                             A.data(), b.data());
    if (l2 > 0.0) {
      problem.AddResidualBlock(new RidgeResidual(n, l2), nullptr, y.data());
    }
  }

  Status Solve() {
    Status status = BilevelProblem::Create(&problem, {A.data(), b.data()},
                                           &bilevel);
    if (!status.ok()) return status;
    ceres::Solver::Options options;
    options.linear_solver_type = ceres::DENSE_QR;
    options.max_num_iterations = 200;
    options.function_tolerance = 1e-16;
    options.gradient_tolerance = 1e-16;
    options.parameter_tolerance = 1e-16;
    options.logging_type = ceres::SILENT;
    ceres::Solver::Summary summary;
    return bilevel->SolveInner(options, &summary);
  }

  VectorXd Solution() const {
    return Eigen::Map<const VectorXd>(y.data(), y.size());
  }
};

// dy*/dw from the closed form, column by column with Forward, w ordered as
// [vec_row(A); b].
MatrixXd ClosedFormJacobian(const DifferentiableLinearLeastSquares& lstsq) {
  const int m = lstsq.num_rows();
  const int n = lstsq.num_cols();
  MatrixXd J(n, m * n + m);
  MatrixXd dy;
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) {
      MatrixXd dA = MatrixXd::Zero(m, n);
      dA(i, j) = 1.0;
      EXPECT_TRUE(lstsq.Forward(dA, MatrixXd::Zero(m, 1), &dy).ok());
      J.col(i * n + j) = dy;
    }
  }
  for (int i = 0; i < m; ++i) {
    MatrixXd db = MatrixXd::Zero(m, 1);
    db(i, 0) = 1.0;
    EXPECT_TRUE(lstsq.Forward(MatrixXd::Zero(m, n), db, &dy).ok());
    J.col(m * n + i) = dy;
  }
  return J;
}

// l2 > 0 (and full-rank l2 = 0): the closed form agrees with the implicit
// derivative -H^-1 G of the core library (lambda = 0, exact Hessian), with
// relative error <= 1e-7 (both are analytic; the core's second derivatives
// are central differences of Jacobians that are linear in the parameters,
// hence exact up to rounding).
TEST(LinearLeastSquaresCoreTest, AgreesWithMinimiserDerivative) {
  struct Shape {
    const char* name;
    int m, n, rank;
    double l2;
  };
  for (const Shape& shape : {Shape{"overdetermined", 7, 4, 4, 0.0},
                             Shape{"overdetermined l2", 7, 4, 4, 0.5},
                             Shape{"underdetermined l2", 3, 6, 3, 0.5},
                             Shape{"rank-deficient l2", 7, 5, 3, 0.5}}) {
    for (LeastSquaresMethod method : {LeastSquaresMethod::FULL_RANK_CHOLESKY,
                                      LeastSquaresMethod::MINIMUM_NORM}) {
      double worst = 0.0;
      for (int seed = 1; seed <= 3; ++seed) {
        SCOPED_TRACE(std::string(shape.name) + ", " +
                     LeastSquaresMethodToString(method) + ", seed " +
                     std::to_string(seed));
        std::mt19937 rng(seed);
        const Factors f = RandomFactors(shape.m, shape.n, shape.rank, &rng);
        const MatrixXd A = f.B * f.C;
        const VectorXd b = Gaussian(shape.m, 1, &rng);

        CeresLeastSquares ceres_problem(A, b, shape.l2);
        ASSERT_TRUE(ceres_problem.Solve().ok());
        MinimiserDerivative::Options derivative_options;
        derivative_options.lambda = 0.0;
        derivative_options.hessian_model = HessianModel::EXACT;
        // Ceres stops on function_tolerance once the cost decrease is at the
        // rounding level of the cost, which leaves y a relative ~sqrt(eps)
        // (~1e-8) from y*; one Newton step, exact for a quadratic, lands on y*
        // so that both derivatives are taken at the same point.
        derivative_options.final_newton_step = true;
        MinimiserDerivative derivative(derivative_options);
        Status status = derivative.Linearise(ceres_problem.bilevel.get(),
                                             nullptr);
        ASSERT_TRUE(status.ok()) << status.ToString();
        MatrixXd J_core;
        status = derivative.Jacobian(&J_core);
        ASSERT_TRUE(status.ok()) << status.ToString();

        Options options;
        options.method = method;
        options.l2_regulariser = shape.l2;
        DifferentiableLinearLeastSquares lstsq(options);
        ASSERT_TRUE(lstsq.Solve(A, b).ok());
        EXPECT_LE(RelativeError(ceres_problem.Solution(), lstsq.solution()),
                  1e-12);
        const double error = RelativeError(J_core, ClosedFormJacobian(lstsq));
        EXPECT_LE(error, kDerivativeTolerance);
        worst = std::max(worst, error);
      }
      std::cout << "  core vs closed form, " << shape.name << ", "
                << LeastSquaresMethodToString(method)
                << ": worst relative error " << worst << "\n";
    }
  }
}

// The ill-posed case that motivates the paper: E = 1/2 ||A y - b||^2 with
// rank(A) = 3 < n = 5. H = A^T A is singular, so
//  - the implicit derivative (lambda = 0) does not exist: the core reports
//    kSingularHessian instead of returning NaNs or garbage;
//  - the pseudo-inverse path returns a finite derivative of the minimum-norm
//    solution that matches central differences along a rank-preserving path;
//  - the trust-region derivative (lambda = 0.1, D = I) is finite, equals
//    -(A^T A + lambda I)^-1 G and obeys ||J||_2 <= ||G||_2 / lambda.
TEST(LinearLeastSquaresCoreTest, IllPosedRankDeficientQuadratic) {
  const int m = 7, n = 5, r = 3;
  double worst_fd_error = 0.0;
  double worst_tr_error = 0.0;
  double worst_bound_ratio = 0.0;
  for (int seed = 1; seed <= 3; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 rng(seed);
    const Factors f = RandomFactors(m, n, r, &rng);
    const MatrixXd A = f.B * f.C;
    const VectorXd b = Gaussian(m, 1, &rng);

    CeresLeastSquares ceres_problem(A, b, 0.0);
    ASSERT_TRUE(ceres_problem.Solve().ok());

    // lambda = 0: singular Hessian, reported.
    {
      MinimiserDerivative::Options options;
      options.lambda = 0.0;
      options.hessian_model = HessianModel::EXACT;
      MinimiserDerivative derivative(options);
      const Status status =
          derivative.Linearise(ceres_problem.bilevel.get(), nullptr);
      EXPECT_EQ(status.code(), StatusCode::kSingularHessian)
          << status.ToString();
    }

    // The pseudo-inverse path: finite, and the derivative of y* = A^+ b.
    Options options;
    options.method = LeastSquaresMethod::MINIMUM_NORM;
    DifferentiableLinearLeastSquares lstsq(options);
    ASSERT_TRUE(lstsq.Solve(A, b).ok());
    EXPECT_EQ(lstsq.rank(), r);
    const MatrixXd J_pinv = ClosedFormJacobian(lstsq);
    EXPECT_TRUE(J_pinv.allFinite());
    TestPath path;
    path.rank_preserving = true;
    path.factors = f;
    path.A = A;
    path.b = b;
    path.dB = UnitGaussian(m, r, &rng);
    path.dC = UnitGaussian(r, n, &rng);
    path.db = UnitGaussian(m, 1, &rng);
    path.dA = path.dB * f.C + f.B * path.dC;
    MatrixXd dy;
    ASSERT_TRUE(lstsq.Forward(path.dA, path.db, &dy).ok());
    const double fd_error = RelativeError(dy, CentralDifference(path, 0.0));
    EXPECT_LE(fd_error, kDerivativeTolerance);

    // lambda = 0.1, D = I: bounded trust-region derivative.
    MinimiserDerivative::Options tr_options;
    tr_options.lambda = 0.1;
    tr_options.damping = DampingType::IDENTITY;
    tr_options.hessian_model = HessianModel::EXACT;
    MinimiserDerivative trust_region(tr_options);
    Status status = trust_region.Linearise(ceres_problem.bilevel.get(), nullptr);
    ASSERT_TRUE(status.ok()) << status.ToString();
    MatrixXd J_tr;
    status = trust_region.Jacobian(&J_tr);
    ASSERT_TRUE(status.ok()) << status.ToString();
    ASSERT_TRUE(J_tr.allFinite());

    // G = dg/dw for g = A^T (A y - b), at the core's minimiser y (some
    // minimiser: not necessarily the minimum-norm one when H is singular):
    // dg/dA_ij = (A y - b)_i e_j + y_j A^T e_i,   dg/db_i = -A^T e_i.
    const VectorXd y = ceres_problem.Solution();
    const VectorXd residual = A * y - b;
    MatrixXd G(n, m * n + m);
    for (int i = 0; i < m; ++i) {
      for (int j = 0; j < n; ++j) {
        VectorXd column = y(j) * A.row(i).transpose();
        column(j) += residual(i);
        G.col(i * n + j) = column;
      }
      G.col(m * n + i) = -A.row(i).transpose();
    }
    const MatrixXd damped =
        A.transpose() * A + tr_options.lambda * MatrixXd::Identity(n, n);
    const MatrixXd expected_J_tr = -damped.llt().solve(G);
    const double tr_error = RelativeError(J_tr, expected_J_tr);
    EXPECT_LE(tr_error, kDerivativeTolerance);
    const double norm_J = Eigen::JacobiSVD<MatrixXd>(J_tr).singularValues()(0);
    const double norm_G = Eigen::JacobiSVD<MatrixXd>(G).singularValues()(0);
    EXPECT_LE(norm_J, norm_G / tr_options.lambda);
    worst_fd_error = std::max(worst_fd_error, fd_error);
    worst_tr_error = std::max(worst_tr_error, tr_error);
    worst_bound_ratio =
        std::max(worst_bound_ratio, norm_J / (norm_G / tr_options.lambda));
  }
  std::cout << "  ill-posed: pinv vs FD worst relative error "
            << worst_fd_error << "; trust-region J vs -(H + lambda I)^-1 G "
            << worst_tr_error << "; max ||J||_2 / (||G||_2 / lambda) "
            << worst_bound_ratio << "\n";
}

}  // namespace
}  // namespace ceres_wiberg
