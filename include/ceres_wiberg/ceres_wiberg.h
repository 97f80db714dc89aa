// ceres_wiberg: learning energy parameters by differentiating Ceres minimisers.
// The umbrella header.

#ifndef CERES_WIBERG_CERES_WIBERG_H_
#define CERES_WIBERG_CERES_WIBERG_H_

#include "ceres_wiberg/atomic_file.h"
#include "ceres_wiberg/bilevel_example.h"
#include "ceres_wiberg/bilevel_problem.h"
#include "ceres_wiberg/bilevel_training_objective.h"
#include "ceres_wiberg/learnable_loss.h"
#include "ceres_wiberg/linear_least_squares.h"
#include "ceres_wiberg/minimiser_derivative.h"
#include "ceres_wiberg/minimiser_derivative_checker.h"
#include "ceres_wiberg/newton_polish.h"
#include "ceres_wiberg/status.h"
#include "ceres_wiberg/stochastic_learner.h"
#include "ceres_wiberg/training_objective.h"
#include "ceres_wiberg/types.h"
#include "ceres_wiberg/wiberg_cost_function.h"

#endif  // CERES_WIBERG_CERES_WIBERG_H_
