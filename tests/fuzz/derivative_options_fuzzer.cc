// Fuzzes MinimiserDerivative::Options: every field from the input (raw bit
// patterns included), then IsValid. Options it accepts must run: Linearise
// and the Jacobian on a small solved problem, which must not crash (an
// invalid value that IsValid lets through is a bug).

#include <cstddef>
#include <cstdint>
#include <memory>

#include "ceres/ceres.h"
#include "ceres_wiberg/ceres_wiberg.h"
#include "fuzz_input.h"
#include "glog/logging.h"

namespace {

using ceres_wiberg::BilevelProblem;
using ceres_wiberg::MinimiserDerivative;

// r = (y - x, w .* y): a ridge-regularised mean, smooth in w.
struct Data {
  template <typename T>
  bool operator()(const T* y, T* r) const {
    r[0] = y[0] - T(x0);
    r[1] = y[1] - T(x1);
    return true;
  }
  double x0, x1;
};
struct Prior {
  template <typename T>
  bool operator()(const T* y, const T* w, T* r) const {
    r[0] = w[0] * y[0];
    r[1] = w[1] * y[1] * y[0];
    return true;
  }
};

struct SolvedProblem {
  SolvedProblem() {
    for (double x : {1.0, 2.0, 4.0}) {
      problem.AddResidualBlock(new ceres::AutoDiffCostFunction<Data, 2, 2>(new Data{x, -x}),
                               new ceres::HuberLoss(1.0), y);
    }
    problem.AddResidualBlock(new ceres::AutoDiffCostFunction<Prior, 2, 2, 2>(new Prior),
                             nullptr, y, w);
    CHECK(BilevelProblem::Create(&problem, {w}, &bilevel).ok());
    ceres::Solver::Summary summary;
    CHECK(bilevel->SolveInner(ceres_wiberg::TightSolverOptions(), &summary).ok());
  }
  double y[2] = {0.0, 0.0};
  double w[2] = {0.5, 0.3};
  ceres::Problem problem;
  std::unique_ptr<BilevelProblem> bilevel;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ceres_wiberg::fuzz::FuzzInput in(data, size);
  MinimiserDerivative::Options options;
  options.lambda = in.Double();
  options.damping = static_cast<ceres_wiberg::DampingType>(in.Int());
  options.hessian_model = static_cast<ceres_wiberg::HessianModel>(in.Int());
  options.final_newton_step = in.Bool();
  options.linear_solver_type = static_cast<ceres_wiberg::LinearSolverType>(in.Int());
  options.max_dense_size = in.Int();
  options.second_derivative_relative_step = in.Double();
  options.singular_tolerance = in.Double();
  options.max_exact_eigenvalue_size = in.Int();
  options.eigenvalue_iterations = in.Int();
  options.sparse_linear_algebra_library_type =
      static_cast<ceres_wiberg::SparseLinearAlgebraLibraryType>(in.Int());

  std::string error;
  if (!options.IsValid(&error)) {
    CHECK(!error.empty());
    return 0;
  }
  static SolvedProblem* solved = new SolvedProblem;
  // final_newton_step moves y: start every run from the same solution.
  double y[2] = {solved->y[0], solved->y[1]};
  MinimiserDerivative derivative(options);
  MinimiserDerivative::Summary summary;
  if (derivative.Linearise(solved->bilevel.get(), &summary).ok()) {
    Eigen::MatrixXd J;
    (void)derivative.Jacobian(&J);
    summary.FullReport();
  }
  solved->y[0] = y[0];
  solved->y[1] = y[1];
  return 0;
}
