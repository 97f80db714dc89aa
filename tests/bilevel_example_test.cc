// BilevelExample: forward and reverse derivatives of the outer loss through the
// whole inner-solve pipeline, against central finite differences of re-solves.

#include "ceres_wiberg/bilevel_example.h"

#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "ceres/ceres.h"
#include "ceres_wiberg/learnable_loss.h"
#include "ceres_wiberg/minimiser_derivative_checker.h"
#include "ceres_wiberg/newton_polish.h"
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

// ---------------------------------------------------------------------------
// The NEWTON inner solver against the CERES one, and structure reuse.

// A badly scaled fit: y(x) = b0 (1 - exp(-b1 x^w1)) + w0 with b0 ~ 2.4e2 and
// b1 ~ 5e-4 (H's unscaled eigenvalues ~1e10 apart), w = (offset, power).
struct ScaledExponentialResidual {
  ScaledExponentialResidual(double x, double m) : x(x), m(m) {}
  template <typename T>
  bool operator()(const T* b, const T* w, T* r) const {
    r[0] = b[0] * (T(1.0) - exp(-b[1] * pow(T(x), w[1]))) + w[0] - T(m);
    return true;
  }
  double x, m;
};

struct ScaledFit {
  ScaledFit() {
    const double xs[] = {77.6,  114.9, 141.1, 190.8, 239.9, 289.0, 332.8,
                         378.4, 434.8, 477.3, 536.8, 593.1, 689.1, 760.0};
    std::mt19937 rng(3);
    std::normal_distribution<double> noise(0.0, 0.1);
    for (double x : xs) {
      const double m = 238.9 * (1.0 - std::exp(-5.5e-4 * x)) + noise(rng);
      problem.AddResidualBlock(
          new ceres::AutoDiffCostFunction<ScaledExponentialResidual, 1, 2, 2>(
              new ScaledExponentialResidual(x, m)),
          nullptr, b, w);
    }
    EXPECT_TRUE(BilevelProblem::Create(&problem, {w}, &bilevel).ok());
  }
  double b[2] = {250.0, 5e-4};
  double w[2] = {0.0, 1.0};
  ceres::Problem problem;
  std::unique_ptr<BilevelProblem> bilevel;
};

// Outer residuals y - target (any loss over y will do).
struct ScaledTarget {
  template <typename T>
  bool operator()(const T* b, T* r) const {
    r[0] = b[0] - T(240.0);
    r[1] = T(1e5) * (b[1] - T(5e-4));
    return true;
  }
};

// A non-convex energy: the robust mean, E(t) = sum_i -exp(-(t - x_i)^2 /
// sigma^2) (learnable Welsch loss, w = sigma), samples x_i read from `data`
// (updated in place by the reuse test).
struct Offset {
  explicit Offset(const double* x) : x(x) {}
  template <typename T>
  bool operator()(const T* t, T* r) const {
    r[0] = t[0] - T(*x);
    return true;
  }
  const double* x;
};

struct RobustMean {
  RobustMean(int num_samples, const BilevelExample::Options& options)
      : samples(num_samples, 0.0) {
    for (const double& x : samples) {
      problem.AddResidualBlock(
          new LearnableLossCostFunction(new ceres::AutoDiffCostFunction<Offset, 1, 1>(
                                            new Offset(&x)),
                                        LearnableLossType::WELSCH, /*has_weight_block=*/false),
          nullptr, &t, &sigma);
    }
    EXPECT_TRUE(BilevelProblem::Create(&problem, {&sigma}, &bilevel).ok());
    EXPECT_TRUE(BilevelExample::Create(
                    bilevel.get(),
                    new ceres::AutoDiffCostFunction<Offset, 1, 1>(new Offset(&centre)),
                    ceres::TAKE_OWNERSHIP, {&t}, options, &example)
                    .ok());
  }
  // Draw `index`: 4 inliers around a centre among 16 outliers; t seeded at
  // the sample of lowest energy.
  void SetDraw(int index) {
    std::mt19937 rng(100 + index);
    centre = std::uniform_real_distribution<double>(-10.0, 10.0)(rng);
    std::normal_distribution<double> inlier(centre, 1.0);
    std::uniform_real_distribution<double> outlier(-20.0, 20.0);
    for (size_t i = 0; i < samples.size(); ++i) {
      samples[i] = i < 4 ? inlier(rng) : outlier(rng);
    }
    double best = std::numeric_limits<double>::infinity();
    for (double seed : samples) {
      double energy = 0.0;
      for (double x : samples) energy -= std::exp(-(x - seed) * (x - seed) / (sigma * sigma));
      if (energy < best) {
        best = energy;
        t = seed;
      }
    }
    example->RestartFromCurrentValues();
  }
  std::vector<double> samples;
  double centre = 0.0;
  double t = 0.0;
  double sigma = 2.0;
  ceres::Problem problem;
  std::unique_ptr<BilevelProblem> bilevel;
  std::unique_ptr<BilevelExample> example;
};

BilevelExample::Options SolverOptions(InnerSolverType type) {
  BilevelExample::Options options = ColdTightOptions(0.0);
  options.inner_solver_type = type;
  return options;
}

// Largest |a_i - b_i| / |b_i|: coordinates in their own units.
double MaxRelativeDifference(const Eigen::VectorXd& a, const Eigen::VectorXd& b) {
  return ((a - b).array().abs() / b.array().abs()).maxCoeff();
}

// y* of the Ceres path, polished by NewtonPolish (its default options; on
// the badly scaled fit its absolute |g|_inf <= 1e-10 is out of reach, and it
// stops at round-off after its iterations), as the reference of the Newton
// solver's y*.
Eigen::VectorXd PolishedCeresSolution(BilevelExample* example, const Eigen::VectorXd& w) {
  Eigen::VectorXd r;
  EXPECT_TRUE(example->Evaluate(w, &r, nullptr).ok());
  NewtonPolish::Summary summary;
  EXPECT_TRUE(NewtonPolish::Polish(NewtonPolish::Options(), example->problem(), &summary).ok());
  std::printf("  reference: %s\n", summary.BriefReport().c_str());
  return example->problem()->GetInnerValues();
}

// The checker (default options) on the Newton path's y*, lambda = 0: re-solves
// polished to round-off, and H against differences of the gradient.
void ExpectCheckerAgrees(BilevelProblem* problem, const char* name) {
  MinimiserDerivativeChecker::Result result;
  MinimiserDerivative::Options derivative;
  derivative.lambda = 0.0;
  Status status = MinimiserDerivativeChecker::Check(MinimiserDerivativeChecker::Options(),
                                                    derivative, problem, &result);
  ASSERT_TRUE(status.ok()) << status.ToString();
  std::printf("%s: NEWTON y*, checker dy*/dw error %.3g, H error %.3g\n", name,
              result.max_relative_error, result.hessian_max_relative_error);
  // The library's agreement with the checker (README): 1e-6.
  EXPECT_LT(result.max_relative_error, 1e-6) << result.Report();
  EXPECT_TRUE(result.hessian_within_tolerance) << result.Report();
}

TEST(BilevelExample, NewtonInnerSolverMatchesCeresOnABadlyScaledFit) {
  ScaledFit ceres_fit, newton_fit;
  std::unique_ptr<BilevelExample> ceres_example, newton_example;
  ASSERT_TRUE(BilevelExample::Create(ceres_fit.bilevel.get(),
                                     new ceres::AutoDiffCostFunction<ScaledTarget, 2, 2>(
                                         new ScaledTarget),
                                     ceres::TAKE_OWNERSHIP, {ceres_fit.b},
                                     SolverOptions(InnerSolverType::CERES), &ceres_example)
                  .ok());
  ASSERT_TRUE(BilevelExample::Create(newton_fit.bilevel.get(),
                                     new ceres::AutoDiffCostFunction<ScaledTarget, 2, 2>(
                                         new ScaledTarget),
                                     ceres::TAKE_OWNERSHIP, {newton_fit.b},
                                     SolverOptions(InnerSolverType::NEWTON), &newton_example)
                  .ok());
  const Eigen::Vector2d w(0.3, 1.02);
  Eigen::VectorXd r_newton, r_ceres;
  Eigen::MatrixXd J_newton, J_ceres;
  ASSERT_TRUE(ceres_example->Evaluate(w, &r_ceres, &J_ceres).ok());
  Status status = newton_example->Evaluate(w, &r_newton, &J_newton);
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(newton_example->last_inner_solver_type(), InnerSolverType::NEWTON);
  EXPECT_TRUE(newton_example->last_newton_summary().converged);
  // Newton's descent is timed as the inner solve (Ceres' summary is not).
  EXPECT_GT(newton_example->last_inner_solve_seconds(), 0.0);
  EXPECT_EQ(newton_example->last_inner_summary().total_time_in_seconds, -1.0);
  const Eigen::VectorXd y_newton = newton_fit.bilevel->GetInnerValues();
  const Eigen::VectorXd y_ceres = PolishedCeresSolution(ceres_example.get(), w);
  // Round-off: the Jacobi-scaled H's condition number is below 1e4 here
  // (scale_stress_test), so y* is determined to about 1e4 eps relative.
  const double y_difference = MaxRelativeDifference(y_newton, y_ceres);
  std::printf("badly scaled fit: NEWTON %d iterations; y* vs polished CERES %.3g, "
              "dr/dw vs CERES %.3g\n",
              newton_example->last_newton_summary().iterations, y_difference,
              (J_newton - J_ceres).norm() / J_ceres.norm());
  EXPECT_LT(y_difference, 1e4 * std::numeric_limits<double>::epsilon());
  EXPECT_LT((J_newton - J_ceres).norm() / J_ceres.norm(), 1e-6);
  ExpectCheckerAgrees(newton_fit.bilevel.get(), "badly scaled fit");
}

TEST(BilevelExample, NewtonInnerSolverMatchesCeresOnANonConvexEnergy) {
  RobustMean ceres_mean(20, SolverOptions(InnerSolverType::CERES));
  RobustMean newton_mean(20, SolverOptions(InnerSolverType::NEWTON));
  for (int draw = 0; draw < 3; ++draw) {
    ceres_mean.SetDraw(draw);
    newton_mean.SetDraw(draw);
    const Eigen::VectorXd w = Eigen::VectorXd::Constant(1, ceres_mean.sigma);
    double loss_newton = 0.0, loss_ceres = 0.0;
    Eigen::VectorXd gradient_newton, gradient_ceres;
    ASSERT_TRUE(ceres_mean.example->EvaluateLoss(w, &loss_ceres, &gradient_ceres).ok());
    Status status = newton_mean.example->EvaluateLoss(w, &loss_newton, &gradient_newton);
    ASSERT_TRUE(status.ok()) << status.ToString();
    const Eigen::VectorXd y_newton = newton_mean.bilevel->GetInnerValues();
    const Eigen::VectorXd y_ceres = PolishedCeresSolution(ceres_mean.example.get(), w);
    const double y_difference = MaxRelativeDifference(y_newton, y_ceres);
    std::printf("robust mean draw %d: NEWTON %d iterations, t* %.17g; vs polished CERES %.3g, "
                "dL/dsigma %.6g vs %.6g\n",
                draw, newton_mean.example->last_newton_summary().iterations, y_newton[0],
                y_difference, gradient_newton[0], gradient_ceres[0]);
    // Round-off of a 1-variable minimiser with H ~ 1: a few eps of |t*|.
    EXPECT_LT(y_difference, 1e3 * std::numeric_limits<double>::epsilon());
    EXPECT_LT(std::abs(gradient_newton[0] - gradient_ceres[0]),
              1e-6 * std::abs(gradient_ceres[0]));
    ExpectCheckerAgrees(newton_mean.bilevel.get(), "robust mean");
  }
}

// E = -1/2 (y - w)^2: concave, no minimiser. Newton raises mu until H + mu I
// is positive definite and descends forever.
class NegativeLoss : public ceres::LossFunction {
 public:
  void Evaluate(double s, double rho[3]) const override {
    rho[0] = -s;
    rho[1] = -1.0;
    rho[2] = 0.0;
  }
};

struct Difference {
  template <typename T>
  bool operator()(const T* y, const T* w, T* r) const {
    r[0] = y[0] - w[0];
    return true;
  }
};

struct Identity {
  template <typename T>
  bool operator()(const T* y, T* r) const {
    r[0] = y[0];
    return true;
  }
};

TEST(BilevelExample, NewtonFailsCleanlyOnAnEnergyWithoutMinimiser) {
  double y = 0.5, w = 0.0;
  ceres::Problem problem;
  problem.AddResidualBlock(new ceres::AutoDiffCostFunction<Difference, 1, 1, 1>(new Difference),
                           new NegativeLoss, &y, &w);
  std::unique_ptr<BilevelProblem> bilevel;
  ASSERT_TRUE(BilevelProblem::Create(&problem, {&w}, &bilevel).ok());
  std::unique_ptr<BilevelExample> example;
  ASSERT_TRUE(BilevelExample::Create(bilevel.get(),
                                     new ceres::AutoDiffCostFunction<Identity, 1, 1>(new Identity),
                                     ceres::TAKE_OWNERSHIP, {&y},
                                     SolverOptions(InnerSolverType::NEWTON), &example)
                  .ok());
  double loss = 0.0;
  Eigen::VectorXd gradient;
  Status status = example->EvaluateLoss(Eigen::VectorXd::Zero(1), &loss, &gradient);
  std::printf("no minimiser: %s\n", status.ToString().c_str());
  EXPECT_EQ(status.code(), StatusCode::kNoConvergence);
  EXPECT_NE(status.message().find("NEWTON inner solve did not converge"), std::string::npos)
      << status.message();
  EXPECT_FALSE(example->last_newton_summary().converged);
  EXPECT_TRUE(std::isfinite(y));
}

TEST(BilevelExample, NewtonFallsBackToCeresWhenAskedTo) {
  ScaledFit fit;
  BilevelExample::Options options = SolverOptions(InnerSolverType::NEWTON);
  // A Newton solve that cannot converge in one iteration from this start.
  options.newton_options.max_num_iterations = 1;
  std::unique_ptr<BilevelExample> example;
  ASSERT_TRUE(BilevelExample::Create(fit.bilevel.get(),
                                     new ceres::AutoDiffCostFunction<ScaledTarget, 2, 2>(
                                         new ScaledTarget),
                                     ceres::TAKE_OWNERSHIP, {fit.b}, options, &example)
                  .ok());
  const Eigen::Vector2d w(0.3, 1.1);
  Eigen::VectorXd r;
  EXPECT_EQ(example->Evaluate(w, &r, nullptr).code(), StatusCode::kNoConvergence);
  ASSERT_TRUE(BilevelExample::Create(fit.bilevel.get(),
                                     new ceres::AutoDiffCostFunction<ScaledTarget, 2, 2>(
                                         new ScaledTarget),
                                     ceres::TAKE_OWNERSHIP, {fit.b},
                                     [&] {
                                       BilevelExample::Options fallback = options;
                                       fallback.newton_falls_back_to_ceres = true;
                                       return fallback;
                                     }(),
                                     &example)
                  .ok());
  fit.b[0] = 250.0;
  fit.b[1] = 5e-4;
  example->RestartFromCurrentValues();
  Status status = example->Evaluate(w, &r, nullptr);
  EXPECT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(example->last_inner_solver_type(), InnerSolverType::CERES);
  EXPECT_FALSE(example->last_newton_summary().converged);
}

// ExponentialProblem's 20 residuals stacked into one 20-residual block over y
// alone, reading w where the bilevel problem keeps it: the same energy.
struct StackedExponential {
  StackedExponential(const ExponentialProblem* fit, std::vector<double> t,
                     std::vector<double> d)
      : w(fit->w), t(std::move(t)), d(std::move(d)) {}
  template <typename T>
  bool operator()(const T* y, T* r) const {
    for (size_t i = 0; i < t.size(); ++i) {
      r[i] = y[0] * exp(-y[1] * w[1] * t[i]) + w[0] - d[i];
    }
    return true;
  }
  const double* w;
  std::vector<double> t, d;
};

// inner_solve_problem: Ceres solves the stacked form; y*, r and dr/dw are
// those of solving the bilevel problem itself, to the agreement of two
// solves that both end on a final Newton step from a point where |g| is
// at round-off (1e-12 relative). Create rejects a problem without the inner
// block.
TEST(BilevelExample, InnerSolveProblemInAnotherFormGivesTheSameDerivative) {
  ExponentialProblem fit(Loss::kNone, 5);
  ExponentialProblem reference(Loss::kNone, 5);
  // Recover the data from the residual blocks (r at y = (0, 0), w = 0 is -d).
  std::vector<ceres::ResidualBlockId> blocks;
  fit.problem.GetResidualBlocks(&blocks);
  std::vector<double> t, d;
  for (size_t i = 0; i < blocks.size(); ++i) {
    t.push_back(0.2 * static_cast<double>(i));
    double y0[2] = {0.0, 0.0}, w0[2] = {0.0, 0.0}, r = 0.0;
    const double* values[2] = {y0, w0};
    ASSERT_TRUE(fit.problem.GetCostFunctionForResidualBlock(blocks[i])->Evaluate(values, &r,
                                                                                  nullptr));
    d.push_back(-r);
  }
  ceres::Problem stacked;
  stacked.AddResidualBlock(
      new ceres::AutoDiffCostFunction<StackedExponential, 20, 2>(
          new StackedExponential(&fit, t, d)),
      nullptr, fit.y);
  BilevelExample::Options options = ColdTightOptions(0.0);
  options.inner_solve_problem = &stacked;
  std::unique_ptr<BilevelExample> example;
  ASSERT_TRUE(BilevelExample::Create(
                  fit.bilevel.get(),
                  new ceres::AutoDiffCostFunction<OuterLoss, 3, 2, 2>(new OuterLoss),
                  ceres::TAKE_OWNERSHIP, {fit.y, fit.w}, options, &example)
                  .ok());
  std::unique_ptr<BilevelExample> expected = MakeExample(&reference, 0.0);
  const Eigen::Vector2d w(0.2, 0.9);
  Eigen::VectorXd r, r_expected;
  Eigen::MatrixXd J, J_expected;
  Status status = example->Evaluate(w, &r, &J);
  ASSERT_TRUE(status.ok()) << status.ToString();
  ASSERT_TRUE(expected->Evaluate(w, &r_expected, &J_expected).ok());
  EXPECT_EQ(example->last_inner_summary().num_residual_blocks, 1);
  EXPECT_EQ(expected->last_inner_summary().num_residual_blocks, 20);
  EXPECT_LE((r - r_expected).norm(), 1e-12 * r_expected.norm());
  EXPECT_LE((J - J_expected).norm(), 1e-12 * J_expected.norm());

  ceres::Problem unrelated;
  double other[2] = {0.0, 0.0};
  unrelated.AddParameterBlock(other, 2);
  options.inner_solve_problem = &unrelated;
  status = BilevelExample::Create(
      fit.bilevel.get(), new ceres::AutoDiffCostFunction<OuterLoss, 3, 2, 2>(new OuterLoss),
      ceres::TAKE_OWNERSHIP, {fit.y, fit.w}, options, &example);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("inner_solve_problem"), std::string::npos) << status.message();
}

// newton_after_ceres: from Ceres' end point at its default tolerances, the
// Newton descent converges (|g|_inf <= 1e-10) and y* (through r = y* -
// target) agrees with a tight Ceres solve (all tolerances 1e-16) to 1e-10
// relative, the conditioning of this fit times the rounding of both solves.
TEST(BilevelExample, NewtonAfterCeresFinishesAtTheMinimiser) {
  ExponentialProblem fit(Loss::kCauchy, 7);
  ExponentialProblem reference(Loss::kCauchy, 7);
  BilevelExample::Options options;
  options.warm_start = false;
  options.newton_after_ceres = true;
  std::unique_ptr<BilevelExample> example;
  ASSERT_TRUE(BilevelExample::Create(
                  fit.bilevel.get(),
                  new ceres::AutoDiffCostFunction<OuterLoss, 3, 2, 2>(new OuterLoss),
                  ceres::TAKE_OWNERSHIP, {fit.y, fit.w}, options, &example)
                  .ok());
  std::unique_ptr<BilevelExample> expected = MakeExample(&reference, 0.0);
  const Eigen::Vector2d w(0.2, 0.9);
  Eigen::VectorXd r, r_expected;
  Status status = example->Evaluate(w, &r, nullptr);
  ASSERT_TRUE(status.ok()) << status.ToString();
  ASSERT_TRUE(expected->Evaluate(w, &r_expected, nullptr).ok());
  EXPECT_EQ(example->last_inner_solver_type(), InnerSolverType::CERES);
  EXPECT_TRUE(example->last_newton_summary().converged)
      << example->last_newton_summary().BriefReport();
  EXPECT_LE((r - r_expected).norm(), 1e-10 * r_expected.norm());
}

// One problem structure kept across draws whose data change in place gives
// bit-identical results to a problem built afresh for each draw, with either
// inner solver.
// NEWTON hands its evaluation and H at the point where it stops to the
// derivative (one InnerNewton): the derivative must be the one a fresh
// MinimiserDerivative computes at the returned y*, which shares nothing with
// the example (its own engine, evaluation, H and factorisation). Same point,
// same arithmetic: equal to the last bit.
TEST(BilevelExample, NewtonSharedLinearisationEqualsAFreshDerivativeAtYStar) {
  for (double lambda : {0.0, 0.1}) {
    BilevelExample::Options options = SolverOptions(InnerSolverType::NEWTON);
    options.derivative_options.lambda = lambda;
    RobustMean mean(20, options);
    MinimiserDerivative::Options fresh_options = options.derivative_options;
    // y* is already the point after the example's final step.
    fresh_options.final_newton_step = false;
    for (int draw = 0; draw < 3; ++draw) {
      mean.SetDraw(draw);
      const Eigen::VectorXd w = Eigen::VectorXd::Constant(1, mean.sigma);
      double loss = 0.0;
      Eigen::VectorXd gradient;
      Status status = mean.example->EvaluateLoss(w, &loss, &gradient);
      ASSERT_TRUE(status.ok()) << status.ToString();
      ASSERT_EQ(mean.example->last_inner_solver_type(), InnerSolverType::NEWTON);
      MinimiserDerivative fresh(fresh_options);
      MinimiserDerivative::Summary summary;
      ASSERT_TRUE(fresh.Linearise(mean.bilevel.get(), &summary).ok());
      // dL/dsigma = (dt*/dsigma) (t* - c): the outer loss has J_r_y = 1.
      Eigen::VectorXd u = Eigen::VectorXd::Constant(1, mean.t - mean.centre), J_T_u;
      ASSERT_TRUE(fresh.VectorJacobianProduct(u, &J_T_u).ok());
      EXPECT_EQ(gradient[0], J_T_u[0]) << "lambda " << lambda << ", draw " << draw;
      EXPECT_EQ(mean.example->last_derivative_summary().gradient_max_norm,
                summary.gradient_max_norm);
      EXPECT_EQ(mean.example->last_derivative_summary().min_eigenvalue, summary.min_eigenvalue);
    }
    // The same through the badly scaled fit, forward mode (n_y = 2, n_w = 2).
    ScaledFit fit;
    std::unique_ptr<BilevelExample> example;
    ASSERT_TRUE(BilevelExample::Create(fit.bilevel.get(),
                                       new ceres::AutoDiffCostFunction<ScaledTarget, 2, 2>(
                                           new ScaledTarget),
                                       ceres::TAKE_OWNERSHIP, {fit.b}, options, &example)
                    .ok());
    Eigen::VectorXd r;
    Eigen::MatrixXd J_r_w;
    Status status = example->Evaluate(Eigen::Vector2d(0.3, 1.02), &r, &J_r_w);
    ASSERT_TRUE(status.ok()) << status.ToString();
    MinimiserDerivative fresh(fresh_options);
    ASSERT_TRUE(fresh.Linearise(fit.bilevel.get(), nullptr).ok());
    Eigen::MatrixXd J_y_w;
    ASSERT_TRUE(fresh.Jacobian(&J_y_w).ok());
    // dr/dw = diag(1, 1e5) dy*/dw (ScaledTarget).
    EXPECT_EQ(J_r_w.row(0), J_y_w.row(0)) << "lambda " << lambda;
    EXPECT_EQ(J_r_w.row(1), (1e5 * J_y_w.row(1)).eval()) << "lambda " << lambda;
  }
}

TEST(BilevelExample, ReusedStructureIsBitIdenticalToFreshConstruction) {
  for (InnerSolverType type : {InnerSolverType::CERES, InnerSolverType::NEWTON}) {
    BilevelExample::Options options = SolverOptions(type);
    options.inner_solver_options = ceres::Solver::Options();
    options.inner_solver_options.logging_type = ceres::SILENT;
    RobustMean reused(20, options);
    for (int draw = 0; draw < 6; ++draw) {
      RobustMean fresh(20, options);
      fresh.SetDraw(draw);
      reused.SetDraw(draw);
      const Eigen::VectorXd w = Eigen::VectorXd::Constant(1, 2.0);
      double loss_fresh = 0.0, loss_reused = 0.0;
      Eigen::VectorXd gradient_fresh, gradient_reused, r_fresh, r_reused;
      Eigen::MatrixXd J_fresh, J_reused;
      ASSERT_TRUE(fresh.example->EvaluateLoss(w, &loss_fresh, &gradient_fresh).ok());
      ASSERT_TRUE(reused.example->EvaluateLoss(w, &loss_reused, &gradient_reused).ok());
      EXPECT_EQ(loss_reused, loss_fresh) << InnerSolverTypeToString(type) << " draw " << draw;
      EXPECT_EQ(gradient_reused[0], gradient_fresh[0]) << InnerSolverTypeToString(type);
      EXPECT_EQ(reused.t, fresh.t) << InnerSolverTypeToString(type);
      ASSERT_TRUE(fresh.example->Evaluate(w, &r_fresh, &J_fresh).ok());
      ASSERT_TRUE(reused.example->Evaluate(w, &r_reused, &J_reused).ok());
      EXPECT_EQ(r_reused[0], r_fresh[0]) << InnerSolverTypeToString(type);
      EXPECT_EQ(J_reused(0, 0), J_fresh(0, 0)) << InnerSolverTypeToString(type);
    }
  }
}

}  // namespace
}  // namespace ceres_wiberg
