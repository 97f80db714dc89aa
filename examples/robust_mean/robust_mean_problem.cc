#include "robust_mean_problem.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <random>

#include "Eigen/Core"
#include "ceres/ceres.h"
#include "ceres_wiberg/bilevel_example.h"
#include "ceres_wiberg/bilevel_problem.h"
#include "ceres_wiberg/learnable_loss.h"
#include "ceres_wiberg/linear_cost_function.h"
#include "ceres_wiberg/enum_names.h"
#include "glog/logging.h"

namespace robust_mean {
namespace {

using ceres_wiberg::Status;

constexpr int kInliers = 10;
constexpr int kOutliers = 100;
constexpr double kInlierStdDev = 4.0;

// r = t - x, x read where the pipeline keeps it (updated in place per draw).
struct Offset {
  explicit Offset(const double* x) : x(x) {}
  template <typename T>
  bool operator()(const T* t, T* r) const {
    r[0] = t[0] - T(*x);
    return true;
  }
  const double* x;
};

constexpr int kSamples = kInliers + kOutliers;

// exp(-41.6) < 2^-60: kernel values beyond are below the energies' rounding.
constexpr double kNegligibleExponent = 41.6;

}  // namespace

const char* ProtocolToString(Protocol protocol) {
  return protocol == Protocol::kPaper ? "paper" : "authors_code";
}

bool StringToProtocol(const std::string& name, Protocol* protocol) {
  return ceres_wiberg::StringToEnum(name, {Protocol::kPaper, Protocol::kAuthorsCode},
                                ProtocolToString, protocol);
}

Draw MakeDraw(Protocol protocol, uint64_t seed, int64_t index) {
  std::seed_seq seq{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32),
                    static_cast<uint32_t>(index), static_cast<uint32_t>(index >> 32)};
  std::mt19937_64 rng(seq);
  Draw draw;
  double outlier_low = -40.0, outlier_high = 40.0;
  if (protocol == Protocol::kPaper) {
    draw.centre = std::uniform_real_distribution<double>(-40.0, 40.0)(rng);
  } else {
    draw.centre = 2.0;
    outlier_low = -60.0;
    outlier_high = 20.0;
  }
  std::normal_distribution<double> inlier(draw.centre, kInlierStdDev);
  std::uniform_real_distribution<double> outlier(outlier_low, outlier_high);
  for (int i = 0; i < kInliers; ++i) draw.samples.push_back(inlier(rng));
  for (int i = 0; i < kOutliers; ++i) draw.samples.push_back(outlier(rng));
  return draw;
}

double Energy(const std::vector<double>& samples, double sigma, double t) {
  double energy = 0.0;
  for (double x : samples) energy -= std::exp(-(x - t) * (x - t) / (sigma * sigma));
  return energy;
}

int SeedSearch::Find(const std::vector<double>& samples, double sigma) {
  const int n = static_cast<int>(samples.size());
  CHECK_GT(n, 0);
  // E at every sample, vectorised (Eigen's exp; the 110 x 110 kernel values
  // were 11% of a draw's instructions with std::exp). The kernel is
  // symmetric: each pair is evaluated once and added to both energies
  // (exp(0) = 1 to each its own). Pairs with (x_i - x_j)^2 / sigma^2 above
  // kNegligibleExponent + log(n) add less than 2^-60 in all to each energy
  // (of magnitude >= 1): over the samples in ascending order, each one's
  // partners are the next few, up to that distance.
  order_.resize(n);
  for (int i = 0; i < n; ++i) order_[i] = i;
  std::sort(order_.begin(), order_.end(), [&](int a, int b) {
    return samples[a] != samples[b] ? samples[a] < samples[b] : a < b;
  });
  sorted_.resize(n);
  kernel_.resize(n);
  for (int i = 0; i < n; ++i) sorted_[i] = samples[order_[i]];
  const double inverse_variance = 1.0 / (sigma * sigma);
  const double cutoff = kNegligibleExponent + std::log(static_cast<double>(n));
  energies_.setConstant(n, -1.0);
  int end = 0;
  for (int i = 0; i + 1 < n; ++i) {
    end = std::max(end, i + 1);
    while (end < n && (sorted_[end] - sorted_[i]) * (sorted_[end] - sorted_[i]) *
                              inverse_variance <
                          cutoff) {
      ++end;
    }
    const int partners = end - i - 1;
    auto k = kernel_.head(partners);
    k = (-(sorted_.segment(i + 1, partners) - sorted_[i]).square() * inverse_variance).exp();
    energies_[i] -= k.sum();
    energies_.segment(i + 1, partners) -= k;
  }
  // The lowest energy, the first sample among equal ones (as a scan in
  // sample order).
  int best = 0;
  for (int i = 1; i < n; ++i) {
    if (energies_[i] < energies_[best] ||
        (energies_[i] == energies_[best] && order_[i] < order_[best])) {
      best = i;
    }
  }
  return order_[best];
}

// Everything one evaluation needs: the inner problem over t with the
// learnable width sigma, and the outer loss t - c. The structure is built
// once; Reset puts a draw's data and seed in place.
struct RobustMeanObjective::Pipeline {
  explicit Pipeline(const Options& objective_options) : samples(kSamples, 0.0) {
    for (const double& x : samples) {
      problem.AddResidualBlock(
          new ceres_wiberg::LearnableLossCostFunction(
              // t - x_i is affine in t: declared, so that no second
              // derivative of it is ever evaluated.
              new ceres_wiberg::LinearCostFunction(
                  new ceres::AutoDiffCostFunction<Offset, 1, 1>(new Offset(&x))),
              ceres_wiberg::LearnableLossType::WELSCH, /*has_weight_block=*/false),
          nullptr, &t, &sigma);
    }
    status = ceres_wiberg::BilevelProblem::Create(&problem, {&sigma}, &bilevel);
    if (!status.ok()) return;
    ceres_wiberg::BilevelExample::Options options;
    options.derivative_options = objective_options.derivative_options;
    options.derivative_options.final_newton_step = true;
    options.warm_start = false;  // every call starts from the seed Reset sets
    options.inner_solver_options.max_num_iterations = 100;
    options.inner_solver_type = objective_options.inner_solver_type;
    status = ceres_wiberg::BilevelExample::Create(
        bilevel.get(), new ceres::AutoDiffCostFunction<Offset, 1, 1>(new Offset(&centre)),
        ceres::TAKE_OWNERSHIP, {&t}, options, &example);
  }

  // Draw `draw` at sigma_value, seeded at the sample of lowest energy (the
  // global minimum is near one).
  void Reset(const Draw& draw, double sigma_value) {
    CHECK_EQ(draw.samples.size(), samples.size());
    std::copy(draw.samples.begin(), draw.samples.end(), samples.begin());
    centre = draw.centre;
    sigma = sigma_value;
    t = samples[seed_search.Find(samples, sigma)];
    example->RestartFromCurrentValues();
  }

  std::vector<double> samples;  // read by the residuals' Offset functors
  SeedSearch seed_search;
  double centre = 0.0;          // read by the outer loss
  double t = 0.0;
  double sigma = 1.0;
  ceres::Problem problem;
  std::unique_ptr<ceres_wiberg::BilevelProblem> bilevel;
  std::unique_ptr<ceres_wiberg::BilevelExample> example;
  Status status;
};

RobustMeanObjective::RobustMeanObjective(
    Protocol protocol, uint64_t seed, int num_draws,
    const ceres_wiberg::MinimiserDerivative::Options& derivative_options)
    : RobustMeanObjective(protocol, seed, num_draws, Options{derivative_options}) {}

RobustMeanObjective::RobustMeanObjective(Protocol protocol, uint64_t seed, int num_draws,
                                         const Options& options)
    : protocol_(protocol), seed_(seed), num_draws_(num_draws), options_(options) {
  if (options.precompute_draws) {
    draws_.reserve(num_draws);
    for (int i = 0; i < num_draws; ++i) draws_.push_back(MakeDraw(protocol, seed, i));
  }
}

RobustMeanObjective::~RobustMeanObjective() = default;

Status RobustMeanObjective::Acquire(int example, double sigma,
                                    std::unique_ptr<Pipeline>* pipeline) const {
  if (options_.reuse_problems) {
    std::lock_guard<std::mutex> lock(pool_mutex_);
    if (!pool_.empty()) {
      *pipeline = std::move(pool_.back());
      pool_.pop_back();
    }
  }
  if (*pipeline == nullptr) {
    *pipeline = std::make_unique<Pipeline>(options_);
    if (!(*pipeline)->status.ok()) return (*pipeline)->status;
  }
  if (example >= 0 && example < static_cast<int>(draws_.size())) {
    (*pipeline)->Reset(draws_[example], sigma);
  } else {
    (*pipeline)->Reset(MakeDraw(protocol_, seed_, example), sigma);
  }
  return Status::Ok();
}

void RobustMeanObjective::Release(std::unique_ptr<Pipeline> pipeline) const {
  if (!options_.reuse_problems) return;
  std::lock_guard<std::mutex> lock(pool_mutex_);
  pool_.push_back(std::move(pipeline));
}

Status RobustMeanObjective::EvaluateExample(int example, const Eigen::VectorXd& w, double* loss,
                                            Eigen::VectorXd* gradient) {
  if (!(w[0] != 0.0) || !std::isfinite(w[0])) {
    return ceres_wiberg::InvalidArgumentError("sigma must be finite and non-zero");
  }
  std::unique_ptr<Pipeline> pipeline;
  Status status = Acquire(example, w[0], &pipeline);
  if (status.ok()) status = pipeline->example->EvaluateLoss(w, loss, gradient);
  if (pipeline != nullptr && pipeline->status.ok()) Release(std::move(pipeline));
  return status;
}

Status RobustMeanObjective::Estimate(int example, double sigma, double* t) const {
  std::unique_ptr<Pipeline> pipeline;
  Status status = Acquire(example, sigma, &pipeline);
  if (status.ok()) {
    Eigen::VectorXd residual;
    status = pipeline->example->Evaluate(Eigen::VectorXd::Constant(1, sigma), &residual, nullptr);
    *t = pipeline->t;
  }
  if (pipeline != nullptr && pipeline->status.ok()) Release(std::move(pipeline));
  return status;
}

}  // namespace robust_mean
