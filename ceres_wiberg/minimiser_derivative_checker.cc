#include "ceres_wiberg/minimiser_derivative_checker.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

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

// Moves the inner blocks' values (at y*) by the tangent step delta: the
// manifold's Plus, or addition clamped to the bounds. A block whose Plus fails
// stays at y* (only a warm start).
void WarmStart(const ProblemLayout& layout, const Eigen::VectorXd& delta) {
  for (int b : layout.inner_blocks) {
    const ParameterBlockInfo& block = layout.blocks[b];
    Eigen::Map<Eigen::VectorXd> x(block.values, block.ambient_size);
    const Eigen::VectorXd step = delta.segment(block.offset, block.tangent_size);
    if (block.manifold != nullptr) {
      Eigen::VectorXd moved(block.ambient_size);
      if (block.manifold->Plus(x.data(), step.data(), moved.data()) && moved.allFinite()) {
        x = moved;
      }
      continue;
    }
    x += step;
    for (size_t i = 0; i < block.lower_bounds.size(); ++i) {
      x[i] = std::min(std::max(x[i], block.lower_bounds[i]), block.upper_bounds[i]);
    }
  }
}

// The scale of learnable coordinate j: |w_j|, or 1 where w_j = 0 (no unit
// to read off).
double CoordinateScale(double w_j) { return w_j != 0.0 ? std::abs(w_j) : 1.0; }

// The step along v that moves no coordinate by more than relative_step times
// its own scale: relative_step / max_j (|v_j| / scale_j).
double StepAlong(double relative_step, const Eigen::VectorXd& w0, const Eigen::VectorXd& v) {
  double largest = 0.0;
  for (Eigen::Index j = 0; j < v.size(); ++j) {
    largest = std::max(largest, std::abs(v[j]) / CoordinateScale(w0[j]));
  }
  return relative_step / largest;
}

// Ceres' NumericDiff minimum step: the floor of a coordinate's scale times
// the relative step.
constexpr double kMinStep = 1.4901161193847656e-08;  // sqrt(eps)

// A difference's error as the checker compares: max_r |a_r - b_r| /
// max(|a_r|, |b_r|, relative_floor * max(|a|_inf, |b|_inf)).
double ScaledDistance(const Eigen::VectorXd& a, const Eigen::VectorXd& b, double relative_floor) {
  const double floor =
      relative_floor * std::max(a.lpNorm<Eigen::Infinity>(), b.lpNorm<Eigen::Infinity>());
  double distance = 0.0;
  for (Eigen::Index r = 0; r < a.size(); ++r) {
    const double denominator = std::max({std::abs(a[r]), std::abs(b[r]), floor});
    if (denominator > 0.0) distance = std::max(distance, std::abs(a[r] - b[r]) / denominator);
  }
  return distance;
}

// The central difference (f(h) - f(-h)) / 2h.
template <typename Function>
Status CentralDifference(const Function& f, double h, Eigen::VectorXd* out) {
  Eigen::VectorXd plus, minus;
  Status status = f(h, &plus);
  if (status.ok()) status = f(-h, &minus);
  if (status.ok()) *out = (plus - minus) / (2.0 * h);
  return status;
}

// The checker's one differencing rule, for both references. Fixed step h:
// the central difference D(h), Richardson-extrapolated with 2h as
// (4 D(h) - D(2h)) / 3 if asked (error not estimated). Adaptive (Ridders'
// method, as Ceres' NumericDiff with RIDDERS): D(h_i) at h_i = h_0 / c^i,
// extrapolated in the tableau T(i, k) = (c^2k T(i, k-1) - T(i-1, k-1)) /
// (c^2k - 1), T(i, 0) = D(h_i); the error of T(i, k) is its larger
// ScaledDistance to T(i, k-1) and T(i-1, k-1). The entry with the smallest
// error is kept. It stops when that error is <= epsilon, when round-off has
// taken over (see below), or after max_num_steps steps. A step whose f fails
// (a re-solve far from w0, where the minimiser may not exist) restarts the
// tableau at the next, smaller step; only if no step succeeds is the first
// failure returned. f(step, predicted, out): predicted is step times the
// current estimate (empty before one exists), a warm start for re-solves.
struct Differencing {
  bool adaptive = true;
  double step = 0.0;  // fixed: h; adaptive: h_0
  bool richardson = false;
  double shrink_factor = 2.0;
  int max_num_steps = 10;
  double epsilon = 0.0;
  double relative_floor = 0.0;
};

struct DifferenceResult {
  Eigen::VectorXd derivative;
  double step = 0.0;  // the step of the kept estimate's smallest difference
  // The kept estimate's error: its larger ScaledDistance to its tableau
  // neighbours (NaN if not estimated), and entrywise, the larger absolute
  // difference (empty if not estimated).
  double error_estimate = std::numeric_limits<double>::quiet_NaN();
  Eigen::VectorXd error;
  int num_steps = 0;  // central differences taken
};

template <typename Function>
Status Difference(const Differencing& d, const Function& f, DifferenceResult* out) {
  const Eigen::VectorXd none;
  auto at = [&f](double h, const Eigen::VectorXd& estimate, Eigen::VectorXd* D) {
    return CentralDifference(
        [&](double step, Eigen::VectorXd* value) {
          return f(step, estimate.size() == 0 ? estimate : (step * estimate).eval(), value);
        },
        h, D);
  };
  if (!d.adaptive) {
    Eigen::VectorXd at_h, at_2h;
    Status status = at(d.step, none, &at_h);
    if (status.ok() && d.richardson) status = at(2.0 * d.step, none, &at_2h);
    if (!status.ok()) return status;
    out->derivative = d.richardson ? ((4.0 * at_h - at_2h) / 3.0).eval() : at_h;
    out->step = d.step;
    out->num_steps = d.richardson ? 2 : 1;
    return Status::Ok();
  }
  std::vector<Eigen::VectorXd> previous, current;  // tableau rows i - 1 and i
  double best_error = std::numeric_limits<double>::infinity();
  const double c2 = d.shrink_factor * d.shrink_factor;
  double previous_change = std::numeric_limits<double>::infinity();  // |D(h_i) - D(h_i-1)|
  bool truncation_regime = false;
  int steps_since_best = 0;
  double h = d.step;
  Status first_failure;
  out->derivative.resize(0);
  for (int i = 0; i < d.max_num_steps; ++i, h /= d.shrink_factor) {
    current.assign(1, Eigen::VectorXd());
    Status status = at(h, out->derivative, &current[0]);
    ++out->num_steps;
    if (!status.ok()) {
      if (first_failure.ok()) first_failure = status;
      previous.clear();
      previous_change = std::numeric_limits<double>::infinity();
      truncation_regime = false;
      steps_since_best = 0;
      if (std::isnan(out->error_estimate)) out->derivative.resize(0);  // no estimate yet
      continue;
    }
    if (out->derivative.size() == 0) {
      out->derivative = current[0];
      out->step = h;
    }
    bool improved = false;
    double factor = c2;
    for (size_t k = 1; k <= previous.size(); ++k, factor *= c2) {
      current.push_back((factor * current[k - 1] - previous[k - 1]) / (factor - 1.0));
      const double error = std::max(ScaledDistance(current[k], current[k - 1], d.relative_floor),
                                    ScaledDistance(current[k], previous[k - 1], d.relative_floor));
      if (error <= best_error) {
        best_error = error;
        out->derivative = current[k];
        out->step = h;
        out->error_estimate = error;
        out->error = (current[k] - current[k - 1])
                         .cwiseAbs()
                         .cwiseMax((current[k] - previous[k - 1]).cwiseAbs());
        improved = true;
        if (best_error <= d.epsilon) break;
      }
    }
    if (best_error <= d.epsilon) break;
    steps_since_best = improved ? 0 : steps_since_best + 1;
    if (!previous.empty()) {
      // Round-off has taken over, once the plain differences converged at
      // second order (in the truncation regime each change is c^2 times
      // smaller than the one before), when they stop converging and the
      // newest extrapolation moved by twice the best error (Ceres' test,
      // which alone also fires before the truncation regime, from large
      // steps), or when two steps gave no better estimate.
      const double change = ScaledDistance(current[0], previous[0], d.relative_floor);
      if (std::isfinite(previous_change) && previous_change >= 0.5 * c2 * change) {
        truncation_regime = true;
      }
      const bool diverging = change > previous_change;
      previous_change = change;
      if (truncation_regime &&
          ((diverging && ScaledDistance(current.back(), previous.back(), d.relative_floor) >=
                             2.0 * best_error) ||
           steps_since_best >= 2)) {
        break;
      }
    }
    previous.swap(current);
  }
  if (out->derivative.size() == 0) {
    std::ostringstream message;
    message << "at every step of the difference ladder (" << d.step << " down to "
            << h * d.shrink_factor << "); the first: " << first_failure.message();
    return Status(first_failure.code(), message.str());
  }
  return Status::Ok();
}

}  // namespace

bool MinimiserDerivativeChecker::Options::IsValid(std::string* error) const {
  auto fail = [error](const std::string& message) {
    if (error != nullptr) *error = message;
    return false;
  };
  if (!(damped_step_relative_step >= 0.0) || !(resolve_relative_step >= 0.0)) {
    return fail("finite-difference steps must be >= 0 (0: chosen by Ridders' method)");
  }
  if (!(ridders_relative_initial_step > 0.0)) {
    return fail("ridders_relative_initial_step must be > 0");
  }
  if (!(ridders_step_shrink_factor > 1.0)) return fail("ridders_step_shrink_factor must be > 1");
  if (max_num_ridders_steps < 2) return fail("max_num_ridders_steps must be >= 2");
  if (!(ridders_epsilon >= 0.0)) return fail("ridders_epsilon must be >= 0");
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
  if (!steps.empty()) {
    const auto [smallest, largest] = std::minmax_element(steps.begin(), steps.end());
    int differences = 0;
    for (int n : num_differences) differences += n;
    out << "; reference steps " << *smallest;
    if (*largest != *smallest) out << " to " << *largest;
    out << " (" << differences << " central differences)";
    if (std::isnan(max_error_estimate)) {
      out << ", error not estimated";
    } else {
      out << ", error estimate " << max_error_estimate;
      // The disagreement is the derivative's only if it is well above what
      // the reference may be off by.
      if (max_relative_error > 10.0 * max_error_estimate) {
        out << " (the disagreement is not the reference's)";
      } else {
        out << " (the disagreement is within 10 times the reference's error)";
      }
    }
  }
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
                                                  const Eigen::VectorXd& predicted,
                                                  const Eigen::VectorXd& w, BilevelProblem* problem,
                                                  Eigen::VectorXd* outcome) {
  const Eigen::VectorXd w0 = problem->GetLearnableParameters();
  problem->SetLearnableParameters(w);
  problem->SetInnerValues(y_star);
  if (predicted.size() != 0) WarmStart(problem->layout(), predicted);
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
      Differencing extrapolated;
      extrapolated.adaptive = false;
      extrapolated.step = h;
      extrapolated.richardson = true;
      DifferenceResult difference;
      status = Difference(
          extrapolated,
          [&](double step, const Eigen::VectorXd&, Eigen::VectorXd* g) {
            return gradient_at(step, g);
          },
          &difference);
      column = std::move(difference.derivative);
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
  const int num_columns = static_cast<int>(directions.cols());
  result->numeric.resize(problem->num_inner_parameters(), num_columns);
  result->steps.assign(num_columns, 0.0);
  result->error_estimates.assign(num_columns, 0.0);
  result->num_differences.assign(num_columns, 0);
  const double fixed_step =
      resolve ? options.resolve_relative_step : options.damped_step_relative_step;
  Differencing differencing;
  differencing.adaptive = fixed_step == 0.0;
  differencing.richardson = options.richardson_extrapolation;
  differencing.shrink_factor = options.ridders_step_shrink_factor;
  differencing.max_num_steps = options.max_num_ridders_steps;
  differencing.epsilon = options.ridders_epsilon;
  differencing.relative_floor = options.relative_floor;
  const double relative_step =
      differencing.adaptive ? options.ridders_relative_initial_step : fixed_step;
  std::vector<Eigen::VectorXd> errors;  // per column, entrywise; empty: not estimated
  for (int c = 0; c < num_columns && status.ok(); ++c) {
    const Eigen::VectorXd v = directions.col(c);
    if (v.lpNorm<Eigen::Infinity>() == 0.0) {
      result->numeric.col(c).setZero();
      errors.push_back(Eigen::VectorXd::Zero(result->numeric.rows()));
      continue;
    }
    // y(w0 + step v) - y* in y*'s tangent space, or the damped step's N.
    auto outcome = [&](double step, const Eigen::VectorXd& predicted, Eigen::VectorXd* out) {
      return resolve ? ResolveOutcome(options, y_star, predicted, w0 + step * v, problem, out)
                     : DampedStepOutcome(derivative, w0 + step * v, problem, out);
    };
    differencing.step = StepAlong(relative_step, w0, v);
    DifferenceResult column;
    status = Difference(differencing, outcome, &column);
    if (!status.ok()) break;
    result->numeric.col(c) = column.derivative;
    result->steps[c] = column.step;
    result->num_differences[c] = column.num_steps;
    errors.push_back(std::move(column.error));
  }
  problem->SetInnerValues(y_original);
  if (!status.ok()) return status;
  // The error estimates in the units of the comparison (Compare's floor).
  const double floor = options.relative_floor * result->numeric.cwiseAbs().maxCoeff();
  result->max_error_estimate = 0.0;
  for (int c = 0; c < num_columns; ++c) {
    double& estimate = result->error_estimates[c];
    if (errors[c].size() == 0) {
      estimate = std::numeric_limits<double>::quiet_NaN();
      result->max_error_estimate = estimate;
      continue;
    }
    for (Eigen::Index r = 0; r < errors[c].size(); ++r) {
      const double denominator = std::max(std::abs(result->numeric(r, c)), floor);
      if (denominator > 0.0) estimate = std::max(estimate, errors[c][r] / denominator);
    }
    if (!std::isnan(result->max_error_estimate)) {
      result->max_error_estimate = std::max(result->max_error_estimate, estimate);
    }
  }
  Compare(options, directions, *problem, result);
  return Status::Ok();
}

}  // namespace ceres_wiberg
