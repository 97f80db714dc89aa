// Tests of the learnable robust losses.
//
// Derivatives are checked against finite differences of fourth order,
//   g'(x) ~ [8 (g(x + h) - g(x - h)) - (g(x + 2h) - g(x - 2h))] / (12 h),
// with h = 1e-3 X, where X is the scale on which g varies (a^2 or s for
// derivatives in s, |a| or |a| / u for derivatives in a, 1 for the wrapped
// cost function's parameters, m for the weight). Truncation is O((h/X)^4) ~
// 1e-12 and rounding O(eps X / h) ~ 2e-13, relative to the natural scale of
// the derivative, |g| / X. The error reported and bounded is
//
//   |analytic - numeric| / max(|analytic|, |g| / X)
//
// (for Jacobians: the largest entry error of a column over the largest of the
// column's analytic entries and ||r~||_inf / X). Where s = 0 is within 2h the
// scalar loss, which is not defined for s < 0, is differenced with the
// one-sided formula of the same order,
//   g'(x) ~ (-25 g0 + 48 g1 - 36 g2 + 16 g3 - 3 g4) / (12 h).
//
// Accuracy near s = 0 (where finite differences cannot resolve the tiny
// a-derivatives) is checked against an extended-precision (long double)
// reference instead.

#include "ceres_wiberg/learnable_loss.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <iomanip>
#include <iostream>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "ceres/ceres.h"
#include "ceres/gradient_checker.h"
#include "ceres_wiberg/bilevel_problem.h"
#include "ceres_wiberg/minimiser_derivative_checker.h"
#include "gtest/gtest.h"

namespace ceres_wiberg {
namespace {

const LearnableLossType kAllTypes[] = {
    LearnableLossType::PSEUDO_HUBER,
    LearnableLossType::CAUCHY,
    LearnableLossType::WELSCH,
    LearnableLossType::NORMALISED_WELSCH,
};

bool IsWelsch(LearnableLossType type) {
  return type == LearnableLossType::WELSCH ||
         type == LearnableLossType::NORMALISED_WELSCH;
}

// Fourth-order finite difference of g at x with step h; central unless
// x - 2h < lower_bound, then one-sided forward.
double FiniteDifference(const std::function<double(double)>& g,
                        double x,
                        double h,
                        double lower_bound) {
  if (x - 2.0 * h >= lower_bound) {
    return (8.0 * (g(x + h) - g(x - h)) - (g(x + 2.0 * h) - g(x - 2.0 * h))) /
           (12.0 * h);
  }
  return (-25.0 * g(x) + 48.0 * g(x + h) - 36.0 * g(x + 2.0 * h) +
          16.0 * g(x + 3.0 * h) - 3.0 * g(x + 4.0 * h)) /
         (12.0 * h);
}

// |analytic - numeric| / max(|analytic|, floor), 0 when both are 0.
double ScaledError(double analytic, double numeric, double floor) {
  const double difference = std::abs(analytic - numeric);
  if (difference == 0.0) {
    return 0.0;
  }
  return difference / std::max(std::abs(analytic), floor);
}

// rho[0..2] and drho_da[0..1] in one array of 5.
std::vector<double> Loss(LearnableLossType type, double s, double a) {
  double rho[3];
  double drho_da[2];
  EXPECT_TRUE(EvaluateLearnableLoss(type, s, a, rho, drho_da))
      << LearnableLossTypeToString(type) << " s = " << s << " a = " << a;
  return {rho[0], rho[1], rho[2], drho_da[0], drho_da[1]};
}

// ---------------------------------------------------------------------------
// Names, validation.

TEST(LearnableLoss, TypeToString) {
  EXPECT_STREQ(LearnableLossTypeToString(LearnableLossType::PSEUDO_HUBER),
               "PSEUDO_HUBER");
  EXPECT_STREQ(LearnableLossTypeToString(LearnableLossType::CAUCHY), "CAUCHY");
  EXPECT_STREQ(LearnableLossTypeToString(LearnableLossType::WELSCH), "WELSCH");
  EXPECT_STREQ(LearnableLossTypeToString(LearnableLossType::NORMALISED_WELSCH),
               "NORMALISED_WELSCH");
}

TEST(LearnableLoss, ValidateParameters) {
  const double inf = std::numeric_limits<double>::infinity();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (double a : {1.0, -2.0, 1e-150, 1e150, 0.3}) {
    EXPECT_TRUE(ValidateLearnableLossParameters(a).ok()) << a;
    EXPECT_TRUE(ValidateLearnableLossParameters(a, 1e-300).ok()) << a;
  }
  for (double a : {0.0, -0.0, 1e-160, -1e-160, 1e160, inf, -inf, nan}) {
    const Status status = ValidateLearnableLossParameters(a);
    EXPECT_FALSE(status.ok()) << a;
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(status.message().find("scale"), std::string::npos)
        << status.message();
    EXPECT_FALSE(ValidateLearnableLossParameters(a, 1.0).ok());
  }
  for (double m : {0.0, -0.0, -1.0, inf, nan}) {
    const Status status = ValidateLearnableLossParameters(1.0, m);
    EXPECT_FALSE(status.ok()) << m;
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(status.message().find("weight"), std::string::npos)
        << status.message();
  }
}

TEST(LearnableLoss, ScalarRejectsInvalidInput) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (LearnableLossType type : kAllTypes) {
    double rho[3] = {0.0, 0.0, 0.0};
    double drho_da[2] = {0.0, 0.0};
    EXPECT_FALSE(EvaluateLearnableLoss(type, -1.0, 1.0, rho, drho_da));
    EXPECT_TRUE(std::isnan(rho[0]) && std::isnan(rho[1]) &&
                std::isnan(rho[2]) && std::isnan(drho_da[0]) &&
                std::isnan(drho_da[1]));
    EXPECT_FALSE(EvaluateLearnableLoss(type, 1.0, 0.0, rho, drho_da));
    EXPECT_FALSE(EvaluateLearnableLoss(type, nan, 1.0, rho, drho_da));
    EXPECT_FALSE(EvaluateLearnableLoss(
        type, std::numeric_limits<double>::infinity(), 1.0, rho));
    EXPECT_TRUE(EvaluateLearnableLoss(type, 1.0, 1.0, rho));  // no drho_da
    EXPECT_TRUE(std::isfinite(rho[0]));
  }
}

// ---------------------------------------------------------------------------
// The scalar loss.

// PSEUDO_HUBER and CAUCHY are Ceres' SoftLOneLoss and CauchyLoss. (Ceres forms
// sqrt(1 + u) - 1 directly, so only compare where that does not cancel.)
TEST(LearnableLoss, ScalarMatchesCeresLosses) {
  for (double a : {0.7, -1.3, 25.0}) {
    const ceres::SoftLOneLoss soft_l_one(a);
    const ceres::CauchyLoss cauchy(a);
    for (double u : {0.01, 0.3, 1.0, 2.5, 30.0, 1e4}) {
      const double s = u * a * a;
      double expected[3];
      soft_l_one.Evaluate(s, expected);
      std::vector<double> actual = Loss(LearnableLossType::PSEUDO_HUBER, s, a);
      for (int i = 0; i < 3; ++i) {
        EXPECT_NEAR(actual[i], expected[i], 1e-12 * std::abs(expected[i]))
            << "PSEUDO_HUBER rho[" << i << "] u = " << u << " a = " << a;
      }
      cauchy.Evaluate(s, expected);
      actual = Loss(LearnableLossType::CAUCHY, s, a);
      for (int i = 0; i < 3; ++i) {
        EXPECT_NEAR(actual[i], expected[i], 1e-12 * std::abs(expected[i]))
            << "CAUCHY rho[" << i << "] u = " << u << " a = " << a;
      }
    }
  }
}

TEST(LearnableLoss, ScalarValuesAndNormalisation) {
  for (double a : {0.7, -1.3, 25.0}) {
    const double c = a * a;
    for (double u : {0.0, 0.01, 0.3, 1.0, 2.5, 30.0}) {
      const double s = u * c;
      const std::vector<double> welsch = Loss(LearnableLossType::WELSCH, s, a);
      EXPECT_NEAR(welsch[0], 1.0 - std::exp(-s / c), 1e-15) << u;
      const std::vector<double> normalised =
          Loss(LearnableLossType::NORMALISED_WELSCH, s, a);
      // NORMALISED_WELSCH = a^2 WELSCH, so d/ds scale by a^2 as well.
      for (int i = 0; i < 3; ++i) {
        EXPECT_NEAR(normalised[i], c * welsch[i],
                    1e-15 * std::abs(normalised[i]))
            << i << " u = " << u;
      }
    }
    // Slopes at the origin: 1, except WELSCH's 1 / a^2.
    EXPECT_EQ(Loss(LearnableLossType::PSEUDO_HUBER, 0.0, a)[1], 1.0);
    EXPECT_EQ(Loss(LearnableLossType::CAUCHY, 0.0, a)[1], 1.0);
    EXPECT_EQ(Loss(LearnableLossType::NORMALISED_WELSCH, 0.0, a)[1], 1.0);
    EXPECT_NEAR(Loss(LearnableLossType::WELSCH, 0.0, a)[1], 1.0 / c, 1e-15 / c);
    // The sign of a does not matter for rho; d/da is odd in a.
    for (LearnableLossType type : kAllTypes) {
      const std::vector<double> plus = Loss(type, 0.4 * c, a);
      const std::vector<double> minus = Loss(type, 0.4 * c, -a);
      for (int i = 0; i < 3; ++i) EXPECT_EQ(plus[i], minus[i]);
      EXPECT_EQ(plus[3], -minus[3]);
      EXPECT_EQ(plus[4], -minus[4]);
    }
  }
}

// rho' and rho'' against differences in s; d rho / da and d rho' / da against
// differences in a; several s from 0 to 1e4 a^2 (including both sides of the
// series switch at u = 1).
TEST(LearnableLoss, ScalarDerivativesMatchFiniteDifferences) {
  const double kTolerance = 1e-8;
  double worst[4] = {0.0, 0.0, 0.0, 0.0};
  for (LearnableLossType type : kAllTypes) {
    for (double a : {0.7, -1.3, 25.0}) {
      const double c = a * a;
      for (double u : {0.0, 1e-12, 1e-6, 1e-3, 0.3, 1.0 - 1e-9, 1.0 + 1e-9, 2.5,
                       30.0, 1e4}) {
        const double s = u * c;
        const std::vector<double> loss = Loss(type, s, a);
        auto component_in_s = [&](int i) {
          return [=](double t) { return Loss(type, t, a)[i]; };
        };
        auto component_in_a = [&](int i) {
          return [=](double t) { return Loss(type, s, t)[i]; };
        };
        const double X_s = IsWelsch(type) ? c : std::max(s, c);
        const double X_a =
            IsWelsch(type) ? std::abs(a) / std::max(1.0, u) : std::abs(a);
        const double h_s = 1e-3 * X_s;
        const double h_a = 1e-3 * X_a;
        const double numeric[4] = {
            FiniteDifference(component_in_s(0), s, h_s, 0.0),
            FiniteDifference(component_in_s(1), s, h_s, 0.0),
            FiniteDifference(component_in_a(0), a, h_a, -HUGE_VAL),
            FiniteDifference(component_in_a(1), a, h_a, -HUGE_VAL),
        };
        const double analytic[4] = {loss[1], loss[2], loss[3], loss[4]};
        const double floor[4] = {
            std::abs(loss[0]) / X_s, std::abs(loss[1]) / X_s,
            std::abs(loss[0]) / X_a, std::abs(loss[1]) / X_a};
        const char* names[4] = {"rho'", "rho''", "drho/da", "drho'/da"};
        for (int i = 0; i < 4; ++i) {
          const double error = ScaledError(analytic[i], numeric[i], floor[i]);
          worst[i] = std::max(worst[i], error);
          EXPECT_LE(error, kTolerance)
              << LearnableLossTypeToString(type) << " " << names[i]
              << " a = " << a << " u = " << u << " analytic = " << analytic[i]
              << " numeric = " << numeric[i];
        }
      }
    }
  }
  std::cout << "worst scaled errors: rho' " << worst[0] << ", rho'' "
            << worst[1] << ", drho/da " << worst[2] << ", drho'/da " << worst[3]
            << "\n";
}

// ---------------------------------------------------------------------------
// Extended-precision reference: rho, rho' and d rho / da in long double, from
// the naive closed forms for u >= 1e-2 (where their cancellation costs at most
// ~4e-17 relative in long double) and from Taylor series below.

struct ReferenceLoss {
  long double rho;
  long double rho_s;  // d rho / ds
  long double rho_a;  // d rho / da
};

ReferenceLoss Reference(LearnableLossType type, double s_in, double a_in) {
  const long double s = s_in;
  const long double a = a_in;
  const long double c = a * a;
  const long double u = s / c;
  const bool taylor = u < 1e-2L;
  const int kTerms = 40;
  ReferenceLoss out;
  switch (type) {
    case LearnableLossType::PSEUDO_HUBER: {
      // rho = c h(u), h = 2 (sqrt(1 + u) - 1) = 2 sum_{n >= 1} C(1/2, n) u^n;
      // d rho / dc = h - u h' = 2 sum_{n >= 2} (1 - n) C(1/2, n) u^n.
      long double h = 0.0L, dc = 0.0L;
      if (taylor) {
        long double binomial = 1.0L, power = 1.0L;
        for (int n = 1; n < kTerms; ++n) {
          binomial *= (0.5L - (n - 1)) / n;
          power *= u;
          h += 2.0L * binomial * power;
          dc += 2.0L * (1 - n) * binomial * power;
        }
      } else {
        const long double q = std::sqrt(1.0L + u);
        h = 2.0L * (q - 1.0L);
        dc = h - u / q;
      }
      out.rho = c * h;
      out.rho_s = 1.0L / std::sqrt(1.0L + u);
      out.rho_a = 2.0L * a * dc;
      break;
    }
    case LearnableLossType::CAUCHY: {
      // d rho / dc = log(1 + u) - u / (1 + u)
      //            = sum_{n >= 2} (-1)^n (n - 1) / n u^n.
      long double dc = 0.0L;
      if (taylor) {
        long double power = u;  // u^n, n = 1
        for (int n = 2; n < kTerms; ++n) {
          power *= u;
          dc += (n % 2 == 0 ? 1.0L : -1.0L) * (n - 1) * power / n;
        }
      } else {
        dc = std::log1p(u) - u / (1.0L + u);
      }
      out.rho = c * std::log1p(u);
      out.rho_s = 1.0L / (1.0L + u);
      out.rho_a = 2.0L * a * dc;
      break;
    }
    case LearnableLossType::WELSCH: {
      out.rho = -std::expm1(-u);
      out.rho_s = std::exp(-u) / c;
      out.rho_a = -2.0L * u * std::exp(-u) / a;
      break;
    }
    case LearnableLossType::NORMALISED_WELSCH: {
      // d rho / dc = 1 - exp(-u) - u exp(-u)
      //            = sum_{n >= 2} (-1)^n (n - 1) u^n / n!.
      long double dc = 0.0L;
      if (taylor) {
        long double term = u;  // u^n / n!, n = 1
        for (int n = 2; n < kTerms; ++n) {
          term *= u / n;
          dc += (n % 2 == 0 ? 1.0L : -1.0L) * (n - 1) * term;
        }
      } else {
        dc = -std::expm1(-u) - u * std::exp(-u);
      }
      out.rho = -c * std::expm1(-u);
      out.rho_s = std::exp(-u);
      out.rho_a = 2.0L * a * dc;
      break;
    }
  }
  return out;
}

std::vector<double> LogSpace(double from, double to, int n) {
  std::vector<double> values;
  for (int i = 0; i < n; ++i) {
    values.push_back(from * std::pow(to / from, i / (n - 1.0)));
  }
  return values;
}

// |actual - expected| / max(|expected|, DBL_MIN): relative, except that
// values below the normal double range (which underflow) are compared
// absolutely against DBL_MIN.
double ErrorVsReference(double actual, long double expected) {
  const long double difference = std::abs(actual - expected);
  if (difference == 0.0L) return 0.0;
  return static_cast<double>(
      difference / std::max<long double>(std::abs(expected),
                                         std::numeric_limits<double>::min()));
}

// The tolerance against the long double reference: a few eps, plus, for
// Welsch, the conditioning of exp(-u) with respect to u (u = s / a^2 carries
// about two roundings of the inputs, amplified u times), which no algorithm
// can avoid.
double ReferenceTolerance(LearnableLossType type, double u, double base) {
  const double eps = std::numeric_limits<double>::epsilon();
  return IsWelsch(type) ? base + 2.0 * eps * u : base;
}

bool HasExtendedPrecision() {
  return std::numeric_limits<long double>::digits >
         std::numeric_limits<double>::digits + 8;
}

// The scalar loss is accurate to a few eps everywhere, including where its
// closed forms cancel (small u) and across the series switch at u = 1.
TEST(LearnableLoss, ScalarMatchesExtendedPrecision) {
  if (!HasExtendedPrecision()) GTEST_SKIP() << "long double is double";
  const double kTolerance = 1e-14;
  std::vector<double> us = LogSpace(1e-10, 1e3, 131);
  for (double u : {1e-300, 1e-30, 1e-20, 1.0 - 1e-12, 1.0, 1.0 + 1e-12}) {
    us.push_back(u);
  }
  double worst = 0.0;
  for (LearnableLossType type : kAllTypes) {
    for (double a : {0.7, -1.3}) {
      for (double u : us) {
        const double s = u * a * a;
        const std::vector<double> loss = Loss(type, s, a);
        const ReferenceLoss reference = Reference(type, s, a);
        const long double expected[3] = {reference.rho, reference.rho_s,
                                         reference.rho_a};
        const double actual[3] = {loss[0], loss[1], loss[3]};
        const double tolerance = ReferenceTolerance(type, u, kTolerance);
        for (int i = 0; i < 3; ++i) {
          const double error = ErrorVsReference(actual[i], expected[i]);
          worst = std::max(worst, error / tolerance * kTolerance);
          EXPECT_LE(error, tolerance) << LearnableLossTypeToString(type) << " ["
                                      << i << "] u = " << u << " a = " << a;
        }
      }
    }
  }
  std::cout << "worst relative error vs long double (Welsch scaled by its "
               "conditioning): "
            << worst << "\n";
}

// ---------------------------------------------------------------------------
// The cost function wrapper.

// Three residuals of two blocks (sizes 2 and 3), nonlinear in both:
// r = g(p, q) - t.
struct NonlinearResidual {
  template <typename T>
  bool operator()(const T* p, const T* q, T* r) const {
    using std::exp;
    using std::sin;
    r[0] = p[0] * q[0] - sin(p[1]) - t[0];
    r[1] = q[1] * q[1] + p[0] * q[2] - t[1];
    r[2] = exp(0.3 * q[2]) - p[1] * q[0] - t[2];
    return true;
  }
  double t[3] = {0.0, 0.0, 0.0};
};

// t is set so that r(p0, q0) = norm * (0.6, -0.48, 0.64) (a unit vector); for
// norm = 0 the residual is exactly zero (t = g(p0, q0) in the same floating
// point operations).
ceres::CostFunction* NewNonlinearCostFunction(const std::vector<double>& p,
                                              const std::vector<double>& q,
                                              double norm) {
  NonlinearResidual functor;
  double g[3];
  functor(p.data(), q.data(), g);
  const double direction[3] = {0.6, -0.48, 0.64};
  for (int i = 0; i < 3; ++i) {
    functor.t[i] = norm == 0.0 ? g[i] : g[i] - norm * direction[i];
  }
  return new ceres::AutoDiffCostFunction<NonlinearResidual, 3, 2, 3>(
      new NonlinearResidual(functor));
}

std::vector<const double*> Pointers(
    const std::vector<std::vector<double>>& blocks) {
  std::vector<const double*> pointers;
  for (const std::vector<double>& block : blocks) {
    pointers.push_back(block.data());
  }
  return pointers;
}

struct Evaluation {
  bool ok = false;
  std::vector<double> residuals;
  std::vector<std::vector<double>> jacobians;  // row-major, per block
};

Evaluation Evaluate(const ceres::CostFunction& cost,
                    const std::vector<std::vector<double>>& blocks,
                    bool with_jacobians) {
  Evaluation evaluation;
  evaluation.residuals.assign(cost.num_residuals(), 0.0);
  std::vector<double*> jacobian_pointers;
  for (size_t b = 0; b < blocks.size(); ++b) {
    evaluation.jacobians.emplace_back(
        cost.num_residuals() * cost.parameter_block_sizes()[b], 0.0);
    jacobian_pointers.push_back(evaluation.jacobians.back().data());
  }
  const std::vector<const double*> parameters = Pointers(blocks);
  evaluation.ok =
      cost.Evaluate(parameters.data(), evaluation.residuals.data(),
                    with_jacobians ? jacobian_pointers.data() : nullptr);
  return evaluation;
}

double InfinityNorm(const std::vector<double>& v) {
  double norm = 0.0;
  for (double x : v) norm = std::max(norm, std::abs(x));
  return norm;
}

// The worst column error of the analytic Jacobians against fourth-order
// central differences with h = 1e-3 block_scale[b].
double WorstJacobianError(const ceres::CostFunction& cost,
                          const std::vector<std::vector<double>>& blocks,
                          const std::vector<double>& block_scale) {
  const int k = cost.num_residuals();
  const Evaluation analytic = Evaluate(cost, blocks, true);
  EXPECT_TRUE(analytic.ok);
  // Residuals do not depend on whether Jacobians were asked for.
  const Evaluation plain = Evaluate(cost, blocks, false);
  EXPECT_TRUE(plain.ok);
  for (int i = 0; i < k; ++i) {
    EXPECT_EQ(plain.residuals[i], analytic.residuals[i]);
  }
  const double residual_norm = InfinityNorm(analytic.residuals);
  double worst = 0.0;
  for (size_t b = 0; b < blocks.size(); ++b) {
    const int size = cost.parameter_block_sizes()[b];
    const double X = block_scale[b];
    const double h = 1e-3 * X;
    for (int j = 0; j < size; ++j) {
      std::vector<double> numeric(k);
      for (int i = 0; i < k; ++i) {
        numeric[i] = FiniteDifference(
            [&](double x) {
              std::vector<std::vector<double>> moved = blocks;
              moved[b][j] = x;
              const Evaluation e = Evaluate(cost, moved, false);
              EXPECT_TRUE(e.ok);
              return e.residuals[i];
            },
            blocks[b][j], h, -HUGE_VAL);
      }
      double column_scale = residual_norm / X;
      double column_error = 0.0;
      for (int i = 0; i < k; ++i) {
        const double value = analytic.jacobians[b][i * size + j];
        column_scale = std::max(column_scale, std::abs(value));
        column_error = std::max(column_error, std::abs(value - numeric[i]));
      }
      if (column_error > 0.0) {
        worst = std::max(worst, column_error / column_scale);
      }
    }
  }
  return worst;
}

struct WrapperCase {
  LearnableLossType type;
  double a;
  bool weight;
  double residual_norm;
};

std::vector<WrapperCase> AllWrapperCases() {
  std::vector<WrapperCase> cases;
  for (LearnableLossType type : kAllTypes) {
    for (double a : {0.7, -1.3}) {
      for (bool weight : {false, true}) {
        // r = 0 exactly, tiny r, then u = ||r||^2 / a^2 in
        // {1e-3, 0.5, 1 (the series switch), 3, 30, 1e4}.
        std::vector<double> norms = {0.0, 1e-9};
        for (double u : {1e-3, 0.5, 1.0, 3.0, 30.0, 1e4}) {
          norms.push_back(std::sqrt(u) * std::abs(a));
        }
        for (double norm : norms) {
          cases.push_back({type, a, weight, norm});
        }
      }
    }
  }
  return cases;
}

const std::vector<double> kP = {0.8, -0.4};
const std::vector<double> kQ = {1.3, 0.5, -0.9};
const double kWeight = 2.5;

std::vector<std::vector<double>> BlocksFor(const WrapperCase& c) {
  std::vector<std::vector<double>> blocks = {kP, kQ, {c.a}};
  if (c.weight) blocks.push_back({kWeight});
  return blocks;
}

TEST(LearnableLossCostFunction, Layout) {
  LearnableLossCostFunction without(NewNonlinearCostFunction(kP, kQ, 1.0),
                                    LearnableLossType::CAUCHY);
  EXPECT_EQ(without.num_residuals(), 3);
  EXPECT_EQ(without.parameter_block_sizes(), (std::vector<int32_t>{2, 3, 1}));
  EXPECT_EQ(without.num_wrapped_parameter_blocks(), 2);
  EXPECT_EQ(without.scale_block_index(), 2);
  EXPECT_EQ(without.weight_block_index(), -1);
  EXPECT_FALSE(without.has_weight_block());
  EXPECT_EQ(without.type(), LearnableLossType::CAUCHY);

  LearnableLossCostFunction with(NewNonlinearCostFunction(kP, kQ, 1.0),
                                 LearnableLossType::WELSCH, true);
  EXPECT_EQ(with.parameter_block_sizes(), (std::vector<int32_t>{2, 3, 1, 1}));
  EXPECT_EQ(with.weight_block_index(), 3);
  EXPECT_EQ(with.wrapped_cost_function().num_residuals(), 3);
}

// Every block's Jacobian against central differences, for every loss, with
// and without the weight, at r = 0 exactly, tiny r and u from 1e-3 to 1e4.
TEST(LearnableLossCostFunction, JacobiansMatchFiniteDifferences) {
  const double kTolerance = 1e-8;
  double worst = 0.0;
  for (const WrapperCase& c : AllWrapperCases()) {
    LearnableLossCostFunction cost(
        NewNonlinearCostFunction(kP, kQ, c.residual_norm), c.type, c.weight);
    const std::vector<std::vector<double>> blocks = BlocksFor(c);
    if (c.residual_norm == 0.0) {
      // The wrapped residual is exactly zero here, with and without Jacobians.
      const Evaluation wrapped =
          Evaluate(cost.wrapped_cost_function(), {kP, kQ}, true);
      EXPECT_EQ(InfinityNorm(wrapped.residuals), 0.0);
      EXPECT_EQ(
          InfinityNorm(Evaluate(cost.wrapped_cost_function(), {kP, kQ}, false)
                           .residuals),
          0.0);
    }
    const double u = c.residual_norm * c.residual_norm / (c.a * c.a);
    std::vector<double> block_scale = {1.0, 1.0, std::abs(c.a)};
    if (IsWelsch(c.type)) block_scale[2] /= std::max(1.0, u);
    if (c.weight) block_scale.push_back(kWeight);
    const double error = WorstJacobianError(cost, blocks, block_scale);
    worst = std::max(worst, error);
    EXPECT_LE(error, kTolerance)
        << LearnableLossTypeToString(c.type) << " a = " << c.a
        << " weight = " << c.weight << " |r| = " << c.residual_norm;
  }
  std::cout << "worst scaled Jacobian error: " << worst << "\n";
}

// The same through Ceres' public GradientChecker (element-wise relative
// error, absolute where either value is 0) at points where every entry is
// resolvable. GradientChecker always differences with Ridders' extrapolation;
// from its default initial step, 1e-2 |x|, the extrapolation stops early with
// an error of 2e-6 in J_rt_a for NORMALISED_WELSCH at u = 0.9 (plain central
// differences of the same point converge to the analytic value as h^2, down
// to 1e-10 at h = 1e-5 |a|), so the initial step here is 1e-3 |x|.
//
// Under AddressSanitizer Eigen does not assume that malloc aligns (it checks
// __SANITIZE_ADDRESS__), so the Eigen matrices in ProbeResults, allocated
// inside the (uninstrumented) libceres, cannot be freed by this code: there
// the results stay inside Ceres and only Probe's verdict is checked.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kCanReadProbeResults = false;
#else
constexpr bool kCanReadProbeResults = true;
#endif

TEST(LearnableLossCostFunction, GradientCheckerProbe) {
  const double kTolerance = 1e-7;
  ceres::NumericDiffOptions ridders;
  ridders.ridders_relative_initial_step_size = 1e-3;
  const std::vector<const ceres::Manifold*>* no_manifolds = nullptr;
  double worst = 0.0;
  for (LearnableLossType type : kAllTypes) {
    for (bool weight : {false, true}) {
      for (double u : {0.2, 0.9, 1.7, 6.0}) {
        const double a = 0.7;
        LearnableLossCostFunction cost(
            NewNonlinearCostFunction(kP, kQ, std::sqrt(u) * a), type, weight);
        const std::vector<std::vector<double>> blocks =
            BlocksFor({type, a, weight, 0.0});
        const std::vector<const double*> parameters = Pointers(blocks);
        const ceres::GradientChecker checker(&cost, no_manifolds, ridders);
        ceres::GradientChecker::ProbeResults results;
        EXPECT_TRUE(checker.Probe(parameters.data(), kTolerance,
                                  kCanReadProbeResults ? &results : nullptr))
            << LearnableLossTypeToString(type) << " u = " << u << "\n"
            << results.error_log;
        if (kCanReadProbeResults) {
          worst = std::max(worst, results.maximum_relative_error);
        }
      }
    }
  }
  std::cout << "worst GradientChecker relative error: " << worst << "\n";
}

// ||r~||^2 = m rho(s), and the gradient identities
//   J_rt_p^T r~ = m rho'(s) J^T r,   r~^T J_rt_a = m/2 d rho / da,
//   r~^T J_rt_m = rho / 2.
TEST(LearnableLossCostFunction, EnergyAndGradientIdentities) {
  double worst = 0.0;
  for (const WrapperCase& c : AllWrapperCases()) {
    if (c.residual_norm == 0.0) continue;
    LearnableLossCostFunction cost(
        NewNonlinearCostFunction(kP, kQ, c.residual_norm), c.type, c.weight);
    const std::vector<std::vector<double>> blocks = BlocksFor(c);
    const double m = c.weight ? kWeight : 1.0;
    const Evaluation wrapped =
        Evaluate(cost.wrapped_cost_function(), {kP, kQ}, true);
    const Evaluation robust = Evaluate(cost, blocks, true);
    ASSERT_TRUE(wrapped.ok && robust.ok);
    double s = 0.0, s_tilde = 0.0;
    for (int i = 0; i < 3; ++i) {
      s += wrapped.residuals[i] * wrapped.residuals[i];
      s_tilde += robust.residuals[i] * robust.residuals[i];
    }
    const std::vector<double> loss = Loss(c.type, s, c.a);
    auto check = [&](double actual, double expected, double scale,
                     const char* what) {
      const double error = ScaledError(actual, expected, scale);
      worst = std::max(worst, error);
      EXPECT_LE(error, 1e-13)
          << what << " " << LearnableLossTypeToString(c.type) << " a = " << c.a
          << " |r| = " << c.residual_norm << " actual " << actual
          << " expected " << expected;
    };
    check(0.5 * s_tilde, 0.5 * m * loss[0], 0.0, "energy");
    // Gradient with respect to p and q. The terms of J_rt_p^T r~ are of size
    // m f |J| |r|, so that is the scale of its rounding error.
    const double f = loss[0] / s;
    for (int b = 0; b < 2; ++b) {
      const int size = cost.parameter_block_sizes()[b];
      for (int j = 0; j < size; ++j) {
        double actual = 0.0, JTr = 0.0, scale = 0.0;
        for (int i = 0; i < 3; ++i) {
          actual += robust.jacobians[b][i * size + j] * robust.residuals[i];
          JTr += wrapped.jacobians[b][i * size + j] * wrapped.residuals[i];
          scale += std::abs(wrapped.jacobians[b][i * size + j] *
                            wrapped.residuals[i]);
        }
        check(actual, m * loss[1] * JTr, m * f * scale, "gradient p");
      }
    }
    double grad_a = 0.0, grad_m = 0.0;
    for (int i = 0; i < 3; ++i) {
      grad_a += robust.residuals[i] * robust.jacobians[2][i];
      if (c.weight) grad_m += robust.residuals[i] * robust.jacobians[3][i];
    }
    check(grad_a, 0.5 * m * loss[3], 0.0, "gradient a");
    if (c.weight) check(grad_m, 0.5 * loss[0], 0.0, "gradient m");
  }
  std::cout << "worst identity error: " << worst << "\n";
}

// A one-residual cost r = y - t, for the extended-precision check and the
// location problems.
struct Offset {
  template <typename T>
  bool operator()(const T* y, T* r) const {
    r[0] = y[0] - t;
    return true;
  }
  double t;
};

ceres::CostFunction* NewOffset(double t) {
  return new ceres::AutoDiffCostFunction<Offset, 1, 1>(new Offset{t});
}

// For one residual r, r~ = sign(r) sqrt(m rho(r^2)), so
//   J_rt_y = sqrt(m) rho' |r| / sqrt(rho),   J_rt_a = sign(r) sqrt(m) (d rho /
//   da) / (2 sqrt(rho)),   J_rt_m = sign(r) sqrt(rho) / (2 sqrt(m)),
// none of which cancels. Compare the wrapper against these in long double,
// from r = 0 through the series switch to u = 1e3. For J_rt_y the error is
// relative to sqrt(m) F |J| (F = sqrt(rho / s)), the size of its terms: Welsch
// far in the tail makes J_rt_y exponentially small by cancellation.
TEST(LearnableLossCostFunction, OneResidualMatchesExtendedPrecision) {
  if (!HasExtendedPrecision()) GTEST_SKIP() << "long double is double";
  const double kTolerance = 2e-14;
  std::vector<double> us = LogSpace(1e-10, 1e3, 53);
  for (double u : {0.0, 1e-300, 1e-30, 1e-18, 1.0 - 1e-12, 1.0, 1.0 + 1e-12}) {
    us.push_back(u);
  }
  double worst = 0.0;
  for (LearnableLossType type : kAllTypes) {
    for (double a : {0.7, -1.3}) {
      for (double sign : {1.0, -1.0}) {
        for (double u : us) {
          // y = 0, so r = y - t = -t exactly, down to r ~ 1e-150.
          const double y = 0.0;
          const double t = -sign * std::sqrt(u) * std::abs(a);
          LearnableLossCostFunction cost(NewOffset(t), type, true);
          const Evaluation e = Evaluate(cost, {{y}, {a}, {kWeight}}, true);
          ASSERT_TRUE(e.ok);
          const double r = y - t;
          const long double m = kWeight;
          long double expected[4];
          long double scale_y;
          if (r == 0.0) {
            // The limits at r = 0: r~ = 0, J_rt_y = sqrt(m rho'(0)).
            const long double rho_s0 = Reference(type, 0.0, a).rho_s;
            expected[0] = 0.0L;
            expected[1] = std::sqrt(m * rho_s0);
            expected[2] = 0.0L;
            expected[3] = 0.0L;
            scale_y = expected[1];
          } else {
            const double s = r * r;
            const ReferenceLoss ref = Reference(type, s, a);
            const long double sqrt_rho = std::sqrt(ref.rho);
            const long double sgn = r > 0 ? 1.0L : -1.0L;
            expected[0] = sgn * std::sqrt(m) * sqrt_rho;
            expected[1] = std::sqrt(m) * ref.rho_s *
                          std::abs(static_cast<long double>(r)) / sqrt_rho;
            expected[2] = sgn * std::sqrt(m) * ref.rho_a / (2.0L * sqrt_rho);
            expected[3] = sgn * sqrt_rho / (2.0L * std::sqrt(m));
            scale_y = std::sqrt(m * ref.rho / s);
          }
          const double actual[4] = {e.residuals[0], e.jacobians[0][0],
                                    e.jacobians[1][0], e.jacobians[2][0]};
          const double tolerance = ReferenceTolerance(type, u, kTolerance);
          for (int i = 0; i < 4; ++i) {
            double error = ErrorVsReference(actual[i], expected[i]);
            if (i == 1) {
              error = std::min(
                  error, static_cast<double>(std::abs(actual[i] - expected[i]) /
                                             scale_y));
            }
            worst = std::max(worst, error / tolerance * kTolerance);
            EXPECT_LE(error, tolerance)
                << LearnableLossTypeToString(type) << " [" << i << "] u = " << u
                << " a = " << a << " sign = " << sign << " actual " << actual[i]
                << " expected " << static_cast<double>(expected[i]);
          }
        }
      }
    }
  }
  std::cout << "worst relative error vs long double (Welsch scaled by its "
               "conditioning): "
            << worst << "\n";
}

TEST(LearnableLossCostFunction, SignOfScaleDoesNotMatter) {
  for (LearnableLossType type : kAllTypes) {
    LearnableLossCostFunction cost(NewNonlinearCostFunction(kP, kQ, 0.9), type,
                                   true);
    const Evaluation plus = Evaluate(cost, {kP, kQ, {0.7}, {kWeight}}, true);
    const Evaluation minus = Evaluate(cost, {kP, kQ, {-0.7}, {kWeight}}, true);
    for (int i = 0; i < 3; ++i) {
      EXPECT_EQ(plus.residuals[i], minus.residuals[i]);
      EXPECT_EQ(plus.jacobians[2][i], -minus.jacobians[2][i]);
      EXPECT_EQ(plus.jacobians[3][i], minus.jacobians[3][i]);
    }
    EXPECT_EQ(plus.jacobians[0], minus.jacobians[0]);
    EXPECT_EQ(plus.jacobians[1], minus.jacobians[1]);
  }
}

// Asking for a subset of the Jacobians gives the same numbers.
TEST(LearnableLossCostFunction, PartialJacobianRequests) {
  LearnableLossCostFunction cost(NewNonlinearCostFunction(kP, kQ, 1.1),
                                 LearnableLossType::WELSCH, true);
  const std::vector<std::vector<double>> blocks = {kP, kQ, {0.7}, {kWeight}};
  const Evaluation full = Evaluate(cost, blocks, true);
  ASSERT_TRUE(full.ok);
  const std::vector<const double*> parameters = Pointers(blocks);
  for (int requested = 0; requested < 4; ++requested) {
    std::vector<double> residuals(3);
    std::vector<double> jacobian(3 * cost.parameter_block_sizes()[requested]);
    std::vector<double*> jacobians(4, nullptr);
    jacobians[requested] = jacobian.data();
    ASSERT_TRUE(
        cost.Evaluate(parameters.data(), residuals.data(), jacobians.data()));
    EXPECT_EQ(residuals, full.residuals);
    EXPECT_EQ(jacobian, full.jacobians[requested]) << requested;
  }
}

// A DynamicAutoDiffCostFunction with three blocks of sizes 1, 2 and 4.
struct DynamicResidual {
  template <typename T>
  bool operator()(T const* const* x, T* r) const {
    r[0] = x[0][0] * x[1][0] + x[2][0] - 0.3;
    r[1] = x[1][1] * x[2][1] * x[2][2] + 0.2;
    r[2] = x[2][3] * x[2][3] - x[0][0] + 0.1;
    r[3] = x[1][0] - x[1][1] + x[2][3];
    return true;
  }
};

TEST(LearnableLossCostFunction, DynamicCostFunction) {
  double worst = 0.0;
  for (LearnableLossType type : kAllTypes) {
    auto* dynamic = new ceres::DynamicAutoDiffCostFunction<DynamicResidual, 4>(
        new DynamicResidual);
    dynamic->AddParameterBlock(1);
    dynamic->AddParameterBlock(2);
    dynamic->AddParameterBlock(4);
    dynamic->SetNumResiduals(4);
    LearnableLossCostFunction cost(dynamic, type, true);
    EXPECT_EQ(cost.parameter_block_sizes(),
              (std::vector<int32_t>{1, 2, 4, 1, 1}));
    EXPECT_EQ(cost.num_residuals(), 4);
    const std::vector<std::vector<double>> blocks = {
        {0.5}, {1.2, -0.7}, {0.3, 0.9, -1.1, 0.4}, {0.8}, {1.7}};
    const double error =
        WorstJacobianError(cost, blocks, {1.0, 1.0, 1.0, 0.8, 1.7});
    worst = std::max(worst, error);
    EXPECT_LE(error, 1e-8) << LearnableLossTypeToString(type);
  }
  std::cout << "worst scaled Jacobian error (dynamic): " << worst << "\n";
}

// ---------------------------------------------------------------------------
// Invalid values, failures and ownership.

struct FailingResidual {
  template <typename T>
  bool operator()(const T* y, T* r) const {
    r[0] = y[0];
    return false;
  }
};

TEST(LearnableLossCostFunction, InvalidValuesFailTheEvaluation) {
  for (LearnableLossType type : kAllTypes) {
    LearnableLossCostFunction cost(NewOffset(1.0), type, true);
    EXPECT_TRUE(Evaluate(cost, {{0.2}, {0.7}, {1.0}}, true).ok);
    EXPECT_FALSE(Evaluate(cost, {{0.2}, {0.0}, {1.0}}, true).ok);
    EXPECT_FALSE(Evaluate(cost, {{0.2}, {0.0}, {1.0}}, false).ok);
    EXPECT_FALSE(Evaluate(cost, {{0.2}, {0.7}, {0.0}}, true).ok);
    EXPECT_FALSE(Evaluate(cost, {{0.2}, {0.7}, {-1.0}}, false).ok);
    EXPECT_FALSE(Evaluate(cost, {{1e300}, {0.7}, {1.0}}, true).ok);  // s = inf

    const std::vector<double> y = {0.2}, a = {0.0}, m = {-1.0};
    const double* parameters[] = {y.data(), a.data(), m.data()};
    const Status status = cost.ValidateParameters(parameters);
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(status.message().find("scale a = 0"), std::string::npos)
        << status.message();
    const std::vector<double> good_a = {0.7};
    parameters[1] = good_a.data();
    EXPECT_NE(cost.ValidateParameters(parameters).message().find("weight"),
              std::string::npos);
    const std::vector<double> good_m = {3.0};
    parameters[2] = good_m.data();
    EXPECT_TRUE(cost.ValidateParameters(parameters).ok());

    LearnableLossCostFunction failing(
        new ceres::AutoDiffCostFunction<FailingResidual, 1, 1>(
            new FailingResidual),
        type);
    EXPECT_FALSE(Evaluate(failing, {{0.2}, {0.7}}, true).ok);
    EXPECT_FALSE(Evaluate(failing, {{0.2}, {0.7}}, false).ok);
  }
}

// Counts its destructions.
class CountingCostFunction : public ceres::SizedCostFunction<1, 1> {
 public:
  explicit CountingCostFunction(int* destructions)
      : destructions_(destructions) {}
  ~CountingCostFunction() override { ++*destructions_; }
  bool Evaluate(double const* const* x,
                double* r,
                double** jacobians) const override {
    r[0] = x[0][0];
    if (jacobians != nullptr && jacobians[0] != nullptr) jacobians[0][0] = 1.0;
    return true;
  }

 private:
  int* destructions_;
};

TEST(LearnableLossCostFunction, Ownership) {
  int destructions = 0;
  {
    LearnableLossCostFunction cost(new CountingCostFunction(&destructions),
                                   LearnableLossType::CAUCHY);
  }
  EXPECT_EQ(destructions, 1);

  CountingCostFunction borrowed(&destructions);
  {
    LearnableLossCostFunction cost(&borrowed, LearnableLossType::CAUCHY, false,
                                   ceres::DO_NOT_TAKE_OWNERSHIP);
    EXPECT_TRUE(Evaluate(cost, {{0.3}, {1.0}}, true).ok);
  }
  EXPECT_EQ(destructions, 1);
  const std::vector<double> x = {0.3};
  const double* parameters[] = {x.data()};
  double r = 0.0;
  EXPECT_TRUE(borrowed.Evaluate(parameters, &r, nullptr));
  EXPECT_EQ(r, 0.3);
}

// ---------------------------------------------------------------------------
// Solving with ceres::Solve: robust location estimates.

// Five inliers symmetric about 1 and one outlier at 10.
const std::vector<double> kData = {0.9, 0.95, 1.0, 1.05, 1.1, 10.0};

// psi(y) = sum_i m_i rho'((y - x_i)^2) (y - x_i), the gradient of the energy.
// Returns the minimiser reached by going downhill from y0: walk downhill in
// steps of 0.01 until psi changes sign, then bisect to 1e-15.
double ReferenceLocation(LearnableLossType type,
                         double a,
                         const std::vector<double>& weights,
                         double y0) {
  auto psi = [&](double y) {
    double sum = 0.0;
    for (size_t i = 0; i < kData.size(); ++i) {
      const double r = y - kData[i];
      sum += weights[i] * Loss(type, r * r, a)[1] * r;
    }
    return sum;
  };
  double lower = y0, upper = y0;
  if (psi(y0) > 0.0) {
    while (psi(lower) > 0.0 && lower > -100.0) lower -= 0.01;
  } else {
    while (psi(upper) < 0.0 && upper < 100.0) upper += 0.01;
  }
  EXPECT_LE(psi(lower), 0.0);
  EXPECT_GE(psi(upper), 0.0);
  for (int iteration = 0; iteration < 200 && upper - lower > 1e-15;
       ++iteration) {
    const double middle = 0.5 * (lower + upper);
    (psi(middle) < 0.0 ? lower : upper) = middle;
  }
  return 0.5 * (lower + upper);
}

// Solves min_y 1/2 sum_i m_i rho((y - x_i)^2; a) from y = y0 with the scale
// (and weights) as constant parameter blocks; a null type is plain least
// squares.
double SolveLocation(const LearnableLossType* type,
                     double a,
                     const std::vector<double>& weights,
                     double y0,
                     ceres::Solver::Summary* summary) {
  double y = y0;
  double scale = a;
  std::vector<double> weight_values = weights;
  ceres::Problem problem;
  for (size_t i = 0; i < kData.size(); ++i) {
    if (type == nullptr) {
      problem.AddResidualBlock(NewOffset(kData[i]), nullptr, &y);
    } else {
      problem.AddResidualBlock(
          new LearnableLossCostFunction(NewOffset(kData[i]), *type, true),
          nullptr, {&y, &scale, &weight_values[i]});
      problem.SetParameterBlockConstant(&weight_values[i]);
    }
  }
  if (type != nullptr) problem.SetParameterBlockConstant(&scale);
  ceres::Solver::Options options;
  options.linear_solver_type = ceres::DENSE_QR;
  options.max_num_iterations = 200;
  options.function_tolerance = 1e-16;
  options.gradient_tolerance = 1e-14;
  options.parameter_tolerance = 1e-15;
  ceres::Solve(options, &problem, summary);
  return y;
}

// How close ceres::Solve gets: near the minimiser the cost changes by
// H e^2 / 2 for an error e, which is below the cost's last bit (so Ceres stops
// on "function tolerance") once e ~ sqrt(eps cost / H) ~ 1e-8 here.
const double kLocationTolerance = 1e-7;

TEST(LearnableLossSolve, RobustLocationIgnoresOutlier) {
  const std::vector<double> unit(kData.size(), 1.0);
  ceres::Solver::Summary summary;
  // Least squares: the mean, dragged to 2.5 by the outlier.
  const double least_squares = SolveLocation(nullptr, 0.0, unit, 0.0, &summary);
  EXPECT_NEAR(least_squares, 2.5, kLocationTolerance) << summary.FullReport();

  // Each robust loss, started from the least-squares estimate.
  const double a = 0.5;
  double estimate[4];
  for (int t = 0; t < 4; ++t) {
    const LearnableLossType type = kAllTypes[t];
    estimate[t] = SolveLocation(&type, a, unit, least_squares, &summary);
    EXPECT_TRUE(summary.IsSolutionUsable()) << summary.FullReport();
    const double reference = ReferenceLocation(type, a, unit, least_squares);
    EXPECT_NEAR(estimate[t], reference, kLocationTolerance)
        << LearnableLossTypeToString(type) << "\n"
        << summary.BriefReport();
    std::cout << LearnableLossTypeToString(type)
              << ": y = " << std::setprecision(10) << estimate[t]
              << " (reference " << reference << "), "
              << summary.num_successful_steps << " steps\n";
  }
  // Welsch ignores the outlier: its pull is ~9 exp(-324). The inliers are
  // symmetric about 1, so the estimate is 1.
  EXPECT_NEAR(estimate[2], 1.0, kLocationTolerance);
  EXPECT_NEAR(estimate[3], 1.0, kLocationTolerance);
  // Cauchy's outlier influence 9 / (1 + 324) and pseudo-Huber's, bounded by
  // a = 0.5, both leave a bias, Huber's larger.
  EXPECT_GT(estimate[1], 1.0 + 1e-3);
  EXPECT_GT(estimate[0], estimate[1] + 1e-2);
  EXPECT_LT(estimate[0], 1.5);
}

// Weight blocks move the estimate as the weighted energy says.
TEST(LearnableLossSolve, WeightedLocation) {
  const std::vector<double> weights = {4.0, 0.5, 1.0, 0.25, 2.0, 3.0};
  ceres::Solver::Summary summary;
  for (LearnableLossType type : kAllTypes) {
    for (double a : {0.2, 2.0}) {
      const double y = SolveLocation(&type, a, weights, 1.0, &summary);
      EXPECT_TRUE(summary.IsSolutionUsable());
      const double reference = ReferenceLocation(type, a, weights, 1.0);
      EXPECT_NEAR(y, reference, kLocationTolerance)
          << LearnableLossTypeToString(type) << " a = " << a << "\n"
          << summary.BriefReport();
    }
  }
}

// The energy Ceres reports equals 1/2 sum_i m_i rho(s_i; a).
TEST(LearnableLossSolve, ProblemCostIsRobustEnergy) {
  const std::vector<double> weights = {4.0, 0.5, 1.0, 0.25, 2.0, 3.0};
  for (LearnableLossType type : kAllTypes) {
    double y = 1.7, scale = 0.6;
    std::vector<double> m = weights;
    ceres::Problem problem;
    double expected = 0.0;
    for (size_t i = 0; i < kData.size(); ++i) {
      problem.AddResidualBlock(
          new LearnableLossCostFunction(NewOffset(kData[i]), type, true),
          nullptr, {&y, &scale, &m[i]});
      const double r = y - kData[i];
      expected += 0.5 * m[i] * Loss(type, r * r, scale)[0];
    }
    double cost = 0.0;
    std::vector<double> gradient;
    ASSERT_TRUE(problem.Evaluate(ceres::Problem::EvaluateOptions(), &cost,
                                 nullptr, &gradient, nullptr));
    EXPECT_NEAR(cost, expected, 1e-14 * expected);
    // Gradient order: y, scale, m_0..m_5 (the order of first use).
    double dE_dy = 0.0, dE_da = 0.0;
    for (size_t i = 0; i < kData.size(); ++i) {
      const double r = y - kData[i];
      const std::vector<double> loss = Loss(type, r * r, scale);
      dE_dy += m[i] * loss[1] * r;
      dE_da += 0.5 * m[i] * loss[3];
      EXPECT_NEAR(gradient[2 + i], 0.5 * loss[0], 1e-14);
    }
    EXPECT_NEAR(gradient[0], dE_dy, 1e-13 * std::abs(dE_dy) + 1e-15);
    EXPECT_NEAR(gradient[1], dE_da, 1e-13 * std::abs(dE_da) + 1e-15);
  }
}

// The derivative of a minimiser with respect to a learnable loss's scale and
// weight: a robust location t* = argmin_t sum_i 1/2 m_i rho(|t - x_i|^2; a)
// with one scale a shared by all terms and a weight on the outlier's term.
struct LocationOffset {
  explicit LocationOffset(const Eigen::Vector2d& x) : x(x) {}
  template <typename T>
  bool operator()(const T* t, T* r) const {
    r[0] = t[0] - T(x[0]);
    r[1] = t[1] - T(x[1]);
    return true;
  }
  Eigen::Vector2d x;
};

TEST(LearnableLossMinimiser, DerivativeWithRespectToScaleAndWeightMatchesFiniteDifferences) {
  const Eigen::Vector2d data[] = {{0.9, 0.1}, {1.0, -0.1}, {1.1, 0.05}, {0.95, 0.0}, {3.0, 2.0}};
  for (LearnableLossType type : {LearnableLossType::PSEUDO_HUBER, LearnableLossType::CAUCHY,
                                 LearnableLossType::WELSCH}) {
    double t[2] = {1.0, 0.0};
    double scale[1] = {type == LearnableLossType::WELSCH ? 1.2 : 0.5};
    double weight[1] = {0.7};
    ceres::Problem problem;
    for (int i = 0; i < 5; ++i) {
      auto* offset = new ceres::AutoDiffCostFunction<LocationOffset, 2, 2>(
          new LocationOffset(Eigen::Vector2d(data[i])));
      if (i == 4) {
        problem.AddResidualBlock(new LearnableLossCostFunction(offset, type, true), nullptr, t,
                                 scale, weight);
      } else {
        problem.AddResidualBlock(new LearnableLossCostFunction(offset, type, false), nullptr, t,
                                 scale);
      }
    }
    std::unique_ptr<BilevelProblem> bilevel;
    ASSERT_TRUE(BilevelProblem::Create(&problem, {scale, weight}, &bilevel).ok());
    ceres::Solver::Summary summary;
    ASSERT_TRUE(bilevel->SolveInner(TightSolverOptions(), &summary).ok());
    for (double lambda : {0.0, 0.1}) {
      MinimiserDerivative::Options options;
      options.lambda = lambda;
      MinimiserDerivativeChecker::Result result;
      Status status = MinimiserDerivativeChecker::Check(MinimiserDerivativeChecker::Options(),
                                                        options, bilevel.get(), &result);
      ASSERT_TRUE(status.ok()) << status.ToString();
      // H against differences of the inner gradient (EXACT models).
      EXPECT_TRUE(!result.hessian_checked || result.hessian_within_tolerance)
          << result.Report();
      // The checker's default 1e-6: re-solves for lambda = 0, one damped
      // Newton step for lambda = 0.1.
      EXPECT_LT(result.max_relative_error, 1e-6)
          << LearnableLossTypeToString(type) << ": " << result.Report();
      EXPECT_GT(result.analytic.cwiseAbs().maxCoeff(), 1e-3);  // not trivially zero
    }
  }
}

}  // namespace
}  // namespace ceres_wiberg
