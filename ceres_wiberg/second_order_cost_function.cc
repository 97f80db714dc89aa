// SecondOrderCostFunction is an interface and AutoDiffSecondOrderCostFunction
// a template: everything is in the header. This file checks that the header
// compiles on its own and instantiates the scalar type once.

#include "ceres_wiberg/second_order_cost_function.h"

namespace ceres_wiberg {

template struct second_order_jet::SecondOrderJet<1>;

}  // namespace ceres_wiberg
