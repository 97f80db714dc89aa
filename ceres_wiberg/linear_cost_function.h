// Cost functions declared affine in their parameters.
//
// The exact Hessian H and the mixed G of MinimiserDerivative contain the
// residuals' curvature sum_k c_k d2r_k/dp2 (see second_order_cost_function.h).
// For residuals that are affine in all their parameters (r = A p + b with A
// and b independent of p: offsets x_i - t, filter responses, linear
// combinations of coordinates) it is zero everywhere. The library cannot
// know that from evaluations at one point: by default it probes each
// residual block (one Jacobian difference per Hessian, see ExactHessian).
// LinearCostFunction wraps any ceres::CostFunction and DECLARES it affine:
// the declaration is a structural fact of the problem, so the library makes
// no second-derivative evaluation for such a block at all (no probe, no
// difference, no closed form), for H, for G and for their products.
//
// The declaration is the user's: nothing checks it at run time. A cost
// function whose Jacobian does depend on its parameters gives a wrong H and
// a wrong derivative (MinimiserDerivativeChecker shows it). Wrapped in a
// LearnableLossCostFunction, it is the wrapped r that must be affine (the
// loss is differentiated analytically, as always).
//
// Ceres' own solvers see an ordinary CostFunction: Evaluate is the wrapped
// one's.
//
// Usage:
//   problem.AddResidualBlock(
//       new LinearCostFunction(new ceres::AutoDiffCostFunction<Offset, 1, 1>(...)),
//       nullptr, &t);

#ifndef CERES_WIBERG_LINEAR_COST_FUNCTION_H_
#define CERES_WIBERG_LINEAR_COST_FUNCTION_H_

#include <memory>

#include "ceres/cost_function.h"
#include "ceres/types.h"
#include "ceres_wiberg/second_order_cost_function.h"

namespace ceres_wiberg {

// A SecondOrderCostFunction whose curvature is zero everywhere (declared,
// see the file comment).
class LinearCostFunction final : public SecondOrderCostFunction {
 public:
  // cost_function must not be null; deleted with this one unless
  // DO_NOT_TAKE_OWNERSHIP (as Ceres' wrappers).
  explicit LinearCostFunction(ceres::CostFunction* cost_function,
                              ceres::Ownership ownership = ceres::TAKE_OWNERSHIP);
  ~LinearCostFunction() override;

  bool Evaluate(double const* const* parameters, double* residuals,
                double** jacobians) const override {
    return cost_function_->Evaluate(parameters, residuals, jacobians);
  }
  // Zero (N x N, N the sum of the parameter block sizes); always true.
  bool EvaluateCurvature(double const* const* parameters, const double* weights,
                         double* hessian) const override;

  const ceres::CostFunction& wrapped_cost_function() const { return *cost_function_; }

 private:
  std::unique_ptr<ceres::CostFunction> cost_function_;
  const ceres::Ownership ownership_;
};

}  // namespace ceres_wiberg

#endif  // CERES_WIBERG_LINEAR_COST_FUNCTION_H_
