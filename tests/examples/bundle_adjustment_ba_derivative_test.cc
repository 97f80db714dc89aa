// dy*/dw of bundle adjustment (cameras and points with respect to the
// pseudo-Huber scale and the per-camera weights) and its gauge:
//  - every block free: the Jacobian has a 7-dimensional null space (the
//    similarity gauge), and the implicit derivative (lambda = 0) is refused
//    as singular, naming the gauge;
//  - lambda > 0 (D = diag(H), as the learner uses): the checker's damped-step
//    differences agree;
//  - gauge fixed (camera 0 constant, one coordinate of point 0 held): no null
//    space, the lambda = 0 derivative is accepted and matches re-solves
//    polished to round-off by NewtonPolish.
//  - the Schur elimination of the points (SPARSE_SCHUR) gives the full
//    sparse factorisation's dy*/dw to round-off, the same classification,
//    and agrees with the checker.
// All with MinimiserDerivativeChecker's default options.

#include <memory>

#include "ba_energy.h"
#include "ba_learning.h"
#include "bal_scene.h"
#include "ceres_wiberg/minimiser_derivative.h"
#include "ceres_wiberg/minimiser_derivative_checker.h"
#include "gtest/gtest.h"

namespace bundle_adjustment {
namespace {

using ceres_wiberg::MinimiserDerivative;
using ceres_wiberg::MinimiserDerivativeChecker;
using ceres_wiberg::Status;
using ceres_wiberg::StatusCode;

// A small scene (5 cameras, one of them noisy, 30 points, outliers) and a
// model whose weights all differ, so that no column of dy*/dw is special.
Scene SmallScene() {
  SceneOptions options;
  options.num_cameras = 5;
  options.num_points = 30;
  options.outlier_fraction = 0.1;
  options.seed = 11;
  Scene scene;
  EXPECT_TRUE(GenerateScene(options, &scene).ok());
  return scene;
}

BaModel SmallModel() {
  BaModel model;
  model.scale = 2.0;
  model.camera_weights = {1.0, 0.5, 2.0, 1.5, 0.8};
  return model;
}

std::unique_ptr<BaEnergy> SolvedEnergy(GaugeFixing gauge) {
  const Scene scene = SmallScene();
  BaEnergyOptions options;
  options.gauge = gauge;
  std::unique_ptr<BaEnergy> energy;
  Status status = BaEnergy::Create(scene.initial, options, SmallModel(), &energy);
  EXPECT_TRUE(status.ok()) << status.ToString();
  ceres::Solver::Summary summary;
  ceres_wiberg::NewtonPolish::Summary polish;
  status = energy->Solve(BaSolverOptions(), &summary, &polish);
  EXPECT_TRUE(status.ok()) << status.ToString();
  // With a free gauge H is singular and the polish's steps, damped by mu I
  // in mixed units, converge linearly: |g| falls by orders of magnitude but
  // not to 1e-10 within its iterations; with the gauge fixed it converges.
  if (gauge != GaugeFixing::NONE) EXPECT_TRUE(polish.converged) << polish.FullReport();
  EXPECT_LT(polish.final_gradient_max_norm, 1e-3 * polish.initial_gradient_max_norm)
      << polish.FullReport();
  return energy;
}

// Gap of the scaled Jacobian's spectrum: the null space is what lies below
// 1e-8 of the largest singular value, and the next value is above 1e-4.
int NullSpaceDimension(const Eigen::VectorXd& singular_values) {
  int count = 0;
  for (int i = 0; i < singular_values.size(); ++i) {
    count += singular_values[i] < 1e-8 * singular_values[0];
  }
  if (count < singular_values.size()) {
    EXPECT_GT(singular_values[singular_values.size() - 1 - count], 1e-4 * singular_values[0]);
  }
  return count;
}

TEST(BundleAdjustmentDerivative, FreeGaugeIsSingularAtLambdaZeroWithTheGaugeNamed) {
  std::unique_ptr<BaEnergy> energy = SolvedEnergy(GaugeFixing::NONE);
  Eigen::VectorXd singular_values;
  ASSERT_TRUE(ScaledJacobianSingularValues(energy.get(), &singular_values).ok());
  EXPECT_EQ(NullSpaceDimension(singular_values), 7);

  MinimiserDerivative::Options options = BaLearningDerivativeOptions();
  options.lambda = 0.0;
  options.eigenvalue_iterations = MinimiserDerivative::Options().eigenvalue_iterations;
  MinimiserDerivative derivative(options);
  MinimiserDerivative::Summary summary;
  const Status status = derivative.Linearise(energy->bilevel(), &summary);
  EXPECT_EQ(status.code(), StatusCode::kSingularHessian) << status.ToString();
  EXPECT_NE(status.message().find("gauge"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("lambda > 0"), std::string::npos) << status.message();
}

TEST(BundleAdjustmentDerivative, LambdaPositiveAgreesWithTheChecker) {
  std::unique_ptr<BaEnergy> energy = SolvedEnergy(GaugeFixing::NONE);
  MinimiserDerivativeChecker::Result result;
  const Status status = MinimiserDerivativeChecker::Check(
      MinimiserDerivativeChecker::Options(), BaLearningDerivativeOptions(), energy->bilevel(),
      &result);
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(result.method, "damped Newton step");
  // Damped-step differences: O(h^2) truncation with h = 1e-6 |w|, plus
  // round-off of a 135-variable solve; the checker's relative measure.
  EXPECT_LT(result.max_relative_error, 1e-6) << result.Report();
  // At lambda > 0 the damped step reuses the factorisation it checks; H is
  // checked against differences of the inner gradient.
  EXPECT_TRUE(result.hessian_checked);
  EXPECT_TRUE(result.hessian_within_tolerance) << result.Report();
}

TEST(BundleAdjustmentDerivative, GaugeFixedIsAcceptedAtLambdaZeroAndMatchesReSolves) {
  std::unique_ptr<BaEnergy> energy = SolvedEnergy(GaugeFixing::FIRST_CAMERA_AND_ONE_COORDINATE);
  Eigen::VectorXd singular_values;
  ASSERT_TRUE(ScaledJacobianSingularValues(energy.get(), &singular_values).ok());
  EXPECT_EQ(NullSpaceDimension(singular_values), 0);

  MinimiserDerivative::Options options = BaLearningDerivativeOptions();
  options.lambda = 0.0;
  options.eigenvalue_iterations = MinimiserDerivative::Options().eigenvalue_iterations;
  MinimiserDerivativeChecker::Result result;
  const Status status = MinimiserDerivativeChecker::Check(MinimiserDerivativeChecker::Options(),
                                                          options, energy->bilevel(), &result);
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(result.method, "re-solve");
  // Re-solves polished to round-off: O(h^2) truncation with h = 1e-5 |w|
  // and round-off / h (measured 9.6e-8).
  EXPECT_LT(result.max_relative_error, 1e-6) << result.Report();
  // H against differences of the inner gradient.
  EXPECT_TRUE(result.hessian_checked);
  EXPECT_TRUE(result.hessian_within_tolerance) << result.Report();
}

MinimiserDerivative::Options WithSolver(MinimiserDerivative::Options options,
                                        ceres_wiberg::LinearSolverType type) {
  options.linear_solver_type = type;
  return options;
}

// Gauge fixed, lambda = 0 (the classification decides, and the eigenvalue
// estimates' power and inverse iterations run through the Schur solves):
// SPARSE_SCHUR eliminates the points (all blocks but the 4 free cameras and
// camera 0's 3 intrinsics) and its dy*/dw matches SPARSE's to 1e-10
// relative (round-off of two factorisations of a matrix of scaled condition
// number ~1e5), and re-solves polished to round-off as the test above.
TEST(BundleAdjustmentDerivative, SchurEliminationOfThePointsMatchesTheFullFactorisation) {
  std::unique_ptr<BaEnergy> energy = SolvedEnergy(GaugeFixing::FIRST_CAMERA_AND_ONE_COORDINATE);
  MinimiserDerivative::Options options = BaLearningDerivativeOptions();
  options.lambda = 0.0;
  options.final_newton_step = false;  // both at the same y
  options.eigenvalue_iterations = MinimiserDerivative::Options().eigenvalue_iterations;
  Eigen::MatrixXd J[2];
  MinimiserDerivative::Summary summary[2];
  const ceres_wiberg::LinearSolverType types[2] = {ceres_wiberg::LinearSolverType::SPARSE,
                                                   ceres_wiberg::LinearSolverType::SPARSE_SCHUR};
  for (int t = 0; t < 2; ++t) {
    MinimiserDerivative derivative(WithSolver(options, types[t]));
    const Status status = derivative.Linearise(energy->bilevel(), &summary[t]);
    ASSERT_TRUE(status.ok()) << status.ToString();
    ASSERT_TRUE(derivative.Jacobian(&J[t]).ok());
    EXPECT_EQ(summary[t].linear_solver_type, types[t]);
  }
  EXPECT_EQ(summary[1].num_eliminated_parameters, summary[1].num_inner_parameters - 4 * 9 - 3);
  const double difference = (J[1] - J[0]).norm() / J[0].norm();
  ::testing::Test::RecordProperty("schur_relative_difference",
                                  ::testing::PrintToString(difference));
  EXPECT_LT(difference, 1e-10);
  EXPECT_NE(summary[1].FullReport().find("SPARSE_SCHUR"), std::string::npos);

  MinimiserDerivativeChecker::Result result;
  const Status status = MinimiserDerivativeChecker::Check(
      MinimiserDerivativeChecker::Options(),
      WithSolver(options, ceres_wiberg::LinearSolverType::SPARSE_SCHUR), energy->bilevel(),
      &result);
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(result.method, "re-solve");
  EXPECT_EQ(result.derivative_summary.linear_solver_type,
            ceres_wiberg::LinearSolverType::SPARSE_SCHUR);
  EXPECT_LT(result.max_relative_error, 1e-6) << result.Report();
}

// Gauge free: at lambda = 0 SPARSE_SCHUR refuses H as singular, naming the
// gauge, as SPARSE does; at lambda = 0.1 (D = diag(H)) it agrees with the
// checker's damped-step differences as SPARSE does.
TEST(BundleAdjustmentDerivative, SchurEliminationClassifiesTheGaugeAndAgreesWithTheChecker) {
  std::unique_ptr<BaEnergy> energy = SolvedEnergy(GaugeFixing::NONE);
  MinimiserDerivative::Options options =
      WithSolver(BaLearningDerivativeOptions(), ceres_wiberg::LinearSolverType::SPARSE_SCHUR);
  options.eigenvalue_iterations = MinimiserDerivative::Options().eigenvalue_iterations;
  MinimiserDerivative::Options singular_options = options;
  singular_options.lambda = 0.0;
  MinimiserDerivative derivative(singular_options);
  const Status singular = derivative.Linearise(energy->bilevel(), nullptr);
  EXPECT_EQ(singular.code(), StatusCode::kSingularHessian) << singular.ToString();
  EXPECT_NE(singular.message().find("gauge"), std::string::npos) << singular.message();

  MinimiserDerivativeChecker::Result result;
  const Status status = MinimiserDerivativeChecker::Check(MinimiserDerivativeChecker::Options(),
                                                          options, energy->bilevel(), &result);
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(result.derivative_summary.linear_solver_type,
            ceres_wiberg::LinearSolverType::SPARSE_SCHUR);
  EXPECT_LT(result.max_relative_error, 1e-6) << result.Report();
}

}  // namespace
}  // namespace bundle_adjustment
