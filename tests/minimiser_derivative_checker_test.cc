// The checker must be able to fail: a cost function whose Jacobian with
// respect to the learnable block is wrong is caught, and located; one whose
// Jacobian with respect to the inner block is wrong gives a wrong H, which the
// damped-step reference (lambda > 0) cannot see and the H check (gradient
// differences) does, also where y* is not a strict minimum. The default
// steps (Ridders' extrapolation) follow a sharply bending y*(w) in units from
// 1e-6 to 1e6 to its closed form where a fixed step does not, step over
// failed re-solves, and their error estimate tells a wrong derivative from a
// poor reference.

#include "ceres_wiberg/minimiser_derivative_checker.h"

#include <cmath>
#include <cstdio>
#include <memory>

#include "ceres/ceres.h"
#include "gtest/gtest.h"
#include "test_problems.h"

namespace ceres_wiberg {
namespace {

// r = exp(y) - w d, with dr/dw scaled by `jacobian_error` (1 = correct).
class ScaledJacobianCost : public ceres::SizedCostFunction<1, 1, 1> {
 public:
  ScaledJacobianCost(double d, double jacobian_error) : d_(d), error_(jacobian_error) {}
  bool Evaluate(double const* const* x, double* r, double** jacobians) const override {
    r[0] = std::exp(x[0][0]) - x[1][0] * d_;
    if (jacobians != nullptr) {
      if (jacobians[0] != nullptr) jacobians[0][0] = std::exp(x[0][0]);
      if (jacobians[1] != nullptr) jacobians[1][0] = -d_ * error_;
    }
    return true;
  }

 private:
  double d_, error_;
};

MinimiserDerivativeChecker::Result CheckScaled(
    double jacobian_error, double lambda,
    const MinimiserDerivativeChecker::Options& checker = MinimiserDerivativeChecker::Options()) {
  double y[1] = {0.0}, w[1] = {1.5};
  ceres::Problem problem;
  for (double d : {1.0, 2.0, 3.5}) {
    problem.AddResidualBlock(new ScaledJacobianCost(d, jacobian_error), nullptr, y, w);
  }
  BilevelProblem::Options options;
  options.parameter_block_names[y] = "y";
  options.parameter_block_names[w] = "w";
  std::unique_ptr<BilevelProblem> bilevel;
  EXPECT_TRUE(BilevelProblem::Create(&problem, {w}, options, &bilevel).ok());
  ceres::Solver::Summary summary;
  EXPECT_TRUE(bilevel->SolveInner(TightSolverOptions(), &summary).ok());
  MinimiserDerivative::Options derivative_options;
  derivative_options.lambda = lambda;
  MinimiserDerivativeChecker::Result result;
  Status status =
      MinimiserDerivativeChecker::Check(checker, derivative_options, bilevel.get(), &result);
  EXPECT_TRUE(status.ok()) << status.ToString();
  return result;
}

TEST(MinimiserDerivativeChecker, PassesACorrectDerivative) {
  for (double lambda : {0.0, 0.1}) {
    const MinimiserDerivativeChecker::Result result = CheckScaled(1.0, lambda);
    EXPECT_LT(result.max_relative_error, 1e-6) << result.Report();
    EXPECT_TRUE(result.hessian_checked);
    EXPECT_TRUE(result.hessian_within_tolerance) << result.Report();
  }
}

// The option's reference is (4 D(h) - D(2h)) / 3 of the plain references.
TEST(MinimiserDerivativeChecker, RichardsonExtrapolationCombinesStepsHAnd2H) {
  for (double lambda : {0.0, 0.1}) {
    MinimiserDerivativeChecker::Options checker;
    checker.resolve_relative_step = 1e-3;  // large enough to leave an O(h^2) error
    checker.damped_step_relative_step = 1e-3;
    const MinimiserDerivativeChecker::Result at_h = CheckScaled(1.0, lambda, checker);
    checker.resolve_relative_step *= 2.0;
    checker.damped_step_relative_step *= 2.0;
    const MinimiserDerivativeChecker::Result at_2h = CheckScaled(1.0, lambda, checker);
    checker.resolve_relative_step /= 2.0;
    checker.damped_step_relative_step /= 2.0;
    checker.richardson_extrapolation = true;
    const MinimiserDerivativeChecker::Result extrapolated = CheckScaled(1.0, lambda, checker);
    const double expected = (4.0 * at_h.numeric(0, 0) - at_2h.numeric(0, 0)) / 3.0;
    EXPECT_NEAR(extrapolated.numeric(0, 0), expected, 1e-12 * std::abs(expected));
    // y*(w) = log(w mean(d)) bends: at lambda = 0 the extrapolation removes
    // the O(h^2) error (g is linear in w, so the damped step's is round-off).
    if (lambda == 0.0) {
      EXPECT_GT(at_h.max_relative_error, 1e-8) << at_h.Report();
      EXPECT_LT(extrapolated.max_relative_error, 1e-10) << extrapolated.Report();
    }
  }
}

TEST(MinimiserDerivativeChecker, CatchesAWrongJacobianAndSaysWhere) {
  for (double lambda : {0.0, 0.1}) {
    // A 10% error in dr/dw becomes a 10% error in G and in dy*/dw.
    const MinimiserDerivativeChecker::Result result = CheckScaled(1.1, lambda);
    EXPECT_GT(result.max_relative_error, 0.05) << result.Report();
    EXPECT_EQ(result.worst_location,
              "d(inner block 'y' (size 1) tangent coordinate 0)/d(learnable block 'w' (size 1) "
              "coordinate 0)");
    EXPECT_EQ(result.method, lambda == 0.0 ? "re-solve" : "damped Newton step");
  }
}

TEST(MinimiserDerivativeChecker, RestoresTheProblemAndRejectsBadOptions) {
  testing::ExponentialProblem fit(testing::Loss::kNone, 3);
  ASSERT_TRUE(fit.Solve().ok());
  const Eigen::VectorXd y = fit.bilevel->GetInnerValues();
  const Eigen::VectorXd w = fit.bilevel->GetLearnableParameters();
  MinimiserDerivativeChecker::Result result;
  MinimiserDerivative::Options derivative_options;
  derivative_options.lambda = 0.0;
  ASSERT_TRUE(MinimiserDerivativeChecker::Check(MinimiserDerivativeChecker::Options(),
                                                derivative_options, fit.bilevel.get(), &result)
                  .ok());
  EXPECT_EQ(fit.bilevel->GetInnerValues(), y);
  EXPECT_EQ(fit.bilevel->GetLearnableParameters(), w);

  MinimiserDerivativeChecker::Options bad;
  bad.learnable_coordinates = {7};
  Status status =
      MinimiserDerivativeChecker::Check(bad, derivative_options, fit.bilevel.get(), &result);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  bad = MinimiserDerivativeChecker::Options();
  bad.hessian_relative_step = 0.0;
  status = MinimiserDerivativeChecker::Check(bad, derivative_options, fit.bilevel.get(), &result);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  bad = MinimiserDerivativeChecker::Options();
  bad.resolve_relative_step = -1e-5;
  status = MinimiserDerivativeChecker::Check(bad, derivative_options, fit.bilevel.get(), &result);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  bad = MinimiserDerivativeChecker::Options();
  bad.ridders_step_shrink_factor = 1.0;
  status = MinimiserDerivativeChecker::Check(bad, derivative_options, fit.bilevel.get(), &result);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
}

// r = (w - c) y - 1: y*(w) = 1 / (w - c), dy*/dw = -1 / (w - c)^2 by hand. With
// w - c = 0.003 w, y* bends sharply: a central difference at h has the
// relative error h^2 / ((w - c)^2 - h^2), 1.1e-5 at the former default fixed
// step h = 1e-5 |w|. In units of w from 1e-6 to 1e6 (y from 3e8 to 3e-4),
// Ridders' steps agree with the closed form; the fixed step does not.
class PoleCost : public ceres::SizedCostFunction<1, 1, 1> {
 public:
  explicit PoleCost(double c) : c_(c) {}
  bool Evaluate(double const* const* x, double* r, double** jacobians) const override {
    r[0] = (x[1][0] - c_) * x[0][0] - 1.0;
    if (jacobians != nullptr) {
      if (jacobians[0] != nullptr) jacobians[0][0] = x[1][0] - c_;
      if (jacobians[1] != nullptr) jacobians[1][0] = x[0][0];
    }
    return true;
  }

 private:
  double c_;
};

MinimiserDerivativeChecker::Result CheckPole(double unit,
                                             const MinimiserDerivativeChecker::Options& checker) {
  double w[1] = {unit};
  double y[1] = {1.0 / (0.003 * unit) * 1.1};  // off y*: Ceres solves first
  ceres::Problem problem;
  problem.AddResidualBlock(new PoleCost(0.997 * unit), nullptr, y, w);
  std::unique_ptr<BilevelProblem> bilevel;
  EXPECT_TRUE(BilevelProblem::Create(&problem, {w}, &bilevel).ok());
  ceres::Solver::Summary summary;
  EXPECT_TRUE(bilevel->SolveInner(TightSolverOptions(), &summary).ok());
  MinimiserDerivative::Options derivative_options;
  derivative_options.lambda = 0.0;
  MinimiserDerivativeChecker::Result result;
  const Status status =
      MinimiserDerivativeChecker::Check(checker, derivative_options, bilevel.get(), &result);
  EXPECT_TRUE(status.ok()) << status.ToString();
  return result;
}

TEST(MinimiserDerivativeChecker, RiddersStepsFollowASharplyBendingMinimiserInAnyUnits) {
  for (double unit : {1e-6, 1.0, 1e6}) {
    SCOPED_TRACE("unit " + std::to_string(unit));
    const double exact = -1.0 / ((0.003 * unit) * (0.003 * unit));
    MinimiserDerivativeChecker::Options fixed;
    fixed.resolve_relative_step = 1e-5;
    const MinimiserDerivativeChecker::Result at_fixed = CheckPole(unit, fixed);
    ASSERT_EQ(at_fixed.numeric.size(), 1);
    EXPECT_GT(std::abs(at_fixed.numeric(0, 0) - exact), 1e-6 * std::abs(exact));
    EXPECT_GT(at_fixed.max_relative_error, 1e-6) << at_fixed.Report();
    EXPECT_TRUE(std::isnan(at_fixed.max_error_estimate));

    const MinimiserDerivativeChecker::Result adaptive =
        CheckPole(unit, MinimiserDerivativeChecker::Options());
    std::printf("unit %g: %s\n", unit, adaptive.Report().c_str());
    ASSERT_EQ(adaptive.numeric.size(), 1);
    // Both the reference and the library's derivative against the closed
    // form, to 1e-8 relative.
    EXPECT_NEAR(adaptive.numeric(0, 0), exact, 1e-8 * std::abs(exact));
    EXPECT_NEAR(adaptive.analytic(0, 0), exact, 1e-8 * std::abs(exact));
    EXPECT_LT(adaptive.max_relative_error, 1e-8) << adaptive.Report();
    // The error estimate is an honest bound here.
    ASSERT_EQ(adaptive.error_estimates.size(), 1u);
    EXPECT_LT(adaptive.error_estimates[0], 1e-8);
    EXPECT_GE(10.0 * adaptive.error_estimates[0] + 1e-13,
              std::abs(adaptive.numeric(0, 0) - exact) / std::abs(exact));
    EXPECT_GT(adaptive.steps[0], 0.0);
    EXPECT_LT(adaptive.steps[0], 0.003 * unit);  // inside the pole's distance
  }
}

// r = y - w^2 (dy*/dw = 2 w), refused (Evaluate returns false) for w below
// `lowest`: re-solves at the ladder's large steps fail, the ladder goes on
// with smaller ones; only if every step fails is the failure returned.
class RefusingCost : public ceres::SizedCostFunction<1, 1, 1> {
 public:
  explicit RefusingCost(double lowest) : lowest_(lowest) {}
  bool Evaluate(double const* const* x, double* r, double** jacobians) const override {
    if (x[1][0] < lowest_) return false;
    r[0] = x[0][0] - x[1][0] * x[1][0];
    if (jacobians != nullptr) {
      if (jacobians[0] != nullptr) jacobians[0][0] = 1.0;
      if (jacobians[1] != nullptr) jacobians[1][0] = -2.0 * x[1][0];
    }
    return true;
  }

 private:
  double lowest_;
};

TEST(MinimiserDerivativeChecker, RiddersLadderStepsOverFailedReSolves) {
  for (double lowest : {0.996, 0.999}) {
    double y[1] = {1.0}, w[1] = {1.0};
    ceres::Problem problem;
    problem.AddResidualBlock(new RefusingCost(lowest), nullptr, y, w);
    std::unique_ptr<BilevelProblem> bilevel;
    ASSERT_TRUE(BilevelProblem::Create(&problem, {w}, &bilevel).ok());
    MinimiserDerivative::Options derivative_options;
    derivative_options.lambda = 0.0;
    MinimiserDerivativeChecker::Options checker;
    // 4 steps, 1e-2 to 1.25e-3: w - h < 0.999 at each.
    if (lowest == 0.999) checker.max_num_ridders_steps = 4;
    MinimiserDerivativeChecker::Result result;
    const Status status =
        MinimiserDerivativeChecker::Check(checker, derivative_options, bilevel.get(), &result);
    if (lowest == 0.999) {
      EXPECT_FALSE(status.ok());
      EXPECT_NE(status.message().find("at every step of the difference ladder"),
                std::string::npos)
          << status.ToString();
      continue;
    }
    ASSERT_TRUE(status.ok()) << status.ToString();
    // Steps 1e-2 and 5e-3 fail (w - h < 0.996), 2.5e-3 and below do not.
    EXPECT_LE(result.steps[0], 2.5e-3) << result.Report();
    EXPECT_GE(result.num_differences[0], 4) << result.Report();
    EXPECT_NEAR(result.numeric(0, 0), 2.0, 1e-9) << result.Report();
    EXPECT_LT(result.max_relative_error, 1e-9) << result.Report();
  }
}

// A 10% error in dr/dw: the reference's error estimate is tiny, the
// disagreement is not, and the report says the disagreement is the
// derivative's.
TEST(MinimiserDerivativeChecker, RiddersErrorEstimateSaysAWrongDerivativeIsWrong) {
  for (double lambda : {0.0, 0.1}) {
    const MinimiserDerivativeChecker::Result result = CheckScaled(1.1, lambda);
    EXPECT_GT(result.max_relative_error, 0.05) << result.Report();
    ASSERT_EQ(result.error_estimates.size(), 1u);
    EXPECT_LT(result.max_error_estimate, 1e-8) << result.Report();
    EXPECT_NE(result.Report().find("the disagreement is not the reference's"), std::string::npos)
        << result.Report();
  }
}

// r = exp(y0 + y1) - w d: E depends on y0 + y1 only, so H is singular (no
// strict minimum, the paper's case where only lambda > 0 has a derivative).
// dr/dy0 is scaled by `inner_jacobian_error` (1 = correct): then the engine's
// H (rho' J^T J + the Jacobians' differences along y) is not the derivative
// of the g = J^T r that Ceres and the checker minimise and difference, while
// G = dg/dw stays exact (dr/dw is right, and dJ/dw = 0).
class FlatCost : public ceres::SizedCostFunction<1, 2, 1> {
 public:
  FlatCost(double d, double inner_jacobian_error) : d_(d), error_(inner_jacobian_error) {}
  bool Evaluate(double const* const* x, double* r, double** jacobians) const override {
    const double e = std::exp(x[0][0] + x[0][1]);
    r[0] = e - x[1][0] * d_;
    if (jacobians != nullptr) {
      if (jacobians[0] != nullptr) {
        jacobians[0][0] = e * error_;
        jacobians[0][1] = e;
      }
      if (jacobians[1] != nullptr) jacobians[1][0] = -d_;
    }
    return true;
  }

 private:
  double d_, error_;
};

MinimiserDerivativeChecker::Result CheckFlat(double inner_jacobian_error, double lambda) {
  double y[2] = {0.1, -0.2}, w[1] = {1.5};
  ceres::Problem problem;
  for (double d : {1.0, 2.0, 3.5}) {
    problem.AddResidualBlock(new FlatCost(d, inner_jacobian_error), nullptr, y, w);
  }
  BilevelProblem::Options options;
  options.parameter_block_names[y] = "y";
  std::unique_ptr<BilevelProblem> bilevel;
  EXPECT_TRUE(BilevelProblem::Create(&problem, {w}, options, &bilevel).ok());
  ceres::Solver::Summary summary;
  EXPECT_TRUE(bilevel->SolveInner(TightSolverOptions(), &summary).ok());
  MinimiserDerivative::Options derivative_options;
  derivative_options.lambda = lambda;
  MinimiserDerivativeChecker::Result result;
  const Status status = MinimiserDerivativeChecker::Check(
      MinimiserDerivativeChecker::Options(), derivative_options, bilevel.get(), &result);
  EXPECT_TRUE(status.ok()) << status.ToString();
  std::printf("inner Jacobian error %g, lambda %g: %s\n", inner_jacobian_error, lambda,
              result.Report().c_str());
  return result;
}

TEST(MinimiserDerivativeChecker, HessianCheckPassesWhereThereIsNoStrictMinimum) {
  // lambda = 0 has no derivative here ...
  double y[2] = {0.1, -0.2}, w[1] = {1.5};
  ceres::Problem problem;
  problem.AddResidualBlock(new FlatCost(1.0, 1.0), nullptr, y, w);
  std::unique_ptr<BilevelProblem> bilevel;
  ASSERT_TRUE(BilevelProblem::Create(&problem, {w}, &bilevel).ok());
  ceres::Solver::Summary summary;
  ASSERT_TRUE(bilevel->SolveInner(TightSolverOptions(), &summary).ok());
  MinimiserDerivative::Options at_zero;
  at_zero.lambda = 0.0;
  MinimiserDerivative derivative(at_zero);
  EXPECT_EQ(derivative.Linearise(bilevel.get(), nullptr).code(), StatusCode::kSingularHessian);
  // ... the default lambda has, and both its references agree with it.
  const MinimiserDerivativeChecker::Result result = CheckFlat(1.0, 0.1);
  EXPECT_LT(result.max_relative_error, 1e-6) << result.Report();
  ASSERT_TRUE(result.hessian_checked);
  EXPECT_TRUE(result.hessian_within_tolerance) << result.Report();
  ::testing::Test::RecordProperty("flat_correct_hessian_error",
                                  ::testing::PrintToString(result.hessian_max_relative_error));
}

TEST(MinimiserDerivativeChecker, HessianCheckCatchesAWrongHAtLambdaPositive) {
  const MinimiserDerivativeChecker::Result result = CheckFlat(1.1, 0.1);
  // The damped-step reference reuses the wrong factorisation: it agrees.
  EXPECT_LT(result.max_relative_error, 1e-6) << result.Report();
  // The H check does not.
  ASSERT_TRUE(result.hessian_checked);
  EXPECT_FALSE(result.hessian_within_tolerance) << result.Report();
  EXPECT_GT(result.hessian_max_relative_error, 1e-2) << result.Report();
  EXPECT_NE(result.hessian_worst_location.find("inner block 'y'"), std::string::npos)
      << result.hessian_worst_location;
  EXPECT_NE(result.Report().find("FAILED"), std::string::npos) << result.Report();
  ::testing::Test::RecordProperty("flat_wrong_hessian_error",
                                  ::testing::PrintToString(result.hessian_max_relative_error));
}

// GAUSS_NEWTON's H is a model, not dg/dy: not checked, and said so.
TEST(MinimiserDerivativeChecker, GaussNewtonHessianIsNotChecked) {
  testing::ExponentialProblem fit(testing::Loss::kNone, 3);
  ASSERT_TRUE(fit.Solve().ok());
  MinimiserDerivative::Options options;
  options.hessian_model = HessianModel::GAUSS_NEWTON;
  MinimiserDerivativeChecker::Result result;
  ASSERT_TRUE(MinimiserDerivativeChecker::Check(MinimiserDerivativeChecker::Options(), options,
                                                fit.bilevel.get(), &result)
                  .ok());
  EXPECT_FALSE(result.hessian_checked);
  EXPECT_NE(result.Report().find("H not checked"), std::string::npos);
}

}  // namespace
}  // namespace ceres_wiberg
