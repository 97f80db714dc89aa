#include "snavely_reprojection_error.h"

#include <array>
#include <cmath>

#include "Eigen/Core"
#include "Eigen/Geometry"

namespace bundle_adjustment {
namespace {

using Eigen::Matrix2d;
using Eigen::Matrix3d;
using Eigen::Vector2d;
using Eigen::Vector3d;

// R(w) X = a(s) X + b(s) w x X + c(s) (w.X) w, s = |w|^2:
// a = cos(theta), b = sin(theta) / theta, c = (1 - cos(theta)) / theta^2
// (theta = |w|), and the derivatives in s that the curvature needs
// (a' = -b / 2, a'' = -b' / 2).
struct RodriguesCoefficients {
  double a, b, c;
  double db, dc;    // d/ds
  double d2b, d2c;  // d^2/ds^2
};

// Below kSeriesBelow (theta < 2 rad) the closed forms of b', b'', c', c''
// cancel (b'' = (3 sin - 3 theta cos - theta^2 sin) / (4 theta^5) loses all
// its digits as theta -> 0): Taylor series in s, whose terms
// (-s)^n / (2n + 1)! ... decrease from the first, with kSeriesTerms terms
// (the last one's contribution below 1e-22 at s = 4). Above, the closed
// forms lose at most ~1e-15 relative.
constexpr double kSeriesBelow = 4.0;
constexpr int kSeriesTerms = 15;

// series[m][n] = (-1)^n / (2n + m)!, m = 0 (a), 1 (b), 2 (c).
const std::array<std::array<double, kSeriesTerms>, 3>& SeriesCoefficients() {
  static const std::array<std::array<double, kSeriesTerms>, 3> coefficients = [] {
    std::array<std::array<double, kSeriesTerms>, 3> out;
    for (int m = 0; m < 3; ++m) {
      for (int n = 0; n < kSeriesTerms; ++n) {
        double factorial = 1.0;
        for (int i = 2; i <= 2 * n + m; ++i) factorial *= i;
        out[m][n] = (n % 2 == 0 ? 1.0 : -1.0) / factorial;
      }
    }
    return out;
  }();
  return coefficients;
}

// p(s), p'(s), p''(s) of p = sum_n coefficients[n] s^n (Horner).
void Series(const std::array<double, kSeriesTerms>& coefficients, double s, double* p,
            double* dp, double* d2p) {
  double value = 0.0, first = 0.0, half_second = 0.0;
  for (int n = kSeriesTerms - 1; n >= 0; --n) {
    half_second = half_second * s + first;
    first = first * s + value;
    value = value * s + coefficients[n];
  }
  *p = value;
  if (dp != nullptr) *dp = first;
  if (d2p != nullptr) *d2p = 2.0 * half_second;
}

RodriguesCoefficients Coefficients(double s) {
  RodriguesCoefficients k;
  if (s < kSeriesBelow) {
    const auto& series = SeriesCoefficients();
    Series(series[0], s, &k.a, nullptr, nullptr);
    Series(series[1], s, &k.b, &k.db, &k.d2b);
    Series(series[2], s, &k.c, &k.dc, &k.d2c);
    return k;
  }
  const double theta = std::sqrt(s);
  const double sin = std::sin(theta);
  const double cos = std::cos(theta);
  const double one_minus_cos = 1.0 - cos;
  k.a = cos;
  k.b = sin / theta;
  k.c = one_minus_cos / s;
  k.db = (theta * cos - sin) / (2.0 * theta * s);
  k.d2b = (3.0 * sin - 3.0 * theta * cos - s * sin) / (4.0 * s * s * theta);
  k.dc = (theta * sin - 2.0 * one_minus_cos) / (2.0 * s * s);
  k.d2c = (s * cos - 5.0 * theta * sin + 8.0 * one_minus_cos) / (4.0 * s * s * s);
  return k;
}

// [x]_x: [x]_x y = x cross y.
Matrix3d Cross(const Vector3d& x) {
  Matrix3d m;
  m << 0.0, -x[2], x[1], x[2], 0.0, -x[0], -x[1], x[0], 0.0;
  return m;
}

}  // namespace

// S = weights . r = f d(q) (weights . p) + const, q = |p|^2,
// d = 1 + k1 q + k2 q^2, p = -P_xy / P_z, P = R(w) X + t. The chain rule:
//
//   d2S = J_P^T K J_P + lambda . d2P + the f, k1, k2 rows,
//
// J_P = dP/d(w, t, X) = [dP/dw, I, R], lambda = dS/dP, and K = dS/dP's
// derivative in P through p: J_p_P^T (d2S/dp2) J_p_P + sum_i dS/dp_i d2p_i/dP2.
void SnavelyCurvature(const double* camera, const double* point, const double* weights,
                      double* hessian) {
  const Eigen::Map<const Vector3d> w(camera), t(camera + 3), X(point);
  const double f = camera[6], k1 = camera[7], k2 = camera[8];
  const Eigen::Map<const Vector2d> c(weights);

  const RodriguesCoefficients rod = Coefficients(w.squaredNorm());
  const double da = -0.5 * rod.b, d2a = -0.5 * rod.db;
  const double wX = w.dot(X);
  const Vector3d w_cross_X = w.cross(X);
  const Vector3d P = rod.a * X + rod.b * w_cross_X + rod.c * wX * w + t;
  const double inv_z = 1.0 / P[2];
  const Vector2d p = -inv_z * P.head<2>();

  // S as a function of p, f, k1, k2: e = c . p, S = f d e.
  const double q = p.squaredNorm();
  const double d = 1.0 + q * (k1 + k2 * q);
  const double dd = k1 + 2.0 * k2 * q;  // dd/dq
  const double e = c.dot(p);
  const Vector2d S_f_p = d * c + 2.0 * dd * e * p;  // d2S / df dp
  const Vector2d S_p = f * S_f_p;
  const Matrix2d S_p_p =
      f * (2.0 * dd * (c * p.transpose() + p * c.transpose()) + 8.0 * k2 * e * p * p.transpose() +
           2.0 * dd * e * Matrix2d::Identity());
  const Vector2d S_k1_p = f * (q * c + 2.0 * e * p);
  const Vector2d S_k2_p = f * (q * q * c + 4.0 * q * e * p);

  // p(P): J_p_P = -(1/z) [I p]; sum_i S_p[i] d2p_i/dP2 = (1/z^2) [0 0 g; g^T 2 g.p].
  Eigen::Matrix<double, 2, 3> J_p_P;
  J_p_P << -inv_z, 0.0, -inv_z * p[0], 0.0, -inv_z, -inv_z * p[1];
  Matrix3d K = J_p_P.transpose() * S_p_p * J_p_P;
  const double inv_z2 = inv_z * inv_z;
  K(0, 2) += inv_z2 * S_p[0];
  K(2, 0) += inv_z2 * S_p[0];
  K(1, 2) += inv_z2 * S_p[1];
  K(2, 1) += inv_z2 * S_p[1];
  K(2, 2) += 2.0 * inv_z2 * S_p.dot(p);
  const Vector3d lambda = J_p_P.transpose() * S_p;

  // J_P = dP / d(w, t, X).
  Eigen::Matrix<double, 3, 9> J_P;
  J_P.leftCols<3>() = 2.0 * (da * X + rod.db * w_cross_X + rod.dc * wX * w) * w.transpose() -
                      rod.b * Cross(X) +
                      rod.c * (w * X.transpose() + wX * Matrix3d::Identity());
  J_P.middleCols<3>(3).setIdentity();
  J_P.rightCols<3>() = rod.a * Matrix3d::Identity() + rod.b * Cross(w) +
                       rod.c * w * w.transpose();
  // Coefficient-based products (lazyProduct): at these sizes Eigen would
  // otherwise call its blocked GEMM, a third of the instructions.
  const Eigen::Matrix<double, 9, 3> J_P_T_K = J_P.transpose().lazyProduct(K);
  Eigen::Matrix<double, 9, 9> H = J_P_T_K.lazyProduct(J_P);

  // lambda . d2P: the curvature of phi(w, X) = lambda . R(w) X.
  const double alpha = lambda.dot(X);
  const Vector3d mu = X.cross(lambda);
  const double wl = w.dot(lambda);
  const double w_mu = w.dot(mu);
  const double A = da * alpha + rod.db * w_mu + rod.dc * wX * wl;
  const double B = d2a * alpha + rod.d2b * w_mu + rod.d2c * wX * wl;
  const Vector3d v = rod.db * mu + rod.dc * (wl * X + wX * lambda);
  H.topLeftCorner<3, 3>() += 2.0 * A * Matrix3d::Identity() + 4.0 * B * w * w.transpose() +
                             2.0 * (w * v.transpose() + v * w.transpose()) +
                             rod.c * (X * lambda.transpose() + lambda * X.transpose());
  const Matrix3d phi_X_w = 2.0 * (da * lambda + rod.db * lambda.cross(w) + rod.dc * wl * w) *
                               w.transpose() +
                           rod.b * Cross(lambda) +
                           rod.c * (w * lambda.transpose() + wl * Matrix3d::Identity());
  H.bottomLeftCorner<3, 3>() += phi_X_w;
  H.topRightCorner<3, 3>() += phi_X_w.transpose();
  // Exactly symmetric (J_P^T K J_P's two triangles round differently).
  for (int i = 1; i < 9; ++i) {
    for (int j = 0; j < i; ++j) H(i, j) = H(j, i);
  }

  // Into the 12 x 12 of (camera, point): (w, t) are 0..5, X is 9..11; the
  // f, k1, k2 rows and columns 6..8.
  Eigen::Map<Eigen::Matrix<double, 12, 12, Eigen::RowMajor>> out(hessian);
  out.topLeftCorner<6, 6>() = H.topLeftCorner<6, 6>();
  out.topRightCorner<6, 3>() = H.topRightCorner<6, 3>();
  out.bottomLeftCorner<3, 6>() = H.bottomLeftCorner<3, 6>();
  out.bottomRightCorner<3, 3>() = H.bottomRightCorner<3, 3>();
  Eigen::Matrix<double, 2, 3> S_p_intrinsics;  // d2S / dp d(f, k1, k2)
  S_p_intrinsics << S_f_p, S_k1_p, S_k2_p;
  const Matrix3d S_P_intrinsics = J_p_P.transpose().lazyProduct(S_p_intrinsics);
  // d2S / d(w, t, X) d(f, k1, k2)
  const Eigen::Matrix<double, 9, 3> mixed = J_P.transpose().lazyProduct(S_P_intrinsics);
  out.block<6, 3>(0, 6) = mixed.topRows<6>();
  out.block<3, 3>(9, 6) = mixed.bottomRows<3>();
  out.block<3, 6>(6, 0) = mixed.topRows<6>().transpose();
  out.block<3, 3>(6, 9) = mixed.bottomRows<3>().transpose();
  Matrix3d intrinsics = Matrix3d::Zero();  // d2S / d(f, k1, k2)^2
  intrinsics(0, 1) = intrinsics(1, 0) = q * e;
  intrinsics(0, 2) = intrinsics(2, 0) = q * q * e;
  out.block<3, 3>(6, 6) = intrinsics;
}

}  // namespace bundle_adjustment
