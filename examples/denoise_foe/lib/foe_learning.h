// Learning a Fields-of-Experts model for denoising: the outer loss
// 1/2 ||x*(w) - clean||^2 / N over training pairs, with x*(w) the minimiser of
// the FoE energy (foe_energy.h) and its gradient by the library's reverse-mode
// minimiser derivative (one sparse factorisation and one solve per image,
// whatever the number of parameters).

#ifndef CERES_WIBERG_EXAMPLES_DENOISE_FOE_FOE_LEARNING_H_
#define CERES_WIBERG_EXAMPLES_DENOISE_FOE_FOE_LEARNING_H_

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "Eigen/Core"
#include "ceres/ceres.h"
#include "ceres_wiberg/bilevel_example.h"
#include "ceres_wiberg/bilevel_problem.h"
#include "ceres_wiberg/bilevel_training_objective.h"
#include "ceres_wiberg/minimiser_derivative.h"
#include "ceres_wiberg/status.h"
#include "ceres_wiberg/stochastic_learner.h"
#include "ceres_wiberg/training_objective.h"
#include "foe_energy.h"
#include "image.h"
#include "synthetic_images.h"

namespace denoise_foe {

// Ceres options of the inner (denoising) solve: LM, SPARSE_NORMAL_CHOLESKY,
// one thread, silent, function tolerance 1e-7, gradient tolerance 1e-10,
// parameter tolerance 1e-9, at most 200 iterations.
ceres::Solver::Options DenoisingSolverOptions();

// The minimiser derivative used for learning: the trust-region derivative
// with lambda = 0.1 and D = I (the paper's), EXACT Hessian, SPARSE LDL^T, a
// final damped Newton step (Ceres stops short of g = 0), no eigenvalue
// iterations. lambda > 0 because Ceres' LM often stops (function tolerance)
// where the exact Hessian of this non-convex energy is still slightly
// indefinite, where the implicit derivative (lambda = 0) does not exist.
ceres_wiberg::MinimiserDerivative::Options LearningDerivativeOptions();

// Denoises `noisy` with `model`: builds the energy, starts from the noisy
// image and solves. `summary` may be null. stacked: the energy in the form of
// BuildStackedFoeProblem (the same minimiser, LM steps and iterations up to
// round-off, a cheaper Ceres iteration) or of BuildFoeProblem. Errors: an
// invalid model, an image smaller than the filters, or a failed solve.
ceres_wiberg::Status Denoise(const Image& noisy, const FieldsOfExperts& model, double sigma,
                             const ceres::Solver::Options& solver_options, Image* restored,
                             ceres::Solver::Summary* summary, bool stacked = true);

// The training objective: example i is pair i; its loss is
//   L_i(w) = 1/2 ||x*(w) - clean_i||^2 / N_i        (N_i pixels)
// i.e. half the mean squared error of the restored image, and its gradient
// dL_i/dw = (dx*/dw)^T (x* - clean_i) / N_i by reverse mode. w is the model's
// ToVector() order restricted to the learnt blocks (weights, then filters).
class FoeTrainingObjective : public ceres_wiberg::TrainingObjective {
 public:
  struct Options {
    // Noise level of the data term (grey levels).
    double sigma = 20.0;
    // Which parameters are learnt; the others stay at the initial model's.
    bool learn_weights = true;
    bool learn_filters = true;
    // Start each solve from the example's last solution (true) or from its
    // noisy image (false).
    bool warm_start = true;
    ceres::Solver::Options solver_options = DenoisingSolverOptions();
    ceres_wiberg::MinimiserDerivative::Options derivative_options = LearningDerivativeOptions();
    // The inner solver of the learning's solves (BilevelExample): Ceres' LM
    // with solver_options, or the trust-region Newton on the exact H with its
    // default settings, falling back to Ceres (solver_options) when Newton
    // fails (e.g. far from a minimiser, where H is strongly indefinite).
    // Measured at the demo's defaults (2026-12-02, before the analytic
    // learnable-loss Hessian): NEWTON is much slower (2 of 12 learning
    // iterations in 221 s against 138.5 s for the whole CERES run), since a
    // cold solve from the noisy image spends its 50 Newton iterations (each
    // a differenced exact H) before falling back to Ceres.
    ceres_wiberg::InnerSolverType inner_solver_type = ceres_wiberg::InnerSolverType::CERES;
    // Ceres solves the energy in the form of BuildStackedFoeProblem
    // (BilevelExample::Options::inner_solve_problem): the K experts at a
    // position in one residual block, which gives the same LM iterations
    // (the Gauss-Newton model is the same) for less time each; false solves
    // the bilevel problem itself. The derivative linearises the bilevel
    // problem either way.
    bool stacked_inner_solve = true;
    // Finish each of Ceres' solves with Newton's method on the exact H
    // (BilevelExample::Options::newton_after_ceres): LM stops on its function
    // tolerance where it converges only linearly, at a point that depends on
    // round-off in its iterates; from there 4-5 Newton iterations reach
    // |g|_inf ~ 1e-12 at a strict minimum on cold solves (measured at
    // 16 x 16). Off by default: in the demo's learning it converged in 27 of
    // 36 solves, and the other 9 spent the descent's 50 iterations before
    // keeping Ceres' point (learning 70.9 s against 19.8 s; README).
    bool newton_after_ceres = false;

    bool IsValid(std::string* error) const;
  };

  // Builds one inner problem per pair (borrowed: `pairs` must outlive the
  // objective). Errors: invalid options or model, an image smaller than the
  // filters, or a noisy image with non-finite pixels (naming the pair).
  static ceres_wiberg::Status Create(const std::vector<NoisyPair>* pairs,
                                     const FieldsOfExperts& initial_model, const Options& options,
                                     std::unique_ptr<FoeTrainingObjective>* objective);
  ~FoeTrainingObjective() override;

  int num_examples() const override { return static_cast<int>(examples_.size()); }
  int num_parameters() const override { return num_parameters_; }
  // Errors: a non-positive or non-finite weight in w, a failed solve or
  // derivative (each naming the example).
  ceres_wiberg::Status EvaluateExample(int example, const Eigen::VectorXd& w, double* loss,
                                       Eigen::VectorXd* gradient) override;

  // w of a model, and the model of a w (the blocks not learnt are the
  // initial model's).
  Eigen::VectorXd ParametersOf(const FieldsOfExperts& model) const;
  FieldsOfExperts ModelOf(const Eigen::VectorXd& w) const;

  // Per-coordinate transforms for the StochasticLearner: EXP (log-weights)
  // for the weights, IDENTITY for the filter taps.
  std::vector<ceres_wiberg::ParameterTransform> ParameterTransforms() const;

  // Totals over all EvaluateExample calls so far.
  double solve_seconds() const { return solve_seconds_; }
  double derivative_seconds() const { return derivative_seconds_; }
  // Of the evaluations so far with newton_after_ceres: how many Newton
  // finishes converged (the others kept Ceres' end point).
  int num_newton_finishes_converged() const;
  // Failed evaluations so far, and the message of the last one.
  int num_failures() const;
  std::string last_failure() const;

 private:
  struct Example;
  ceres_wiberg::Status Evaluate(int example, const Eigen::VectorXd& w, double* loss,
                                Eigen::VectorXd* gradient);
  FoeTrainingObjective(const Options& options, const FieldsOfExperts& model);

  Options options_;
  FieldsOfExperts initial_model_;
  int num_parameters_ = 0;
  std::vector<std::unique_ptr<Example>> examples_;
  std::unique_ptr<ceres_wiberg::BilevelTrainingObjective> objective_;
  mutable std::mutex mutex_;  // guards the counters below
  int num_failures_ = 0;
  int num_newton_finishes_converged_ = 0;
  std::string last_failure_;
  double solve_seconds_ = 0.0;
  double derivative_seconds_ = 0.0;
};

// PSNR of the noisy images and of their restorations with a model.
struct PsnrResult {
  std::vector<double> psnr_noisy;
  std::vector<double> psnr_restored;
  double mean_psnr_noisy = 0.0;
  double mean_psnr_restored = 0.0;
  // Half the mean squared error, averaged over images (the training loss).
  double mean_loss = 0.0;
  std::vector<int> solver_iterations;
  double seconds = 0.0;
};

// Denoises every pair's noisy image from scratch (cold start) and measures
// (Denoise, `stacked` as there).
ceres_wiberg::Status EvaluateModel(const std::vector<NoisyPair>& pairs,
                                   const FieldsOfExperts& model, double sigma,
                                   const ceres::Solver::Options& solver_options,
                                   PsnrResult* result, std::vector<Image>* restored = nullptr,
                                   bool stacked = true);

}  // namespace denoise_foe

#endif  // CERES_WIBERG_EXAMPLES_DENOISE_FOE_FOE_LEARNING_H_
