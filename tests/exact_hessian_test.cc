// Tests of internal::ExactHessian's analytic path through
// LearnableLossCostFunction: the exact inner Hessian H and the mixed
// derivative G (through MinimiserDerivative's dy*/dw and its adjoint) of
// 1/2 m rho(|r(y, w)|^2; a), against nested jets (ceres::Jet of Jet) of the
// same energy written without the library's loss code, for all four loss
// types, with and without the weight block, loss scales a from 1e-3 to 1e3,
// for a NONLINEAR wrapped residual (its curvature is differenced) and a
// LINEAR one (nothing is differenced: one exactly zero probe difference).

#include "ceres_wiberg/internal/exact_hessian.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "ceres/ceres.h"
#include "ceres/jet.h"
#include "ceres_wiberg/bilevel_problem.h"
#include "ceres_wiberg/internal/linearisation.h"
#include "ceres_wiberg/internal/problem_layout.h"
#include "ceres_wiberg/internal/symmetric_block_matrix.h"
#include "ceres_wiberg/learnable_loss.h"
#include "ceres_wiberg/minimiser_derivative.h"
#include "ceres_wiberg/thread_pool.h"
#include "gtest/gtest.h"

namespace ceres_wiberg {
namespace internal {
namespace {

// A double constant as T, also for nested jets (whose constructor from a
// scalar is explicit at each level).
template <typename T>
struct Constant {
  static T Of(double c) { return T(c); }
};
template <typename T, int N>
struct Constant<ceres::Jet<T, N>> {
  static ceres::Jet<T, N> Of(double c) { return ceres::Jet<T, N>(Constant<T>::Of(c)); }
};

// r(y0 (3), y1 (1), w (2)), two residuals of size about `size`:
//   nonlinear: r0 = size (y00 y01 + w0 sin(y02) - 0.3),
//              r1 = size (exp(0.4 y02) w1 + y1^2 - y00 - 0.2)
//   linear:    r0 = size (y00 - 2 y01 + 0.5 y02 + w0 - 0.3),
//              r1 = size (y02 + y1 - w1 + 0.4 y00 - 0.2)
struct TestResidual {
  TestResidual(double size, bool linear) : size(size), linear(linear) {}
  template <typename T>
  bool operator()(const T* y0, const T* y1, const T* w, T* r) const {
    auto c = [](double v) { return Constant<T>::Of(v); };
    if (linear) {
      r[0] = c(size) * (y0[0] - c(2.0) * y0[1] + c(0.5) * y0[2] + w[0] - c(0.3));
      r[1] = c(size) * (y0[2] + y1[0] - w[1] + c(0.4) * y0[0] - c(0.2));
    } else {
      r[0] = c(size) * (y0[0] * y0[1] + w[0] * sin(y0[2]) - c(0.3));
      r[1] = c(size) * (exp(c(0.4) * y0[2]) * w[1] + y1[0] * y1[0] - y0[0] - c(0.2));
    }
    return true;
  }
  double size;
  bool linear;
};

// Nested jets over the 8 coordinates x: second derivatives by forward mode
// on forward mode.
using Inner = ceres::Jet<double, 8>;
using Outer = ceres::Jet<Inner, 8>;
void SeedNestedJets(const double* x, Outer* v) {
  for (int i = 0; i < 8; ++i) {
    v[i].a = Inner(x[i], i);
    v[i].v.setZero();
    v[i].v[i] = Inner(1.0);
  }
}

// rho(s; a) of `type`, written afresh for the reference (no library code).
template <typename T>
T Rho(LearnableLossType type, const T& s, const T& a) {
  const T one = Constant<T>::Of(1.0);
  const T c = a * a;
  const T u = s / c;
  switch (type) {
    case LearnableLossType::PSEUDO_HUBER:
      return Constant<T>::Of(2.0) * c * (sqrt(one + u) - one);
    case LearnableLossType::CAUCHY:
      return c * log(one + u);
    case LearnableLossType::WELSCH:
      return one - exp(-u);
    case LearnableLossType::NORMALISED_WELSCH:
      return c * (one - exp(-u));
  }
  return s;
}

// The reference: the Hessian of E = 1/2 m rho(|r|^2; a) over
// x = (y0 (3), y1 (1), w (2), a, m) by nested jets.
Eigen::Matrix<double, 8, 8> ReferenceHessian(const TestResidual& residual,
                                             LearnableLossType type, const double* x) {
  Outer v[8];
  SeedNestedJets(x, v);
  Outer r[2];
  residual(&v[0], &v[3], &v[4], r);
  const Outer s = r[0] * r[0] + r[1] * r[1];
  const Outer energy = Constant<Outer>::Of(0.5) * v[7] * Rho(type, s, v[6]);
  Eigen::Matrix<double, 8, 8> H;
  for (int i = 0; i < 8; ++i) {
    for (int j = 0; j < 8; ++j) H(i, j) = energy.v[i].v[j];
  }
  return H;
}

struct Case {
  LearnableLossType type;
  bool weight_block;
  double a;
  bool linear;
  bool at_zero = false;  // linear only: w such that r = 0 (s = 0)
  std::string Name() const {
    return std::string(LearnableLossTypeToString(type)) + (weight_block ? " with m" : "") +
           " a = " + std::to_string(a) + (linear ? " linear" : " nonlinear") +
           (at_zero ? " at r = 0" : "");
  }
};

void CheckCase(const Case& test_case) {
  SCOPED_TRACE(test_case.Name());
  // x = (y0, y1, w, a, m); the residuals scale with a, so that s / a^2 is
  // of order one (the loss's bend) whatever a is.
  double y0[3] = {0.7, -0.4, 0.9};
  double y1[1] = {0.3};
  double w[2] = {1.3, -0.6};
  if (test_case.at_zero) {
    w[0] = 0.3 - (y0[0] - 2.0 * y0[1] + 0.5 * y0[2]);
    w[1] = y0[2] + y1[0] + 0.4 * y0[0] - 0.2;
  }
  double a[1] = {test_case.a};
  double m[1] = {test_case.weight_block ? 2.5 : 1.0};
  const TestResidual functor(test_case.a, test_case.linear);
  auto* wrapped = new ceres::AutoDiffCostFunction<TestResidual, 2, 3, 1, 2>(
      new TestResidual(functor));
  ceres::Problem problem;
  std::vector<double*> learnable = {w, a};
  if (test_case.weight_block) {
    problem.AddResidualBlock(
        new LearnableLossCostFunction(wrapped, test_case.type, /*has_weight_block=*/true),
        nullptr, {y0, y1, w, a, m});
    learnable.push_back(m);
  } else {
    problem.AddResidualBlock(new LearnableLossCostFunction(wrapped, test_case.type), nullptr,
                             {y0, y1, w, a});
  }
  std::unique_ptr<BilevelProblem> bilevel;
  ASSERT_TRUE(BilevelProblem::Create(&problem, learnable, &bilevel).ok());
  const ProblemLayout& layout = bilevel->layout();
  ASSERT_EQ(layout.residuals.size(), 1u);
  ASSERT_NE(layout.residuals[0].learnable_loss, nullptr);

  const double x[8] = {y0[0], y0[1], y0[2], y1[0], w[0], w[1], a[0], m[0]};
  const Eigen::Matrix<double, 8, 8> reference = ReferenceHessian(functor, test_case.type, x);
  // y's order is the layout's: y0 and y1 at their offsets.
  int y_index[4];
  for (int q = 0; q < 3; ++q) {
    y_index[q] = layout.blocks[layout.block_index.at(y0)].offset + q;
  }
  y_index[3] = layout.blocks[layout.block_index.at(y1)].offset;
  const int n_w = test_case.weight_block ? 4 : 3;  // w in the order (w, a, m)
  Eigen::Matrix4d H_reference;
  Eigen::MatrixXd G_reference(4, n_w);
  for (int p = 0; p < 4; ++p) {
    for (int q = 0; q < 4; ++q) H_reference(y_index[p], y_index[q]) = reference(p, q);
    for (int q = 0; q < n_w; ++q) G_reference(y_index[p], q) = reference(p, 4 + q);
  }

  // H: the library's exact model against the reference, and how much was
  // differenced.
  const MinimiserDerivative::Options options;
  Linearisation linearisation(layout);
  ASSERT_TRUE(linearisation.Evaluate().ok());
  ExactHessian exact_hessian(layout, linearisation, options.second_derivative_relative_step);
  SymmetricBlockMatrix hessian(layout);
  ASSERT_TRUE(exact_hessian.Assemble(HessianModel::EXACT, nullptr, &hessian).ok());
  const Eigen::MatrixXd H = hessian.ToDense();
  const double H_scale = H_reference.cwiseAbs().maxCoeff();
  ASSERT_GT(H_scale, 0.0);
  // Linear r: nothing differenced, round-off only; nonlinear: the curvature
  // of r is differenced (Richardson, O(h^4)).
  const double H_tolerance = test_case.linear ? 1e-12 : 1e-7;
  EXPECT_LE((H - H_reference).cwiseAbs().maxCoeff(), H_tolerance * H_scale)
      << "H =\n" << H << "\nreference =\n" << H_reference;
  if (test_case.linear) {
    // One pair of evaluations: the residual-block probe, exactly zero.
    EXPECT_EQ(exact_hessian.num_curvature_evaluations(), 2);
  } else {
    EXPECT_GT(exact_hessian.num_curvature_evaluations(), 2);
  }

  // G through dy*/dw = -(H + lambda I)^-1 G and its adjoint, lambda large
  // enough for H + lambda I to be positive definite at this (not minimising)
  // point.
  MinimiserDerivative::Options derivative_options;
  derivative_options.lambda = 2.0 * H_reference.cwiseAbs().rowwise().sum().maxCoeff();
  MinimiserDerivative derivative(derivative_options);
  MinimiserDerivative::Summary summary;
  Status status = derivative.Linearise(bilevel.get(), &summary);
  ASSERT_TRUE(status.ok()) << status.ToString();
  Eigen::MatrixXd J_y_w;
  ASSERT_TRUE(derivative.Jacobian(&J_y_w).ok());
  const Eigen::MatrixXd J_reference =
      -(H_reference + derivative_options.lambda * Eigen::Matrix4d::Identity())
           .ldlt()
           .solve(G_reference);
  const double J_scale = J_reference.cwiseAbs().maxCoeff();
  ASSERT_GT(J_scale, 0.0);
  const double J_tolerance = test_case.linear ? 1e-12 : 1e-7;
  EXPECT_LE((J_y_w - J_reference).cwiseAbs().maxCoeff(), J_tolerance * J_scale)
      << "dy*/dw =\n" << J_y_w << "\nreference =\n" << J_reference;
  const Eigen::Vector4d u(0.3, -1.1, 0.7, 0.2);
  Eigen::VectorXd J_T_u;
  ASSERT_TRUE(derivative.VectorJacobianProduct(u, &J_T_u).ok());
  const Eigen::VectorXd J_T_u_reference = J_reference.transpose() * u;
  EXPECT_LE((J_T_u - J_T_u_reference).cwiseAbs().maxCoeff(),
            J_tolerance * J_T_u_reference.cwiseAbs().maxCoeff());
}

TEST(ExactHessianLearnableLoss, MatchesNestedJets) {
  for (LearnableLossType type :
       {LearnableLossType::PSEUDO_HUBER, LearnableLossType::CAUCHY, LearnableLossType::WELSCH,
        LearnableLossType::NORMALISED_WELSCH}) {
    for (bool weight_block : {false, true}) {
      for (double a : {1e-3, 1.0, 1e3}) {
        for (bool linear : {false, true}) CheckCase({type, weight_block, a, linear});
        CheckCase({type, weight_block, a, /*linear=*/true, /*at_zero=*/true});
      }
    }
  }
}

// With a ceres::LossFunction passed as well, the block takes the generic
// path (differences through r~), and H is that of 1/2 log(1 + m rho(s; a))
// (Ceres' CauchyLoss(1) of |r~|^2 = m rho).
TEST(ExactHessianLearnableLoss, CeresLossFallsBackToTheGenericPath) {
  double y0[3] = {0.7, -0.4, 0.9};
  double y1[1] = {0.3};
  double w[2] = {1.3, -0.6};
  double a[1] = {1.0};
  double m[1] = {2.5};
  const TestResidual functor(1.0, /*linear=*/false);
  ceres::Problem problem;
  problem.AddResidualBlock(
      new LearnableLossCostFunction(
          new ceres::AutoDiffCostFunction<TestResidual, 2, 3, 1, 2>(new TestResidual(functor)),
          LearnableLossType::CAUCHY, /*has_weight_block=*/true),
      new ceres::CauchyLoss(1.0), {y0, y1, w, a, m});
  std::unique_ptr<BilevelProblem> bilevel;
  ASSERT_TRUE(BilevelProblem::Create(&problem, {w, a, m}, &bilevel).ok());
  const ProblemLayout& layout = bilevel->layout();
  EXPECT_EQ(layout.residuals[0].learnable_loss, nullptr);

  const double x[8] = {y0[0], y0[1], y0[2], y1[0], w[0], w[1], a[0], m[0]};
  Outer v[8];
  SeedNestedJets(x, v);
  Outer r[2];
  functor(&v[0], &v[3], &v[4], r);
  const Outer s = r[0] * r[0] + r[1] * r[1];
  const Outer energy =
      Constant<Outer>::Of(0.5) *
      log(Constant<Outer>::Of(1.0) + v[7] * Rho(LearnableLossType::CAUCHY, s, v[6]));
  int y_index[4];
  for (int q = 0; q < 3; ++q) y_index[q] = layout.blocks[layout.block_index.at(y0)].offset + q;
  y_index[3] = layout.blocks[layout.block_index.at(y1)].offset;
  Eigen::Matrix4d H_reference;
  for (int p = 0; p < 4; ++p) {
    for (int q = 0; q < 4; ++q) H_reference(y_index[p], y_index[q]) = energy.v[p].v[q];
  }

  const MinimiserDerivative::Options options;
  Linearisation linearisation(layout);
  ASSERT_TRUE(linearisation.Evaluate().ok());
  ExactHessian exact_hessian(layout, linearisation, options.second_derivative_relative_step);
  SymmetricBlockMatrix hessian(layout);
  ASSERT_TRUE(exact_hessian.Assemble(HessianModel::EXACT, nullptr, &hessian).ok());
  EXPECT_LE((hessian.ToDense() - H_reference).cwiseAbs().maxCoeff(),
            1e-7 * H_reference.cwiseAbs().maxCoeff());
}

// H of `model` assembled at the problem's values (empty if that fails).
Eigen::MatrixXd AssembledHessian(const ProblemLayout& layout, HessianModel model) {
  Linearisation linearisation(layout, model);
  if (!linearisation.Evaluate().ok()) return {};
  ExactHessian exact_hessian(layout, linearisation,
                             MinimiserDerivative::Options().second_derivative_relative_step);
  SymmetricBlockMatrix hessian(layout);
  if (!exact_hessian.Assemble(model, nullptr, &hessian).ok()) return {};
  return hessian.ToDense();
}

// r(t, w) = size (sin(t) - w, t^2 - 1, exp(t / 2) w): three residuals of one
// scalar unknown t (ExactHessian's one-coordinate path).
struct ScalarResidual {
  explicit ScalarResidual(double size) : size(size) {}
  template <typename T>
  bool operator()(const T* t, const T* w, T* r) const {
    r[0] = T(size) * (sin(t[0]) - w[0]);
    r[1] = T(size) * (t[0] * t[0] - T(1.0));
    r[2] = T(size) * exp(T(0.5) * t[0]) * w[0];
    return true;
  }
  double size;
};

// Residual blocks of one scalar unknown each, under a Ceres CauchyLoss,
// residual sizes 1e-3 to 1e3, against the hand-derived
//   d2/dt2 1/2 rho(s) = rho' sum_k (r_k'^2 + r_k r_k'') + 2 rho'' (sum_k r_k r_k')^2
// (EXACT: the curvature r'' is differenced, tolerance 1e-7 of the entry) and
// rho' sum_k r_k'^2 (GAUSS_NEWTON: round-off only, 1e-14); and the gradient
// rho' sum_k r_k r_k' (1e-14 of rho' |r| |r'|).
TEST(ExactHessian, ScalarUnknownsMatchTheirHandDerivedSecondDerivatives) {
  const double sizes[3] = {1e-3, 1.0, 1e3};
  double t[3] = {0.4, -1.3, 2.1};
  double w[1] = {0.7};
  const double b = 4.0;  // CauchyLoss(2): rho(s) = b log(1 + s / b)
  ceres::Problem problem;
  for (int i = 0; i < 3; ++i) {
    problem.AddResidualBlock(new ceres::AutoDiffCostFunction<ScalarResidual, 3, 1, 1>(
                                 new ScalarResidual(sizes[i])),
                             new ceres::CauchyLoss(2.0), {&t[i], w});
  }
  std::unique_ptr<BilevelProblem> bilevel;
  ASSERT_TRUE(BilevelProblem::Create(&problem, {w}, &bilevel).ok());
  const ProblemLayout& layout = bilevel->layout();
  for (HessianModel model : {HessianModel::EXACT, HessianModel::GAUSS_NEWTON}) {
    SCOPED_TRACE(HessianModelToString(model));
    const Eigen::MatrixXd H = AssembledHessian(layout, model);
    ASSERT_EQ(H.rows(), 3);
    Linearisation linearisation(layout, model);
    ASSERT_TRUE(linearisation.Evaluate().ok());
    const Eigen::VectorXd& gradient = linearisation.gradient();
    for (int i = 0; i < 3; ++i) {
      const double c = sizes[i], x = t[i];
      const double r[3] = {c * (std::sin(x) - w[0]), c * (x * x - 1.0),
                           c * std::exp(0.5 * x) * w[0]};
      const double dr[3] = {c * std::cos(x), c * 2.0 * x, c * 0.5 * std::exp(0.5 * x) * w[0]};
      const double d2r[3] = {-c * std::sin(x), c * 2.0, c * 0.25 * std::exp(0.5 * x) * w[0]};
      double s = 0.0, r_dr = 0.0, dr_dr = 0.0, r_d2r = 0.0;
      for (int k = 0; k < 3; ++k) {
        s += r[k] * r[k];
        r_dr += r[k] * dr[k];
        dr_dr += dr[k] * dr[k];
        r_d2r += r[k] * d2r[k];
      }
      const double rho1 = 1.0 / (1.0 + s / b);
      const double rho2 = -rho1 * rho1 / b;
      const int row = layout.blocks[layout.block_index.at(&t[i])].offset;
      // g = rho' sum_k r_k r_k' (Linearisation's one-coordinate path), round-off only.
      EXPECT_NEAR(gradient[row], rho1 * r_dr, 1e-14 * std::abs(rho1) * std::sqrt(s * dr_dr))
          << "block " << i;
      const double reference = model == HessianModel::EXACT
                                   ? rho1 * (dr_dr + r_d2r) + 2.0 * rho2 * r_dr * r_dr
                                   : rho1 * dr_dr;
      const double tolerance = model == HessianModel::EXACT ? 1e-7 : 1e-14;
      EXPECT_NEAR(H(row, row), reference, tolerance * std::abs(reference)) << "block " << i;
    }
  }
}

// r(p (2), q (1), w) = size (p0 p1 - w, q^2 + sin(p1), p0 q): two or three
// inner coordinates over one or two blocks (the unrolled small path).
struct PointResidual {
  explicit PointResidual(double size) : size(size) {}
  template <typename T>
  bool operator()(const T* p, const T* q, const T* w, T* r) const {
    r[0] = T(size) * (p[0] * p[1] - w[0]);
    r[1] = T(size) * (q[0] * q[0] + sin(p[1]));
    r[2] = T(size) * p[0] * q[0];
    return true;
  }
  double size;
};

// As above for n = 3 (p and q free) and n = 2 (q held constant): the local
// H of one residual block against the hand-derived
//   rho' (J^T J + sum_k r_k d2r_k) + 2 rho'' (J^T r)(J^T r)^T
// (EXACT, tolerance 1e-7 of its largest entry) and rho' J^T J
// (GAUSS_NEWTON, 1e-14), residual sizes 1e-3 and 1e3.
TEST(ExactHessian, SmallBlocksMatchTheirHandDerivedSecondDerivatives) {
  for (bool q_free : {true, false}) {
    for (double size : {1e-3, 1e3}) {
      double p[2] = {0.8, -0.5};
      double q[1] = {1.7};
      double w[1] = {0.4};
      ceres::Problem problem;
      problem.AddResidualBlock(new ceres::AutoDiffCostFunction<PointResidual, 3, 2, 1, 1>(
                                   new PointResidual(size)),
                               new ceres::CauchyLoss(2.0), {p, q, w});
      if (!q_free) problem.SetParameterBlockConstant(q);
      std::unique_ptr<BilevelProblem> bilevel;
      ASSERT_TRUE(BilevelProblem::Create(&problem, {w}, &bilevel).ok());
      const ProblemLayout& layout = bilevel->layout();
      const double c = size;
      const double r[3] = {c * (p[0] * p[1] - w[0]), c * (q[0] * q[0] + std::sin(p[1])),
                           c * p[0] * q[0]};
      Eigen::Matrix3d J;  // rows r_k, columns (p0, p1, q)
      J << c * p[1], c * p[0], 0.0, 0.0, c * std::cos(p[1]), c * 2.0 * q[0], c * q[0], 0.0,
          c * p[0];
      Eigen::Matrix3d curvature;  // sum_k r_k d2r_k
      curvature << 0.0, c * r[0], c * r[2], c * r[0], -c * std::sin(p[1]) * r[1], 0.0,
          c * r[2], 0.0, c * 2.0 * r[1];
      const Eigen::Vector3d r_vec(r[0], r[1], r[2]);
      const double b = 4.0;  // CauchyLoss(2)
      const double rho1 = 1.0 / (1.0 + r_vec.squaredNorm() / b);
      const double rho2 = -rho1 * rho1 / b;
      const Eigen::Vector3d J_T_r = J.transpose() * r_vec;
      for (HessianModel model : {HessianModel::EXACT, HessianModel::GAUSS_NEWTON}) {
        SCOPED_TRACE(std::string(HessianModelToString(model)) + (q_free ? " n = 3" : " n = 2") +
                     " size " + std::to_string(size));
        const Eigen::Matrix3d reference =
            model == HessianModel::EXACT
                ? Eigen::Matrix3d(rho1 * (J.transpose() * J + curvature) +
                                  2.0 * rho2 * J_T_r * J_T_r.transpose())
                : Eigen::Matrix3d(rho1 * J.transpose() * J);
        const Eigen::MatrixXd H = AssembledHessian(layout, model);
        const int n = q_free ? 3 : 2;
        ASSERT_EQ(H.rows(), n);
        int index[3];
        index[0] = layout.blocks[layout.block_index.at(p)].offset;
        index[1] = index[0] + 1;
        if (q_free) index[2] = layout.blocks[layout.block_index.at(q)].offset;
        const double scale = reference.topLeftCorner(n, n).cwiseAbs().maxCoeff();
        const double tolerance = model == HessianModel::EXACT ? 1e-7 : 1e-14;
        for (int a = 0; a < n; ++a) {
          for (int e = 0; e < n; ++e) {
            EXPECT_NEAR(H(index[a], index[e]), reference(a, e), tolerance * scale)
                << "entry " << a << ", " << e;
          }
        }
      }
    }
  }
}

// Linearisation under EXACT keeps one view of a block with a learnable loss
// (the exact one, where Ceres' view would be), under GAUSS_NEWTON both: the
// exact view and g must not depend on that, nor on the number of threads
// (one thread adds g's terms as they come, threads store them first).
struct ChainResidual {
  template <typename T>
  bool operator()(const T* a, const T* b, const T* w, T* r) const {
    r[0] = a[0] * b[0] - w[0] * sin(a[0] - b[0]);
    r[1] = a[0] - T(0.5) * b[0] * b[0];
    return true;
  }
};

TEST(Linearisation, ExactViewAndGradientDoNotDependOnTheModelOrThreads) {
  constexpr int kSize = 50;
  std::vector<double> y(kSize);
  double w[1] = {0.3};
  double a[1] = {0.8};
  ceres::Problem problem;
  for (int i = 0; i < kSize; ++i) y[i] = std::sin(0.37 * i) + 0.1 * i;
  for (int i = 0; i + 1 < kSize; ++i) {
    problem.AddResidualBlock(
        new LearnableLossCostFunction(
            new ceres::AutoDiffCostFunction<ChainResidual, 2, 1, 1, 1>(new ChainResidual),
            i % 2 == 0 ? LearnableLossType::CAUCHY : LearnableLossType::PSEUDO_HUBER),
        nullptr, {&y[i], &y[i + 1], w, a});
  }
  // Blocks without a learnable loss too.
  problem.AddResidualBlock(
      new ceres::AutoDiffCostFunction<ChainResidual, 2, 1, 1, 1>(new ChainResidual),
      new ceres::CauchyLoss(1.0), &y[0], &y[kSize - 1], w);
  std::unique_ptr<BilevelProblem> bilevel;
  ASSERT_TRUE(BilevelProblem::Create(&problem, {w, a}, &bilevel).ok());
  const ProblemLayout& layout = bilevel->layout();

  ThreadPool pool(2);
  Linearisation exact(layout, HessianModel::EXACT);
  Linearisation gauss_newton(layout, HessianModel::GAUSS_NEWTON);
  Linearisation threaded(layout, HessianModel::EXACT, &pool);
  EXPECT_FALSE(exact.keeps_ceres_view());
  EXPECT_TRUE(gauss_newton.keeps_ceres_view());
  for (Linearisation* linearisation : {&exact, &gauss_newton, &threaded}) {
    ASSERT_TRUE(linearisation->Evaluate().ok());
  }
  // Bit-identical, not merely close.
  EXPECT_TRUE(exact.gradient() == gauss_newton.gradient());
  EXPECT_TRUE(exact.gradient() == threaded.gradient());
  bool ceres_view_differs = false;
  for (size_t i = 0; i < layout.residuals.size(); ++i) {
    const ResidualBlockInfo& residual = layout.residuals[i];
    const int k = residual.num_residuals;
    const int size = k * residual.num_local;
    for (const Linearisation* other : {&gauss_newton, &threaded}) {
      EXPECT_TRUE(std::equal(exact.exact_residuals(i), exact.exact_residuals(i) + k,
                             other->exact_residuals(i)));
      EXPECT_TRUE(std::equal(exact.exact_jacobian(i), exact.exact_jacobian(i) + size,
                             other->exact_jacobian(i)));
      EXPECT_TRUE(std::equal(exact.exact_rho(i), exact.exact_rho(i) + 3, other->exact_rho(i)));
    }
    if (residual.learnable_loss != nullptr) {
      ceres_view_differs = ceres_view_differs ||
                           !std::equal(gauss_newton.jacobian(i), gauss_newton.jacobian(i) + size,
                                       gauss_newton.exact_jacobian(i));
    }
  }
  // GAUSS_NEWTON's Ceres view is its own (r~ = sqrt(m rho(|r|^2)) r / |r|).
  EXPECT_TRUE(ceres_view_differs);
}

// SymmetricBlockMatrix::ToSparseUpper into a matrix of the same pattern
// writes the values in place (the solver's H is rewritten, not held twice),
// bit-identical to a fresh conversion; another pattern is replaced; Release
// frees the values until the next SetZero (Assemble).
TEST(SymmetricBlockMatrix, ConvertsInPlaceAndReleases) {
  constexpr int kSize = 12;
  std::vector<double> y(kSize);
  double w[1] = {0.3};
  ceres::Problem problem;
  for (int i = 0; i < kSize; ++i) y[i] = std::sin(0.37 * i) + 0.1 * i;
  for (int i = 0; i + 2 < kSize; ++i) {
    problem.AddResidualBlock(
        new ceres::AutoDiffCostFunction<ChainResidual, 2, 1, 1, 1>(new ChainResidual),
        new ceres::CauchyLoss(1.0), &y[i], &y[i + 2], w);
  }
  std::unique_ptr<BilevelProblem> bilevel;
  ASSERT_TRUE(BilevelProblem::Create(&problem, {w}, &bilevel).ok());
  const ProblemLayout& layout = bilevel->layout();
  const MinimiserDerivative::Options options;
  Linearisation linearisation(layout);
  ASSERT_TRUE(linearisation.Evaluate().ok());
  ExactHessian exact_hessian(layout, linearisation, options.second_derivative_relative_step);
  SymmetricBlockMatrix hessian(layout);
  ASSERT_TRUE(exact_hessian.Assemble(HessianModel::EXACT, nullptr, &hessian).ok());
  const Eigen::SparseMatrix<double> fresh = hessian.ToSparseUpper();

  // Another pattern (here an empty matrix, then a diagonal one): replaced.
  Eigen::SparseMatrix<double> sparse;
  EXPECT_FALSE(hessian.ToSparseUpper(&sparse));
  EXPECT_EQ(Eigen::MatrixXd(sparse - fresh).cwiseAbs().maxCoeff(), 0.0);
  Eigen::SparseMatrix<double> diagonal(kSize, kSize);
  diagonal.setIdentity();
  EXPECT_FALSE(hessian.ToSparseUpper(&diagonal));
  EXPECT_EQ(Eigen::MatrixXd(diagonal - fresh).cwiseAbs().maxCoeff(), 0.0);

  // The same pattern, other values: only the values written, in place.
  for (int k = 0; k < sparse.nonZeros(); ++k) sparse.valuePtr()[k] = -1.0;
  const double* values = sparse.valuePtr();
  const int* rows = sparse.innerIndexPtr();
  EXPECT_TRUE(hessian.ToSparseUpper(&sparse));
  EXPECT_EQ(sparse.valuePtr(), values);
  EXPECT_EQ(sparse.innerIndexPtr(), rows);
  ASSERT_EQ(sparse.nonZeros(), fresh.nonZeros());
  EXPECT_TRUE(std::equal(values, values + sparse.nonZeros(), fresh.valuePtr()));
  EXPECT_TRUE(std::equal(rows, rows + sparse.nonZeros(), fresh.innerIndexPtr()));

  hessian.Release();
  EXPECT_TRUE(hessian.is_released());
  ASSERT_TRUE(exact_hessian.Assemble(HessianModel::EXACT, nullptr, &hessian).ok());
  EXPECT_FALSE(hessian.is_released());
  const Eigen::SparseMatrix<double> again = hessian.ToSparseUpper();
  ASSERT_EQ(again.nonZeros(), fresh.nonZeros());
  EXPECT_TRUE(std::equal(again.valuePtr(), again.valuePtr() + again.nonZeros(), fresh.valuePtr()));
}

}  // namespace
}  // namespace internal
}  // namespace ceres_wiberg
