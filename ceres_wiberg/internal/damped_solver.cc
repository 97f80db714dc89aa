#include "ceres_wiberg/internal/damped_solver.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <sstream>
#include <utility>

#include "Eigen/Eigenvalues"

namespace ceres_wiberg {
namespace internal {
namespace {

// Ceres' Levenberg-Marquardt clamps its diagonal to this range.
constexpr double kMinDiagonal = 1e-6;
constexpr double kMaxDiagonal = 1e32;

}  // namespace

DampedSolver::DampedSolver(const MinimiserDerivative::Options& options)
    : options_(options), lambda_(options.lambda) {}

void DampedSolver::SetDense(Eigen::MatrixXd H) {
  dense_ = true;
  dense_hessian_ = std::move(H);
}

void DampedSolver::SetSparse(Eigen::SparseMatrix<double> H_upper) {
  // The sparsity pattern is the problem's: analysed once, kept across points.
  sparse_pattern_analysed_ = sparse_pattern_analysed_ && !dense_ &&
                             H_upper.rows() == sparse_hessian_upper_.rows() &&
                             H_upper.nonZeros() == sparse_hessian_upper_.nonZeros();
  dense_ = false;
  sparse_hessian_upper_ = std::move(H_upper);
}

Status DampedSolver::Factorise(double lambda) {
  lambda_ = lambda;
  return dense_ ? FactoriseDense() : FactoriseSparse();
}

Eigen::VectorXd DampedSolver::DampingDiagonal(const Eigen::VectorXd& h) const {
  if (options_.damping == DampingType::IDENTITY) {
    return Eigen::VectorXd::Constant(h.size(), lambda_);
  }
  return lambda_ * h.cwiseAbs().cwiseMax(kMinDiagonal).cwiseMin(kMaxDiagonal);
}

Status DampedSolver::Classify() const {
  const double scale = std::max(std::abs(max_eigenvalue_), std::abs(min_eigenvalue_));
  const bool indefinite = min_eigenvalue_ < -options_.singular_tolerance * scale;
  const bool singular = !indefinite && min_eigenvalue_ <= options_.singular_tolerance * scale;
  if (!indefinite && !singular) return Status::Ok();

  std::ostringstream message;
  message.precision(6);
  const char* matrix = lambda_ == 0.0 ? "H" : "H + lambda D";
  if (indefinite) {
    message << matrix << " is indefinite: its smallest eigenvalue is "
            << min_eigenvalue_ << " (largest " << max_eigenvalue_
            << "), so y* is not a strict local minimum of the inner problem "
               "(a saddle point, or the inner solve stopped early). ";
  } else {
    message << matrix << " is singular to working precision: smallest eigenvalue "
            << min_eigenvalue_ << ", largest " << max_eigenvalue_
            << ", so the minimiser is not isolated (a flat direction). ";
  }
  if (lambda_ == 0.0) {
    message << "The implicit derivative (lambda = 0) does not exist here; use "
               "lambda > 0, the trust-region derivative (the paper uses 0.1)";
  } else {
    message << "Increase lambda (now " << lambda_
            << ") above the magnitude of the negative eigenvalue, or use "
               "HessianModel::GAUSS_NEWTON";
  }
  if (estimates_) message << " (eigenvalues estimated)";
  return Status(indefinite ? StatusCode::kIndefiniteHessian : StatusCode::kSingularHessian,
                message.str());
}

void DampedSolver::EstimateEigenvalues(
    const std::function<Eigen::VectorXd(const Eigen::VectorXd&)>& multiply) {
  const int n = options_.eigenvalue_iterations;
  if (n <= 0 || max_eigenvalue_ <= 0.0) return;
  const int size = dense_ ? dense_factor_.rows() : sparse_factor_.rows();
  // A fixed, non-special start vector keeps results repeatable.
  Eigen::VectorXd start = Eigen::VectorXd::LinSpaced(size, 1.0, 2.0);
  Eigen::VectorXd v = start.normalized();
  for (int i = 0; i < n; ++i) {
    const Eigen::VectorXd Av = multiply(v);
    max_eigenvalue_ = std::max(max_eigenvalue_, v.dot(Av));
    if (Av.norm() == 0.0) break;
    v = Av.normalized();
  }
  v = start.normalized();
  for (int i = 0; i < n; ++i) {
    const Eigen::VectorXd x = Solve(v);
    // v^T A^-1 v is a lower bound of 1 / min_eigenvalue.
    const double rayleigh = v.dot(x);
    if (rayleigh > 0.0) min_eigenvalue_ = std::min(min_eigenvalue_, 1.0 / rayleigh);
    if (x.norm() == 0.0 || !x.allFinite()) break;
    v = x.normalized();
  }
}

Status DampedSolver::FactoriseDense() {
  Eigen::MatrixXd A = dense_hessian_;
  A.diagonal() += DampingDiagonal(dense_hessian_.diagonal());
  const bool exact = A.rows() <= options_.max_exact_eigenvalue_size;
  auto compute_exact = [&]() {
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eigen(A, Eigen::EigenvaluesOnly);
    min_eigenvalue_ = eigen.eigenvalues().minCoeff();
    max_eigenvalue_ = eigen.eigenvalues().maxCoeff();
    estimates_ = false;
  };
  if (exact) compute_exact();
  dense_factor_.compute(A);
  if (dense_factor_.info() != Eigen::Success) {
    if (!exact) compute_exact();
    Status status = Classify();
    if (status.ok()) {
      return Status(StatusCode::kSingularHessian,
                    "the Cholesky factorisation of H + lambda D failed although "
                    "its eigenvalues are positive; the matrix is too ill-conditioned");
    }
    return status;
  }
  if (!exact) {
    estimates_ = true;
    // Cholesky pivots bound nothing cheaply; start from the diagonal range,
    // which lies inside the eigenvalue range.
    min_eigenvalue_ = A.diagonal().minCoeff();
    max_eigenvalue_ = A.diagonal().maxCoeff();
    EstimateEigenvalues([&A](const Eigen::VectorXd& v) -> Eigen::VectorXd { return A * v; });
  }
  return Classify();
}

Status DampedSolver::FactoriseSparse() {
  estimates_ = true;
  Eigen::SparseMatrix<double> A = sparse_hessian_upper_;
  const Eigen::VectorXd damping = DampingDiagonal(Eigen::VectorXd(A.diagonal()));
  for (int i = 0; i < A.rows(); ++i) A.coeffRef(i, i) += damping[i];
  if (!sparse_pattern_analysed_) {
    sparse_factor_.analyzePattern(A);
    sparse_pattern_analysed_ = true;
  }
  sparse_factor_.factorize(A);
  if (sparse_factor_.info() != Eigen::Success) {
    min_eigenvalue_ = 0.0;
    max_eigenvalue_ = A.diagonal().cwiseAbs().maxCoeff();
    return Classify();
  }
  // For a symmetric matrix with an LDL^T factorisation the signs of the pivots
  // are the signs of the eigenvalues (Sylvester); for a positive definite one
  // the pivots lie inside [min, max] eigenvalue.
  const Eigen::VectorXd pivots = sparse_factor_.vectorD();
  min_eigenvalue_ = pivots.minCoeff();
  max_eigenvalue_ = pivots.maxCoeff();
  if (min_eigenvalue_ > 0.0) {
    const Eigen::SparseMatrix<double> A_full = A.selfadjointView<Eigen::Upper>();
    EstimateEigenvalues(
        [&A_full](const Eigen::VectorXd& v) -> Eigen::VectorXd { return A_full * v; });
  }
  return Classify();
}

Eigen::MatrixXd DampedSolver::Solve(const Eigen::MatrixXd& B) const {
  if (dense_) return dense_factor_.solve(B);
  return sparse_factor_.solve(B);
}

}  // namespace internal
}  // namespace ceres_wiberg
