// ceres_wiberg: learning energy parameters by differentiating Ceres minimisers.
//
// Differentiable linear least squares in closed form (the special case of
// supplementary section 2): for dense A (m x n, any m and n) and b (m x k),
//
//   y* = argmin_y ||A y - b||_F^2 + l2 ||y||_F^2,          l2 >= 0,
//
// the l2 term being TensorFlow's `l2_regulariser` of tf.linalg.lstsq, with its
// derivative in forward mode (dy* for given dA, db) and reverse mode (dL/dA,
// dL/db for given dL/dy*). The k columns of b are k independent problems that
// share A.
//
// Notation: M = A^T A + l2 I (n x n), r = b - A y* (m x k), <X, Y> = tr(X^T Y),
// A^+ the Moore-Penrose pseudo-inverse, A = U_r S_r V_r^T the thin SVD of A
// truncated at its numerical rank r.
//
// ----------------------------------------------------------------------------
// 1. FULL_RANK_CHOLESKY: A of full column rank, or l2 > 0. y* solves the
//    normal equations M y* = A^T b. Differentiating them, with
//    dM = dA^T A + A^T dA (l2 is held fixed):
//
//      dM y* + M dy* = dA^T b + A^T db
//      dy* = M^-1 (dA^T (b - A y*) - A^T dA y* + A^T db)
//          = M^-1 (dA^T r + A^T (db - dA y*)).                          (F1)
//
//    Reverse mode: for a scalar L(y*) with G = dL/dy* (n x k), put
//    u = M^-1 G (M is symmetric). Then <G, dy*> = <u, dA^T r> +
//    <A u, db - dA y*> = <r u^T, dA> + <A u, db> - <A u y*^T, dA>, so
//
//      dL/dA = r u^T - A u y*^T,       dL/db = A u.                     (R1)
//
// 2. MINIMUM_NORM, l2 = 0: any A. y* = A^+ b, the minimum-norm minimiser.
//    The derivative of the pseudo-inverse (Golub and Pereyra 1973), valid
//    where the rank of A is locally constant, is
//
//      d(A^+) = -A^+ dA A^+ + A^+ A^+^T dA^T (I - A A^+)
//               + (I - A^+ A) dA^T A^+^T A^+,
//
//    and with (I - A A^+) b = r and A^+^T A^+ b = A^+^T y*:
//
//      dy* = A^+ db + d(A^+) b
//          = A^+ (db - dA y*) + A^+ A^+^T dA^T r
//            + (I - A^+ A) dA^T A^+^T y*.                               (F2)
//
//    Reverse mode: with z = A^+^T G (m x k), v = A^+ z = A^+ A^+^T G and
//    w = A^+^T y* (m x k), term by term <G, A^+ X> = <z, X>,
//    <G, A^+ A^+^T dA^T r> = <r v^T, dA> and
//    <G, (I - A^+ A) dA^T w> = <w ((I - A^+ A) G)^T, dA>, so
//
//      dL/dA = -z y*^T + r v^T + w ((I - A^+ A) G)^T,   dL/db = z.      (R2)
//
//    With A = U_r S_r V_r^T: A^+ = V_r S_r^-1 U_r^T, A^+ A^+^T = V_r S_r^-2
//    V_r^T and I - A^+ A = I - V_r V_r^T; nothing n x n or m x m is formed.
//    For full column rank (r = n) the last term vanishes, A^+ A^+^T = M^-1
//    and (F2) reduces to (F1): the two paths agree.
//
// 3. MINIMUM_NORM, l2 > 0: M is positive definite whatever the rank of A, the
//    minimiser is unique and smooth in (A, b), and (F1)/(R1) are its exact
//    derivatives. This path evaluates them through the SVD of A instead of a
//    Cholesky factorisation of M, which squares the condition number:
//      y* = V diag(s_i / (s_i^2 + l2)) U^T b,
//      M^-1 x = V diag(1 / (s_i^2 + l2)) V^T x + (x - V V^T x) / l2,
//    with all min(m, n) singular triplets (no truncation: rank_tolerance then
//    only sets the reported rank()).
//
// 4. Rank changes: there the minimum-norm solution is not differentiable.
// A^+ is discontinuous wherever the rank of A changes: a generic dA raises
// the rank of a rank-deficient A, and y*(A + t dA) then jumps as t -> 0
// (its new singular values are O(t), so A^+ has O(1/t) terms). (F2) is the
// derivative along perturbations that keep the rank r, i.e. along the tangent
// space of the manifold of rank-r matrices at A,
//   {dA : U_perp^T dA V_perp = 0},
// and for any dA it returns the derivative along dA's projection onto that
// space ((F2) vanishes on the normal part U_perp Z V_perp^T). Equivalently
// the reverse-mode gradient dL/dA of (R2) is the Riemannian gradient: it lies
// in the tangent space. For A of full row or full column rank every small
// perturbation keeps the rank, so (F2) is the ordinary derivative there.
// This is the ill-posed case that motivates the paper: at a rank-deficient A
// the Hessian 2 A^T A of the energy is singular, the implicit derivative
// -H^-1 G does not exist, and the trust-region derivative stays bounded.
//
// Errors in the printed equations of supplementary section 2, corrected
// above:
//   (8)  prints dE/dy = 2 (A y - b); it is 2 A^T (A y - b), and a minimiser
//        solves A^T A y* = A^T b, not A y* = b (unless b is in range(A)).
//   (11) its last term carries a stray factor d(A^+)/dw: it should read
//        (I - A^+ A) dA^T A^+^T A^+ b, not ... A^+^T A^+ (dA^+/dw) b.
//   (12) lacks the minus sign: d(M^-1) = -M^-1 dM M^-1.
//   (13) has the sign of its last term wrong (from (12)) and d(A^T A) wrong:
//        it is dA^T A + A^T dA, not 2 dA^T A (which is not even symmetric).
//        The correct form is (F1) with l2 = 0:
//        dy* = M^-1 A^T db + M^-1 dA^T b - M^-1 (dA^T A + A^T dA) M^-1 A^T b.
//
// Usage:
//   DifferentiableLinearLeastSquares::Options options;
//   options.method = LeastSquaresMethod::MINIMUM_NORM;
//   DifferentiableLinearLeastSquares lstsq(options);
//   Status status = lstsq.Solve(A, b);               // y* = lstsq.solution()
//   Eigen::MatrixXd dy;
//   status = lstsq.Forward(dA, db, &dy);             // forward mode
//   Eigen::MatrixXd dL_dA, dL_db;
//   status = lstsq.Reverse(dL_dy, &dL_dA, &dL_db);   // reverse mode

#ifndef CERES_WIBERG_LINEAR_LEAST_SQUARES_H_
#define CERES_WIBERG_LINEAR_LEAST_SQUARES_H_

#include <string>
#include <vector>

#include "Eigen/Core"
#include "ceres_wiberg/status.h"

namespace ceres_wiberg {

enum class LeastSquaresMethod {
  // Cholesky factorisation (Eigen::LLT) of M = A^T A + l2 I; the "fast" path
  // of tf.linalg.lstsq. Needs A of full column rank or l2 > 0: otherwise Solve
  // returns kSingularHessian with the rank of A. Squares the condition number
  // of A (TensorFlow documents the fast path as stable for
  // cond(A) < 1 / sqrt(epsilon)); about m n^2 + n^3 / 3 flops.
  FULL_RANK_CHOLESKY,
  // Thin SVD of A (Eigen::BDCSVD), any A: the minimum-norm solution A^+ b and
  // the derivative of the pseudo-inverse (Golub and Pereyra 1973); the "slow"
  // path of tf.linalg.lstsq, which, unlike TensorFlow, honours l2 > 0.
  MINIMUM_NORM,
};

const char* LeastSquaresMethodToString(LeastSquaresMethod method);
// Ignores case; false for an unknown name.
bool StringToLeastSquaresMethod(const std::string& name, LeastSquaresMethod* method);

// Solves one problem y* = argmin ||A y - b||^2 + l2 ||y||^2 and differentiates
// y* with respect to A and b (not l2). A value type: copyable and movable.
class DifferentiableLinearLeastSquares {
 public:
  struct Options {
    LeastSquaresMethod method = LeastSquaresMethod::FULL_RANK_CHOLESKY;

    // l2 >= 0 in ||A y - b||^2 + l2 ||y||^2, as tf.linalg.lstsq's
    // l2_regulariser. Held fixed: derivatives are with respect to A and b.
    double l2_regulariser = 0.0;

    // MINIMUM_NORM: a singular value s_i of A counts as zero (A is treated as
    // its truncated SVD) when s_i <= rank_tolerance * s_max. Any negative
    // value (the default) selects min(m, n) * machine epsilon, the default
    // threshold of Eigen's SVDs and rank-revealing QRs, hence of the slow
    // path of tf.linalg.lstsq. Must be < 1. FULL_RANK_CHOLESKY uses it only to
    // report the rank of A when M turns out singular.
    double rank_tolerance = -1.0;

    // FULL_RANK_CHOLESKY: M is declared singular to working precision (and
    // Solve fails with kSingularHessian) when Eigen::LLT fails or the LAPACK
    // style estimate of its reciprocal 1-norm condition number is at most
    // this. Negative (the default): n * machine epsilon, i.e. M's smallest
    // eigenvalue is at the level of the rounding errors made in forming
    // A^T A. In terms of A (l2 = 0) that rejects condition numbers above
    // about 1 / sqrt(n epsilon) (7e6 for n = 100): use MINIMUM_NORM, which
    // works on A itself, for worse-conditioned A.
    double cholesky_rcond_tolerance = -1.0;

    // Threads used by DifferentiableLinearLeastSquaresBatch (one system per
    // task). Ignored by the single-system class.
    int num_threads = 1;

    bool IsValid(std::string* error) const;
  };

  DifferentiableLinearLeastSquares();
  explicit DifferentiableLinearLeastSquares(const Options& options);

  const Options& options() const { return options_; }

  // Solves for y*. A: m x n, b: m x k, m, n, k >= 1, all entries finite.
  // Errors: kInvalidArgument (invalid options, empty or mismatched sizes),
  // kNumericalFailure (NaN/Inf in A or b, or a failed decomposition),
  // kSingularHessian (FULL_RANK_CHOLESKY with M singular: the message gives
  // the numerical rank of A and suggests MINIMUM_NORM or l2 > 0). After an
  // error the object holds no solution.
  Status Solve(const Eigen::MatrixXd& A, const Eigen::MatrixXd& b);

  // True after a successful Solve.
  bool is_solved() const { return solved_; }

  // y*, n x k. Only after a successful Solve.
  const Eigen::MatrixXd& solution() const { return y_; }

  // The numerical rank of A: from the SVD and rank_tolerance on MINIMUM_NORM;
  // n on FULL_RANK_CHOLESKY with l2 = 0 (certified by the condition-number
  // test); -1 (not computed) on FULL_RANK_CHOLESKY with l2 > 0.
  int rank() const { return rank_; }

  int num_rows() const { return static_cast<int>(A_.rows()); }
  int num_cols() const { return static_cast<int>(A_.cols()); }
  int num_rhs() const { return static_cast<int>(b_.cols()); }

  // Forward mode: dy = dy*/d(A, b) [dA, db], n x k, by (F1) or (F2). dA: m x n,
  // db: m x k. On MINIMUM_NORM with l2 = 0 and a rank-deficient A this is the
  // derivative along dA's projection onto the rank-r tangent space (see the
  // file comment). Errors: kInvalidArgument (no solution, wrong sizes),
  // kNumericalFailure (NaN/Inf in dA or db).
  Status Forward(const Eigen::MatrixXd& dA, const Eigen::MatrixXd& db,
                 Eigen::MatrixXd* dy) const;

  // Reverse mode: dL/dA (m x n) and dL/db (m x k) for dL_dy = dL/dy* (n x k),
  // by (R1) or (R2), at the cost of about one Forward. Either output may be
  // null. Errors as Forward.
  Status Reverse(const Eigen::MatrixXd& dL_dy, Eigen::MatrixXd* dL_dA,
                 Eigen::MatrixXd* dL_db) const;

 private:
  // Which formulas and factors Forward/Reverse use.
  enum class Path { kNone, kCholesky, kPseudoInverse, kRegularisedSvd };

  Status SolveCholesky();
  Status SolveSvd();
  Status SingularCholeskyError(double rcond) const;
  // x -> M^-1 x on kCholesky and kRegularisedSvd.
  Eigen::MatrixXd ApplyInverseM(const Eigen::MatrixXd& x) const;
  Status CheckSolved(const char* caller) const;
  void Clear();

  Options options_;
  Path path_ = Path::kNone;
  bool solved_ = false;
  int rank_ = -1;
  Eigen::MatrixXd A_;
  Eigen::MatrixXd b_;
  Eigen::MatrixXd y_;
  Eigen::MatrixXd residual_;  // r = b - A y*.
  // kCholesky: the lower-triangular L of M = L L^T.
  Eigen::MatrixXd cholesky_factor_;
  // kPseudoInverse: the rank-r factors. kRegularisedSvd: all min(m, n).
  Eigen::MatrixXd U_;
  Eigen::VectorXd singular_values_;
  Eigen::MatrixXd V_;
};

// Many independent (typically small) systems with the same options, as the
// batch dimensions of tf.linalg.lstsq: system i is (A[i], b[i]), and sizes
// may differ between systems. With options.num_threads > 1 the systems are
// spread over that many threads. Errors name the first failing system.
class DifferentiableLinearLeastSquaresBatch {
 public:
  explicit DifferentiableLinearLeastSquaresBatch(
      const DifferentiableLinearLeastSquares::Options& options);

  // Solves every system. On error, no system is kept (size() == 0).
  Status Solve(const std::vector<Eigen::MatrixXd>& A,
               const std::vector<Eigen::MatrixXd>& b);

  int size() const { return static_cast<int>(systems_.size()); }
  const DifferentiableLinearLeastSquares& system(int i) const;

  // Forward/Reverse of every system; the vectors are indexed like A and b.
  Status Forward(const std::vector<Eigen::MatrixXd>& dA,
                 const std::vector<Eigen::MatrixXd>& db,
                 std::vector<Eigen::MatrixXd>* dy) const;
  // Either output may be null.
  Status Reverse(const std::vector<Eigen::MatrixXd>& dL_dy,
                 std::vector<Eigen::MatrixXd>* dL_dA,
                 std::vector<Eigen::MatrixXd>* dL_db) const;

 private:
  DifferentiableLinearLeastSquares::Options options_;
  std::vector<DifferentiableLinearLeastSquares> systems_;
};

}  // namespace ceres_wiberg

#endif  // CERES_WIBERG_LINEAR_LEAST_SQUARES_H_
