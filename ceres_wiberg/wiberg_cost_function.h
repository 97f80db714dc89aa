// ceres_wiberg: learning energy parameters by differentiating Ceres minimisers.
//
// WibergCostFunction: Ceres as the outer solver. A ceres::CostFunction over the
// learnable blocks of one BilevelExample: Evaluate solves the example's inner
// problem at the candidate w (warm-started) and returns the outer residuals
// r(y*(w), w) with their Jacobian dr/dw through dy*/dw. Build an outer
// ceres::Problem from one WibergCostFunction per training example, all on the
// same outer parameter blocks, and call ceres::Solve: the outer trust region
// is then Ceres' Levenberg-Marquardt (Wiberg's algorithm).
//
//   ceres::Problem outer;
//   for (auto& example : examples)
//     outer.AddResidualBlock(new WibergCostFunction(example.get()), nullptr, w_blocks);
//
// The outer parameter blocks must be separate storage from every example's
// learnable blocks: Evaluate copies the candidate w into the example's blocks.
// Thread-safe under the outer solver's num_threads as long as the examples
// have separate inner problems (each example serialises its own calls).
//
// A failed inner solve or derivative makes Evaluate return false (Ceres then
// shrinks its trust region); the reason is kept in last_status().

#ifndef CERES_WIBERG_WIBERG_COST_FUNCTION_H_
#define CERES_WIBERG_WIBERG_COST_FUNCTION_H_

#include <mutex>

#include "ceres/cost_function.h"
#include "ceres_wiberg/bilevel_example.h"
#include "ceres_wiberg/status.h"

namespace ceres_wiberg {

class WibergCostFunction : public ceres::CostFunction {
 public:
  // Borrows `example`, which must outlive this cost function.
  explicit WibergCostFunction(BilevelExample* example);

  bool Evaluate(double const* const* parameters, double* residuals,
                double** jacobians) const override;

  // The status of the last Evaluate.
  Status last_status() const;

 private:
  BilevelExample* example_;
  mutable std::mutex status_mutex_;
  mutable Status last_status_;
};

}  // namespace ceres_wiberg

#endif  // CERES_WIBERG_WIBERG_COST_FUNCTION_H_
