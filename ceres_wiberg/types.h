// ceres_wiberg: learning energy parameters by differentiating Ceres minimisers.
//
// Enums shared by the public API, with Ceres-style XToString and StringToX
// functions (StringToX ignores case and returns false for an unknown name).

#ifndef CERES_WIBERG_TYPES_H_
#define CERES_WIBERG_TYPES_H_

#include <string>

namespace ceres_wiberg {

// The damping matrix D in dy*/dw = -(H + lambda D)^-1 G.
enum class DampingType {
  // D = I, as in the paper (eq. 7). Guarantees ||dy*/dw|| <= ||G|| / lambda.
  IDENTITY,
  // D = diag(|H_jj|) clamped to [1e-6, 1e32], the scaling Ceres'
  // Levenberg-Marquardt uses: invariant to rescaling the inner variables.
  HESSIAN_DIAGONAL,
};

// The model of H = d2E/dy2 at y*.
enum class HessianModel {
  // H = sum_i rho'_i J_i^T J_i: what Ceres' solver builds. Positive
  // semi-definite; exact only for zero-residual, linear problems.
  GAUSS_NEWTON,
  // The true Hessian: adds the loss function's rho'' term, the residuals'
  // second derivatives (by central differences of the analytic Jacobians) and,
  // on manifolds, the curvature of Manifold::Plus.
  EXACT,
};

// The linear algebra used to factorise H + lambda D.
enum class LinearSolverType {
  // DENSE up to MinimiserDerivative::Options::max_dense_size inner variables,
  // SPARSE beyond.
  AUTOMATIC,
  // Eigen dense Cholesky (LLT) on an n_y x n_y matrix.
  DENSE,
  // A sparse Cholesky factorisation of the block-sparse Hessian, which is
  // never densified; the library is chosen by
  // SparseLinearAlgebraLibraryType.
  SPARSE,
};

// The library behind LinearSolverType::SPARSE (Ceres' option of the same
// name).
enum class SparseLinearAlgebraLibraryType {
  // SuiteSparse CHOLMOD: supernodal LL^T (dense BLAS kernels on the
  // supernodes, AMD ordering), its symbolic analysis done once per sparsity
  // pattern. A matrix whose LL^T fails (not positive definite) is classified
  // singular or indefinite by the LDL^T of EIGEN_SPARSE.
  SUITE_SPARSE,
  // Eigen's SimplicialLDLT (AMD ordering): no BLAS, one column at a time.
  EIGEN_SPARSE,
};

const char* DampingTypeToString(DampingType type);
const char* HessianModelToString(HessianModel model);
const char* LinearSolverTypeToString(LinearSolverType type);
const char* SparseLinearAlgebraLibraryTypeToString(SparseLinearAlgebraLibraryType type);
bool StringToDampingType(const std::string& name, DampingType* type);
bool StringToHessianModel(const std::string& name, HessianModel* model);
bool StringToLinearSolverType(const std::string& name, LinearSolverType* type);
bool StringToSparseLinearAlgebraLibraryType(const std::string& name,
                                            SparseLinearAlgebraLibraryType* type);

}  // namespace ceres_wiberg

#endif  // CERES_WIBERG_TYPES_H_
