// Dense family: a pose-like energy with a small, dense inner problem
// (n_y = 60) and n_w = 10 ... 5,000 learnable parameters, against central
// finite differences through re-solves.
//
// The energy: a linear 3D shape model of V = 40 landmarks (a mean shape and
// B = 54 basis shapes, as the PPCA pose model of Tome et al. that the paper's
// human-pose experiment learns), posed by a rotation q (unit quaternion, Ceres'
// QuaternionManifold, 3 tangent coordinates) and a translation t, observed by
// C = 3 fixed orthographic cameras with 10% outlying detections:
//
//   P_v(a)  = theta_v,0 + sum_b a_b theta_v,b            (3D landmark v)
//   r_cv    = (Pi_c (R(q) P_v(a) + t) - d_cv) / sigma    (2 residuals)
//   E(y; w) = 1/2 sum_cv SoftLOne(|r_cv|^2) + 1/2 |a|^2
//
// Inner y = (q, t, a): n_y = 3 + 3 + 54 = 60, and every residual touches all
// of it, so H is dense. Learnable w: the first n_w entries of the shape model
// theta (mean and basis coordinates of every landmark, dealt round-robin over
// the landmarks, the rest held fixed inside the cost functions), so one energy
// gives any n_w up to 3 V (B + 1) = 6,600.
//
// Cases "DensePose/<variant>/n_w:N", N = 10, 50, 100, 500, 1000, 5000:
//   EXACT/DENSE                  exact Hessian, dense Cholesky, final Newton
//                                step (the configuration whose accuracy is
//                                checked: Ceres' LM converges only linearly on
//                                this robust energy and stops ~1e-5 from y*);
//   EXACT/DENSE/no_newton_step   the same without the final Newton step;
//   GAUSS_NEWTON/DENSE           Gauss-Newton Hessian (NOT the derivative of
//                                the minimiser at lambda = 0: its errors are
//                                shown for information);
//   EXACT/SPARSE                 exact Hessian, sparse LDL^T.
// Each measures, per iteration (10), from the same cold start:
//   solve_s       the inner solve (Ceres LM, DENSE_NORMAL_CHOLESKY, tolerances
//                 1e-12, see InnerSolverOptions);
//   grad_s        reverse mode: MinimiserDerivative::Linearise +
//                 VectorJacobianProduct with a fixed random u (the benchmark's
//                 manual time), one MinimiserDerivative reused across
//                 iterations (grad_cold_s: a fresh one, measured once);
//   jacobian_s    forward mode: Linearise + Jacobian (n_y x n_w);
// and once per case (outside the timed loop):
//   mem_*_MB      peak resident memory above the resident memory just before
//                 the phase (VmHWM after resetting it through
//                 /proc/self/clear_refs, glibc's free memory trimmed first), for
//                 the solve, reverse mode and forward mode with a fresh
//                 MinimiserDerivative, after one unmeasured pass of the three
//                 (a library's one-time cost on first use is not counted);
//                 mem_ratio = mem_grad_MB / mem_solve_MB;
// and once per n_w (shared by the variants):
//   fd_s          central differences through Ceres re-solves: 2 re-solves
//                 per learnable coordinate, warm started at y*, with
//                 TightSolverOptions (tolerances 1e-16), step 1e-5 max(1, |w_j|).
//                 At most 100 coordinates (evenly spaced) are re-solved; beyond,
//                 fd_s is EXTRAPOLATED as time * n_w / 100 (fd_extrapolated);
//                 fd_plain_rel_err is their error: Ceres stops ~sqrt(eps) from
//                 the fixed point, so these differences are not accurate;
//   fd_polished_s the accurate finite differences: MinimiserDerivativeChecker
//                 (re-solve, then exact Newton steps to the fixed point), timed
//                 on the checked columns and extrapolated to n_w;
//   max_rel_err   worst relative error of the timed forward Jacobian against
//                 the checker's polished re-solves with its default steps
//                 (chosen per column by Ridders' extrapolation), on all 50
//                 columns at n_w = 50 and 10 evenly spaced columns otherwise;
//                 the measure is the checker's, |a - n| / max(|a|, |n|,
//                 1e-4 max|n|). checker_rel_err is the checker's own error
//                 (the derivative it linearises itself), ref_err_est the
//                 reference's own error estimate in the same measure.
//
// Derivative options for timing: lambda = 0 (the implicit derivative, which is
// what re-solves difference), eigenvalue diagnostics off
// (eigenvalue_iterations = 0 and max_exact_eigenvalue_size = 0: only the
// diagonal range is reported), default second-derivative step.
//
// Run (about two minutes):
//   dense_pose_benchmark --benchmark_out=dense_pose.json --benchmark_out_format=json

#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "Eigen/Core"
#include "Eigen/Geometry"
#include "benchmark/benchmark.h"
#include "ceres/ceres.h"
#include "dense_pose_energy.h"
#include "measure.h"
#include "ceres_wiberg/bilevel_problem.h"
#include "ceres_wiberg/minimiser_derivative.h"
#include "ceres_wiberg/minimiser_derivative_checker.h"

namespace ceres_wiberg {
namespace {

constexpr int kMaxFdColumns = 100;
constexpr int kCheckedColumns = 10;  // 50 at n_w = 50
// The plain differences (fd_s) are the baseline a user would write: a fixed
// step, their error reported (fd_plain_rel_err), not used as a reference.
constexpr double kPlainFdRelativeStep = 1e-5;

using namespace dense_pose;  // NOLINT: the energy of this family

// ---------------------------------------------------------------------------
// Timing and memory helpers.

using benchmark_measure::MaxRelativeError;
using benchmark_measure::Now;
using benchmark_measure::PeakIncreaseMb;

using benchmark_measure::SpreadColumns;

// ---------------------------------------------------------------------------
// The benchmark.

// What does not depend on the derivative being timed, computed once per n_w
// and shared by the variants: the finite differences and the reference.
struct Reference {
  Eigen::VectorXd y_star;          // the inner solution (cold start)
  std::vector<int> fd_columns;     // coordinates re-solved for fd_s
  Eigen::MatrixXd fd_plain;        // their plain central differences
  double fd_measured_s = 0.0;      // time of those re-solves
  std::vector<int> checked;        // coordinates of the reference (a prefix)
  Eigen::MatrixXd numeric;         // the checker's reference
  double checker_rel_err = 0.0;    // the checker's own error
  double reference_error_estimate = 0.0;  // the reference's (Ridders)
  double checker_s = 0.0;          // time of the checker run
};

// Finite differences through plain Ceres re-solves (warm started at y*), and
// the checker's polished re-solve reference with its default steps.
Status ComputeReference(PoseProblem* pose, int num_checked, Reference* reference) {
  BilevelProblem* bilevel = pose->bilevel.get();
  const int n_y = bilevel->num_inner_parameters();
  const int n_w = bilevel->num_learnable_parameters();
  reference->y_star = bilevel->GetInnerValues();
  const Eigen::VectorXd w0 = bilevel->GetLearnableParameters();
  const ceres::Solver::Options fd_options = FiniteDifferenceSolverOptions();
  reference->fd_columns = SpreadColumns(n_w, kMaxFdColumns);
  reference->fd_plain.resize(n_y, reference->fd_columns.size());
  Status status;
  const double start = Now();
  for (size_t c = 0; c < reference->fd_columns.size() && status.ok(); ++c) {
    const int j = reference->fd_columns[c];
    const double h = kPlainFdRelativeStep * std::max(1.0, std::abs(w0[j]));
    Eigen::VectorXd outcome[2];
    for (int side = 0; side < 2 && status.ok(); ++side) {
      Eigen::VectorXd w = w0;
      w[j] += side == 0 ? h : -h;
      bilevel->SetLearnableParameters(w);
      bilevel->SetInnerValues(reference->y_star);
      ceres::Solver::Summary summary;
      status = bilevel->SolveInner(fd_options, &summary);
      outcome[side] = bilevel->GetInnerValues();
    }
    // Tangent difference: q is the first block (4 ambient, 3 tangent).
    Eigen::VectorXd delta(n_y);
    ceres::QuaternionManifold manifold;
    manifold.Minus(outcome[0].data(), outcome[1].data(), delta.data());
    delta.tail(n_y - 3) = outcome[0].tail(n_y - 3) - outcome[1].tail(n_y - 3);
    reference->fd_plain.col(c) = delta / (2.0 * h);
  }
  reference->fd_measured_s = Now() - start;
  bilevel->SetLearnableParameters(w0);
  bilevel->SetInnerValues(reference->y_star);
  if (!status.ok()) return status;

  MinimiserDerivative::Options options;
  options.lambda = 0.0;
  options.eigenvalue_iterations = 0;
  options.max_exact_eigenvalue_size = 0;
  MinimiserDerivativeChecker::Options checker_options;
  checker_options.solver_options = fd_options;
  checker_options.learnable_coordinates.assign(
      reference->fd_columns.begin(),
      reference->fd_columns.begin() +
          std::min<size_t>(num_checked, reference->fd_columns.size()));
  reference->checked = checker_options.learnable_coordinates;
  MinimiserDerivativeChecker::Result result;
  const double check_start = Now();
  status = MinimiserDerivativeChecker::Check(checker_options, options, bilevel, &result);
  if (!status.ok()) return status;
  reference->checker_s = Now() - check_start;
  reference->numeric = result.numeric;
  reference->checker_rel_err = result.max_relative_error;
  reference->reference_error_estimate = result.max_error_estimate;
  bilevel->SetInnerValues(reference->y_star);
  return Status::Ok();
}

void DensePose(benchmark::State& state, HessianModel hessian_model,
               LinearSolverType linear_solver, bool final_newton_step) {
  const int n_w = static_cast<int>(state.range(0));
  std::unique_ptr<PoseProblem> pose = MakePoseProblem(n_w);
  if (pose == nullptr) {
    state.SkipWithError("could not build the problem");
    return;
  }
  BilevelProblem* bilevel = pose->bilevel.get();
  const int n_y = bilevel->num_inner_parameters();

  MinimiserDerivative::Options derivative_options;
  derivative_options.lambda = 0.0;
  derivative_options.hessian_model = hessian_model;
  derivative_options.linear_solver_type = linear_solver;
  derivative_options.eigenvalue_iterations = 0;
  derivative_options.max_exact_eigenvalue_size = 0;
  derivative_options.final_newton_step = final_newton_step;

  const ceres::Solver::Options solver_options = InnerSolverOptions();
  Eigen::VectorXd u(n_y);
  {
    std::mt19937 rng(7);
    std::normal_distribution<double> normal;
    for (int i = 0; i < n_y; ++i) u[i] = normal(rng);
  }

  ceres::Solver::Summary summary;
  Status status;
  // One unmeasured pass of the phases first: a process's first call into a
  // library (Ceres on the first case, CHOLMOD on the first SPARSE one) costs
  // about 1 MB of one-time resident memory (code pages mapped, static
  // workspaces), which the first case's phase would otherwise be charged
  // (measured: EXACT/SPARSE/n_w:10's reverse mode 1.63 MB without this pass,
  // 0.37 MB with it; the later SPARSE cases 0.37-0.40 MB either way).
  {
    bilevel->SetInnerValues(pose->initial);
    status = bilevel->SolveInner(solver_options, &summary);
    MinimiserDerivative derivative(derivative_options);
    Eigen::VectorXd gradient;
    Eigen::MatrixXd jacobian;
    if (status.ok()) status = derivative.Linearise(bilevel, nullptr);
    if (status.ok()) status = derivative.VectorJacobianProduct(u, &gradient);
    if (status.ok()) status = derivative.Jacobian(&jacobian);
  }
  // Once: memory of each phase, with fresh objects. The derivative phases
  // start from the Ceres solution (a final Newton step moves the problem).
  const double mem_solve = PeakIncreaseMb([&] {
    bilevel->SetInnerValues(pose->initial);
    status = bilevel->SolveInner(solver_options, &summary);
  });
  if (!status.ok()) {
    state.SkipWithError(("inner solve: " + status.ToString()).c_str());
    return;
  }
  const Eigen::VectorXd y_ceres = bilevel->GetInnerValues();
  double grad_cold_s = 0.0;
  const double mem_grad = PeakIncreaseMb([&] {
    const double start = Now();
    MinimiserDerivative derivative(derivative_options);
    Eigen::VectorXd gradient;
    status = derivative.Linearise(bilevel, nullptr);
    if (status.ok()) status = derivative.VectorJacobianProduct(u, &gradient);
    grad_cold_s = Now() - start;
  });
  if (!status.ok()) {
    state.SkipWithError(("reverse mode: " + status.ToString()).c_str());
    return;
  }
  bilevel->SetInnerValues(y_ceres);
  Eigen::MatrixXd J_y_w;
  const double mem_jacobian = PeakIncreaseMb([&] {
    MinimiserDerivative derivative(derivative_options);
    status = derivative.Linearise(bilevel, nullptr);
    if (status.ok()) status = derivative.Jacobian(&J_y_w);
  });
  if (!status.ok()) {
    state.SkipWithError(("forward mode: " + status.ToString()).c_str());
    return;
  }
  bilevel->SetInnerValues(y_ceres);

  // Once per n_w: finite differences and the reference.
  static std::map<int, Reference> cache;
  if (cache.count(n_w) == 0) {
    Reference reference;
    status = ComputeReference(pose.get(), n_w == 50 ? 50 : kCheckedColumns, &reference);
    if (!status.ok()) {
      state.SkipWithError(("finite differences: " + status.ToString()).c_str());
      return;
    }
    cache[n_w] = std::move(reference);
  }
  const Reference& reference = cache.at(n_w);
  bilevel->SetInnerValues(y_ceres);
  const double fd_s = reference.fd_measured_s * n_w / reference.fd_columns.size();
  const double fd_polished_s = reference.checker_s * n_w / reference.checked.size();
  Eigen::MatrixXd timed(n_y, reference.checked.size()), timed_fd(n_y, reference.checked.size());
  for (size_t c = 0; c < reference.checked.size(); ++c) {
    timed.col(c) = J_y_w.col(reference.checked[c]);
    timed_fd.col(c) = reference.fd_plain.col(c);  // checked is a prefix of fd_columns
  }
  const double max_rel_err = MaxRelativeError(timed, reference.numeric);
  const double fd_plain_rel_err = MaxRelativeError(timed, timed_fd);

  // Timed loop: cold-start solve, reverse mode, forward mode.
  MinimiserDerivative derivative(derivative_options);
  double solve_s = 0.0, linearise_s = 0.0, vjp_s = 0.0, jacobian_s = 0.0;
  double iterations = 0.0;
  Eigen::VectorXd gradient;
  for (auto _ : state) {
    bilevel->SetInnerValues(pose->initial);
    double start = Now();
    status = bilevel->SolveInner(solver_options, &summary);
    solve_s += Now() - start;
    iterations += summary.iterations.size();
    const Eigen::VectorXd solution = bilevel->GetInnerValues();

    start = Now();
    if (status.ok()) status = derivative.Linearise(bilevel, nullptr);
    const double linearised = Now();
    if (status.ok()) status = derivative.VectorJacobianProduct(u, &gradient);
    const double reverse_end = Now();
    linearise_s += linearised - start;
    vjp_s += reverse_end - linearised;
    state.SetIterationTime(reverse_end - start);

    bilevel->SetInnerValues(solution);
    start = Now();
    if (status.ok()) status = derivative.Linearise(bilevel, nullptr);
    if (status.ok()) status = derivative.Jacobian(&J_y_w);
    jacobian_s += Now() - start;
    if (!status.ok()) {
      state.SkipWithError(status.ToString().c_str());
      return;
    }
    benchmark::DoNotOptimize(gradient.data());
    benchmark::DoNotOptimize(J_y_w.data());
  }
  const double n = static_cast<double>(state.iterations());
  solve_s /= n;
  linearise_s /= n;
  vjp_s /= n;
  jacobian_s /= n;
  const double grad_s = linearise_s + vjp_s;

  state.counters["n_y"] = n_y;
  state.counters["n_w"] = n_w;
  state.counters["final_newton_step"] = final_newton_step ? 1 : 0;
  state.counters["solve_s"] = solve_s;
  state.counters["solve_iterations"] = iterations / n;
  state.counters["linearise_s"] = linearise_s;
  state.counters["vjp_s"] = vjp_s;
  state.counters["grad_s"] = grad_s;
  state.counters["grad_cold_s"] = grad_cold_s;
  state.counters["jacobian_s"] = jacobian_s;
  state.counters["fd_s"] = fd_s;
  state.counters["fd_columns"] = reference.fd_columns.size();
  state.counters["fd_extrapolated"] = static_cast<int>(reference.fd_columns.size()) < n_w ? 1 : 0;
  state.counters["fd_polished_s"] = fd_polished_s;
  state.counters["grad_over_solve"] = grad_s / solve_s;
  state.counters["fd_over_grad"] = fd_s / grad_s;
  state.counters["fd_polished_over_grad"] = fd_polished_s / grad_s;
  state.counters["fd_over_jacobian"] = fd_s / jacobian_s;
  state.counters["max_rel_err"] = max_rel_err;
  state.counters["checker_rel_err"] = reference.checker_rel_err;
  state.counters["ref_err_est"] = reference.reference_error_estimate;
  state.counters["checked_columns"] = reference.checked.size();
  state.counters["fd_plain_rel_err"] = fd_plain_rel_err;
  state.counters["mem_solve_MB"] = mem_solve;
  state.counters["mem_grad_MB"] = mem_grad;
  state.counters["mem_jacobian_MB"] = mem_jacobian;
  state.counters["mem_ratio"] = mem_solve > 0.0 ? mem_grad / mem_solve : 0.0;
}

void RegisterAll() {
  struct Variant {
    const char* name;
    HessianModel hessian;
    LinearSolverType solver;
    bool final_newton_step;
  };
  const Variant variants[] = {
      {"DensePose/EXACT/DENSE", HessianModel::EXACT, LinearSolverType::DENSE, true},
      {"DensePose/EXACT/DENSE/no_newton_step", HessianModel::EXACT, LinearSolverType::DENSE,
       false},
      {"DensePose/GAUSS_NEWTON/DENSE", HessianModel::GAUSS_NEWTON, LinearSolverType::DENSE,
       true},
      {"DensePose/EXACT/SPARSE", HessianModel::EXACT, LinearSolverType::SPARSE, true},
  };
  for (const Variant& variant : variants) {
    benchmark::internal::Benchmark* b =
        benchmark::RegisterBenchmark(variant.name, DensePose, variant.hessian, variant.solver,
                                     variant.final_newton_step);
    b->ArgName("n_w")->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(10);
    for (int n_w : {10, 50, 100, 500, 1000, 5000}) b->Arg(n_w);
  }
}

}  // namespace
}  // namespace ceres_wiberg

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  ceres_wiberg::RegisterAll();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
