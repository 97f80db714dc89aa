// ceres_wiberg: learning energy parameters by differentiating Ceres minimisers.
//
// MinimiserDerivative: the derivative of the inner minimiser y*(w) of a
// BilevelProblem with respect to the learnable parameters w.
//
// With g = dE/dy, H = d2E/dy2 and G = dg/dw (n_y x n_w) at y*:
//
//   dy*/dw = -(H + lambda D)^-1 G                      (paper eq. 7)
//
// lambda = 0 is the implicit-function-theorem derivative (paper eq. 6), which
// needs H positive definite; lambda > 0 is the trust-region ("Wibergian")
// derivative, bounded by ||G|| / lambda when D = I. It is exactly the
// derivative, with respect to w, of one damped Newton step taken from the
// fixed y*: N(w) = y* - (H + lambda D)^-1 g(y*, w). G is always the exact
// dg/dw; the HessianModel only chooses H.
//
// Usage:
//   MinimiserDerivative derivative(options);
//   Status status = derivative.Linearise(&bilevel_problem, &summary);
//   Eigen::MatrixXd J_y_w;                         // forward mode
//   status = derivative.Jacobian(&J_y_w);
//   Eigen::VectorXd J_y_w_T_u;                     // reverse mode
//   status = derivative.VectorJacobianProduct(u, &J_y_w_T_u);
//
// Linearise evaluates H at the current values of the problem (which should be
// a minimiser: call BilevelProblem::SolveInner first) and factorises
// H + lambda D once; Jacobian and VectorJacobianProduct reuse it. They refuse
// (kInvalidArgument) if the problem's values changed since Linearise.
//
// Bounds. Inner blocks may carry Ceres bounds (Problem::SetParameterLowerBound
// / UpperBound; a block with both a manifold and bounds is refused by
// BilevelProblem::Create). y* is then the minimiser over the box, and a
// coordinate held at an ACTIVE bound does not move with w: its rows of dy*/dw
// are zero and it leaves the system, so dy*/dw = -(H_FF + lambda D_FF)^-1 G_F
// on the free coordinates F (H, D and G restricted to them; the eigenvalues,
// classification and condition number are those of the free system). Active
// means at the bound (within bound_tolerance, relative to the bound's value)
// with the gradient not pointing into the box, i.e. a KKT multiplier >= 0; a
// zero multiplier (degenerate: y* is only one-sidedly differentiable there)
// is treated as active, and Summary::min_active_bound_multiplier shows it.
// The exact rule is FindActiveBounds in internal/problem_layout.h. The final
// Newton step keeps the active coordinates and projects the others onto the
// bounds. Learnable blocks are held constant in the inner problem, so bounds
// or a manifold on them there are refused (see bilevel_problem.h).
//
// Thread safety: one MinimiserDerivative is used by one thread at a time (its
// evaluation buffers are reused between calls, const ones included); use one
// object per thread or per example (as BilevelExample does).

#ifndef CERES_WIBERG_MINIMISER_DERIVATIVE_H_
#define CERES_WIBERG_MINIMISER_DERIVATIVE_H_

#include <memory>
#include <string>
#include <vector>

#include "Eigen/Core"
#include "Eigen/SparseCore"
#include "ceres_wiberg/bilevel_problem.h"
#include "ceres_wiberg/status.h"
#include "ceres_wiberg/types.h"

namespace ceres_wiberg {

class MinimiserDerivative;

namespace internal {
class DerivativeEngine;
// For MinimiserDerivativeChecker (internal/derivative_access.h): the H of the
// last successful Linearise.
Status LinearisedHessian(const MinimiserDerivative& derivative, Eigen::SparseMatrix<double>* H,
                         std::vector<char>* fixed);
// For BilevelExample's NEWTON inner solve (internal/derivative_access.h).
class SharedInnerSolve;
}  // namespace internal

class MinimiserDerivative {
 public:
  struct Options {
    // Trust-region damping. 0 gives the implicit derivative; the paper uses
    // 0.1 untuned.
    double lambda = 0.1;

    // D in H + lambda D.
    DampingType damping = DampingType::IDENTITY;

    // The model of H. EXACT is the derivative of the true minimiser; use
    // GAUSS_NEWTON for the derivative of a damped Gauss-Newton (Ceres LM)
    // step, which is cheaper and always positive semi-definite.
    HessianModel hessian_model = HessianModel::EXACT;

    // Take one damped Newton step y <- y - (H + lambda D)^-1 g before
    // differentiating, writing it back into the problem. Needed when the inner
    // solve stops short of the fixed point (loose tolerances, L-BFGS). With
    // bounds: on the free coordinates, projected onto the bounds. Not taken
    // where g is already at its own rounding level (every free |g_j| within
    // 64 eps of sum_i |rho'_i| (|J_i|^T |r_i|)_j, the magnitudes of the terms
    // summed into it): y is then a fixed point to working precision and the
    // step would move it by rounding noise only (Summary says whether it
    // was taken). Likewise, a step below half an ulp of every coordinate
    // leaves y, H and the factorisation as they are.
    bool final_newton_step = false;

    // A bounded coordinate y_i is at its bound b when |y_i - b| <=
    // bound_tolerance * max(|b|, |y_i|) (relative to the bound's own scale,
    // so units do not matter; a bound at 0 needs y_i = 0 exactly, which
    // Ceres' and the final Newton step's projections produce). See "Bounds"
    // above for when it is active. In [0, 1).
    double bound_tolerance = 1e-10;

    // AUTOMATIC: DENSE for up to max_dense_size inner variables; beyond,
    // SPARSE_SCHUR where the inner blocks it eliminates (small blocks that
    // share no residual block, e.g. bundle adjustment's points) hold at
    // least three quarters of the free coordinates, else SPARSE.
    // Summary::linear_solver_type says which ran.
    LinearSolverType linear_solver_type = LinearSolverType::AUTOMATIC;
    int max_dense_size = 1000;

    // The sparse factorisation (SPARSE): CHOLMOD's supernodal LL^T, or
    // Eigen's simplicial LDL^T. Both classify H + lambda D alike (positive
    // definite, singular, indefinite) and give the same derivative to
    // round-off.
    SparseLinearAlgebraLibraryType sparse_linear_algebra_library_type =
        SparseLinearAlgebraLibraryType::SUITE_SPARSE;

    // Relative step of the central differences of the analytic Jacobians
    // that give the residuals' second derivatives. Steps are per coordinate:
    // a direction's step moves each coordinate x_p by at most
    // step * max(|x_p|, sqrt(eps) / step) (a manifold block's coordinates by
    // step * its |x|_inf), so blocks mixing units (a focal length of 1e3
    // beside a distortion of 1e-3) are differenced on each coordinate's own
    // scale. Differences at h and 2h are Richardson-extrapolated (O(h^4)
    // truncation, round-off about eps / step = 1e-12 relative), and h is
    // halved (up to 4 times) while their O(h^2) term exceeds 1e-5 of the
    // result, for residuals that bend on a scale much smaller than their
    // values (grey levels of 255 under experts of width 1.4). Inner blocks of
    // 3 or more coordinates are first differenced along one probe direction;
    // when the residual block's Jacobian rows of the blocks not yet
    // differenced do not move at all (the residual is linear in the block and
    // the block does not move their Jacobians, e.g. a translation or linear
    // coefficients), the block's columns are not differenced: those entries
    // are zero or known by symmetry.
    // In (0, 1).
    double second_derivative_relative_step = 1e-4;

    // Threads that evaluate the residual blocks (Jacobians, loss
    // derivatives, second derivatives) when Linearise builds H, the calling
    // thread included. Results are bit-identical for any number: each
    // residual block's terms are computed on their own and summed in
    // residual order. The cost functions must then be thread-safe, as for
    // Ceres' Solver::Options::num_threads. At least 1.
    int num_threads = 1;

    // The classification of A = H + lambda D, on its Jacobi-scaled form
    // S A S (see Summary): singular when its smallest eigenvalue lies within
    // +- singular_tolerance times its largest, indefinite below. The band
    // covers the second derivatives' own error (about 1e-10 relative, see
    // second_derivative_relative_step), so that a null direction (a gauge)
    // whose computed eigenvalue is -1e-10 relative is singular, not
    // indefinite; a derivative with a scaled condition number beyond 1e8
    // would carry no reliable digit anyway.
    double singular_tolerance = 1e-8;

    // Eigenvalue diagnostics. Up to max_exact_eigenvalue_size inner variables
    // (dense only) the extreme eigenvalues of H + lambda D are computed
    // exactly; beyond, they are estimated with this many power and inverse
    // iterations (0: only the factorisation's pivots are reported; at most
    // kMaxEigenvalueIterations).
    int max_exact_eigenvalue_size = 200;
    int eigenvalue_iterations = 10;
    static constexpr int kMaxEigenvalueIterations = 10000;

    bool IsValid(std::string* error) const;
  };

  // Diagnostics of one Linearise call.
  struct Summary {
    int num_inner_parameters = 0;
    int num_learnable_parameters = 0;
    int num_residual_blocks = 0;
    double lambda = 0.0;
    DampingType damping = DampingType::IDENTITY;
    HessianModel hessian_model = HessianModel::EXACT;
    // The linear solver that factorised H + lambda D: DENSE, SPARSE or
    // SPARSE_SCHUR (the options' AUTOMATIC resolved; SPARSE where the Schur
    // route found a block or R not positive definite and the full
    // factorisation classified H + lambda D), and the inner coordinates the
    // Schur elimination eliminated (0 unless SPARSE_SCHUR).
    LinearSolverType linear_solver_type = LinearSolverType::AUTOMATIC;
    int num_eliminated_parameters = 0;
    SparseLinearAlgebraLibraryType sparse_linear_algebra_library_type =
        SparseLinearAlgebraLibraryType::SUITE_SPARSE;

    // Coordinates at an active bound (fixed: zero rows of dy*/dw), and the
    // smallest of their KKT multipliers |g_i| (0 if none; near zero relative
    // to the gradient's scale means a degenerate bound, see "Bounds").
    int num_active_bounds = 0;
    double min_active_bound_multiplier = 0.0;

    // max |g_i| and ||g||_2 over the free coordinates (the active bounds'
    // multipliers left out) at the point that was differentiated. With
    // final_newton_step, the *_before_newton_step values are those at the
    // inner solve's solution, and newton_step_norm is ||step||_2.
    double gradient_max_norm = 0.0;
    double gradient_norm = 0.0;
    double gradient_max_norm_before_newton_step = 0.0;
    double newton_step_norm = 0.0;
    // With final_newton_step: false where g was at its rounding level (see
    // Options::final_newton_step), so no step was taken.
    bool final_newton_step_taken = false;

    // Extreme eigenvalues of A = H + lambda D (exact or estimated, see
    // Options), and of its Jacobi-scaled form S A S, S = diag(|A_ii|)^-1/2
    // (as Ceres scales its LM system), whose ratio is the condition number:
    // unlike A's, it does not depend on the parameters' units. For SPARSE
    // without iterations: the ranges of the LDL^T pivots, which lie inside
    // the eigenvalue ranges.
    double min_eigenvalue = 0.0;
    double max_eigenvalue = 0.0;
    double scaled_min_eigenvalue = 0.0;
    double scaled_max_eigenvalue = 0.0;
    double condition_number = 0.0;
    bool eigenvalues_are_estimates = false;

    // Wall times of this Linearise, summed over its points (two with
    // final_newton_step): residuals and Jacobians (evaluation), building H
    // (its second derivatives and assembly), and factorising H + lambda D,
    // of which the sparse symbolic analysis (done once per sparsity pattern
    // and kept by later Linearise calls of this object).
    double evaluation_time_in_seconds = 0.0;
    double hessian_time_in_seconds = 0.0;
    double factorisation_time_in_seconds = 0.0;
    double symbolic_analysis_time_in_seconds = 0.0;

    // One line: sizes, model, gradient norm, eigenvalue range.
    std::string BriefReport() const;
    std::string FullReport() const;
  };

  explicit MinimiserDerivative(const Options& options);
  ~MinimiserDerivative();
  MinimiserDerivative(const MinimiserDerivative&) = delete;
  MinimiserDerivative& operator=(const MinimiserDerivative&) = delete;

  const Options& options() const { return options_; }

  // Evaluates H at the problem's current values and factorises H + lambda D.
  // Errors: invalid options; NaN/Inf residuals or Jacobians (naming the
  // residual and parameter block); a singular or indefinite H + lambda D
  // (kSingularHessian / kIndefiniteHessian, suggesting lambda > 0).
  // `summary` may be null.
  Status Linearise(BilevelProblem* problem, Summary* summary);

  // Forward mode: J_y_w = dy*/dw, n_y x n_w, one solve with n_w right-hand
  // sides.
  Status Jacobian(Eigen::MatrixXd* J_y_w) const;

  // Reverse mode: J_y_w_T_u = (dy*/dw)^T u for u of size n_y: one solve and one
  // mixed second derivative along the solution, whatever n_w is.
  Status VectorJacobianProduct(const Eigen::VectorXd& u,
                               Eigen::VectorXd* J_y_w_T_u) const;

  // Solves (H + lambda D) x = b with the factorisation (n_y rows, any number
  // of columns).
  Status SolveDampedSystem(const Eigen::MatrixXd& b, Eigen::MatrixXd* x) const;

  // The inner gradient g = dE/dy (tangent) at the linearised y* and the
  // *current* learnable values. Used by MinimiserDerivativeChecker.
  Status InnerGradient(Eigen::VectorXd* gradient) const;

 private:
  friend Status internal::LinearisedHessian(const MinimiserDerivative& derivative,
                                            Eigen::SparseMatrix<double>* H,
                                            std::vector<char>* fixed);
  friend class internal::SharedInnerSolve;

  // Builds the engine for `problem` unless it has it.
  void EnsureEngine(BilevelProblem* problem);
  Status Linearise(BilevelProblem* problem, Summary* summary, bool reuse_evaluation);

  Options options_;
  std::unique_ptr<internal::DerivativeEngine> engine_;
};

}  // namespace ceres_wiberg

#endif  // CERES_WIBERG_MINIMISER_DERIVATIVE_H_
