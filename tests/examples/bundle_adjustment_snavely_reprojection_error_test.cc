// The Snavely reprojection error's autodiff Jacobian against central
// differences with per-coordinate steps (each coordinate moved by 1e-6 of its
// own magnitude, so a focal length of 800 and a distortion of 1e-3 each get a
// step of their own size), Richardson-extrapolated.

#include "snavely_reprojection_error.h"

#include <cmath>
#include <memory>

#include "gtest/gtest.h"

namespace bundle_adjustment {
namespace {

TEST(SnavelyReprojectionError, JacobianMatchesPerCoordinateCentralDifferences) {
  double camera[9] = {0.11, -0.07, 0.05, 0.3, -0.2, -9.5, 812.0, -1.3e-2, 2.1e-3};
  double point[3] = {0.8, -0.6, 1.1};
  std::unique_ptr<ceres::CostFunction> cost(SnavelyReprojectionError::Create(-35.0, 12.0));
  double residuals[2];
  double J_r_camera[2 * 9], J_r_point[2 * 3];
  double* jacobians[2] = {J_r_camera, J_r_point};
  const double* parameters[2] = {camera, point};
  ASSERT_TRUE(cost->Evaluate(parameters, residuals, jacobians));

  double* blocks[2] = {camera, point};
  const int sizes[2] = {9, 3};
  for (int b = 0; b < 2; ++b) {
    for (int j = 0; j < sizes[b]; ++j) {
      const double x = blocks[b][j];
      // Central difference at step h: error O(h^2); Richardson of h and 2h
      // leaves O(h^4) plus round-off ~1e-16 |r| / h.
      auto difference = [&](double h) {
        double plus[2], minus[2];
        blocks[b][j] = x + h;
        EXPECT_TRUE(cost->Evaluate(parameters, plus, nullptr));
        blocks[b][j] = x - h;
        EXPECT_TRUE(cost->Evaluate(parameters, minus, nullptr));
        blocks[b][j] = x;
        return Eigen::Vector2d((plus[0] - minus[0]) / (2 * h), (plus[1] - minus[1]) / (2 * h));
      };
      const double h = 1e-4 * std::abs(x);
      const Eigen::Vector2d numeric = (4.0 * difference(h) - difference(2 * h)) / 3.0;
      const double* J = b == 0 ? J_r_camera : J_r_point;
      for (int i = 0; i < 2; ++i) {
        const double analytic = J[i * sizes[b] + j];
        // Relative to the row's scale |r_i|/|x_j| as well, for entries near zero.
        const double scale = std::max(std::abs(numeric[i]), 1e-3 * std::abs(residuals[i]) /
                                                                std::abs(x));
        EXPECT_NEAR(analytic, numeric[i], 1e-8 * scale)
            << "block " << b << " coordinate " << j << " residual " << i;
      }
    }
  }
}

}  // namespace
}  // namespace bundle_adjustment
