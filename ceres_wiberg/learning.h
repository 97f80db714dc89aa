// ceres_wiberg: learning energy parameters by differentiating Ceres minimisers.
// The umbrella header of the learning target, ceres_wiberg::learning: the
// stochastic learner, the training objectives it minimises, and the
// interface through which it runs on several processes (ceres_wiberg::mpi).

#ifndef CERES_WIBERG_LEARNING_H_
#define CERES_WIBERG_LEARNING_H_

#include "ceres_wiberg/bilevel_training_objective.h"
#include "ceres_wiberg/ceres_wiberg.h"
#include "ceres_wiberg/learner_communicator.h"
#include "ceres_wiberg/stochastic_learner.h"
#include "ceres_wiberg/training_objective.h"

#endif  // CERES_WIBERG_LEARNING_H_
