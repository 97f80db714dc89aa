// Bundle adjustment at scale: a seeded synthetic scene (examples/
// bundle_adjustment/lib/bal_scene.h) of --ba_cameras cameras (9 parameters
// each) and --ba_points points (3 each), every point seen by about
// --ba_views cameras, 5% gross outliers, some cameras noisier than others;
// the learnt energy of the example (pseudo-Huber with a learnable scale and a
// weight per camera, LearnableLossCostFunction), every block free (7-dof
// gauge). Measured:
//
//  - the inner solve: Ceres LM with SPARSE_SCHUR (points eliminated), one
//    thread, from the scene's initial estimates, at most
//    --ba_max_iterations iterations, on the energy written with Ceres' own
//    losses (ScaledLoss(SoftLOneLoss(a), m_c): the same function):
//    solve_s, iterations, solve_per_iteration_s;
//  - the gradient of the example's outer loss (aligned point RMSE) with
//    respect to w = (scale, weights), reverse mode, as the learner uses it
//    (lambda = 0.1, D = diag(H), final Newton step, no eigenvalue
//    iterations): Linearise (assemble and factorise H + lambda D, sparse
//    LDL^T) and VectorJacobianProduct, with the EXACT Hessian and with
//    GAUSS_NEWTON;
//  - the peak resident memory each phase adds (mem_*_MB).
//
//   build/benchmarks/bundle_adjustment_benchmark --ba_cameras=120 --ba_points=36000 \
//       --benchmark_out=benchmarks/results/bundle_adjustment.json --benchmark_out_format=json
//
// Not a ctest test: the default scene (109,080 inner variables) takes minutes.

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "aligned_point_error.h"
#include "ba_energy.h"
#include "ba_learning.h"
#include "ceres/ceres.h"
#include "snavely_reprojection_error.h"
#include "bal_scene.h"
#include "benchmark/benchmark.h"
#include "ceres_wiberg/minimiser_derivative.h"
#include "ceres_wiberg/types.h"
#include "glog/logging.h"
#include "measure.h"

namespace {

using bundle_adjustment::BaEnergy;
using bundle_adjustment::BaEnergyOptions;
using bundle_adjustment::BaModel;
using ceres_wiberg::MinimiserDerivative;
using ceres_wiberg::Status;

struct Flags {
  int cameras = 120;
  int points = 36000;
  double views = 6.0;
  int max_iterations = 100;
};

void Check(const Status& status, const char* what) {
  if (!status.ok()) {
    std::fprintf(stderr, "%s: %s\n", what, status.ToString().c_str());
    std::exit(1);
  }
}

void BundleAdjustment(benchmark::State& state, const Flags& flags) {
  for (auto _ : state) {
    bundle_adjustment::SceneOptions scene_options;
    scene_options.num_cameras = flags.cameras;
    scene_options.num_points = flags.points;
    scene_options.visibility = flags.views / flags.cameras;
    bundle_adjustment::Scene scene;
    Check(bundle_adjustment::GenerateScene(scene_options, &scene), "scene");
    // A model that is not the initial one: noisy cameras down-weighted.
    BaModel model = BaModel::Initial(flags.cameras);
    model.scale = 1.0;
    for (int i = 0; i < flags.cameras; ++i) {
      model.camera_weights[i] = scene.camera_pixel_noise[i] > scene_options.pixel_noise ? 0.3 : 1.0;
    }
    BaEnergyOptions energy_options;
    energy_options.newton_polish = false;
    std::unique_ptr<BaEnergy> energy;
    double build_s = 0.0;
    const double mem_build = benchmark_measure::PeakIncreaseMb([&] {
      const double t0 = benchmark_measure::Now();
      Check(BaEnergy::Create(scene.initial, energy_options, model, &energy), "energy");
      build_s = benchmark_measure::Now() - t0;
    });
    const int n_y = energy->bilevel()->num_inner_parameters();
    const int n_w = energy->bilevel()->num_learnable_parameters();

    // The inner solve on the same energy written as a BA user writes it:
    // ceres::ScaledLoss(SoftLOneLoss(a), m_c) on each reprojection error, so
    // that Ceres' LM uses its robustified Gauss-Newton model (on the
    // LearnableLossCostFunction form it converges only linearly). The
    // solution is then copied into the learnable energy, which is the same
    // function of the cameras and points.
    ceres::Solver::Options solver_options = bundle_adjustment::BaSolverOptions();
    solver_options.max_num_iterations = flags.max_iterations;
    ceres::Solver::Summary summary;
    double solve_s = 0.0;
    bundle_adjustment::BalProblem solved = scene.initial;
    const double mem_solve = benchmark_measure::PeakIncreaseMb([&] {
      ceres::Problem problem;
      for (const bundle_adjustment::BalObservation& o : solved.observations) {
        problem.AddResidualBlock(
            bundle_adjustment::SnavelyReprojectionError::Create(o.x, o.y),
            new ceres::ScaledLoss(new ceres::SoftLOneLoss(model.scale),
                                  model.camera_weights[o.camera], ceres::TAKE_OWNERSHIP),
            solved.mutable_camera(o.camera), solved.mutable_point(o.point));
      }
      const double t0 = benchmark_measure::Now();
      ceres::Solve(solver_options, &problem, &summary);
      solve_s = benchmark_measure::Now() - t0;
    });
    for (int i = 0; i < flags.cameras; ++i) {
      std::copy(solved.camera(i), solved.camera(i) + 9, energy->camera(i));
    }
    for (int j = 0; j < flags.points; ++j) {
      std::copy(solved.point(j), solved.point(j) + 3, energy->point(j));
    }
    const double iterations = static_cast<double>(summary.iterations.size()) - 1.0;

    // dL/dy of the outer loss 1/2 RMSE^2 (envelope gradient), in y's order:
    // cameras first (zero), then points.
    double rmse = 0.0;
    Eigen::Matrix3Xd gradient;
    Check(bundle_adjustment::AlignedPointError(energy->Points(),
                                               bundle_adjustment::PointMatrix(scene.truth), &rmse,
                                               &gradient),
          "outer loss");
    Eigen::VectorXd dL_dy = Eigen::VectorXd::Zero(n_y);
    dL_dy.tail(3 * flags.points) = rmse * Eigen::Map<const Eigen::VectorXd>(gradient.data(),
                                                                              gradient.size());
    const Eigen::VectorXd y_solved = energy->bilevel()->GetInnerValues();

    // Linearise's refusal (e.g. an indefinite exact H where LM stopped short
    // of the minimum) is recorded (*_ok = 0, with the message on stderr), not
    // fatal: its time is still measured.
    auto derivative_run = [&](ceres_wiberg::HessianModel model_type, double* linearise_s,
                              double* vjp_s, double* mem, MinimiserDerivative::Summary* out,
                              bool* ok) {
      energy->bilevel()->SetInnerValues(y_solved);
      MinimiserDerivative::Options options = bundle_adjustment::BaLearningDerivativeOptions();
      options.hessian_model = model_type;
      MinimiserDerivative derivative(options);
      *mem = benchmark_measure::PeakIncreaseMb([&] {
        const double t0 = benchmark_measure::Now();
        const Status status = derivative.Linearise(energy->bilevel(), out);
        const double t1 = benchmark_measure::Now();
        *linearise_s = t1 - t0;
        *ok = status.ok();
        if (!status.ok()) {
          std::fprintf(stderr, "%s Linearise: %s\n", ceres_wiberg::HessianModelToString(model_type),
                       status.ToString().c_str());
          return;
        }
        Eigen::VectorXd dL_dw;
        Check(derivative.VectorJacobianProduct(dL_dy, &dL_dw), "VectorJacobianProduct");
        *vjp_s = benchmark_measure::Now() - t1;
        benchmark::DoNotOptimize(dL_dw.data());
      });
    };
    double linearise_s = 0, vjp_s = 0, mem_grad = 0;
    double linearise_gn_s = 0, vjp_gn_s = 0, mem_grad_gn = 0;
    MinimiserDerivative::Summary exact_summary, gn_summary;
    bool exact_ok = false, gn_ok = false;
    derivative_run(ceres_wiberg::HessianModel::EXACT, &linearise_s, &vjp_s, &mem_grad,
                   &exact_summary, &exact_ok);
    derivative_run(ceres_wiberg::HessianModel::GAUSS_NEWTON, &linearise_gn_s, &vjp_gn_s,
                   &mem_grad_gn, &gn_summary, &gn_ok);
    state.counters["exact_ok"] = exact_ok;
    state.counters["gn_ok"] = gn_ok;
    state.SetIterationTime(linearise_s + vjp_s);

    state.counters["cameras"] = flags.cameras;
    state.counters["points"] = flags.points;
    state.counters["observations"] = scene.initial.num_observations();
    state.counters["n_y"] = n_y;
    state.counters["n_w"] = n_w;
    state.counters["build_s"] = build_s;
    state.counters["solve_s"] = solve_s;
    state.counters["solve_iterations"] = iterations;
    state.counters["solve_per_iteration_s"] = solve_s / std::max(1.0, iterations);
    state.counters["solve_converged"] = summary.termination_type == ceres::CONVERGENCE ? 1 : 0;
    state.counters["initial_cost"] = summary.initial_cost;
    state.counters["final_cost"] = summary.final_cost;
    state.counters["rmse"] = rmse;
    state.counters["gradient_max_at_solve"] = exact_summary.gradient_max_norm_before_newton_step;
    state.counters["grad_s"] = linearise_s + vjp_s;
    state.counters["linearise_s"] = linearise_s;
    state.counters["linearise_evaluation_s"] = exact_summary.evaluation_time_in_seconds;
    state.counters["linearise_factorisation_s"] = exact_summary.factorisation_time_in_seconds;
    state.counters["vjp_s"] = vjp_s;
    state.counters["grad_gn_s"] = linearise_gn_s + vjp_gn_s;
    state.counters["linearise_gn_s"] = linearise_gn_s;
    state.counters["vjp_gn_s"] = vjp_gn_s;
    state.counters["grad_over_iteration"] =
        (linearise_s + vjp_s) / (solve_s / std::max(1.0, iterations));
    state.counters["grad_gn_over_iteration"] =
        (linearise_gn_s + vjp_gn_s) / (solve_s / std::max(1.0, iterations));
    state.counters["mem_build_MB"] = mem_build;
    state.counters["mem_solve_MB"] = mem_solve;
    state.counters["mem_grad_MB"] = mem_grad;
    state.counters["mem_grad_gn_MB"] = mem_grad_gn;
    state.counters["peak_rss_MB"] = benchmark_measure::ReadStatusKb("VmHWM:") / 1024.0;
  }
}

// Consumes the --ba_* flags from argv.
bool ParseFlags(int* argc, char** argv, Flags* flags) {
  if (!benchmark_measure::ConsumeFlags(
          argc, argv,
          {{"ba_cameras", [flags](const std::string& v) { flags->cameras = std::stoi(v); }},
           {"ba_points", [flags](const std::string& v) { flags->points = std::stoi(v); }},
           {"ba_views", [flags](const std::string& v) { flags->views = std::stod(v); }},
           {"ba_max_iterations",
            [flags](const std::string& v) { flags->max_iterations = std::stoi(v); }}})) {
    return false;
  }
  if (flags->cameras < 2 || flags->points < 3 || !(flags->views >= 2.0) ||
      flags->views > flags->cameras || flags->max_iterations < 1) {
    std::fprintf(stderr, "need --ba_cameras >= 2, --ba_points >= 3, 2 <= --ba_views <= "
                         "--ba_cameras, --ba_max_iterations >= 1\n");
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  static Flags flags;
  // Ceres' LM warns each time CHOLMOD refuses a step on the free-gauge
  // system and LM raises its damping; keep errors only.
  FLAGS_minloglevel = 2;
  if (!ParseFlags(&argc, argv, &flags)) return 1;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("inner_solver",
                              "LM, SPARSE_SCHUR, ftol 1e-12, gtol 1e-12, ptol 1e-10, max " +
                                  std::to_string(flags.max_iterations) +
                                  " iterations, 1 thread");
  benchmark::AddCustomContext("derivative",
                              "lambda 0.1, HESSIAN_DIAGONAL, EXACT (and GAUSS_NEWTON: *_gn_*), "
                              "AUTOMATIC (sparse LDL^T), final_newton_step, "
                              "eigenvalue_iterations 0; reverse mode");
  benchmark::RegisterBenchmark("BundleAdjustment", BundleAdjustment, flags)
      ->UseManualTime()
      ->Unit(benchmark::kSecond)
      ->Iterations(1);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
