// ceres_wiberg internal: what MinimiserDerivativeChecker reads of a
// linearised MinimiserDerivative beyond its public interface.

#ifndef CERES_WIBERG_INTERNAL_DERIVATIVE_ACCESS_H_
#define CERES_WIBERG_INTERNAL_DERIVATIVE_ACCESS_H_

#include <vector>

#include "Eigen/Core"
#include "Eigen/SparseCore"
#include "ceres_wiberg/minimiser_derivative.h"
#include "ceres_wiberg/status.h"

namespace ceres_wiberg {
namespace internal {

// The Hessian model's H (n_y x n_y sparse, tangent coordinates, both
// triangles) that the last successful Linearise factorised (without the
// lambda D added; the solver's kept copy), and the coordinates it held fixed
// at active bounds (n_y entries, 1 for fixed; their rows and columns of H
// are zero). kInvalidArgument if Linearise
// has not succeeded or the problem's values changed since.
Status LinearisedHessian(const MinimiserDerivative& derivative, Eigen::SparseMatrix<double>* H,
                         std::vector<char>* fixed);

class InnerNewton;

// An inner Newton solve that hands its work to the derivative (BilevelExample
// with InnerSolverType::NEWTON): the descent runs on the InnerNewton of the
// derivative's engine (its descent solver, UseDescentDamping), so that the
// evaluation and H at the point where it stops are the derivative's own.
class SharedInnerSolve {
 public:
  // The InnerNewton of `derivative`'s engine for `problem` (built if
  // needed). Valid until the next Linearise of `derivative` fails or moves
  // to another problem: fetch it again for each solve. The derivative's
  // hessian_model must be EXACT (the descent needs the exact H).
  static InnerNewton* Newton(MinimiserDerivative* derivative, BilevelProblem* problem);
  // MinimiserDerivative::Linearise, except that the InnerNewton's last
  // evaluation (and its H, when built) is used where it was made at exactly
  // the problem's current inner and learnable values. Only right after a
  // descent on Newton(derivative, problem) in the same call: a cost
  // function's data changed in place since that evaluation would not be
  // seen. The result is bit-identical to Linearise's.
  static Status Linearise(MinimiserDerivative* derivative, BilevelProblem* problem,
                          MinimiserDerivative::Summary* summary);
};

}  // namespace internal
}  // namespace ceres_wiberg

#endif  // CERES_WIBERG_INTERNAL_DERIVATIVE_ACCESS_H_
