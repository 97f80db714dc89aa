// dy*/dw of the FoE denoiser (examples/denoise_foe) on a tiny 6 x 6 image,
// with respect to every expert weight and filter tap, against the library's
// MinimiserDerivativeChecker: full re-solves for the implicit derivative
// (lambda = 0) and damped Newton steps for the trust-region derivative
// (lambda = 0.1).

#include <algorithm>
#include <cmath>
#include <memory>
#include <utility>

#include "ceres_wiberg/bilevel_problem.h"
#include "ceres_wiberg/minimiser_derivative.h"
#include "ceres_wiberg/minimiser_derivative_checker.h"
#include "foe_energy.h"
#include "gtest/gtest.h"
#include "synthetic_images.h"

namespace denoise_foe {
namespace {

using ceres_wiberg::BilevelProblem;
using ceres_wiberg::MinimiserDerivative;
using ceres_wiberg::MinimiserDerivativeChecker;

struct TinyProblem {
  FoeParameters parameters;
  std::unique_ptr<ceres::Problem> problem;
  std::unique_ptr<BilevelProblem> bilevel;
};

void BuildTiny(const FieldsOfExperts& model, TinyProblem* tiny) {
  SyntheticImageOptions options;
  options.width = options.height = 6;
  const Image noisy = AddGaussianNoise(SyntheticImage(options, 4), 20.0, 9);
  tiny->problem = std::make_unique<ceres::Problem>();
  BuildFoeProblem(noisy, model, FoeProblemOptions(), &tiny->parameters, tiny->problem.get());
  BilevelProblem::Options bilevel_options;
  bilevel_options.inner_parameter_blocks = PixelBlocks(&tiny->parameters);
  ASSERT_TRUE(BilevelProblem::Create(tiny->problem.get(), LearnableBlocks(&tiny->parameters),
                                     bilevel_options, &tiny->bilevel)
                  .ok());
  ceres::Solver::Summary summary;
  ASSERT_TRUE(tiny->bilevel->SolveInner(ceres_wiberg::TightSolverOptions(), &summary).ok());
}

MinimiserDerivative::Options DerivativeOptions(double lambda) {
  MinimiserDerivative::Options options;
  options.lambda = lambda;
  options.hessian_model = ceres_wiberg::HessianModel::EXACT;
  options.linear_solver_type = ceres_wiberg::LinearSolverType::SPARSE;
  // Default second-derivative step: grey levels up to 255 under Cauchy experts
  // that bend on a scale of ~1.4 are what its error control is for.
  return options;
}

// Three expert weights and one tap of five filters (w = m_1..m_8, then the
// eight 9-tap filters): every column costs two polished re-solves.
std::vector<int> CheckedColumns() { return {0, 4, 7, 8 + 4, 8 + 9 * 2 + 1, 8 + 9 * 4 + 3,
                                            8 + 9 * 6 + 0, 8 + 9 * 7 + 8}; }

TEST(FoeDerivative, ImplicitDerivativeMatchesReSolves) {
  TinyProblem tiny;
  BuildTiny(DefaultFieldsOfExperts(), &tiny);
  ASSERT_EQ(tiny.bilevel->num_inner_parameters(), 36);
  ASSERT_EQ(tiny.bilevel->num_learnable_parameters(), 80);
  // Re-solves by Newton polishing from the warm start alone (it converges
  // quadratically; Ceres' LM only linearly on this energy).
  MinimiserDerivativeChecker::Options checker;
  checker.solver_options.max_num_iterations = 0;
  checker.learnable_coordinates = CheckedColumns();
  // y*(w) bends sharply (the Cauchy experts): a fixed step of 1e-5 left an
  // O(h^2) error of ~1e-4; the checker's Ridders steps control it.
  MinimiserDerivativeChecker::Result result;
  const ceres_wiberg::Status status = MinimiserDerivativeChecker::Check(
      checker, DerivativeOptions(0.0), tiny.bilevel.get(), &result);
  ASSERT_TRUE(status.ok()) << status.ToString();
  // H against differences of the inner gradient (EXACT models).
  EXPECT_TRUE(!result.hessian_checked || result.hessian_within_tolerance)
      << result.Report();
  ASSERT_EQ(result.analytic.cols(), 8);
  // The reference's error estimate is far below the tolerance; the analytic
  // side is good to the second differences' O(h^2).
  EXPECT_LT(result.max_error_estimate, 1e-7) << result.Report();
  // max_relative_error is |a - n| / max(|a|, |n|, relative_floor * max|n|).
  EXPECT_LT(result.max_relative_error, 1e-6) << result.Report();
  EXPECT_GT(result.analytic.cwiseAbs().maxCoeff(), 1.0);  // not trivially zero
}

TEST(FoeDerivative, TrustRegionDerivativeMatchesDampedSteps) {
  TinyProblem tiny;
  BuildTiny(DefaultFieldsOfExperts(), &tiny);
  MinimiserDerivativeChecker::Options checker;
  checker.solver_options.max_num_iterations = 0;
  MinimiserDerivativeChecker::Result result;
  const ceres_wiberg::Status status = MinimiserDerivativeChecker::Check(
      checker, DerivativeOptions(0.1), tiny.bilevel.get(), &result);
  ASSERT_TRUE(status.ok()) << status.ToString();
  // H against differences of the inner gradient (EXACT models).
  EXPECT_TRUE(!result.hessian_checked || result.hessian_within_tolerance)
      << result.Report();
  EXPECT_EQ(result.method, "damped Newton step");
  EXPECT_LT(result.max_relative_error, 1e-6) << result.Report();
}

}  // namespace
}  // namespace denoise_foe
