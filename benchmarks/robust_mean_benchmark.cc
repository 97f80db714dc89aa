// Robust-mean throughput: derivative evaluations per second of the paper's
// robust-mean energy (Figure 1; examples/robust_mean), inner solve included,
// the number benchmarks/robust_mean_peer.sh compares with the PyTorch peer
// (benchmarks/robust_mean_peer.py) in one run.
//
// One evaluation = RobustMeanObjective::EvaluateExample at sigma = 4 on a
// fresh draw (10 inliers N(c, 4^2) among 100 outliers U[-40, 40], the paper's
// protocol): a ceres::Problem of 110 residual blocks (learnable Welsch loss),
// seeded at the lowest-energy sample, solved by Ceres LM, finished by one
// Newton step and differentiated in reverse mode (the loss 1/2 (t* - c)^2).
// Cases:
//   RobustMean/implicit       lambda = 0, as the peer (the implicit derivative);
//   RobustMean/trust_region   lambda = 0.1, the example's trust-region setting;
// both build a fresh problem per draw and solve it with Ceres, as before the
// two options below, for comparison. With lambda = 0:
//   RobustMean/implicit_reuse         one problem structure kept across draws
//                                     (data updated in place);
//   RobustMean/implicit_newton        the trust-region Newton inner solver
//                                     (InnerSolverType::NEWTON), fresh problems;
//   RobustMean/implicit_newton_reuse  both.
// The draws are made before the timer starts (as the peer's).
// Counters: examples_per_s (all draws over the manual time), failed (draws whose
// evaluation returned an error; not counted in examples_per_s).
//
// Run (under a minute):
//   robust_mean_benchmark --benchmark_out=robust_mean.json --benchmark_out_format=json
// Instruction counts (repeatable, unlike wall time), one case at a time:
//   valgrind --tool=callgrind robust_mean_benchmark --draws=100 \
//       --benchmark_filter=RobustMean/implicit_newton_reuse

#include <cstdio>
#include <string>

#include "Eigen/Core"
#include "benchmark/benchmark.h"
#include "ceres_wiberg/minimiser_derivative.h"
#include "measure.h"
#include "robust_mean/robust_mean_problem.h"

namespace {

// Draws per case; --draws=N overrides (e.g. 100 under callgrind).
int num_draws = 2000;
constexpr double kSigma = 4.0;
constexpr uint64_t kSeed = 1;

void RobustMean(benchmark::State& state, double lambda, ceres_wiberg::InnerSolverType solver,
                bool reuse) {
  robust_mean::RobustMeanObjective::Options options;
  options.derivative_options.lambda = lambda;
  options.inner_solver_type = solver;
  options.reuse_problems = reuse;
  // The draws are made before the timer starts, as the peer makes its own.
  options.precompute_draws = true;
  robust_mean::RobustMeanObjective objective(robust_mean::Protocol::kPaper, kSeed, num_draws,
                                             options);
  const Eigen::VectorXd w = Eigen::VectorXd::Constant(1, kSigma);
  int succeeded = 0, failed = 0;
  double seconds = 0.0, loss_sum = 0.0;
  for (auto _ : state) {
    succeeded = failed = 0;
    loss_sum = 0.0;
    const double start = benchmark_measure::Now();
    for (int i = 0; i < num_draws; ++i) {
      double loss = 0.0;
      Eigen::VectorXd gradient;
      if (objective.EvaluateExample(i, w, &loss, &gradient).ok()) {
        ++succeeded;
        loss_sum += loss;
      } else {
        ++failed;
      }
    }
    seconds = benchmark_measure::Now() - start;
    state.SetIterationTime(seconds);
  }
  state.counters["examples_per_s"] = succeeded / seconds;
  state.counters["failed"] = failed;
  state.counters["mean_loss"] = succeeded > 0 ? loss_sum / succeeded : 0.0;
  state.counters["draws"] = num_draws;
}

}  // namespace

using ceres_wiberg::InnerSolverType;
#define ROBUST_MEAN_CASE(name, lambda, solver, reuse)                        \
  BENCHMARK_CAPTURE(RobustMean, name, lambda, InnerSolverType::solver, reuse) \
      ->UseManualTime()                                                      \
      ->Unit(benchmark::kSecond)                                             \
      ->Iterations(1)
ROBUST_MEAN_CASE(implicit, 0.0, CERES, false);
ROBUST_MEAN_CASE(trust_region, 0.1, CERES, false);
ROBUST_MEAN_CASE(implicit_reuse, 0.0, CERES, true);
ROBUST_MEAN_CASE(implicit_newton, 0.0, NEWTON, false);
ROBUST_MEAN_CASE(implicit_newton_reuse, 0.0, NEWTON, true);

int main(int argc, char** argv) {
  if (!benchmark_measure::ConsumeFlags(
          &argc, argv, {{"draws", [](const std::string& v) { num_draws = std::stoi(v); }}})) {
    return 1;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
