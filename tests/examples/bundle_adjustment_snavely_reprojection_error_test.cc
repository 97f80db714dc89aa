// The Snavely reprojection error's autodiff Jacobian against central
// differences with per-coordinate steps (each coordinate moved by 1e-6 of its
// own magnitude, so a focal length of 800 and a distortion of 1e-3 each get a
// step of their own size), Richardson-extrapolated. Its hand-derived
// curvature (SnavelyCurvature) against AutoDiffSecondOrderCostFunction
// (SecondOrderJet through Ceres' AngleAxisRotatePoint: different code) and
// against central differences of the autodiff Jacobian's J^T c (a different
// quantity), rotations from 0 to 3 rad, the series/closed-form switch at
// 2 rad on both sides.

#include "snavely_reprojection_error.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <vector>

#include "gtest/gtest.h"

namespace bundle_adjustment {
namespace {

TEST(SnavelyReprojectionError, JacobianMatchesPerCoordinateCentralDifferences) {
  double camera[9] = {0.11, -0.07, 0.05, 0.3, -0.2, -9.5, 812.0, -1.3e-2, 2.1e-3};
  double point[3] = {0.8, -0.6, 1.1};
  std::unique_ptr<ceres::CostFunction> cost(SnavelyReprojectionError::Create(-35.0, 12.0, ReprojectionCurvature::DIFFERENCED));
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

// Cameras spanning the rotation angles (the series below 2 rad, the closed
// forms above; 1.999 and 2.001 on either side of the switch) and scales
// (focal 1 to 3000, distortions 1e-7 to 0.3, points near and far).
struct Case {
  double camera[9];
  double point[3];
  double observed[2];
};

std::vector<Case> Cases() {
  std::vector<Case> cases;
  const double axis[3] = {0.48, -0.6, 0.64};  // unit
  const double angles[] = {1e-3, 0.11, 0.7, 1.3, 1.999, 2.001, 2.6, 3.0};
  int n = 0;
  for (double angle : angles) {
    Case c;
    for (int i = 0; i < 3; ++i) c.camera[i] = angle * axis[i];
    const double focal = n % 3 == 0 ? 812.0 : (n % 3 == 1 ? 3.1e3 : 1.3);
    const double k1 = n % 2 == 0 ? -1.3e-2 : 0.3;
    const double k2 = n % 2 == 0 ? 2.1e-3 : -1e-7;
    const double camera[9] = {c.camera[0], c.camera[1], c.camera[2], 0.3, -0.2, -9.5 - n,
                              focal, k1, k2};
    std::copy(camera, camera + 9, c.camera);
    const double scale = n % 2 == 0 ? 1.0 : 40.0;
    c.point[0] = 0.8 * scale;
    c.point[1] = -0.6 * scale;
    c.point[2] = 1.1 * scale;
    c.observed[0] = -35.0 + n;
    c.observed[1] = 12.0 - 2 * n;
    cases.push_back(c);
    ++n;
  }
  return cases;
}

using Matrix12 = Eigen::Matrix<double, 12, 12, Eigen::RowMajor>;

std::unique_ptr<ceres::CostFunction> CostOf(const Case& c, ReprojectionCurvature curvature) {
  return std::unique_ptr<ceres::CostFunction>(
      SnavelyReprojectionError::Create(c.observed[0], c.observed[1], curvature));
}

// The curvature of c's cost function (HAND_DERIVED or AUTODIFF).
Matrix12 Curvature(ReprojectionCurvature curvature, Case* c, const double weights[2]) {
  const std::unique_ptr<ceres::CostFunction> cost = CostOf(*c, curvature);
  const auto& second_order = dynamic_cast<const ceres_wiberg::SecondOrderCostFunction&>(*cost);
  const double* parameters[2] = {c->camera, c->point};
  Matrix12 H;
  EXPECT_TRUE(second_order.EvaluateCurvature(parameters, weights, H.data()));
  return H;
}

// Entry (i, j)'s scale: sqrt(max_k |H_ik| max_k |H_jk|), the size of its row
// and column (entries differ by orders of magnitude across f, k2, X).
double EntryScale(const Matrix12& H, int i, int j) {
  return std::sqrt(H.row(i).cwiseAbs().maxCoeff() * H.row(j).cwiseAbs().maxCoeff());
}

TEST(SnavelyCurvature, MatchesAutoDiffSecondOrder) {
  const double weights[2] = {0.7, -1.9};
  for (Case c : Cases()) {
    const Matrix12 H = Curvature(ReprojectionCurvature::HAND_DERIVED, &c, weights);
    const Matrix12 H_autodiff = Curvature(ReprojectionCurvature::AUTODIFF, &c, weights);
    EXPECT_TRUE(H.isApprox(H.transpose(), 0.0));  // exactly symmetric
    const double angle = Eigen::Map<const Eigen::Vector3d>(c.camera).norm();
    // The reference's own round-off: Ceres' formula divides by theta and
    // forms 1 - cos(theta), whose relative error eps / theta^2 its second
    // derivatives carry (1e-10 at 1e-3 rad; SnavelyCurvature's series do
    // not cancel).
    const double tolerance =
        1e-13 + std::numeric_limits<double>::epsilon() / (angle * angle);
    for (int i = 0; i < 12; ++i) {
      for (int j = 0; j < 12; ++j) {
        EXPECT_NEAR(H(i, j), H_autodiff(i, j), tolerance * EntryScale(H_autodiff, i, j))
            << "angle " << angle << " entry (" << i << ", " << j << ")";
      }
    }
  }
}

// c^T r's gradient J^T c from the autodiff Jacobian, differenced along each
// of the 12 coordinates with a step relative to the coordinate's magnitude
// (a rotation coordinate: to the point's, 1e-3 rad at most), Richardson-
// extrapolated: O(h^4) truncation plus round-off ~1e-16 |J^T c| / h.
Matrix12 DifferencedCurvature(const ceres::CostFunction& cost, Case* c, const double weights[2]) {
  double* coordinates[12];
  for (int i = 0; i < 9; ++i) coordinates[i] = c->camera + i;
  for (int i = 0; i < 3; ++i) coordinates[9 + i] = c->point + i;
  const double* parameters[2] = {c->camera, c->point};
  auto gradient = [&]() {
    double residuals[2], J_r_camera[2 * 9], J_r_point[2 * 3];
    double* jacobians[2] = {J_r_camera, J_r_point};
    EXPECT_TRUE(cost.Evaluate(parameters, residuals, jacobians));
    Eigen::Matrix<double, 12, 1> g;
    for (int k = 0; k < 9; ++k) g[k] = weights[0] * J_r_camera[k] + weights[1] * J_r_camera[9 + k];
    for (int k = 0; k < 3; ++k) g[9 + k] = weights[0] * J_r_point[k] + weights[1] * J_r_point[3 + k];
    return g;
  };
  Matrix12 H;
  for (int j = 0; j < 12; ++j) {
    const double x = *coordinates[j];
    auto difference = [&](double h) {
      *coordinates[j] = x + h;
      const Eigen::Matrix<double, 12, 1> plus = gradient();
      *coordinates[j] = x - h;
      const Eigen::Matrix<double, 12, 1> minus = gradient();
      *coordinates[j] = x;
      return Eigen::Matrix<double, 12, 1>((plus - minus) / (2.0 * h));
    };
    const double h = j < 3 ? 1e-3 : 1e-3 * std::max(std::abs(x), 1e-3);
    H.col(j) = (4.0 * difference(h) - difference(2.0 * h)) / 3.0;
  }
  return H;
}

TEST(SnavelyCurvature, MatchesCentralDifferencesOfTheJacobian) {
  const double weights[2] = {-2.3, 0.4};
  std::vector<Case> cases = Cases();
  // A zero rotation too: there AngleAxisRotatePoint takes its first-order
  // branch, whose autodiff curvature misses the rotation's; the differences'
  // steps (1e-3 rad) leave the branch, and the hand-derived curvature is the
  // rotation's own.
  Case zero = cases[0];
  std::fill(zero.camera, zero.camera + 3, 0.0);
  cases.push_back(zero);
  for (Case c : cases) {
    const Matrix12 H = Curvature(ReprojectionCurvature::HAND_DERIVED, &c, weights);
    const Matrix12 H_differenced =
        DifferencedCurvature(*CostOf(c, ReprojectionCurvature::HAND_DERIVED), &c, weights);
    const double angle = Eigen::Map<const Eigen::Vector3d>(c.camera).norm();
    for (int i = 0; i < 12; ++i) {
      for (int j = 0; j < 12; ++j) {
        EXPECT_NEAR(H(i, j), H_differenced(i, j), 1e-7 * EntryScale(H, i, j))
            << "angle " << angle << " entry (" << i << ", " << j << ")";
      }
    }
  }
}

TEST(SnavelyCurvature, AutoDiffMissesTheRotationCurvatureAtZeroRotation) {
  // The documented trap of AutoDiffSecondOrderCostFunction, which the
  // hand-derived curvature does not share: at w = 0 the rotation block
  // differs by O(1) of its scale.
  Case c = Cases()[0];
  std::fill(c.camera, c.camera + 3, 0.0);
  const double weights[2] = {-2.3, 0.4};
  const Matrix12 H = Curvature(ReprojectionCurvature::HAND_DERIVED, &c, weights);
  const Matrix12 H_autodiff = Curvature(ReprojectionCurvature::AUTODIFF, &c, weights);
  const double rotation_scale = H.topLeftCorner<3, 3>().cwiseAbs().maxCoeff();
  const double missed = (H - H_autodiff).topLeftCorner<3, 3>().cwiseAbs().maxCoeff();
  EXPECT_GT(missed, 1e-3 * rotation_scale);
}

TEST(SnavelyCostFunction, EvaluateIsCeresAutoDiffBitForBit) {
  for (Case c : Cases()) {
    const std::unique_ptr<ceres::CostFunction> hand =
        CostOf(c, ReprojectionCurvature::HAND_DERIVED);
    const std::unique_ptr<ceres::CostFunction> plain =
        CostOf(c, ReprojectionCurvature::DIFFERENCED);
    const double* parameters[2] = {c.camera, c.point};
    double r[2], r_plain[2], J[2][24], J_plain[2][24];
    double* jacobians[2] = {J[0], J[1]};
    double* jacobians_plain[2] = {J_plain[0], J_plain[1]};
    ASSERT_TRUE(hand->Evaluate(parameters, r, jacobians));
    ASSERT_TRUE(plain->Evaluate(parameters, r_plain, jacobians_plain));
    EXPECT_EQ(r[0], r_plain[0]);
    EXPECT_EQ(r[1], r_plain[1]);
    for (int k = 0; k < 18; ++k) EXPECT_EQ(J[0][k], J_plain[0][k]);
    for (int k = 0; k < 6; ++k) EXPECT_EQ(J[1][k], J_plain[1][k]);
  }
}

}  // namespace
}  // namespace bundle_adjustment
