// ceres_wiberg: learning energy parameters by differentiating Ceres minimisers.
// The umbrella header of the core target, ceres_wiberg::ceres_wiberg (Ceres
// and Eigen only). The stochastic learner is in ceres_wiberg/learning.h.

#ifndef CERES_WIBERG_CERES_WIBERG_H_
#define CERES_WIBERG_CERES_WIBERG_H_

#include "ceres_wiberg/bilevel_example.h"
#include "ceres_wiberg/bilevel_problem.h"
#include "ceres_wiberg/enum_names.h"
#include "ceres_wiberg/file.h"
#include "ceres_wiberg/learnable_loss.h"
#include "ceres_wiberg/linear_cost_function.h"
#include "ceres_wiberg/linear_least_squares.h"
#include "ceres_wiberg/minimiser_derivative.h"
#include "ceres_wiberg/minimiser_derivative_checker.h"
#include "ceres_wiberg/newton_polish.h"
#include "ceres_wiberg/second_order_cost_function.h"
#include "ceres_wiberg/status.h"
#include "ceres_wiberg/thread_pool.h"
#include "ceres_wiberg/types.h"
#include "ceres_wiberg/wiberg_cost_function.h"

#endif  // CERES_WIBERG_CERES_WIBERG_H_
