#include "ceres_wiberg/bilevel_problem.h"

#include "ceres/ceres.h"
#include "ceres_wiberg/minimiser_derivative_checker.h"
#include "gtest/gtest.h"
#include "test_problems.h"

namespace ceres_wiberg {
namespace {

using testing::ExponentialProblem;
using testing::ExponentialResidual;
using testing::Loss;

ceres::CostFunction* Exponential(double t, double d) {
  return new ceres::AutoDiffCostFunction<ExponentialResidual, 1, 2, 2>(
      new ExponentialResidual(t, d));
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(BilevelProblem, SplitsBlocksIntoInnerAndLearnable) {
  double y[2] = {1, 1}, w[2] = {0, 1}, fixed[2] = {0, 1};
  ceres::Problem problem;
  problem.AddResidualBlock(Exponential(0.0, 1.0), nullptr, y, w);
  problem.AddResidualBlock(Exponential(1.0, 0.5), nullptr, y, fixed);
  problem.SetParameterBlockConstant(fixed);
  std::unique_ptr<BilevelProblem> bilevel;
  ASSERT_TRUE(BilevelProblem::Create(&problem, {w}, &bilevel).ok());
  EXPECT_EQ(bilevel->inner_parameter_blocks(), std::vector<double*>{y});
  EXPECT_EQ(bilevel->learnable_parameter_blocks(), std::vector<double*>{w});
  EXPECT_EQ(bilevel->num_inner_parameters(), 2);
  EXPECT_EQ(bilevel->num_learnable_parameters(), 2);
  bilevel->SetLearnableParameters(Eigen::Vector2d(3.0, 4.0));
  EXPECT_EQ(w[0], 3.0);
  EXPECT_EQ(bilevel->GetLearnableParameters(), Eigen::Vector2d(3.0, 4.0));
}

TEST(BilevelProblem, SolveHoldsLearnableConstantAndRestoresState) {
  ExponentialProblem fit(Loss::kNone, 1);
  const double w0 = fit.w[0];
  ceres::Solver::Summary summary;
  ASSERT_TRUE(fit.bilevel->SolveInner(TightSolverOptions(), &summary).ok());
  EXPECT_EQ(fit.w[0], w0);
  EXPECT_FALSE(fit.problem.IsParameterBlockConstant(fit.w));
  EXPECT_FALSE(fit.problem.IsParameterBlockConstant(fit.y));
  // A block the user set constant stays constant.
  fit.problem.SetParameterBlockConstant(fit.w);
  ASSERT_TRUE(fit.bilevel->SolveInner(TightSolverOptions(), &summary).ok());
  EXPECT_TRUE(fit.problem.IsParameterBlockConstant(fit.w));
}

TEST(BilevelProblem, LearnableBlockNotInProblemIsAnError) {
  double y[2] = {1, 1}, w[2] = {0, 1}, stranger[1] = {0};
  ceres::Problem problem;
  problem.AddResidualBlock(Exponential(0.0, 1.0), nullptr, y, w);
  std::unique_ptr<BilevelProblem> bilevel;
  BilevelProblem::Options options;
  options.parameter_block_names[stranger] = "stranger";
  Status status = BilevelProblem::Create(&problem, {w, stranger}, options, &bilevel);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(status.message(), "learnable block 'stranger'")) << status.message();
  EXPECT_TRUE(Contains(status.message(), "not a parameter block")) << status.message();
}

TEST(BilevelProblem, LearnableBlockInNoResidualIsAnError) {
  double y[2] = {1, 1}, w[2] = {0, 1}, lonely[3] = {0, 0, 0};
  ceres::Problem problem;
  problem.AddResidualBlock(Exponential(0.0, 1.0), nullptr, y, w);
  problem.AddParameterBlock(lonely, 3);
  std::unique_ptr<BilevelProblem> bilevel;
  Status status = BilevelProblem::Create(&problem, {w, lonely}, &bilevel);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(status.message(), "learnable block #1")) << status.message();
  EXPECT_TRUE(Contains(status.message(), "(size 3) is in no residual block")) << status.message();
}

TEST(BilevelProblem, BlockInBothSetsIsAnError) {
  double y[2] = {1, 1}, w[2] = {0, 1};
  ceres::Problem problem;
  problem.AddResidualBlock(Exponential(0.0, 1.0), nullptr, y, w);
  BilevelProblem::Options options;
  options.inner_parameter_blocks = {y, w};
  options.parameter_block_names[w] = "w";
  std::unique_ptr<BilevelProblem> bilevel;
  Status status = BilevelProblem::Create(&problem, {w}, options, &bilevel);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(status.message(), "'w' is listed as both inner and learnable"))
      << status.message();
}

TEST(BilevelProblem, RepeatedOrConstantBlocksAreErrors) {
  double y[2] = {1, 1}, w[2] = {0, 1};
  ceres::Problem problem;
  problem.AddResidualBlock(Exponential(0.0, 1.0), nullptr, y, w);
  std::unique_ptr<BilevelProblem> bilevel;
  Status status = BilevelProblem::Create(&problem, {w, w}, &bilevel);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(status.message(), "listed twice")) << status.message();

  problem.SetParameterBlockConstant(y);
  BilevelProblem::Options options;
  options.inner_parameter_blocks = {y};
  status = BilevelProblem::Create(&problem, {w}, options, &bilevel);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(status.message(), "set constant")) << status.message();

  // With y constant and w learnable nothing is left to solve for.
  status = BilevelProblem::Create(&problem, {w}, &bilevel);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(status.message(), "no inner variables")) << status.message();
}

TEST(BilevelProblem, NonConvergedInnerSolveIsReportedAndOptionallyRefused) {
  for (bool require : {false, true}) {
    double y[2] = {1, 1}, w[2] = {0.1, 1.0};
    ceres::Problem problem;
    for (int i = 0; i < 10; ++i) {
      problem.AddResidualBlock(Exponential(0.3 * i, 2.0 * std::exp(-0.5 * i)), nullptr, y, w);
    }
    BilevelProblem::Options options;
    options.require_convergence = require;
    std::unique_ptr<BilevelProblem> bilevel;
    ASSERT_TRUE(BilevelProblem::Create(&problem, {w}, options, &bilevel).ok());
    ceres::Solver::Options solver_options = TightSolverOptions();
    solver_options.max_num_iterations = 1;
    ceres::Solver::Summary summary;
    Status status = bilevel->SolveInner(solver_options, &summary);
    EXPECT_EQ(summary.termination_type, ceres::NO_CONVERGENCE);
    if (require) {
      EXPECT_EQ(status.code(), StatusCode::kNoConvergence);
      EXPECT_TRUE(Contains(status.message(), "did not converge")) << status.message();
    } else {
      EXPECT_TRUE(status.ok()) << status.ToString();
    }
  }
}

TEST(BilevelProblem, NanInTheDataFailsTheInnerSolveWithAMessage) {
  double y[2] = {1, 1}, w[2] = {0.1, 1.0};
  ceres::Problem problem;
  problem.AddResidualBlock(Exponential(0.0, std::nan("")), nullptr, y, w);
  std::unique_ptr<BilevelProblem> bilevel;
  ASSERT_TRUE(BilevelProblem::Create(&problem, {w}, &bilevel).ok());
  ceres::Solver::Summary summary;
  Status status = bilevel->SolveInner(TightSolverOptions(), &summary);
  EXPECT_EQ(status.code(), StatusCode::kNumericalFailure);
  EXPECT_TRUE(Contains(status.message(), "inner solve failed")) << status.message();
}

// Learnable blocks are held constant in the inner problem: a manifold or
// bounds on them there would be ignored, so they are refused, naming the
// block and where to put them instead.
TEST(BilevelProblem, LearnableBlockWithAManifoldOrBoundsIsRefused) {
  for (int kind = 0; kind < 2; ++kind) {
    double y[2] = {1, 1}, w[2] = {0, 1};
    ceres::Problem problem;
    problem.AddResidualBlock(Exponential(0.0, 1.0), nullptr, y, w);
    if (kind == 0) {
      problem.SetManifold(w, new ceres::SubsetManifold(2, {1}));
    } else {
      problem.SetParameterLowerBound(w, 1, 0.0);
    }
    BilevelProblem::Options options;
    options.parameter_block_names[w] = "w";
    std::unique_ptr<BilevelProblem> bilevel;
    const Status status = BilevelProblem::Create(&problem, {w}, options, &bilevel);
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
    EXPECT_TRUE(Contains(status.message(), "learnable block 'w'")) << status.message();
    EXPECT_TRUE(Contains(status.message(), kind == 0 ? "has a manifold" : "has bounds"))
        << status.message();
    EXPECT_TRUE(Contains(status.message(), "outer problem")) << status.message();
  }
}

// Bounds on the ambient values of a manifold block do not fix tangent
// coordinates: refused. Bounds alone, or a manifold alone, are accepted.
TEST(BilevelProblem, InnerBlockWithAManifoldAndBoundsIsRefused) {
  for (int kind = 0; kind < 3; ++kind) {
    double y[2] = {1, 1}, w[2] = {0, 1};
    ceres::Problem problem;
    problem.AddResidualBlock(Exponential(0.0, 1.0), nullptr, y, w);
    problem.AddResidualBlock(Exponential(1.0, 0.5), nullptr, y, w);
    if (kind != 1) problem.SetManifold(y, new ceres::SubsetManifold(2, {0}));
    if (kind != 0) problem.SetParameterUpperBound(y, 1, 5.0);
    BilevelProblem::Options options;
    options.parameter_block_names[y] = "y";
    std::unique_ptr<BilevelProblem> bilevel;
    const Status status = BilevelProblem::Create(&problem, {w}, options, &bilevel);
    if (kind < 2) {
      EXPECT_TRUE(status.ok()) << status.ToString();
      continue;
    }
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
    EXPECT_TRUE(Contains(status.message(), "inner block 'y'")) << status.message();
    EXPECT_TRUE(Contains(status.message(), "both a manifold and bounds")) << status.message();
  }
}

}  // namespace
}  // namespace ceres_wiberg
