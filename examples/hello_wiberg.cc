// hello_wiberg: learn the two weights of a tiny energy so that its minimiser
// hits a target, with Ceres as the outer solver (Wiberg's algorithm).
//
//   inner:  y*(w) = argmin_y 1/2 sum_i |y - x_i|^2 + 1/2 |diag(w) y|^2
//   outer:  min_w  1/2 |y*(w) - target|^2,  target = y*(2, 3)
//
// The inner problem is an ordinary ceres::Problem; BilevelExample pairs it
// with the outer loss and WibergCostFunction hands y*(w) and dy*/dw to Ceres.
#include <cstdio>
#include <memory>

#include "ceres/ceres.h"
#include "ceres_wiberg/ceres_wiberg.h"
#include "glog/logging.h"

struct DataTerm {  // y - x
  explicit DataTerm(Eigen::Vector2d x) : x(x) {}
  template <typename T> bool operator()(const T* y, T* r) const {
    r[0] = y[0] - x[0];
    r[1] = y[1] - x[1];
    return true;
  }
  Eigen::Vector2d x;
};
struct PriorTerm {  // diag(w) y
  template <typename T> bool operator()(const T* y, const T* w, T* r) const {
    r[0] = w[0] * y[0];
    r[1] = w[1] * y[1];
    return true;
  }
};

bool Failed(const ceres_wiberg::Status& status) {
  if (!status.ok()) std::fprintf(stderr, "%s\n", status.ToString().c_str());
  return !status.ok();
}

int main(int argc, char** argv) {
  google::InitGoogleLogging(argv[0]);
  double y[2] = {0.0, 0.0};
  double w[2] = {2.0, 3.0};  // the true weights, to make the target
  ceres::Problem inner;
  for (Eigen::Vector2d x : {Eigen::Vector2d(4, 1), Eigen::Vector2d(5, 3), Eigen::Vector2d(6, 2)}) {
    inner.AddResidualBlock(new ceres::AutoDiffCostFunction<DataTerm, 2, 2>(new DataTerm(x)),
                           nullptr, y);
  }
  inner.AddResidualBlock(new ceres::AutoDiffCostFunction<PriorTerm, 2, 2, 2>(new PriorTerm),
                         nullptr, y, w);
  std::unique_ptr<ceres_wiberg::BilevelProblem> bilevel;
  ceres::Solver::Summary inner_summary;
  if (Failed(ceres_wiberg::BilevelProblem::Create(&inner, {w}, &bilevel)) ||
      Failed(bilevel->SolveInner(ceres_wiberg::TightSolverOptions(), &inner_summary))) {
    return 1;
  }
  const Eigen::Vector2d target(y[0], y[1]);
  y[0] = y[1] = 0.0;

  // The outer loss r = y* - target: an ordinary cost function on y.
  std::unique_ptr<ceres_wiberg::BilevelExample> example;
  if (Failed(ceres_wiberg::BilevelExample::Create(
          bilevel.get(), new ceres::AutoDiffCostFunction<DataTerm, 2, 2>(new DataTerm(target)),
          ceres::TAKE_OWNERSHIP, {y}, ceres_wiberg::BilevelExample::Options(), &example))) {
    return 1;
  }
  double w_learned[2] = {0.5, 0.5};  // the outer block: storage separate from w
  ceres::Problem outer;
  outer.AddResidualBlock(new ceres_wiberg::WibergCostFunction(example.get()), nullptr, w_learned);
  outer.SetParameterLowerBound(w_learned, 0, 0.0);
  outer.SetParameterLowerBound(w_learned, 1, 0.0);
  ceres::Solver::Options options;
  ceres::Solver::Summary summary;
  ceres::Solve(options, &outer, &summary);

  std::printf("%s\n", summary.BriefReport().c_str());
  std::printf("last inner solve: %s\n", example->last_inner_summary().BriefReport().c_str());
  std::printf("last derivative: %s\n", example->last_derivative_summary().BriefReport().c_str());
  std::printf("w[0] : 0.5 -> %g   (truth 2)\n", w_learned[0]);
  std::printf("w[1] : 0.5 -> %g   (truth 3)\n", w_learned[1]);
  std::printf("y*   : (%g, %g)   (target (%g, %g))\n", y[0], y[1], target[0], target[1]);
  return summary.IsSolutionUsable() ? 0 : 1;
}
