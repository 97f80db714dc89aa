// BilevelExample: forward and reverse derivatives of the outer loss through the
// whole inner-solve pipeline, against central finite differences of re-solves.

#include "ceres_wiberg/bilevel_example.h"

#include "ceres/ceres.h"
#include "ceres_wiberg/minimiser_derivative_checker.h"
#include "gtest/gtest.h"
#include "test_problems.h"

namespace ceres_wiberg {
namespace {

using testing::ExponentialProblem;
using testing::Loss;

// Outer residuals: y* - target, plus 0.1 w (a direct dependence on w).
struct OuterLoss {
  template <typename T>
  bool operator()(const T* y, const T* w, T* r) const {
    r[0] = y[0] - T(1.8);
    r[1] = y[1] - T(0.6);
    r[2] = T(0.1) * w[0];
    return true;
  }
};

std::unique_ptr<BilevelExample> MakeExample(ExponentialProblem* fit, double lambda) {
  BilevelExample::Options options;
  options.inner_solver_options = TightSolverOptions();
  options.derivative_options.lambda = lambda;
  // Cold starts: repeated calls at the same w solve the same problem from the
  // same start, so they compare to round-off.
  options.warm_start = false;
  std::unique_ptr<BilevelExample> example;
  Status status = BilevelExample::Create(
      fit->bilevel.get(), new ceres::AutoDiffCostFunction<OuterLoss, 3, 2, 2>(new OuterLoss),
      ceres::TAKE_OWNERSHIP, {fit->y, fit->w}, options, &example);
  EXPECT_TRUE(status.ok()) << status.ToString();
  return example;
}

TEST(BilevelExample, ForwardJacobianMatchesFiniteDifferencesOfThePipeline) {
  for (Loss loss : {Loss::kNone, Loss::kCauchy}) {
    ExponentialProblem fit(loss, 23);
    // lambda = 0: the exact derivative of the re-solved pipeline.
    std::unique_ptr<BilevelExample> example = MakeExample(&fit, 0.0);
    const Eigen::Vector2d w(0.1, 1.0);
    Eigen::VectorXd r;
    Eigen::MatrixXd J;
    ASSERT_TRUE(example->Evaluate(w, &r, &J).ok());
    // Central differences through full re-solves (tight solve + final Newton
    // step), h = 1e-5: O(h^2) truncation ~1e-10, re-solve noise ~1e-15 / h.
    const double h = 1e-5;
    Eigen::MatrixXd numeric(3, 2);
    for (int j = 0; j < 2; ++j) {
      Eigen::VectorXd plus, minus;
      Eigen::Vector2d w_plus = w, w_minus = w;
      w_plus[j] += h;
      w_minus[j] -= h;
      ASSERT_TRUE(example->Evaluate(w_plus, &plus, nullptr).ok());
      ASSERT_TRUE(example->Evaluate(w_minus, &minus, nullptr).ok());
      numeric.col(j) = (plus - minus) / (2 * h);
    }
    EXPECT_LT((J - numeric).cwiseAbs().maxCoeff() / numeric.cwiseAbs().maxCoeff(), 1e-6)
        << "analytic\n" << J << "\nnumeric\n" << numeric;
  }
}

TEST(BilevelExample, ReverseGradientEqualsForwardJacobianTransposeResidual) {
  ExponentialProblem fit(Loss::kHuber, 29);
  std::unique_ptr<BilevelExample> example = MakeExample(&fit, 0.1);
  const Eigen::Vector2d w(0.2, 0.9);
  Eigen::VectorXd r;
  Eigen::MatrixXd J;
  ASSERT_TRUE(example->Evaluate(w, &r, &J).ok());
  double loss = 0.0;
  Eigen::VectorXd gradient;
  ASSERT_TRUE(example->EvaluateLoss(w, &loss, &gradient).ok());
  EXPECT_NEAR(loss, 0.5 * r.squaredNorm(), 1e-14);
  // The two modes difference residual curvature along different directions.
  EXPECT_LT((gradient - J.transpose() * r).norm() / gradient.norm(), 1e-7);
}

TEST(BilevelExample, BadOuterLossBlocksAreErrors) {
  ExponentialProblem fit(Loss::kNone, 31);
  double stranger[2] = {0, 0};
  std::unique_ptr<BilevelExample> example;
  BilevelExample::Options options;
  Status status = BilevelExample::Create(
      fit.bilevel.get(), new ceres::AutoDiffCostFunction<OuterLoss, 3, 2, 2>(new OuterLoss),
      ceres::TAKE_OWNERSHIP, {fit.y, stranger}, options, &example);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("outer loss block 1 is neither"), std::string::npos)
      << status.message();
  status = BilevelExample::Create(
      fit.bilevel.get(), new ceres::AutoDiffCostFunction<OuterLoss, 3, 2, 2>(new OuterLoss),
      ceres::TAKE_OWNERSHIP, {fit.y}, options, &example);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
}

TEST(BilevelExample, NonFiniteWIsAnError) {
  ExponentialProblem fit(Loss::kNone, 37);
  std::unique_ptr<BilevelExample> example = MakeExample(&fit, 0.1);
  Eigen::VectorXd r;
  Status status = example->Evaluate(Eigen::Vector2d(std::nan(""), 1.0), &r, nullptr);
  EXPECT_EQ(status.code(), StatusCode::kNumericalFailure);
}

}  // namespace
}  // namespace ceres_wiberg
