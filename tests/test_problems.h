// Small Ceres problems shared by the tests: each owns its data, its
// ceres::Problem and the BilevelProblem over it.

#ifndef CERES_WIBERG_TESTS_TEST_PROBLEMS_H_
#define CERES_WIBERG_TESTS_TEST_PROBLEMS_H_

#include <cmath>
#include <memory>
#include <random>
#include <vector>

#include "ceres/ceres.h"
#include "ceres/rotation.h"
#include "ceres_wiberg/ceres_wiberg.h"
#include "gtest/gtest.h"

namespace ceres_wiberg {
namespace testing {

// r = (A0 + w_a A1) y - (b0 + w_b): linear in y, w in both A and b.
// kRows residuals, kCols inner variables.
constexpr int kRows = 6;
constexpr int kCols = 3;
struct LinearResidual {
  template <typename T>
  bool operator()(const T* y, const T* w_a, const T* w_b, T* r) const {
    for (int i = 0; i < kRows; ++i) {
      r[i] = -(T(b0[i]) + w_b[i]);
      for (int j = 0; j < kCols; ++j) {
        r[i] += (T(A0[i][j]) + w_a[0] * T(A1[i][j])) * y[j];
      }
    }
    return true;
  }
  double A0[kRows][kCols];
  double A1[kRows][kCols];
  double b0[kRows];
};

struct LinearProblem {
  explicit LinearProblem(unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<double> normal;
    auto* functor = new LinearResidual;
    for (int i = 0; i < kRows; ++i) {
      for (int j = 0; j < kCols; ++j) {
        functor->A0[i][j] = normal(rng);
        functor->A1[i][j] = normal(rng);
        A0(i, j) = functor->A0[i][j];
        A1(i, j) = functor->A1[i][j];
      }
      functor->b0[i] = b0[i] = normal(rng);
      w_b[i] = 0.1 * normal(rng);
    }
    problem.AddResidualBlock(
        new ceres::AutoDiffCostFunction<LinearResidual, kRows, kCols, 1, kRows>(functor),
        nullptr, y, w_a, w_b);
    Status status = BilevelProblem::Create(&problem, {w_a, w_b}, &bilevel);
    EXPECT_TRUE(status.ok()) << status.ToString();
  }
  Eigen::MatrixXd A() const { return A0 + w_a[0] * A1; }
  Eigen::VectorXd b() const { return b0 + Eigen::Map<const Eigen::VectorXd>(w_b, kRows); }
  // G = dg/dw for g = A^T (A y - b), columns [w_a, w_b].
  Eigen::MatrixXd G() const {
    const Eigen::Map<const Eigen::VectorXd> y_vec(y, kCols);
    Eigen::MatrixXd G(kCols, 1 + kRows);
    G.col(0) = A1.transpose() * (A() * y_vec - b()) + A().transpose() * A1 * y_vec;
    G.rightCols(kRows) = -A().transpose();
    return G;
  }

  Eigen::MatrixXd A0 = Eigen::MatrixXd(kRows, kCols);
  Eigen::MatrixXd A1 = Eigen::MatrixXd(kRows, kCols);
  Eigen::VectorXd b0 = Eigen::VectorXd(kRows);
  double y[kCols] = {0.0, 0.0, 0.0};
  double w_a[1] = {0.3};
  double w_b[kRows];
  ceres::Problem problem;
  std::unique_ptr<BilevelProblem> bilevel;
};

// r_i = y0 exp(-y1 w1 t_i) + w0 - d_i: a nonlinear fit with w inside.
struct ExponentialResidual {
  ExponentialResidual(double t, double d) : t(t), d(d) {}
  template <typename T>
  bool operator()(const T* y, const T* w, T* r) const {
    r[0] = y[0] * exp(-y[1] * w[1] * T(t)) + w[0] - T(d);
    return true;
  }
  double t, d;
};

enum class Loss { kNone, kHuber, kCauchy };

struct ExponentialProblem {
  // Noisy data (non-zero residuals at the optimum), with two gross outliers so
  // that robust losses are in their non-quadratic range.
  ExponentialProblem(Loss loss, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<double> noise(0.0, 0.15);
    for (int i = 0; i < 20; ++i) {
      const double t = 0.2 * i;
      double d = 2.0 * std::exp(-0.7 * t) + 0.1 + noise(rng);
      if (i == 5 || i == 13) d += 2.0;
      ceres::LossFunction* loss_function =
          loss == Loss::kHuber    ? static_cast<ceres::LossFunction*>(new ceres::HuberLoss(0.3))
          : loss == Loss::kCauchy ? new ceres::CauchyLoss(0.3)
                                  : nullptr;
      problem.AddResidualBlock(
          new ceres::AutoDiffCostFunction<ExponentialResidual, 1, 2, 2>(
              new ExponentialResidual(t, d)),
          loss_function, y, w);
    }
    Status status = BilevelProblem::Create(&problem, {w}, &bilevel);
    EXPECT_TRUE(status.ok()) << status.ToString();
  }
  Status Solve() {
    ceres::Solver::Summary summary;
    return bilevel->SolveInner(TightSolverOptions(), &summary);
  }
  double y[2] = {1.0, 1.0};
  double w[2] = {0.1, 1.0};
  ceres::Problem problem;
  std::unique_ptr<BilevelProblem> bilevel;
};

}  // namespace testing
}  // namespace ceres_wiberg

#endif  // CERES_WIBERG_TESTS_TEST_PROBLEMS_H_
