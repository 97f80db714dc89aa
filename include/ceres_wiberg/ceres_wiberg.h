// ceres_wiberg: learning energy parameters by differentiating Ceres minimisers.
// The umbrella header.

#ifndef CERES_WIBERG_CERES_WIBERG_H_
#define CERES_WIBERG_CERES_WIBERG_H_

#include "ceres_wiberg/bilevel_problem.h"
#include "ceres_wiberg/minimiser_derivative.h"
#include "ceres_wiberg/minimiser_derivative_checker.h"
#include "ceres_wiberg/status.h"
#include "ceres_wiberg/types.h"

#endif  // CERES_WIBERG_CERES_WIBERG_H_
