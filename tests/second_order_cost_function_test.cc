// Tests of SecondOrderCostFunction, SecondOrderJet and
// AutoDiffSecondOrderCostFunction, and of their use by the exact Hessian:
//  - every SecondOrderJet operation against Ceres' nested jets
//    (ceres::Jet<ceres::Jet<double, 3>, 3>, Ceres' own code), to round-off;
//  - EvaluateCurvature of a small functor against its hand-derived second
//    derivatives, and Evaluate against ceres::AutoDiffCostFunction (bitwise);
//  - on a small problem with a quaternion-manifold block, a constant block,
//    a learnable loss and a learnable block inside the non-linear residual:
//    H, dy*/dw and (dy*/dw)^T u with the closed form against the differenced
//    path, and the closed form against MinimiserDerivativeChecker's
//    re-solves (lambda = 0) and damped steps (lambda = 0.1) at the checker's
//    default 1e-6; nothing is differenced;
//  - failures: EvaluateCurvature returning false, and a non-finite
//    curvature, give kNumericalFailure naming the residual block.

#include "ceres_wiberg/second_order_cost_function.h"

#include <cmath>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "ceres/ceres.h"
#include "ceres/jet.h"
#include "ceres/rotation.h"
#include "ceres_wiberg/bilevel_problem.h"
#include "ceres_wiberg/internal/exact_hessian.h"
#include "ceres_wiberg/internal/linearisation.h"
#include "ceres_wiberg/internal/problem_layout.h"
#include "ceres_wiberg/internal/symmetric_block_matrix.h"
#include "ceres_wiberg/learnable_loss.h"
#include "ceres_wiberg/minimiser_derivative.h"
#include "ceres_wiberg/minimiser_derivative_checker.h"
#include "gtest/gtest.h"

#include "curvature_test_util.h"

namespace ceres_wiberg {
namespace {

using testing::AssembledHessian;
using testing::ExpectDerivativesAgreeAndPassTheChecker;

using Jet3 = SecondOrderJet<3>;
using Inner = ceres::Jet<double, 3>;
using Nested = ceres::Jet<Inner, 3>;

// x seeded as the 3 variables, for both scalar types.
void Seed(const double* x, Jet3* s, Nested* n) {
  for (int i = 0; i < 3; ++i) {
    s[i] = Jet3(x[i], i);
    n[i].a = Inner(x[i], i);
    n[i].v.setZero();
    n[i].v[i] = Inner(1.0);
  }
}

// |value, gradient and Hessian of s - those of n|_inf, relative to n's.
double Difference(const Jet3& s, const Nested& n) {
  double error = std::abs(s.a - n.a.a);
  double scale = std::abs(n.a.a);
  for (int i = 0; i < 3; ++i) {
    error = std::max(error, std::abs(s.v[i] - n.a.v[i]));
    scale = std::max(scale, std::abs(n.a.v[i]));
    for (int j = 0; j < 3; ++j) {
      error = std::max(error, std::abs(s.hessian(i, j) - n.v[i].v[j]));
      scale = std::max(scale, std::abs(n.v[i].v[j]));
    }
  }
  return error / scale;
}

// Each operation on u = x0 x1 + x2 / x0 (and v = x1 - x2 x0 for the binary
// ones), compared with Ceres' nested jets of the same expression. Nested
// jets take no double constants, so none appears here.
TEST(SecondOrderJet, MatchesNestedCeresJets) {
  const double x[3] = {0.6, 0.35, 0.2};  // u = 0.54, v = 0.23
  Jet3 s[3];
  Nested n[3];
  Seed(x, s, n);
  const Jet3 su = s[0] * s[1] + s[2] / s[0];
  const Nested nu = n[0] * n[1] + n[2] / n[0];
  const Jet3 sv = s[1] - s[2] * s[0];
  const Nested nv = n[1] - n[2] * n[0];
  // Round-off of a few operations on values of order 1.
  constexpr double kTolerance = 1e-14;
  EXPECT_LT(Difference(sqrt(su), sqrt(nu)), kTolerance);
  EXPECT_LT(Difference(cbrt(su), cbrt(nu)), kTolerance);
  EXPECT_LT(Difference(exp(su), exp(nu)), kTolerance);
  EXPECT_LT(Difference(expm1(su), expm1(nu)), kTolerance);
  EXPECT_LT(Difference(log(su), log(nu)), kTolerance);
  EXPECT_LT(Difference(log1p(su), log1p(nu)), kTolerance);
  EXPECT_LT(Difference(sin(su), sin(nu)), kTolerance);
  EXPECT_LT(Difference(cos(su), cos(nu)), kTolerance);
  EXPECT_LT(Difference(tan(su), tan(nu)), kTolerance);
  EXPECT_LT(Difference(asin(su), asin(nu)), kTolerance);
  EXPECT_LT(Difference(acos(su), acos(nu)), kTolerance);
  EXPECT_LT(Difference(atan(su), atan(nu)), kTolerance);
  EXPECT_LT(Difference(sinh(su), sinh(nu)), kTolerance);
  EXPECT_LT(Difference(cosh(su), cosh(nu)), kTolerance);
  EXPECT_LT(Difference(tanh(su), tanh(nu)), kTolerance);
  EXPECT_LT(Difference(abs(-su), abs(-nu)), kTolerance);
  EXPECT_LT(Difference(-su, -nu), kTolerance);
  EXPECT_LT(Difference(su / sv, nu / nv), kTolerance);
  EXPECT_LT(Difference(su * sv, nu * nv), kTolerance);
  EXPECT_LT(Difference(atan2(su, sv), atan2(nu, nv)), kTolerance);
  EXPECT_LT(Difference(hypot(su, sv), hypot(nu, nv)), kTolerance);
  EXPECT_LT(Difference(pow(su, sv), pow(nu, nv)), kTolerance);
  // Mixed with double constants (nested jets take the constant as a jet).
  const Jet3 c(2.5);
  EXPECT_LT(Difference(su + 2.5, nu + Nested(Inner(2.5))), kTolerance);
  EXPECT_LT(Difference(2.5 - su, Nested(Inner(2.5)) - nu), kTolerance);
  EXPECT_LT(Difference(2.5 * su, Nested(Inner(2.5)) * nu), kTolerance);
  EXPECT_LT(Difference(su / 2.5, nu / Nested(Inner(2.5))), kTolerance);
  EXPECT_LT(Difference(2.5 / su, Nested(Inner(2.5)) / nu), kTolerance);
  EXPECT_LT(Difference(pow(su, 2.5), pow(nu, Nested(Inner(2.5)))), kTolerance);
  EXPECT_LT(Difference(pow(2.5, su), pow(Nested(Inner(2.5)), nu)), kTolerance);
  EXPECT_LT(Difference(c * su, Nested(Inner(2.5)) * nu), kTolerance);
  Jet3 compound = su;
  compound += sv;
  compound *= su;
  compound -= 1.5;
  compound /= sv;
  EXPECT_LT(Difference(compound, (nu + nv) * nu / nv - Nested(Inner(1.5)) / nv), kTolerance);
  EXPECT_TRUE(su < sv || su >= sv);
  EXPECT_EQ(su > 0.0, nu.a.a > 0.0);
  EXPECT_TRUE(isfinite(su));
  EXPECT_FALSE(isfinite(sqrt(Jet3(0.0, 0))));  // infinite slope at 0
}

// r0 = x0^2 y + sin(x1), r1 = exp(x0 x1) - 2 / y + 1: double constants
// mixed in as Ceres functors write them.
struct SmallFunctor {
  template <typename T>
  bool operator()(const T* x, const T* y, T* r) const {
    r[0] = x[0] * x[0] * y[0] + sin(x[1]);
    r[1] = exp(x[0] * x[1]) - 2.0 / y[0] + T(1.0);
    return true;
  }
};

TEST(AutoDiffSecondOrderCostFunction, CurvatureMatchesHandDerivedSecondDerivatives) {
  AutoDiffSecondOrderCostFunction<SmallFunctor, 2, 2, 1> cost(new SmallFunctor);
  ASSERT_EQ(cost.num_residuals(), 2);
  ASSERT_EQ(cost.parameter_block_sizes(), (std::vector<int32_t>{2, 1}));
  const double x[2] = {0.7, -1.3};
  const double y[1] = {1.6};
  const double* parameters[2] = {x, y};
  const double c[2] = {0.8, -1.7};
  Eigen::Matrix<double, 3, 3, Eigen::RowMajor> H;
  ASSERT_TRUE(cost.EvaluateCurvature(parameters, c, H.data()));
  // Hand-derived, coordinates (x0, x1, y):
  //   d2 r0 = [[2y, 0, 2x0], [0, -sin x1, 0], [2x0, 0, 0]],
  //   d2 r1 = e [[x1^2, 1 + x0 x1, 0], [1 + x0 x1, x0^2, 0], [0, 0, 0]]
  //           + [[0, 0, 0], [0, 0, 0], [0, 0, -4 / y^3]], e = exp(x0 x1).
  const double e = std::exp(x[0] * x[1]);
  Eigen::Matrix3d expected;
  expected << c[0] * 2.0 * y[0] + c[1] * e * x[1] * x[1], c[1] * e * (1.0 + x[0] * x[1]),
      c[0] * 2.0 * x[0],  //
      c[1] * e * (1.0 + x[0] * x[1]), -c[0] * std::sin(x[1]) + c[1] * e * x[0] * x[0], 0.0,
      c[0] * 2.0 * x[0], 0.0, -c[1] * 4.0 / (y[0] * y[0] * y[0]);
  EXPECT_LE((H - expected).cwiseAbs().maxCoeff(), 1e-14 * expected.cwiseAbs().maxCoeff())
      << H << "\nexpected\n" << expected;

  // Evaluate is Ceres' autodiff: bitwise what AutoDiffCostFunction gives.
  ceres::AutoDiffCostFunction<SmallFunctor, 2, 2, 1> reference(new SmallFunctor);
  double r[2], r_reference[2], J_x[4], J_y[2], J_x_reference[4], J_y_reference[2];
  double* jacobians[2] = {J_x, J_y};
  double* jacobians_reference[2] = {J_x_reference, J_y_reference};
  ASSERT_TRUE(cost.Evaluate(parameters, r, jacobians));
  ASSERT_TRUE(reference.Evaluate(parameters, r_reference, jacobians_reference));
  for (int k = 0; k < 2; ++k) EXPECT_EQ(r[k], r_reference[k]);
  for (int k = 0; k < 4; ++k) EXPECT_EQ(J_x[k], J_x_reference[k]);
  for (int k = 0; k < 2; ++k) EXPECT_EQ(J_y[k], J_y_reference[k]);
}

TEST(AutoDiffSecondOrderCostFunction, DynamicResidualsAndOwnership) {
  SmallFunctor functor;
  {
    AutoDiffSecondOrderCostFunction<SmallFunctor, ceres::DYNAMIC, 2, 1> cost(
        &functor, 2, ceres::DO_NOT_TAKE_OWNERSHIP);
    EXPECT_EQ(cost.num_residuals(), 2);
    EXPECT_EQ(&cost.functor(), &functor);
  }  // does not delete `functor` (ASan would report it)
}

// The problem: a rotation q (unit quaternion on ceres::QuaternionManifold)
// and translation t align source points s_k (constant blocks) with targets
// u_k, scaled by a learnable w:
//   r_k = w R(q) s_k + t - u_k,
// every term under a learnable pseudo-Huber loss of scale a (learnable);
// y = (q, t) has 3 + 3 tangent coordinates, w = (w, a).
struct Alignment {
  explicit Alignment(const Eigen::Vector3d& u) : u(u) {}
  template <typename T>
  bool operator()(const T* q, const T* t, const T* s, const T* w, T* r) const {
    T p[3];
    ceres::QuaternionRotatePoint(q, s, p);
    for (int i = 0; i < 3; ++i) r[i] = w[0] * p[i] + t[i] - u[i];
    return true;
  }
  Eigen::Vector3d u;
};

constexpr int kNumPoints = 6;

struct AlignmentProblem {
  double q[4] = {0.9, 0.2, -0.3, 0.25};
  double t[3] = {0.1, -0.2, 0.3};
  double s[kNumPoints][3];
  double w[1] = {1.2};
  double a[1] = {0.8};
  ceres::Problem problem;
  std::unique_ptr<BilevelProblem> bilevel;

  explicit AlignmentProblem(bool second_order) {
    const Eigen::Quaterniond rotation(Eigen::AngleAxisd(0.7, Eigen::Vector3d(1, 2, -1).normalized()));
    for (int k = 0; k < kNumPoints; ++k) {
      const Eigen::Vector3d source(std::cos(1.3 * k), std::sin(0.7 * k + 1.0), 0.4 * k - 1.0);
      for (int i = 0; i < 3; ++i) s[k][i] = source[i];
      // Targets off the model, one far off (the loss's tail), so that the
      // residuals and their curvature matter at y*.
      Eigen::Vector3d target = 1.1 * (rotation * source) + Eigen::Vector3d(0.3, -0.1, 0.2) +
                               0.05 * Eigen::Vector3d(std::sin(3.0 * k), std::cos(5.0 * k), 0.5);
      if (k == 2) target += Eigen::Vector3d(1.5, -2.0, 1.0);
      ceres::CostFunction* cost =
          second_order
              ? static_cast<ceres::CostFunction*>(
                    new AutoDiffSecondOrderCostFunction<Alignment, 3, 4, 3, 3, 1>(
                        new Alignment(target)))
              : new ceres::AutoDiffCostFunction<Alignment, 3, 4, 3, 3, 1>(new Alignment(target));
      problem.AddResidualBlock(new LearnableLossCostFunction(cost, LearnableLossType::PSEUDO_HUBER),
                               nullptr, {q, t, s[k], w, a});
      problem.SetParameterBlockConstant(s[k]);
    }
    problem.SetManifold(q, new ceres::QuaternionManifold);
    EXPECT_TRUE(BilevelProblem::Create(&problem, {w, a}, &bilevel).ok());
    ceres::Solver::Summary summary;
    EXPECT_TRUE(bilevel->SolveInner(TightSolverOptions(), &summary).ok());
  }
};

TEST(SecondOrderCostFunctionInExactHessian, MatchesDifferencesAndTheChecker) {
  AlignmentProblem differenced(/*second_order=*/false);
  AlignmentProblem closed_form(/*second_order=*/true);
  ASSERT_NE(closed_form.bilevel->layout().residuals[0].second_order, nullptr);
  ASSERT_NE(closed_form.bilevel->layout().residuals[0].learnable_loss, nullptr);
  ASSERT_EQ(differenced.bilevel->layout().residuals[0].second_order, nullptr);
  // Same data, same solver: the same y* (the curvature does not enter
  // Ceres' solve).
  for (int i = 0; i < 4; ++i) ASSERT_EQ(differenced.q[i], closed_form.q[i]);

  int64_t num_differenced = 0, num_closed_form = 0;
  const Eigen::MatrixXd H_differenced = AssembledHessian(*differenced.bilevel, &num_differenced);
  const Eigen::MatrixXd H_closed_form = AssembledHessian(*closed_form.bilevel, &num_closed_form);
  EXPECT_GT(num_differenced, 0);
  EXPECT_EQ(num_closed_form, 0);  // nothing differenced
  // The differences' accuracy (Richardson, relative step 1e-4: about 1e-8
  // of H's scale; the same bound as exact_hessian_test's nested jets).
  const double H_scale = H_closed_form.cwiseAbs().maxCoeff();
  EXPECT_LE((H_closed_form - H_differenced).cwiseAbs().maxCoeff(), 1e-7 * H_scale)
      << H_closed_form << "\ndifferenced\n" << H_differenced;

  ExpectDerivativesAgreeAndPassTheChecker(differenced.bilevel.get(), closed_form.bilevel.get(),
                                          /*tolerance=*/1e-7, /*min_jacobian_scale=*/1e-3);
}

// Evaluate succeeds; the curvature fails (returns false) or is not finite.
struct FailingCurvature {
  explicit FailingCurvature(bool return_false) : return_false(return_false) {}
  template <typename T>
  bool operator()(const T* x, T* r) const {
    if (return_false && !std::is_same<T, double>::value &&
        !std::is_same<T, ceres::Jet<double, 1>>::value) {
      return false;
    }
    // x^1.5 at x = 0: value and slope 0, second derivative infinite.
    r[0] = pow(x[0], 1.5);
    return true;
  }
  bool return_false;
};

TEST(SecondOrderCostFunctionInExactHessian, FailuresNameTheResidualBlock) {
  for (bool return_false : {true, false}) {
    SCOPED_TRACE(return_false ? "returns false" : "infinite curvature");
    double x[1] = {0.0};
    double y[1] = {1.0};
    ceres::Problem problem;
    // Residual block #0 is fine, #1 fails.
    double z[2] = {0.3, 0.4};
    problem.AddResidualBlock(
        new AutoDiffSecondOrderCostFunction<SmallFunctor, 2, 2, 1>(new SmallFunctor), nullptr,
        {z, y});
    problem.AddResidualBlock(
        new AutoDiffSecondOrderCostFunction<FailingCurvature, 1, 1>(
            new FailingCurvature(return_false)),
        nullptr, {x});
    std::unique_ptr<BilevelProblem> bilevel;
    ASSERT_TRUE(BilevelProblem::Create(&problem, {y}, &bilevel).ok());
    const internal::ProblemLayout& layout = bilevel->layout();
    internal::Linearisation linearisation(layout);
    ASSERT_TRUE(linearisation.Evaluate().ok());
    internal::ExactHessian exact_hessian(
        layout, linearisation, MinimiserDerivative::Options().second_derivative_relative_step);
    internal::SymmetricBlockMatrix hessian(layout);
    // c = rho' r = 0 at x = 0 would hide the curvature in the sum: the
    // failure is in the evaluation itself (false / Inf times 0 is NaN).
    const Status status = exact_hessian.Assemble(HessianModel::EXACT, nullptr, &hessian);
    ASSERT_FALSE(status.ok());
    EXPECT_EQ(status.code(), StatusCode::kNumericalFailure);
    EXPECT_NE(status.message().find("residual block #1"), std::string::npos) << status.message();
    EXPECT_NE(status.message().find(return_false ? "returned false" : "NaN or infinite"),
              std::string::npos)
        << status.message();
  }
}

}  // namespace
}  // namespace ceres_wiberg
