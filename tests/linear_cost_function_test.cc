// Tests of LinearCostFunction: a declared-affine cost function is evaluated
// as the one it wraps, and the exact Hessian H, dy*/dw and its adjoint of a
// problem of such blocks (under learnable losses, a Ceres loss and none;
// inner coordinates whose units span 1e-3 to 1e3) are those of the
// differenced path on the same blocks undeclared, with no curvature
// evaluation at all, and pass the checker (re-solves, damped steps and its
// central differences of the inner gradient) at its default tolerances.

#include "ceres_wiberg/linear_cost_function.h"

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "Eigen/Core"
#include "ceres/ceres.h"
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

// Two residuals affine in y0 (3), y1 (1), w (2) and a constant block z (1):
//   r_k = sum_p c_kp x_p / s_p + z - u_k,
// x = (y0, y1, w), s the coordinates' units (y0's span 1e-3 to 1e3).
struct Affine {
  static constexpr double kUnits[6] = {1e-3, 1.0, 1e3, 1.0, 1.0, 1.0};
  explicit Affine(int index) {
    for (int k = 0; k < 2; ++k) {
      for (int p = 0; p < 6; ++p) {
        c[k][p] = std::sin(1.7 * index + 2.3 * k + (0.9 + 0.53 * index + 1.1 * k) * p + 0.4);
      }
      u[k] = std::cos(0.8 * index + 1.1 * k);
    }
    // Blocks 1 and 2 far off (the losses' tails), so rho'' matters at y*.
    if (index == 1 || index == 2) u[0] += 4.0;
  }
  template <typename T>
  bool operator()(const T* y0, const T* y1, const T* w, const T* z, T* r) const {
    const T* x[6] = {&y0[0], &y0[1], &y0[2], &y1[0], &w[0], &w[1]};
    for (int k = 0; k < 2; ++k) {
      r[k] = z[0] - T(u[k]);
      for (int p = 0; p < 6; ++p) r[k] += T(c[k][p] / kUnits[p]) * *x[p];
    }
    return true;
  }
  double c[2][6];
  double u[2];
};

constexpr int kNumBlocks = 10;

struct AffineProblem {
  double y0[3] = {2e-3, 1.5, 3e3};
  double y1[1] = {-0.4};
  double w[2] = {0.3, -0.7};
  double a[1] = {1.5};  // the learnable losses' scale
  double z[1] = {0.05};
  ceres::Problem problem;
  std::unique_ptr<BilevelProblem> bilevel;

  explicit AffineProblem(bool declared) {
    for (int i = 0; i < kNumBlocks; ++i) {
      ceres::CostFunction* cost = new ceres::AutoDiffCostFunction<Affine, 2, 3, 1, 2, 1>(
          new Affine(i));
      if (declared) cost = new LinearCostFunction(cost);
      // Learnable Cauchy and Welsch losses, Ceres' Cauchy loss, and none.
      switch (i % 4) {
        case 0:
          problem.AddResidualBlock(new LearnableLossCostFunction(cost, LearnableLossType::CAUCHY),
                                   nullptr, {y0, y1, w, z, a});
          break;
        case 1:
          problem.AddResidualBlock(
              new LearnableLossCostFunction(cost, LearnableLossType::NORMALISED_WELSCH),
              nullptr, {y0, y1, w, z, a});
          break;
        case 2:
          problem.AddResidualBlock(cost, new ceres::CauchyLoss(2.0), {y0, y1, w, z});
          break;
        default:
          problem.AddResidualBlock(cost, nullptr, {y0, y1, w, z});
      }
    }
    problem.SetParameterBlockConstant(z);
    EXPECT_TRUE(BilevelProblem::Create(&problem, {w, a}, &bilevel).ok());
    ceres::Solver::Summary summary;
    EXPECT_TRUE(bilevel->SolveInner(TightSolverOptions(), &summary).ok());
  }
};

TEST(LinearCostFunction, EvaluatesAsTheWrappedOneWithZeroCurvature) {
  ceres::AutoDiffCostFunction<Affine, 2, 3, 1, 2, 1> plain(new Affine(2));
  LinearCostFunction declared(&plain, ceres::DO_NOT_TAKE_OWNERSHIP);
  EXPECT_EQ(declared.num_residuals(), 2);
  EXPECT_EQ(declared.parameter_block_sizes(), plain.parameter_block_sizes());
  const double y0[3] = {1e-3, 2.0, -1e3}, y1[1] = {0.5}, w[2] = {-0.2, 0.1}, z[1] = {0.3};
  const double* parameters[4] = {y0, y1, w, z};
  double r[2][2], J[2][4][6];
  double* jacobians[2][4];
  for (int v = 0; v < 2; ++v) {
    for (int b = 0; b < 4; ++b) jacobians[v][b] = J[v][b];
  }
  ASSERT_TRUE(plain.Evaluate(parameters, r[0], jacobians[0]));
  ASSERT_TRUE(declared.Evaluate(parameters, r[1], jacobians[1]));
  for (int k = 0; k < 2; ++k) EXPECT_EQ(r[0][k], r[1][k]);
  const int sizes[4] = {3, 1, 2, 1};
  for (int b = 0; b < 4; ++b) {
    for (int e = 0; e < 2 * sizes[b]; ++e) EXPECT_EQ(J[0][b][e], J[1][b][e]);
  }
  std::vector<double> hessian(7 * 7, 1.0);
  const double weights[2] = {0.7, -1.3};
  EXPECT_TRUE(declared.EvaluateCurvature(parameters, weights, hessian.data()));
  for (double entry : hessian) EXPECT_EQ(entry, 0.0);
}

TEST(LinearCostFunctionInExactHessian, MatchesDifferencesAndTheChecker) {
  AffineProblem differenced(/*declared=*/false);
  AffineProblem declared(/*declared=*/true);
  for (const internal::ResidualBlockInfo& residual : declared.bilevel->layout().residuals) {
    ASSERT_TRUE(residual.zero_curvature);
  }
  for (const internal::ResidualBlockInfo& residual : differenced.bilevel->layout().residuals) {
    ASSERT_FALSE(residual.zero_curvature);
  }
  // Same data, same solver: the same y* (Ceres' solve does not see the
  // declaration).
  for (int i = 0; i < 3; ++i) ASSERT_EQ(differenced.y0[i], declared.y0[i]);

  int64_t num_differenced = 0, num_declared = 0;
  const Eigen::MatrixXd H_differenced = AssembledHessian(*differenced.bilevel, &num_differenced);
  const Eigen::MatrixXd H_declared = AssembledHessian(*declared.bilevel, &num_declared);
  EXPECT_GT(num_differenced, 0);  // the probes
  EXPECT_EQ(num_declared, 0);     // nothing evaluated
  // The differenced path finds the zero curvature too (exactly zero probe
  // differences): the same H up to round-off.
  const double H_scale = H_declared.cwiseAbs().maxCoeff();
  EXPECT_LE((H_declared - H_differenced).cwiseAbs().maxCoeff(), 1e-12 * H_scale)
      << H_declared << "\ndifferenced\n" << H_differenced;

  ExpectDerivativesAgreeAndPassTheChecker(differenced.bilevel.get(), declared.bilevel.get(),
                                          /*tolerance=*/1e-12, /*min_jacobian_scale=*/1e-6);
}

}  // namespace
}  // namespace ceres_wiberg
