// ceres_wiberg benchmarks: wall time, peak resident memory and the checker's
// error measure, shared by the benchmark programs.

#ifndef CERES_WIBERG_BENCHMARKS_MEASURE_H_
#define CERES_WIBERG_BENCHMARKS_MEASURE_H_

#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "Eigen/Core"

namespace benchmark_measure {

inline double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

inline long ReadStatusKb(const char* key) {
  std::ifstream status("/proc/self/status");
  std::string line;
  const size_t n = std::char_traits<char>::length(key);
  while (std::getline(status, line)) {
    if (line.compare(0, n, key) == 0) return std::stol(line.substr(n));
  }
  return -1;
}

// Resets VmHWM to the current VmRSS (Linux >= 4.0). False if unsupported.
inline bool ResetPeakRss() {
  std::FILE* file = std::fopen("/proc/self/clear_refs", "w");
  if (file == nullptr) return false;
  const bool ok = std::fputs("5", file) >= 0;
  return std::fclose(file) == 0 && ok;
}

// Peak resident memory (MB) that `phase` adds above the resident memory just
// before it; -1 if the peak cannot be reset on this system.
template <typename Phase>
inline double PeakIncreaseMb(Phase&& phase) {
  malloc_trim(0);
  const long before = ReadStatusKb("VmRSS:");
  if (!ResetPeakRss()) {
    phase();
    return -1.0;
  }
  phase();
  return (ReadStatusKb("VmHWM:") - before) / 1024.0;
}

// The checker's measure: |a - n| / max(|a|, |n|, floor * max|n|).
inline double MaxRelativeError(const Eigen::MatrixXd& analytic, const Eigen::MatrixXd& numeric,
                        double relative_floor = 1e-4) {
  const double floor = relative_floor * numeric.cwiseAbs().maxCoeff();
  double worst = 0.0;
  for (int c = 0; c < analytic.cols(); ++c) {
    for (int r = 0; r < analytic.rows(); ++r) {
      const double a = analytic(r, c), n = numeric(r, c);
      const double denominator = std::max({std::abs(a), std::abs(n), floor});
      if (denominator > 0.0) worst = std::max(worst, std::abs(a - n) / denominator);
    }
  }
  return worst;
}

// `count` indices spread evenly over [0, n).
inline std::vector<int> SpreadColumns(int n, int count) {
  std::vector<int> columns;
  count = std::min(count, n);
  for (int i = 0; i < count; ++i) {
    columns.push_back(static_cast<int>((static_cast<long long>(i) * n) / count));
  }
  return columns;
}

// A program's own flags beside Google Benchmark's: every --<name>=<value> of
// argv whose name is in `setters` is passed to its setter and removed from
// argv; the others are kept for benchmark::Initialize. False, with a message,
// if a setter throws (std::stoi and the like on a bad value).
inline bool ConsumeFlags(
    int* argc, char** argv,
    const std::vector<std::pair<std::string, std::function<void(const std::string&)>>>&
        setters) {
  int out = 1;
  for (int i = 1; i < *argc; ++i) {
    const std::string arg = argv[i];
    bool consumed = false;
    for (const auto& [name, set] : setters) {
      const std::string prefix = "--" + name + "=";
      if (arg.compare(0, prefix.size(), prefix) != 0) continue;
      try {
        set(arg.substr(prefix.size()));
      } catch (...) {
        std::fprintf(stderr, "bad value in %s\n", arg.c_str());
        return false;
      }
      consumed = true;
      break;
    }
    if (!consumed) argv[out++] = argv[i];
  }
  *argc = out;
  return true;
}

}  // namespace benchmark_measure

#endif  // CERES_WIBERG_BENCHMARKS_MEASURE_H_
