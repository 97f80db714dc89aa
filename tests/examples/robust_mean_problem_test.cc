// Tests of the robust-mean example's support code: the seed search against a
// full scan of Energy (every pair, std::exp) over draws of both protocols and
// widths from 0.05 to 4000; and RobustMeanObjective's evaluations are the
// same bits whether the draws are made up front or per evaluation, and
// whether the inner problems are kept or built per draw.

#include "robust_mean/robust_mean_problem.h"

#include <cmath>
#include <string>
#include <vector>

#include "Eigen/Core"
#include "gtest/gtest.h"

namespace robust_mean {
namespace {

TEST(SeedSearch, FindsTheLowestEnergyOfAFullScan) {
  SeedSearch search;
  int differing = 0, total = 0;
  for (Protocol protocol : {Protocol::kPaper, Protocol::kAuthorsCode}) {
    for (double sigma : {0.05, 0.5, 4.0, 40.0, 4000.0}) {
      for (int index = 0; index < 40; ++index) {
        SCOPED_TRACE(std::string(ProtocolToString(protocol)) + ", sigma " +
                     std::to_string(sigma) + ", draw " + std::to_string(index));
        const Draw draw = MakeDraw(protocol, 7, index);
        int reference = 0;
        double lowest = Energy(draw.samples, sigma, draw.samples[0]);
        for (size_t i = 1; i < draw.samples.size(); ++i) {
          const double energy = Energy(draw.samples, sigma, draw.samples[i]);
          if (energy < lowest) {
            lowest = energy;
            reference = static_cast<int>(i);
          }
        }
        const int found = search.Find(draw.samples, sigma);
        ASSERT_GE(found, 0);
        ASSERT_LT(found, static_cast<int>(draw.samples.size()));
        ++total;
        if (found == reference) continue;
        // Only a tie within the energies' rounding (|E| >= 1).
        ++differing;
        EXPECT_LE(std::abs(Energy(draw.samples, sigma, draw.samples[found]) - lowest),
                  1e-14 * std::abs(lowest));
      }
    }
  }
  // Ties are rare: almost always the very same sample.
  EXPECT_LE(differing, total / 20);
}

TEST(RobustMeanObjective, PrecomputedDrawsAndReusedProblemsGiveTheSameBits) {
  const Eigen::VectorXd w = Eigen::VectorXd::Constant(1, 4.0);
  double reference_loss[4];
  Eigen::VectorXd reference_gradient[4];
  bool first = true;
  for (bool precompute : {false, true}) {
    for (bool reuse : {true, false}) {
      RobustMeanObjective::Options options;
      options.inner_solver_type = ceres_wiberg::InnerSolverType::NEWTON;
      options.precompute_draws = precompute;
      options.reuse_problems = reuse;
      RobustMeanObjective objective(Protocol::kPaper, 3, 4, options);
      for (int example = 0; example < 4; ++example) {
        double loss = 0.0;
        Eigen::VectorXd gradient;
        const ceres_wiberg::Status status = objective.EvaluateExample(example, w, &loss, &gradient);
        ASSERT_TRUE(status.ok()) << status.ToString();
        if (first) {
          reference_loss[example] = loss;
          reference_gradient[example] = gradient;
          continue;
        }
        EXPECT_EQ(loss, reference_loss[example]);
        EXPECT_TRUE(gradient == reference_gradient[example]);
      }
      first = false;
    }
  }
}

}  // namespace
}  // namespace robust_mean
