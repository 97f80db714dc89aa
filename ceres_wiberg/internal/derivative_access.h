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
// triangles) that
// the last successful Linearise factorised (with lambda D added), and the
// coordinates it held fixed at active bounds (n_y entries, 1 for fixed; their
// rows and columns of H are not meaningful). kInvalidArgument if Linearise
// has not succeeded or the problem's values changed since.
Status LinearisedHessian(const MinimiserDerivative& derivative, Eigen::SparseMatrix<double>* H,
                         std::vector<char>* fixed);

}  // namespace internal
}  // namespace ceres_wiberg

#endif  // CERES_WIBERG_INTERNAL_DERIVATIVE_ACCESS_H_
