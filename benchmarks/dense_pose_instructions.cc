// Repeatable instruction counts for the dense family at n_w = 50 (the
// configuration of the "100x faster than finite differences" target): one cold
// inner solve, one reverse-mode derivative (Linearise with the final Newton
// step + VectorJacobianProduct, EXACT/DENSE, lambda = 0) and one pair of
// the warm-started re-solves that central finite differences need per
// learnable coordinate (benchmark's fd_s: TightSolverOptions, step 1e-5).
//
// Run under callgrind, one phase at a time:
//   valgrind --tool=callgrind --toggle-collect='ceres_wiberg::MinimiserDerivative::*' \
//       build/benchmarks/dense_pose_instructions
//   valgrind --tool=callgrind --toggle-collect='ceres_wiberg::BilevelProblem::SolveInner*' \
//       build/benchmarks/dense_pose_instructions
// The second count covers the cold solve and the re-solve pair; the cold solve
// alone is the count with --cold_only. Finite differences over n_w
// coordinates cost n_w re-solve pairs.
#include <cmath>
#include <cstdio>
#include <cstring>

#include "dense_pose_energy.h"
#include "ceres_wiberg/minimiser_derivative.h"
#include "glog/logging.h"

int main(int argc, char** argv) {
  using namespace ceres_wiberg;  // NOLINT
  const bool cold_only = argc > 1 && std::strcmp(argv[1], "--cold_only") == 0;
  std::unique_ptr<dense_pose::PoseProblem> pose = dense_pose::MakePoseProblem(50);
  CHECK(pose != nullptr);
  BilevelProblem* bilevel = pose->bilevel.get();
  ceres::Solver::Summary summary;
  CHECK(bilevel->SolveInner(dense_pose::InnerSolverOptions(), &summary).ok());
  std::printf("cold solve: %d iterations\n", static_cast<int>(summary.iterations.size()));
  if (cold_only) return 0;

  MinimiserDerivative::Options options;
  options.lambda = 0.0;
  options.linear_solver_type = LinearSolverType::DENSE;
  options.final_newton_step = true;
  options.eigenvalue_iterations = 0;
  options.max_exact_eigenvalue_size = 0;
  MinimiserDerivative derivative(options);
  CHECK(derivative.Linearise(bilevel, nullptr).ok());
  Eigen::VectorXd gradient;
  CHECK(derivative
            .VectorJacobianProduct(Eigen::VectorXd::Ones(bilevel->num_inner_parameters()),
                                   &gradient)
            .ok());
  std::printf("reverse mode: |(dy*/dw)^T 1| = %.12g\n", gradient.norm());

  const Eigen::VectorXd y_star = bilevel->GetInnerValues();
  const Eigen::VectorXd w = bilevel->GetLearnableParameters();
  for (double sign : {1.0, -1.0}) {
    Eigen::VectorXd moved = w;
    moved[0] += sign * 1e-5 * std::max(1.0, std::abs(w[0]));
    bilevel->SetLearnableParameters(moved);
    bilevel->SetInnerValues(y_star);
    CHECK(bilevel->SolveInner(dense_pose::FiniteDifferenceSolverOptions(), &summary).ok());
    std::printf("re-solve at w_0 %+g h: %d iterations\n", sign,
                static_cast<int>(summary.iterations.size()));
  }
  return 0;
}
