#include "foe_learning.h"

#include <chrono>
#include <cmath>
#include <utility>

#include "glog/logging.h"

namespace denoise_foe {
namespace {

using ceres_wiberg::BilevelExample;
using ceres_wiberg::BilevelProblem;
using ceres_wiberg::BilevelTrainingObjective;
using ceres_wiberg::InvalidArgumentError;
using ceres_wiberg::MinimiserDerivative;
using ceres_wiberg::Status;

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

Status WithPrefix(const std::string& prefix, const Status& status) {
  if (status.ok()) return status;
  return Status(status.code(), prefix + status.message());
}

Status CheckImage(const Image& image, const FieldsOfExperts& model, const std::string& name) {
  if (image.width < model.size || image.height < model.size) {
    return InvalidArgumentError(name + " (" + std::to_string(image.width) + " x " +
                                std::to_string(image.height) + ") is smaller than the " +
                                std::to_string(model.size) + " x " + std::to_string(model.size) +
                                " filters");
  }
  for (std::size_t i = 0; i < image.pixels.size(); ++i) {
    if (!std::isfinite(image.pixels[i])) {
      return InvalidArgumentError(name + ": pixel " + std::to_string(i) + " is not finite");
    }
  }
  return Status::Ok();
}

ceres::Problem::Options ProblemOptions() {
  ceres::Problem::Options options;
  // BilevelProblem asks for the residual blocks of every parameter block,
  // which Ceres answers in O(#residual blocks) without it.
  options.enable_fast_removal = true;
  return options;
}

// One pixel's term of the outer loss: r = (x - clean) / sqrt(N), so that
// 1/2 |r|^2 over the N pixels is half the mean squared error.
class PixelErrorCost : public ceres::SizedCostFunction<1, 1> {
 public:
  PixelErrorCost(double clean, double scale) : clean_(clean), scale_(scale) {}
  bool Evaluate(const double* const* parameters, double* residuals,
                double** jacobians) const override {
    residuals[0] = (parameters[0][0] - clean_) * scale_;
    if (jacobians != nullptr && jacobians[0] != nullptr) jacobians[0][0] = scale_;
    return true;
  }

 private:
  const double clean_;
  const double scale_;
};

// The outer loss of a pair: one PixelErrorCost per pixel block.
std::vector<BilevelExample::OuterLossTerm> PixelErrorTerms(const Image& clean,
                                                           FoeParameters* parameters) {
  const double scale = 1.0 / std::sqrt(static_cast<double>(clean.num_pixels()));
  std::vector<BilevelExample::OuterLossTerm> terms(clean.num_pixels());
  for (int i = 0; i < clean.num_pixels(); ++i) {
    terms[i].cost_function = new PixelErrorCost(clean.pixels[i], scale);
    terms[i].parameter_blocks = {&parameters->pixels[i]};
  }
  return terms;
}

}  // namespace

ceres::Solver::Options DenoisingSolverOptions() {
  ceres::Solver::Options options;
  options.linear_solver_type = ceres::SPARSE_NORMAL_CHOLESKY;
  options.function_tolerance = 1e-7;
  options.gradient_tolerance = 1e-10;
  options.parameter_tolerance = 1e-9;
  options.max_num_iterations = 200;
  options.num_threads = 1;
  options.logging_type = ceres::SILENT;
  return options;
}

MinimiserDerivative::Options LearningDerivativeOptions() {
  MinimiserDerivative::Options options;
  options.lambda = 0.1;
  options.damping = ceres_wiberg::DampingType::IDENTITY;
  options.hessian_model = ceres_wiberg::HessianModel::EXACT;
  options.linear_solver_type = ceres_wiberg::LinearSolverType::SPARSE;
  options.final_newton_step = true;
  options.eigenvalue_iterations = 0;
  return options;
}

Status Denoise(const Image& noisy, const FieldsOfExperts& model, double sigma,
               const ceres::Solver::Options& solver_options, Image* restored,
               ceres::Solver::Summary* summary, bool stacked) {
  Status status = model.Validate();
  if (!status.ok()) return WithPrefix("model: ", status);
  status = CheckImage(noisy, model, "noisy image");
  if (!status.ok()) return status;
  if (!(sigma > 0.0) || !std::isfinite(sigma)) {
    return InvalidArgumentError("sigma must be positive and finite");
  }
  ceres::Problem problem(ProblemOptions());
  FoeParameters parameters;
  FoeProblemOptions problem_options;
  problem_options.sigma = sigma;
  if (stacked) {
    InitialiseFoeParameters(noisy, model, problem_options, &parameters);
    BuildStackedFoeProblem(noisy, model, sigma, &parameters, &problem);
  } else {
    BuildFoeProblem(noisy, model, problem_options, &parameters, &problem);
    for (double& m : parameters.weights) problem.SetParameterBlockConstant(&m);
    for (auto& f : parameters.filters) problem.SetParameterBlockConstant(f.data());
  }
  ceres::Solver::Summary local_summary;
  if (summary == nullptr) summary = &local_summary;
  ceres::Solve(solver_options, &problem, summary);
  if (summary->termination_type == ceres::FAILURE ||
      summary->termination_type == ceres::USER_FAILURE) {
    return ceres_wiberg::NumericalFailureError("denoising failed: " + summary->message);
  }
  *restored = noisy;
  restored->pixels = parameters.pixels;
  return Status::Ok();
}

// One training pair's inner problem and its outer loss.
struct FoeTrainingObjective::Example {
  const NoisyPair* pair = nullptr;
  FoeParameters parameters;
  std::unique_ptr<ceres::Problem> problem;
  // The same energy with stacked expert blocks (Options::stacked_inner_solve).
  std::unique_ptr<ceres::Problem> solve_problem;
  std::unique_ptr<BilevelProblem> bilevel;
  std::unique_ptr<BilevelExample> example;
};

bool FoeTrainingObjective::Options::IsValid(std::string* error) const {
  if (!(sigma > 0.0) || !std::isfinite(sigma)) {
    *error = "sigma must be positive and finite";
    return false;
  }
  if (!learn_weights && !learn_filters) {
    *error = "nothing to learn: set learn_weights and/or learn_filters";
    return false;
  }
  std::string solver_error;
  if (!solver_options.IsValid(&solver_error)) {
    *error = "solver_options: " + solver_error;
    return false;
  }
  if (!derivative_options.IsValid(error)) return false;
  return true;
}

FoeTrainingObjective::FoeTrainingObjective(const Options& options, const FieldsOfExperts& model)
    : options_(options), initial_model_(model) {}

FoeTrainingObjective::~FoeTrainingObjective() = default;

Status FoeTrainingObjective::Create(const std::vector<NoisyPair>* pairs,
                                    const FieldsOfExperts& initial_model, const Options& options,
                                    std::unique_ptr<FoeTrainingObjective>* objective) {
  CHECK(pairs != nullptr);
  CHECK(objective != nullptr);
  std::string error;
  if (!options.IsValid(&error)) return InvalidArgumentError("options: " + error);
  Status status = initial_model.Validate();
  if (!status.ok()) return WithPrefix("initial model: ", status);
  if (pairs->empty()) return InvalidArgumentError("no training pairs");
  std::unique_ptr<FoeTrainingObjective> result(new FoeTrainingObjective(options, initial_model));
  const int K = initial_model.num_experts();
  result->num_parameters_ = (options.learn_weights ? K : 0) +
                            (options.learn_filters ? K * initial_model.num_taps() : 0);
  for (std::size_t i = 0; i < pairs->size(); ++i) {
    const NoisyPair& pair = (*pairs)[i];
    const std::string name = "pair " + std::to_string(i);
    status = CheckImage(pair.noisy, initial_model, name + " noisy image");
    if (!status.ok()) return status;
    status = CheckImage(pair.clean, initial_model, name + " clean image");
    if (!status.ok()) return status;
    if (pair.clean.width != pair.noisy.width || pair.clean.height != pair.noisy.height) {
      return InvalidArgumentError(name + ": clean and noisy images differ in size");
    }
    auto example = std::make_unique<Example>();
    example->pair = &pair;
    example->problem = std::make_unique<ceres::Problem>(ProblemOptions());
    FoeProblemOptions problem_options;
    problem_options.sigma = options.sigma;
    BuildFoeProblem(pair.noisy, initial_model, problem_options, &example->parameters,
                    example->problem.get());
    // The blocks not learnt are held constant (in no role).
    if (!options.learn_weights) {
      for (double& m : example->parameters.weights) {
        example->problem->SetParameterBlockConstant(&m);
      }
    }
    if (!options.learn_filters) {
      for (auto& f : example->parameters.filters) {
        example->problem->SetParameterBlockConstant(f.data());
      }
    }
    BilevelProblem::Options bilevel_options;
    bilevel_options.inner_parameter_blocks = PixelBlocks(&example->parameters);
    status = BilevelProblem::Create(
        example->problem.get(),
        LearnableBlocks(&example->parameters, options.learn_weights, options.learn_filters),
        bilevel_options, &example->bilevel);
    if (!status.ok()) return WithPrefix(name + ": ", status);
    CHECK_EQ(example->bilevel->num_learnable_parameters(), result->num_parameters_);
    BilevelExample::Options example_options;
    example_options.inner_solver_options = options.solver_options;
    example_options.derivative_options = options.derivative_options;
    example_options.warm_start = options.warm_start;
    example_options.inner_solver_type = options.inner_solver_type;
    example_options.newton_falls_back_to_ceres = true;
    example_options.newton_after_ceres = options.newton_after_ceres;
    if (options.stacked_inner_solve) {
      example->solve_problem = std::make_unique<ceres::Problem>();
      BuildStackedFoeProblem(pair.noisy, initial_model, options.sigma, &example->parameters,
                             example->solve_problem.get());
      example_options.inner_solve_problem = example->solve_problem.get();
    }
    status = BilevelExample::Create(example->bilevel.get(),
                                    PixelErrorTerms(pair.clean, &example->parameters),
                                    ceres::TAKE_OWNERSHIP, example_options, &example->example);
    if (!status.ok()) return WithPrefix(name + ": ", status);
    result->examples_.push_back(std::move(example));
  }
  std::vector<BilevelExample*> bilevel_examples;
  for (const auto& example : result->examples_) bilevel_examples.push_back(example->example.get());
  result->objective_ = std::make_unique<BilevelTrainingObjective>(std::move(bilevel_examples));
  *objective = std::move(result);
  return Status::Ok();
}

Status FoeTrainingObjective::EvaluateExample(int example_index, const Eigen::VectorXd& w,
                                             double* loss, Eigen::VectorXd* gradient) {
  Status status = Evaluate(example_index, w, loss, gradient);
  if (!status.ok()) {
    std::lock_guard<std::mutex> lock(mutex_);
    ++num_failures_;
    last_failure_ = status.ToString();
  }
  return status;
}

int FoeTrainingObjective::num_failures() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return num_failures_;
}

int FoeTrainingObjective::num_newton_finishes_converged() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return num_newton_finishes_converged_;
}

std::string FoeTrainingObjective::last_failure() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return last_failure_;
}

Status FoeTrainingObjective::Evaluate(int example_index, const Eigen::VectorXd& w, double* loss,
                                      Eigen::VectorXd* gradient) {
  CHECK_EQ(w.size(), num_parameters_);
  if (options_.learn_weights) {
    for (int k = 0; k < initial_model_.num_experts(); ++k) {
      if (!(w[k] > 0.0) || !std::isfinite(w[k])) {
        return InvalidArgumentError("example " + std::to_string(example_index) +
                                    ": weight of expert " + std::to_string(k) + " is " +
                                    std::to_string(w[k]) + " (must be positive and finite)");
      }
    }
  }
  const double start = Now();
  Status status = objective_->EvaluateExample(example_index, w, loss, gradient);
  if (!status.ok()) return status;
  const double done = Now();
  const BilevelExample& example = *examples_[example_index]->example;
  const double solve_seconds = example.last_inner_solve_seconds();
  std::lock_guard<std::mutex> lock(mutex_);
  if (options_.newton_after_ceres && example.last_newton_summary().converged) {
    ++num_newton_finishes_converged_;
  }
  solve_seconds_ += solve_seconds;
  derivative_seconds_ += (done - start) - solve_seconds;
  return Status::Ok();
}

Eigen::VectorXd FoeTrainingObjective::ParametersOf(const FieldsOfExperts& model) const {
  CHECK_EQ(model.num_parameters(), initial_model_.num_parameters());
  const Eigen::VectorXd all = model.ToVector();
  const int K = model.num_experts();
  if (options_.learn_weights && options_.learn_filters) return all;
  if (options_.learn_weights) return all.head(K);
  return all.tail(all.size() - K);
}

FieldsOfExperts FoeTrainingObjective::ModelOf(const Eigen::VectorXd& w) const {
  CHECK_EQ(w.size(), num_parameters_);
  FieldsOfExperts model = initial_model_;
  Eigen::VectorXd all = model.ToVector();
  const int K = model.num_experts();
  if (options_.learn_weights && options_.learn_filters) {
    all = w;
  } else if (options_.learn_weights) {
    all.head(K) = w;
  } else {
    all.tail(all.size() - K) = w;
  }
  model.FromVector(all);
  return model;
}

std::vector<ceres_wiberg::ParameterTransform> FoeTrainingObjective::ParameterTransforms() const {
  std::vector<ceres_wiberg::ParameterTransform> transforms(
      num_parameters_, ceres_wiberg::ParameterTransform::IDENTITY);
  if (options_.learn_weights) {
    for (int k = 0; k < initial_model_.num_experts(); ++k) {
      transforms[k] = ceres_wiberg::ParameterTransform::EXP;
    }
  }
  return transforms;
}

Status EvaluateModel(const std::vector<NoisyPair>& pairs, const FieldsOfExperts& model,
                     double sigma, const ceres::Solver::Options& solver_options,
                     PsnrResult* result, std::vector<Image>* restored, bool stacked) {
  CHECK(result != nullptr);
  const double start = Now();
  *result = PsnrResult();
  if (restored != nullptr) restored->clear();
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    Image image;
    ceres::Solver::Summary summary;
    Status status = Denoise(pairs[i].noisy, model, sigma, solver_options, &image, &summary, stacked);
    if (!status.ok()) return WithPrefix("image " + std::to_string(i) + ": ", status);
    result->psnr_noisy.push_back(Psnr(pairs[i].noisy, pairs[i].clean));
    result->psnr_restored.push_back(Psnr(image, pairs[i].clean));
    result->mean_loss += 0.5 * MeanSquaredError(image, pairs[i].clean) / pairs.size();
    result->solver_iterations.push_back(static_cast<int>(summary.iterations.size()));
    result->mean_psnr_noisy += result->psnr_noisy.back() / pairs.size();
    result->mean_psnr_restored += result->psnr_restored.back() / pairs.size();
    if (restored != nullptr) restored->push_back(std::move(image));
  }
  result->seconds = Now() - start;
  return Status::Ok();
}

}  // namespace denoise_foe
