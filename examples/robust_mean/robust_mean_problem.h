// The robust-mean ("RanSaC") experiment of Toso, Campbell and Russell (2019),
// Figure 1: estimate the mean of 10 inliers among 100 outliers as
//
//   t*(sigma) = argmin_t sum_i -exp(-(x_i - t)^2 / sigma^2),
//
// and learn sigma so that t* is close to the inliers' true centre.

#ifndef CERES_WIBERG_EXAMPLES_ROBUST_MEAN_PROBLEM_H_
#define CERES_WIBERG_EXAMPLES_ROBUST_MEAN_PROBLEM_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "Eigen/Core"
#include "ceres_wiberg/minimiser_derivative.h"
#include "ceres_wiberg/training_objective.h"
#include "ceres_wiberg/types.h"

namespace robust_mean {

// How the samples of one draw are generated.
enum class Protocol {
  // As the paper's text: centre c ~ U[-40, 40], 10 inliers ~ N(c, 4^2),
  // 100 outliers ~ U[-40, 40].
  kPaper,
  // As the authors' public code: c = 2, 10 inliers ~ N(2, 4^2), 100 outliers
  // ~ U[-60, 20].
  kAuthorsCode,
};
// "paper" or "authors_code"; StringToProtocol returns false for any other
// name.
const char* ProtocolToString(Protocol protocol);
bool StringToProtocol(const std::string& name, Protocol* protocol);

struct Draw {
  std::vector<double> samples;  // inliers first, then outliers
  double centre = 0.0;          // the inliers' true centre c
};

// Draw number `index` of the stream `seed`: the same (seed, index) always
// gives the same draw, so both learners see identical data.
Draw MakeDraw(Protocol protocol, uint64_t seed, int64_t index);

// E(t) = sum_i -exp(-(x_i - t)^2 / sigma^2).
double Energy(const std::vector<double>& samples, double sigma, double t);

// The sample of lowest energy E (the inner solve's seed: the global minimum
// is near one). The pairs' kernel values are evaluated once each, over the
// samples in ascending order; pairs further apart than
// sqrt(41.6 + log(n)) sigma are left out (together they add less than 2^-60
// to an energy, whose magnitude is >= 1: below its rounding). Keeps its
// buffers across calls.
class SeedSearch {
 public:
  // The index of the sample of lowest E(samples, sigma, x_i), the first
  // among equal energies; samples must not be empty.
  int Find(const std::vector<double>& samples, double sigma);

 private:
  std::vector<int> order_;  // sample indices in ascending order of value
  Eigen::ArrayXd sorted_;   // the samples in that order
  Eigen::ArrayXd energies_;
  Eigen::ArrayXd kernel_;  // one row of kernel values
};

// One example per draw: the inner problem is built with the learnable Welsch
// loss (rho = 1 - exp(-s / sigma^2) on r = t - x_i, the energy above plus a
// constant), seeded at the lowest-energy sample, solved by Ceres, finished by
// a damped Newton step (the derivative's lambda) and differentiated. The loss
// is 1/2 (t* - c)^2; w = (sigma).
//
// Structure reuse: every draw has the same structure (110 residual blocks
// over t and sigma), so by default the objective keeps its inner problems
// (one per thread that has called it: a pool) and updates the samples, the
// centre and the seed in place (BilevelExample's reuse contract), with
// results bit-identical to building a fresh problem per draw (tested).
class RobustMeanObjective : public ceres_wiberg::TrainingObjective {
 public:
  struct Options {
    // The derivative (final_newton_step is always set).
    ceres_wiberg::MinimiserDerivative::Options derivative_options;
    // How t* is found: Ceres' LM (up to 100 iterations) or the library's
    // trust-region Newton on the exact H from the same seed.
    ceres_wiberg::InnerSolverType inner_solver_type = ceres_wiberg::InnerSolverType::CERES;
    // Keep the inner problems across draws (true) or build a fresh
    // ceres::Problem, BilevelProblem and BilevelExample per draw (false).
    bool reuse_problems = true;
    // Make every draw once, in the constructor (num_draws x 110 doubles),
    // instead of at each evaluation (false).
    bool precompute_draws = false;
  };

  RobustMeanObjective(Protocol protocol, uint64_t seed, int num_draws,
                      const ceres_wiberg::MinimiserDerivative::Options& derivative_options);
  RobustMeanObjective(Protocol protocol, uint64_t seed, int num_draws, const Options& options);
  ~RobustMeanObjective() override;

  int num_examples() const override { return num_draws_; }
  int num_parameters() const override { return 1; }
  ceres_wiberg::Status EvaluateExample(int example, const Eigen::VectorXd& w, double* loss,
                                       Eigen::VectorXd* gradient) override;

  // t*(sigma) for draw `example` (the same pipeline, without the derivative).
  ceres_wiberg::Status Estimate(int example, double sigma, double* t) const;

 private:
  struct Pipeline;
  // A pipeline holding draw `example` at sigma, from the pool or new.
  ceres_wiberg::Status Acquire(int example, double sigma, std::unique_ptr<Pipeline>* pipeline) const;
  void Release(std::unique_ptr<Pipeline> pipeline) const;

  Protocol protocol_;
  uint64_t seed_;
  int num_draws_;
  Options options_;
  mutable std::mutex pool_mutex_;
  mutable std::vector<std::unique_ptr<Pipeline>> pool_;
  std::vector<Draw> draws_;  // with precompute_draws only
};

}  // namespace robust_mean

#endif  // CERES_WIBERG_EXAMPLES_ROBUST_MEAN_PROBLEM_H_
