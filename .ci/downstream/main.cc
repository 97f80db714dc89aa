// Differentiates y*(w) = argmin_y 1/2 (y - w)^2 + 1/2 y^2 = w / 2 through the
// installed library: dy*/dw = 1/2 at lambda = 0.
#include <cmath>
#include <cstdio>

#include "ceres/ceres.h"
#include "ceres_wiberg/ceres_wiberg.h"

struct Residual {
  template <typename T> bool operator()(const T* y, const T* w, T* r) const {
    r[0] = y[0] - w[0];
    r[1] = y[0];
    return true;
  }
};

int main() {
  double y[1] = {0.0}, w[1] = {3.0};
  ceres::Problem problem;
  problem.AddResidualBlock(new ceres::AutoDiffCostFunction<Residual, 2, 1, 1>(new Residual),
                           nullptr, y, w);
  std::unique_ptr<ceres_wiberg::BilevelProblem> bilevel;
  if (!ceres_wiberg::BilevelProblem::Create(&problem, {w}, &bilevel).ok()) return 1;
  ceres::Solver::Summary summary;
  if (!bilevel->SolveInner(ceres_wiberg::TightSolverOptions(), &summary).ok()) return 1;
  ceres_wiberg::MinimiserDerivative::Options options;
  options.lambda = 0.0;
  ceres_wiberg::MinimiserDerivative derivative(options);
  Eigen::MatrixXd J;
  if (!derivative.Linearise(bilevel.get(), nullptr).ok() || !derivative.Jacobian(&J).ok()) return 1;
  std::printf("downstream: y* = %.6f, dy*/dw = %.6f (expected 1.5, 0.5)\n", y[0], J(0, 0));
  // Ceres stops within its tolerances of y* (about 5e-9 here); dy*/dw is exact.
  return std::abs(J(0, 0) - 0.5) < 1e-9 && std::abs(y[0] - 1.5) < 1e-6 ? 0 : 1;
}
