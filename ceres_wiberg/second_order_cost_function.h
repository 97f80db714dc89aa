// Cost functions that supply their own second derivatives.
//
// The exact Hessian H and the mixed G of MinimiserDerivative contain the
// residuals' curvature sum_k c_k d2r_k/dp2 (c = rho' r at the point, see
// DESIGN section 1). By default the library differences each cost
// function's analytic Jacobians to get it: per differenced coordinate two to
// four Jacobian evaluations (central differences, Richardson-extrapolated).
// A cost function that derives from SecondOrderCostFunction supplies that
// curvature itself, in closed form, and is not differenced at all: the
// residual block's local Hessian costs one curvature evaluation.
//
// The easy way is AutoDiffSecondOrderCostFunction, a drop-in replacement of
// ceres::AutoDiffCostFunction (same functor, same template arguments, same
// ownership): Evaluate is Ceres' autodiff, the curvature is forward-mode
// autodiff of second order (SecondOrderJet: value, gradient and Hessian over
// all the cost function's parameters at once). Worth it where the residual
// is non-linear in several coordinates of a block (bundle adjustment's
// camera: 12 coordinates per observation); nothing changes for residuals
// linear in their inner blocks, which the differenced path already probes
// and skips. Residuals affine in all their parameters can skip even the
// probe: LinearCostFunction (linear_cost_function.h) declares them so.
//
// Ceres' own solvers never call EvaluateCurvature: to them it is an ordinary
// CostFunction. Wrapped in a LearnableLossCostFunction it is used too (the
// wrapped function's curvature is what the library needs there).

#ifndef CERES_WIBERG_SECOND_ORDER_COST_FUNCTION_H_
#define CERES_WIBERG_SECOND_ORDER_COST_FUNCTION_H_

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <memory>
#include <utility>
#include <vector>

#include "Eigen/Core"
#include "ceres/autodiff_cost_function.h"
#include "ceres/cost_function.h"
#include "ceres/types.h"

namespace ceres_wiberg {

// A ceres::CostFunction that also evaluates its residuals' curvature.
class SecondOrderCostFunction : public ceres::CostFunction {
 public:
  // Writes sum_k weights[k] d2 r_k / (dp dp) at `parameters` into `hessian`:
  // an N x N row-major matrix, N = the sum of parameter_block_sizes(), whose
  // rows and columns are the parameter blocks' AMBIENT coordinates, blocks in
  // order (the library maps them to a manifold's tangent space itself).
  // `weights` has num_residuals() entries. Returns false when the curvature
  // cannot be evaluated (as Evaluate does); the library then reports the
  // residual block, as it does for a non-finite entry.
  virtual bool EvaluateCurvature(double const* const* parameters, const double* weights,
                                 double* hessian) const = 0;
};

// A scalar of forward-mode automatic differentiation of second order: a
// value a, its gradient v and its Hessian h with respect to N variables.
// Operators and the usual functions follow the chain rule
//   f(x): v = f'(x) x.v,  h = f'(x) x.h + f''(x) x.v x.v^T,
// so that any functor written for ceres::Jet (templated on T, double
// constants mixed in as `T(1.0)` or `x + 1.0`) also computes Hessians.
// (Ceres' nested Jet<Jet<double, N>, N> would too, but does not compile with
// such constants in Ceres 2.1, and carries every first derivative twice.)
// Comparisons compare values; branches are differentiated as taken. So a
// functor that switches to a truncated series near a point gets the series'
// second derivatives there, not the function's: Ceres' AngleAxisRotatePoint
// uses R = I + [w]x when |w|^2 < eps, whose curvature is zero, so at a zero
// rotation (to 1.5e-8 rad) the closed form misses the rotation's curvature.
// Keep such cost functions on the differenced path (a plain
// ceres::AutoDiffCostFunction), whose steps leave the branch. The type
// and its functions live in namespace ceres_wiberg::second_order_jet (found
// by argument-dependent lookup), so that they do not hide the std functions
// of doubles from code in namespace ceres_wiberg.
namespace second_order_jet {

template <int N>
struct SecondOrderJet {
  // The Hessian's upper triangle, row after row: (0, 0), (0, 1), ...,
  // (0, N-1), (1, 1), ... (symmetric: half the work of a full matrix).
  static constexpr int kPackedSize = N * (N + 1) / 2;
  using Vector = Eigen::Matrix<double, N, 1>;
  using Packed = Eigen::Matrix<double, kPackedSize, 1>;

  SecondOrderJet() : a(0.0), v(Vector::Zero()), h(Packed::Zero()) {}
  explicit SecondOrderJet(double value) : a(value), v(Vector::Zero()), h(Packed::Zero()) {}
  // Variable k of the N: gradient e_k, zero Hessian.
  SecondOrderJet(double value, int k) : SecondOrderJet(value) { v[k] = 1.0; }

  // Entry (i, j) of the Hessian.
  double hessian(int i, int j) const {
    if (i > j) std::swap(i, j);
    return h[i * N - i * (i - 1) / 2 + (j - i)];
  }

  SecondOrderJet& operator+=(const SecondOrderJet& y) { return *this = *this + y; }
  SecondOrderJet& operator-=(const SecondOrderJet& y) { return *this = *this - y; }
  SecondOrderJet& operator*=(const SecondOrderJet& y) { return *this = *this * y; }
  SecondOrderJet& operator/=(const SecondOrderJet& y) { return *this = *this / y; }
  SecondOrderJet& operator+=(double s) { a += s; return *this; }
  SecondOrderJet& operator-=(double s) { a -= s; return *this; }
  SecondOrderJet& operator*=(double s) { return *this = *this * s; }
  SecondOrderJet& operator/=(double s) { return *this = *this * (1.0 / s); }

  double a;
  Vector v;
  Packed h;

  EIGEN_MAKE_ALIGNED_OPERATOR_NEW
};

namespace detail {

// h += alpha x x^T (upper triangle, packed).
template <int N>
void AddOuter(double alpha, const Eigen::Matrix<double, N, 1>& x,
              typename SecondOrderJet<N>::Packed* h) {
  if (alpha == 0.0) return;
  int k = 0;
  for (int i = 0; i < N; ++i) {
    const double xi = alpha * x[i];
    for (int j = i; j < N; ++j, ++k) (*h)[k] += xi * x[j];
  }
}

// h += alpha (x y^T + y x^T) (upper triangle, packed).
template <int N>
void AddSymmetricOuter(double alpha, const Eigen::Matrix<double, N, 1>& x,
                       const Eigen::Matrix<double, N, 1>& y,
                       typename SecondOrderJet<N>::Packed* h) {
  if (alpha == 0.0) return;
  int k = 0;
  for (int i = 0; i < N; ++i) {
    const double xi = alpha * x[i];
    const double yi = alpha * y[i];
    for (int j = i; j < N; ++j, ++k) (*h)[k] += xi * y[j] + yi * x[j];
  }
}

// f(x) from f(x.a), f'(x.a), f''(x.a).
template <int N>
SecondOrderJet<N> Chain(const SecondOrderJet<N>& x, double f, double df, double d2f) {
  SecondOrderJet<N> out;
  out.a = f;
  out.v = df * x.v;
  out.h = df * x.h;
  AddOuter<N>(d2f, x.v, &out.h);
  return out;
}

// f(x, y) from f and its first and second partial derivatives.
template <int N>
SecondOrderJet<N> Chain2(const SecondOrderJet<N>& x, const SecondOrderJet<N>& y, double f,
                         double fx, double fy, double fxx, double fxy, double fyy) {
  SecondOrderJet<N> out;
  out.a = f;
  out.v = fx * x.v + fy * y.v;
  out.h = fx * x.h + fy * y.h;
  AddOuter<N>(fxx, x.v, &out.h);
  AddOuter<N>(fyy, y.v, &out.h);
  AddSymmetricOuter<N>(fxy, x.v, y.v, &out.h);
  return out;
}

}  // namespace detail

// Arithmetic.
template <int N>
SecondOrderJet<N> operator+(const SecondOrderJet<N>& x) {
  return x;
}
template <int N>
SecondOrderJet<N> operator-(const SecondOrderJet<N>& x) {
  SecondOrderJet<N> out;
  out.a = -x.a;
  out.v = -x.v;
  out.h = -x.h;
  return out;
}
template <int N>
SecondOrderJet<N> operator+(const SecondOrderJet<N>& x, const SecondOrderJet<N>& y) {
  SecondOrderJet<N> out;
  out.a = x.a + y.a;
  out.v = x.v + y.v;
  out.h = x.h + y.h;
  return out;
}
template <int N>
SecondOrderJet<N> operator-(const SecondOrderJet<N>& x, const SecondOrderJet<N>& y) {
  SecondOrderJet<N> out;
  out.a = x.a - y.a;
  out.v = x.v - y.v;
  out.h = x.h - y.h;
  return out;
}
template <int N>
SecondOrderJet<N> operator*(const SecondOrderJet<N>& x, const SecondOrderJet<N>& y) {
  SecondOrderJet<N> out;
  out.a = x.a * y.a;
  out.v = x.a * y.v + y.a * x.v;
  out.h = x.a * y.h + y.a * x.h;
  detail::AddSymmetricOuter<N>(1.0, x.v, y.v, &out.h);
  return out;
}
template <int N>
SecondOrderJet<N> operator/(const SecondOrderJet<N>& x, const SecondOrderJet<N>& y) {
  // x / y with f = x / y: f_x = 1/y, f_y = -x/y^2, f_xx = 0, f_xy = -1/y^2,
  // f_yy = 2x/y^3.
  const double inv = 1.0 / y.a;
  const double f = x.a * inv;
  return detail::Chain2(x, y, f, inv, -f * inv, 0.0, -inv * inv,
                                           2.0 * f * inv * inv);
}
template <int N>
SecondOrderJet<N> operator+(const SecondOrderJet<N>& x, double s) {
  SecondOrderJet<N> out = x;
  out.a += s;
  return out;
}
template <int N>
SecondOrderJet<N> operator+(double s, const SecondOrderJet<N>& x) {
  return x + s;
}
template <int N>
SecondOrderJet<N> operator-(const SecondOrderJet<N>& x, double s) {
  return x + (-s);
}
template <int N>
SecondOrderJet<N> operator-(double s, const SecondOrderJet<N>& x) {
  return -x + s;
}
template <int N>
SecondOrderJet<N> operator*(const SecondOrderJet<N>& x, double s) {
  SecondOrderJet<N> out;
  out.a = s * x.a;
  out.v = s * x.v;
  out.h = s * x.h;
  return out;
}
template <int N>
SecondOrderJet<N> operator*(double s, const SecondOrderJet<N>& x) {
  return x * s;
}
template <int N>
SecondOrderJet<N> operator/(const SecondOrderJet<N>& x, double s) {
  return x * (1.0 / s);
}
template <int N>
SecondOrderJet<N> operator/(double s, const SecondOrderJet<N>& x) {
  const double inv = 1.0 / x.a;
  return detail::Chain(x, s * inv, -s * inv * inv,
                                          2.0 * s * inv * inv * inv);
}

// Comparisons: of the values.
#define CERES_WIBERG_SECOND_ORDER_JET_COMPARISON(op)                              \
  template <int N>                                                               \
  bool operator op(const SecondOrderJet<N>& x, const SecondOrderJet<N>& y) {     \
    return x.a op y.a;                                                           \
  }                                                                              \
  template <int N>                                                               \
  bool operator op(const SecondOrderJet<N>& x, double s) {                       \
    return x.a op s;                                                             \
  }                                                                              \
  template <int N>                                                               \
  bool operator op(double s, const SecondOrderJet<N>& x) {                       \
    return s op x.a;                                                             \
  }
CERES_WIBERG_SECOND_ORDER_JET_COMPARISON(<)
CERES_WIBERG_SECOND_ORDER_JET_COMPARISON(<=)
CERES_WIBERG_SECOND_ORDER_JET_COMPARISON(>)
CERES_WIBERG_SECOND_ORDER_JET_COMPARISON(>=)
CERES_WIBERG_SECOND_ORDER_JET_COMPARISON(==)
CERES_WIBERG_SECOND_ORDER_JET_COMPARISON(!=)
#undef CERES_WIBERG_SECOND_ORDER_JET_COMPARISON

// Functions (found by argument-dependent lookup, as ceres::Jet's are).
template <int N>
SecondOrderJet<N> abs(const SecondOrderJet<N>& x) {
  return x.a < 0.0 ? -x : x;
}
template <int N>
SecondOrderJet<N> sqrt(const SecondOrderJet<N>& x) {
  const double s = std::sqrt(x.a);
  return detail::Chain(x, s, 0.5 / s, -0.25 / (s * x.a));
}
template <int N>
SecondOrderJet<N> cbrt(const SecondOrderJet<N>& x) {
  const double c = std::cbrt(x.a);
  const double dc = 1.0 / (3.0 * c * c);
  return detail::Chain(x, c, dc, -2.0 * dc / (3.0 * x.a));
}
template <int N>
SecondOrderJet<N> exp(const SecondOrderJet<N>& x) {
  const double e = std::exp(x.a);
  return detail::Chain(x, e, e, e);
}
template <int N>
SecondOrderJet<N> expm1(const SecondOrderJet<N>& x) {
  const double e = std::exp(x.a);
  return detail::Chain(x, std::expm1(x.a), e, e);
}
template <int N>
SecondOrderJet<N> log(const SecondOrderJet<N>& x) {
  const double inv = 1.0 / x.a;
  return detail::Chain(x, std::log(x.a), inv, -inv * inv);
}
template <int N>
SecondOrderJet<N> log1p(const SecondOrderJet<N>& x) {
  const double inv = 1.0 / (1.0 + x.a);
  return detail::Chain(x, std::log1p(x.a), inv, -inv * inv);
}
template <int N>
SecondOrderJet<N> sin(const SecondOrderJet<N>& x) {
  const double s = std::sin(x.a);
  return detail::Chain(x, s, std::cos(x.a), -s);
}
template <int N>
SecondOrderJet<N> cos(const SecondOrderJet<N>& x) {
  const double c = std::cos(x.a);
  return detail::Chain(x, c, -std::sin(x.a), -c);
}
template <int N>
SecondOrderJet<N> tan(const SecondOrderJet<N>& x) {
  const double t = std::tan(x.a);
  const double dt = 1.0 + t * t;
  return detail::Chain(x, t, dt, 2.0 * t * dt);
}
template <int N>
SecondOrderJet<N> asin(const SecondOrderJet<N>& x) {
  const double q = 1.0 / (1.0 - x.a * x.a);
  const double d = std::sqrt(q);
  return detail::Chain(x, std::asin(x.a), d, x.a * d * q);
}
template <int N>
SecondOrderJet<N> acos(const SecondOrderJet<N>& x) {
  const double q = 1.0 / (1.0 - x.a * x.a);
  const double d = std::sqrt(q);
  return detail::Chain(x, std::acos(x.a), -d, -x.a * d * q);
}
template <int N>
SecondOrderJet<N> atan(const SecondOrderJet<N>& x) {
  const double q = 1.0 / (1.0 + x.a * x.a);
  return detail::Chain(x, std::atan(x.a), q, -2.0 * x.a * q * q);
}
template <int N>
SecondOrderJet<N> sinh(const SecondOrderJet<N>& x) {
  const double s = std::sinh(x.a);
  return detail::Chain(x, s, std::cosh(x.a), s);
}
template <int N>
SecondOrderJet<N> cosh(const SecondOrderJet<N>& x) {
  const double c = std::cosh(x.a);
  return detail::Chain(x, c, std::sinh(x.a), c);
}
template <int N>
SecondOrderJet<N> tanh(const SecondOrderJet<N>& x) {
  const double t = std::tanh(x.a);
  const double dt = 1.0 - t * t;
  return detail::Chain(x, t, dt, -2.0 * t * dt);
}
// x^p, p constant.
template <int N>
SecondOrderJet<N> pow(const SecondOrderJet<N>& x, double p) {
  const double f = std::pow(x.a, p);
  return detail::Chain(x, f, p * std::pow(x.a, p - 1.0),
                                          p * (p - 1.0) * std::pow(x.a, p - 2.0));
}
// b^x, b > 0 constant.
template <int N>
SecondOrderJet<N> pow(double b, const SecondOrderJet<N>& x) {
  const double f = std::pow(b, x.a);
  const double l = std::log(b);
  return detail::Chain(x, f, l * f, l * l * f);
}
// x^y for x > 0.
template <int N>
SecondOrderJet<N> pow(const SecondOrderJet<N>& x, const SecondOrderJet<N>& y) {
  const double f = std::pow(x.a, y.a);
  const double l = std::log(x.a);
  const double g = std::pow(x.a, y.a - 1.0);  // x^(y-1)
  return detail::Chain2(x, y, f, y.a * g, l * f,
                                           y.a * (y.a - 1.0) * std::pow(x.a, y.a - 2.0),
                                           g * (1.0 + y.a * l), l * l * f);
}
// atan2(y, x).
template <int N>
SecondOrderJet<N> atan2(const SecondOrderJet<N>& y, const SecondOrderJet<N>& x) {
  const double q = 1.0 / (x.a * x.a + y.a * y.a);
  const double q2 = q * q;
  return detail::Chain2(y, x, std::atan2(y.a, x.a), x.a * q, -y.a * q,
                                           -2.0 * x.a * y.a * q2,
                                           (y.a * y.a - x.a * x.a) * q2, 2.0 * x.a * y.a * q2);
}
// hypot(x, y) = sqrt(x^2 + y^2).
template <int N>
SecondOrderJet<N> hypot(const SecondOrderJet<N>& x, const SecondOrderJet<N>& y) {
  return sqrt(x * x + y * y);
}
template <int N>
bool isfinite(const SecondOrderJet<N>& x) {
  return std::isfinite(x.a) && x.v.allFinite() && x.h.allFinite();
}
template <int N>
bool isnan(const SecondOrderJet<N>& x) {
  return std::isnan(x.a) || x.v.hasNaN() || x.h.hasNaN();
}
template <int N>
bool isinf(const SecondOrderJet<N>& x) {
  return std::isinf(x.a);
}
// As ceres::IsFinite for jets.
template <int N>
bool IsFinite(const SecondOrderJet<N>& x) {
  return isfinite(x);
}

}  // namespace second_order_jet

using second_order_jet::SecondOrderJet;

// ceres::AutoDiffCostFunction<Functor, kNumResiduals, Ns...> with
// EvaluateCurvature: swap one for the other and change nothing else. The
// functor's templated operator() is called with T = double (through Ceres'
// autodiff: Evaluate) and T = SecondOrderJet<N>, N = Ns + ... (the total
// number of parameters: EvaluateCurvature, one call for the whole Hessian,
// O(N^2) work per operation of the functor). Ownership as Ceres': the
// functor is deleted unless DO_NOT_TAKE_OWNERSHIP. kNumResiduals may be
// ceres::DYNAMIC (then pass num_residuals).
template <typename Functor, int kNumResiduals, int... Ns>
class AutoDiffSecondOrderCostFunction final : public SecondOrderCostFunction {
 public:
  static constexpr int kNumParameters = (Ns + ...);
  using Jet = SecondOrderJet<kNumParameters>;

  explicit AutoDiffSecondOrderCostFunction(Functor* functor,
                                           ceres::Ownership ownership = ceres::TAKE_OWNERSHIP)
      : functor_(functor),
        ownership_(ownership),
        autodiff_(functor, ceres::DO_NOT_TAKE_OWNERSHIP) {
    static_assert(kNumResiduals != ceres::DYNAMIC,
                  "pass num_residuals when kNumResiduals is ceres::DYNAMIC");
    Init();
  }
  AutoDiffSecondOrderCostFunction(Functor* functor, int num_residuals,
                                  ceres::Ownership ownership = ceres::TAKE_OWNERSHIP)
      : functor_(functor),
        ownership_(ownership),
        autodiff_(functor, num_residuals, ceres::DO_NOT_TAKE_OWNERSHIP) {
    static_assert(kNumResiduals == ceres::DYNAMIC,
                  "num_residuals is only passed when kNumResiduals is ceres::DYNAMIC");
    Init();
  }
  ~AutoDiffSecondOrderCostFunction() override {
    if (ownership_ == ceres::DO_NOT_TAKE_OWNERSHIP) functor_.release();
  }

  bool Evaluate(double const* const* parameters, double* residuals,
                double** jacobians) const override {
    return autodiff_.Evaluate(parameters, residuals, jacobians);
  }

  bool EvaluateCurvature(double const* const* parameters, const double* weights,
                         double* hessian) const override {
    // On the stack unless the number of residuals is dynamic.
    Jet x[kNumParameters];
    int k = 0;
    for (int b = 0; b < kNumBlocks; ++b) {
      for (int p = 0; p < kSizes[b]; ++p, ++k) x[k] = Jet(parameters[b][p], k);
    }
    if constexpr (kNumResiduals != ceres::DYNAMIC) {
      Jet r[kNumResiduals];
      return Call(x, r, std::make_index_sequence<kNumBlocks>()) && Sum(r, weights, hessian);
    } else {
      std::vector<Jet, Eigen::aligned_allocator<Jet>> r(num_residuals());
      return Call(x, r.data(), std::make_index_sequence<kNumBlocks>()) &&
             Sum(r.data(), weights, hessian);
    }
  }

  const Functor& functor() const { return *functor_; }

 private:
  static constexpr int kNumBlocks = sizeof...(Ns);
  static constexpr std::array<int, sizeof...(Ns)> kSizes = {Ns...};

  void Init() {
    set_num_residuals(autodiff_.num_residuals());
    *mutable_parameter_block_sizes() = autodiff_.parameter_block_sizes();
  }

  // hessian = sum_i weights[i] r[i]'s Hessian (N x N, row-major).
  bool Sum(const Jet* r, const double* weights, double* hessian) const {
    typename Jet::Packed sum = weights[0] * r[0].h;
    for (int i = 1; i < num_residuals(); ++i) sum += weights[i] * r[i].h;
    int k = 0;
    for (int i = 0; i < kNumParameters; ++i) {
      for (int j = i; j < kNumParameters; ++j, ++k) {
        hessian[i * kNumParameters + j] = hessian[j * kNumParameters + i] = sum[k];
      }
    }
    return true;
  }

  template <size_t... Is>
  bool Call(const Jet* x, Jet* r, std::index_sequence<Is...>) const {
    std::array<const Jet*, kNumBlocks> blocks;
    int offset = 0;
    for (int b = 0; b < kNumBlocks; ++b) {
      blocks[b] = x + offset;
      offset += kSizes[b];
    }
    return (*functor_)(blocks[Is]..., r);
  }

  std::unique_ptr<Functor> functor_;
  const ceres::Ownership ownership_;
  ceres::AutoDiffCostFunction<Functor, kNumResiduals, Ns...> autodiff_;
};

}  // namespace ceres_wiberg

#endif  // CERES_WIBERG_SECOND_ORDER_COST_FUNCTION_H_
