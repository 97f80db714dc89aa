#include "ceres_wiberg/minimiser_derivative_checker.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <sstream>

#include "ceres/manifold.h"
#include "ceres_wiberg/internal/derivative_access.h"
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

// Ceres' NumericDiff minimum step: the floor of a coordinate's scale times
// the relative step.
constexpr double kMinStep = 1.4901161193847656e-08;  // sqrt(eps)

// The central difference (f(h) - f(-h)) / 2h, Richardson-extrapolated with
// 2h as (4 D(h) - D(2h)) / 3 if asked: the checker's one differencing rule.
template <typename Function>
Status CentralDifference(const Function& f, double h, bool richardson, Eigen::VectorXd* out) {
  auto difference = [&f](double step, Eigen::VectorXd* d) {
    Eigen::VectorXd plus, minus;
    Status status = f(step, &plus);
    if (status.ok()) status = f(-step, &minus);
    if (status.ok()) *d = (plus - minus) / (2.0 * step);
    return status;
  };
  Eigen::VectorXd at_h, at_2h;
  Status status = difference(h, &at_h);
  if (status.ok() && richardson) status = difference(2.0 * h, &at_2h);
  if (!status.ok()) return status;
  *out = richardson ? ((4.0 * at_h - at_2h) / 3.0).eval() : at_h;
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
  if (!(hessian_relative_step > 0.0 && hessian_relative_step < 1.0)) {
    return fail("hessian_relative_step must be in (0, 1)");
  }
  if (!(hessian_tolerance >= 0.0)) return fail("hessian_tolerance must be >= 0");
  if (max_hessian_columns < 1) return fail("max_hessian_columns must be >= 1");
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
  if (hessian_checked) {
    out << "; H vs gradient differences (" << hessian_columns_checked
        << " column(s)): max relative error " << hessian_max_relative_error
        << (hessian_within_tolerance ? " (within tolerance)" : " (FAILED)");
    if (!hessian_worst_location.empty()) out << " at " << hessian_worst_location;
  } else {
    out << "; H not checked";
  }
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

Status MinimiserDerivativeChecker::ResolveOutcome(const Options& options,
                                                  const Eigen::VectorXd& y_star,
                                                  const Eigen::VectorXd& w, BilevelProblem* problem,
                                                  Eigen::VectorXd* outcome) {
  const Eigen::VectorXd w0 = problem->GetLearnableParameters();
  problem->SetLearnableParameters(w);
  problem->SetInnerValues(y_star);
  ceres::Solver::Summary summary;
  Status status = problem->SolveInner(options.solver_options, &summary);
  if (status.ok()) {
    status = PolishToFixedPoint(options, problem);
    if (!status.ok()) status = Status(status.code(), "polishing a re-solve: " + status.message());
  }
  if (status.ok()) {
    status = TangentDifference(problem->layout(), problem->GetInnerValues(), y_star, outcome);
  }
  problem->SetInnerValues(y_star);
  problem->SetLearnableParameters(w0);
  return status;
}

Status MinimiserDerivativeChecker::DampedStepOutcome(const MinimiserDerivative& derivative,
                                                     const Eigen::VectorXd& w,
                                                     BilevelProblem* problem,
                                                     Eigen::VectorXd* outcome) {
  const Eigen::VectorXd w0 = problem->GetLearnableParameters();
  problem->SetLearnableParameters(w);
  Eigen::VectorXd gradient;
  Status status = derivative.InnerGradient(&gradient);
  Eigen::MatrixXd step;
  if (status.ok()) status = derivative.SolveDampedSystem(gradient, &step);
  if (status.ok()) *outcome = -step.col(0);
  problem->SetLearnableParameters(w0);
  return status;
}

Status MinimiserDerivativeChecker::CheckHessian(const Options& options,
                                                const MinimiserDerivative& derivative,
                                                BilevelProblem* problem, Result* result) {
  result->hessian_checked = false;
  result->hessian_columns_checked = 0;
  result->hessian_max_relative_error = 0.0;
  result->hessian_worst_location.clear();
  result->hessian_within_tolerance = true;
  if (!options.check_hessian || derivative.options().hessian_model != HessianModel::EXACT) {
    return Status::Ok();
  }
  Eigen::SparseMatrix<double> H;
  std::vector<char> fixed;
  Status status = internal::LinearisedHessian(derivative, &H, &fixed);
  if (!status.ok()) return status;
  const ProblemLayout& layout = problem->layout();
  const int n = layout.num_inner;
  std::vector<int> free;
  for (int i = 0; i < n; ++i) {
    if (!fixed[i]) free.push_back(i);
  }
  // The columns to check: all free ones, or max_hessian_columns spread evenly.
  std::vector<char> checked(n, 0);
  const int num_free = static_cast<int>(free.size());
  const int num_columns = std::min(num_free, options.max_hessian_columns);
  for (int c = 0; c < num_columns; ++c) {
    const int k = num_columns == 1 ? 0
                                   : static_cast<int>((static_cast<int64_t>(c) * (num_free - 1)) /
                                                      (num_columns - 1));
    checked[free[k]] = 1;
  }
  ceres::Problem::EvaluateOptions evaluate;
  evaluate.parameter_blocks = problem->inner_parameter_blocks();  // the others constant
  const Eigen::VectorXd y_star = problem->GetInnerValues();
  std::vector<int> columns;
  std::vector<Eigen::VectorXd> reference_columns;
  for (int b : layout.inner_blocks) {
    const ParameterBlockInfo& block = layout.blocks[b];
    const Eigen::Map<const Eigen::VectorXd> x(block.values, block.ambient_size);
    const Eigen::VectorXd x0 = x;
    for (int q = 0; q < block.tangent_size; ++q) {
      const int j = block.offset + q;
      if (!checked[j]) continue;
      const double value = block.manifold != nullptr ? x0.lpNorm<Eigen::Infinity>() : x0[q];
      const double h = options.hessian_relative_step *
                       std::max(std::abs(value), kMinStep / options.hessian_relative_step);
      // g (tangent, y order) at y (+) step e_j.
      auto gradient_at = [&](double step, Eigen::VectorXd* g) -> Status {
        Eigen::VectorXd moved = x0;
        if (block.manifold == nullptr) {
          moved[q] += step;
        } else {
          Eigen::VectorXd delta = Eigen::VectorXd::Zero(block.tangent_size);
          delta[q] = step;
          if (!block.manifold->Plus(x0.data(), delta.data(), moved.data())) {
            return NumericalFailureError("the manifold Plus of " + block.name + " failed");
          }
        }
        Eigen::Map<Eigen::VectorXd>(block.values, block.ambient_size) = moved;
        std::vector<double> gradient;
        double cost = 0.0;
        const bool ok = problem->problem()->Evaluate(evaluate, &cost, nullptr, &gradient, nullptr);
        Eigen::Map<Eigen::VectorXd>(block.values, block.ambient_size) = x0;
        if (!ok || static_cast<int>(gradient.size()) != n) {
          return NumericalFailureError("ceres::Problem::Evaluate failed with " + block.name +
                                       " moved for the H check");
        }
        *g = Eigen::Map<const Eigen::VectorXd>(gradient.data(), n);
        if (!g->allFinite()) {
          return NumericalFailureError("the gradient is not finite with " + block.name +
                                       " moved for the H check");
        }
        return Status::Ok();
      };
      Eigen::VectorXd column;
      // Always extrapolated: gradient evaluations are cheap, and a plain
      // difference's O(h^2) error reached 1.6e-4 on a Snavely camera.
      status = CentralDifference(gradient_at, h, /*richardson=*/true, &column);
      if (!status.ok()) {
        problem->SetInnerValues(y_star);
        return status;
      }
      columns.push_back(j);
      reference_columns.push_back(std::move(column));
    }
  }
  problem->SetInnerValues(y_star);

  // Jacobi-scaled entrywise comparison over the free rows of the checked
  // columns.
  const Eigen::VectorXd H_diagonal = H.diagonal();
  Eigen::VectorXd diagonal = H_diagonal.cwiseAbs();
  double largest = 0.0;
  for (size_t c = 0; c < columns.size(); ++c) {
    const int j = columns[c];
    diagonal[j] = std::max(diagonal[j], std::abs(reference_columns[c][j]));
    for (int i : free) largest = std::max(largest, std::abs(reference_columns[c][i]));
  }
  const double floor = options.relative_floor * largest;
  int worst_i = -1, worst_j = -1;
  for (size_t c = 0; c < columns.size(); ++c) {
    const int j = columns[c];
    const Eigen::VectorXd H_column = H.col(j);
    const double d_j = std::max(diagonal[j], floor);
    for (int i : free) {
      const double scale = std::sqrt(std::max(diagonal[i], floor) * d_j);
      const double relative =
          scale > 0.0 ? std::abs(H_column[i] - reference_columns[c][i]) / scale : 0.0;
      if (!(relative <= result->hessian_max_relative_error)) {
        result->hessian_max_relative_error = relative;
        worst_i = i;
        worst_j = j;
      }
    }
  }
  result->hessian_columns_checked = static_cast<int>(columns.size());
  result->hessian_checked = true;
  if (worst_i >= 0) {
    result->hessian_worst_location = "d2E/d(" + problem->InnerCoordinateName(worst_i) + ") d(" +
                                     problem->InnerCoordinateName(worst_j) + ")";
  }
  result->hessian_within_tolerance =
      result->hessian_max_relative_error <= options.hessian_tolerance;
  return Status::Ok();
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
  status = CheckHessian(options, derivative, problem, result);
  const bool resolve = derivative_options.lambda == 0.0;
  result->method = resolve ? "re-solve" : "damped Newton step";
  result->numeric.resize(problem->num_inner_parameters(), directions.cols());
  const double relative_step =
      resolve ? options.resolve_relative_step : options.damped_step_relative_step;
  for (int c = 0; c < directions.cols() && status.ok(); ++c) {
    const Eigen::VectorXd v = directions.col(c);
    if (v.lpNorm<Eigen::Infinity>() == 0.0) {
      result->numeric.col(c).setZero();
      continue;
    }
    // y(w0 + step v) - y* in y*'s tangent space, or the damped step's N.
    auto outcome = [&](double step, Eigen::VectorXd* out) {
      return resolve ? ResolveOutcome(options, y_star, w0 + step * v, problem, out)
                     : DampedStepOutcome(derivative, w0 + step * v, problem, out);
    };
    Eigen::VectorXd column;
    status = CentralDifference(outcome, StepAlong(relative_step, w0, v),
                               options.richardson_extrapolation, &column);
    if (status.ok()) result->numeric.col(c) = column;
  }
  problem->SetInnerValues(y_original);
  if (!status.ok()) return status;
  Compare(options, directions, *problem, result);
  return Status::Ok();
}

}  // namespace ceres_wiberg
