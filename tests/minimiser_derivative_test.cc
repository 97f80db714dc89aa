// Every derivative here is compared with MinimiserDerivativeChecker (central
// finite differences): re-solves for lambda = 0, one damped Newton step from
// the fixed y* for lambda > 0. Tolerances are stated per test.

#include "ceres_wiberg/minimiser_derivative.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "ceres/ceres.h"
#include "ceres/rotation.h"
#include "ceres_wiberg/internal/derivative_access.h"
#include "ceres_wiberg/learnable_loss.h"
#include "ceres_wiberg/minimiser_derivative_checker.h"
#include "ceres_wiberg/newton_polish.h"
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
  // H itself, against differences of the gradient (EXACT model only).
  EXPECT_TRUE(result.hessian_within_tolerance) << result.Report();
  // Recorded for the report: --gtest_output=json lists every checked error.
  char key[96], value[32];
  std::snprintf(key, sizeof(key), "max_relative_error_%d_lambda_%g_%s",
                ::testing::UnitTest::GetInstance()->current_test_info()->result()->test_property_count(),
                options.lambda, HessianModelToString(options.hessian_model));
  std::snprintf(value, sizeof(value), "%.3g", result.max_relative_error);
  ::testing::Test::RecordProperty(key, value);
  if (result.hessian_checked) {
    std::snprintf(value, sizeof(value), "%.3g", result.hessian_max_relative_error);
    ::testing::Test::RecordProperty(std::string(key) + "_hessian", value);
  }
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

// r = x - c: a prior on an N-vector.
template <int N>
struct PriorResidual {
  explicit PriorResidual(double c) : c(c) {}
  template <typename T>
  bool operator()(const T* x, T* r) const {
    for (int k = 0; k < N; ++k) r[k] = x[k] - T(c);
    return true;
  }
  double c;
};

// A pose-like residual whose inner blocks cover every case of the curvature
// probes: q (quaternion) and b enter nonlinearly, the residual is linear in
// the translation t (constant Jacobian) and in the coefficients a (whose
// Jacobian moves with q only), and w scales the mean point.
struct ProbedResidual {
  ProbedResidual(const Eigen::Vector3d& p, const Eigen::Matrix<double, 3, 4>& basis,
                 const Eigen::Vector3d& target)
      : p(p), basis(basis), target(target) {}
  template <typename T>
  bool operator()(const T* q, const T* t, const T* a, const T* b, const T* w, T* r) const {
    T point[3];
    for (int k = 0; k < 3; ++k) {
      point[k] = w[0] * T(p[k]);
      for (int i = 0; i < 4; ++i) point[k] += T(basis(k, i)) * a[i];
    }
    T rotated[3];
    ceres::QuaternionRotatePoint(q, point, rotated);
    const T bend[3] = {sin(b[0]) * b[1], cos(b[1]), 0.3 * b[2] * b[2]};
    for (int k = 0; k < 3; ++k) r[k] = rotated[k] + t[k] + 0.5 * bend[k] - T(target[k]);
    return true;
  }
  Eigen::Vector3d p;
  Eigen::Matrix<double, 3, 4> basis;
  Eigen::Vector3d target;
};

// Counts the evaluations with Jacobians of a wrapped cost function.
class CountingCost final : public ceres::CostFunction {
 public:
  CountingCost(ceres::CostFunction* wrapped, int* count) : wrapped_(wrapped), count_(count) {
    set_num_residuals(wrapped->num_residuals());
    *mutable_parameter_block_sizes() = wrapped->parameter_block_sizes();
  }
  bool Evaluate(double const* const* parameters, double* residuals,
                double** jacobians) const override {
    if (jacobians != nullptr) ++*count_;
    return wrapped_->Evaluate(parameters, residuals, jacobians);
  }

 private:
  std::unique_ptr<ceres::CostFunction> wrapped_;
  int* count_;
};

TEST(MinimiserDerivative, CurvatureProbesSkipLinearBlocksAndStayExact) {
  std::mt19937 rng(11);
  std::normal_distribution<double> normal;
  double q[4] = {1.0, 0.0, 0.0, 0.0};
  double t[3] = {0.0, 0.0, 0.0};
  double a[4] = {0.0, 0.0, 0.0, 0.0};
  double b[3] = {0.1, 0.2, 0.3};
  double w[1] = {1.2};
  ceres::Problem problem;
  int count = 0;
  const Eigen::Quaterniond truth(Eigen::AngleAxisd(0.6, Eigen::Vector3d(1, -2, 1).normalized()));
  for (int i = 0; i < 12; ++i) {
    const Eigen::Vector3d p(normal(rng), normal(rng), normal(rng));
    Eigen::Matrix<double, 3, 4> basis;
    for (int k = 0; k < 12; ++k) basis(k % 3, k / 3) = 0.3 * normal(rng);
    const Eigen::Vector3d target =
        truth * p + 0.2 * Eigen::Vector3d(normal(rng), normal(rng), normal(rng));
    problem.AddResidualBlock(
        new CountingCost(new ceres::AutoDiffCostFunction<ProbedResidual, 3, 4, 3, 4, 3, 1>(
                             new ProbedResidual(p, basis, target)),
                         &count),
        new ceres::CauchyLoss(0.5), q, t, a, b, w);
  }
  // Priors keep a and b well determined.
  problem.AddResidualBlock(new ceres::AutoDiffCostFunction<PriorResidual<4>, 4, 4>(
                               new PriorResidual<4>(0.0)), nullptr, a);
  problem.AddResidualBlock(new ceres::AutoDiffCostFunction<PriorResidual<3>, 3, 3>(
                               new PriorResidual<3>(0.2)), nullptr, b);
  problem.SetManifold(q, new ceres::QuaternionManifold);
  std::unique_ptr<BilevelProblem> bilevel;
  ASSERT_TRUE(BilevelProblem::Create(&problem, {w}, &bilevel).ok());
  ceres::Solver::Summary summary;
  ASSERT_TRUE(bilevel->SolveInner(TightSolverOptions(), &summary).ok());

  // The probed Hessian is the exact one: the derivative matches re-solves.
  EXPECT_LT(CheckedError(bilevel.get(), DerivativeOptions(0.0, HessianModel::EXACT)), kTolerance);
  EXPECT_LT(CheckedError(bilevel.get(), DerivativeOptions(0.1, HessianModel::EXACT)), kTolerance);

  // Evaluations with Jacobians per pose residual in one Linearise without the
  // Newton step: 1 (first order) + the residual block's probe 2 (it bends) +
  // q: probe 2 + 3 columns x 4 (differences at h and 2h, extrapolated; no
  // halving here), b: probe 2 + 3 x 4, t and a: one probe each, 2 + 2
  // (linear: not differenced) = 35, against 1 + 13 columns x 4 = 53 without
  // probes.
  MinimiserDerivative::Options options = DerivativeOptions(0.0, HessianModel::EXACT);
  options.final_newton_step = false;
  MinimiserDerivative derivative(options);
  count = 0;
  ASSERT_TRUE(derivative.Linearise(bilevel.get(), nullptr).ok());
  EXPECT_EQ(count, 12 * 35);
}

// A second difference of neighbouring 1-coordinate blocks (as a filter
// response over pixels): linear in every inner coordinate, so its curvature
// is zero and the residual-block probe leaves nothing to difference.
struct SecondDifference {
  template <typename T>
  bool operator()(const T* a, const T* b, const T* c, T* r) const {
    r[0] = a[0] - 2.0 * b[0] + c[0];
    return true;
  }
};

// sqrt(w) (x - d): the data term, its weight learnable.
struct WeightedData {
  explicit WeightedData(double d) : d(d) {}
  template <typename T>
  bool operator()(const T* x, const T* w, T* r) const {
    r[0] = sqrt(w[0]) * (x[0] - T(d));
    return true;
  }
  double d;
};

TEST(MinimiserDerivative, ResidualsLinearInAllInnerBlocksAreNotDifferenced) {
  constexpr int kPixels = 40;
  std::vector<double> x(kPixels);
  double w[1] = {3.0};
  ceres::Problem problem;
  int count = 0;
  for (int i = 0; i < kPixels; ++i) {
    x[i] = std::sin(0.3 * i) + 0.1 * std::cos(2.1 * i);
    problem.AddResidualBlock(new ceres::AutoDiffCostFunction<WeightedData, 1, 1, 1>(
                                 new WeightedData(x[i])),
                             nullptr, &x[i], w);
  }
  for (int i = 0; i + 2 < kPixels; ++i) {
    problem.AddResidualBlock(
        new CountingCost(new ceres::AutoDiffCostFunction<SecondDifference, 1, 1, 1, 1>(
                             new SecondDifference),
                         &count),
        new ceres::CauchyLoss(0.05), &x[i], &x[i + 1], &x[i + 2]);
  }
  std::unique_ptr<BilevelProblem> bilevel;
  ASSERT_TRUE(BilevelProblem::Create(&problem, {w}, &bilevel).ok());
  ceres::Solver::Summary summary;
  ASSERT_TRUE(bilevel->SolveInner(TightSolverOptions(), &summary).ok());

  // The Hessian has the robust loss's curvature (rho'') and is exact: the
  // derivative matches re-solves.
  EXPECT_LT(CheckedError(bilevel.get(), DerivativeOptions(0.0, HessianModel::EXACT)), kTolerance);

  // 1 (first order) + 2 (the probe) per residual, against 1 + 3 columns x 4.
  MinimiserDerivative::Options options = DerivativeOptions(0.0, HessianModel::EXACT);
  options.final_newton_step = false;
  MinimiserDerivative derivative(options);
  count = 0;
  ASSERT_TRUE(derivative.Linearise(bilevel.get(), nullptr).ok());
  EXPECT_EQ(count, (kPixels - 2) * 3);
}

// atan(x0 - x2 - x6 + x8) - t on a 3x3 patch x: a bent mixed second
// difference (the d2/dxdy stencil of image priors). Its curvature matrix is a
// multiple of f f^T, f the stencil, which is orthogonal to any direction whose
// coordinates on the patch are an arithmetic progression (mod anything), so a
// probe along such a direction would take it for linear.
constexpr int kPatch = 9;

double Stencil(int q) { return q == 0 || q == 8 ? 1.0 : (q == 2 || q == 6 ? -1.0 : 0.0); }

struct BentStencil {
  explicit BentStencil(double t) : t(t) {}
  // The patch as one block.
  template <typename T>
  bool operator()(const T* x, T* r) const {
    T z(0.0);
    for (int q = 0; q < kPatch; ++q) z += Stencil(q) * x[q];
    r[0] = atan(z) - T(t);
    return true;
  }
  double t;
};

// The patch as 9 one-coordinate blocks (pixels).
class BentStencilOfPixels final : public ceres::CostFunction {
 public:
  explicit BentStencilOfPixels(double t) : t_(t) {
    set_num_residuals(1);
    for (int q = 0; q < kPatch; ++q) mutable_parameter_block_sizes()->push_back(1);
  }
  bool Evaluate(double const* const* x, double* r, double** jacobians) const override {
    double z = 0.0;
    for (int q = 0; q < kPatch; ++q) z += Stencil(q) * x[q][0];
    r[0] = std::atan(z) - t_;
    if (jacobians == nullptr) return true;
    for (int q = 0; q < kPatch; ++q) {
      if (jacobians[q] != nullptr) jacobians[q][0] = Stencil(q) / (1.0 + z * z);
    }
    return true;
  }

 private:
  double t_;
};

// x - w for blocks of size N.
template <int N>
struct PullTowards {
  template <typename T>
  bool operator()(const T* x, const T* w, T* r) const {
    for (int k = 0; k < N; ++k) r[k] = x[k] - w[k];
    return true;
  }
};

// The curvature probes (of the residual block, and of a block of 3 or more
// coordinates) must not take a bent stencil for a linear one.
TEST(MinimiserDerivative, ProbesSeeTheCurvatureOfStencils) {
  for (bool one_block : {false, true}) {
    std::vector<double> x(kPatch), w(kPatch);
    for (int q = 0; q < kPatch; ++q) {
      x[q] = w[q] = 0.1 * std::sin(1.7 * q + 0.4);
    }
    ceres::Problem problem;
    std::vector<double*> learnable;
    if (one_block) {
      problem.AddResidualBlock(
          new ceres::AutoDiffCostFunction<BentStencil, 1, kPatch>(new BentStencil(0.7)), nullptr,
          x.data());
      problem.AddResidualBlock(
          new ceres::AutoDiffCostFunction<PullTowards<kPatch>, kPatch, kPatch, kPatch>(
              new PullTowards<kPatch>),
          nullptr, x.data(), w.data());
      learnable = {w.data()};
    } else {
      std::vector<double*> pixels;
      for (int q = 0; q < kPatch; ++q) pixels.push_back(&x[q]);
      problem.AddResidualBlock(new BentStencilOfPixels(0.7), nullptr, pixels);
      for (int q = 0; q < kPatch; ++q) {
        problem.AddResidualBlock(
            new ceres::AutoDiffCostFunction<PullTowards<1>, 1, 1, 1>(new PullTowards<1>), nullptr,
            &x[q], &w[q]);
        learnable.push_back(&w[q]);
      }
    }
    std::unique_ptr<BilevelProblem> bilevel;
    ASSERT_TRUE(BilevelProblem::Create(&problem, learnable, &bilevel).ok());
    ceres::Solver::Summary summary;
    ASSERT_TRUE(bilevel->SolveInner(TightSolverOptions(), &summary).ok());
    EXPECT_LT(CheckedError(bilevel.get(), DerivativeOptions(0.0, HessianModel::EXACT)),
              kTolerance)
        << (one_block ? "one 9-coordinate block" : "nine 1-coordinate blocks");
  }
}

TEST(MinimiserDerivative, LambdaToZeroGivesTheImplicitDerivative) {
  LinearProblem linear(4);
  ceres::Solver::Summary summary;
  ASSERT_TRUE(linear.bilevel->SolveInner(TightSolverOptions(), &summary).ok());
  auto jacobian = [&](double lambda) {
    MinimiserDerivative derivative(DerivativeOptions(lambda, HessianModel::EXACT));
    EXPECT_TRUE(derivative.Linearise(linear.bilevel.get(), nullptr).ok());
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
    ASSERT_TRUE(derivative.Linearise(linear.bilevel.get(), nullptr).ok());
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
    ASSERT_TRUE(derivative.Linearise(linear.bilevel.get(), nullptr).ok());
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
    ASSERT_TRUE(derivative.Linearise(fit.bilevel.get(), nullptr).ok());
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
    ASSERT_TRUE(derivative.Linearise(fit.bilevel.get(), &summary).ok());
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
    EXPECT_TRUE(derivative.Linearise(fit.bilevel.get(), summary).ok());
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
  EXPECT_TRUE(with_step.final_newton_step_taken);
  // Newton converges quadratically, so one step brings the derivative within
  // 1e-6 (relative, Frobenius) of the re-solved one; without it the loose
  // solve's error shows.
  EXPECT_LT(error_with, kTolerance);
  EXPECT_GT(error_without, 10.0 * error_with);
}

// Repeated final Newton steps (quadratic convergence) reach a point whose
// gradient is at its rounding level within a few Linearise calls; there the
// step is not taken, and the derivative is bit-identical to the one without
// the option. From a loose solve it is taken (above).
TEST(MinimiserDerivative, FinalNewtonStepIsNotTakenWhereTheGradientIsRoundOff) {
  ExponentialProblem fit(Loss::kNone, 19);
  ceres::Solver::Summary solver_summary;
  ASSERT_TRUE(fit.bilevel->SolveInner(TightSolverOptions(), &solver_summary).ok());
  MinimiserDerivative::Options options = DerivativeOptions(0.0, HessianModel::EXACT);
  options.final_newton_step = true;
  MinimiserDerivative with_step(options);
  MinimiserDerivative::Summary summary;
  int calls = 0;
  do {
    ASSERT_TRUE(with_step.Linearise(fit.bilevel.get(), &summary).ok());
    std::printf("call %d: |g|_inf before %.3g, step taken %d, norm %.3g\n", calls,
                summary.gradient_max_norm_before_newton_step, summary.final_newton_step_taken,
                summary.newton_step_norm);
  } while (summary.final_newton_step_taken && ++calls < 5);
  ASSERT_FALSE(summary.final_newton_step_taken);
  const Eigen::VectorXd y = fit.bilevel->GetInnerValues();
  options.final_newton_step = false;
  MinimiserDerivative without_step(options);
  ASSERT_TRUE(without_step.Linearise(fit.bilevel.get(), nullptr).ok());
  Eigen::MatrixXd J_with, J_without;
  ASSERT_TRUE(with_step.Jacobian(&J_with).ok());
  ASSERT_TRUE(without_step.Jacobian(&J_without).ok());
  EXPECT_EQ(fit.bilevel->GetInnerValues(), y);
  EXPECT_EQ(J_with, J_without);
}

TEST(MinimiserDerivative, SummaryReportsEigenvaluesAndGradient) {
  LinearProblem linear(10);
  ceres::Solver::Summary solver_summary;
  ASSERT_TRUE(linear.bilevel->SolveInner(TightSolverOptions(), &solver_summary).ok());
  MinimiserDerivative derivative(DerivativeOptions(0.25, HessianModel::EXACT));
  MinimiserDerivative::Summary summary;
  ASSERT_TRUE(derivative.Linearise(linear.bilevel.get(), &summary).ok());
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
    ASSERT_TRUE(derivative.Linearise(linear.bilevel.get(), &summary).ok());
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

// A chain of kChain scalar inner blocks: data terms w_data (y_i - d_i) and
// smoothness terms w_smooth (y_{i+1} - y_i) under a Cauchy loss. Sparse: H is
// tridiagonal and must never be densified.
struct DataResidual {
  explicit DataResidual(double d) : d(d) {}
  template <typename T>
  bool operator()(const T* y, const T* w, T* r) const {
    r[0] = w[0] * (y[0] - T(d));
    return true;
  }
  double d;
};
struct SmoothnessResidual {
  template <typename T>
  bool operator()(const T* a, const T* b, const T* w, T* r) const {
    r[0] = w[0] * (b[0] - a[0]);
    return true;
  }
};

TEST(MinimiserDerivative, SparseChainWithTenThousandInnerVariables) {
  constexpr int kChain = 10000;
  std::mt19937 rng(21);
  std::normal_distribution<double> noise(0.0, 0.3);
  std::vector<double> y(kChain, 0.0);
  double w_data[1] = {1.0};
  double w_smooth[1] = {2.0};
  ceres::Problem problem;
  for (int i = 0; i < kChain; ++i) {
    const double signal = (i / 500) % 2 == 0 ? 1.0 : -1.0;  // steps, so Cauchy matters
    problem.AddResidualBlock(
        new ceres::AutoDiffCostFunction<DataResidual, 1, 1, 1>(new DataResidual(signal + noise(rng))),
        nullptr, &y[i], w_data);
    if (i > 0) {
      problem.AddResidualBlock(
          new ceres::AutoDiffCostFunction<SmoothnessResidual, 1, 1, 1, 1>(new SmoothnessResidual),
          new ceres::CauchyLoss(0.5), &y[i - 1], &y[i], w_smooth);
    }
  }
  std::unique_ptr<BilevelProblem> bilevel;
  ASSERT_TRUE(BilevelProblem::Create(&problem, {w_data, w_smooth}, &bilevel).ok());
  ceres::Solver::Options solver_options = TightSolverOptions();
  solver_options.linear_solver_type = ceres::SPARSE_NORMAL_CHOLESKY;
  ceres::Solver::Summary solver_summary;
  ASSERT_TRUE(bilevel->SolveInner(solver_options, &solver_summary).ok());

  // Directional checks: two random directions in w.
  MinimiserDerivativeChecker::Options checker_options;
  checker_options.solver_options = solver_options;
  checker_options.directions = Eigen::MatrixXd(2, 2);
  checker_options.directions << 1.0, 0.3, -0.5, 1.0;
  for (double lambda : {0.0, 0.1}) {
    MinimiserDerivative::Options options = DerivativeOptions(lambda, HessianModel::EXACT);
    MinimiserDerivativeChecker::Result result;
    ASSERT_TRUE(
        MinimiserDerivativeChecker::Check(checker_options, options, bilevel.get(), &result).ok());
    EXPECT_EQ(result.derivative_summary.linear_solver_type, LinearSolverType::SPARSE);
    ::testing::Test::RecordProperty(lambda == 0.0 ? "max_relative_error_lambda_0"
                                                  : "max_relative_error_lambda_0.1",
                                    ::testing::PrintToString(result.max_relative_error));
    EXPECT_LT(result.max_relative_error, kTolerance) << "lambda " << lambda << ": "
                                                     << result.Report();

    // Reverse mode against the same finite differences: u^T (dy*/dw) v. The
    // checker differentiated at the fixed point; Ceres stops about sqrt(eps)
    // away from it, which moves the derivative by ~1e-6, so take the final
    // Newton step here too.
    options.final_newton_step = true;
    MinimiserDerivative derivative(options);
    ASSERT_TRUE(derivative.Linearise(bilevel.get(), nullptr).ok());
    Eigen::VectorXd u(kChain);
    for (int i = 0; i < kChain; ++i) u[i] = noise(rng);
    Eigen::VectorXd J_T_u;
    ASSERT_TRUE(derivative.VectorJacobianProduct(u, &J_T_u).ok());
    for (int c = 0; c < 2; ++c) {
      const double reverse = J_T_u.dot(checker_options.directions.col(c));
      const double numeric = u.dot(result.numeric.col(c));
      EXPECT_NEAR(reverse, numeric, kTolerance * std::abs(numeric)) << "lambda " << lambda;
    }
  }
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// r = y0 + y1 - w: H = [1 1; 1 1] is singular; the minimiser is a line.
struct SumResidual {
  template <typename T>
  bool operator()(const T* y, const T* w, T* r) const {
    r[0] = y[0] + y[1] - w[0];
    return true;
  }
};

TEST(MinimiserDerivative, SingularHessianAtLambdaZeroIsAnErrorSuggestingLambda) {
  double y[2] = {0.3, 0.7}, w[1] = {1.0};
  ceres::Problem problem;
  problem.AddResidualBlock(new ceres::AutoDiffCostFunction<SumResidual, 1, 2, 1>(new SumResidual),
                           nullptr, y, w);
  std::unique_ptr<BilevelProblem> bilevel;
  ASSERT_TRUE(BilevelProblem::Create(&problem, {w}, &bilevel).ok());
  for (LinearSolverType type : {LinearSolverType::DENSE, LinearSolverType::SPARSE}) {
    MinimiserDerivative::Options options = DerivativeOptions(0.0, HessianModel::EXACT);
    options.linear_solver_type = type;
    MinimiserDerivative implicit(options);
    Status status = implicit.Linearise(bilevel.get(), nullptr);
    EXPECT_EQ(status.code(), StatusCode::kSingularHessian) << LinearSolverTypeToString(type);
    EXPECT_TRUE(Contains(status.message(), "use lambda > 0")) << status.message();
    Eigen::MatrixXd J;
    EXPECT_EQ(implicit.Jacobian(&J).code(), StatusCode::kInvalidArgument);

    // The trust-region derivative exists and is bounded by |G| / lambda = sqrt(2) / 0.1.
    options.lambda = 0.1;
    MinimiserDerivative damped(options);
    ASSERT_TRUE(damped.Linearise(bilevel.get(), nullptr).ok());
    ASSERT_TRUE(damped.Jacobian(&J).ok());
    EXPECT_TRUE(J.allFinite());
    EXPECT_LE(J.norm(), std::sqrt(2.0) / 0.1);
    // Exactly (H + 0.1 I)^-1 [1 1]^T: 1 / 2.1 each.
    EXPECT_NEAR(J(0, 0), 1.0 / 2.1, 1e-12);
    EXPECT_NEAR(J(1, 0), 1.0 / 2.1, 1e-12);
  }
}

// r = y0 + y1 + y2 - w: H = 1 1^T has a null space of dimension 2, which the
// refusal at lambda = 0 states (dense: eigenvalues of the scaled form).
struct TripleSumResidual {
  template <typename T>
  bool operator()(const T* y, const T* w, T* r) const {
    r[0] = y[0] + y[1] + y[2] - w[0];
    return true;
  }
};

TEST(MinimiserDerivative, SingularHessianMessageStatesTheNullSpaceDimension) {
  double y[3] = {0.3, 0.7, 0.1}, w[1] = {1.1};
  ceres::Problem problem;
  problem.AddResidualBlock(
      new ceres::AutoDiffCostFunction<TripleSumResidual, 1, 3, 1>(new TripleSumResidual),
      nullptr, y, w);
  std::unique_ptr<BilevelProblem> bilevel;
  ASSERT_TRUE(BilevelProblem::Create(&problem, {w}, &bilevel).ok());
  MinimiserDerivative::Options options = DerivativeOptions(0.0, HessianModel::EXACT);
  options.linear_solver_type = LinearSolverType::DENSE;
  MinimiserDerivative implicit(options);
  const Status status = implicit.Linearise(bilevel.get(), nullptr);
  EXPECT_EQ(status.code(), StatusCode::kSingularHessian);
  EXPECT_TRUE(Contains(status.message(), "null space has dimension 2")) << status.message();
}

// r = y - w under a Cauchy loss: at |y - w| = 2 (s = 4 > 1), the exact H =
// rho' + 2 rho'' s = (1 - s) / (1 + s)^2 = -0.12 < 0.
struct DifferenceResidual {
  template <typename T>
  bool operator()(const T* y, const T* w, T* r) const {
    r[0] = y[0] - w[0];
    return true;
  }
};

TEST(MinimiserDerivative, IndefiniteHessianIsAnError) {
  double y[1] = {2.0}, w[1] = {0.0};
  ceres::Problem problem;
  problem.AddResidualBlock(
      new ceres::AutoDiffCostFunction<DifferenceResidual, 1, 1, 1>(new DifferenceResidual),
      new ceres::CauchyLoss(1.0), y, w);
  std::unique_ptr<BilevelProblem> bilevel;
  ASSERT_TRUE(BilevelProblem::Create(&problem, {w}, &bilevel).ok());
  MinimiserDerivative implicit(DerivativeOptions(0.0, HessianModel::EXACT));
  Status status = implicit.Linearise(bilevel.get(), nullptr);
  EXPECT_EQ(status.code(), StatusCode::kIndefiniteHessian);
  EXPECT_TRUE(Contains(status.message(), "-0.12")) << status.message();
  EXPECT_TRUE(Contains(status.message(), "use lambda > 0")) << status.message();
  // lambda = 0.1 is not enough to make -0.12 + lambda positive.
  MinimiserDerivative damped(DerivativeOptions(0.1, HessianModel::EXACT));
  status = damped.Linearise(bilevel.get(), nullptr);
  EXPECT_EQ(status.code(), StatusCode::kIndefiniteHessian);
  EXPECT_TRUE(Contains(status.message(), "Increase lambda")) << status.message();
  // Gauss-Newton's H = rho' = 0.2 is positive.
  MinimiserDerivative gauss_newton(DerivativeOptions(0.0, HessianModel::GAUSS_NEWTON));
  EXPECT_TRUE(gauss_newton.Linearise(bilevel.get(), nullptr).ok());
}

// The two sparse libraries (CHOLMOD's supernodal LL^T, Eigen's simplicial
// LDL^T) on the same systems: the same derivative to round-off, and the same
// classification where the LL^T fails (singular, indefinite) or succeeds with
// a null direction of round-off size.
TEST(MinimiserDerivative, SparseLibrariesAgreeAndClassifyAlike) {
  const SparseLinearAlgebraLibraryType libraries[] = {
      SparseLinearAlgebraLibraryType::SUITE_SPARSE, SparseLinearAlgebraLibraryType::EIGEN_SPARSE};
  auto sparse_options = [](double lambda, HessianModel model,
                           SparseLinearAlgebraLibraryType library) {
    MinimiserDerivative::Options options = DerivativeOptions(lambda, model);
    options.linear_solver_type = LinearSolverType::SPARSE;
    options.sparse_linear_algebra_library_type = library;
    return options;
  };

  // Positive definite, lambda = 0 and 0.1: the Jacobians agree to round-off
  // (two factorisations of a system with condition number ~1e3).
  ExponentialProblem fit(Loss::kHuber, 17);
  ASSERT_TRUE(fit.Solve().ok());
  for (double lambda : {0.0, 0.1}) {
    Eigen::MatrixXd J[2];
    for (int i = 0; i < 2; ++i) {
      MinimiserDerivative derivative(sparse_options(lambda, HessianModel::EXACT, libraries[i]));
      MinimiserDerivative::Summary summary;
      ASSERT_TRUE(derivative.Linearise(fit.bilevel.get(), &summary).ok());
      EXPECT_EQ(summary.sparse_linear_algebra_library_type, libraries[i]);
      ASSERT_TRUE(derivative.Jacobian(&J[i]).ok());
    }
    EXPECT_LT((J[0] - J[1]).norm() / J[0].norm(), 1e-12) << "lambda " << lambda;
  }

  // Singular (H = [1 1; 1 1]) at lambda = 0, with the null direction's
  // block named; indefinite (H = -0.12) at lambda = 0 and 0.1.
  double y[2] = {0.3, 0.7}, w[1] = {1.0};
  ceres::Problem sum_problem;
  sum_problem.AddResidualBlock(
      new ceres::AutoDiffCostFunction<SumResidual, 1, 2, 1>(new SumResidual), nullptr, y, w);
  std::unique_ptr<BilevelProblem> sum;
  ASSERT_TRUE(BilevelProblem::Create(&sum_problem, {w}, &sum).ok());
  double z[1] = {2.0}, v[1] = {0.0};
  ceres::Problem difference_problem;
  difference_problem.AddResidualBlock(
      new ceres::AutoDiffCostFunction<DifferenceResidual, 1, 1, 1>(new DifferenceResidual),
      new ceres::CauchyLoss(1.0), z, v);
  std::unique_ptr<BilevelProblem> difference;
  ASSERT_TRUE(BilevelProblem::Create(&difference_problem, {v}, &difference).ok());
  for (SparseLinearAlgebraLibraryType library : libraries) {
    const char* name = SparseLinearAlgebraLibraryTypeToString(library);
    MinimiserDerivative singular(sparse_options(0.0, HessianModel::EXACT, library));
    Status status = singular.Linearise(sum.get(), nullptr);
    EXPECT_EQ(status.code(), StatusCode::kSingularHessian) << name;
    EXPECT_TRUE(Contains(status.message(), "use lambda > 0")) << status.message();
    for (double lambda : {0.0, 0.1}) {
      MinimiserDerivative indefinite(sparse_options(lambda, HessianModel::EXACT, library));
      status = indefinite.Linearise(difference.get(), nullptr);
      EXPECT_EQ(status.code(), StatusCode::kIndefiniteHessian) << name << " " << status.message();
      // -0.12 + lambda.
      EXPECT_TRUE(Contains(status.message(), lambda == 0.0 ? "-0.12" : "-0.02"))
          << status.message();
    }
    MinimiserDerivative gauss_newton(sparse_options(0.0, HessianModel::GAUSS_NEWTON, library));
    EXPECT_TRUE(gauss_newton.Linearise(difference.get(), nullptr).ok()) << name;
  }
}

// One MinimiserDerivative linearised again at other values of the same
// problem (the same sparsity pattern: the symbolic analysis is kept, only the
// numeric factorisation is redone) gives what a fresh one gives, for both
// sparse libraries.
TEST(MinimiserDerivative, SparseFactorisationIsReusedAcrossPoints) {
  for (SparseLinearAlgebraLibraryType library :
       {SparseLinearAlgebraLibraryType::SUITE_SPARSE,
        SparseLinearAlgebraLibraryType::EIGEN_SPARSE}) {
    ExponentialProblem fit(Loss::kCauchy, 23);
    ASSERT_TRUE(fit.Solve().ok());
    MinimiserDerivative::Options options = DerivativeOptions(0.1, HessianModel::EXACT);
    options.linear_solver_type = LinearSolverType::SPARSE;
    options.sparse_linear_algebra_library_type = library;
    MinimiserDerivative reused(options);
    Eigen::MatrixXd J_first;
    ASSERT_TRUE(reused.Linearise(fit.bilevel.get(), nullptr).ok());
    ASSERT_TRUE(reused.Jacobian(&J_first).ok());
    // Other learnable values: another minimiser, another H.
    for (double& w_i : fit.w) w_i *= 1.1;
    ASSERT_TRUE(fit.Solve().ok());
    Eigen::MatrixXd J_reused, J_fresh;
    ASSERT_TRUE(reused.Linearise(fit.bilevel.get(), nullptr).ok());
    ASSERT_TRUE(reused.Jacobian(&J_reused).ok());
    MinimiserDerivative fresh(options);
    ASSERT_TRUE(fresh.Linearise(fit.bilevel.get(), nullptr).ok());
    ASSERT_TRUE(fresh.Jacobian(&J_fresh).ok());
    EXPECT_EQ(J_reused, J_fresh) << SparseLinearAlgebraLibraryTypeToString(library);
    EXPECT_GT((J_reused - J_first).norm(), 1e-6 * J_first.norm());
  }
}

// r = y - w * d, with a Jacobian that is NaN or an evaluation that fails on
// request.
class FaultyCostFunction : public ceres::SizedCostFunction<1, 1, 1> {
 public:
  enum Fault { kNanResidual, kNanJacobian, kReturnsFalse };
  explicit FaultyCostFunction(Fault fault) : fault_(fault) {}
  bool Evaluate(double const* const* x, double* r, double** jacobians) const override {
    if (fault_ == kReturnsFalse) return false;
    r[0] = fault_ == kNanResidual ? std::nan("") : x[0][0] - x[1][0];
    if (jacobians != nullptr) {
      if (jacobians[0] != nullptr) jacobians[0][0] = 1.0;
      if (jacobians[1] != nullptr) jacobians[1][0] = fault_ == kNanJacobian ? std::nan("") : -1.0;
    }
    return true;
  }

 private:
  Fault fault_;
};

TEST(MinimiserDerivative, NanOrFailedEvaluationsAreErrorsNamingTheBlock) {
  const std::pair<FaultyCostFunction::Fault, std::string> cases[] = {
      {FaultyCostFunction::kNanResidual, "residual block #1 (1 residuals) has a NaN"},
      {FaultyCostFunction::kNanJacobian,
       "Jacobian of residual block #1 (1 residuals) with respect to learnable block 'w'"},
      {FaultyCostFunction::kReturnsFalse, "cost function of residual block #1"}};
  for (const auto& [fault, expected] : cases) {
    double y[1] = {1.0}, w[1] = {0.5};
    ceres::Problem problem;
    problem.AddResidualBlock(
        new ceres::AutoDiffCostFunction<DifferenceResidual, 1, 1, 1>(new DifferenceResidual),
        nullptr, y, w);
    problem.AddResidualBlock(new FaultyCostFunction(fault), nullptr, y, w);
    BilevelProblem::Options bilevel_options;
    bilevel_options.parameter_block_names[w] = "w";
    std::unique_ptr<BilevelProblem> bilevel;
    ASSERT_TRUE(BilevelProblem::Create(&problem, {w}, bilevel_options, &bilevel).ok());
    MinimiserDerivative derivative(DerivativeOptions(0.1, HessianModel::EXACT));
    Status status = derivative.Linearise(bilevel.get(), nullptr);
    EXPECT_EQ(status.code(), StatusCode::kNumericalFailure);
    EXPECT_TRUE(Contains(status.message(), expected)) << status.message();
  }
}

// A learnable loss with a weight m that is not positive is an error naming
// the residual block: Ceres' view's evaluation fails under GAUSS_NEWTON, the
// exact view's loss term under EXACT (which evaluates only the wrapped cost
// function through Ceres).
TEST(MinimiserDerivative, InvalidLearnableLossWeightIsAnErrorNamingTheBlock) {
  const std::pair<HessianModel, std::string> cases[] = {
      {HessianModel::GAUSS_NEWTON,
       "the cost function of residual block #1 (1 residuals) returned false"},
      {HessianModel::EXACT, "the learnable loss of residual block #1 has an invalid weight m"}};
  for (const auto& [model, expected] : cases) {
    double y[1] = {1.0}, w[1] = {0.5}, a[1] = {2.0}, m[1] = {-1.0};
    ceres::Problem problem;
    problem.AddResidualBlock(
        new ceres::AutoDiffCostFunction<DifferenceResidual, 1, 1, 1>(new DifferenceResidual),
        nullptr, y, w);
    problem.AddResidualBlock(
        new LearnableLossCostFunction(
            new ceres::AutoDiffCostFunction<DifferenceResidual, 1, 1, 1>(new DifferenceResidual),
            LearnableLossType::WELSCH, /*has_weight_block=*/true),
        nullptr, {y, w, a, m});
    std::unique_ptr<BilevelProblem> bilevel;
    ASSERT_TRUE(BilevelProblem::Create(&problem, {w, a, m}, &bilevel).ok());
    MinimiserDerivative derivative(DerivativeOptions(0.1, model));
    Status status = derivative.Linearise(bilevel.get(), nullptr);
    EXPECT_EQ(status.code(), StatusCode::kNumericalFailure) << status.ToString();
    EXPECT_TRUE(Contains(status.message(), expected)) << status.message();
  }
}

TEST(MinimiserDerivative, MisuseIsReportedNotCrashed) {
  LinearProblem linear(2);
  ceres::Solver::Summary solver_summary;
  ASSERT_TRUE(linear.bilevel->SolveInner(TightSolverOptions(), &solver_summary).ok());

  MinimiserDerivative::Options bad = DerivativeOptions(-1.0, HessianModel::EXACT);
  std::string error;
  EXPECT_FALSE(bad.IsValid(&error));
  MinimiserDerivative invalid(bad);
  Status status = invalid.Linearise(linear.bilevel.get(), nullptr);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(status.message(), "lambda")) << status.message();

  MinimiserDerivative derivative(DerivativeOptions(0.1, HessianModel::EXACT));
  Eigen::MatrixXd J;
  EXPECT_EQ(derivative.Jacobian(&J).code(), StatusCode::kInvalidArgument);  // no Linearise
  ASSERT_TRUE(derivative.Linearise(linear.bilevel.get(), nullptr).ok());
  Eigen::VectorXd J_T_u;
  status = derivative.VectorJacobianProduct(Eigen::VectorXd::Ones(5), &J_T_u);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(status.message(), "u has size 5")) << status.message();
  status = derivative.VectorJacobianProduct(Eigen::Vector3d(1.0, std::nan(""), 0.0), &J_T_u);
  EXPECT_EQ(status.code(), StatusCode::kNumericalFailure);

  linear.y[0] += 1e-3;  // the problem moved on
  status = derivative.Jacobian(&J);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(status.message(), "changed since Linearise")) << status.message();
}

// r = 1e155 (y - w) at y = w: r and J are finite, H = J^T J = 1e310 is not.
struct HugeSlopeResidual {
  template <typename T>
  bool operator()(const T* y, const T* w, T* r) const {
    r[0] = 1e155 * (y[0] - w[0]);
    return true;
  }
};

TEST(MinimiserDerivative, NonFiniteHessianIsAnErrorNamingTheBlock) {
  for (LinearSolverType type : {LinearSolverType::DENSE, LinearSolverType::SPARSE}) {
    double y[1] = {0.5}, w[1] = {0.5};
    ceres::Problem problem;
    problem.AddResidualBlock(
        new ceres::AutoDiffCostFunction<HugeSlopeResidual, 1, 1, 1>(new HugeSlopeResidual),
        nullptr, y, w);
    BilevelProblem::Options bilevel_options;
    bilevel_options.parameter_block_names[y] = "y";
    std::unique_ptr<BilevelProblem> bilevel;
    ASSERT_TRUE(BilevelProblem::Create(&problem, {w}, bilevel_options, &bilevel).ok());
    MinimiserDerivative::Options options = DerivativeOptions(0.1, HessianModel::EXACT);
    options.linear_solver_type = type;
    MinimiserDerivative derivative(options);
    Status status = derivative.Linearise(bilevel.get(), nullptr);
    EXPECT_EQ(status.code(), StatusCode::kNumericalFailure) << status.ToString();
    EXPECT_TRUE(Contains(status.message(), "H has a NaN or infinite entry")) << status.message();
    EXPECT_TRUE(Contains(status.message(), "'y'")) << status.message();
    Eigen::MatrixXd J;
    EXPECT_FALSE(derivative.Jacobian(&J).ok());
  }
}

// r = sqrt(y) - w: from y = 1, w = 0 the Gauss-Newton step is -2 (to y = -1,
// where r is NaN).
struct SqrtResidual {
  template <typename T>
  bool operator()(const T* y, const T* w, T* r) const {
    using std::sqrt;
    r[0] = sqrt(y[0]) - w[0];
    return true;
  }
};

TEST(MinimiserDerivative, FailedFinalNewtonStepRestoresTheInnerValues) {
  double y[1] = {1.0}, w[1] = {0.0};
  ceres::Problem problem;
  problem.AddResidualBlock(new ceres::AutoDiffCostFunction<SqrtResidual, 1, 1, 1>(new SqrtResidual),
                           nullptr, y, w);
  std::unique_ptr<BilevelProblem> bilevel;
  ASSERT_TRUE(BilevelProblem::Create(&problem, {w}, &bilevel).ok());
  MinimiserDerivative::Options options = DerivativeOptions(0.0, HessianModel::GAUSS_NEWTON);
  options.final_newton_step = true;
  MinimiserDerivative derivative(options);
  Status status = derivative.Linearise(bilevel.get(), nullptr);
  EXPECT_EQ(status.code(), StatusCode::kNumericalFailure) << status.ToString();
  EXPECT_TRUE(Contains(status.message(), "restored")) << status.message();
  EXPECT_EQ(y[0], 1.0);
}

// One MinimiserDerivative on problems created and freed in turn (a new one
// often takes the freed one's address): each is linearised afresh.
TEST(MinimiserDerivative, AFreshProblemAtAFreedOnesAddressIsNotMistakenForIt) {
  MinimiserDerivative derivative(DerivativeOptions(0.1, HessianModel::EXACT));
  uint64_t previous_id = 0;
  for (int n : {1, 3, 2}) {
    std::vector<double> y(n, 0.0);
    double w[1] = {1.0};
    ceres::Problem problem;
    for (int i = 0; i < n; ++i) {
      problem.AddResidualBlock(
          new ceres::AutoDiffCostFunction<DifferenceResidual, 1, 1, 1>(new DifferenceResidual),
          nullptr, &y[i], w);
    }
    std::unique_ptr<BilevelProblem> bilevel;
    ASSERT_TRUE(BilevelProblem::Create(&problem, {w}, &bilevel).ok());
    EXPECT_NE(bilevel->id(), previous_id);
    previous_id = bilevel->id();
    ASSERT_TRUE(derivative.Linearise(bilevel.get(), nullptr).ok());
    Eigen::MatrixXd J;
    ASSERT_TRUE(derivative.Jacobian(&J).ok());
    // H = 1, G = -1 per coordinate: dy*/dw = 1 / (1 + lambda).
    ASSERT_EQ(J.rows(), n);
    ASSERT_EQ(J.cols(), 1);
    for (int i = 0; i < n; ++i) EXPECT_NEAR(J(i, 0), 1.0 / 1.1, 1e-12);
  }
}

TEST(MinimiserDerivativeOptions, EveryFieldIsChecked) {
  struct Case {
    std::function<void(MinimiserDerivative::Options*)> change;
    std::string expected;
  };
  const double inf = std::numeric_limits<double>::infinity();
  const std::vector<Case> cases = {
      {[](MinimiserDerivative::Options* o) { o->lambda = -1.0; }, "lambda"},
      {[inf](MinimiserDerivative::Options* o) { o->second_derivative_relative_step = inf; },
       "second_derivative_relative_step"},
      {[](MinimiserDerivative::Options* o) { o->second_derivative_relative_step = 2.0; },
       "second_derivative_relative_step"},
      {[inf](MinimiserDerivative::Options* o) { o->singular_tolerance = inf; },
       "singular_tolerance"},
      {[](MinimiserDerivative::Options* o) { o->damping = static_cast<DampingType>(5); },
       "damping"},
      {[](MinimiserDerivative::Options* o) { o->hessian_model = static_cast<HessianModel>(-3); },
       "hessian_model"},
      {[](MinimiserDerivative::Options* o) {
         o->linear_solver_type = static_cast<LinearSolverType>(4);
       },
       "linear_solver_type"},
      {[](MinimiserDerivative::Options* o) {
         o->sparse_linear_algebra_library_type = static_cast<SparseLinearAlgebraLibraryType>(2);
       },
       "sparse_linear_algebra_library_type"},
      {[](MinimiserDerivative::Options* o) { o->max_dense_size = -1; }, "max_dense_size"},
      {[](MinimiserDerivative::Options* o) { o->bound_tolerance = -1e-3; }, "bound_tolerance"},
      {[](MinimiserDerivative::Options* o) { o->bound_tolerance = 1.0; }, "bound_tolerance"},
      {[](MinimiserDerivative::Options* o) { o->eigenvalue_iterations = 1 << 30; },
       "eigenvalue_iterations"},
  };
  EXPECT_TRUE(MinimiserDerivative::Options().IsValid(nullptr));
  for (const Case& c : cases) {
    MinimiserDerivative::Options options;
    c.change(&options);
    std::string error;
    EXPECT_FALSE(options.IsValid(&error)) << c.expected;
    EXPECT_NE(error.find(c.expected), std::string::npos) << error;
  }
}

// ---------------------------------------------------------------------------
// Bounds. The exponential fit's amplitude y0 (about 2.2 unconstrained) under
// the upper bound 1.8: active, so y0 stays at 1.8 for w nearby.

constexpr double kAmplitudeBound = 1.8;

// The fit with y0 <= kAmplitudeBound, solved by Ceres (which projects onto
// the bound).
std::unique_ptr<ExponentialProblem> BoundedFit(Loss loss) {
  auto fit = std::make_unique<ExponentialProblem>(loss, 3);
  fit->problem.SetParameterUpperBound(fit->y, 0, kAmplitudeBound);
  Status status = BilevelProblem::Create(&fit->problem, {fit->w}, &fit->bilevel);
  EXPECT_TRUE(status.ok()) << status.ToString();
  EXPECT_TRUE(fit->Solve().ok());
  EXPECT_EQ(fit->y[0], kAmplitudeBound);
  return fit;
}

// The checker's worst relative error between two matrices (relative to
// max(|a|, |b|, 1e-4 max|b|)).
double RelativeError(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) {
  const double floor = 1e-4 * b.cwiseAbs().maxCoeff();
  double worst = 0.0;
  for (int j = 0; j < a.cols(); ++j) {
    for (int i = 0; i < a.rows(); ++i) {
      const double scale = std::max({std::abs(a(i, j)), std::abs(b(i, j)), floor});
      if (scale > 0.0) worst = std::max(worst, std::abs(a(i, j) - b(i, j)) / scale);
    }
  }
  return worst;
}

// lambda = 0 against the checker's re-solves: Ceres with the bound, polished
// by NewtonPolish (projected Newton steps on the free coordinate), at default
// options. The re-solves keep y0 at its bound exactly.
TEST(MinimiserDerivative, ActiveBoundMatchesPolishedResolvesAtLambdaZero) {
  for (Loss loss : {Loss::kNone, Loss::kHuber}) {
    std::unique_ptr<ExponentialProblem> fit = BoundedFit(loss);
    MinimiserDerivativeChecker::Result result;
    Status status = MinimiserDerivativeChecker::Check(
        MinimiserDerivativeChecker::Options(), DerivativeOptions(0.0, HessianModel::EXACT),
        fit->bilevel.get(), &result);
    ASSERT_TRUE(status.ok()) << status.ToString();
    std::printf("%s\n%s\n", result.Report().c_str(),
                result.derivative_summary.FullReport().c_str());
    EXPECT_EQ(result.derivative_summary.num_active_bounds, 1);
    EXPECT_EQ(result.analytic.row(0).norm(), 0.0);
    EXPECT_EQ(result.numeric.row(0).norm(), 0.0);
    EXPECT_GT(result.analytic.row(1).norm(), 0.0);
    EXPECT_LT(result.max_relative_error, 1e-7) << result.Report();
    ::testing::Test::RecordProperty(
        std::string("active_bound_resolve_error_") + (loss == Loss::kNone ? "none" : "huber"),
        ::testing::PrintToString(result.max_relative_error));
  }
}

// lambda > 0 against re-solves too: the damped derivative is the derivative
// of the proximal minimiser argmin_y E(y; w) + lambda/2 |y - y*|^2 with the
// anchor y* held fixed (its gradient condition g + lambda (y - y*) = 0 gives
// (H + lambda I) dy + G dw = 0). The proximal term is added to the problem
// as a residual sqrt(lambda) (y - y*) and that problem's lambda = 0
// derivative is taken by the checker's polished re-solves, which respect the
// bound: they share neither H nor the damped factorisation.
struct ProximalResidual {
  template <typename T>
  bool operator()(const T* y, T* r) const {
    for (int i = 0; i < 2; ++i) r[i] = T(std::sqrt(lambda)) * (y[i] - T(anchor[i]));
    return true;
  }
  double lambda;
  double anchor[2];
};

TEST(MinimiserDerivative, ActiveBoundMatchesProximalResolvesAtLambdaPositive) {
  for (bool bounded : {true, false}) {
    std::unique_ptr<ExponentialProblem> fit =
        bounded ? BoundedFit(Loss::kHuber) : std::make_unique<ExponentialProblem>(Loss::kHuber, 3);
    if (!bounded) ASSERT_TRUE(fit->Solve().ok());
    // Ceres' projected LM stops short with the bound active: y* is the
    // polished point (projected Newton steps).
    NewtonPolish::Summary polish;
    ASSERT_TRUE(NewtonPolish::Polish(NewtonPolish::Options(), fit->bilevel.get(), &polish).ok());
    const MinimiserDerivative::Options options;  // lambda 0.1, D = I
    MinimiserDerivative derivative(options);
    MinimiserDerivative::Summary summary;
    ASSERT_TRUE(derivative.Linearise(fit->bilevel.get(), &summary).ok());
    EXPECT_EQ(summary.num_active_bounds, bounded ? 1 : 0);
    Eigen::MatrixXd J;
    ASSERT_TRUE(derivative.Jacobian(&J).ok());

    fit->problem.AddResidualBlock(
        new ceres::AutoDiffCostFunction<ProximalResidual, 2, 2>(
            new ProximalResidual{options.lambda, {fit->y[0], fit->y[1]}}),
        nullptr, fit->y);
    std::unique_ptr<BilevelProblem> proximal;
    ASSERT_TRUE(BilevelProblem::Create(&fit->problem, {fit->w}, &proximal).ok());
    MinimiserDerivativeChecker::Result result;
    ASSERT_TRUE(MinimiserDerivativeChecker::Check(MinimiserDerivativeChecker::Options(),
                                                  DerivativeOptions(0.0, HessianModel::EXACT),
                                                  proximal.get(), &result)
                    .ok());
    if (bounded) EXPECT_EQ(result.numeric.row(0).norm(), 0.0);
    const double error = RelativeError(J, result.numeric);
    const std::string name = bounded ? "active_bound" : "unbounded";
    std::printf("%s: %s\ndamped derivative vs proximal re-solves: %.3g\n", name.c_str(),
                polish.BriefReport().c_str(), error);
    ::testing::Test::RecordProperty(name + "_proximal_error", ::testing::PrintToString(error));
    EXPECT_LT(error, 1e-7) << "J\n" << J << "\nre-solves\n" << result.numeric;
  }
}

// Reverse mode sees the same system: (dy*/dw)^T u equals J^T u, and u's
// entry on the active coordinate has no effect.
TEST(MinimiserDerivative, ReverseModeWithAnActiveBoundIsTheTransposedJacobian) {
  std::unique_ptr<ExponentialProblem> fit = BoundedFit(Loss::kCauchy);
  for (LinearSolverType type : {LinearSolverType::DENSE, LinearSolverType::SPARSE}) {
    MinimiserDerivative::Options options;
    options.linear_solver_type = type;
    MinimiserDerivative derivative(options);
    ASSERT_TRUE(derivative.Linearise(fit->bilevel.get(), nullptr).ok());
    Eigen::MatrixXd J;
    ASSERT_TRUE(derivative.Jacobian(&J).ok());
    const Eigen::Vector2d u(0.7, -1.3);
    Eigen::VectorXd J_T_u, J_T_u_free;
    ASSERT_TRUE(derivative.VectorJacobianProduct(u, &J_T_u).ok());
    ASSERT_TRUE(derivative.VectorJacobianProduct(Eigen::Vector2d(0.0, -1.3), &J_T_u_free).ok());
    EXPECT_LT((J_T_u - J.transpose() * u).norm(), 1e-12 * J_T_u.norm());
    EXPECT_EQ(J_T_u, J_T_u_free);
  }
}

// The final Newton step is projected: from a point short of convergence it
// leaves y feasible, and the derivative there has the bound active.
TEST(MinimiserDerivative, FinalNewtonStepStaysWithinTheBounds) {
  auto fit = std::make_unique<ExponentialProblem>(Loss::kNone, 3);
  fit->problem.SetParameterUpperBound(fit->y, 0, kAmplitudeBound);
  ASSERT_TRUE(BilevelProblem::Create(&fit->problem, {fit->w}, &fit->bilevel).ok());
  // Just inside the bound, the gradient pushing y0 out: the full Newton step
  // of the free system would cross it.
  fit->y[0] = kAmplitudeBound * (1.0 - 1e-3);
  fit->y[1] = 0.6;
  MinimiserDerivative::Options options;
  options.final_newton_step = true;
  MinimiserDerivative derivative(options);
  MinimiserDerivative::Summary summary;
  ASSERT_TRUE(derivative.Linearise(fit->bilevel.get(), &summary).ok());
  EXPECT_LE(fit->y[0], kAmplitudeBound);
  EXPECT_EQ(fit->y[0], kAmplitudeBound) << summary.FullReport();
  EXPECT_EQ(summary.num_active_bounds, 1) << summary.FullReport();
}

// Options::num_threads: H, dy*/dw and (dy*/dw)^T u bit-identical for 1, 2
// and 3 threads on a sparse problem (a chain of 400 inner variables with
// nonlinear couplings under a learnable loss and data terms with a
// learnable weight).
struct ChainCoupling {
  template <typename T>
  bool operator()(const T* a, const T* b, const T* w, T* r) const {
    r[0] = a[0] * b[0] - w[0] * sin(a[0] - b[0]);
    return true;
  }
};
struct ChainData {
  explicit ChainData(double d) : d(d) {}
  template <typename T>
  bool operator()(const T* y, const T* w, T* r) const {
    r[0] = w[0] * (y[0] - T(d));
    return true;
  }
  double d;
};

TEST(MinimiserDerivative, ThreadsGiveBitIdenticalResults) {
  constexpr int kSize = 400;
  std::vector<double> y(kSize);
  double coupling[1] = {0.3};
  double scale[1] = {0.8};
  double data_weight[1] = {1.5};
  ceres::Problem problem;
  for (int i = 0; i < kSize; ++i) {
    y[i] = std::sin(0.37 * i) + 0.1 * i / kSize;
    problem.AddResidualBlock(
        new ceres::AutoDiffCostFunction<ChainData, 1, 1, 1>(new ChainData(std::cos(0.11 * i))),
        nullptr, &y[i], data_weight);
  }
  for (int i = 0; i + 1 < kSize; ++i) {
    problem.AddResidualBlock(
        new LearnableLossCostFunction(
            new ceres::AutoDiffCostFunction<ChainCoupling, 1, 1, 1, 1>(new ChainCoupling),
            LearnableLossType::CAUCHY),
        nullptr, {&y[i], &y[i + 1], coupling, scale});
  }
  std::unique_ptr<BilevelProblem> bilevel;
  ASSERT_TRUE(BilevelProblem::Create(&problem, {coupling, scale, data_weight}, &bilevel).ok());
  Eigen::VectorXd u(kSize);
  for (int i = 0; i < kSize; ++i) u[i] = std::cos(0.7 * i);

  Eigen::SparseMatrix<double> H_one;
  Eigen::MatrixXd J_one;
  Eigen::VectorXd J_T_u_one;
  for (int num_threads : {1, 2, 3}) {
    MinimiserDerivative::Options options;
    options.lambda = 0.1;
    options.linear_solver_type = LinearSolverType::SPARSE;
    options.num_threads = num_threads;
    MinimiserDerivative derivative(options);
    MinimiserDerivative::Summary summary;
    Status status = derivative.Linearise(bilevel.get(), &summary);
    ASSERT_TRUE(status.ok()) << status.ToString();
    Eigen::SparseMatrix<double> H;
    std::vector<char> fixed;
    ASSERT_TRUE(internal::LinearisedHessian(derivative, &H, &fixed).ok());
    Eigen::MatrixXd J;
    ASSERT_TRUE(derivative.Jacobian(&J).ok());
    Eigen::VectorXd J_T_u;
    ASSERT_TRUE(derivative.VectorJacobianProduct(u, &J_T_u).ok());
    if (num_threads == 1) {
      H_one = H;
      J_one = J;
      J_T_u_one = J_T_u;
      EXPECT_GT(H.nonZeros(), 0);
      continue;
    }
    // Exactly equal, not merely close.
    ASSERT_EQ(H.nonZeros(), H_one.nonZeros());
    EXPECT_EQ(Eigen::MatrixXd(H - H_one).cwiseAbs().maxCoeff(), 0.0) << num_threads;
    EXPECT_TRUE(J == J_one) << num_threads;
    EXPECT_TRUE(J_T_u == J_T_u_one) << num_threads;
  }
}

TEST(MinimiserDerivativeOptions, NumThreadsMustBePositive) {
  MinimiserDerivative::Options options;
  options.num_threads = 0;
  std::string error;
  EXPECT_FALSE(options.IsValid(&error));
  EXPECT_NE(error.find("num_threads"), std::string::npos) << error;
}

}  // namespace
}  // namespace ceres_wiberg
