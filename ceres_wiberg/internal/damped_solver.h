// ceres_wiberg internal: keeps H and factorises A = H + lambda D (dense
// Cholesky, or sparse: CHOLMOD's supernodal LL^T or Eigen's simplicial
// LDL^T), reports its extreme eigenvalues, and solves A X = B. A new lambda
// refactorises A from the kept H: H is not rebuilt, and the sparse symbolic
// analysis (ordering, elimination tree, supernodes) is kept while the
// sparsity pattern stays.
//
// Classification of a sparse A: a successful LL^T proves S A S positive
// definite (singular if its pivots span more than 1 / singular_tolerance);
// a failed one is refactorised by the LDL^T, whose pivots' signs are those
// of the eigenvalues (Sylvester), to tell singular from indefinite.
//
// A is factorised, and classified (positive definite, singular, indefinite),
// in its Jacobi-scaled form S A S, S = diag(|A_ii|)^-1/2 (1 where A_ii = 0),
// as Ceres scales its Levenberg-Marquardt system: the classification and the
// condition number then do not depend on the parameters' units.
//
// Coordinates held fixed (active bounds, SetFixed) leave the system: A is
// A_FF over the free coordinates F, its eigenvalues and classification are
// A_FF's, and Solve returns X_F = A_FF^-1 B_F and X = 0 on the fixed rows.
//
// Schur elimination (SPARSE_SCHUR, or AUTOMATIC where it pays; needs
// SetBlocks): a greedy independent set E of small blocks, pairwise uncoupled
// in H (bundle adjustment's points), is eliminated. S A S = [A_EE A_EK;
// A_KE A_KK] (K the kept coordinates) is factorised as the Cholesky factors
// of A_EE's diagonal blocks and of R = A_KK - A_KE A_EE^-1 A_EK (sparse,
// CHOLMOD or Eigen's simplicial LL^T; dense, Eigen's blocked LL^T, when its
// pattern fills most of it), and solved by block substitution.
// These pivots are those of a block LDL^T with E first (Haynsworth: In(A) =
// In(A_EE) + In(R)), and are classified as the full factorisation's. It is
// used only when every A_EE block and R are positive definite; otherwise the
// full sparse route runs (which tells singular from indefinite).

#ifndef CERES_WIBERG_INTERNAL_DAMPED_SOLVER_H_
#define CERES_WIBERG_INTERNAL_DAMPED_SOLVER_H_

#include <functional>
#include <memory>
#include <vector>

#include "Eigen/Cholesky"
#include "Eigen/Core"
#include "Eigen/Eigenvalues"
#include "Eigen/SparseCholesky"
#include "Eigen/SparseCore"
#include "ceres_wiberg/minimiser_derivative.h"
#include "ceres_wiberg/status.h"

namespace ceres_wiberg {
namespace internal {

// CHOLMOD's supernodal LL^T (defined in damped_solver.cc, so that CHOLMOD's
// headers stay private to the library's sources).
class CholmodLlt;
// The Schur elimination's analysis and factors (damped_solver.cc).
class SchurFactor;

class DampedSolver {
 public:
  explicit DampedSolver(const MinimiserDerivative::Options& options);
  ~DampedSolver();
  DampedSolver(const DampedSolver&) = delete;
  DampedSolver& operator=(const DampedSolver&) = delete;

  // The coordinates held fixed by the next SetDense/SetSparse: n entries, 1
  // for fixed; empty: none.
  void SetFixed(const std::vector<char>& fixed);

  // The blocks of the coordinates (sizes in coordinate order, summing to n:
  // the inner blocks' tangent sizes) for the Schur elimination; empty: none
  // (no elimination). The same blocks again keep the analyses.
  void SetBlocks(const std::vector<int>& block_sizes);

  // Keeps H (n x n; only its free rows and columns are used): both
  // triangles (dense) or upper triangle (sparse). SetSparse takes *H's
  // storage (swapped, not copied: Eigen 3.4's SparseMatrix has no move
  // constructor) and leaves it empty. pattern_unchanged: *H has the pattern
  // of the matrix TakeSparse returned (the caller wrote the new values into
  // it), so the symbolic analyses are kept (as they are when its pattern is
  // that of the kept H).
  void SetDense(Eigen::MatrixXd H);
  void SetSparse(Eigen::SparseMatrix<double>* H, bool pattern_unchanged = false);
  // The kept sparse H over all n coordinates (none fixed), moved out for the
  // caller to write the next H into in place (then SetSparse); an empty
  // matrix when the kept H is dense or without the fixed coordinates. The
  // factorisation stays usable; the next Factorise needs a SetSparse.
  Eigen::SparseMatrix<double> TakeSparse();
  // The kept H (n x n, both triangles; zero rows and columns for the fixed
  // coordinates).
  Eigen::SparseMatrix<double> KeptHessian() const;

  // Factorises H + lambda D for the kept H (D from options.damping).
  Status Factorise(double lambda);

  // X = (H + lambda D)^-1 B for the last Factorise (over the free
  // coordinates; zero rows for the fixed ones). Not to be called from two
  // threads at once (CHOLMOD's solve uses the factorisation's workspace).
  Eigen::MatrixXd Solve(const Eigen::MatrixXd& B) const;

  // Extreme eigenvalues of A = H + lambda D, and of its Jacobi-scaled form.
  // A's own (dense, exact) are computed on the first call after a
  // Factorise: a descent's factorisations need only the scaled ones.
  double min_eigenvalue() const {
    ComputeDeferredEigenvalues();
    return min_eigenvalue_;
  }
  double max_eigenvalue() const {
    ComputeDeferredEigenvalues();
    return max_eigenvalue_;
  }
  double scaled_min_eigenvalue() const { return scaled_min_eigenvalue_; }
  double scaled_max_eigenvalue() const { return scaled_max_eigenvalue_; }
  bool eigenvalues_are_estimates() const { return estimates_; }
  bool is_dense() const { return dense_; }
  // The linear solver of the last Factorise: DENSE, SPARSE (the full sparse
  // factorisation) or SPARSE_SCHUR (the Schur elimination succeeded), and
  // the (free) coordinates it eliminated (0 unless SPARSE_SCHUR).
  LinearSolverType solver_type() const;
  int num_eliminated() const;
  // SPARSE_SCHUR: whether R was stored and factorised dense (its pattern
  // fills most of it).
  bool reduced_matrix_is_dense() const;

  // After a Factorise of a sparse A: the time of the symbolic analysis it
  // did (0 when the pattern's analysis was kept) and of the numeric
  // factorisation(s).
  double analysis_time_in_seconds() const { return analysis_time_; }
  double numeric_time_in_seconds() const { return numeric_time_; }

  // After a kSingularHessian Factorise: the direction (scaled coordinates,
  // unit norm, n entries, zero on the fixed ones) along which S A S is
  // (nearly) null; empty if unknown.
  Eigen::VectorXd null_direction() const;

 private:
  using Multiply = std::function<Eigen::VectorXd(const Eigen::VectorXd&)>;

  // Which factorisation Solve uses.
  enum class Factor { kDense, kCholmodLlt, kEigenLdlt, kSchur };

  Status FactoriseDense();
  Status FactoriseSparse();
  Status FactoriseScaledSparse(const Eigen::SparseMatrix<double>& scaled);
  // The Schur route: true when it factorised S A S (every eliminated block
  // and R positive definite) and *status is its classification; false to
  // take the full route. Analyses the elimination set once per pattern.
  bool FactoriseSchur(const Eigen::SparseMatrix<double>& scaled, Status* status);
  // Overwrites the kept sparse H's values with S A S's (upper triangle; the
  // pattern is shared, not copied) after saving H's values in
  // *hessian_values, which hessian_values_ then points to; sets scale_.
  // RestoreSparse undoes it.
  void ScaleSparseInPlace(Eigen::VectorXd* hessian_values);
  void RestoreSparse(const Eigen::VectorXd& hessian_values);
  // The kept sparse H (its own values also during a Factorise) and its
  // diagonal.
  Eigen::Map<const Eigen::SparseMatrix<double>> SparseHessian() const;
  Eigen::VectorXd SparseHessianDiagonal() const;
  // A v for the kept sparse H (free coordinates).
  Eigen::VectorXd MultiplySparse(const Eigen::VectorXd& v) const;
  // The eigenvalue bounds and estimates, classification and null direction
  // from the sparse factorisation's pivots (those of S A S, in any order;
  // `pivots` the matching ones of A).
  // For the LDL^T route: the Rayleigh quotients of the directions of the
  // pivots below -band (see the definition).
  void MeasureNegativePivots(const Eigen::SparseMatrix<double>& scaled,
                             const Eigen::VectorXd& scaled_pivots, double band);
  Status ClassifySparse(const Eigen::SparseMatrix<double>& scaled,
                        const Eigen::VectorXd& scaled_pivots, const Eigen::VectorXd& pivots);
  // The LDL^T route: classification (and the solve) by Eigen's
  // SimplicialLDLT of S A S.
  Status FactoriseLdlt(const Eigen::SparseMatrix<double>& scaled);
  // D's diagonal for a Hessian with diagonal `h`.
  Eigen::VectorXd DampingDiagonal(const Eigen::VectorXd& h) const;
  // S's diagonal for A's diagonal.
  static Eigen::VectorXd JacobiScale(const Eigen::VectorXd& a);
  // Refines [*min, *max] by power iterations of `multiply` and inverse
  // iterations of `solve`.
  void EstimateEigenvalues(int iterations, const Multiply& multiply, const Multiply& solve,
                           double* min, double* max) const;
  // (S A S)^-1 v with the factorisation (free coordinates).
  Eigen::VectorXd SolveScaled(const Eigen::VectorXd& v) const;
  // X = A_FF^-1 B_F (free coordinates only).
  Eigen::MatrixXd SolveFree(const Eigen::MatrixXd& B_free) const;
  // The error for the scaled eigenvalues found, or OK if S A S is positive
  // definite beyond options.singular_tolerance.
  Status Classify() const;
  // min_eigenvalue_ and max_eigenvalue_ from damped_dense_ if the last
  // FactoriseDense deferred them (same solver, same bits as computed there).
  void ComputeDeferredEigenvalues() const;

  const MinimiserDerivative::Options options_;
  // Some coordinates are fixed; free_ lists the others in order.
  bool reduced_ = false;
  std::vector<int> free_;
  int size_ = 0;  // n, fixed coordinates included
  double lambda_ = 0.0;
  bool dense_ = true;
  Factor factor_ = Factor::kDense;
  // The sparse symbolic analyses done for the kept pattern.
  bool cholmod_analysed_ = false;
  bool ldlt_analysed_ = false;
  bool schur_analysed_ = false;
  // Whether the analysed elimination set is used (SPARSE_SCHUR, or
  // AUTOMATIC and its share of the coordinates).
  bool schur_chosen_ = false;
  std::vector<int> block_sizes_;  // SetBlocks'
  double analysis_time_ = 0.0;
  double numeric_time_ = 0.0;
  Eigen::MatrixXd dense_hessian_;
  // H's upper triangle, every diagonal entry present. During a sparse
  // Factorise its values are S A S's and H's are at hessian_values_.
  Eigen::SparseMatrix<double> sparse_hessian_upper_;
  const double* hessian_values_ = nullptr;
  bool estimates_ = false;
  // A's extreme eigenvalues; deferred (then computed by
  // ComputeDeferredEigenvalues, not thread-safe: one caller at a time, as
  // Solve) after an exact dense Factorise.
  mutable bool eigenvalues_deferred_ = false;
  mutable double min_eigenvalue_ = 0.0;
  mutable double max_eigenvalue_ = 0.0;
  double scaled_min_eigenvalue_ = 0.0;
  double scaled_max_eigenvalue_ = 0.0;
  Eigen::VectorXd scale_;  // S's diagonal
  Eigen::VectorXd null_direction_;
  // For the kSingularHessian message: the eigenvalues (dense) or pivots
  // (sparse) of S A S within singular_tolerance of the largest; -1 unknown.
  int null_space_dimension_ = -1;
  Eigen::LLT<Eigen::MatrixXd> dense_factor_;
  // FactoriseDense's A = H + lambda D and S A S, and its eigenvalue solver:
  // kept, so that a factorisation of the same size allocates nothing.
  Eigen::MatrixXd damped_dense_;
  Eigen::MatrixXd scaled_dense_;
  mutable Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eigen_solver_;
  Eigen::SimplicialLDLT<Eigen::SparseMatrix<double>, Eigen::Upper> sparse_factor_;
  std::unique_ptr<CholmodLlt> cholmod_factor_;  // made on the first SUITE_SPARSE use
  std::unique_ptr<SchurFactor> schur_factor_;   // made on the first Schur analysis
};

}  // namespace internal
}  // namespace ceres_wiberg

#endif  // CERES_WIBERG_INTERNAL_DAMPED_SOLVER_H_
