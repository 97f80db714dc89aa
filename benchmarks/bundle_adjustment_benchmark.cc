// Bundle adjustment at scale: seeded synthetic scenes (examples/
// bundle_adjustment/lib/bal_scene.h) at the sizes --ba_sizes (cameras x
// points: 9 parameters per camera, 3 per point; default 40x4880, 80x13000,
// 120x36000, i.e. n_y = 1.5e4, 4.0e4, 1.09e5), every point seen by about
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
//    iterations): Linearise (assemble and factorise H + lambda D) and
//    VectorJacobianProduct, with the EXACT Hessian and with GAUSS_NEWTON
//    (--ba_hessian_models=EXACT,GAUSS_NEWTON, the default, or one of them),
//    for each sparse library of --ba_libraries (default SUITE_SPARSE, then
//    EIGEN_SPARSE: the counters of the first are unsuffixed, the others'
//    end in _cholmod / _eigen); linearise_hessian_s, linearise_factorisation_s
//    and linearise_symbolic_s split Linearise (both points of the final
//    Newton step summed);
//  - the EXACT gradient with the first library again on the same energy
//    written with ceres::AutoDiffCostFunction, whose residual curvature is
//    differenced (the energy's default, SnavelyCostFunction, evaluates it in
//    closed form, derived by hand): grad_differenced_s,
//    linearise_hessian_differenced_s, grad_differenced_over_iteration, and
//    dL_dw_differenced_difference (relative, closed form against differences);
//  - the same with the curvature by second-order autodiff
//    (AutoDiffSecondOrderCostFunction; the default is the hand-derived
//    SnavelyCostFunction): grad_autodiff_s, linearise_hessian_autodiff_s,
//    grad_autodiff_over_iteration, dL_dw_autodiff_difference (relative);
//  - the peak resident memory each phase adds (mem_*_MB);
//  - the derivative's linear solver (--ba_linear_solver, default AUTOMATIC;
//    SPARSE for the full factorisation): schur (1 where SPARSE_SCHUR ran,
//    for EXACT; schur_gn for GAUSS_NEWTON) and eliminated_parameters.
//
//   build/benchmarks/bundle_adjustment_benchmark --ba_max_iterations=500 \
//       --benchmark_out=benchmarks/results/bundle_adjustment.json --benchmark_out_format=json
//
// Not a ctest test: the largest scene (109,080 inner variables) takes minutes.

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

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

struct Size {
  int cameras;
  int points;
};

struct Flags {
  std::vector<Size> sizes = {{40, 4880}, {80, 13000}, {120, 36000}};
  double views = 6.0;
  int max_iterations = 500;
  std::vector<ceres_wiberg::SparseLinearAlgebraLibraryType> libraries = {
      ceres_wiberg::SparseLinearAlgebraLibraryType::SUITE_SPARSE,
      ceres_wiberg::SparseLinearAlgebraLibraryType::EIGEN_SPARSE};
  // The Hessian models whose gradients are measured (--ba_hessian_models,
  // e.g. GAUSS_NEWTON alone to profile it); the other's counters are 0.
  bool exact = true;
  bool gauss_newton = true;
  ceres_wiberg::LinearSolverType linear_solver = ceres_wiberg::LinearSolverType::AUTOMATIC;
};

// The counters' suffix of a library that is not the first of --ba_libraries.
std::string LibrarySuffix(ceres_wiberg::SparseLinearAlgebraLibraryType library) {
  return library == ceres_wiberg::SparseLinearAlgebraLibraryType::SUITE_SPARSE ? "_cholmod"
                                                                              : "_eigen";
}

void Check(const Status& status, const char* what) {
  if (!status.ok()) {
    std::fprintf(stderr, "%s: %s\n", what, status.ToString().c_str());
    std::exit(1);
  }
}

void BundleAdjustment(benchmark::State& state, const Flags& flags, const Size& size) {
  for (auto _ : state) {
    bundle_adjustment::SceneOptions scene_options;
    scene_options.num_cameras = size.cameras;
    scene_options.num_points = size.points;
    scene_options.visibility = flags.views / size.cameras;
    bundle_adjustment::Scene scene;
    Check(bundle_adjustment::GenerateScene(scene_options, &scene), "scene");
    // A model that is not the initial one: noisy cameras down-weighted.
    BaModel model = BaModel::Initial(size.cameras);
    model.scale = 1.0;
    for (int i = 0; i < size.cameras; ++i) {
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
            bundle_adjustment::SnavelyReprojectionError::Create(
                o.x, o.y, bundle_adjustment::ReprojectionCurvature::DIFFERENCED),
            new ceres::ScaledLoss(new ceres::SoftLOneLoss(model.scale),
                                  model.camera_weights[o.camera], ceres::TAKE_OWNERSHIP),
            solved.mutable_camera(o.camera), solved.mutable_point(o.point));
      }
      const double t0 = benchmark_measure::Now();
      ceres::Solve(solver_options, &problem, &summary);
      solve_s = benchmark_measure::Now() - t0;
    });
    for (int i = 0; i < size.cameras; ++i) {
      std::copy(solved.camera(i), solved.camera(i) + 9, energy->camera(i));
    }
    for (int j = 0; j < size.points; ++j) {
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
    dL_dy.tail(3 * size.points) = rmse * Eigen::Map<const Eigen::VectorXd>(gradient.data(),
                                                                              gradient.size());
    const Eigen::VectorXd y_solved = energy->bilevel()->GetInnerValues();

    // Linearise's refusal (e.g. an indefinite exact H where LM stopped short
    // of the minimum) is recorded (*_ok = 0, with the message on stderr), not
    // fatal: its time is still measured.
    struct Run {
      double linearise_s = 0.0, vjp_s = 0.0, mem_MB = 0.0;
      MinimiserDerivative::Summary summary;
      bool ok = false;
      Eigen::VectorXd dL_dw;
    };
    auto derivative_run = [&](ceres_wiberg::HessianModel model_type,
                              ceres_wiberg::SparseLinearAlgebraLibraryType library, Run* run,
                              BaEnergy* on = nullptr) {
      if (!(model_type == ceres_wiberg::HessianModel::EXACT ? flags.exact : flags.gauss_newton)) {
        return;
      }
      BaEnergy* energy_run = on != nullptr ? on : energy.get();
      energy_run->bilevel()->SetInnerValues(y_solved);
      MinimiserDerivative::Options options = bundle_adjustment::BaLearningDerivativeOptions();
      options.hessian_model = model_type;
      options.sparse_linear_algebra_library_type = library;
      options.linear_solver_type = flags.linear_solver;
      MinimiserDerivative derivative(options);
      run->mem_MB = benchmark_measure::PeakIncreaseMb([&] {
        const double t0 = benchmark_measure::Now();
        const Status status = derivative.Linearise(energy_run->bilevel(), &run->summary);
        const double t1 = benchmark_measure::Now();
        run->linearise_s = t1 - t0;
        run->ok = status.ok();
        if (!status.ok()) {
          std::fprintf(stderr, "%s %s Linearise: %s\n",
                       ceres_wiberg::HessianModelToString(model_type),
                       ceres_wiberg::SparseLinearAlgebraLibraryTypeToString(library),
                       status.ToString().c_str());
          return;
        }
        Check(derivative.VectorJacobianProduct(dL_dy, &run->dL_dw), "VectorJacobianProduct");
        run->vjp_s = benchmark_measure::Now() - t1;
        benchmark::DoNotOptimize(run->dL_dw.data());
      });
    };
    const double per_iteration_s = solve_s / std::max(1.0, iterations);
    Run first_exact;
    for (size_t l = 0; l < flags.libraries.size(); ++l) {
      const std::string suffix = l == 0 ? "" : LibrarySuffix(flags.libraries[l]);
      Run exact, gn;
      derivative_run(ceres_wiberg::HessianModel::EXACT, flags.libraries[l], &exact);
      derivative_run(ceres_wiberg::HessianModel::GAUSS_NEWTON, flags.libraries[l], &gn);
      auto counter = [&](const std::string& name, double value) {
        state.counters[name + suffix] = value;
      };
      counter("exact_ok", exact.ok);
      counter("gn_ok", gn.ok);
      counter("grad_s", exact.linearise_s + exact.vjp_s);
      counter("linearise_s", exact.linearise_s);
      counter("linearise_evaluation_s", exact.summary.evaluation_time_in_seconds);
      counter("linearise_hessian_s", exact.summary.hessian_time_in_seconds);
      counter("linearise_factorisation_s", exact.summary.factorisation_time_in_seconds);
      counter("linearise_symbolic_s", exact.summary.symbolic_analysis_time_in_seconds);
      counter("vjp_s", exact.vjp_s);
      counter("grad_gn_s", gn.linearise_s + gn.vjp_s);
      counter("linearise_gn_s", gn.linearise_s);
      counter("linearise_hessian_gn_s", gn.summary.hessian_time_in_seconds);
      counter("linearise_factorisation_gn_s", gn.summary.factorisation_time_in_seconds);
      counter("vjp_gn_s", gn.vjp_s);
      counter("grad_over_iteration", (exact.linearise_s + exact.vjp_s) / per_iteration_s);
      counter("grad_gn_over_iteration", (gn.linearise_s + gn.vjp_s) / per_iteration_s);
      counter("schur", exact.summary.linear_solver_type ==
                           ceres_wiberg::LinearSolverType::SPARSE_SCHUR);
      counter("schur_gn", gn.summary.linear_solver_type ==
                              ceres_wiberg::LinearSolverType::SPARSE_SCHUR);
      counter("eliminated_parameters", std::max(exact.summary.num_eliminated_parameters,
                                                gn.summary.num_eliminated_parameters));
      counter("mem_grad_MB", exact.mem_MB);
      counter("mem_grad_gn_MB", gn.mem_MB);
      if (l == 0) {
        // The EXACT gradient with the reprojection errors' curvature
        // differenced (plain AutoDiffCostFunction: *_differenced_*) and by
        // second-order autodiff (AutoDiffSecondOrderCostFunction of the same
        // functor, the generic route: *_autodiff_*) instead of the energy's
        // default, SnavelyCostFunction (hand-derived). dL/dw the same up to
        // the differences' error, and to round-off.
        const std::pair<bundle_adjustment::ReprojectionCurvature, std::string> variants[] = {
            {bundle_adjustment::ReprojectionCurvature::DIFFERENCED, "differenced"},
            {bundle_adjustment::ReprojectionCurvature::AUTODIFF, "autodiff"}};
        for (const auto& [curvature, name] : variants) {
          BaEnergyOptions variant_options = energy_options;
          variant_options.curvature = curvature;
          std::unique_ptr<BaEnergy> variant;
          Check(BaEnergy::Create(scene.initial, variant_options, model, &variant),
                ("energy (" + name + " curvature)").c_str());
          Run run;
          derivative_run(ceres_wiberg::HessianModel::EXACT, flags.libraries[l], &run,
                         variant.get());
          counter("grad_" + name + "_s", run.linearise_s + run.vjp_s);
          counter("linearise_hessian_" + name + "_s", run.summary.hessian_time_in_seconds);
          counter("grad_" + name + "_over_iteration",
                  (run.linearise_s + run.vjp_s) / per_iteration_s);
          if (run.ok && exact.ok) {
            counter("dL_dw_" + name + "_difference",
                    (run.dL_dw - exact.dL_dw).norm() / exact.dL_dw.norm());
          }
        }
        state.SetIterationTime(exact.linearise_s + exact.vjp_s);
        state.counters["gradient_max_at_solve"] =
            exact.summary.gradient_max_norm_before_newton_step;
        first_exact = std::move(exact);
      } else if (first_exact.ok && exact.ok) {
        // The libraries' EXACT gradients dL/dw: the same to round-off.
        counter("dL_dw_difference", (exact.dL_dw - first_exact.dL_dw).norm() /
                                        first_exact.dL_dw.norm());
      }
    }

    state.counters["cameras"] = size.cameras;
    state.counters["points"] = size.points;
    state.counters["observations"] = scene.initial.num_observations();
    state.counters["n_y"] = n_y;
    state.counters["n_w"] = n_w;
    state.counters["build_s"] = build_s;
    state.counters["solve_s"] = solve_s;
    state.counters["solve_iterations"] = iterations;
    state.counters["solve_per_iteration_s"] = per_iteration_s;
    state.counters["solve_converged"] = summary.termination_type == ceres::CONVERGENCE ? 1 : 0;
    state.counters["initial_cost"] = summary.initial_cost;
    state.counters["final_cost"] = summary.final_cost;
    state.counters["rmse"] = rmse;
    state.counters["mem_build_MB"] = mem_build;
    state.counters["mem_solve_MB"] = mem_solve;
    state.counters["peak_rss_MB"] = benchmark_measure::ReadStatusKb("VmHWM:") / 1024.0;
  }
}

// "40x4880,80x13000" -> sizes; false if malformed.
bool ParseSizes(const std::string& text, std::vector<Size>* sizes) {
  sizes->clear();
  std::stringstream list(text);
  std::string item;
  while (std::getline(list, item, ',')) {
    const size_t x = item.find('x');
    if (x == std::string::npos) return false;
    sizes->push_back({std::stoi(item.substr(0, x)), std::stoi(item.substr(x + 1))});
  }
  return !sizes->empty();
}

bool ParseLibraries(const std::string& text,
                    std::vector<ceres_wiberg::SparseLinearAlgebraLibraryType>* libraries) {
  libraries->clear();
  std::stringstream list(text);
  std::string item;
  while (std::getline(list, item, ',')) {
    ceres_wiberg::SparseLinearAlgebraLibraryType library;
    if (!ceres_wiberg::StringToSparseLinearAlgebraLibraryType(item, &library)) return false;
    libraries->push_back(library);
  }
  return !libraries->empty();
}

// "EXACT,GAUSS_NEWTON" -> which models; false if malformed or empty.
bool ParseModels(const std::string& text, bool* exact, bool* gauss_newton) {
  *exact = *gauss_newton = false;
  std::stringstream list(text);
  std::string item;
  while (std::getline(list, item, ',')) {
    ceres_wiberg::HessianModel model;
    if (!ceres_wiberg::StringToHessianModel(item, &model)) return false;
    (model == ceres_wiberg::HessianModel::EXACT ? *exact : *gauss_newton) = true;
  }
  return *exact || *gauss_newton;
}

// Consumes the --ba_* flags from argv.
bool ParseFlags(int* argc, char** argv, Flags* flags) {
  bool sizes_ok = true, libraries_ok = true, models_ok = true, solver_ok = true;
  if (!benchmark_measure::ConsumeFlags(
          argc, argv,
          {{"ba_sizes",
            [flags, &sizes_ok](const std::string& v) { sizes_ok = ParseSizes(v, &flags->sizes); }},
           {"ba_libraries",
            [flags, &libraries_ok](const std::string& v) {
              libraries_ok = ParseLibraries(v, &flags->libraries);
            }},
           {"ba_views", [flags](const std::string& v) { flags->views = std::stod(v); }},
           {"ba_hessian_models",
            [flags, &models_ok](const std::string& v) {
              models_ok = ParseModels(v, &flags->exact, &flags->gauss_newton);
            }},
           {"ba_linear_solver",
            [flags, &solver_ok](const std::string& v) {
              solver_ok = ceres_wiberg::StringToLinearSolverType(v, &flags->linear_solver) &&
                          flags->linear_solver != ceres_wiberg::LinearSolverType::DENSE;
            }},
           {"ba_max_iterations",
            [flags](const std::string& v) { flags->max_iterations = std::stoi(v); }}})) {
    return false;
  }
  bool sizes_valid = sizes_ok;
  for (const Size& size : flags->sizes) {
    sizes_valid = sizes_valid && size.cameras >= 2 && size.points >= 3 &&
                  flags->views <= size.cameras;
  }
  if (!sizes_valid || !libraries_ok || !models_ok || !solver_ok || !(flags->views >= 2.0) ||
      flags->max_iterations < 1) {
    std::fprintf(stderr,
                 "need --ba_sizes=CAMERASxPOINTS,... (cameras >= 2, points >= 3), "
                 "--ba_libraries=SUITE_SPARSE,EIGEN_SPARSE (one or both), "
                 "--ba_hessian_models=EXACT,GAUSS_NEWTON (one or both), "
                 "--ba_linear_solver=AUTOMATIC|SPARSE|SPARSE_SCHUR, "
                 "2 <= --ba_views <= cameras, --ba_max_iterations >= 1\n");
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
                              "lambda 0.1, HESSIAN_DIAGONAL, EXACT (and GAUSS_NEWTON: *_gn_*), " +
                              std::string(ceres_wiberg::LinearSolverTypeToString(
                                  flags.linear_solver)) +
                                  " (sparse), final_newton_step, "
                                  "eigenvalue_iterations 0; reverse mode");
  std::string libraries;
  for (ceres_wiberg::SparseLinearAlgebraLibraryType library : flags.libraries) {
    libraries += std::string(libraries.empty() ? "" : ", ") +
                 ceres_wiberg::SparseLinearAlgebraLibraryTypeToString(library);
  }
  benchmark::AddCustomContext("sparse_libraries", libraries);
  for (const Size& size : flags.sizes) {
    benchmark::RegisterBenchmark(("BundleAdjustment/n_y:" +
                                  std::to_string(9 * size.cameras + 3 * size.points))
                                     .c_str(),
                                 BundleAdjustment, flags, size)
        ->UseManualTime()
        ->Unit(benchmark::kSecond)
        ->Iterations(1);
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
