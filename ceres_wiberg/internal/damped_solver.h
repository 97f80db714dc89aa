// ceres_wiberg internal: keeps H and factorises A = H + lambda D (dense
// Cholesky or sparse LDL^T), reports its extreme eigenvalues, and solves
// A X = B. A new lambda refactorises A from the kept H: H is not rebuilt.

#ifndef CERES_WIBERG_INTERNAL_DAMPED_SOLVER_H_
#define CERES_WIBERG_INTERNAL_DAMPED_SOLVER_H_

#include <memory>

#include "Eigen/Cholesky"
#include "Eigen/Core"
#include "Eigen/SparseCholesky"
#include "Eigen/SparseCore"
#include "ceres_wiberg/minimiser_derivative.h"
#include "ceres_wiberg/status.h"

namespace ceres_wiberg {
namespace internal {

class DampedSolver {
 public:
  explicit DampedSolver(const MinimiserDerivative::Options& options);

  // Keeps H: both triangles (dense) or upper triangle (sparse).
  void SetDense(Eigen::MatrixXd H);
  void SetSparse(Eigen::SparseMatrix<double> H_upper);

  // Factorises H + lambda D for the kept H (D from options.damping).
  Status Factorise(double lambda);

  // X = (H + lambda D)^-1 B for the last Factorise.
  Eigen::MatrixXd Solve(const Eigen::MatrixXd& B) const;

  double min_eigenvalue() const { return min_eigenvalue_; }
  double max_eigenvalue() const { return max_eigenvalue_; }
  bool eigenvalues_are_estimates() const { return estimates_; }
  bool is_dense() const { return dense_; }

 private:
  Status FactoriseDense();
  Status FactoriseSparse();
  // D's diagonal for a Hessian with diagonal `h`.
  Eigen::VectorXd DampingDiagonal(const Eigen::VectorXd& h) const;
  // Refines [min, max] by power and inverse iterations.
  void EstimateEigenvalues(
      const std::function<Eigen::VectorXd(const Eigen::VectorXd&)>& multiply);
  // The error for a matrix whose smallest eigenvalue is min_eigenvalue_, or
  // OK if it is positive definite to working precision.
  Status Classify() const;

  const MinimiserDerivative::Options options_;
  double lambda_ = 0.0;
  bool dense_ = true;
  bool sparse_pattern_analysed_ = false;
  Eigen::MatrixXd dense_hessian_;
  Eigen::SparseMatrix<double> sparse_hessian_upper_;
  bool estimates_ = false;
  double min_eigenvalue_ = 0.0;
  double max_eigenvalue_ = 0.0;
  Eigen::LLT<Eigen::MatrixXd> dense_factor_;
  Eigen::SimplicialLDLT<Eigen::SparseMatrix<double>, Eigen::Upper> sparse_factor_;
};

}  // namespace internal
}  // namespace ceres_wiberg

#endif  // CERES_WIBERG_INTERNAL_DAMPED_SOLVER_H_
