// Scale stress (issue 12): problems whose units differ by orders of magnitude
// inside one parameter block, at DEFAULT derivative options (lambda only where
// a case needs lambda = 0). Each dy*/dw is compared with a reference that
// shares no code with the library's second derivatives: -(H + lambda I)^-1 G
// with H and G the exact Hessian of the energy over (y, w), from nested
// forward-mode jets of the energy terms written out here (restricted to the
// free coordinates where a bound is active, case (e)).
//
// Error measure (ReferenceError): entrywise, |J - J_ref| relative to
// max(|J_ref_ij|, kRowFloor * max_l |J_ref_il|). Rows are compared on their
// own scale, since y's coordinates have different units (a focal length of
// 1e3 beside a distortion of 1e-3); the floor keeps entries that are
// negligible within their row (zero up to round-off) from dominating.

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "Eigen/Dense"
#include "ceres/ceres.h"
#include "ceres_wiberg/bilevel_problem.h"
#include "ceres_wiberg/learnable_loss.h"
#include "ceres_wiberg/minimiser_derivative.h"
#include "ceres_wiberg/newton_polish.h"
#include "gtest/gtest.h"

namespace ceres_wiberg {
namespace {

// A constant of scalar type T; nested jets need their inner type built
// explicitly (ceres::Jet's constructors from a scalar are explicit).
template <typename T>
struct Constant {
  static T Of(double x) { return T(x); }
};
template <typename S, int N>
struct Constant<ceres::Jet<S, N>> {
  static ceres::Jet<S, N> Of(double x) { return ceres::Jet<S, N>(Constant<S>::Of(x)); }
};
template <typename T>
T C(double x) {
  return Constant<T>::Of(x);
}

// The exact Hessian of a scalar term e(x) of N coordinates, by forward mode
// over forward mode: d2e/dx_i dx_j = e.v[i].v[j].
template <int N, typename Term>
Eigen::Matrix<double, N, N> TermHessian(const Term& term, const std::vector<double>& x) {
  using Inner = ceres::Jet<double, N>;
  using Outer = ceres::Jet<Inner, N>;
  Outer z[N];
  for (int i = 0; i < N; ++i) z[i] = Outer(Inner(x[i], i), i);
  const Outer e = term(z);
  Eigen::Matrix<double, N, N> hessian;
  for (int i = 0; i < N; ++i) {
    for (int j = 0; j < N; ++j) hessian(i, j) = e.v[i].v[j];
  }
  return hessian;
}

// The Hessian of the energy over z = (y, w), term by term.
class ReferenceHessian {
 public:
  ReferenceHessian(int num_inner, int num_learnable)
      : num_inner_(num_inner),
        hessian_(Eigen::MatrixXd::Zero(num_inner + num_learnable, num_inner + num_learnable)) {}

  // Adds term e over local coordinates whose positions in z are `index` (-1:
  // held fixed) at the values `x`.
  template <int N, typename Term>
  void Add(const Term& term, const std::vector<double>& x, const std::vector<int>& index) {
    const Eigen::Matrix<double, N, N> local = TermHessian<N>(term, x);
    for (int a = 0; a < N; ++a) {
      for (int b = 0; b < N; ++b) {
        if (index[a] >= 0 && index[b] >= 0) hessian_(index[a], index[b]) += local(a, b);
      }
    }
  }

  // -(H + lambda D)^-1 G (D = I or diag|H|), solved on the Jacobi-scaled
  // system.
  // An orthonormal basis (unscaled coordinates) of the eigenvectors of the
  // Jacobi-scaled H's `count` smallest eigenvalues.
  Eigen::MatrixXd NullSpace(int count) const {
    const int n = num_inner_;
    const Eigen::MatrixXd H = hessian_.topLeftCorner(n, n);
    const Eigen::VectorXd s = H.diagonal().cwiseAbs().cwiseSqrt().cwiseInverse();
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eigen(s.asDiagonal() * H * s.asDiagonal());
    const Eigen::MatrixXd null = s.asDiagonal() * eigen.eigenvectors().leftCols(count);
    return Eigen::HouseholderQR<Eigen::MatrixXd>(null).householderQ() *
           Eigen::MatrixXd::Identity(n, count);
  }

  // `fixed` (n_y entries, 1 for a coordinate held at an active bound; empty:
  // none): those coordinates leave the system and their rows are zero.
  Eigen::MatrixXd Derivative(double lambda, DampingType damping = DampingType::IDENTITY,
                             const std::vector<int>& fixed = {}) const {
    const int n = num_inner_;
    std::vector<int> free;
    for (int i = 0; i < n; ++i) {
      if (fixed.empty() || !fixed[i]) free.push_back(i);
    }
    const Eigen::MatrixXd H = hessian_.topLeftCorner(n, n);
    Eigen::MatrixXd A = H(free, free);
    if (damping == DampingType::IDENTITY) {
      A.diagonal().array() += lambda;
    } else {
      A.diagonal() += lambda * A.diagonal().cwiseAbs();
    }
    const Eigen::VectorXd s = A.diagonal().cwiseAbs().cwiseSqrt().cwiseInverse();
    const Eigen::MatrixXd scaled = s.asDiagonal() * A * s.asDiagonal();
    const Eigen::MatrixXd G = hessian_.topRightCorner(n, hessian_.cols() - n);
    Eigen::MatrixXd J = Eigen::MatrixXd::Zero(n, G.cols());
    J(free, Eigen::all) =
        -(s.asDiagonal() * scaled.ldlt().solve(s.asDiagonal() * G(free, Eigen::all)));
    return J;
  }

 private:
  int num_inner_;
  Eigen::MatrixXd hessian_;
};

// Entries below this fraction of their row's largest reference entry are
// compared relative to that fraction (see the file comment).
constexpr double kRowFloor = 1e-4;

double ReferenceError(const Eigen::MatrixXd& J, const Eigen::MatrixXd& reference) {
  double worst = 0.0;
  for (int i = 0; i < J.rows(); ++i) {
    const double row = reference.row(i).cwiseAbs().maxCoeff();
    for (int j = 0; j < J.cols(); ++j) {
      const double scale = std::max(std::abs(reference(i, j)), kRowFloor * row);
      if (scale == 0.0) continue;
      worst = std::max(worst, std::abs(J(i, j) - reference(i, j)) / scale);
    }
  }
  return worst;
}

void Record(const std::string& name, double error) {
  std::printf("%s: max relative error %.3g\n", name.c_str(), error);
  ::testing::Test::RecordProperty(name, ::testing::PrintToString(error));
}

// The derivative of the library at the problem's current values.
Status LibraryDerivative(const MinimiserDerivative::Options& options, BilevelProblem* problem,
                         Eigen::MatrixXd* J, MinimiserDerivative::Summary* summary) {
  MinimiserDerivative derivative(options);
  Status status = derivative.Linearise(problem, summary);
  if (!status.ok()) return status;
  return derivative.Jacobian(J);
}

// The tolerance of every comparison. The reference is exact up to the
// rounding of its solve (eps times the Jacobi-scaled condition number, at
// most 1.4e5 here (the rational fit): below 1e-10); the library's second
// derivatives carry about 1e-10 relative error (error-controlled
// differences), which those condition numbers amplify to at most ~1e-8 (the
// bundle adjustment's D = I case is discussed there).
constexpr double kTolerance = 1e-7;

// ---------------------------------------------------------------------------
// Curve fits m_i ~ Model::Value(b, x_i): the K coefficients b are one inner
// block, the observations m_i are learnable, lambda = 0.

template <typename Model>
struct CurveResidual {
  template <typename T>
  bool operator()(const T* b, const T* m, T* r) const {
    r[0] = Model::Value(b, x) - m[0];
    return true;
  }
  double x;
};

// 1/2 r^2 over (b_0..b_{K-1}, m).
template <typename Model, int K>
struct CurveTerm {
  template <typename T>
  T operator()(const T* z) const {
    const T r = Model::Value(z, x) - z[K];
    return C<T>(0.5) * r * r;
  }
  double x;
};

// Solves the fit from b, then compares the library's dy*/dw at lambda = 0
// with the reference; returns the error (-1 if the library refused).
template <typename Model, int K>
double FitAndCompare(const std::vector<double>& xs, std::vector<double> m, double* b,
                     MinimiserDerivative::Summary* summary) {
  const int n = static_cast<int>(xs.size());
  ceres::Problem problem;
  std::vector<double*> learnable;
  for (int i = 0; i < n; ++i) {
    problem.AddResidualBlock(new ceres::AutoDiffCostFunction<CurveResidual<Model>, 1, K, 1>(
                                 new CurveResidual<Model>{xs[i]}),
                             nullptr, b, &m[i]);
    learnable.push_back(&m[i]);
  }
  std::unique_ptr<BilevelProblem> bilevel;
  EXPECT_TRUE(BilevelProblem::Create(&problem, learnable, &bilevel).ok());
  ceres::Solver::Summary solver_summary;
  EXPECT_TRUE(bilevel->SolveInner(TightSolverOptions(), &solver_summary).ok());

  ReferenceHessian reference(K, n);
  std::vector<int> index(K + 1);
  for (int k = 0; k < K; ++k) index[k] = k;
  for (int i = 0; i < n; ++i) {
    std::vector<double> x(b, b + K);
    x.push_back(m[i]);
    index[K] = K + i;
    reference.Add<K + 1>(CurveTerm<Model, K>{xs[i]}, x, index);
  }
  MinimiserDerivative::Options options;
  options.lambda = 0.0;
  Eigen::MatrixXd J;
  Status status = LibraryDerivative(options, bilevel.get(), &J, summary);
  EXPECT_TRUE(status.ok()) << status.ToString();
  std::printf("%s\n", summary->FullReport().c_str());
  return status.ok() ? ReferenceError(J, reference.Derivative(0.0)) : -1.0;
}

// (a) A rational model, coefficients from 1e-3 to 1e3 in one block:
//     y(x) = (b0 + b1 x + b2 x^2) / (1 + b3 x + b4 x^2), x in [0, 30].
struct RationalModel {
  template <typename T>
  static T Value(const T* b, double x) {
    const T X = C<T>(x);
    return (b[0] + X * (b[1] + X * b[2])) / (C<T>(1.0) + X * (b[3] + X * b[4]));
  }
};

TEST(ScaleStress, RationalModelWithCoefficientsFrom1e3To1e_3) {
  constexpr int kPoints = 40;
  const double truth[5] = {1e3, 2e2, 5.0, 0.3, 1e-3};
  std::mt19937 rng(7);
  std::normal_distribution<double> noise(0.0, 1.0);
  double b[5];
  for (int k = 0; k < 5; ++k) b[k] = truth[k] * (1.0 + 0.01 * noise(rng));
  std::vector<double> xs(kPoints), m(kPoints);
  for (int i = 0; i < kPoints; ++i) {
    xs[i] = 30.0 * i / (kPoints - 1);
    m[i] = RationalModel::Value(truth, xs[i]) * (1.0 + 0.01 * noise(rng));
  }
  MinimiserDerivative::Summary summary;
  const double error = FitAndCompare<RationalModel, 5>(xs, m, b, &summary);
  Record("rational_lambda_0", error);
  EXPECT_GE(error, 0.0);
  EXPECT_LT(error, kTolerance);
}

// (b) y(x) = b0 (1 - exp(-b1 x)), b0 ~ 2e2, b1 ~ 5e-4 (as NIST's Misra1a):
//     well posed, but H's unscaled eigenvalues are ~1e12 apart. Accepted at
//     lambda = 0.
struct ExponentialModel {
  template <typename T>
  static T Value(const T* b, double x) {
    using std::exp;
    return b[0] * (C<T>(1.0) - exp(-b[1] * C<T>(x)));
  }
};

TEST(ScaleStress, BadlyScaledExponentialIsAcceptedAtLambdaZero) {
  const std::vector<double> xs = {77.6,  114.9, 141.1, 190.8, 239.9, 289.0, 332.8,
                                  378.4, 434.8, 477.3, 536.8, 593.1, 689.1, 760.0};
  const double truth[2] = {238.9, 5.5e-4};
  std::mt19937 rng(3);
  std::normal_distribution<double> noise(0.0, 0.1);
  double b[2] = {250.0, 5e-4};
  std::vector<double> m;
  for (double x : xs) m.push_back(ExponentialModel::Value(truth, x) + noise(rng));
  MinimiserDerivative::Summary summary;
  const double error = FitAndCompare<ExponentialModel, 2>(xs, m, b, &summary);
  Record("exponential_lambda_0", error);
  EXPECT_GE(error, 0.0);
  EXPECT_LT(error, kTolerance);
  // Units far apart: unscaled eigenvalues 1e10 or more apart, the
  // Jacobi-scaled ones not.
  EXPECT_GT(summary.max_eigenvalue / summary.min_eigenvalue, 1e10) << summary.FullReport();
  EXPECT_LT(summary.condition_number, 1e4) << summary.FullReport();
}

// ---------------------------------------------------------------------------
// (e) Bounds. y(x) = b0 (1 - exp(-b1 x)) + b2 with b0 ~ 2e2, b1 ~ 5e-4 (the
//     units of (b)) and an offset b2 the data put near 0, with a Ceres lower
//     bound on b2. Bound at 3 (above the unconstrained fit): active, b2 stays
//     at 3 for every w nearby, so its row of dy*/dw is zero and (b0, b1)
//     follow the fit with b2 fixed; the reference is the jets' Hessian
//     restricted to (b0, b1). Bound at -50: inactive, the derivative is the
//     unbounded problem's. Both at lambda = 0 and at the default lambda.

struct OffsetExponentialModel {
  template <typename T>
  static T Value(const T* b, double x) {
    using std::exp;
    return b[0] * (C<T>(1.0) - exp(-b[1] * C<T>(x))) + b[2];
  }
};

struct BoundedFit {
  // lower_bound: of b2; NaN for none.
  explicit BoundedFit(double lower_bound) {
    const std::vector<double> x = {77.6,  114.9, 141.1, 190.8, 239.9, 289.0, 332.8,
                                   378.4, 434.8, 477.3, 536.8, 593.1, 689.1, 760.0};
    xs = x;
    const double truth[3] = {238.9, 5.5e-4, 0.0};
    std::mt19937 rng(3);
    std::normal_distribution<double> noise(0.0, 0.1);
    for (double xi : xs) m.push_back(OffsetExponentialModel::Value(truth, xi) + noise(rng));
    std::vector<double*> learnable;
    for (size_t i = 0; i < xs.size(); ++i) {
      problem.AddResidualBlock(
          new ceres::AutoDiffCostFunction<CurveResidual<OffsetExponentialModel>, 1, 3, 1>(
              new CurveResidual<OffsetExponentialModel>{xs[i]}),
          nullptr, b, &m[i]);
      learnable.push_back(&m[i]);
    }
    if (!std::isnan(lower_bound)) {
      problem.SetParameterLowerBound(b, 2, lower_bound);
      b[2] = std::max(b[2], lower_bound);
    }
    BilevelProblem::Options options;
    options.parameter_block_names[b] = "b";
    EXPECT_TRUE(BilevelProblem::Create(&problem, learnable, options, &bilevel).ok());
    ceres::Solver::Summary summary;
    EXPECT_TRUE(bilevel->SolveInner(TightSolverOptions(), &summary).ok());
    // Ceres' projected LM stalls in this valley with the bound active (72
    // iterations, |g|_inf 2.8e4 on the free coordinates); NewtonPolish's
    // projected Newton steps finish it (|g|_inf 4e-10 in 9 iterations).
    NewtonPolish::Summary polish;
    EXPECT_TRUE(NewtonPolish::Polish(NewtonPolish::Options(), bilevel.get(), &polish).ok());
    std::printf("%s\n%s\n", summary.BriefReport().c_str(), polish.BriefReport().c_str());
  }

  ReferenceHessian Reference() const {
    ReferenceHessian reference(3, static_cast<int>(xs.size()));
    for (size_t i = 0; i < xs.size(); ++i) {
      std::vector<double> z(b, b + 3);
      z.push_back(m[i]);
      reference.Add<4>(CurveTerm<OffsetExponentialModel, 3>{xs[i]}, z,
                       {0, 1, 2, 3 + static_cast<int>(i)});
    }
    return reference;
  }

  std::vector<double> xs, m;
  double b[3] = {250.0, 5e-4, 1.0};
  ceres::Problem problem;
  std::unique_ptr<BilevelProblem> bilevel;
};

TEST(ScaleStress, BoundedFitWithAnActiveBoundIsTheDerivativeOnTheFreeCoordinates) {
  BoundedFit active(0.5);
  ASSERT_NE(active.bilevel, nullptr);
  EXPECT_EQ(active.b[2], 0.5);  // held at the bound by Ceres' projection
  BoundedFit unbounded(std::numeric_limits<double>::quiet_NaN());
  ASSERT_NE(unbounded.bilevel, nullptr);
  ASSERT_LT(unbounded.b[2], 0.5);  // the unconstrained fit lies beyond the bound
  const ReferenceHessian reference = active.Reference();
  for (LinearSolverType type : {LinearSolverType::DENSE, LinearSolverType::SPARSE})
  for (double lambda : {0.0, MinimiserDerivative::Options().lambda}) {
    MinimiserDerivative::Options options;
    options.lambda = lambda;
    options.linear_solver_type = type;
    Eigen::MatrixXd J;
    MinimiserDerivative::Summary summary;
    Status status = LibraryDerivative(options, active.bilevel.get(), &J, &summary);
    ASSERT_TRUE(status.ok()) << status.ToString();
    EXPECT_EQ(summary.num_active_bounds, 1) << summary.FullReport();
    // A KKT point: the free coordinates' gradient is round-off, the bound's
    // multiplier is not.
    EXPECT_GT(summary.min_active_bound_multiplier, 1e6 * summary.gradient_max_norm)
        << summary.FullReport();
    EXPECT_EQ(J.row(2).norm(), 0.0);
    const double error = ReferenceError(J, reference.Derivative(lambda, DampingType::IDENTITY,
                                                                {0, 0, 1}));
    Record("bounded_active_lambda_" + std::to_string(lambda) + "_" +
               LinearSolverTypeToString(type),
           error);
    EXPECT_LT(error, kTolerance) << summary.FullReport();
    // Removing the coordinate matters: the unconstrained formula at the same
    // point is far from it.
    EXPECT_GT(ReferenceError(J, reference.Derivative(lambda)), 1e-3);
  }
}

TEST(ScaleStress, BoundedFitWithAnInactiveBoundIsTheUnboundedDerivative) {
  BoundedFit inactive(-50.0);
  BoundedFit unbounded(std::numeric_limits<double>::quiet_NaN());
  ASSERT_NE(inactive.bilevel, nullptr);
  ASSERT_NE(unbounded.bilevel, nullptr);
  for (double lambda : {0.0, MinimiserDerivative::Options().lambda}) {
    MinimiserDerivative::Options options;
    options.lambda = lambda;
    Eigen::MatrixXd J, J_unbounded;
    MinimiserDerivative::Summary summary;
    ASSERT_TRUE(LibraryDerivative(options, inactive.bilevel.get(), &J, &summary).ok());
    EXPECT_EQ(summary.num_active_bounds, 0);
    ASSERT_TRUE(LibraryDerivative(options, unbounded.bilevel.get(), &J_unbounded, nullptr).ok());
    const double error = ReferenceError(J, J_unbounded);
    Record("bounded_inactive_vs_unbounded_lambda_" + std::to_string(lambda), error);
    EXPECT_LT(error, kTolerance);
    const double reference_error =
        ReferenceError(J, inactive.Reference().Derivative(lambda));
    Record("bounded_inactive_lambda_" + std::to_string(lambda), reference_error);
    EXPECT_LT(reference_error, kTolerance);
  }
}

// ---------------------------------------------------------------------------
// Rotation by an angle-axis vector (Rodrigues), written with C<T> so that it
// runs on nested jets; angles here are far from 0.

template <typename T>
void Rotate(const T* angle_axis, const T* p, T* out) {
  using std::cos;
  using std::sin;
  using std::sqrt;
  const T theta = sqrt(angle_axis[0] * angle_axis[0] + angle_axis[1] * angle_axis[1] +
                       angle_axis[2] * angle_axis[2]);
  const T w[3] = {angle_axis[0] / theta, angle_axis[1] / theta, angle_axis[2] / theta};
  const T c = cos(theta);
  const T s = sin(theta);
  const T w_cross_p[3] = {w[1] * p[2] - w[2] * p[1], w[2] * p[0] - w[0] * p[2],
                          w[0] * p[1] - w[1] * p[0]};
  const T w_dot_p = w[0] * p[0] + w[1] * p[1] + w[2] * p[2];
  const T one_minus_c = C<T>(1.0) - c;
  for (int i = 0; i < 3; ++i) out[i] = p[i] * c + w_cross_p[i] * s + w[i] * w_dot_p * one_minus_c;
}

// The pseudo-Huber term 1/2 rho(s; a) = a^2 (sqrt(1 + s / a^2) - 1), as
// LearnableLossCostFunction's PSEUDO_HUBER (see learnable_loss.h).
template <typename T>
T PseudoHuberTerm(const T& s, const T& a) {
  using std::sqrt;
  const T c = a * a;
  return c * (sqrt(C<T>(1.0) + s / c) - C<T>(1.0));
}

// The term 1/2 rho(||r||^2; a) of a residual of two blocks under the
// pseudo-Huber loss, over (first block (kFirstSize), second block, a at
// kScaleIndex).
template <typename Residual, int kFirstSize, int kScaleIndex>
struct RobustTerm {
  template <typename T>
  T operator()(const T* z) const {
    T r[2];
    residual(z, z + kFirstSize, r);
    return PseudoHuberTerm(r[0] * r[0] + r[1] * r[1], z[kScaleIndex]);
  }
  Residual residual;
};

// ---------------------------------------------------------------------------
// (c) One camera [angle-axis (3), translation (3), focal f ~ 1e3, radial
//     distortion k1, k2 ~ 1e-3] in one block, seeing known 3D points under a
//     pseudo-Huber loss with learnable scale a; point 0's observation is
//     learnable too. Default lambda (0.1).

template <typename T>
void ProjectWithDistortion(const T* camera, const T* point, T* pixel) {
  T p[3];
  Rotate(camera, point, p);
  for (int i = 0; i < 3; ++i) p[i] += camera[3 + i];
  const T u = p[0] / p[2];
  const T v = p[1] / p[2];
  const T r2 = u * u + v * v;
  const T distortion = C<T>(1.0) + camera[7] * r2 + camera[8] * r2 * r2;
  pixel[0] = camera[6] * distortion * u;
  pixel[1] = camera[6] * distortion * v;
}

struct CameraResidual {
  template <typename T>
  bool operator()(const T* camera, const T* observation, T* r) const {
    const T point_t[3] = {C<T>(point[0]), C<T>(point[1]), C<T>(point[2])};
    T pixel[2];
    ProjectWithDistortion(camera, point_t, pixel);
    r[0] = pixel[0] - observation[0];
    r[1] = pixel[1] - observation[1];
    return true;
  }
  double point[3];
};


TEST(ScaleStress, CameraWithFocal1e3AndDistortion1e_3UnderARobustLoss) {
  constexpr int kPoints = 30;
  const double truth[9] = {0.1, -0.2, 0.05, 0.3, -0.1, 1.0, 1e3, 2e-3, -1e-3};
  std::mt19937 rng(11);
  std::uniform_real_distribution<double> uniform(-1.0, 1.0);
  std::normal_distribution<double> noise(0.0, 0.3);
  std::vector<std::array<double, 3>> points(kPoints);
  std::vector<std::array<double, 2>> observations(kPoints);
  double camera[9];
  for (int k = 0; k < 9; ++k) camera[k] = truth[k] * (1.0 + 0.01 * uniform(rng));
  double scale[1] = {1.0};
  ceres::Problem problem;
  for (int i = 0; i < kPoints; ++i) {
    points[i] = {2.0 * uniform(rng), 2.0 * uniform(rng), 6.0 + 2.0 * uniform(rng)};
    ProjectWithDistortion(truth, points[i].data(), observations[i].data());
    // Every tenth observation an outlier of ~20 pixels: the loss bends there.
    const double outlier = i % 10 == 5 ? 20.0 : 0.0;
    observations[i][0] += noise(rng) + outlier;
    observations[i][1] += noise(rng) - outlier;
    problem.AddResidualBlock(
        new LearnableLossCostFunction(
            new ceres::AutoDiffCostFunction<CameraResidual, 2, 9, 2>(
                new CameraResidual{{points[i][0], points[i][1], points[i][2]}}),
            LearnableLossType::PSEUDO_HUBER),
        nullptr, {camera, observations[i].data(), scale});
    if (i > 0) problem.SetParameterBlockConstant(observations[i].data());
  }
  std::unique_ptr<BilevelProblem> bilevel;
  ASSERT_TRUE(BilevelProblem::Create(&problem, {scale, observations[0].data()}, &bilevel).ok());
  ceres::Solver::Summary solver_summary;
  ASSERT_TRUE(bilevel->SolveInner(TightSolverOptions(), &solver_summary).ok());

  // z = (camera 0..8, a 9, observation of point 0: 10, 11).
  ReferenceHessian reference(9, 3);
  for (int i = 0; i < kPoints; ++i) {
    std::vector<double> x(camera, camera + 9);
    x.insert(x.end(), {observations[i][0], observations[i][1], scale[0]});
    const int o = i == 0 ? 10 : -1;
    // Over (camera (9), observation (2), a).
    reference.Add<12>(RobustTerm<CameraResidual, 9, 11>{
                          CameraResidual{{points[i][0], points[i][1], points[i][2]}}},
                      x,
                      {0, 1, 2, 3, 4, 5, 6, 7, 8, o, o < 0 ? -1 : o + 1, 9});
  }
  const MinimiserDerivative::Options options;  // lambda = 0.1
  for (double lambda : {options.lambda, 0.0}) {
    MinimiserDerivative::Options at = options;
    at.lambda = lambda;
    Eigen::MatrixXd J;
    MinimiserDerivative::Summary summary;
    Status status = LibraryDerivative(at, bilevel.get(), &J, &summary);
    ASSERT_TRUE(status.ok()) << status.ToString();
    const double error = ReferenceError(J, reference.Derivative(lambda));
    Record("camera_lambda_" + std::to_string(lambda), error);
    EXPECT_LT(error, kTolerance) << summary.FullReport();
  }
}

// ---------------------------------------------------------------------------
// (d) Bundle adjustment: 3 cameras [angle-axis, translation], 50 points,
//     perspective projection (focal 500, fixed), a pseudo-Huber loss with
//     learnable scale a. Every block is free, so the energy has a 7-dof gauge
//     (rotation, translation, scale): refused as singular at lambda = 0,
//     naming blocks; at lambda > 0 compared with the reference.

constexpr double kFocal = 500.0;

template <typename T>
void Project(const T* camera, const T* point, T* pixel) {
  T p[3];
  Rotate(camera, point, p);
  for (int i = 0; i < 3; ++i) p[i] += camera[3 + i];
  pixel[0] = C<T>(kFocal) * p[0] / p[2];
  pixel[1] = C<T>(kFocal) * p[1] / p[2];
}

struct BundleResidual {
  template <typename T>
  bool operator()(const T* camera, const T* point, T* r) const {
    T pixel[2];
    Project(camera, point, pixel);
    r[0] = pixel[0] - C<T>(observation[0]);
    r[1] = pixel[1] - C<T>(observation[1]);
    return true;
  }
  double observation[2];
};


struct Bundle {
  static constexpr int kCameras = 3;
  static constexpr int kPoints = 50;
  double cameras[kCameras][6];
  double points[kPoints][3];
  double scale[1] = {2.0};
  std::vector<std::array<double, 2>> observations;  // camera-major
  ceres::Problem problem;
  std::unique_ptr<BilevelProblem> bilevel;
  std::vector<std::string> names;

  Bundle() {
    std::mt19937 rng(5);
    std::uniform_real_distribution<double> uniform(-1.0, 1.0);
    std::normal_distribution<double> noise(0.0, 0.5);
    double true_cameras[kCameras][6];
    double true_points[kPoints][3];
    for (int c = 0; c < kCameras; ++c) {
      const double angle_axis[3] = {0.1 * uniform(rng), 0.2 * (c - 1) + 0.05 * uniform(rng),
                                    0.1 * uniform(rng)};
      for (int k = 0; k < 3; ++k) true_cameras[c][k] = angle_axis[k];
      true_cameras[c][3] = 1.5 * (1 - c);
      true_cameras[c][4] = 0.2 * uniform(rng);
      true_cameras[c][5] = 0.3 * uniform(rng);
    }
    for (int p = 0; p < kPoints; ++p) {
      true_points[p][0] = 2.0 * uniform(rng);
      true_points[p][1] = 2.0 * uniform(rng);
      true_points[p][2] = 6.0 + uniform(rng);
    }
    BilevelProblem::Options options;
    for (int c = 0; c < kCameras; ++c) {
      for (int k = 0; k < 6; ++k) cameras[c][k] = true_cameras[c][k] + 0.01 * uniform(rng);
    }
    for (int p = 0; p < kPoints; ++p) {
      for (int k = 0; k < 3; ++k) points[p][k] = true_points[p][k] + 0.01 * uniform(rng);
    }
    for (int c = 0; c < kCameras; ++c) {
      for (int p = 0; p < kPoints; ++p) {
        std::array<double, 2> pixel;
        Project(true_cameras[c], true_points[p], pixel.data());
        const double outlier = (c * kPoints + p) % 17 == 3 ? 15.0 : 0.0;
        pixel[0] += noise(rng) + outlier;
        pixel[1] += noise(rng);
        observations.push_back(pixel);
        problem.AddResidualBlock(
            new LearnableLossCostFunction(
                new ceres::AutoDiffCostFunction<BundleResidual, 2, 6, 3>(
                    new BundleResidual{{pixel[0], pixel[1]}}),
                LearnableLossType::PSEUDO_HUBER),
            nullptr, {cameras[c], points[p], scale});
      }
    }
    for (int c = 0; c < kCameras; ++c) {
      options.inner_parameter_blocks.push_back(cameras[c]);
      options.parameter_block_names[cameras[c]] = "camera " + std::to_string(c);
    }
    for (int p = 0; p < kPoints; ++p) {
      options.inner_parameter_blocks.push_back(points[p]);
      options.parameter_block_names[points[p]] = "point " + std::to_string(p);
    }
    for (const auto& [block, name] : options.parameter_block_names) names.push_back(name);
    EXPECT_TRUE(BilevelProblem::Create(&problem, {scale}, options, &bilevel).ok());
  }

  // z = (cameras 0..17, points 18..167, a 168).
  ReferenceHessian Reference() const {
    ReferenceHessian reference(kCameras * 6 + kPoints * 3, 1);
    for (int c = 0; c < kCameras; ++c) {
      for (int p = 0; p < kPoints; ++p) {
        const std::array<double, 2>& o = observations[c * kPoints + p];
        std::vector<double> x(cameras[c], cameras[c] + 6);
        x.insert(x.end(), points[p], points[p] + 3);
        x.push_back(scale[0]);
        std::vector<int> index;
        for (int k = 0; k < 6; ++k) index.push_back(6 * c + k);
        for (int k = 0; k < 3; ++k) index.push_back(kCameras * 6 + 3 * p + k);
        index.push_back(kCameras * 6 + kPoints * 3);
        // Over (camera (6), point (3), a).
        reference.Add<10>(RobustTerm<BundleResidual, 6, 9>{BundleResidual{{o[0], o[1]}}}, x,
                          index);
      }
    }
    return reference;
  }
};

TEST(ScaleStress, BundleAdjustmentGaugeIsSingularAtLambdaZeroAndExactAtLambdaPositive) {
  Bundle bundle;
  ASSERT_NE(bundle.bilevel, nullptr);
  ceres::Solver::Summary solver_summary;
  ASSERT_TRUE(bundle.bilevel->SolveInner(TightSolverOptions(), &solver_summary).ok());
  const ReferenceHessian reference = bundle.Reference();

  for (LinearSolverType type : {LinearSolverType::DENSE, LinearSolverType::SPARSE}) {
    const std::string solver = LinearSolverTypeToString(type);
    MinimiserDerivative::Options options;
    options.linear_solver_type = type;
    options.lambda = 0.0;
    Eigen::MatrixXd J;
    Status status = LibraryDerivative(options, bundle.bilevel.get(), &J, nullptr);
    EXPECT_EQ(status.code(), StatusCode::kSingularHessian) << solver << ": " << status.ToString();
    EXPECT_NE(status.message().find("lambda > 0"), std::string::npos) << status.message();
    EXPECT_NE(status.message().find("gauge"), std::string::npos) << status.message();
    EXPECT_NE(status.message().find("null direction lives in"), std::string::npos)
        << status.message();
    const bool names_a_block =
        std::any_of(bundle.names.begin(), bundle.names.end(), [&](const std::string& name) {
          return status.message().find("'" + name + "'") != std::string::npos;
        });
    EXPECT_TRUE(names_a_block) << status.message();
    std::printf("%s, lambda = 0: %s\n", solver.c_str(), status.message().c_str());

    // lambda > 0, default damping (D = I). The energy is gauge-invariant, so
    // G has no gauge component and neither has the exact derivative; but
    // with D = I in pixel units the gauge's eigenvalue of H + lambda D is
    // lambda = 0.1 against H's 1e7, so G's own rounding along the gauge
    // (1e-16 of |G| even for an exact G) comes back amplified 1e8 relative
    // to dy*/dw. The comparison is therefore made orthogonally to the gauge
    // (the 7 null directions of the reference H), and the gauge component is
    // reported. With D = diag(H) (as Ceres' LM) the damped system is
    // well-conditioned and the whole derivative is compared.
    options.lambda = MinimiserDerivative::Options().lambda;
    MinimiserDerivative::Summary summary;
    status = LibraryDerivative(options, bundle.bilevel.get(), &J, &summary);
    ASSERT_TRUE(status.ok()) << solver << ": " << status.ToString();
    const Eigen::MatrixXd J_ref = reference.Derivative(options.lambda);
    const Eigen::MatrixXd N = reference.NullSpace(7);
    const Eigen::MatrixXd P = Eigen::MatrixXd::Identity(N.rows(), N.rows()) - N * N.transpose();
    const double error = ReferenceError(P * J, P * J_ref);
    Record("bundle_lambda_0.1_gauge_free_" + solver, error);
    Record("bundle_lambda_0.1_gauge_component_" + solver,
           (N.transpose() * J).norm() / J_ref.norm());
    Record("bundle_lambda_0.1_whole_" + solver, ReferenceError(J, J_ref));
    EXPECT_LT(error, kTolerance) << summary.FullReport();

    options.damping = DampingType::HESSIAN_DIAGONAL;
    status = LibraryDerivative(options, bundle.bilevel.get(), &J, &summary);
    ASSERT_TRUE(status.ok()) << solver << ": " << status.ToString();
    const double diagonal_error =
        ReferenceError(J, reference.Derivative(options.lambda, DampingType::HESSIAN_DIAGONAL));
    Record("bundle_lambda_0.1_diagonal_" + solver, diagonal_error);
    EXPECT_LT(diagonal_error, kTolerance) << summary.FullReport();
  }
}

}  // namespace
}  // namespace ceres_wiberg
