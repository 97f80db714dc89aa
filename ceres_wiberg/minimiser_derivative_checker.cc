#include "ceres_wiberg/minimiser_derivative_checker.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include "ceres/manifold.h"
#include "ceres_wiberg/internal/problem_layout.h"
#include "ceres_wiberg/newton_polish.h"
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

// The step along v: relative_step times the scale of w (of v's own entry for a
// coordinate direction), over |v|_inf.
double StepAlong(double relative_step, const Eigen::VectorXd& w0, const Eigen::VectorXd& v) {
  double scale = std::max(1.0, w0.lpNorm<Eigen::Infinity>());
  if ((v.array() != 0.0).count() == 1) {
    Eigen::Index j;
    v.cwiseAbs().maxCoeff(&j);
    scale = std::max(1.0, std::abs(w0[j]));
  }
  return relative_step * scale / v.lpNorm<Eigen::Infinity>();
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

Status MinimiserDerivativeChecker::Directions(const Options& options, int n_w,
                                              Eigen::MatrixXd* directions) {
  if (options.directions.cols() != 0) {
    if (options.directions.rows() != n_w) {
      return InvalidArgumentError("directions have " + std::to_string(options.directions.rows()) +
                                  " rows, not n_w = " + std::to_string(n_w));
    }
    *directions = options.directions;
    return Status::Ok();
  }
  std::vector<int> coordinates = options.learnable_coordinates;
  if (coordinates.empty()) {
    for (int j = 0; j < n_w; ++j) coordinates.push_back(j);
  }
  *directions = Eigen::MatrixXd::Zero(n_w, coordinates.size());
  for (size_t c = 0; c < coordinates.size(); ++c) {
    if (coordinates[c] < 0 || coordinates[c] >= n_w) {
      return InvalidArgumentError("learnable coordinate " + std::to_string(coordinates[c]) +
                                  " is out of range [0, " + std::to_string(n_w) + ")");
    }
    (*directions)(coordinates[c], c) = 1.0;
  }
  return Status::Ok();
}

Status MinimiserDerivativeChecker::PolishToFixedPoint(const Options& options,
                                                      BilevelProblem* problem) {
  NewtonPolish::Options polish;
  polish.max_num_iterations = options.newton_polish_iterations;
  // To round-off: until a step no longer moves y at working precision.
  polish.gradient_tolerance = 0.0;
  polish.step_tolerance = std::numeric_limits<double>::epsilon();
  polish.accept_rounding_level_newton_steps = true;
  polish.derivative_options.eigenvalue_iterations = 0;
  NewtonPolish::Summary summary;
  return NewtonPolish::Polish(polish, problem, &summary);
}

Status MinimiserDerivativeChecker::ResolveDifference(
    const Options& options, const Eigen::VectorXd& y_star, const Eigen::VectorXd& w0,
    const Eigen::VectorXd& v, double h, BilevelProblem* problem, Eigen::VectorXd* difference) {
  Eigen::VectorXd outcome[2];
  Status status;
  for (int side = 0; side < 2 && status.ok(); ++side) {
    problem->SetLearnableParameters(w0 + (side == 0 ? h : -h) * v);
    problem->SetInnerValues(y_star);
    ceres::Solver::Summary summary;
    status = problem->SolveInner(options.solver_options, &summary);
    if (status.ok()) {
      status = PolishToFixedPoint(options, problem);
      if (!status.ok()) status = Status(status.code(), "polishing a re-solve: " + status.message());
    }
    if (status.ok()) {
      status =
          TangentDifference(problem->layout(), problem->GetInnerValues(), y_star, &outcome[side]);
    }
  }
  problem->SetInnerValues(y_star);
  problem->SetLearnableParameters(w0);
  if (status.ok()) *difference = (outcome[0] - outcome[1]) / (2.0 * h);
  return status;
}

Status MinimiserDerivativeChecker::DampedStepDifference(const MinimiserDerivative& derivative,
                                                        const Eigen::VectorXd& w0,
                                                        const Eigen::VectorXd& v, double h,
                                                        BilevelProblem* problem,
                                                        Eigen::VectorXd* difference) {
  Eigen::VectorXd outcome[2];
  Status status;
  for (int side = 0; side < 2 && status.ok(); ++side) {
    problem->SetLearnableParameters(w0 + (side == 0 ? h : -h) * v);
    Eigen::VectorXd gradient;
    status = derivative.InnerGradient(&gradient);
    Eigen::MatrixXd step;
    if (status.ok()) status = derivative.SolveDampedSystem(gradient, &step);
    if (status.ok()) outcome[side] = -step.col(0);
  }
  problem->SetLearnableParameters(w0);
  if (status.ok()) *difference = (outcome[0] - outcome[1]) / (2.0 * h);
  return status;
}

void MinimiserDerivativeChecker::Compare(const Options& options, const Eigen::MatrixXd& directions,
                                         const BilevelProblem& problem, Result* result) {
  const double floor = options.relative_floor * result->numeric.cwiseAbs().maxCoeff();
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
  if (result->worst_row < 0) return;
  std::string column = "direction " + std::to_string(result->worst_column);
  if (options.directions.cols() == 0) {
    Eigen::Index j;
    directions.col(result->worst_column).cwiseAbs().maxCoeff(&j);
    column = problem.LearnableCoordinateName(static_cast<int>(j));
  }
  result->worst_location =
      "d(" + problem.InnerCoordinateName(result->worst_row) + ")/d(" + column + ")";
}

Status MinimiserDerivativeChecker::Check(const Options& options,
                                         const MinimiserDerivative::Options& derivative_options,
                                         BilevelProblem* problem, Result* result) {
  CHECK(problem != nullptr);
  CHECK(result != nullptr);
  std::string error;
  if (!options.IsValid(&error)) return InvalidArgumentError(error);
  Eigen::MatrixXd directions;
  Status status = Directions(options, problem->num_learnable_parameters(), &directions);
  if (!status.ok()) return status;

  // Both references are derivatives at the exact fixed point, so the base
  // point is polished too (when H allows) and restored at the end.
  const Eigen::VectorXd y_original = problem->GetInnerValues();
  if (!PolishToFixedPoint(options, problem).ok()) problem->SetInnerValues(y_original);
  MinimiserDerivative derivative(derivative_options);
  status = derivative.Linearise(problem, &result->derivative_summary);
  Eigen::MatrixXd J_y_w;
  if (status.ok()) status = derivative.Jacobian(&J_y_w);
  if (!status.ok()) {
    problem->SetInnerValues(y_original);
    return status;
  }
  result->analytic = J_y_w * directions;

  const Eigen::VectorXd y_star = problem->GetInnerValues();
  const Eigen::VectorXd w0 = problem->GetLearnableParameters();
  const bool resolve = derivative_options.lambda == 0.0;
  result->method = resolve ? "re-solve" : "damped Newton step";
  result->numeric.resize(problem->num_inner_parameters(), directions.cols());
  const double relative_step =
      resolve ? options.resolve_relative_step : options.damped_step_relative_step;
  auto difference = [&](const Eigen::VectorXd& v, double h, Eigen::VectorXd* out) {
    return resolve ? ResolveDifference(options, y_star, w0, v, h, problem, out)
                   : DampedStepDifference(derivative, w0, v, h, problem, out);
  };
  for (int c = 0; c < directions.cols() && status.ok(); ++c) {
    const Eigen::VectorXd v = directions.col(c);
    if (v.lpNorm<Eigen::Infinity>() == 0.0) {
      result->numeric.col(c).setZero();
      continue;
    }
    const double h = StepAlong(relative_step, w0, v);
    Eigen::VectorXd at_h, at_2h;
    status = difference(v, h, &at_h);
    if (status.ok() && options.richardson_extrapolation) status = difference(v, 2.0 * h, &at_2h);
    if (!status.ok()) break;
    result->numeric.col(c) =
        options.richardson_extrapolation ? ((4.0 * at_h - at_2h) / 3.0).eval() : at_h;
  }
  problem->SetInnerValues(y_original);
  if (!status.ok()) return status;
  Compare(options, directions, *problem, result);
  return Status::Ok();
}

}  // namespace ceres_wiberg
