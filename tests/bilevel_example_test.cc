// BilevelExample: forward and reverse derivatives of the outer loss through the
// whole inner-solve pipeline, against central finite differences of re-solves.

#include "ceres_wiberg/bilevel_example.h"

#include <cstdio>
#include <random>
#include <vector>

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

// Cold starts: repeated calls at the same w solve the same problem from the
// same start, so they compare to round-off.
BilevelExample::Options ColdTightOptions(double lambda) {
  BilevelExample::Options options;
  options.inner_solver_options = TightSolverOptions();
  options.derivative_options.lambda = lambda;
  options.warm_start = false;
  return options;
}

std::unique_ptr<BilevelExample> MakeExample(ExponentialProblem* fit, double lambda) {
  const BilevelExample::Options options = ColdTightOptions(lambda);
  std::unique_ptr<BilevelExample> example;
  Status status = BilevelExample::Create(
      fit->bilevel.get(), new ceres::AutoDiffCostFunction<OuterLoss, 3, 2, 2>(new OuterLoss),
      ceres::TAKE_OWNERSHIP, {fit->y, fit->w}, options, &example);
  EXPECT_TRUE(status.ok()) << status.ToString();
  return example;
}

// Central differences of the example's residuals through full re-solves
// (tight solve + final Newton step), h = 1e-5: O(h^2) truncation ~1e-10,
// re-solve noise ~1e-15 / h.
bool PipelineDifferences(BilevelExample* example, const Eigen::VectorXd& w,
                         Eigen::MatrixXd* numeric) {
  const double h = 1e-5;
  for (int j = 0; j < w.size(); ++j) {
    Eigen::VectorXd plus, minus;
    Eigen::VectorXd w_plus = w, w_minus = w;
    w_plus[j] += h;
    w_minus[j] -= h;
    if (!example->Evaluate(w_plus, &plus, nullptr).ok() ||
        !example->Evaluate(w_minus, &minus, nullptr).ok()) {
      return false;
    }
    if (j == 0) numeric->resize(plus.size(), w.size());
    numeric->col(j) = (plus - minus) / (2 * h);
  }
  return true;
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
    Eigen::MatrixXd numeric;
    ASSERT_TRUE(PipelineDifferences(example.get(), w, &numeric));
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

// The outer loss of OuterLoss split into three terms: y0 - 1.8, y1 - 0.6
// (each over y) and 0.1 w0 (over w).
struct OneResidual {
  OneResidual(int index, double scale, double offset)
      : index(index), scale(scale), offset(offset) {}
  template <typename T>
  bool operator()(const T* x, T* r) const {
    r[0] = T(scale) * x[index] - T(offset);
    return true;
  }
  int index;
  double scale, offset;
};

ceres::CostFunction* Term(int index, double scale, double offset) {
  return new ceres::AutoDiffCostFunction<OneResidual, 1, 2>(
      new OneResidual(index, scale, offset));
}

std::unique_ptr<BilevelExample> MakeTermsExample(ExponentialProblem* fit, double lambda) {
  const BilevelExample::Options options = ColdTightOptions(lambda);
  std::unique_ptr<BilevelExample> example;
  Status status = BilevelExample::Create(
      fit->bilevel.get(),
      {{Term(0, 1.0, 1.8), {fit->y}}, {Term(1, 1.0, 0.6), {fit->y}}, {Term(0, 0.1, 0.0), {fit->w}}},
      ceres::TAKE_OWNERSHIP, options, &example);
  EXPECT_TRUE(status.ok()) << status.ToString();
  return example;
}

// Terms and one cost function are the same loss: the same r, dr/dw and dL/dw
// to round-off; and the terms' dL/dw matches central differences of the
// re-solved loss (h = 1e-5, relative tolerance 1e-6 as above).
TEST(BilevelExample, OuterLossTermsMatchOneCostFunctionAndFiniteDifferences) {
  for (Loss loss : {Loss::kNone, Loss::kCauchy}) {
    ExponentialProblem fit(loss, 41);
    std::unique_ptr<BilevelExample> single = MakeExample(&fit, 0.1);
    std::unique_ptr<BilevelExample> terms = MakeTermsExample(&fit, 0.1);
    EXPECT_EQ(terms->num_residuals(), 3);
    const Eigen::Vector2d w(0.15, 0.95);
    Eigen::VectorXd r_single, r_terms;
    Eigen::MatrixXd J_single, J_terms;
    ASSERT_TRUE(single->Evaluate(w, &r_single, &J_single).ok());
    ASSERT_TRUE(terms->Evaluate(w, &r_terms, &J_terms).ok());
    EXPECT_LT((r_single - r_terms).cwiseAbs().maxCoeff(), 1e-12);
    EXPECT_LT((J_single - J_terms).cwiseAbs().maxCoeff(), 1e-10 * J_single.norm());
    double loss_single = 0.0, loss_terms = 0.0;
    Eigen::VectorXd g_single, g_terms;
    ASSERT_TRUE(single->EvaluateLoss(w, &loss_single, &g_single).ok());
    ASSERT_TRUE(terms->EvaluateLoss(w, &loss_terms, &g_terms).ok());
    EXPECT_NEAR(loss_single, loss_terms, 1e-14);
    EXPECT_LT((g_single - g_terms).norm(), 1e-10 * g_single.norm());

    std::unique_ptr<BilevelExample> exact = MakeTermsExample(&fit, 0.0);
    Eigen::VectorXd gradient;
    double value = 0.0;
    ASSERT_TRUE(exact->EvaluateLoss(w, &value, &gradient).ok());
    const double h = 1e-5;
    Eigen::Vector2d numeric;
    for (int j = 0; j < 2; ++j) {
      Eigen::Vector2d w_plus = w, w_minus = w;
      w_plus[j] += h;
      w_minus[j] -= h;
      double plus = 0.0, minus = 0.0;
      ASSERT_TRUE(exact->EvaluateLoss(w_plus, &plus, nullptr).ok());
      ASSERT_TRUE(exact->EvaluateLoss(w_minus, &minus, nullptr).ok());
      numeric[j] = (plus - minus) / (2 * h);
    }
    EXPECT_LT((gradient - numeric).cwiseAbs().maxCoeff() / numeric.cwiseAbs().maxCoeff(), 1e-6)
        << "analytic " << gradient.transpose() << ", numeric " << numeric.transpose();
  }
}

TEST(BilevelExample, BadOuterLossTermsAreErrors) {
  ExponentialProblem fit(Loss::kNone, 43);
  double stranger[2] = {0, 0};
  BilevelExample::Options options;
  std::unique_ptr<BilevelExample> example;
  Status status = BilevelExample::Create(
      fit.bilevel.get(), {{Term(0, 1.0, 0.0), {fit.y}}, {Term(1, 1.0, 0.0), {stranger}}},
      ceres::TAKE_OWNERSHIP, options, &example);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("outer loss term 1, block 0 is neither"), std::string::npos)
      << status.message();
  status = BilevelExample::Create(fit.bilevel.get(), {{Term(0, 1.0, 0.0), {fit.y, fit.w}}},
                                  ceres::TAKE_OWNERSHIP, options, &example);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("outer loss term 0 has 1 parameter blocks but 2"),
            std::string::npos)
      << status.message();
  status = BilevelExample::Create(fit.bilevel.get(), std::vector<BilevelExample::OuterLossTerm>{},
                                  ceres::TAKE_OWNERSHIP, options, &example);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  // One cost function shared by two terms is deleted once (checked by the
  // sanitizer build).
  ceres::CostFunction* shared = Term(0, 1.0, 1.8);
  status = BilevelExample::Create(fit.bilevel.get(), {{shared, {fit.y}}, {shared, {fit.w}}},
                                  ceres::TAKE_OWNERSHIP, options, &example);
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(example->num_residuals(), 2);
}

// A per-variable outer loss on a 20,000-variable chain (the sparse energy of
// minimiser_derivative_test): one term per variable, so no 20,000 x 20,000
// Jacobian is formed (3.2 GB dense). The reverse gradient equals the forward
// J_r_w^T r (both modes of the same derivative; relative 1e-7).
struct Chain {
  struct Data {
    explicit Data(double d) : d(d) {}
    template <typename T>
    bool operator()(const T* y, const T* w, T* r) const {
      r[0] = w[0] * (y[0] - T(d));
      return true;
    }
    double d;
  };
  struct Smooth {
    template <typename T>
    bool operator()(const T* a, const T* b, const T* w, T* r) const {
      r[0] = w[0] * (b[0] - a[0]);
      return true;
    }
  };
};

TEST(BilevelExample, PerVariableOuterLossOnTwentyThousandVariables) {
  constexpr int kChain = 20000;
  std::mt19937 rng(47);
  std::normal_distribution<double> noise(0.0, 0.3);
  std::vector<double> y(kChain, 0.0), truth(kChain);
  double w_data[1] = {1.0};
  double w_smooth[1] = {2.0};
  ceres::Problem problem;
  for (int i = 0; i < kChain; ++i) {
    truth[i] = (i / 500) % 2 == 0 ? 1.0 : -1.0;
    problem.AddResidualBlock(new ceres::AutoDiffCostFunction<Chain::Data, 1, 1, 1>(
                                 new Chain::Data(truth[i] + noise(rng))),
                             nullptr, &y[i], w_data);
    if (i > 0) {
      problem.AddResidualBlock(
          new ceres::AutoDiffCostFunction<Chain::Smooth, 1, 1, 1, 1>(new Chain::Smooth),
          new ceres::CauchyLoss(0.5), &y[i - 1], &y[i], w_smooth);
    }
  }
  std::unique_ptr<BilevelProblem> bilevel;
  ASSERT_TRUE(BilevelProblem::Create(&problem, {w_data, w_smooth}, &bilevel).ok());
  std::vector<BilevelExample::OuterLossTerm> terms;
  for (int i = 0; i < kChain; ++i) {
    // r_i = y_i - truth_i: a scalar block, so OneResidual's x[0].
    terms.push_back({new ceres::AutoDiffCostFunction<OneResidual, 1, 1>(
                         new OneResidual(0, 1.0, truth[i])),
                     {&y[i]}});
  }
  BilevelExample::Options options = ColdTightOptions(0.1);
  options.inner_solver_options.linear_solver_type = ceres::SPARSE_NORMAL_CHOLESKY;
  std::unique_ptr<BilevelExample> example;
  ASSERT_TRUE(BilevelExample::Create(bilevel.get(), std::move(terms), ceres::TAKE_OWNERSHIP,
                                     options, &example)
                  .ok());
  EXPECT_EQ(example->num_residuals(), kChain);
  const Eigen::Vector2d w(1.0, 2.0);
  double loss = 0.0;
  Eigen::VectorXd gradient;
  ASSERT_TRUE(example->EvaluateLoss(w, &loss, &gradient).ok());
  Eigen::VectorXd r;
  Eigen::MatrixXd J;
  ASSERT_TRUE(example->Evaluate(w, &r, &J).ok());
  EXPECT_NEAR(loss, 0.5 * r.squaredNorm(), 1e-10 * loss);
  EXPECT_GT(gradient.norm(), 1e-3);
  EXPECT_LT((gradient - J.transpose() * r).norm() / gradient.norm(), 1e-7);
}

// With an active bound (y0 <= 1.7) the pipeline's y0 stays at the bound, so
// the outer loss's forward Jacobian has no y0 part, and reverse mode agrees
// with forward mode: both see the free system.
TEST(BilevelExample, ActiveBoundPipelineForwardAndReverseAgreeWithDifferences) {
  ExponentialProblem fit(Loss::kNone, 23);
  fit.problem.SetParameterUpperBound(fit.y, 0, 1.7);
  ASSERT_TRUE(BilevelProblem::Create(&fit.problem, {fit.w}, &fit.bilevel).ok());
  std::unique_ptr<BilevelExample> example = MakeExample(&fit, 0.0);
  const Eigen::Vector2d w(0.1, 1.0);
  Eigen::VectorXd r;
  Eigen::MatrixXd J;
  ASSERT_TRUE(example->Evaluate(w, &r, &J).ok());
  EXPECT_EQ(fit.y[0], 1.7);
  EXPECT_EQ(example->last_derivative_summary().num_active_bounds, 1)
      << example->last_derivative_summary().FullReport();
  double loss;
  Eigen::VectorXd gradient;
  ASSERT_TRUE(example->EvaluateLoss(w, &loss, &gradient).ok());
  EXPECT_LT((gradient - J.transpose() * r).norm(), 1e-10 * gradient.norm());
  Eigen::MatrixXd numeric;
  ASSERT_TRUE(PipelineDifferences(example.get(), w, &numeric));
  EXPECT_EQ(numeric.row(0).norm(), 0.0);
  const double error = (J - numeric).cwiseAbs().maxCoeff() / numeric.cwiseAbs().maxCoeff();
  std::printf("bounded pipeline: forward vs differences %.3g\n", error);
  EXPECT_LT(error, 1e-6) << "analytic\n" << J << "\nnumeric\n" << numeric;
}

}  // namespace
}  // namespace ceres_wiberg
