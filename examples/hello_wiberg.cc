// hello_wiberg: learn two parameters of a tiny energy so that its minimiser
// hits a target. Inner problem (solved by Ceres for y, w held constant):
//   y*(w) = argmin_y 1/2 sum_i |y - x_i|^2 + 1/2 |diag(w) (y - p)|^2
// Outer problem (solved by Ceres for w, through dy*/dw): y*(w) = target.
#include <cstdio>

#include "ceres/ceres.h"
#include "ceres_wiberg/ceres_wiberg.h"

struct DataTerm {  // y - x
  explicit DataTerm(Eigen::Vector2d x) : x(x) {}
  template <typename T> bool operator()(const T* y, T* r) const {
    r[0] = y[0] - x[0];
    r[1] = y[1] - x[1];
    return true;
  }
  Eigen::Vector2d x;
};
struct PriorTerm {  // diag(w) (y - p), p = (0, 0)
  template <typename T> bool operator()(const T* y, const T* w, T* r) const {
    r[0] = w[0] * y[0];
    r[1] = w[1] * y[1];
    return true;
  }
};

// Outer residual y*(w) - target; its Jacobian is dy*/dw.
class MinimiserHitsTarget : public ceres::SizedCostFunction<2, 2> {
 public:
  MinimiserHitsTarget(ceres_wiberg::BilevelProblem* inner, double* w, Eigen::Vector2d target)
      : inner_(inner), w_(w), target_(target) {}
  bool Evaluate(double const* const* w, double* r, double** J) const override {
    std::copy(w[0], w[0] + 2, w_);
    ceres::Solver::Summary summary;
    if (!inner_->SolveInner(ceres_wiberg::TightSolverOptions(), &summary).ok()) return false;
    const double* y = inner_->inner_parameter_blocks()[0];
    r[0] = y[0] - target_[0];
    r[1] = y[1] - target_[1];
    if (J == nullptr || J[0] == nullptr) return true;
    ceres_wiberg::MinimiserDerivative derivative(options_);
    Eigen::MatrixXd J_y_w;
    if (!derivative.Linearize(inner_, nullptr).ok() || !derivative.Jacobian(&J_y_w).ok()) return false;
    Eigen::Map<Eigen::Matrix<double, 2, 2, Eigen::RowMajor>> J_r_w(J[0]);
    J_r_w = J_y_w;
    return true;
  }
  ceres_wiberg::MinimiserDerivative::Options options_;  // lambda = 0.1, exact Hessian

 private:
  ceres_wiberg::BilevelProblem* inner_;
  double* w_;
  Eigen::Vector2d target_;
};

int main() {
  double y[2] = {0.0, 0.0}, w[2] = {2.0, 3.0};  // w starts at the truth, to make the target
  ceres::Problem inner;
  for (const Eigen::Vector2d& x : {Eigen::Vector2d(4, 1), Eigen::Vector2d(5, 3), Eigen::Vector2d(6, 2)})
    inner.AddResidualBlock(new ceres::AutoDiffCostFunction<DataTerm, 2, 2>(new DataTerm(x)), nullptr, y);
  inner.AddResidualBlock(new ceres::AutoDiffCostFunction<PriorTerm, 2, 2, 2>(new PriorTerm), nullptr, y, w);
  std::unique_ptr<ceres_wiberg::BilevelProblem> bilevel;
  if (!ceres_wiberg::BilevelProblem::Create(&inner, {w}, &bilevel).ok()) return 1;
  ceres::Solver::Summary inner_summary;
  bilevel->SolveInner(ceres_wiberg::TightSolverOptions(), &inner_summary);
  const Eigen::Vector2d target(y[0], y[1]);

  double w_learned[2] = {0.5, 0.5};
  ceres::Problem outer;
  outer.AddResidualBlock(new MinimiserHitsTarget(bilevel.get(), w, target), nullptr, w_learned);
  outer.SetParameterLowerBound(w_learned, 0, 0.0);
  outer.SetParameterLowerBound(w_learned, 1, 0.0);
  ceres::Solver::Options outer_options;
  outer_options.function_tolerance = 1e-14;
  ceres::Solver::Summary outer_summary;
  ceres::Solve(outer_options, &outer, &outer_summary);

  ceres_wiberg::MinimiserDerivative derivative{ceres_wiberg::MinimiserDerivative::Options()};
  ceres_wiberg::MinimiserDerivative::Summary derivative_summary;
  bilevel->SolveInner(ceres_wiberg::TightSolverOptions(), &inner_summary);
  derivative.Linearize(bilevel.get(), &derivative_summary);
  std::printf("inner: %s\n", inner_summary.BriefReport().c_str());
  std::printf("derivative: %s\n", derivative_summary.BriefReport().c_str());
  std::printf("outer: %s\n", outer_summary.BriefReport().c_str());
  std::printf("y*: (%.6f, %.6f) (target %.6f, %.6f)\n", y[0], y[1], target[0], target[1]);
  std::printf("w: (0.5, 0.5) -> (%.6f, %.6f) (target 2, 3)\n", w_learned[0], w_learned[1]);
  return outer_summary.IsSolutionUsable() ? 0 : 1;
}
