// Closed-form derivatives of linear least squares against central finite
// differences, for A of size m x n with m = 2n, n = 10, 100, 500, k = 1, both
// methods (A Gaussian: full column rank, condition number about 6).
//
//   <Method>/ClosedFormGradient/n:N    Solve + Reverse: the gradient of
//                                       L = <G, y*> with respect to all
//                                       m n + m entries of A and b.
//   <Method>/FiniteDifferenceGradient  central differences of L, two full
//                                       re-solves per perturbed entry. Each
//                                       iteration differences only a subset
//                                       of S entries of A (S = 8, or all of
//                                       them if fewer): every entry costs the
//                                       same two solves, so the time of the
//                                       whole gradient is EXTRAPOLATED as
//                                       time * (m n + m) / S (counter
//                                       extrapolated_gradient_s). Entries of
//                                       b could reuse one factorisation; they
//                                       are 1 / (n + 1) of the inputs, so this
//                                       overstates the FD cost by at most that.
//   <Method>/ClosedFormDirectional     Forward along one (dA, db), given a
//                                       solved system: one column of the
//                                       forward-mode Jacobian.
//   <Method>/FiniteDifferenceDirectional
//                                       the same column by central
//                                       differences: two solves (measured, not
//                                       extrapolated).
//
// After the runs a table of speed ratios (finite differences / closed form) is
// printed. Run briefly with
//   linear_least_squares_benchmark --benchmark_min_time=0.1
// and keep the JSON with --benchmark_out=lls.json --benchmark_out_format=json.

#include <algorithm>
#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "Eigen/Core"
#include "benchmark/benchmark.h"
#include "ceres_wiberg/linear_least_squares.h"

namespace ceres_wiberg {
namespace {

using Eigen::MatrixXd;

constexpr int kSizes[] = {10, 100, 500};
constexpr int kMaxDifferencedEntries = 8;
constexpr double kStep = 1e-6;

struct Problem {
  MatrixXd A, b, G, dA, db;
};

Problem MakeProblem(int n) {
  const int m = 2 * n;
  std::mt19937 rng(n);
  std::normal_distribution<double> normal;
  auto gaussian = [&](int rows, int cols) {
    MatrixXd x(rows, cols);
    for (int j = 0; j < cols; ++j) {
      for (int i = 0; i < rows; ++i) x(i, j) = normal(rng);
    }
    return x;
  };
  Problem problem;
  problem.A = gaussian(m, n);
  problem.b = gaussian(m, 1);
  problem.G = gaussian(n, 1);
  problem.dA = gaussian(m, n);
  problem.db = gaussian(m, 1);
  return problem;
}

DifferentiableLinearLeastSquares::Options MakeOptions(
    LeastSquaresMethod method) {
  DifferentiableLinearLeastSquares::Options options;
  options.method = method;
  return options;
}

void ClosedFormGradient(benchmark::State& state, LeastSquaresMethod method) {
  const Problem problem = MakeProblem(static_cast<int>(state.range(0)));
  DifferentiableLinearLeastSquares lstsq(MakeOptions(method));
  MatrixXd dL_dA, dL_db;
  for (auto _ : state) {
    if (!lstsq.Solve(problem.A, problem.b).ok() ||
        !lstsq.Reverse(problem.G, &dL_dA, &dL_db).ok()) {
      state.SkipWithError("Solve or Reverse failed");
      break;
    }
    benchmark::DoNotOptimize(dL_dA.data());
    benchmark::DoNotOptimize(dL_db.data());
  }
}

void FiniteDifferenceGradient(benchmark::State& state,
                              LeastSquaresMethod method) {
  const Problem problem = MakeProblem(static_cast<int>(state.range(0)));
  const int m = static_cast<int>(problem.A.rows());
  const int n = static_cast<int>(problem.A.cols());
  const int num_entries = std::min(m * n, kMaxDifferencedEntries);
  DifferentiableLinearLeastSquares lstsq(MakeOptions(method));
  // Entries spread over A.
  std::vector<std::pair<int, int>> entries;
  for (int e = 0; e < num_entries; ++e) {
    const int index = static_cast<int>(
        (static_cast<long long>(e) * m * n) / num_entries);
    entries.emplace_back(index % m, index / m);
  }
  std::vector<double> gradient(num_entries);
  MatrixXd A = problem.A;
  for (auto _ : state) {
    for (int e = 0; e < num_entries; ++e) {
      const auto [i, j] = entries[e];
      A(i, j) = problem.A(i, j) + kStep;
      bool ok = lstsq.Solve(A, problem.b).ok();
      const double plus = ok ? problem.G.col(0).dot(lstsq.solution().col(0))
                             : 0.0;
      A(i, j) = problem.A(i, j) - kStep;
      ok = ok && lstsq.Solve(A, problem.b).ok();
      const double minus = ok ? problem.G.col(0).dot(lstsq.solution().col(0))
                              : 0.0;
      A(i, j) = problem.A(i, j);
      if (!ok) {
        state.SkipWithError("Solve failed");
        break;
      }
      gradient[e] = (plus - minus) / (2.0 * kStep);
    }
    benchmark::DoNotOptimize(gradient.data());
  }
  state.counters["differenced_entries"] = num_entries;
  state.counters["total_entries"] = m * n + m;
}

void ClosedFormDirectional(benchmark::State& state,
                           LeastSquaresMethod method) {
  const Problem problem = MakeProblem(static_cast<int>(state.range(0)));
  DifferentiableLinearLeastSquares lstsq(MakeOptions(method));
  if (!lstsq.Solve(problem.A, problem.b).ok()) {
    state.SkipWithError("Solve failed");
    return;
  }
  MatrixXd dy;
  for (auto _ : state) {
    if (!lstsq.Forward(problem.dA, problem.db, &dy).ok()) {
      state.SkipWithError("Forward failed");
      break;
    }
    benchmark::DoNotOptimize(dy.data());
  }
}

void FiniteDifferenceDirectional(benchmark::State& state,
                                 LeastSquaresMethod method) {
  const Problem problem = MakeProblem(static_cast<int>(state.range(0)));
  DifferentiableLinearLeastSquares lstsq(MakeOptions(method));
  MatrixXd dy;
  for (auto _ : state) {
    bool ok = lstsq.Solve(problem.A + kStep * problem.dA,
                          problem.b + kStep * problem.db)
                  .ok();
    const MatrixXd plus = lstsq.solution();
    ok = ok && lstsq.Solve(problem.A - kStep * problem.dA,
                           problem.b - kStep * problem.db)
                   .ok();
    if (!ok) {
      state.SkipWithError("Solve failed");
      break;
    }
    dy = (plus - lstsq.solution()) / (2.0 * kStep);
    benchmark::DoNotOptimize(dy.data());
  }
}

// Forwards to the console and keeps each run's seconds per iteration (and,
// for the FD gradient, the extrapolation counters) for the ratio table.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& reports) override {
    for (const Run& run : reports) {
      if (run.error_occurred || run.run_type != Run::RT_Iteration) continue;
      const std::string name = run.benchmark_name();
      seconds_[name] = run.GetAdjustedRealTime() /
                       benchmark::GetTimeUnitMultiplier(run.time_unit);
      const auto differenced = run.counters.find("differenced_entries");
      const auto total = run.counters.find("total_entries");
      if (differenced != run.counters.end() && total != run.counters.end()) {
        seconds_[name] *= total->second.value / differenced->second.value;
      }
    }
    ConsoleReporter::ReportRuns(reports);
  }

  void PrintRatios() const {
    std::printf(
        "\nSpeed ratio, finite differences / closed form (m = 2n, k = 1).\n"
        "Gradient: FD time EXTRAPOLATED from a subset of entries to all "
        "m n + m.\n");
    std::printf("%-20s %6s %14s %14s %10s %14s %14s %10s\n", "method", "n",
                "grad closed s", "grad FD s", "ratio", "dir closed s",
                "dir FD s", "ratio");
    for (LeastSquaresMethod method : {LeastSquaresMethod::FULL_RANK_CHOLESKY,
                                      LeastSquaresMethod::MINIMUM_NORM}) {
      for (int n : kSizes) {
        const double grad_closed = Find(method, "ClosedFormGradient", n);
        const double grad_fd = Find(method, "FiniteDifferenceGradient", n);
        const double dir_closed = Find(method, "ClosedFormDirectional", n);
        const double dir_fd = Find(method, "FiniteDifferenceDirectional", n);
        if (grad_closed <= 0.0 && dir_closed <= 0.0) continue;
        std::printf("%-20s %6d %14.4g %14.4g %10.4g %14.4g %14.4g %10.4g\n",
                    LeastSquaresMethodToString(method), n, grad_closed,
                    grad_fd, Ratio(grad_fd, grad_closed), dir_closed, dir_fd,
                    Ratio(dir_fd, dir_closed));
      }
    }
  }

 private:
  // Registered as "<method>/<what>" with ArgName("n").
  double Find(LeastSquaresMethod method, const char* what, int n) const {
    const auto it =
        seconds_.find(std::string(LeastSquaresMethodToString(method)) + "/" +
                      what + "/n:" + std::to_string(n));
    return it == seconds_.end() ? 0.0 : it->second;
  }
  static double Ratio(double fd, double closed) {
    return fd > 0.0 && closed > 0.0 ? fd / closed : 0.0;
  }

  std::map<std::string, double> seconds_;
};

void RegisterAll() {
  using Function = void (*)(benchmark::State&, LeastSquaresMethod);
  const std::pair<const char*, Function> functions[] = {
      {"ClosedFormGradient", ClosedFormGradient},
      {"FiniteDifferenceGradient", FiniteDifferenceGradient},
      {"ClosedFormDirectional", ClosedFormDirectional},
      {"FiniteDifferenceDirectional", FiniteDifferenceDirectional},
  };
  for (LeastSquaresMethod method : {LeastSquaresMethod::FULL_RANK_CHOLESKY,
                                    LeastSquaresMethod::MINIMUM_NORM}) {
    for (const auto& [what, function] : functions) {
      const std::string name =
          std::string(LeastSquaresMethodToString(method)) + "/" + what;
      benchmark::internal::Benchmark* benchmark =
          benchmark::RegisterBenchmark(name.c_str(), function, method);
      benchmark->ArgName("n")->Unit(benchmark::kMillisecond);
      for (int n : kSizes) benchmark->Arg(n);
    }
  }
}

}  // namespace
}  // namespace ceres_wiberg

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  ceres_wiberg::RegisterAll();
  ceres_wiberg::RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.PrintRatios();
  benchmark::Shutdown();
  return 0;
}
