// cold_solve_profile: one cold inner solve of the denoise_foe demo, timed, to
// see what limits the demo's image size (README "Larger images").
//
// Denoises held-out image 0 of the demo (SyntheticImage, seed 1 + 1000000,
// noise sigma 20, --size x --size pixels) with Roth's 5x5 model (--foe_file)
// from the noisy image, with one of
//   LM      the demo's solve: Ceres LM, SPARSE_NORMAL_CHOLESKY, on the stacked
//           form (DenoisingSolverOptions, --max_iterations);
//   CGNR    the same with Ceres' inexact (conjugate-gradient) LM steps;
//   LBFGS   Ceres' line search, L-BFGS (same tolerances);
//   NEWTON  NewtonPolish (the library's damped Newton on the exact Hessian,
//           DampedNewtonOptions' defaults, --max_iterations, |g|_inf <= 1e-6)
//           on the bilevel problem (one residual block per expert), after
//           --lm_iterations iterations of LM as above (0: from the noisy
//           image);
// and prints the wall time, Ceres' FullReport or the descent's report, the
// final energy and the PSNR. Run it from the repository root, under the
// build lock:
//   build/examples/denoise_foe/cold_solve_profile --size=64 --solver=LM

#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "ceres/ceres.h"
#include "ceres_wiberg/bilevel_problem.h"
#include "ceres_wiberg/newton_polish.h"
#include "foe_energy.h"
#include "foe_learning.h"
#include "gflags/gflags.h"
#include "image.h"
#include "synthetic_images.h"

DEFINE_string(foe_file, "../shared/data/ceres_foe/5x5.foe", "The model (a Ceres .foe file).");
DEFINE_int32(size, 64, "Side of the image (pixels).");
DEFINE_string(solver, "LM", "LM, CGNR, LBFGS or NEWTON.");
DEFINE_int32(max_iterations, 1000, "Iteration limit of the solve.");
DEFINE_int32(lm_iterations, 0, "NEWTON: LM iterations before the descent.");

namespace denoise_foe {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

int Run() {
  FieldsOfExperts foe;
  ceres_wiberg::Status status = ReadFieldsOfExperts(FLAGS_foe_file, &foe);
  if (!status.ok()) {
    std::cerr << status.ToString() << "\n";
    return 1;
  }
  SyntheticImageOptions image_options;
  image_options.width = image_options.height = FLAGS_size;
  const NoisyPair pair = MakeNoisyPairs(image_options, 1, 1 + 1000000, 20.0)[0];
  Image restored = pair.noisy;
  if (FLAGS_solver != "NEWTON") {
    ceres::Solver::Options options = DenoisingSolverOptions();
    options.max_num_iterations = FLAGS_max_iterations;
    if (FLAGS_solver == "CGNR") {
      options.linear_solver_type = ceres::CGNR;
    } else if (FLAGS_solver == "LBFGS") {
      options.minimizer_type = ceres::LINE_SEARCH;
    } else if (FLAGS_solver != "LM") {
      std::cerr << "unknown --solver " << FLAGS_solver << "\n";
      return 1;
    }
    ceres::Solver::Summary summary;
    const Clock::time_point start = Clock::now();
    status = Denoise(pair.noisy, foe, 20.0, options, &restored, &summary);
    const double seconds = SecondsSince(start);
    if (!status.ok()) {
      std::cerr << status.ToString() << "\n";
      return 1;
    }
    std::cout << summary.FullReport() << "\n";
    std::printf("wall %.3f s, %d iterations, energy %.9g\n", seconds,
                static_cast<int>(summary.iterations.size()) - 1, summary.final_cost);
  } else {
    ceres::Problem::Options problem_options;
    problem_options.enable_fast_removal = true;
    ceres::Problem problem(problem_options);
    FoeParameters parameters;
    BuildFoeProblem(pair.noisy, foe, FoeProblemOptions(), &parameters, &problem);
    ceres_wiberg::BilevelProblem::Options bilevel_options;
    bilevel_options.inner_parameter_blocks = PixelBlocks(&parameters);
    std::unique_ptr<ceres_wiberg::BilevelProblem> bilevel;
    status = ceres_wiberg::BilevelProblem::Create(&problem, LearnableBlocks(&parameters),
                                                  bilevel_options, &bilevel);
    if (status.ok() && FLAGS_lm_iterations > 0) {
      ceres::Problem stacked;
      BuildStackedFoeProblem(pair.noisy, foe, 20.0, &parameters, &stacked);
      ceres::Solver::Options lm_options = DenoisingSolverOptions();
      lm_options.max_num_iterations = FLAGS_lm_iterations;
      ceres::Solver::Summary lm_summary;
      const Clock::time_point start = Clock::now();
      ceres::Solve(lm_options, &stacked, &lm_summary);
      std::printf("LM: %.3f s, %d iterations, energy %.9g\n", SecondsSince(start),
                  static_cast<int>(lm_summary.iterations.size()) - 1, lm_summary.final_cost);
    }
    ceres_wiberg::NewtonPolish::Options options;
    options.derivative_options = LearningDerivativeOptions();
    options.max_num_iterations = FLAGS_max_iterations;
    options.gradient_tolerance = 1e-6;
    ceres_wiberg::NewtonPolish::Summary summary;
    const Clock::time_point start = Clock::now();
    if (status.ok()) status = ceres_wiberg::NewtonPolish::Polish(options, bilevel.get(), &summary);
    const double seconds = SecondsSince(start);
    if (!status.ok()) {
      std::cerr << status.ToString() << "\n";
      return 1;
    }
    std::cout << summary.FullReport() << "\n";
    std::printf("wall %.3f s, %d iterations, energy %.9g\n", seconds, summary.iterations,
                summary.final_cost);
    restored.pixels = parameters.pixels;
  }
  std::printf("PSNR noisy %.4f dB, restored %.4f dB\n", Psnr(pair.noisy, pair.clean),
              Psnr(restored, pair.clean));
  return 0;
}

}  // namespace
}  // namespace denoise_foe

int main(int argc, char** argv) {
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  return denoise_foe::Run();
}
