// ceres_wiberg internal: the inner Hessian H at a Linearisation's point, and
// the residuals' second derivatives it is built from.
//
// The second derivatives are central differences of Ceres' analytic Jacobians
// along a direction (CurvatureAlong), Richardson-extrapolated from steps h
// and 2h with error control: two pairs of Jacobian evaluations per
// Hessian-vector product (one more per halving of h where the residual bends
// on a scale much smaller than its values), O(h^4) truncation. Steps are per coordinate, so units may differ by orders
// of magnitude inside one block. Assemble probes each residual block
// for structurally zero curvature columns, differences the others and sums
// the blocks into a SymmetricBlockMatrix (the Gauss-Newton part alone for
// HessianModel::GAUSS_NEWTON). A residual block whose (wrapped) cost function
// is a SecondOrderCostFunction is not differenced: its curvature is
// evaluated in closed form and mapped to tangent coordinates as the
// differences are (PlusJacobian^T H PlusJacobian; the manifolds' own
// curvature is added per block by Assemble either way). A residual block
// whose (wrapped) cost function is a LinearCostFunction (declared affine)
// has no residual curvature: nothing is evaluated for it, its local Hessian
// is the first-order part alone.

#ifndef CERES_WIBERG_INTERNAL_EXACT_HESSIAN_H_
#define CERES_WIBERG_INTERNAL_EXACT_HESSIAN_H_

#include <cstdint>
#include <vector>

#include "Eigen/Core"
#include "ceres_wiberg/internal/linearisation.h"
#include "ceres_wiberg/internal/problem_layout.h"
#include "ceres_wiberg/internal/symmetric_block_matrix.h"
#include "ceres_wiberg/status.h"
#include "ceres_wiberg/thread_pool.h"
#include "ceres_wiberg/types.h"

namespace ceres_wiberg {
namespace internal {

// Which rows of a local curvature vector to compute.
enum class CurvatureRows { kInner, kLearnable };

class ExactHessian {
 public:
  using RowMajorMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

  // relative_step:
  // MinimiserDerivative::Options::second_derivative_relative_step.
  // thread_pool (not owned; null: one thread): Assemble computes the
  // residual blocks' local Hessians in parallel, with results identical to
  // one thread's.
  ExactHessian(const ProblemLayout& layout, const Linearisation& linearisation,
               double relative_step, ThreadPool* thread_pool = nullptr);

  // out = d/de [J_local(x + e Delta)^T c] at e = 0 for residual block i, where
  // c = rho' r at the linearisation point, Delta is the ambient image of the
  // local tangent direction `direction` (size num_local) and the Jacobian is
  // projected with the PlusJacobian at the linearisation point. This is the
  // residual curvature sum_k c_k d2r_k along the direction. Central
  // differences with step h = relative_step / max_p (|Delta_p| / s_p), so
  // that each ambient coordinate p moves by at most relative_step times its
  // own scale s_p (CoordinateScale of its value; of the block's |x|_inf for a
  // manifold block), extrapolated from h and 2h (h halved while the
  // O(h^2) term is large, see the definition) unless `extrapolate` is false
  // (then one O(h^2) difference, for probes that only test for exact zeros).
  // `out` has num_local entries; rows other than `rows` are left untouched.
  // For a block with a learnable loss, r, c = m rho' r and J are those of
  // the WRAPPED cost function (Linearisation's exact view): the direction's
  // entries along a and m are ignored and their rows are zero, since r does
  // not depend on them (their mixed derivatives are analytic, see
  // LearnableLossDerivatives). A difference that comes out exactly zero is
  // not extrapolated. When the differenced cost function is a
  // SecondOrderCostFunction, its closed-form ambient curvature times Delta
  // replaces the difference (exact up to round-off); when it is a
  // LinearCostFunction, the wanted rows are zero and nothing is evaluated.
  Status CurvatureAlong(int i, const double* direction, CurvatureRows rows, double* out,
                        bool extrapolate = true) const;

  // H (the model's) at the linearisation's point into `hessian`. Inner
  // coordinates marked in `fixed` (active bounds; n_y entries, or null for
  // none) are not differenced along, so no cost function is evaluated beyond
  // an active bound: their rows and columns hold the Gauss-Newton part only
  // (the solver drops them).
  Status Assemble(HessianModel model, const std::vector<char>* fixed,
                  SymmetricBlockMatrix* hessian);

  // Cost function evaluations made by CurvatureAlong (probes included)
  // since construction: how much was differenced, for tests. Closed-form
  // curvatures (SecondOrderCostFunction) are not differenced: not counted.
  int64_t num_curvature_evaluations() const;

 private:
  // Everything one residual block's local Hessian is computed in: one per
  // thread.
  struct alignas(64) Workspace {
    ResidualScratch scratch;
    // CurvatureAlong's differences at steps h and 2h and their extrapolation.
    Eigen::VectorXd fine, coarse, extrapolated;
    RowMajorMatrix inner_jacobian;  // num_residuals x num_inner_local
    RowMajorMatrix local_hessian;   // num_inner_local x num_inner_local
    RowMajorMatrix curvature;       // num_inner_local x num_inner_local
    Eigen::VectorXd inner_J_T_r;
    Eigen::VectorXd direction;  // num_local
    Eigen::VectorXd column;     // num_local
    std::vector<int> probe_order;
    std::vector<char> block_known;  // per block of the residual: columns differenced
    // A SecondOrderCostFunction's ambient curvature (ClosedFormCurvature)
    // and its weights c = rho' r.
    RowMajorMatrix ambient_curvature;
    Eigen::VectorXd curvature_weights;
    int64_t num_curvature_evaluations = 0;
  };

  Status CurvatureAlong(Workspace* workspace, int i, const double* direction,
                        CurvatureRows rows, double* out, bool extrapolate) const;
  // H of residual block i over its inner local columns into
  // workspace->local_hessian.
  Status InnerLocalHessian(Workspace* workspace, int i, bool exact) const;
  // The closed-form curvature sum_k c_k d2r_k/dp2 (c = rho' r) of residual
  // block i, whose differenced cost function is a SecondOrderCostFunction,
  // over its differenced blocks' ambient coordinates into
  // workspace->ambient_curvature (at the blocks' current values).
  Status ClosedFormCurvature(Workspace* workspace, int i) const;
  // CurvatureAlong's closed form: the ambient curvature times the ambient
  // direction in workspace->scratch (its blocks that are not fixed) into
  // *out.
  Status ClosedFormCurvatureAlong(Workspace* workspace, int i, Eigen::VectorXd* out) const;
  // Zeroes the rows and columns of workspace->curvature of the inner
  // coordinates fixed by the current Assemble (active bounds).
  void ZeroFixedCoordinates(Workspace* workspace, int i) const;
  // max(|x|, sqrt(eps) / relative_step): a coordinate's own scale, with
  // Ceres' NumericDiff minimum step for values at or near zero.
  double CoordinateScale(double x) const;
  // The residual curvature of residual block i over its inner local columns
  // into workspace->curvature (see the definition for the probes).
  Status InnerCurvature(Workspace* workspace, int i) const;

  const ProblemLayout& layout_;
  const Linearisation& linearisation_;
  const double relative_step_;
  ThreadPool* const thread_pool_;
  const std::vector<char>* fixed_ = nullptr;  // of the current Assemble
  // The calling thread's workspace (CurvatureAlong, one-thread Assemble).
  mutable Workspace main_;
  // Assemble's per-thread workspaces and one batch of local Hessians.
  std::vector<Workspace> workspaces_;
  std::vector<RowMajorMatrix> batch_hessians_;
  std::vector<double> manifold_curvature_;
};

}  // namespace internal
}  // namespace ceres_wiberg

#endif  // CERES_WIBERG_INTERNAL_EXACT_HESSIAN_H_
