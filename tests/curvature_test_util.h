// Shared by the tests of cost functions that supply their own curvature
// (SecondOrderCostFunction, LinearCostFunction): the exact Hessian as the
// engine assembles it, and the comparison of two problems' derivatives.

#ifndef CERES_WIBERG_TESTS_CURVATURE_TEST_UTIL_H_
#define CERES_WIBERG_TESTS_CURVATURE_TEST_UTIL_H_

#include <cstdint>
#include <string>

#include "Eigen/Core"
#include "ceres_wiberg/ceres_wiberg.h"
#include "ceres_wiberg/internal/exact_hessian.h"
#include "ceres_wiberg/internal/linearisation.h"
#include "ceres_wiberg/internal/symmetric_block_matrix.h"
#include "gtest/gtest.h"

namespace ceres_wiberg {
namespace testing {

// The exact H at the problem's current values (default options), and how
// many curvature evaluations (closed form or differenced) it took.
inline Eigen::MatrixXd AssembledHessian(const BilevelProblem& bilevel,
                                        int64_t* num_curvature_evaluations) {
  const internal::ProblemLayout& layout = bilevel.layout();
  internal::Linearisation linearisation(layout);
  EXPECT_TRUE(linearisation.Evaluate().ok());
  internal::ExactHessian exact_hessian(
      layout, linearisation, MinimiserDerivative::Options().second_derivative_relative_step);
  internal::SymmetricBlockMatrix hessian(layout);
  const Status status = exact_hessian.Assemble(HessianModel::EXACT, nullptr, &hessian);
  EXPECT_TRUE(status.ok()) << status.ToString();
  *num_curvature_evaluations = exact_hessian.num_curvature_evaluations();
  return hessian.ToDense();
}

// At lambda 0 and 0.1: dy*/dw and u^T dy*/dw (u spread over [-1, 1.5]) of
// `tested` against `reference`'s (the same problem with the curvature
// differenced) within `tolerance` of their largest entry (which must exceed
// `min_jacobian_scale`), and `tested` against MinimiserDerivativeChecker's
// defaults (re-solves or damped steps, and the H check: 1e-6).
inline void ExpectDerivativesAgreeAndPassTheChecker(BilevelProblem* reference,
                                                    BilevelProblem* tested, double tolerance,
                                                    double min_jacobian_scale) {
  for (double lambda : {0.0, 0.1}) {
    SCOPED_TRACE("lambda = " + std::to_string(lambda));
    MinimiserDerivative::Options options;
    options.lambda = lambda;
    Eigen::MatrixXd J[2];
    Eigen::VectorXd J_T_u[2];
    BilevelProblem* problems[2] = {reference, tested};
    for (int p = 0; p < 2; ++p) {
      MinimiserDerivative derivative(options);
      MinimiserDerivative::Summary summary;
      Status status = derivative.Linearise(problems[p], &summary);
      ASSERT_TRUE(status.ok()) << status.ToString();
      ASSERT_TRUE(derivative.Jacobian(&J[p]).ok());
      const Eigen::VectorXd u = Eigen::VectorXd::LinSpaced(J[p].rows(), -1.0, 1.5);
      ASSERT_TRUE(derivative.VectorJacobianProduct(u, &J_T_u[p]).ok());
    }
    const double J_scale = J[1].cwiseAbs().maxCoeff();
    ASSERT_GT(J_scale, min_jacobian_scale);
    EXPECT_LE((J[1] - J[0]).cwiseAbs().maxCoeff(), tolerance * J_scale)
        << J[1] << "\nreference\n" << J[0];
    EXPECT_LE((J_T_u[1] - J_T_u[0]).cwiseAbs().maxCoeff(),
              tolerance * J_T_u[1].cwiseAbs().maxCoeff());
    MinimiserDerivativeChecker::Result result;
    Status status = MinimiserDerivativeChecker::Check(MinimiserDerivativeChecker::Options(),
                                                      options, tested, &result);
    ASSERT_TRUE(status.ok()) << status.ToString();
    EXPECT_TRUE(result.hessian_checked);
    EXPECT_TRUE(result.hessian_within_tolerance) << result.Report();
    EXPECT_LT(result.max_relative_error, 1e-6) << result.Report();
  }
}

}  // namespace testing
}  // namespace ceres_wiberg

#endif  // CERES_WIBERG_TESTS_CURVATURE_TEST_UTIL_H_
