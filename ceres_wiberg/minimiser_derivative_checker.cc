#include "ceres_wiberg/minimiser_derivative_checker.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include "ceres/manifold.h"
#include "ceres_wiberg/internal/problem_layout.h"
#include "glog/logging.h"

namespace ceres_wiberg {
namespace {

using internal::ParameterBlockInfo;
using internal::ProblemLayout;

// y (ambient values) minus y* in y*'s tangent space.
Status TangentDifference(const ProblemLayout& layout, const Eigen::VectorXd& y,
                         const Eigen::VectorXd& y_star, Eigen::VectorXd* delta) {
  delta->resize(layout.num_inner);
  int ambient_offset = 0;
  for (int b : layout.inner_blocks) {
    const ParameterBlockInfo& block = layout.blocks[b];
    const double* x = y.data() + ambient_offset;
    const double* x_star = y_star.data() + ambient_offset;
    if (block.manifold == nullptr) {
      delta->segment(block.offset, block.tangent_size) =
          y.segment(ambient_offset, block.ambient_size) -
          y_star.segment(ambient_offset, block.ambient_size);
    } else if (!block.manifold->Minus(x, x_star, delta->data() + block.offset)) {
      return NumericalFailureError("the manifold Minus of " + block.name + " failed");
    }
    ambient_offset += block.ambient_size;
  }
  return Status::Ok();
}

// Undamped exact Newton steps, without eigenvalue estimates.
MinimiserDerivative::Options NewtonStepOptions() {
  MinimiserDerivative::Options options;
  options.lambda = 0.0;
  options.hessian_model = HessianModel::EXACT;
  options.final_newton_step = true;
  options.eigenvalue_iterations = 0;
  return options;
}

// Newton steps y <- y - H^-1 g until |g|_max stops decreasing. `newton` is
// reused across calls on one problem, so the Hessian's sparsity structure is
// built once.
Status PolishToFixedPoint(int iterations, MinimiserDerivative* newton,
                          BilevelProblem* problem) {
  double best = std::numeric_limits<double>::infinity();
  for (int i = 0; i < iterations; ++i) {
    const Eigen::VectorXd before = problem->GetInnerValues();
    MinimiserDerivative::Summary summary;
    Status status = newton->Linearize(problem, &summary);
    if (!status.ok()) {
      problem->SetInnerValues(before);
      return Status(status.code(), "polishing a re-solve: " + status.message());
    }
    if (summary.gradient_max_norm_before_newton_step >= best) {
      problem->SetInnerValues(before);  // no progress: keep the better point
      break;
    }
    best = summary.gradient_max_norm_before_newton_step;
    if (best == 0.0) {
      problem->SetInnerValues(before);
      break;
    }
  }
  return Status::Ok();
}

}  // namespace

bool MinimiserDerivativeChecker::Options::IsValid(std::string* error) const {
  auto fail = [error](const std::string& message) {
    if (error != nullptr) *error = message;
    return false;
  };
  if (!(damped_step_relative_step > 0.0) || !(resolve_relative_step > 0.0)) {
    return fail("finite-difference steps must be > 0");
  }
  if (!(relative_floor >= 0.0)) return fail("relative_floor must be >= 0");
  if (newton_polish_iterations < 0) return fail("newton_polish_iterations must be >= 0");
  std::string solver_error;
  if (!solver_options.IsValid(&solver_error)) return fail("solver_options: " + solver_error);
  return true;
}

std::string MinimiserDerivativeChecker::Result::Report() const {
  std::ostringstream out;
  out.precision(3);
  out << "MinimiserDerivativeChecker (" << method << "): " << analytic.cols()
      << " column(s), max relative error " << max_relative_error;
  if (worst_row >= 0) out << " at " << worst_location;
  return out.str();
}

Status MinimiserDerivativeChecker::Check(
    const Options& options, const MinimiserDerivative::Options& derivative_options,
    BilevelProblem* problem, Result* result) {
  CHECK(problem != nullptr);
  CHECK(result != nullptr);
  std::string error;
  if (!options.IsValid(&error)) return InvalidArgumentError(error);
  const ProblemLayout& layout = problem->layout();
  const int n_w = layout.num_learnable;

  // The columns to check, as directions in w.
  Eigen::MatrixXd directions = options.directions;
  if (directions.cols() == 0) {
    std::vector<int> coordinates = options.learnable_coordinates;
    if (coordinates.empty()) {
      for (int j = 0; j < n_w; ++j) coordinates.push_back(j);
    }
    directions = Eigen::MatrixXd::Zero(n_w, coordinates.size());
    for (size_t c = 0; c < coordinates.size(); ++c) {
      if (coordinates[c] < 0 || coordinates[c] >= n_w) {
        return InvalidArgumentError("learnable coordinate " + std::to_string(coordinates[c]) +
                                    " is out of range [0, " + std::to_string(n_w) + ")");
      }
      directions(coordinates[c], c) = 1.0;
    }
  } else if (directions.rows() != n_w) {
    return InvalidArgumentError("directions have " + std::to_string(directions.rows()) +
                                " rows, not n_w = " + std::to_string(n_w));
  }

  // Both references are derivatives at the exact fixed point, so the base
  // point is polished too (when H allows) and restored at the end.
  const Eigen::VectorXd y_original = problem->GetInnerValues();
  MinimiserDerivative newton(NewtonStepOptions());
  Status status = PolishToFixedPoint(options.newton_polish_iterations, &newton, problem);
  if (!status.ok()) problem->SetInnerValues(y_original);
  MinimiserDerivative derivative(derivative_options);
  status = derivative.Linearize(problem, &result->derivative_summary);
  if (!status.ok()) {
    problem->SetInnerValues(y_original);
    return status;
  }
  Eigen::MatrixXd J_y_w;
  status = derivative.Jacobian(&J_y_w);
  if (!status.ok()) return status;
  result->analytic = J_y_w * directions;

  const Eigen::VectorXd y_star = problem->GetInnerValues();
  const Eigen::VectorXd w0 = problem->GetLearnableParameters();
  const double w_scale = std::max(1.0, w0.lpNorm<Eigen::Infinity>());
  const bool resolve = derivative_options.lambda == 0.0;
  result->method = resolve ? "re-solve" : "damped Newton step";
  result->numeric.resize(layout.num_inner, directions.cols());

  for (int c = 0; c < directions.cols(); ++c) {
    const Eigen::VectorXd v = directions.col(c);
    const double v_norm = v.lpNorm<Eigen::Infinity>();
    if (v_norm == 0.0) {
      result->numeric.col(c).setZero();
      continue;
    }
    // Coordinate directions scale with their own entry of w.
    double scale = w_scale;
    if ((v.array() != 0.0).count() == 1) {
      Eigen::Index j;
      v.cwiseAbs().maxCoeff(&j);
      scale = std::max(1.0, std::abs(w0[j]));
    }
    const double h = (resolve ? options.resolve_relative_step
                              : options.damped_step_relative_step) *
                     scale / v_norm;
    Eigen::VectorXd outcome[2];
    for (int side = 0; side < 2; ++side) {
      problem->SetLearnableParameters(w0 + (side == 0 ? h : -h) * v);
      if (resolve) {
        problem->SetInnerValues(y_star);
        ceres::Solver::Summary summary;
        status = problem->SolveInner(options.solver_options, &summary);
        if (status.ok()) {
          status = PolishToFixedPoint(options.newton_polish_iterations, &newton, problem);
        }
        if (status.ok()) {
          status = TangentDifference(layout, problem->GetInnerValues(), y_star, &outcome[side]);
        }
      } else {
        Eigen::VectorXd gradient;
        status = derivative.InnerGradient(&gradient);
        Eigen::MatrixXd step;
        if (status.ok()) status = derivative.SolveDampedSystem(gradient, &step);
        if (status.ok()) outcome[side] = -step.col(0);
      }
      if (!status.ok()) break;
    }
    problem->SetInnerValues(y_star);
    problem->SetLearnableParameters(w0);
    if (!status.ok()) {
      problem->SetInnerValues(y_original);
      return status;
    }
    result->numeric.col(c) = (outcome[0] - outcome[1]) / (2.0 * h);
  }

  problem->SetInnerValues(y_original);
  const double floor =
      options.relative_floor * result->numeric.cwiseAbs().maxCoeff();
  result->max_relative_error = 0.0;
  result->worst_row = result->worst_column = -1;
  for (int c = 0; c < result->analytic.cols(); ++c) {
    for (int r = 0; r < result->analytic.rows(); ++r) {
      const double a = result->analytic(r, c);
      const double n = result->numeric(r, c);
      const double denominator = std::max({std::abs(a), std::abs(n), floor});
      const double relative = denominator > 0.0 ? std::abs(a - n) / denominator : 0.0;
      if (!(relative <= result->max_relative_error)) {
        result->max_relative_error = relative;
        result->worst_row = r;
        result->worst_column = c;
      }
    }
  }
  if (result->worst_row >= 0) {
    std::string column = "direction " + std::to_string(result->worst_column);
    if (options.directions.cols() == 0) {
      Eigen::Index j;
      directions.col(result->worst_column).cwiseAbs().maxCoeff(&j);
      column = problem->LearnableCoordinateName(static_cast<int>(j));
    }
    result->worst_location =
        "d(" + problem->InnerCoordinateName(result->worst_row) + ")/d(" + column + ")";
  }
  return Status::Ok();
}

}  // namespace ceres_wiberg
