// Every derivative here is compared with MinimiserDerivativeChecker (central
// finite differences): re-solves for lambda = 0, one damped Newton step from
// the fixed y* for lambda > 0. Tolerances are stated per test.

#include "ceres_wiberg/minimiser_derivative.h"

#include <cmath>
#include <random>

#include "ceres/ceres.h"
#include "ceres/rotation.h"
#include "ceres_wiberg/minimiser_derivative_checker.h"
#include "gtest/gtest.h"
#include "test_problems.h"

namespace ceres_wiberg {
namespace {

using testing::ExponentialProblem;
using testing::LinearProblem;
using testing::Loss;
using testing::kCols;

MinimiserDerivative::Options DerivativeOptions(double lambda, HessianModel model) {
  MinimiserDerivative::Options options;
  options.lambda = lambda;
  options.hessian_model = model;
  return options;
}

// Solves, then checks; returns the checker's worst relative error.
double CheckedError(BilevelProblem* problem, const MinimiserDerivative::Options& options) {
  MinimiserDerivativeChecker::Result result;
  Status status =
      MinimiserDerivativeChecker::Check(MinimiserDerivativeChecker::Options(), options,
                                        problem, &result);
  EXPECT_TRUE(status.ok()) << status.ToString();
  return result.max_relative_error;
}

// Worst relative error of the tolerance: 1e-6 unless a test says otherwise.
constexpr double kTolerance = 1e-6;

TEST(MinimiserDerivative, LinearLeastSquaresWithWInAAndB) {
  for (unsigned seed : {1u, 2u, 3u}) {
    LinearProblem linear(seed);
    ceres::Solver::Summary summary;
    ASSERT_TRUE(linear.bilevel->SolveInner(TightSolverOptions(), &summary).ok());
    for (HessianModel model : {HessianModel::EXACT, HessianModel::GAUSS_NEWTON}) {
      // The residuals are linear in y: both models are the true Hessian.
      EXPECT_LT(CheckedError(linear.bilevel.get(), DerivativeOptions(0.0, model)), kTolerance);
      EXPECT_LT(CheckedError(linear.bilevel.get(), DerivativeOptions(0.1, model)), kTolerance);
    }
  }
}

TEST(MinimiserDerivative, NonlinearFitWithWInsideResiduals) {
  ExponentialProblem fit(Loss::kNone, 7);
  ASSERT_TRUE(fit.Solve().ok());
  EXPECT_LT(CheckedError(fit.bilevel.get(), DerivativeOptions(0.0, HessianModel::EXACT)),
            kTolerance);
  EXPECT_LT(CheckedError(fit.bilevel.get(), DerivativeOptions(0.1, HessianModel::EXACT)),
            kTolerance);
  EXPECT_LT(CheckedError(fit.bilevel.get(), DerivativeOptions(0.1, HessianModel::GAUSS_NEWTON)),
            kTolerance);
}

TEST(MinimiserDerivative, RobustLossesExactMatchesResolveGaussNewtonDoesNot) {
  for (Loss loss : {Loss::kHuber, Loss::kCauchy}) {
    ExponentialProblem fit(loss, 11);
    ASSERT_TRUE(fit.Solve().ok());
    EXPECT_LT(CheckedError(fit.bilevel.get(), DerivativeOptions(0.0, HessianModel::EXACT)),
              kTolerance);
    // Damped derivatives of both models against one damped step.
    EXPECT_LT(CheckedError(fit.bilevel.get(), DerivativeOptions(0.1, HessianModel::EXACT)),
              kTolerance);
    EXPECT_LT(
        CheckedError(fit.bilevel.get(), DerivativeOptions(0.1, HessianModel::GAUSS_NEWTON)),
        kTolerance);
    // Large residuals (outliers) and rho'' != 0: Gauss-Newton's lambda = 0
    // derivative is not the derivative of the re-solved minimiser.
    EXPECT_GT(
        CheckedError(fit.bilevel.get(), DerivativeOptions(0.0, HessianModel::GAUSS_NEWTON)),
        1e-2);
  }
}

TEST(MinimiserDerivative, HessianDiagonalDamping) {
  ExponentialProblem fit(Loss::kCauchy, 3);
  ASSERT_TRUE(fit.Solve().ok());
  MinimiserDerivative::Options options = DerivativeOptions(0.5, HessianModel::EXACT);
  options.damping = DampingType::HESSIAN_DIAGONAL;
  EXPECT_LT(CheckedError(fit.bilevel.get(), options), kTolerance);
}

// r_i = R(q) p_i - (s t_i + o): a rotation (quaternion on its manifold) fitted
// to noisy targets; w = (s, o).
struct RotationResidual {
  RotationResidual(const Eigen::Vector3d& p, const Eigen::Vector3d& t) : p(p), t(t) {}
  template <typename T>
  bool operator()(const T* q, const T* s, const T* o, T* r) const {
    const T point[3] = {T(p[0]), T(p[1]), T(p[2])};
    T rotated[3];
    ceres::QuaternionRotatePoint(q, point, rotated);
    for (int k = 0; k < 3; ++k) r[k] = rotated[k] - (s[0] * T(t[k]) + o[k]);
    return true;
  }
  Eigen::Vector3d p, t;
};

TEST(MinimiserDerivative, InnerBlockOnQuaternionManifold) {
  std::mt19937 rng(5);
  std::normal_distribution<double> normal;
  const Eigen::Quaterniond truth(Eigen::AngleAxisd(0.8, Eigen::Vector3d(1, 2, 3).normalized()));
  double q[4] = {1.0, 0.0, 0.0, 0.0};
  double s[1] = {1.1};
  double o[3] = {0.1, -0.2, 0.05};
  ceres::Problem problem;
  for (int i = 0; i < 8; ++i) {
    const Eigen::Vector3d p(normal(rng), normal(rng), normal(rng));
    const Eigen::Vector3d t =
        truth * p + 0.3 * Eigen::Vector3d(normal(rng), normal(rng), normal(rng));
    problem.AddResidualBlock(
        new ceres::AutoDiffCostFunction<RotationResidual, 3, 4, 1, 3>(new RotationResidual(p, t)),
        nullptr, q, s, o);
  }
  problem.SetManifold(q, new ceres::QuaternionManifold);
  std::unique_ptr<BilevelProblem> bilevel;
  ASSERT_TRUE(BilevelProblem::Create(&problem, {s, o}, &bilevel).ok());
  EXPECT_EQ(bilevel->num_inner_parameters(), 3);  // tangent size of a quaternion
  ceres::Solver::Summary summary;
  ASSERT_TRUE(bilevel->SolveInner(TightSolverOptions(), &summary).ok());
  // Exact: H includes the residuals' and Plus' curvature (the residuals are
  // large, so both matter).
  EXPECT_LT(CheckedError(bilevel.get(), DerivativeOptions(0.0, HessianModel::EXACT)), kTolerance);
  EXPECT_LT(CheckedError(bilevel.get(), DerivativeOptions(0.1, HessianModel::EXACT)), kTolerance);
}

TEST(MinimiserDerivative, LambdaToZeroGivesTheImplicitDerivative) {
  LinearProblem linear(4);
  ceres::Solver::Summary summary;
  ASSERT_TRUE(linear.bilevel->SolveInner(TightSolverOptions(), &summary).ok());
  auto jacobian = [&](double lambda) {
    MinimiserDerivative derivative(DerivativeOptions(lambda, HessianModel::EXACT));
    EXPECT_TRUE(derivative.Linearize(linear.bilevel.get(), nullptr).ok());
    Eigen::MatrixXd J;
    EXPECT_TRUE(derivative.Jacobian(&J).ok());
    return J;
  };
  const Eigen::MatrixXd implicit = jacobian(0.0);
  // The analytic implicit derivative, -H^-1 G with H = A^T A.
  const Eigen::MatrixXd A = linear.A();
  const Eigen::MatrixXd expected = -(A.transpose() * A).ldlt().solve(linear.G());
  EXPECT_LT((implicit - expected).norm() / expected.norm(), 1e-9);
  // The damped derivative converges to it at rate O(lambda).
  double previous = std::numeric_limits<double>::infinity();
  for (double lambda : {1e-2, 1e-4, 1e-6, 1e-8}) {
    const double difference = (jacobian(lambda) - implicit).norm() / implicit.norm();
    EXPECT_LT(difference, previous);
    previous = difference;
  }
  EXPECT_LT(previous, 1e-6);
}

TEST(MinimiserDerivative, LargeLambdaGivesAGradientStep) {
  LinearProblem linear(6);
  ceres::Solver::Summary summary;
  ASSERT_TRUE(linear.bilevel->SolveInner(TightSolverOptions(), &summary).ok());
  const Eigen::MatrixXd A = linear.A();
  const Eigen::MatrixXd H = A.transpose() * A;
  for (DampingType damping : {DampingType::IDENTITY, DampingType::HESSIAN_DIAGONAL}) {
    MinimiserDerivative::Options options = DerivativeOptions(1e8, HessianModel::EXACT);
    options.damping = damping;
    MinimiserDerivative derivative(options);
    ASSERT_TRUE(derivative.Linearize(linear.bilevel.get(), nullptr).ok());
    Eigen::MatrixXd J;
    ASSERT_TRUE(derivative.Jacobian(&J).ok());
    const Eigen::VectorXd D = damping == DampingType::IDENTITY
                                  ? Eigen::VectorXd::Ones(kCols).eval()
                                  : H.diagonal().eval();
    // -(1/lambda) D^-1 G; the relative gap is O(|H| / (lambda D)) ~ 1e-7.
    const Eigen::MatrixXd limit = -(1.0 / options.lambda) * D.cwiseInverse().asDiagonal() * linear.G();
    EXPECT_LT((J - limit).norm() / limit.norm(), 1e-6) << DampingTypeToString(damping);
  }
}

TEST(MinimiserDerivative, TrustRegionDerivativeIsBoundedByGOverLambda) {
  // A nearly flat minimum: one column of A almost in the span of the others.
  LinearProblem linear(8);
  ceres::Solver::Summary summary;
  ASSERT_TRUE(linear.bilevel->SolveInner(TightSolverOptions(), &summary).ok());
  const double G_norm = linear.G().operatorNorm();
  for (double lambda : {1e-3, 1e-2, 0.1, 1.0, 10.0}) {
    MinimiserDerivative derivative(DerivativeOptions(lambda, HessianModel::EXACT));
    ASSERT_TRUE(derivative.Linearize(linear.bilevel.get(), nullptr).ok());
    Eigen::MatrixXd J;
    ASSERT_TRUE(derivative.Jacobian(&J).ok());
    EXPECT_LE(J.operatorNorm(), G_norm / lambda * (1.0 + 1e-12)) << "lambda " << lambda;
  }
}

TEST(MinimiserDerivative, ForwardAndReverseModesAgree) {
  std::mt19937 rng(9);
  std::normal_distribution<double> normal;
  for (HessianModel model : {HessianModel::EXACT, HessianModel::GAUSS_NEWTON}) {
    ExponentialProblem fit(Loss::kCauchy, 13);
    ASSERT_TRUE(fit.Solve().ok());
    MinimiserDerivative derivative(DerivativeOptions(0.1, model));
    ASSERT_TRUE(derivative.Linearize(fit.bilevel.get(), nullptr).ok());
    Eigen::MatrixXd J;
    ASSERT_TRUE(derivative.Jacobian(&J).ok());
    for (int trial = 0; trial < 3; ++trial) {
      const Eigen::Vector2d u(normal(rng), normal(rng));
      const Eigen::Vector2d v(normal(rng), normal(rng));
      Eigen::VectorXd J_T_u;
      ASSERT_TRUE(derivative.VectorJacobianProduct(u, &J_T_u).ok());
      // The two modes difference the residual curvature along different
      // directions (coordinates vs. the adjoint), hence 1e-7, not 1e-12.
      const double forward = u.dot(J * v);
      const double reverse = J_T_u.dot(v);
      EXPECT_NEAR(forward, reverse, 1e-7 * std::max(1.0, std::abs(forward)));
    }
  }
}

TEST(MinimiserDerivative, DenseAndSparseSolversAgree) {
  ExponentialProblem fit(Loss::kHuber, 17);
  ASSERT_TRUE(fit.Solve().ok());
  Eigen::MatrixXd J[2];
  int i = 0;
  for (LinearSolverType type : {LinearSolverType::DENSE, LinearSolverType::SPARSE}) {
    MinimiserDerivative::Options options = DerivativeOptions(0.0, HessianModel::EXACT);
    options.linear_solver_type = type;
    MinimiserDerivative derivative(options);
    MinimiserDerivative::Summary summary;
    ASSERT_TRUE(derivative.Linearize(fit.bilevel.get(), &summary).ok());
    EXPECT_EQ(summary.linear_solver_type, type);
    ASSERT_TRUE(derivative.Jacobian(&J[i++]).ok());
  }
  EXPECT_LT((J[0] - J[1]).norm() / J[0].norm(), 1e-12);
}

TEST(MinimiserDerivative, FinalNewtonStepRepairsALooseInnerSolve) {
  ExponentialProblem fit(Loss::kNone, 19);
  ceres::Solver::Options loose = TightSolverOptions();
  loose.function_tolerance = 1e-6;
  ceres::Solver::Summary solver_summary;
  ASSERT_TRUE(fit.bilevel->SolveInner(loose, &solver_summary).ok());
  const Eigen::VectorXd y_loose = fit.bilevel->GetInnerValues();

  // The reference: finite differences of re-solves at the exact minimiser.
  MinimiserDerivativeChecker::Result reference;
  ASSERT_TRUE(MinimiserDerivativeChecker::Check(MinimiserDerivativeChecker::Options(),
                                                DerivativeOptions(0.0, HessianModel::EXACT),
                                                fit.bilevel.get(), &reference)
                  .ok());
  EXPECT_EQ(fit.bilevel->GetInnerValues(), y_loose);  // the checker restores y

  auto error_at_loose_solution = [&](bool final_newton_step,
                                     MinimiserDerivative::Summary* summary) {
    fit.bilevel->SetInnerValues(y_loose);
    MinimiserDerivative::Options options = DerivativeOptions(0.0, HessianModel::EXACT);
    options.final_newton_step = final_newton_step;
    MinimiserDerivative derivative(options);
    EXPECT_TRUE(derivative.Linearize(fit.bilevel.get(), summary).ok());
    Eigen::MatrixXd J;
    EXPECT_TRUE(derivative.Jacobian(&J).ok());
    return (J - reference.numeric).norm() / reference.numeric.norm();
  };
  MinimiserDerivative::Summary without_step, with_step;
  const double error_without = error_at_loose_solution(false, &without_step);
  const double error_with = error_at_loose_solution(true, &with_step);
  EXPECT_GT(with_step.gradient_max_norm_before_newton_step, 1e-6);
  EXPECT_LT(with_step.gradient_max_norm, 1e-3 * with_step.gradient_max_norm_before_newton_step);
  EXPECT_GT(with_step.newton_step_norm, 0.0);
  // Newton converges quadratically, so one step brings the derivative within
  // 1e-6 (relative, Frobenius) of the re-solved one; without it the loose
  // solve's error shows.
  EXPECT_LT(error_with, kTolerance);
  EXPECT_GT(error_without, 10.0 * error_with);
}

TEST(MinimiserDerivative, SummaryReportsEigenvaluesAndGradient) {
  LinearProblem linear(10);
  ceres::Solver::Summary solver_summary;
  ASSERT_TRUE(linear.bilevel->SolveInner(TightSolverOptions(), &solver_summary).ok());
  MinimiserDerivative derivative(DerivativeOptions(0.25, HessianModel::EXACT));
  MinimiserDerivative::Summary summary;
  ASSERT_TRUE(derivative.Linearize(linear.bilevel.get(), &summary).ok());
  const Eigen::MatrixXd A = linear.A();
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eigen(A.transpose() * A);
  EXPECT_NEAR(summary.min_eigenvalue, eigen.eigenvalues().minCoeff() + 0.25, 1e-10);
  EXPECT_NEAR(summary.max_eigenvalue, eigen.eigenvalues().maxCoeff() + 0.25, 1e-10);
  EXPECT_FALSE(summary.eigenvalues_are_estimates);
  EXPECT_LT(summary.gradient_max_norm, 1e-10);
  EXPECT_NE(summary.BriefReport().find("n_y 3, n_w 7"), std::string::npos)
      << summary.BriefReport();
}

TEST(MinimiserDerivative, EstimatedEigenvaluesBracketInsideTheTrueRange) {
  LinearProblem linear(12);
  ceres::Solver::Summary solver_summary;
  ASSERT_TRUE(linear.bilevel->SolveInner(TightSolverOptions(), &solver_summary).ok());
  const Eigen::MatrixXd A = linear.A();
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eigen(A.transpose() * A);
  for (LinearSolverType type : {LinearSolverType::DENSE, LinearSolverType::SPARSE}) {
    MinimiserDerivative::Options options = DerivativeOptions(0.0, HessianModel::EXACT);
    options.linear_solver_type = type;
    options.max_exact_eigenvalue_size = 0;
    options.eigenvalue_iterations = 50;
    MinimiserDerivative derivative(options);
    MinimiserDerivative::Summary summary;
    ASSERT_TRUE(derivative.Linearize(linear.bilevel.get(), &summary).ok());
    EXPECT_TRUE(summary.eigenvalues_are_estimates);
    const double lo = eigen.eigenvalues().minCoeff();
    const double hi = eigen.eigenvalues().maxCoeff();
    // Power and inverse iterations approach the extremes from inside.
    EXPECT_GE(summary.min_eigenvalue, lo * (1 - 1e-9));
    EXPECT_LE(summary.max_eigenvalue, hi * (1 + 1e-9));
    EXPECT_NEAR(summary.min_eigenvalue, lo, 1e-3 * lo);
    EXPECT_NEAR(summary.max_eigenvalue, hi, 1e-3 * hi);
  }
}

}  // namespace
}  // namespace ceres_wiberg
