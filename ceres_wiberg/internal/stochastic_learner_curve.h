// ceres_wiberg: learning energy parameters by differentiating Ceres minimisers.
//
// The StochasticLearner's training curve as CSV: a header line and one row
// per iteration, doubles in %.17g so that the text round-trips exactly.

#ifndef CERES_WIBERG_INTERNAL_STOCHASTIC_LEARNER_CURVE_H_
#define CERES_WIBERG_INTERNAL_STOCHASTIC_LEARNER_CURVE_H_

#include <string>
#include <vector>

#include "ceres_wiberg/internal/stochastic_learner_state.h"

namespace ceres_wiberg {
namespace internal {

// iteration, epoch, loss, gradient_norm, step_norm, learning_rate, then w_0 ..
// w_{num_w_columns - 1}.
std::vector<std::string> CurveColumns(int num_w_columns);

// The whole CSV text, header included.
std::string CurveToCsv(const std::vector<CurveRow>& rows, int num_w_columns);

}  // namespace internal
}  // namespace ceres_wiberg

#endif  // CERES_WIBERG_INTERNAL_STOCHASTIC_LEARNER_CURVE_H_
