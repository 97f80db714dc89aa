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
  // beyond SPARSE_SCHUR where it eliminates at least three quarters of the
  // coordinates, else SPARSE.
  AUTOMATIC,
  // Eigen dense Cholesky (LLT) on an n_y x n_y matrix.
  DENSE,
  // A sparse Cholesky factorisation of the block-sparse Hessian, which is
  // never densified; the library is chosen by
  // SparseLinearAlgebraLibraryType.
  SPARSE,
  // SPARSE with a Schur elimination first, as Ceres' SPARSE_SCHUR: a greedy
  // independent set of small inner blocks that share no entry of H (bundle
  // adjustment's points) is eliminated block by block (dense Cholesky), and
  // the reduced system R over the other coordinates is factorised sparse
  // (dense where its pattern fills at least 80% of it: more memory-frugal
  // then, and faster).
  // Used only where every eliminated block and R are positive definite;
  // otherwise (singular or indefinite H + lambda D) the SPARSE factorisation
  // classifies it, so both report alike. AUTOMATIC chooses it (beyond
  // max_dense_size) where the eliminated blocks hold at least three
  // quarters of the free coordinates.
  SPARSE_SCHUR,
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

// How BilevelExample finds y* (BilevelExample::Options::inner_solver_type).
enum class InnerSolverType {
  // ceres::Solve with the example's inner_solver_options (Levenberg-Marquardt
  // on the Gauss-Newton model by default). Choose it far from a minimiser, for
  // large sparse problems (Ceres' Schur and sparse solvers, threads), and for
  // energies whose exact H is expensive. Each call pays Ceres' per-Solve
  // setup (preprocessor, program, evaluator).
  CERES,
  // The library's trust-region Newton descent on the exact H (DampedNewton
  // on the inner energy, as NewtonPolish): y <- y (+) -(H + mu I)^-1 g, mu
  // raised while H + mu I is not positive definite or the cost rises.
  // Quadratic near a strict minimiser, where Ceres' LM on a non-convex or
  // robust energy converges only linearly (Fields of Experts), and no
  // per-call setup beyond buffers kept by the example (tiny problems). It is
  // a local method: start it near the minimiser (a seed, a warm start); it
  // reports an error when it fails (see BilevelExample::Options).
  NEWTON,
};

const char* DampingTypeToString(DampingType type);
const char* HessianModelToString(HessianModel model);
const char* LinearSolverTypeToString(LinearSolverType type);
const char* SparseLinearAlgebraLibraryTypeToString(SparseLinearAlgebraLibraryType type);
const char* InnerSolverTypeToString(InnerSolverType type);
bool StringToDampingType(const std::string& name, DampingType* type);
bool StringToHessianModel(const std::string& name, HessianModel* model);
bool StringToLinearSolverType(const std::string& name, LinearSolverType* type);
bool StringToSparseLinearAlgebraLibraryType(const std::string& name,
                                            SparseLinearAlgebraLibraryType* type);
bool StringToInnerSolverType(const std::string& name, InnerSolverType* type);

}  // namespace ceres_wiberg

#endif  // CERES_WIBERG_TYPES_H_
