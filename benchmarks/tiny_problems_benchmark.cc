// Many-tiny-problems family: throughput, in examples per second, of the
// tracker-fusion energy of the paper's supplementary material (section 3,
// eq. 14): one corner y = (y0, y1) of a bounding box fused from T = 6 tracker
// proposals (a_t, b_t) as the mode of a mixture of Gaussians,
//
//   E(y; w) = 1/2 sum_t m_t (1 - exp(-(y0 - a_t)^2 / sT_t^2 - (y1 - b_t)^2 / sL_t^2))
//
// (the paper's mixture up to a constant and the factor 1/2), built with
// ceres_wiberg::LearnableLossCostFunction(WELSCH) on the residual
// r_t = ((y0 - a_t) / sT_t, (y1 - b_t) / sL_t) with its scale a = 1 held in one
// constant block. Learnable, per tracker: the widths (sT_t, sL_t) (one
// 2-block) and the mixing weight m_t (one 1-block): n_w = 3 T = 18, n_y = 2.
// The paper's m_t is a product of per-tracker factors; learning m_t directly
// keeps the same structure of tiny inner problem with a few learnable blocks.
//
// Data: 200 frames (examples), each with a true corner c ~ U[0, 500]^2 and
// proposals c + N(0, s_t^2) (s_t from 2 to 12 pixels), 20% of them outliers
// (uniform within 100 pixels of c). Each inner solve starts at the proposal of
// lowest energy (the mixture is multimodal) and is solved by Ceres LM
// (DENSE_QR, tolerances 1e-12). The outer loss is 1/2 |y* - c|^2.
//
// One case per Hessian model, "TrackerFusion/<model>", whose iterations each
// run the whole batch through every mode:
//   solve          SolveInner from the initial guess;
//   grad           solve, then Linearise + VectorJacobianProduct (reverse
//                  mode, u = y* - c) with the example's own MinimiserDerivative
//                  (lambda = 0, final_newton_step = true, eigenvalue
//                  diagnostics off). The manual time;
//   forward        solve, then Linearise + Jacobian (2 x 18);
//   fd             solve, then central differences through 2 n_w = 36
//                  re-solves warm started at y* (Ceres, tolerances 1e-16);
//   example        BilevelExample::EvaluateLoss (solve + reverse mode, its
//                  default options: final Newton step, lambda 0.1), the path a
//                  learner takes;
//   newton_example the same with InnerSolverType::NEWTON (the library's
//                  trust-region Newton on the exact H instead of Ceres' LM,
//                  from the same start), reported as
//                  newton_example_examples_per_s, with newton_over_ceres (its
//                  throughput over example's) and newton_max_abs_dy (the
//                  largest |y*_newton - y*_ceres| over the batch, pixels);
//                  which is right: both y* polished by NewtonPolish
//                  (*_max_abs_dy_to_polished: each from its own polished
//                  point; polished_max_abs_dy: the two polished points
//                  apart), |g|_inf before polishing (ceres_max_gradient,
//                  newton_max_gradient) and after (polished_max_gradient),
//                  maxima over the batch;
// reported as *_examples_per_s, with grad_over_solve (the derivative's own
// time over the solve's), fd_over_grad (the finite differences' re-solves
// over the derivative's own time) and, once, max_rel_err: the timed
// derivative's worst relative error over the first 20 examples against the
// MinimiserDerivativeChecker's polished re-solves at its default steps
// (Ridders' extrapolation per column), ref_err_est the largest error
// estimate of that reference (default derivative options otherwise: no
// second-derivative step is set). Peak memory (mem_*_MB) is measured for one pass
// over the batch as the VmHWM increase above the resident memory before it.
//
// Run (under a minute):
//   tiny_problems_benchmark --benchmark_out=tiny.json --benchmark_out_format=json

#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "Eigen/Core"
#include "benchmark/benchmark.h"
#include "ceres/ceres.h"
#include "measure.h"
#include "ceres_wiberg/bilevel_example.h"
#include "ceres_wiberg/bilevel_problem.h"
#include "ceres_wiberg/learnable_loss.h"
#include "ceres_wiberg/minimiser_derivative.h"
#include "ceres_wiberg/minimiser_derivative_checker.h"
#include "ceres_wiberg/newton_polish.h"

namespace ceres_wiberg {
namespace {

constexpr int kTrackers = 6;
constexpr int kExamples = 200;
constexpr int kCheckedExamples = 20;
constexpr double kFdRelativeStep = 1e-5;

// ---------------------------------------------------------------------------
// Timing and memory helpers.

using benchmark_measure::MaxRelativeError;
using benchmark_measure::Now;
using benchmark_measure::PeakIncreaseMb;

// ---------------------------------------------------------------------------
// The energy.

// r = ((y0 - a) / sT, (y1 - b) / sL); blocks y (2) and widths (sT, sL) (2).
class TrackerResidual final : public ceres::SizedCostFunction<2, 2, 2> {
 public:
  TrackerResidual(double a, double b) : a_(a), b_(b) {}
  bool Evaluate(double const* const* parameters, double* residuals,
                double** jacobians) const override {
    const double* y = parameters[0];
    const double* width = parameters[1];
    const double d0 = y[0] - a_, d1 = y[1] - b_;
    residuals[0] = d0 / width[0];
    residuals[1] = d1 / width[1];
    if (jacobians == nullptr) return true;
    if (jacobians[0] != nullptr) {
      jacobians[0][0] = 1.0 / width[0];
      jacobians[0][1] = 0.0;
      jacobians[0][2] = 0.0;
      jacobians[0][3] = 1.0 / width[1];
    }
    if (jacobians[1] != nullptr) {
      jacobians[1][0] = -d0 / (width[0] * width[0]);
      jacobians[1][1] = 0.0;
      jacobians[1][2] = 0.0;
      jacobians[1][3] = -d1 / (width[1] * width[1]);
    }
    return true;
  }

 private:
  const double a_, b_;
};

// r = y - c: the outer loss 1/2 |y - c|^2.
class CornerError final : public ceres::SizedCostFunction<2, 2> {
 public:
  CornerError(double c0, double c1) : c0_(c0), c1_(c1) {}
  bool Evaluate(double const* const* parameters, double* residuals,
                double** jacobians) const override {
    residuals[0] = parameters[0][0] - c0_;
    residuals[1] = parameters[0][1] - c1_;
    if (jacobians != nullptr && jacobians[0] != nullptr) {
      jacobians[0][0] = 1.0;
      jacobians[0][1] = 0.0;
      jacobians[0][2] = 0.0;
      jacobians[0][3] = 1.0;
    }
    return true;
  }

 private:
  const double c0_, c1_;
};

// One frame: its own inner problem and learnable storage (as a learner with
// threads would have), derivative objects and example.
struct Frame {
  double y[2];
  double initial[2];
  double truth[2];
  double scale = 1.0;  // the Welsch scale a, constant
  double widths[kTrackers][2];
  double weights[kTrackers];
  std::vector<std::pair<double, double>> proposals;
  std::unique_ptr<ceres::Problem> problem;
  std::unique_ptr<BilevelProblem> bilevel;
  std::unique_ptr<MinimiserDerivative> derivative;
  std::unique_ptr<BilevelExample> example;
  std::unique_ptr<BilevelExample> newton_example;
};

// BilevelExample::EvaluateLoss (solve + reverse mode) of every frame with
// the example `which` (Frame::example or Frame::newton_example), at the
// frame's learnable values; stops at the first error.
Status EvaluateLossOfFrames(const std::vector<std::unique_ptr<Frame>>& frames,
                            std::unique_ptr<BilevelExample> Frame::*which) {
  for (const auto& frame : frames) {
    double loss = 0.0;
    Eigen::VectorXd gradient;
    Status status = ((*frame).*which)->EvaluateLoss(frame->bilevel->GetLearnableParameters(),
                                                    &loss, &gradient);
    if (!status.ok()) return status;
  }
  return Status::Ok();
}

double FusionEnergy(const Frame& frame, double y0, double y1) {
  double energy = 0.0;
  for (int t = 0; t < kTrackers; ++t) {
    const double r0 = (y0 - frame.proposals[t].first) / frame.widths[t][0];
    const double r1 = (y1 - frame.proposals[t].second) / frame.widths[t][1];
    energy += 0.5 * frame.weights[t] * -std::expm1(-(r0 * r0 + r1 * r1));
  }
  return energy;
}

ceres::Solver::Options InnerSolverOptions() {
  ceres::Solver::Options options;
  options.linear_solver_type = ceres::DENSE_QR;
  options.function_tolerance = 1e-12;
  options.gradient_tolerance = 1e-12;
  options.parameter_tolerance = 1e-12;
  options.max_num_iterations = 100;
  options.logging_type = ceres::SILENT;
  return options;
}

MinimiserDerivative::Options DerivativeOptions(HessianModel model) {
  MinimiserDerivative::Options options;
  options.lambda = 0.0;
  options.hessian_model = model;
  options.final_newton_step = true;
  options.eigenvalue_iterations = 0;
  options.max_exact_eigenvalue_size = 0;
  return options;
}

std::vector<std::unique_ptr<Frame>> MakeFrames(HessianModel model, Status* status) {
  std::mt19937 rng(14);
  std::uniform_real_distribution<double> corner(0.0, 500.0), unit(0.0, 1.0);
  std::normal_distribution<double> normal;
  std::vector<std::unique_ptr<Frame>> frames;
  for (int e = 0; e < kExamples; ++e) {
    auto frame = std::make_unique<Frame>();
    frame->truth[0] = corner(rng);
    frame->truth[1] = corner(rng);
    for (int t = 0; t < kTrackers; ++t) {
      const double spread = 2.0 + 2.0 * t;
      double a = frame->truth[0] + spread * normal(rng);
      double b = frame->truth[1] + spread * normal(rng);
      if (unit(rng) < 0.2) {
        a = frame->truth[0] + 200.0 * (unit(rng) - 0.5);
        b = frame->truth[1] + 200.0 * (unit(rng) - 0.5);
      }
      frame->proposals.emplace_back(a, b);
      frame->widths[t][0] = 6.0 + t;  // the initial learnable values
      frame->widths[t][1] = 6.0 + t;
      frame->weights[t] = 1.0;
    }
    // Start at the proposal of lowest energy.
    int best = 0;
    for (int t = 1; t < kTrackers; ++t) {
      if (FusionEnergy(*frame, frame->proposals[t].first, frame->proposals[t].second) <
          FusionEnergy(*frame, frame->proposals[best].first, frame->proposals[best].second)) {
        best = t;
      }
    }
    frame->initial[0] = frame->y[0] = frame->proposals[best].first;
    frame->initial[1] = frame->y[1] = frame->proposals[best].second;

    frame->problem = std::make_unique<ceres::Problem>();
    std::vector<double*> learnable;
    for (int t = 0; t < kTrackers; ++t) {
      frame->problem->AddResidualBlock(
          new LearnableLossCostFunction(
              new TrackerResidual(frame->proposals[t].first, frame->proposals[t].second),
              LearnableLossType::WELSCH, /*has_weight_block=*/true),
          nullptr, {frame->y, frame->widths[t], &frame->scale, &frame->weights[t]});
      learnable.push_back(frame->widths[t]);
      learnable.push_back(&frame->weights[t]);
    }
    frame->problem->SetParameterBlockConstant(&frame->scale);
    BilevelProblem::Options options;
    options.inner_parameter_blocks = {frame->y};
    *status = BilevelProblem::Create(frame->problem.get(), learnable, options, &frame->bilevel);
    if (!status->ok()) return {};
    frame->derivative = std::make_unique<MinimiserDerivative>(DerivativeOptions(model));
    BilevelExample::Options example_options;
    example_options.inner_solver_options = InnerSolverOptions();
    example_options.warm_start = false;
    *status = BilevelExample::Create(frame->bilevel.get(),
                                     new CornerError(frame->truth[0], frame->truth[1]),
                                     ceres::TAKE_OWNERSHIP, {frame->y}, example_options,
                                     &frame->example);
    if (!status->ok()) return {};
    example_options.inner_solver_type = InnerSolverType::NEWTON;
    *status = BilevelExample::Create(frame->bilevel.get(),
                                     new CornerError(frame->truth[0], frame->truth[1]),
                                     ceres::TAKE_OWNERSHIP, {frame->y}, example_options,
                                     &frame->newton_example);
    if (!status->ok()) return {};
    frames.push_back(std::move(frame));
  }
  return frames;
}

// ---------------------------------------------------------------------------
// The benchmark.

void TrackerFusion(benchmark::State& state, HessianModel model) {
  Status status;
  std::vector<std::unique_ptr<Frame>> frames = MakeFrames(model, &status);
  if (!status.ok()) {
    state.SkipWithError(status.ToString().c_str());
    return;
  }
  const int n_w = frames[0]->bilevel->num_learnable_parameters();
  const ceres::Solver::Options solver_options = InnerSolverOptions();
  ceres::Solver::Options fd_options = TightSolverOptions();
  fd_options.linear_solver_type = ceres::DENSE_QR;

  auto solve = [&](Frame& frame) {
    frame.bilevel->SetInnerValues(Eigen::Vector2d(frame.initial[0], frame.initial[1]));
    ceres::Solver::Summary summary;
    status = frame.bilevel->SolveInner(solver_options, &summary);
  };
  auto reverse = [&](Frame& frame) {
    Eigen::VectorXd gradient;
    if (status.ok()) status = frame.derivative->Linearise(frame.bilevel.get(), nullptr);
    const Eigen::VectorXd y = frame.bilevel->GetInnerValues();
    const Eigen::VectorXd u = y - Eigen::Vector2d(frame.truth[0], frame.truth[1]);
    if (status.ok()) status = frame.derivative->VectorJacobianProduct(u, &gradient);
    benchmark::DoNotOptimize(gradient.data());
  };
  auto forward = [&](Frame& frame, Eigen::MatrixXd* J) {
    if (status.ok()) status = frame.derivative->Linearise(frame.bilevel.get(), nullptr);
    if (status.ok()) status = frame.derivative->Jacobian(J);
  };
  auto finite_differences = [&](Frame& frame, Eigen::MatrixXd* J) {
    const Eigen::VectorXd y_star = frame.bilevel->GetInnerValues();
    const Eigen::VectorXd w0 = frame.bilevel->GetLearnableParameters();
    J->resize(2, n_w);
    for (int j = 0; j < n_w && status.ok(); ++j) {
      const double h = kFdRelativeStep * std::max(1.0, std::abs(w0[j]));
      Eigen::VectorXd outcome[2];
      for (int side = 0; side < 2 && status.ok(); ++side) {
        Eigen::VectorXd w = w0;
        w[j] += side == 0 ? h : -h;
        frame.bilevel->SetLearnableParameters(w);
        frame.bilevel->SetInnerValues(y_star);
        ceres::Solver::Summary summary;
        status = frame.bilevel->SolveInner(fd_options, &summary);
        outcome[side] = frame.bilevel->GetInnerValues();
      }
      J->col(j) = (outcome[0] - outcome[1]) / (2.0 * h);
    }
    frame.bilevel->SetLearnableParameters(w0);
    frame.bilevel->SetInnerValues(y_star);
  };

  // Once: peak memory of one pass over the batch, per mode.
  const double mem_solve = PeakIncreaseMb([&] {
    for (auto& frame : frames) solve(*frame);
  });
  const double mem_grad = PeakIncreaseMb([&] {
    for (auto& frame : frames) {
      solve(*frame);
      reverse(*frame);
    }
  });

  // Once: accuracy on the first examples, against Richardson-extrapolated
  // polished re-solves; and the plain re-solve differences' error.
  double max_rel_err = 0.0, fd_plain_rel_err = 0.0, ref_err_est = 0.0;
  for (int e = 0; e < kCheckedExamples && status.ok(); ++e) {
    Frame& frame = *frames[e];
    solve(frame);
    Eigen::MatrixXd J, J_fd;
    forward(frame, &J);  // moves y by the final Newton step
    MinimiserDerivativeChecker::Options checker_options;
    checker_options.solver_options = fd_options;
    MinimiserDerivativeChecker::Result check;
    if (status.ok()) {
      status = MinimiserDerivativeChecker::Check(checker_options, DerivativeOptions(model),
                                                 frame.bilevel.get(), &check);
    }
    if (!status.ok()) break;
    const Eigen::MatrixXd& reference = check.numeric;
    max_rel_err = std::max(max_rel_err, MaxRelativeError(J, reference));
    ref_err_est = std::max(ref_err_est, check.max_error_estimate);
    finite_differences(frame, &J_fd);
    fd_plain_rel_err = std::max(fd_plain_rel_err, MaxRelativeError(J, J_fd));
  }
  if (!status.ok()) {
    state.SkipWithError(("accuracy: " + status.ToString()).c_str());
    return;
  }

  // Once: the Newton inner solver's y* against Ceres' (both examples start
  // from frame.initial, warm_start false), and which is right: each y* (as
  // the example returns it, after its final damped Newton step) polished by
  // NewtonPolish (default options), the distance to the polished point and
  // |g|_inf at each.
  double newton_max_abs_dy = 0.0;
  double ceres_max_abs_dy_to_polished = 0.0, newton_max_abs_dy_to_polished = 0.0;
  double ceres_max_gradient = 0.0, newton_max_gradient = 0.0, polished_max_gradient = 0.0;
  double polished_max_abs_dy = 0.0;  // between the two polished points
  for (auto& frame : frames) {
    double loss = 0.0;
    const Eigen::VectorXd w = frame->bilevel->GetLearnableParameters();
    if (status.ok()) status = frame->example->EvaluateLoss(w, &loss, nullptr);
    const Eigen::VectorXd y_ceres = frame->bilevel->GetInnerValues();
    if (status.ok()) status = frame->newton_example->EvaluateLoss(w, &loss, nullptr);
    if (!status.ok()) break;
    const Eigen::VectorXd y_newton = frame->bilevel->GetInnerValues();
    newton_max_abs_dy = std::max(newton_max_abs_dy, (y_newton - y_ceres).lpNorm<Eigen::Infinity>());
    Eigen::VectorXd polished[2];
    for (int which = 0; which < 2 && status.ok(); ++which) {
      frame->bilevel->SetInnerValues(which == 0 ? y_ceres : y_newton);
      NewtonPolish::Summary polish;
      status = NewtonPolish::Polish(NewtonPolish::Options(), frame->bilevel.get(), &polish);
      if (!status.ok()) break;
      polished[which] = frame->bilevel->GetInnerValues();
      double& gradient = which == 0 ? ceres_max_gradient : newton_max_gradient;
      gradient = std::max(gradient, polish.initial_gradient_max_norm);
      polished_max_gradient = std::max(polished_max_gradient, polish.final_gradient_max_norm);
    }
    if (!status.ok()) break;
    ceres_max_abs_dy_to_polished =
        std::max(ceres_max_abs_dy_to_polished, (y_ceres - polished[0]).lpNorm<Eigen::Infinity>());
    newton_max_abs_dy_to_polished = std::max(newton_max_abs_dy_to_polished,
                                             (y_newton - polished[1]).lpNorm<Eigen::Infinity>());
    polished_max_abs_dy =
        std::max(polished_max_abs_dy, (polished[0] - polished[1]).lpNorm<Eigen::Infinity>());
  }
  if (!status.ok()) {
    state.SkipWithError(("newton: " + status.ToString()).c_str());
    return;
  }

  double solve_s = 0, grad_s = 0, forward_s = 0, fd_s = 0, example_s = 0, newton_s = 0;
  Eigen::MatrixXd J;
  for (auto _ : state) {
    double start = Now();
    for (auto& frame : frames) solve(*frame);
    solve_s += Now() - start;

    start = Now();
    for (auto& frame : frames) {
      solve(*frame);
      reverse(*frame);
    }
    grad_s += Now() - start;
    state.SetIterationTime(Now() - start);

    start = Now();
    for (auto& frame : frames) {
      solve(*frame);
      forward(*frame, &J);
    }
    forward_s += Now() - start;

    start = Now();
    for (auto& frame : frames) {
      solve(*frame);
      finite_differences(*frame, &J);
    }
    fd_s += Now() - start;

    start = Now();
    status = EvaluateLossOfFrames(frames, &Frame::example);
    example_s += Now() - start;

    start = Now();
    if (status.ok()) status = EvaluateLossOfFrames(frames, &Frame::newton_example);
    newton_s += Now() - start;
    if (!status.ok()) {
      state.SkipWithError(status.ToString().c_str());
      return;
    }
  }
  const double batches = static_cast<double>(state.iterations());
  const double examples = batches * kExamples;
  // The derivative's and finite differences' own time: totals minus solves.
  const double derivative_s = grad_s - solve_s;
  const double fd_only_s = fd_s - solve_s;
  state.SetItemsProcessed(static_cast<int64_t>(examples));
  state.counters["n_y"] = 2;
  state.counters["n_w"] = n_w;
  state.counters["examples"] = kExamples;
  state.counters["solve_examples_per_s"] = examples / solve_s;
  state.counters["grad_examples_per_s"] = examples / grad_s;
  state.counters["forward_examples_per_s"] = examples / forward_s;
  state.counters["fd_examples_per_s"] = examples / fd_s;
  state.counters["bilevel_example_examples_per_s"] = examples / example_s;
  state.counters["newton_example_examples_per_s"] = examples / newton_s;
  state.counters["newton_over_ceres"] = example_s / newton_s;
  state.counters["newton_max_abs_dy"] = newton_max_abs_dy;
  state.counters["ceres_max_abs_dy_to_polished"] = ceres_max_abs_dy_to_polished;
  state.counters["newton_max_abs_dy_to_polished"] = newton_max_abs_dy_to_polished;
  state.counters["polished_max_abs_dy"] = polished_max_abs_dy;
  state.counters["ceres_max_gradient"] = ceres_max_gradient;
  state.counters["newton_max_gradient"] = newton_max_gradient;
  state.counters["polished_max_gradient"] = polished_max_gradient;
  state.counters["solve_us"] = 1e6 * solve_s / examples;
  state.counters["grad_only_us"] = 1e6 * derivative_s / examples;
  state.counters["fd_only_us"] = 1e6 * fd_only_s / examples;
  state.counters["grad_over_solve"] = derivative_s / solve_s;
  state.counters["fd_over_grad"] = fd_only_s / derivative_s;
  state.counters["max_rel_err"] = max_rel_err;
  state.counters["fd_plain_rel_err"] = fd_plain_rel_err;
  state.counters["ref_err_est"] = ref_err_est;
  state.counters["checked_examples"] = kCheckedExamples;
  state.counters["mem_solve_MB"] = mem_solve;
  state.counters["mem_grad_MB"] = mem_grad;
  state.counters["mem_ratio"] = mem_solve > 0.0 ? mem_grad / mem_solve : 0.0;
}

// "TrackerFusionNewton/EXACT": the newton_example mode alone (the batch
// through BilevelExample::EvaluateLoss with InnerSolverType::NEWTON), without
// the accuracy checks and finite differences around it, for instruction
// counts:
//   valgrind --tool=callgrind tiny_problems_benchmark \
//       --benchmark_filter=TrackerFusionNewton
void TrackerFusionNewton(benchmark::State& state, HessianModel model) {
  Status status;
  std::vector<std::unique_ptr<Frame>> frames = MakeFrames(model, &status);
  if (!status.ok()) {
    state.SkipWithError(status.ToString().c_str());
    return;
  }
  double seconds = 0.0;
  for (auto _ : state) {
    const double start = Now();
    status = EvaluateLossOfFrames(frames, &Frame::newton_example);
    seconds += Now() - start;
    state.SetIterationTime(Now() - start);
    if (!status.ok()) {
      state.SkipWithError(status.ToString().c_str());
      return;
    }
  }
  state.counters["newton_example_examples_per_s"] =
      static_cast<double>(state.iterations()) * kExamples / seconds;
}

void RegisterAll() {
  for (HessianModel model : {HessianModel::EXACT, HessianModel::GAUSS_NEWTON}) {
    const std::string name = std::string("TrackerFusion/") + HessianModelToString(model);
    benchmark::RegisterBenchmark(name.c_str(), TrackerFusion, model)
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond)
        ->Iterations(5);
  }
  benchmark::RegisterBenchmark("TrackerFusionNewton/EXACT", TrackerFusionNewton,
                               HessianModel::EXACT)
      ->UseManualTime()
      ->Unit(benchmark::kMillisecond)
      ->Iterations(5);
}

}  // namespace
}  // namespace ceres_wiberg

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  ceres_wiberg::RegisterAll();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
