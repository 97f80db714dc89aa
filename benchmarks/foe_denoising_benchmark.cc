// Sparse family: the Fields-of-Experts denoising energy of Ceres Solver's
// examples/denoising.cc (examples/denoise_foe/lib/foe_energy.h, linked from
// the ceres_wiberg_denoise_foe library), one inner variable per pixel, for
// image sides 64, 128, 256 and 512 (4,096 to 262,144 inner variables), with
// the K = 8 expert weights and the K 3 x 3 filters learnable (n_w = 80).
//
// One case per side, "FoE/side:N", one iteration each (an inner solve takes
// minutes at 512 x 512), measuring in order, on a synthetic 8-bit-range image
// with Gaussian noise sigma = 20 (foe::GeometricTestImage, seed 1):
//   solve_s        the inner solve from the noisy image: Ceres LM,
//                  SPARSE_NORMAL_CHOLESKY (SuiteSparse), function tolerance
//                  1e-8, gradient and parameter tolerances 1e-10, at most
//                  500 iterations, one thread (InnerSolverOptions);
//   polish_s       NewtonPolish with its default options from Ceres'
//                  solution (not timed as the solve; polish_iterations,
//                  polish_converged, polish_strict_local_minimum,
//                  polish_cost_decrease): Ceres stops where the exact H can
//                  still be indefinite (at 256 and 512), where the implicit
//                  derivative does not exist. The phases below start here;
//   grad_s         reverse mode with a fresh MinimiserDerivative (EXACT
//                  Hessian, lambda = 0, final_newton_step = true, eigenvalue
//                  diagnostics off: eigenvalue_iterations = 0, the default
//                  second-derivative step):
//                  Linearise + VectorJacobianProduct with u = x* - clean, the
//                  gradient of the outer loss 1/2 |x* - clean|^2. The manual
//                  time;
//   jacobian_s     forward mode from the same point: Linearise + Jacobian
//                  (262,144 x 80 at 512);
//   grad_gn_s      reverse mode with HessianModel::GAUSS_NEWTON, for
//                  comparison (not the minimiser's derivative at lambda = 0);
//   mem_*_MB       the peak resident memory each phase adds above the resident
//                  memory just before it (VmHWM reset through
//                  /proc/self/clear_refs, glibc's free memory trimmed first);
//                  mem_ratio = mem_grad_MB / mem_solve_MB;
// then, outside the manual time:
//   fd_s           central differences through re-solves: for
//                  --foe_fd_columns learnable coordinates (default 2, spread
//                  over w), two Ceres re-solves each with the inner solve's
//                  options, warm started at the differentiated point; the
//                  time is EXTRAPOLATED to all n_w coordinates (time * n_w /
//                  columns). fd_plain_rel_err: their error against the analytic
//                  columns (Ceres stops after an iteration or so: the cost
//                  barely changes, so these differences are not accurate);
//   fd_cold_estimate_s  2 n_w solve_s: an estimate, not a measurement;
//   max_rel_err    for sides <= --foe_check_max_side (default 64), on
//                  --foe_check_columns coordinates (default 2): the forward
//                  Jacobian at the fixed point (the Ceres solution polished by
//                  8 NewtonPolish iterations, as the checker does) against
//                  the MinimiserDerivativeChecker's re-solve reference (Newton
//                  steps from the warm start; Ceres' LM is given no
//                  iterations, it converges only linearly here) at the
//                  checker's default steps (Ridders' extrapolation per
//                  column); ref_err_est is that reference's error estimate
//                  and ref_step_min the smallest step it kept. Also
//                  max_rel_err_at_solution (the timed
//                  Jacobian, one Newton step from the Ceres solution: H is
//                  nearly singular here, so the implicit derivative there is
//                  far from the fixed point's); fd_polished_s extrapolates the
//                  reference's time to n_w.
//
// Flags (parsed before Google Benchmark's):
//   --foe_sides=64,128          image sides to register (default 64,128);
//   --foe_file=PATH             a Ceres .foe file instead of the default filters;
//   --foe_fd_columns=N          coordinates re-solved for fd_s (default 2);
//   --foe_check_columns=N       coordinates checked for max_rel_err (default 2);
//   --foe_check_max_side=N      largest side checked (default 64);
//   --foe_grad_threads=N        N > 1: also time the reverse-mode gradient with
//                               MinimiserDerivative::Options::num_threads = N
//                               (grad_threads_s, grad_threads_speedup =
//                               grad_s / grad_threads_s, grad_threads_identical
//                               = 1 if its gradient equals grad_s's bit for bit).
//
// Default run (2 to 3 minutes):
//   foe_denoising_benchmark --benchmark_out=foe.json --benchmark_out_format=json
// 256 and 512 (25 minutes on 2 cores, mostly the 512 x 512 solve and re-solves):
//   foe_denoising_benchmark --foe_sides=256,512 --benchmark_out=foe_large.json --benchmark_out_format=json

#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "Eigen/Core"
#include "benchmark/benchmark.h"
#include "ceres/ceres.h"
#include "measure.h"
#include "ceres_wiberg/bilevel_problem.h"
#include "ceres_wiberg/minimiser_derivative.h"
#include "ceres_wiberg/minimiser_derivative_checker.h"
#include "ceres_wiberg/newton_polish.h"
#include "foe_energy.h"
#include "image.h"
#include "synthetic_images.h"

namespace ceres_wiberg {
namespace {

namespace foe = ::denoise_foe;

constexpr double kNoiseSigma = 20.0;
constexpr double kFdRelativeStep = 1e-5;

struct Flags {
  std::vector<int> sides = {64, 128};
  std::string foe_file;
  int fd_columns = 2;
  int check_columns = 2;
  int check_max_side = 64;
  int grad_threads = 1;
};

// ---------------------------------------------------------------------------
// Timing and memory helpers.

using benchmark_measure::MaxRelativeError;
using benchmark_measure::Now;
using benchmark_measure::PeakIncreaseMb;
using benchmark_measure::ReadStatusKb;

// SpreadColumns: with w = (m_1..m_8, f_1..f_8), 2 columns are m_1 and a tap
// of f_4; 4 add taps of f_2 and f_6.
using benchmark_measure::SpreadColumns;

ceres::Solver::Options InnerSolverOptions() {
  ceres::Solver::Options options;
  options.linear_solver_type = ceres::SPARSE_NORMAL_CHOLESKY;
  options.function_tolerance = 1e-8;
  options.gradient_tolerance = 1e-10;
  options.parameter_tolerance = 1e-10;
  options.max_num_iterations = 500;
  options.num_threads = 1;
  options.logging_type = ceres::SILENT;
  return options;
}

MinimiserDerivative::Options DerivativeOptions(HessianModel model) {
  MinimiserDerivative::Options options;
  options.lambda = 0.0;
  options.hessian_model = model;
  options.linear_solver_type = LinearSolverType::SPARSE;
  options.final_newton_step = true;
  options.eigenvalue_iterations = 0;
  return options;
}

// ---------------------------------------------------------------------------
// The benchmark.

void FoeDenoising(benchmark::State& state, const Flags& flags) {
  const int side = static_cast<int>(state.range(0));
  foe::FieldsOfExperts model = foe::DefaultFieldsOfExperts();
  if (!flags.foe_file.empty()) {
    const Status read = foe::ReadFieldsOfExperts(flags.foe_file, &model);
    if (!read.ok()) {
      state.SkipWithError(read.ToString().c_str());
      return;
    }
  }
  const foe::Image clean = foe::GeometricTestImage(side, side);
  const foe::Image noisy = foe::AddGaussianNoise(clean, kNoiseSigma, 1);

  // enable_fast_removal: BilevelProblem::Create asks for the residual blocks
  // of every parameter block, which Ceres answers in O(#residual blocks)
  // without it (hours at 512 x 512).
  ceres::Problem::Options problem_options;
  problem_options.enable_fast_removal = true;
  const double build_start = Now();
  auto problem = std::make_unique<ceres::Problem>(problem_options);
  foe::FoeParameters parameters;
  foe::FoeProblemOptions foe_options;
  foe_options.sigma = kNoiseSigma;
  const int num_expert_residuals =
      foe::BuildFoeProblem(noisy, model, foe_options, &parameters, problem.get());
  BilevelProblem::Options bilevel_options;
  bilevel_options.inner_parameter_blocks = foe::PixelBlocks(&parameters);
  std::unique_ptr<BilevelProblem> bilevel;
  Status status = BilevelProblem::Create(problem.get(), foe::LearnableBlocks(&parameters),
                                         bilevel_options, &bilevel);
  const double build_s = Now() - build_start;
  if (!status.ok()) {
    state.SkipWithError(status.ToString().c_str());
    return;
  }
  const int n_y = bilevel->num_inner_parameters();
  const int n_w = bilevel->num_learnable_parameters();
  const Eigen::VectorXd initial = bilevel->GetInnerValues();
  const Eigen::Map<const Eigen::VectorXd> clean_vector(clean.pixels.data(), n_y);
  malloc_trim(0);
  const double rss_problem_mb = ReadStatusKb("VmRSS:") / 1024.0;

  const ceres::Solver::Options solver_options = InnerSolverOptions();
  ceres::Solver::Summary summary;
  MinimiserDerivative::Summary grad_summary, jacobian_summary, gn_summary;
  double solve_s = 0, grad_s = 0, linearise_s = 0, vjp_s = 0, jacobian_s = 0, grad_gn_s = 0;
  double mem_solve = 0, mem_grad = 0, mem_jacobian = 0, mem_grad_gn = 0;
  double grad_threads_s = 0;
  bool grad_threads_identical = false;
  MinimiserDerivative::Summary threads_summary;
  Eigen::VectorXd y_ceres, y_solution, y_newton, u, gradient;
  NewtonPolish::Summary solution_polish;
  double polish_s = 0;
  Eigen::MatrixXd J_y_w;
  for (auto _ : state) {
    bilevel->SetInnerValues(initial);
    mem_solve = PeakIncreaseMb([&] {
      const double start = Now();
      status = bilevel->SolveInner(solver_options, &summary);
      solve_s = Now() - start;
    });
    if (!status.ok()) break;
    y_ceres = bilevel->GetInnerValues();
    // Ceres' LM stops where the exact H can still be indefinite on this
    // non-convex energy (measured at 512; at 256 after the final Newton step),
    // where the implicit derivative does not exist; the derivative phases
    // start from the point NewtonPolish reaches with its defaults.
    {
      NewtonPolish::Options polish;
      polish.derivative_options = DerivativeOptions(HessianModel::EXACT);
      const double start = Now();
      status = NewtonPolish::Polish(polish, bilevel.get(), &solution_polish);
      polish_s = Now() - start;
    }
    if (!status.ok()) break;
    y_solution = bilevel->GetInnerValues();
    u = y_solution - clean_vector;

    mem_grad = PeakIncreaseMb([&] {
      const double start = Now();
      MinimiserDerivative derivative(DerivativeOptions(HessianModel::EXACT));
      status = derivative.Linearise(bilevel.get(), &grad_summary);
      const double linearised = Now();
      if (status.ok()) status = derivative.VectorJacobianProduct(u, &gradient);
      grad_s = Now() - start;
      linearise_s = linearised - start;
      vjp_s = grad_s - linearise_s;
    });
    if (!status.ok()) break;
    state.SetIterationTime(grad_s);
    y_newton = bilevel->GetInnerValues();

    bilevel->SetInnerValues(y_solution);
    mem_jacobian = PeakIncreaseMb([&] {
      const double start = Now();
      MinimiserDerivative derivative(DerivativeOptions(HessianModel::EXACT));
      status = derivative.Linearise(bilevel.get(), &jacobian_summary);
      if (status.ok()) status = derivative.Jacobian(&J_y_w);
      jacobian_s = Now() - start;
    });
    if (!status.ok()) break;

    bilevel->SetInnerValues(y_solution);
    mem_grad_gn = PeakIncreaseMb([&] {
      const double start = Now();
      MinimiserDerivative derivative(DerivativeOptions(HessianModel::GAUSS_NEWTON));
      Eigen::VectorXd gn_gradient;
      status = derivative.Linearise(bilevel.get(), &gn_summary);
      if (status.ok()) status = derivative.VectorJacobianProduct(u, &gn_gradient);
      grad_gn_s = Now() - start;
    });
    if (!status.ok()) break;

    if (flags.grad_threads > 1) {
      bilevel->SetInnerValues(y_solution);
      MinimiserDerivative::Options options = DerivativeOptions(HessianModel::EXACT);
      options.num_threads = flags.grad_threads;
      const double start = Now();
      MinimiserDerivative derivative(options);
      Eigen::VectorXd threads_gradient;
      status = derivative.Linearise(bilevel.get(), &threads_summary);
      if (status.ok()) status = derivative.VectorJacobianProduct(u, &threads_gradient);
      grad_threads_s = Now() - start;
      grad_threads_identical = threads_gradient == gradient;
      if (!status.ok()) break;
    }
    bilevel->SetInnerValues(y_newton);
  }
  if (!status.ok()) {
    state.SkipWithError(status.ToString().c_str());
    return;
  }

  foe::Image restored = clean;
  restored.pixels.assign(y_ceres.data(), y_ceres.data() + n_y);

  // Finite differences through plain Ceres re-solves, on a few coordinates.
  const Eigen::VectorXd w0 = bilevel->GetLearnableParameters();
  const std::vector<int> fd_columns =
      SpreadColumns(n_w, flags.fd_columns);
  Eigen::MatrixXd fd_plain(n_y, fd_columns.size()), fd_analytic(n_y, fd_columns.size());
  double fd_solve_iterations = 0;
  const double fd_start = Now();
  for (size_t c = 0; c < fd_columns.size() && status.ok(); ++c) {
    const int j = fd_columns[c];
    const double h = kFdRelativeStep * std::max(1.0, std::abs(w0[j]));
    Eigen::VectorXd outcome[2];
    for (int side_sign = 0; side_sign < 2 && status.ok(); ++side_sign) {
      Eigen::VectorXd w = w0;
      w[j] += side_sign == 0 ? h : -h;
      bilevel->SetLearnableParameters(w);
      bilevel->SetInnerValues(y_newton);
      ceres::Solver::Summary fd_summary;
      status = bilevel->SolveInner(solver_options, &fd_summary);
      fd_solve_iterations += fd_summary.iterations.size();
      outcome[side_sign] = bilevel->GetInnerValues();
    }
    fd_plain.col(c) = (outcome[0] - outcome[1]) / (2.0 * h);
    fd_analytic.col(c) = J_y_w.col(j);
  }
  const double fd_measured_s = Now() - fd_start;
  bilevel->SetLearnableParameters(w0);
  bilevel->SetInnerValues(y_newton);
  if (!status.ok()) {
    state.SkipWithError(("finite differences: " + status.ToString()).c_str());
    return;
  }
  const double fd_s = fd_columns.empty() ? 0.0 : fd_measured_s * n_w / fd_columns.size();

  // The accurate reference on a few coordinates (small sides only). The
  // implicit derivative is very sensitive here (H is nearly singular), so it
  // is checked at the fixed point: the Ceres solution polished by 8
  // NewtonPolish iterations (as the checker does). There, the
  // forward Jacobian is compared with the checker's polished re-solves
  // at its default steps (Ridders' extrapolation, with an error estimate).
  double max_rel_err = -1, max_rel_err_at_solution = -1;
  double checker_rel_err = -1, fd_polished_s = -1, gradient_max_polished = -1;
  double ref_err_est = -1, ref_step_min = -1;
  int checked_columns = 0;
  if (side <= flags.check_max_side && flags.check_columns > 0) {
    bilevel->SetInnerValues(y_newton);
    {
      NewtonPolish::Options polish;
      polish.max_num_iterations = 8;
      polish.gradient_tolerance = 0.0;  // to round-off, as the checker
      polish.step_tolerance = std::numeric_limits<double>::epsilon();
      polish.derivative_options = DerivativeOptions(HessianModel::EXACT);
      NewtonPolish::Summary polish_summary;
      status = NewtonPolish::Polish(polish, bilevel.get(), &polish_summary);
      gradient_max_polished = polish_summary.final_gradient_max_norm;
    }
    const Eigen::VectorXd y_polished = bilevel->GetInnerValues();
    const std::vector<int> columns = SpreadColumns(n_w, flags.check_columns);
    checked_columns = static_cast<int>(columns.size());
    auto jacobian_columns = [&](Eigen::MatrixXd* out) {
      MinimiserDerivative::Options options = DerivativeOptions(HessianModel::EXACT);
      options.final_newton_step = false;
      bilevel->SetInnerValues(y_polished);
      MinimiserDerivative derivative(options);
      Eigen::MatrixXd J;
      status = derivative.Linearise(bilevel.get(), nullptr);
      if (status.ok()) status = derivative.Jacobian(&J);
      out->resize(n_y, checked_columns);
      for (int c = 0; c < checked_columns && status.ok(); ++c) out->col(c) = J.col(columns[c]);
    };
    Eigen::MatrixXd at_polished, at_solution(n_y, checked_columns);
    jacobian_columns(&at_polished);
    for (int c = 0; c < checked_columns; ++c) at_solution.col(c) = J_y_w.col(columns[c]);

    MinimiserDerivativeChecker::Options checker_options;
    checker_options.solver_options = solver_options;
    checker_options.solver_options.max_num_iterations = 0;
    checker_options.learnable_coordinates = columns;
    MinimiserDerivativeChecker::Result check;
    const double check_start = Now();
    if (status.ok()) {
      bilevel->SetInnerValues(y_polished);
      status = MinimiserDerivativeChecker::Check(
          checker_options, DerivativeOptions(HessianModel::EXACT), bilevel.get(), &check);
    }
    const double check_s = Now() - check_start;
    bilevel->SetInnerValues(y_newton);
    if (!status.ok()) {
      state.SkipWithError(("checker: " + status.ToString()).c_str());
      return;
    }
    const Eigen::MatrixXd& reference = check.numeric;
    max_rel_err = MaxRelativeError(at_polished, reference);
    max_rel_err_at_solution = MaxRelativeError(at_solution, reference);
    checker_rel_err = check.max_relative_error;
    ref_err_est = check.max_error_estimate;
    ref_step_min = *std::min_element(check.steps.begin(), check.steps.end());
    fd_polished_s = check_s * n_w / checked_columns;
  }

  const double iterations = summary.iterations.size();
  state.counters["side"] = side;
  state.counters["n_y"] = n_y;
  state.counters["n_w"] = n_w;
  state.counters["expert_residuals"] = num_expert_residuals;
  state.counters["build_s"] = build_s;
  state.counters["rss_problem_MB"] = rss_problem_mb;
  state.counters["psnr_noisy"] = foe::Psnr(noisy, clean);
  state.counters["psnr_restored"] = foe::Psnr(restored, clean);
  state.counters["solve_s"] = solve_s;
  state.counters["solve_iterations"] = iterations;
  state.counters["solve_per_iteration_s"] = solve_s / std::max(1.0, iterations);
  state.counters["solve_converged"] = summary.termination_type == ceres::CONVERGENCE ? 1 : 0;
  state.counters["polish_s"] = polish_s;
  state.counters["polish_iterations"] = solution_polish.iterations;
  state.counters["polish_converged"] = solution_polish.converged ? 1 : 0;
  state.counters["polish_strict_local_minimum"] = solution_polish.strict_local_minimum ? 1 : 0;
  state.counters["polish_cost_decrease"] = solution_polish.initial_cost - solution_polish.final_cost;
  state.counters["gradient_max_at_solve"] = grad_summary.gradient_max_norm_before_newton_step;
  state.counters["newton_step_norm"] = grad_summary.newton_step_norm;
  state.counters["grad_s"] = grad_s;
  state.counters["linearise_s"] = linearise_s;
  state.counters["linearise_factorisation_s"] = grad_summary.factorisation_time_in_seconds;
  state.counters["vjp_s"] = vjp_s;
  state.counters["jacobian_s"] = jacobian_s;
  state.counters["grad_gn_s"] = grad_gn_s;
  state.counters["grad_over_solve"] = grad_s / solve_s;
  state.counters["grad_over_iteration"] = grad_s / (solve_s / std::max(1.0, iterations));
  state.counters["grad_gn_over_solve"] = grad_gn_s / solve_s;
  state.counters["jacobian_over_solve"] = jacobian_s / solve_s;
  state.counters["fd_s"] = fd_s;
  state.counters["fd_columns"] = fd_columns.size();
  state.counters["fd_extrapolated"] = static_cast<int>(fd_columns.size()) < n_w ? 1 : 0;
  state.counters["fd_resolve_iterations"] =
      fd_columns.empty() ? 0.0 : fd_solve_iterations / (2.0 * fd_columns.size());
  state.counters["fd_over_grad"] = fd_s / grad_s;
  state.counters["fd_plain_rel_err"] =
      fd_columns.empty() ? -1.0 : MaxRelativeError(fd_analytic, fd_plain);
  state.counters["max_rel_err"] = max_rel_err;
  state.counters["max_rel_err_at_solution"] = max_rel_err_at_solution;
  state.counters["gradient_max_polished"] = gradient_max_polished;
  state.counters["gradient_max_differentiated"] = grad_summary.gradient_max_norm;
  state.counters["checker_rel_err"] = checker_rel_err;
  state.counters["ref_err_est"] = ref_err_est;
  state.counters["ref_step_min"] = ref_step_min;
  state.counters["checked_columns"] = checked_columns;
  state.counters["fd_polished_s"] = fd_polished_s;
  state.counters["fd_polished_over_grad"] = fd_polished_s > 0.0 ? fd_polished_s / grad_s : -1.0;
  // An estimate, not a measurement: 2 n_w cold-start solves.
  state.counters["fd_cold_estimate_s"] = 2.0 * n_w * solve_s;
  state.counters["fd_cold_over_grad"] = 2.0 * n_w * solve_s / grad_s;
  if (flags.grad_threads > 1) {
    state.counters["grad_threads"] = flags.grad_threads;
    state.counters["grad_threads_s"] = grad_threads_s;
    state.counters["grad_threads_speedup"] = grad_s / grad_threads_s;
    state.counters["grad_threads_identical"] = grad_threads_identical ? 1 : 0;
  }
  state.counters["mem_solve_MB"] = mem_solve;
  state.counters["mem_grad_MB"] = mem_grad;
  state.counters["mem_jacobian_MB"] = mem_jacobian;
  state.counters["mem_grad_gn_MB"] = mem_grad_gn;
  state.counters["mem_ratio"] = mem_solve > 0.0 ? mem_grad / mem_solve : 0.0;
}

// Consumes the --foe_* flags from argv.
bool ParseFlags(int* argc, char** argv, Flags* flags) {
  auto sides = [flags](const std::string& value) {
    flags->sides.clear();
    std::stringstream list(value);
    std::string item;
    while (std::getline(list, item, ',')) flags->sides.push_back(std::stoi(item));
  };
  if (!benchmark_measure::ConsumeFlags(
          argc, argv,
          {{"foe_sides", sides},
           {"foe_file", [flags](const std::string& v) { flags->foe_file = v; }},
           {"foe_fd_columns", [flags](const std::string& v) { flags->fd_columns = std::stoi(v); }},
           {"foe_check_columns",
            [flags](const std::string& v) { flags->check_columns = std::stoi(v); }},
           {"foe_check_max_side",
            [flags](const std::string& v) { flags->check_max_side = std::stoi(v); }},
           {"foe_grad_threads",
            [flags](const std::string& v) { flags->grad_threads = std::stoi(v); }}})) {
    return false;
  }
  for (int side : flags->sides) {
    if (side < 8) {
      std::fprintf(stderr, "--foe_sides: sides must be >= 8\n");
      return false;
    }
  }
  return true;
}

}  // namespace
}  // namespace ceres_wiberg

int main(int argc, char** argv) {
  static ceres_wiberg::Flags flags;
  if (!ceres_wiberg::ParseFlags(&argc, argv, &flags)) return 1;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext(
      "foe_filters",
      flags.foe_file.empty() ? "default (denoise_foe/lib/foe_energy.h)" : flags.foe_file);
  benchmark::AddCustomContext("inner_solver",
                              "LM, SPARSE_NORMAL_CHOLESKY, ftol 1e-8, gtol 1e-10, ptol 1e-10, "
                              "max 500 iterations, 1 thread");
  benchmark::AddCustomContext("derivative",
                              "lambda 0, EXACT (and GAUSS_NEWTON: grad_gn_s), SPARSE, "
                              "final_newton_step, eigenvalue_iterations 0");
  benchmark::internal::Benchmark* b =
      benchmark::RegisterBenchmark("FoE", ceres_wiberg::FoeDenoising, flags);
  b->ArgName("side")->UseManualTime()->Unit(benchmark::kSecond)->Iterations(1);
  for (int side : flags.sides) b->Arg(side);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
