// The tracker-fusion energy (examples/tracker_fusion/lib/fusion_energy.h,
// fusion_model.h): every derivative against central finite differences, the
// multi-start inner solve, the normalisation, and dy*/dw of one frame against
// MinimiserDerivativeChecker.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <vector>

#include "ceres_wiberg/minimiser_derivative.h"
#include "ceres_wiberg/minimiser_derivative_checker.h"
#include "fusion_energy.h"
#include "fusion_model.h"
#include "fusion_training.h"
#include "gtest/gtest.h"
#include "synthetic_tracking.h"

namespace tracker_fusion {
namespace {

// A tracker's log-parameters with every coordinate away from the defaults,
// so that no derivative vanishes by symmetry.
TrackerParameters SomeParameters() {
  TrackerParameters p;
  p[kLogSigmaT] = std::log(0.12);
  p[kLogSigmaL] = std::log(0.07);
  p[kLogScale] = std::log(1.3);
  p[kLogSigmaW] = std::log(0.4);
  p[kLogSigmaH] = std::log(0.25);
  p[kLogA] = std::log(0.06);
  p[kLogB] = std::log(0.004);
  return p;
}

CornerObservation SomeObservation() {
  CornerObservation o;
  o.a = 0.31;
  o.b = -0.22;
  o.dw = 0.15;
  o.dh = -0.08;
  o.f = 37.0;
  return o;
}

// Central differences of FusionResidual with respect to block `block`, step
// h (absolute), 2 x size.
std::vector<double> NumericJacobian(const FusionResidual& residual, double y[2], double* p,
                                    int block, double h) {
  const int size = block == 0 ? 2 : kNumTrackerParameters;
  double* x = block == 0 ? y : p;
  std::vector<double> J(2 * size);
  for (int j = 0; j < size; ++j) {
    const double saved = x[j];
    double plus[2], minus[2];
    const double* parameters[2] = {y, p};
    x[j] = saved + h;
    EXPECT_TRUE(residual.Evaluate(parameters, plus, nullptr));
    x[j] = saved - h;
    EXPECT_TRUE(residual.Evaluate(parameters, minus, nullptr));
    x[j] = saved;
    for (int i = 0; i < 2; ++i) J[i * size + j] = (plus[i] - minus[i]) / (2.0 * h);
  }
  return J;
}

TEST(FusionEnergyTest, WelschRatioAndSlopeMatchClosedFormsAndDifferences) {
  // f(q) = (1 - e^-q) / q; g = -f'. The series branch (q < 1) and the closed
  // form (q >= 1) agree at the switch to a few ulps.
  EXPECT_EQ(WelschRatio(0.0), 1.0);
  EXPECT_NEAR(WelschRatioSlope(0.0), 0.5, 1e-16);
  EXPECT_NEAR(WelschRatioSlope(std::nextafter(1.0, 0.0)), WelschRatioSlope(1.0), 1e-15);
  for (double q : {0.01, 0.3, 0.999, 1.0, 2.0, 10.0, 50.0}) {
    // f against the direct formula in long double (whose cancellation costs
    // at most 2 of its 19 digits here).
    const long double ql = q;
    EXPECT_NEAR(WelschRatio(q), static_cast<double>((1.0L - std::exp(-ql)) / ql), 2e-16);
    // g against a central difference of f, h = 1e-5 min(q, 1): error
    // O(h^2 |f'''|) + eps / h, below 1e-9 here.
    const double h = 1e-5 * std::min(q, 1.0);
    const double numeric = -(WelschRatio(q + h) - WelschRatio(q - h)) / (2.0 * h);
    EXPECT_NEAR(WelschRatioSlope(q), numeric, 1e-9) << "q = " << q;
  }
  // Near 0, against their Taylor series: f = 1 - q/2 + q^2/6 - O(q^3),
  // g = 1/2 - q/3 + q^2/8 - O(q^3); the O(q^3) terms are below 1e-18.
  for (double q : {1e-12, 1e-8, 1e-6}) {
    EXPECT_NEAR(WelschRatio(q), 1.0 - q / 2.0 + q * q / 6.0, 2e-16) << "q = " << q;
    EXPECT_NEAR(WelschRatioSlope(q), 0.5 - q / 3.0 + q * q / 8.0, 2e-16) << "q = " << q;
  }
  // The series against the exact value at q = 0.5 (computed in long double).
  const long double q = 0.5L;
  const long double exact = (1.0L - std::exp(-q) - q * std::exp(-q)) / (q * q);
  EXPECT_NEAR(WelschRatioSlope(0.5), static_cast<double>(exact), 1e-16);
}

TEST(FusionEnergyTest, MixingWeightMatchesEquations15And16AndItsDerivatives) {
  const CornerObservation o = SomeObservation();
  TrackerParameters p = SomeParameters();
  const double s = std::exp(p[kLogScale]), sw = std::exp(p[kLogSigmaW]),
               sh = std::exp(p[kLogSigmaH]), A = std::exp(p[kLogA]), B = std::exp(p[kLogB]);
  const double expected = s * std::exp(-o.dw * o.dw / (sw * sw) - o.dh * o.dh / (sh * sh)) /
                          (1.0 + A * A * o.f + B * B * o.f * o.f);
  double dm_dp[kNumTrackerParameters];
  EXPECT_NEAR(MixingWeight(o, p.data(), dm_dp), expected, 1e-15 * expected);
  // Central differences, h = 1e-6 in log-space: error O(h^2) ~ 1e-12 relative.
  for (int i = 0; i < kNumTrackerParameters; ++i) {
    const double h = 1e-6;
    TrackerParameters plus = p, minus = p;
    plus[i] += h;
    minus[i] -= h;
    const double numeric = (MixingWeight(o, plus.data()) - MixingWeight(o, minus.data())) / (2 * h);
    EXPECT_NEAR(dm_dp[i], numeric, 1e-9 * std::max(1.0, std::abs(numeric))) << "p[" << i << "]";
  }
}

// The residual's Jacobians (y and every learnable coordinate) against central
// differences at corners far from, near and exactly at the tracker's corner
// (|u| = 0, where r = sqrt(m f) u must stay smooth).
TEST(FusionEnergyTest, ResidualJacobiansMatchCentralDifferencesIncludingNearZero) {
  const CornerObservation o = SomeObservation();
  const FusionResidual residual(o);
  TrackerParameters p = SomeParameters();
  // Offsets from the tracker's corner in units of the widths: |u| from 0 to 6.
  const std::vector<std::array<double, 2>> offsets = {{0.0, 0.0},    {1e-9, -2e-9}, {1e-5, 3e-6},
                                                      {0.02, -0.01}, {0.5, 0.7},    {1.0, -0.4},
                                                      {-2.0, 1.5},   {4.0, 4.5}};
  const double sigma_t = std::exp(p[kLogSigmaT]), sigma_l = std::exp(p[kLogSigmaL]);
  for (const auto& offset : offsets) {
    double y[2] = {o.a + offset[0] * sigma_t, o.b + offset[1] * sigma_l};
    double r[2];
    double J_y[4], J_p[2 * kNumTrackerParameters];
    double* jacobians[2] = {J_y, J_p};
    const double* parameters[2] = {y, p.data()};
    ASSERT_TRUE(residual.Evaluate(parameters, r, jacobians));
    // Ceres' cost of this block is 1/2 m (1 - exp(-|u|^2)).
    const double u2 = offset[0] * offset[0] + offset[1] * offset[1];
    const double m = MixingWeight(o, p.data());
    EXPECT_NEAR(0.5 * (r[0] * r[0] + r[1] * r[1]), 0.5 * m * -std::expm1(-u2),
                1e-15 * std::max(m, 1e-300));
    // Steps: 1e-6 of the widths for y, 1e-6 in log-space for p. The central
    // difference's truncation is O(h^2) relative (~1e-12 after scaling) and
    // its round-off ~eps |r| / h ~ 1e-10 of |J|; tolerance 1e-7 of the
    // block's largest entry.
    const std::vector<double> numeric_y =
        NumericJacobian(residual, y, p.data(), 0, 1e-6 * std::min(sigma_t, sigma_l));
    const std::vector<double> numeric_p = NumericJacobian(residual, y, p.data(), 1, 1e-6);
    double scale_y = 0.0, scale_p = 0.0;
    for (double v : numeric_y) scale_y = std::max(scale_y, std::abs(v));
    for (double v : numeric_p) scale_p = std::max(scale_p, std::abs(v));
    for (int k = 0; k < 4; ++k) {
      EXPECT_NEAR(J_y[k], numeric_y[k], 1e-7 * scale_y)
          << "dr/dy entry " << k << " at offset " << offset[0] << ", " << offset[1];
    }
    for (int k = 0; k < 2 * kNumTrackerParameters; ++k) {
      EXPECT_NEAR(J_p[k], numeric_p[k], 1e-7 * std::max(scale_p, 1e-300))
          << "dr/dp entry " << k << " at offset " << offset[0] << ", " << offset[1];
    }
  }
}

// CornerEnergy (the inner solver's closed form) equals the Ceres cost of the
// FusionResiduals, and its gradient and Hessian match central differences.
TEST(FusionEnergyTest, CornerEnergyMatchesResidualsAndItsDerivatives) {
  std::vector<CornerObservation> observations;
  std::vector<TrackerParameters> storage;
  for (int t = 0; t < 5; ++t) {
    CornerObservation o = SomeObservation();
    o.a += 0.05 * t;
    o.b -= 0.03 * t * t;
    o.f = 10.0 * t;
    observations.push_back(o);
    TrackerParameters p = SomeParameters();
    p[kLogSigmaT] += 0.1 * t;
    p[kLogScale] -= 0.2 * t;
    storage.push_back(p);
  }
  std::vector<const double*> params;
  for (const auto& p : storage) params.push_back(p.data());
  for (const std::array<double, 2>& at :
       std::vector<std::array<double, 2>>{{0.3, -0.2}, {0.4, -0.5}, {0.0, 0.0}, {1.0, 1.0}}) {
    double y[2] = {at[0], at[1]};
    double g[2], H[4];
    const double energy = CornerEnergy(observations, params, y, g, H);
    double cost = 0.0;
    for (size_t t = 0; t < observations.size(); ++t) {
      FusionResidual residual(observations[t]);
      const double* parameters[2] = {y, params[t]};
      double r[2];
      ASSERT_TRUE(residual.Evaluate(parameters, r, nullptr));
      cost += 0.5 * (r[0] * r[0] + r[1] * r[1]);
    }
    EXPECT_NEAR(energy, cost, 1e-14);
    // h = 1e-6: errors O(h^2 |E'''|) + eps |E| / h, below 1e-8 here (the
    // widths are >= 0.07, so E''' <~ 1e4).
    const double h = 1e-6;
    for (int j = 0; j < 2; ++j) {
      double plus[2] = {y[0], y[1]}, minus[2] = {y[0], y[1]};
      plus[j] += h;
      minus[j] -= h;
      double g_plus[2], g_minus[2];
      const double e_plus = CornerEnergy(observations, params, plus, g_plus);
      const double e_minus = CornerEnergy(observations, params, minus, g_minus);
      EXPECT_NEAR(g[j], (e_plus - e_minus) / (2 * h), 1e-7 * std::max(1.0, std::abs(g[j])));
      for (int i = 0; i < 2; ++i) {
        EXPECT_NEAR(H[2 * i + j], (g_plus[i] - g_minus[i]) / (2 * h),
                    1e-6 * std::max(1.0, std::abs(H[2 * i + j])));
      }
    }
  }
}

// The multi-start solve returns the global minimum of a two-mode energy
// (checked against a dense grid), with zero gradient.
TEST(FusionEnergyTest, MultiStartFindsTheGlobalMinimum) {
  std::vector<CornerObservation> observations;
  std::vector<TrackerParameters> storage;
  // Three trackers agree near (0, 0); two weightier ones near (1, 1): the
  // global minimum of E~ is the heavier cluster.
  const double corners[5][2] = {{0.0, 0.0}, {0.05, -0.03}, {-0.04, 0.02}, {1.0, 1.0}, {1.03, 0.98}};
  const double scales[5] = {1.0, 1.0, 1.0, 2.0, 2.0};
  for (int t = 0; t < 5; ++t) {
    CornerObservation o;
    o.a = corners[t][0];
    o.b = corners[t][1];
    observations.push_back(o);
    TrackerParameters p = SomeParameters();
    p[kLogScale] = std::log(scales[t]);
    p[kLogSigmaT] = p[kLogSigmaL] = std::log(0.1);
    storage.push_back(p);
  }
  std::vector<const double*> params;
  for (const auto& p : storage) params.push_back(p.data());
  CornerSolution solution;
  MinimiseCorner(observations, params, CornerSolverOptions(), &solution);
  EXPECT_EQ(solution.num_starts, 5);
  EXPECT_EQ(solution.num_distinct_optima, 2);
  EXPECT_EQ(solution.num_unconverged_starts, 0);
  EXPECT_NEAR(solution.y[0], 1.015, 0.02);
  EXPECT_NEAR(solution.y[1], 0.99, 0.02);
  double g[2];
  CornerEnergy(observations, params, solution.y, g);
  EXPECT_LT(std::max(std::abs(g[0]), std::abs(g[1])), 1e-10);
  double grid_minimum = std::numeric_limits<double>::infinity();
  for (int i = 0; i <= 300; ++i) {
    for (int j = 0; j <= 300; ++j) {
      const double y[2] = {-0.5 + 2.0 * i / 300, -0.5 + 2.0 * j / 300};
      grid_minimum = std::min(grid_minimum, CornerEnergy(observations, params, y));
    }
  }
  EXPECT_LE(solution.energy, grid_minimum + 1e-12);

  // One local descent from the median corner (0.05, 0.02) stays in the
  // lighter cluster: a local optimum of higher energy.
  CornerSolverOptions single;
  single.multi_start = false;
  CornerSolution local;
  MinimiseCorner(observations, params, single, &local);
  EXPECT_EQ(local.num_starts, 1);
  EXPECT_NEAR(local.y[0], 0.0, 0.05);
  EXPECT_NEAR(local.y[1], 0.0, 0.05);
  EXPECT_GT(local.energy, solution.energy + 0.1);
}

Dataset SmallDataset() {
  SyntheticTrackingOptions options;
  options.seed = 5;
  options.num_sequences = 1;
  options.num_frames = 40;
  options.num_trackers = 8;
  SyntheticDataset synthetic;
  const ceres_wiberg::Status status = GenerateSyntheticDataset(options, &synthetic);
  EXPECT_TRUE(status.ok()) << status.ToString();
  return synthetic.dataset;
}

// Scaling and shifting every box of a frame leaves the normalised inputs
// unchanged: the learnt widths are scale-free.
TEST(FusionModelTest, NormalisedInputsAreScaleAndTranslationFree) {
  Dataset dataset = SmallDataset();
  FrameRef ref;
  ref.frame = 20;
  FrameInput input;
  ASSERT_TRUE(MakeFrameInput(dataset, ref, FusionModelOptions(), &input).ok());
  ASSERT_GE(input.trackers.size(), 4u);
  Dataset scaled = dataset;
  for (auto& track : scaled.sequences[0].tracks) {
    Box& box = track[ref.frame].box;
    box.x = 3.0 * box.x + 17.0;
    box.y = 3.0 * box.y - 5.0;
    box.width *= 3.0;
    box.height *= 3.0;
  }
  FrameInput scaled_input;
  ASSERT_TRUE(MakeFrameInput(scaled, ref, FusionModelOptions(), &scaled_input).ok());
  EXPECT_NEAR(scaled_input.scale, 3.0 * input.scale, 1e-9 * input.scale);
  for (int corner = 0; corner < 2; ++corner) {
    for (size_t t = 0; t < input.trackers.size(); ++t) {
      const CornerObservation& a = input.corners[corner][t];
      const CornerObservation& b = scaled_input.corners[corner][t];
      EXPECT_NEAR(a.a, b.a, 1e-12);
      EXPECT_NEAR(a.b, b.b, 1e-12);
      EXPECT_NEAR(a.dw, b.dw, 1e-12);
      EXPECT_NEAR(a.dh, b.dh, 1e-12);
      EXPECT_EQ(a.f, b.f);
    }
  }
  // A corner maps back to pixels exactly.
  const double y0[2] = {input.corners[0][0].a, input.corners[0][0].b};
  const double y1[2] = {input.corners[1][0].a, input.corners[1][0].b};
  const Box box = BoxFromNormalisedCorners(input, y0, y1);
  const Box& original = dataset.sequences[0].tracks[input.trackers[0]][ref.frame].box;
  EXPECT_NEAR(box.x, original.x, 1e-9);
  EXPECT_NEAR(box.width, original.width, 1e-9);
}

// w_0,t of eq. 15: the consensus (median) size by default, or the ground
// truth the tracker was initialised with, f_t frames earlier.
TEST(FusionModelTest, SizeReferencesFollowTheirDefinitions) {
  const Dataset dataset = SmallDataset();
  FrameRef ref;
  ref.frame = 30;
  FusionModelOptions options;
  FrameInput consensus, initialisation;
  ASSERT_TRUE(MakeFrameInput(dataset, ref, options, &consensus).ok());
  options.size_reference = SizeReference::kInitialisation;
  ASSERT_TRUE(MakeFrameInput(dataset, ref, options, &initialisation).ok());
  ASSERT_EQ(consensus.trackers, initialisation.trackers);
  std::vector<double> widths;
  for (int t : consensus.trackers) widths.push_back(dataset.sequences[0].tracks[t][30].box.width);
  std::sort(widths.begin(), widths.end());
  const size_t n = widths.size();
  const double median_width =
      n % 2 == 1 ? widths[n / 2] : 0.5 * (widths[n / 2 - 1] + widths[n / 2]);
  for (size_t i = 0; i < consensus.trackers.size(); ++i) {
    const TrackerFrame& frame = dataset.sequences[0].tracks[consensus.trackers[i]][30];
    const Box& initial = dataset.sequences[0].groundtruth[30 - frame.frames_since_initialisation];
    EXPECT_NEAR(consensus.corners[0][i].dw, (frame.box.width - median_width) / consensus.scale,
                1e-12);
    EXPECT_NEAR(initialisation.corners[0][i].dw,
                (frame.box.width - initial.width) / initialisation.scale, 1e-12);
    EXPECT_EQ(consensus.corners[1][i].f, frame.frames_since_initialisation);
  }
}

TEST(FusionModelTest, BadBoxesAndReferencesAreStatuses) {
  Dataset dataset = SmallDataset();
  FrameRef ref;
  ref.frame = 20;
  FrameInput input;
  ASSERT_TRUE(MakeFrameInput(dataset, ref, FusionModelOptions(), &input).ok());
  const int tracker = input.trackers[0];
  dataset.sequences[0].tracks[tracker][ref.frame].box.width =
      std::numeric_limits<double>::quiet_NaN();
  ceres_wiberg::Status status = MakeFrameInput(dataset, ref, FusionModelOptions(), &input);
  EXPECT_EQ(status.code(), ceres_wiberg::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find(dataset.tracker_names[tracker]), std::string::npos)
      << status.message();
  EXPECT_NE(status.message().find("frame 20"), std::string::npos) << status.message();
  ref.frame = 1000;
  status = MakeFrameInput(dataset, ref, FusionModelOptions(), &input);
  EXPECT_EQ(status.code(), ceres_wiberg::StatusCode::kInvalidArgument);
}

// dy*/dw of one whole frame (both corners, every tracker's block) against
// MinimiserDerivativeChecker: full re-solves at lambda = 0, the damped Newton
// step at lambda = 0.1.
TEST(FusionDerivativeTest, FrameDerivativeMatchesChecker) {
  Dataset dataset = SmallDataset();
  FrameRef ref;
  ref.frame = 25;
  FrameInput input;
  ASSERT_TRUE(MakeFrameInput(dataset, ref, FusionModelOptions(), &input).ok());
  ASSERT_GE(input.trackers.size(), 5u);
  // Parameters varied per tracker so that every column is exercised.
  Eigen::VectorXd w = MakeInitialParameters(dataset.num_trackers(), InitialParameters());
  for (int i = 0; i < w.size(); ++i) w[i] += 0.15 * std::sin(1.7 * i);
  const std::vector<const double*> params = FrameParameters(input, w);
  double y[2][2];
  for (int corner = 0; corner < 2; ++corner) {
    CornerSolution solution;
    MinimiseCorner(input.corners[corner], params, CornerSolverOptions(), &solution);
    y[corner][0] = solution.y[0];
    y[corner][1] = solution.y[1];
  }
  for (double lambda : {0.0, 0.1}) {
    FrameProblem frame_problem;
    ASSERT_TRUE(MakeFrameProblem(input, w, y, &frame_problem).ok());
    // The training objective's derivative options (exact Hessian from
    // second differences of the analytic Jacobians), with this lambda.
    ceres_wiberg::MinimiserDerivative::Options derivative_options =
        FusionTrainingOptions().derivative;
    derivative_options.lambda = lambda;
    ceres_wiberg::MinimiserDerivativeChecker::Options checker_options;
    ceres_wiberg::MinimiserDerivativeChecker::Result result;
    const ceres_wiberg::Status status = ceres_wiberg::MinimiserDerivativeChecker::Check(
        checker_options, derivative_options, frame_problem.bilevel.get(), &result);
    ASSERT_TRUE(status.ok()) << status.ToString();
    // H against differences of the inner gradient (EXACT models).
    EXPECT_TRUE(!result.hessian_checked || result.hessian_within_tolerance)
        << result.Report();
    EXPECT_EQ(result.analytic.rows(), 4);
    EXPECT_EQ(result.analytic.cols(),
              kNumTrackerParameters * static_cast<int>(input.trackers.size()));
    EXPECT_GT(result.analytic.norm(), 1e-3);  // not trivially zero
    std::printf("lambda = %g: %s\n", lambda, result.Report().c_str());
    // Re-solve differences (h = 1e-5): O(h^2) truncation of y*(w) plus the
    // O(h'^2) error of the analytic side's second differences of the
    // Jacobians; measured 2.0e-6, tolerance 1e-5. Damped step (h = 1e-6):
    // the reference is exact to O(h^2), the rest is the analytic side's
    // second differences; measured 6.2e-7, tolerance 2e-6.
    EXPECT_LT(result.max_relative_error, lambda == 0.0 ? 1e-5 : 2e-6) << result.Report();
  }
}

}  // namespace
}  // namespace tracker_fusion
