#include "ceres_wiberg/internal/damped_solver.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <limits>
#include <mutex>
#include <sstream>
#include <utility>
#include <vector>

#include "Eigen/CholmodSupport"
#include "Eigen/Eigenvalues"

namespace ceres_wiberg {
namespace internal {

// CHOLMOD's supernodal LL^T through Eigen's CholmodSupport, with AMD
// ordering only (as Ceres orders it: no METIS trial, so the analysis time
// does not depend on the fill AMD finds), CHOLMOD's own printing off (a
// matrix that is not positive definite is a result here, not a warning), and
// the pivots of the factor, which Eigen does not expose.
class CholmodLlt
    : public Eigen::CholmodSupernodalLLT<Eigen::SparseMatrix<double>, Eigen::Upper> {
 public:
  CholmodLlt() {
    cholmod().nmethods = 1;
    cholmod().method[0].ordering = CHOLMOD_AMD;
    cholmod().postorder = 1;
    cholmod().print = 0;
  }

  // diag(L)^2, the pivots of the LDL^T with CHOLMOD's ordering, in the
  // order of the matrix's rows (after a successful factorize).
  Eigen::VectorXd Pivots() const {
    const cholmod_factor& L = *m_cholmodFactor;
    Eigen::VectorXd pivots(L.n);
    const int* perm = static_cast<const int*>(L.Perm);
    const double* x = static_cast<const double*>(L.x);
    if (L.is_super) {
      const int* super = static_cast<const int*>(L.super);
      const int* pi = static_cast<const int*>(L.pi);
      const int* px = static_cast<const int*>(L.px);
      for (size_t s = 0; s < L.nsuper; ++s) {
        // Supernode s: columns super[s] .. super[s + 1] - 1 of L, a dense
        // column-major block of pi[s + 1] - pi[s] rows at x + px[s].
        const int rows = pi[s + 1] - pi[s];
        for (int j = 0; j < super[s + 1] - super[s]; ++j) {
          const double l = x[px[s] + j * rows + j];
          pivots[perm[super[s] + j]] = l * l;
        }
      }
    } else {
      // A simplicial LL^T (CHOLMOD's fallback): the diagonal leads each column.
      const int* p = static_cast<const int*>(L.p);
      for (size_t j = 0; j < L.n; ++j) pivots[perm[j]] = x[p[j]] * x[p[j]];
    }
    return pivots;
  }

  // CHOLMOD's solve writes into the shared workspace of cholmod_common.
  Eigen::MatrixXd LockedSolve(const Eigen::MatrixXd& B) const {
    std::lock_guard<std::mutex> lock(mutex_);
    return solve(B);
  }

 private:
  mutable std::mutex mutex_;
};

namespace {

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Ceres' Levenberg-Marquardt clamps its diagonal to this range.
constexpr double kMinDiagonal = 1e-6;
constexpr double kMaxDiagonal = 1e32;

// Inverse iterations on a factorised S A S that is singular: they converge to
// the eigenvector of the eigenvalue nearest zero.
constexpr int kNullDirectionIterations = 8;
// At most this many negative LDL^T pivots, most negative first, are
// measured by their Rayleigh quotients (DampedSolver::MeasureNegativePivots).
constexpr int kNegativePivotProbes = 16;

}  // namespace

DampedSolver::DampedSolver(const MinimiserDerivative::Options& options)
    : options_(options), lambda_(options.lambda) {}

DampedSolver::~DampedSolver() = default;

void DampedSolver::SetFixed(const std::vector<char>& fixed) {
  std::vector<int> free;
  const bool reduced = std::find(fixed.begin(), fixed.end(), 1) != fixed.end();
  if (reduced) {
    for (size_t i = 0; i < fixed.size(); ++i) {
      if (!fixed[i]) free.push_back(static_cast<int>(i));
    }
  }
  // A new free set is a new sparsity pattern.
  if (reduced != reduced_ || free != free_) cholmod_analysed_ = ldlt_analysed_ = false;
  reduced_ = reduced;
  free_ = std::move(free);
}

void DampedSolver::SetDense(Eigen::MatrixXd H) {
  dense_ = true;
  size_ = static_cast<int>(H.rows());
  if (!reduced_) {
    dense_hessian_ = std::move(H);
  } else {
    dense_hessian_ = H(free_, free_);
  }
}

Eigen::SparseMatrix<double> DampedSolver::TakeSparse() {
  if (dense_ || reduced_ || sparse_hessian_upper_.rows() != size_) return {};
  // Swapped, not moved: Eigen 3.4's SparseMatrix has no move constructor
  // (std::move would copy H).
  Eigen::SparseMatrix<double> H_upper;
  H_upper.swap(sparse_hessian_upper_);
  hessian_values_ = nullptr;
  return H_upper;
}

Eigen::SparseMatrix<double> DampedSolver::KeptHessian() const {
  Eigen::SparseMatrix<double> free_upper;
  if (dense_) {
    free_upper = dense_hessian_.triangularView<Eigen::Upper>().toDenseMatrix().sparseView(0.0, 0.0);
  } else {
    free_upper = SparseHessian();
  }
  Eigen::SparseMatrix<double> H = free_upper.selfadjointView<Eigen::Upper>();
  if (!reduced_) return H;
  std::vector<Eigen::Triplet<double>> triplets;
  triplets.reserve(H.nonZeros());
  for (int col = 0; col < H.outerSize(); ++col) {
    for (Eigen::SparseMatrix<double>::InnerIterator it(H, col); it; ++it) {
      triplets.emplace_back(free_[it.row()], free_[it.col()], it.value());
    }
  }
  Eigen::SparseMatrix<double> full(size_, size_);
  full.setFromTriplets(triplets.begin(), triplets.end());
  return full;
}

void DampedSolver::SetSparse(Eigen::SparseMatrix<double>* H, bool pattern_unchanged) {
  Eigen::SparseMatrix<double>& H_upper = *H;
  size_ = static_cast<int>(H_upper.rows());
  if (reduced_) {
    std::vector<int> position(size_, -1);
    for (size_t i = 0; i < free_.size(); ++i) position[free_[i]] = static_cast<int>(i);
    std::vector<Eigen::Triplet<double>> triplets;
    triplets.reserve(H_upper.nonZeros());
    for (int col = 0; col < H_upper.outerSize(); ++col) {
      for (Eigen::SparseMatrix<double>::InnerIterator it(H_upper, col); it; ++it) {
        const int r = position[it.row()];
        const int c = position[it.col()];
        if (r >= 0 && c >= 0) triplets.emplace_back(r, c, it.value());
      }
    }
    const int n = static_cast<int>(free_.size());
    Eigen::SparseMatrix<double> reduced(n, n);
    reduced.setFromTriplets(triplets.begin(), triplets.end());
    H_upper.swap(reduced);
  }
  // Every diagonal entry in the pattern (the damping goes there): the
  // upper triangle's columns end with it where H has one; a missing one is
  // inserted as zero.
  H_upper.makeCompressed();
  bool inserted = false;
  for (int col = 0; col < H_upper.outerSize(); ++col) {
    const int end = H_upper.outerIndexPtr()[col + 1];
    if (end > H_upper.outerIndexPtr()[col] && H_upper.innerIndexPtr()[end - 1] == col) continue;
    H_upper.coeffRef(col, col) = 0.0;
    inserted = true;
  }
  if (inserted) H_upper.makeCompressed();
  // The sparsity pattern is the problem's: analysed once, kept across points
  // while it is the same.
  const bool same_pattern =
      pattern_unchanged ||
      (!dense_ && H_upper.rows() == sparse_hessian_upper_.rows() &&
      H_upper.nonZeros() == sparse_hessian_upper_.nonZeros() &&
      std::equal(H_upper.outerIndexPtr(), H_upper.outerIndexPtr() + H_upper.outerSize() + 1,
                 sparse_hessian_upper_.outerIndexPtr()) &&
      std::equal(H_upper.innerIndexPtr(), H_upper.innerIndexPtr() + H_upper.nonZeros(),
                 sparse_hessian_upper_.innerIndexPtr()));
  if (!same_pattern) cholmod_analysed_ = ldlt_analysed_ = false;
  dense_ = false;
  // Swapped (no copy), and the old H freed.
  sparse_hessian_upper_.swap(H_upper);
  Eigen::SparseMatrix<double>().swap(H_upper);
  hessian_values_ = sparse_hessian_upper_.valuePtr();
}

Eigen::Map<const Eigen::SparseMatrix<double>> DampedSolver::SparseHessian() const {
  const Eigen::SparseMatrix<double>& H = sparse_hessian_upper_;
  return Eigen::Map<const Eigen::SparseMatrix<double>>(H.rows(), H.cols(), H.nonZeros(),
                                                       H.outerIndexPtr(), H.innerIndexPtr(),
                                                       hessian_values_);
}

Eigen::VectorXd DampedSolver::SparseHessianDiagonal() const {
  // Each column of the upper triangle ends with its diagonal entry.
  const Eigen::SparseMatrix<double>& H = sparse_hessian_upper_;
  Eigen::VectorXd h(H.outerSize());
  for (int col = 0; col < H.outerSize(); ++col) h[col] = hessian_values_[H.outerIndexPtr()[col + 1] - 1];
  return h;
}

Status DampedSolver::Factorise(double lambda) {
  lambda_ = lambda;
  const int free_size = dense_ ? static_cast<int>(dense_hessian_.rows())
                               : static_cast<int>(sparse_hessian_upper_.rows());
  if (free_size == 0) {
    // Every coordinate fixed: nothing to factorise, the solution is zero.
    estimates_ = false;
    min_eigenvalue_ = max_eigenvalue_ = scaled_min_eigenvalue_ = scaled_max_eigenvalue_ = 0.0;
    scale_.resize(0);
    null_direction_.resize(0);
    return Status::Ok();
  }
  return dense_ ? FactoriseDense() : FactoriseSparse();
}

Eigen::VectorXd DampedSolver::null_direction() const {
  if (!reduced_ || null_direction_.size() == 0) return null_direction_;
  Eigen::VectorXd full = Eigen::VectorXd::Zero(size_);
  for (size_t i = 0; i < free_.size(); ++i) full[free_[i]] = null_direction_[i];
  return full;
}

Eigen::VectorXd DampedSolver::DampingDiagonal(const Eigen::VectorXd& h) const {
  if (options_.damping == DampingType::IDENTITY) {
    return Eigen::VectorXd::Constant(h.size(), lambda_);
  }
  return lambda_ * h.cwiseAbs().cwiseMax(kMinDiagonal).cwiseMin(kMaxDiagonal);
}

Eigen::VectorXd DampedSolver::JacobiScale(const Eigen::VectorXd& a) {
  Eigen::VectorXd scale(a.size());
  for (int i = 0; i < a.size(); ++i) {
    const double d = std::abs(a[i]);
    scale[i] = d > 0.0 && std::isfinite(d) ? 1.0 / std::sqrt(d) : 1.0;
  }
  return scale;
}

Status DampedSolver::Classify() const {
  const double scale = std::max(std::abs(scaled_max_eigenvalue_), std::abs(scaled_min_eigenvalue_));
  const double tolerance = options_.singular_tolerance * scale;
  const bool indefinite = scaled_min_eigenvalue_ < -tolerance;
  const bool singular = !indefinite && scaled_min_eigenvalue_ <= tolerance;
  if (!indefinite && !singular) return Status::Ok();

  std::ostringstream message;
  message.precision(6);
  const char* matrix = lambda_ == 0.0 ? "H" : "H + lambda D";
  if (indefinite) {
    message << matrix << " is indefinite: its smallest eigenvalue is " << min_eigenvalue_
            << " (largest " << max_eigenvalue_ << "; Jacobi-scaled " << scaled_min_eigenvalue_
            << " and " << scaled_max_eigenvalue_
            << "), so y* is not a strict local minimum of the inner problem "
               "(a saddle point, or the inner solve stopped early). ";
  } else {
    message << matrix << " is singular: the smallest eigenvalue of its Jacobi-scaled form is "
            << scaled_min_eigenvalue_ << ", within " << options_.singular_tolerance
            << " of the largest (" << scaled_max_eigenvalue_ << "; unscaled " << min_eigenvalue_
            << " and " << max_eigenvalue_
            << "), so the minimiser is not isolated (a flat direction, e.g. a gauge freedom). ";
    if (null_space_dimension_ > 0) {
      message << "Its null space has dimension " << null_space_dimension_ << " ("
              << (dense_ ? "eigenvalues" : "factorisation pivots")
              << " of the Jacobi-scaled form within singular_tolerance of the largest). ";
    }
  }
  if (lambda_ == 0.0) {
    message << "The implicit derivative (lambda = 0) does not exist here; use "
               "lambda > 0, the trust-region derivative (the paper uses 0.1)";
    if (singular) message << ", or fix the gauge (hold blocks constant or add a prior)";
  } else {
    message << "Increase lambda (now " << lambda_
            << ") above the magnitude of the negative eigenvalue, or use "
               "HessianModel::GAUSS_NEWTON";
  }
  if (estimates_) message << " (eigenvalues estimated)";
  return Status(indefinite ? StatusCode::kIndefiniteHessian : StatusCode::kSingularHessian,
                message.str());
}

void DampedSolver::EstimateEigenvalues(int iterations, const Multiply& multiply,
                                       const Multiply& solve, double* min,
                                       double* max) const {
  if (iterations <= 0 || *max <= 0.0) return;
  const int size = scale_.size();
  // A fixed, non-special start vector keeps results repeatable.
  const Eigen::VectorXd start = Eigen::VectorXd::LinSpaced(size, 1.0, 2.0).normalized();
  Eigen::VectorXd v = start;
  for (int i = 0; i < iterations; ++i) {
    const Eigen::VectorXd Av = multiply(v);
    *max = std::max(*max, v.dot(Av));
    if (Av.norm() == 0.0) break;
    v = Av.normalized();
  }
  v = start;
  for (int i = 0; i < iterations; ++i) {
    const Eigen::VectorXd x = solve(v);
    // v^T A^-1 v is a lower bound of 1 / min_eigenvalue.
    const double rayleigh = v.dot(x);
    if (rayleigh > 0.0) *min = std::min(*min, 1.0 / rayleigh);
    if (x.norm() == 0.0 || !x.allFinite()) break;
    v = x.normalized();
  }
}

Eigen::VectorXd DampedSolver::SolveScaled(const Eigen::VectorXd& v) const {
  switch (factor_) {
    case Factor::kDense:
      return dense_factor_.solve(v);
    case Factor::kCholmodLlt:
      return cholmod_factor_->LockedSolve(v);
    case Factor::kEigenLdlt:
      return sparse_factor_.solve(v);
  }
  return v;
}

Status DampedSolver::FactoriseDense() {
  factor_ = Factor::kDense;
  null_space_dimension_ = -1;
  Eigen::MatrixXd A = dense_hessian_;
  A.diagonal() += DampingDiagonal(dense_hessian_.diagonal());
  scale_ = JacobiScale(A.diagonal());
  null_direction_.resize(0);
  const Eigen::MatrixXd scaled = scale_.asDiagonal() * A * scale_.asDiagonal();
  const bool exact = A.rows() <= options_.max_exact_eigenvalue_size;
  auto compute_exact = [&]() {
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eigen(A, Eigen::EigenvaluesOnly);
    min_eigenvalue_ = eigen.eigenvalues().minCoeff();
    max_eigenvalue_ = eigen.eigenvalues().maxCoeff();
    eigen.compute(scaled, Eigen::EigenvaluesOnly);
    scaled_min_eigenvalue_ = eigen.eigenvalues().minCoeff();
    scaled_max_eigenvalue_ = eigen.eigenvalues().maxCoeff();
    estimates_ = false;
  };
  // The eigenvector of the scaled matrix's smallest eigenvalue, and the
  // dimension of its null space (then in the message).
  auto find_null_direction = [&](Status status) {
    if (status.code() == StatusCode::kSingularHessian) {
      Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eigen(scaled);
      null_direction_ = eigen.eigenvectors().col(0);
      const Eigen::VectorXd& values = eigen.eigenvalues();
      const double tolerance =
          options_.singular_tolerance * std::max(std::abs(values.minCoeff()),
                                                 std::abs(values.maxCoeff()));
      null_space_dimension_ = static_cast<int>((values.array().abs() <= tolerance).count());
      Status with_dimension = Classify();
      if (with_dimension.code() == status.code()) return with_dimension;
    }
    return status;
  };
  if (exact) compute_exact();
  dense_factor_.compute(scaled);
  if (dense_factor_.info() != Eigen::Success) {
    if (!exact) compute_exact();
    Status status = Classify();
    if (status.ok()) {
      return Status(StatusCode::kSingularHessian,
                    "the Cholesky factorisation of H + lambda D failed although "
                    "its eigenvalues are positive; the matrix is too ill-conditioned");
    }
    return find_null_direction(status);
  }
  if (!exact) {
    estimates_ = true;
    // Cholesky pivots bound nothing cheaply; start from the diagonal range,
    // which lies inside the eigenvalue range.
    min_eigenvalue_ = A.diagonal().minCoeff();
    max_eigenvalue_ = A.diagonal().maxCoeff();
    scaled_min_eigenvalue_ = scaled.diagonal().minCoeff();
    scaled_max_eigenvalue_ = scaled.diagonal().maxCoeff();
    const int n = options_.eigenvalue_iterations;
    EstimateEigenvalues(
        n, [&A](const Eigen::VectorXd& v) -> Eigen::VectorXd { return A * v; },
        [this](const Eigen::VectorXd& v) -> Eigen::VectorXd { return SolveFree(v); },
        &min_eigenvalue_, &max_eigenvalue_);
    EstimateEigenvalues(
        n, [&scaled](const Eigen::VectorXd& v) -> Eigen::VectorXd { return scaled * v; },
        [this](const Eigen::VectorXd& v) { return SolveScaled(v); }, &scaled_min_eigenvalue_,
        &scaled_max_eigenvalue_);
  }
  return find_null_direction(Classify());
}

void DampedSolver::ScaleSparseInPlace(Eigen::VectorXd* hessian_values) {
  Eigen::SparseMatrix<double>& scaled = sparse_hessian_upper_;
  const Eigen::VectorXd h = SparseHessianDiagonal();
  const Eigen::VectorXd a = h + DampingDiagonal(h);
  scale_ = JacobiScale(a);
  *hessian_values = Eigen::Map<const Eigen::VectorXd>(scaled.valuePtr(), scaled.nonZeros());
  hessian_values_ = hessian_values->data();
  // Each column of the upper triangle ends with its diagonal entry
  // (SetSparse).
  for (int col = 0; col < scaled.outerSize(); ++col) {
    scaled.valuePtr()[scaled.outerIndexPtr()[col + 1] - 1] += a[col] - h[col];
  }
  for (int col = 0; col < scaled.outerSize(); ++col) {
    for (Eigen::SparseMatrix<double>::InnerIterator it(scaled, col); it; ++it) {
      it.valueRef() *= scale_[it.row()] * scale_[it.col()];
    }
  }
}

void DampedSolver::RestoreSparse(const Eigen::VectorXd& hessian_values) {
  Eigen::Map<Eigen::VectorXd>(sparse_hessian_upper_.valuePtr(), sparse_hessian_upper_.nonZeros()) =
      hessian_values;
  hessian_values_ = sparse_hessian_upper_.valuePtr();
}

Eigen::VectorXd DampedSolver::MultiplySparse(const Eigen::VectorXd& v) const {
  const Eigen::VectorXd h = SparseHessianDiagonal();
  return SparseHessian().selfadjointView<Eigen::Upper>() * v +
         DampingDiagonal(h).cwiseProduct(v);
}

Status DampedSolver::FactoriseSparse() {
  estimates_ = true;
  null_direction_.resize(0);
  analysis_time_ = numeric_time_ = 0.0;
  null_space_dimension_ = -1;
  // S A S overwrites H's values for the factorisation (no second copy of the
  // pattern), which are restored after it.
  Eigen::VectorXd hessian_values;
  ScaleSparseInPlace(&hessian_values);
  const Status status = FactoriseScaledSparse(sparse_hessian_upper_);
  RestoreSparse(hessian_values);
  return status;
}

Status DampedSolver::FactoriseScaledSparse(const Eigen::SparseMatrix<double>& scaled) {
  if (options_.sparse_linear_algebra_library_type ==
      SparseLinearAlgebraLibraryType::EIGEN_SPARSE) {
    return FactoriseLdlt(scaled);
  }
  if (cholmod_factor_ == nullptr) cholmod_factor_ = std::make_unique<CholmodLlt>();
  if (!cholmod_analysed_) {
    const auto start = std::chrono::steady_clock::now();
    cholmod_factor_->analyzePattern(scaled);
    cholmod_analysed_ = true;
    analysis_time_ += SecondsSince(start);
  }
  const auto start = std::chrono::steady_clock::now();
  cholmod_factor_->factorize(scaled);
  numeric_time_ += SecondsSince(start);
  if (cholmod_factor_->info() != Eigen::Success) {
    // Not positive definite (to the factorisation): the LDL^T tells singular
    // from indefinite.
    return FactoriseLdlt(scaled);
  }
  factor_ = Factor::kCholmodLlt;
  const Eigen::VectorXd scaled_pivots = cholmod_factor_->Pivots();
  return ClassifySparse(scaled, scaled_pivots, scaled_pivots.cwiseQuotient(scale_.cwiseAbs2()));
}

Status DampedSolver::FactoriseLdlt(const Eigen::SparseMatrix<double>& scaled) {
  factor_ = Factor::kEigenLdlt;
  if (!ldlt_analysed_) {
    const auto start = std::chrono::steady_clock::now();
    sparse_factor_.analyzePattern(scaled);
    ldlt_analysed_ = true;
    analysis_time_ += SecondsSince(start);
  }
  const auto start = std::chrono::steady_clock::now();
  sparse_factor_.factorize(scaled);
  numeric_time_ += SecondsSince(start);
  if (sparse_factor_.info() != Eigen::Success) {
    // A zero pivot: S A S is singular (or, beyond it, indefinite); the
    // pivot's coordinate is where the null direction shows.
    min_eigenvalue_ = scaled_min_eigenvalue_ = 0.0;
    const Eigen::VectorXd h = SparseHessianDiagonal();
    max_eigenvalue_ = (h + DampingDiagonal(h))
                          .cwiseAbs()
                          .maxCoeff();
    scaled_max_eigenvalue_ = Eigen::VectorXd(scaled.diagonal()).cwiseAbs().maxCoeff();
    Status status = Classify();
    const Eigen::VectorXd pivots = sparse_factor_.vectorD();
    if (status.code() == StatusCode::kSingularHessian && pivots.size() == scaled.rows()) {
      Eigen::Index smallest = 0;
      pivots.cwiseAbs().minCoeff(&smallest);
      null_direction_ = Eigen::VectorXd::Unit(scaled.rows(), smallest);
    }
    return status;
  }
  const Eigen::VectorXd scaled_pivots = sparse_factor_.vectorD();
  return ClassifySparse(scaled, scaled_pivots, scaled_pivots.cwiseQuotient(scale_.cwiseAbs2()));
}

Status DampedSolver::ClassifySparse(const Eigen::SparseMatrix<double>& scaled,
                                    const Eigen::VectorXd& scaled_pivots,
                                    const Eigen::VectorXd& pivots) {
  // For a symmetric matrix with an LDL^T factorisation the signs of the pivots
  // are the signs of the eigenvalues (Sylvester); for a positive definite one
  // the pivots lie inside [min, max] eigenvalue. The pivots of A are those of
  // S A S divided by S^2.
  min_eigenvalue_ = pivots.minCoeff();
  max_eigenvalue_ = pivots.maxCoeff();
  scaled_min_eigenvalue_ = scaled_pivots.minCoeff();
  scaled_max_eigenvalue_ = scaled_pivots.maxCoeff();
  // Pivots within the singular band count the null space's dimension (a
  // positive semi-definite matrix of rank r has n - r zero pivots in exact
  // arithmetic); 0 leaves it unknown.
  const double band =
      options_.singular_tolerance * scaled_pivots.cwiseAbs().maxCoeff();
  const int small_pivots = static_cast<int>((scaled_pivots.array().abs() <= band).count());
  null_space_dimension_ = small_pivots > 0 ? small_pivots : -1;
  const int n = options_.eigenvalue_iterations;
  if (min_eigenvalue_ > 0.0) {
    EstimateEigenvalues(
        n, [this](const Eigen::VectorXd& v) -> Eigen::VectorXd { return MultiplySparse(v); },
        [this](const Eigen::VectorXd& v) -> Eigen::VectorXd { return SolveFree(v); },
        &min_eigenvalue_, &max_eigenvalue_);
    EstimateEigenvalues(
        n,
        [&scaled](const Eigen::VectorXd& v) -> Eigen::VectorXd {
          return scaled.selfadjointView<Eigen::Upper>() * v;
        },
        [this](const Eigen::VectorXd& v) { return SolveScaled(v); }, &scaled_min_eigenvalue_,
        &scaled_max_eigenvalue_);
  }
  if (factor_ == Factor::kEigenLdlt && scaled_min_eigenvalue_ < -band) {
    MeasureNegativePivots(scaled, scaled_pivots, band);
  }
  Status status = Classify();
  if (status.code() == StatusCode::kSingularHessian) {
    Eigen::VectorXd v = Eigen::VectorXd::LinSpaced(scaled.rows(), 1.0, 2.0).normalized();
    for (int i = 0; i < kNullDirectionIterations; ++i) {
      const Eigen::VectorXd x = SolveScaled(v);
      if (x.norm() == 0.0 || !x.allFinite()) break;
      v = x.normalized();
    }
    null_direction_ = v;
  }
  return status;
}

// S A S = P^T L D L^T P, so x_k = P^T L^-T e_k has x_k^T S A S x_k = d_k and
// |x_k| >= 1 (L is unit lower triangular). The Rayleigh quotient
// x_k^T S A S x_k / |x_k|^2, an upper bound on the smallest eigenvalue, is
// computed with S A S itself rather than as d_k / |x_k|^2, so that it holds
// however inexact the factorisation (LDL^T without pivoting on an indefinite
// or nearly singular matrix). Round-off in a near null space (a gauge
// freedom) leaves pivots small and negative whose quotients are far smaller:
// the pivots say indefinite where the eigenvalues say singular. The quotients
// of the most negative pivots replace them as the smallest eigenvalue's
// estimates, and those within the singular band count towards the null
// space's dimension.
void DampedSolver::MeasureNegativePivots(const Eigen::SparseMatrix<double>& scaled,
                                         const Eigen::VectorXd& scaled_pivots, double band) {
  std::vector<Eigen::Index> negative;
  for (Eigen::Index k = 0; k < scaled_pivots.size(); ++k) {
    if (scaled_pivots[k] < -band) negative.push_back(k);
  }
  std::sort(negative.begin(), negative.end(), [&](Eigen::Index a, Eigen::Index b) {
    return scaled_pivots[a] < scaled_pivots[b];
  });
  if (negative.size() > static_cast<size_t>(kNegativePivotProbes)) {
    negative.resize(kNegativePivotProbes);
  }
  double scaled_min = std::numeric_limits<double>::infinity();
  double min = std::numeric_limits<double>::infinity();
  int within_band = 0;
  for (Eigen::Index k : negative) {
    const Eigen::VectorXd u =
        sparse_factor_.matrixU().solve(Eigen::VectorXd::Unit(scaled_pivots.size(), k));
    const Eigen::VectorXd x = sparse_factor_.permutationPinv() * u;
    const double curvature = x.dot(scaled.selfadjointView<Eigen::Upper>() * x);
    const double scaled_quotient = curvature / x.squaredNorm();
    if (!std::isfinite(scaled_quotient)) return;  // keep the pivots' verdict
    scaled_min = std::min(scaled_min, scaled_quotient);
    min = std::min(min, curvature / scale_.cwiseProduct(x).squaredNorm());
    if (scaled_quotient >= -band) ++within_band;
  }
  scaled_min_eigenvalue_ = scaled_min;
  min_eigenvalue_ = min;
  if (within_band > 0) null_space_dimension_ = std::max(null_space_dimension_, 0) + within_band;
}

Eigen::MatrixXd DampedSolver::SolveFree(const Eigen::MatrixXd& B) const {
  if (B.rows() == 0) return B;
  const Eigen::MatrixXd scaled_B = scale_.asDiagonal() * B;
  switch (factor_) {
    case Factor::kDense:
      return scale_.asDiagonal() * dense_factor_.solve(scaled_B);
    case Factor::kCholmodLlt:
      return scale_.asDiagonal() * cholmod_factor_->LockedSolve(scaled_B);
    case Factor::kEigenLdlt:
      return scale_.asDiagonal() * sparse_factor_.solve(scaled_B);
  }
  return B;
}

Eigen::MatrixXd DampedSolver::Solve(const Eigen::MatrixXd& B) const {
  if (!reduced_) return SolveFree(B);
  const Eigen::MatrixXd X_free = SolveFree(B(free_, Eigen::all));
  Eigen::MatrixXd X = Eigen::MatrixXd::Zero(B.rows(), B.cols());
  X(free_, Eigen::all) = X_free;
  return X;
}

}  // namespace internal
}  // namespace ceres_wiberg
