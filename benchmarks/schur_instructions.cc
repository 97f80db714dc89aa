// Repeatable instruction counts (and times) of DampedSolver's Schur route on
// a bundle-adjustment-shaped H = J^T J: `cameras` blocks of 9 coordinates,
// then `points` blocks of 3, each point observed (2 residuals) by `views`
// distinct random cameras, random Jacobian entries (fixed seed). One
// Factorise (SPARSE_SCHUR, lambda 0.1, HESSIAN_DIAGONAL damping, no
// eigenvalue iterations) and one Solve of a right-hand side.
//
//   build/benchmarks/schur_instructions [cameras points views [EIGEN_SPARSE]]
// (default: 120 36000 6, the largest benchmark scene's shape; SUITE_SPARSE).
// Under callgrind, the factorisation alone:
//   valgrind --tool=callgrind \
//       --toggle-collect='ceres_wiberg::internal::DampedSolver::Factorise*' \
//       build/benchmarks/schur_instructions 120 36000 6
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "Eigen/SparseCore"
#include "ceres_wiberg/internal/damped_solver.h"
#include "ceres_wiberg/minimiser_derivative.h"
#include "glog/logging.h"

namespace {

double Seconds(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  using namespace ceres_wiberg;  // NOLINT
  const int cameras = argc > 3 ? std::atoi(argv[1]) : 120;
  const int points = argc > 3 ? std::atoi(argv[2]) : 36000;
  const int views = argc > 3 ? std::atoi(argv[3]) : 6;
  const bool eigen = argc > 4 && std::strcmp(argv[4], "EIGEN_SPARSE") == 0;
  CHECK(cameras >= views && views >= 1 && points >= 1);
  constexpr int kCamera = 9, kPoint = 3;
  const int m = cameras * kCamera;
  const int n = m + points * kPoint;

  // H's upper triangle, column by column: a camera's column holds its own
  // block; a point's, the blocks of its cameras (sorted) and its own.
  std::mt19937 rng(11);
  std::normal_distribution<double> normal;
  std::uniform_int_distribution<int> pick(0, cameras - 1);
  std::vector<Eigen::Matrix<double, kCamera, kCamera>> camera_blocks(
      cameras, Eigen::Matrix<double, kCamera, kCamera>::Zero());
  std::vector<int> outer(n + 1, 0);
  std::vector<int> inner;
  std::vector<double> values;
  std::vector<std::vector<double>> point_columns(kPoint);
  for (int p = 0; p < points; ++p) {
    std::vector<int> seen;
    while (static_cast<int>(seen.size()) < views) {
      const int c = pick(rng);
      if (std::find(seen.begin(), seen.end(), c) == seen.end()) seen.push_back(c);
    }
    std::sort(seen.begin(), seen.end());
    Eigen::Matrix3d point_block = Eigen::Matrix3d::Zero();
    std::vector<Eigen::Matrix<double, kCamera, kPoint>> couplings;
    for (int c : seen) {
      Eigen::Matrix<double, 2, kCamera + kPoint> J;
      for (int i = 0; i < J.size(); ++i) J.data()[i] = normal(rng);
      const auto J_c = J.leftCols<kCamera>();
      const auto J_p = J.rightCols<kPoint>();
      camera_blocks[c] += J_c.transpose() * J_c;
      couplings.push_back(J_c.transpose() * J_p);
      point_block += J_p.transpose() * J_p;
    }
    for (int l = 0; l < kPoint; ++l) {
      point_columns[l].clear();
      for (int v = 0; v < views; ++v) {
        for (int r = 0; r < kCamera; ++r) point_columns[l].push_back(couplings[v](r, l));
      }
    }
    const int column0 = m + kPoint * p;
    for (int l = 0; l < kPoint; ++l) {
      for (int c : seen) {
        for (int r = 0; r < kCamera; ++r) inner.push_back(c * kCamera + r);
      }
      values.insert(values.end(), point_columns[l].begin(), point_columns[l].end());
      for (int r = 0; r <= l; ++r) {
        inner.push_back(column0 + r);
        values.push_back(point_block(r, l));
      }
      outer[column0 + l + 1] = static_cast<int>(inner.size());
    }
  }
  // The cameras' columns come first: shift the points' entries behind them.
  const int camera_entries = cameras * kCamera * (kCamera + 1) / 2;
  std::vector<int> all_inner;
  std::vector<double> all_values;
  all_inner.reserve(camera_entries + inner.size());
  all_values.reserve(camera_entries + values.size());
  for (int c = 0; c < cameras; ++c) {
    for (int l = 0; l < kCamera; ++l) {
      for (int r = 0; r <= l; ++r) {
        all_inner.push_back(c * kCamera + r);
        all_values.push_back(camera_blocks[c](r, l));
      }
      outer[c * kCamera + l + 1] = static_cast<int>(all_inner.size());
    }
  }
  all_inner.insert(all_inner.end(), inner.begin(), inner.end());
  all_values.insert(all_values.end(), values.begin(), values.end());
  for (int j = m; j < n; ++j) outer[j + 1] += camera_entries;
  std::vector<int>().swap(inner);
  std::vector<double>().swap(values);
  Eigen::SparseMatrix<double> H(n, n);
  H.resizeNonZeros(static_cast<Eigen::Index>(all_inner.size()));
  std::copy(outer.begin(), outer.end(), H.outerIndexPtr());
  std::copy(all_inner.begin(), all_inner.end(), H.innerIndexPtr());
  std::copy(all_values.begin(), all_values.end(), H.valuePtr());

  MinimiserDerivative::Options options;
  options.lambda = 0.1;
  options.damping = DampingType::HESSIAN_DIAGONAL;
  options.linear_solver_type = LinearSolverType::SPARSE_SCHUR;
  options.sparse_linear_algebra_library_type = eigen
                                                   ? SparseLinearAlgebraLibraryType::EIGEN_SPARSE
                                                   : SparseLinearAlgebraLibraryType::SUITE_SPARSE;
  options.eigenvalue_iterations = 0;
  internal::DampedSolver solver(options);
  std::vector<int> blocks(cameras, kCamera);
  blocks.insert(blocks.end(), points, kPoint);
  solver.SetBlocks(blocks);
  solver.SetSparse(&H);
  auto start = std::chrono::steady_clock::now();
  const Status status = solver.Factorise(0.1);
  const double factorise = Seconds(start);
  CHECK(status.ok()) << status.ToString();
  CHECK(solver.solver_type() == LinearSolverType::SPARSE_SCHUR);
  start = std::chrono::steady_clock::now();
  const Eigen::VectorXd x = solver.Solve(Eigen::VectorXd::Ones(n));
  const double solve = Seconds(start);
  std::printf(
      "n %d, R %d (%s), nnz(H upper) %ld: factorise %.4f s (analysis %.4f, numeric %.4f), "
      "solve %.4f s, |x| %.12g\n",
      n, m, solver.reduced_matrix_is_dense() ? "dense" : "sparse",
      static_cast<long>(all_inner.size()), factorise, solver.analysis_time_in_seconds(),
      solver.numeric_time_in_seconds(), solve, x.norm());
  return 0;
}
