// BilevelTrainingObjective: examples that use different selections of one
// global w. The gradient is checked against central differences of the
// objective's own loss (tight re-solves), a quantity that shares no code with
// the reverse-mode derivative.

#include "ceres_wiberg/bilevel_training_objective.h"

#include <cmath>
#include <memory>
#include <vector>

#include "ceres/autodiff_cost_function.h"
#include "ceres/problem.h"
#include "gtest/gtest.h"

namespace ceres_wiberg {
namespace {

// r = w (y - x): a sensor at x whose trust is w.
struct SensorTerm {
  explicit SensorTerm(double x0, double x1) : x{x0, x1} {}
  template <typename T>
  bool operator()(const T* y, const T* w, T* r) const {
    r[0] = w[0] * (y[0] - x[0]);
    r[1] = w[0] * (y[1] - x[1]);
    return true;
  }
  double x[2];
};

// The outer loss: r = y* - target.
struct TargetTerm {
  explicit TargetTerm(double t0, double t1) : t{t0, t1} {}
  template <typename T>
  bool operator()(const T* y, T* r) const {
    r[0] = y[0] - t[0];
    r[1] = y[1] - t[1];
    return true;
  }
  double t[2];
};

// Two sensors whose weights are two of the global parameters.
struct TwoSensorExample {
  TwoSensorExample(const double sensors[2][2], const double target[2]) {
    for (int k = 0; k < 2; ++k) {
      problem.AddResidualBlock(new ceres::AutoDiffCostFunction<SensorTerm, 2, 2, 1>(
                                   new SensorTerm(sensors[k][0], sensors[k][1])),
                               nullptr, y, w[k]);
    }
    EXPECT_TRUE(BilevelProblem::Create(&problem, {w[0], w[1]}, &bilevel).ok());
    BilevelExample::Options options;
    options.inner_solver_options = TightSolverOptions();
    options.derivative_options.lambda = 0.0;
    options.warm_start = false;  // identical solves at one w
    EXPECT_TRUE(BilevelExample::Create(bilevel.get(),
                                       new ceres::AutoDiffCostFunction<TargetTerm, 2, 2>(
                                           new TargetTerm(target[0], target[1])),
                                       ceres::TAKE_OWNERSHIP, {y}, options, &example)
                    .ok());
  }
  double y[2] = {0.0, 0.0};
  double w[2][1] = {{1.0}, {1.0}};
  ceres::Problem problem;
  std::unique_ptr<BilevelProblem> bilevel;
  std::unique_ptr<BilevelExample> example;
};

const double kSensorsA[2][2] = {{0.0, 1.0}, {3.0, -1.0}};
const double kSensorsB[2][2] = {{-2.0, 0.5}, {1.0, 2.0}};
const double kTargetA[2] = {1.0, 0.5};
const double kTargetB[2] = {0.0, 1.0};

TEST(BilevelTrainingObjective, MappedGradientMatchesDifferencesOfTheLoss) {
  TwoSensorExample a(kSensorsA, kTargetA), b(kSensorsB, kTargetB);
  std::unique_ptr<BilevelTrainingObjective> objective;
  // Global w has 5 parameters; a uses 0 and 2, b uses 3 and 1; 4 is unused.
  ASSERT_TRUE(BilevelTrainingObjective::Create({{a.example.get(), {0, 2}},
                                                {b.example.get(), {3, 1}}},
                                               5, &objective)
                  .ok());
  EXPECT_EQ(objective->num_parameters(), 5);
  Eigen::VectorXd w(5);
  w << 0.7, 1.3, 1.6, 0.4, 9.0;
  for (int example = 0; example < 2; ++example) {
    double loss = 0.0;
    Eigen::VectorXd gradient;
    ASSERT_TRUE(objective->EvaluateExample(example, w, &loss, &gradient).ok());
    ASSERT_EQ(gradient.size(), 5);
    const std::vector<int> unused = example == 0 ? std::vector<int>{1, 3, 4}
                                                 : std::vector<int>{0, 2, 4};
    for (int j : unused) EXPECT_EQ(gradient[j], 0.0) << "example " << example << " w_" << j;
    // h = 1e-5 central differences of re-solves: error ~1e-10 relative.
    const double h = 1e-5;
    for (int j = 0; j < 5; ++j) {
      Eigen::VectorXd plus = w, minus = w;
      plus[j] += h;
      minus[j] -= h;
      double loss_plus = 0.0, loss_minus = 0.0;
      ASSERT_TRUE(objective->EvaluateExample(example, plus, &loss_plus, nullptr).ok());
      ASSERT_TRUE(objective->EvaluateExample(example, minus, &loss_minus, nullptr).ok());
      const double numeric = (loss_plus - loss_minus) / (2 * h);
      EXPECT_NEAR(gradient[j], numeric, 1e-7 * std::max(1.0, std::abs(numeric)))
          << "example " << example << " w_" << j;
    }
  }
}

TEST(BilevelTrainingObjective, MappedExampleMatchesTheExampleOnItsOwn) {
  TwoSensorExample a(kSensorsA, kTargetA);
  std::unique_ptr<BilevelTrainingObjective> objective;
  ASSERT_TRUE(BilevelTrainingObjective::Create({{a.example.get(), {2, 0}}}, 3, &objective).ok());
  const Eigen::Vector3d w(0.8, -5.0, 1.2);
  double loss = 0.0, direct_loss = 0.0;
  Eigen::VectorXd gradient, direct_gradient;
  ASSERT_TRUE(objective->EvaluateExample(0, w, &loss, &gradient).ok());
  ASSERT_TRUE(a.example->EvaluateLoss(Eigen::Vector2d(1.2, 0.8), &direct_loss, &direct_gradient)
                  .ok());
  EXPECT_EQ(loss, direct_loss);
  EXPECT_EQ(gradient[2], direct_gradient[0]);
  EXPECT_EQ(gradient[0], direct_gradient[1]);
  EXPECT_EQ(gradient[1], 0.0);
}

TEST(BilevelTrainingObjective, RefusesMapsThatDoNotFitNamingTheExample) {
  TwoSensorExample a(kSensorsA, kTargetA), b(kSensorsB, kTargetB);
  struct Case {
    std::vector<int> map;
    int num_parameters;
    const char* expected;
  };
  const Case cases[] = {
      {{0}, 4, "example 1: its map has 1 entries for 2 learnable parameters"},
      {{0, 4}, 4, "example 1: map entry 1 is 4, outside [0, 4)"},
      {{-1, 0}, 4, "example 1: map entry 0 is -1, outside [0, 4)"},
      {{3, 3}, 4, "example 1: map entry 1 repeats index 3"},
      {{}, 4, "example 1: has 2 learnable parameters and no map into the 4 of w"},
  };
  for (const Case& c : cases) {
    std::unique_ptr<BilevelTrainingObjective> objective;
    const Status status = BilevelTrainingObjective::Create(
        {{a.example.get(), {0, 1}}, {b.example.get(), c.map}}, c.num_parameters, &objective);
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(status.message(), c.expected);
    EXPECT_EQ(objective, nullptr);
  }
  std::unique_ptr<BilevelTrainingObjective> objective;
  EXPECT_EQ(BilevelTrainingObjective::Create({}, 2, &objective).message(), "no examples");
  EXPECT_EQ(BilevelTrainingObjective::Create({{nullptr, {}}}, 2, &objective).message(),
            "example 0: is null");
}

}  // namespace
}  // namespace ceres_wiberg
