// Learning a Fields-of-Experts denoiser (the energy of Ceres Solver's
// examples/denoising.cc) by differentiating its minimiser: the expert weights
// and filter coefficients are learnt on synthetic images (sigma = 20 Gaussian
// noise) with the outer loss ||x* - clean||^2, then compared with the initial
// model on held-out images. See README.md.
//
//   build/examples/denoise_foe/denoise_foe --output_dir=out/denoise_foe \
//       --output_json=out/denoise_foe/denoise_foe.json

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "ceres_wiberg/stochastic_learner.h"
#include "ceres_wiberg/types.h"
#include "common/gnuplot.h"
#include "common/output_paths.h"
#include "foe_energy.h"
#include "foe_learning.h"
#include "gflags/gflags.h"
#include "image.h"
#include "nlohmann/json.hpp"
#include "synthetic_images.h"

DEFINE_string(foe_file, "../shared/data/ceres_foe/5x5.foe",
              "Initial model (Ceres .foe file); if absent, the documented default "
              "(eight 3x3 derivative filters).");
DEFINE_string(noisy_image, "../shared/data/ceres_foe/ceres_noisy.pgm",
              "A noisy PGM denoised with both models when --output_dir is set (skipped if "
              "absent).");
DEFINE_int32(noisy_crop, 40,
             "Denoise the central N x N crop of --noisy_image (0: the whole image, which "
             "takes tens of CPU minutes with the 5x5 model).");
DEFINE_string(output_dir, "",
              "Write images (PGM, and PNG if gnuplot is found) and the "
              "learnt model here; empty: none.");
DEFINE_string(output_json, "", "Write the results here (JSON, atomically); empty: none.");
DEFINE_double(sigma, 20.0, "Noise standard deviation (grey levels, 0..255).");
DEFINE_int32(train_images, 3, "Synthetic training images.");
DEFINE_int32(train_size, 16, "Side of the training images (pixels).");
DEFINE_int32(test_images, 4, "Held-out synthetic test images.");
DEFINE_int32(test_size, 24, "Side of the test images (pixels).");
DEFINE_uint64(seed, 1, "Seed of the training images (test images: seed + 1000000).");
DEFINE_int32(iterations, 12, "Outer (learning) iterations.");
DEFINE_int32(batch_size, 3, "Images per outer iteration.");
DEFINE_string(optimiser, "ADAM", "SGD, SGD_MOMENTUM, AVERAGED_SGD or ADAM.");
DEFINE_double(learning_rate, 0.01, "Step size on log-weights and filter taps.");
DEFINE_double(lambda, 1.0, "Damping of the minimiser derivative (0: the implicit derivative).");
DEFINE_string(damping, "IDENTITY", "D of the damped derivative: IDENTITY or HESSIAN_DIAGONAL.");
DEFINE_string(hessian, "EXACT", "Hessian model of the derivative: EXACT or GAUSS_NEWTON.");
DEFINE_double(inner_function_tolerance, 1e-7, "Ceres function tolerance of every inner solve.");
DEFINE_int32(inner_max_iterations, 200, "Ceres iteration limit of every inner solve.");
DEFINE_string(inner_solver, "CERES",
              "Inner solver of the learning: CERES (Levenberg-Marquardt) or NEWTON (trust-region "
              "Newton on the exact H, falling back to CERES where it fails).");
DEFINE_bool(stacked_inner_solve, true,
            "Ceres solves the energy with the experts at a position stacked in one residual "
            "block (same iterations and minimiser, less time per iteration); false: one "
            "residual block per expert and position, as the derivative sees the energy.");
DEFINE_bool(newton_after_ceres, false,
            "Finish each of the learning's Ceres solves with Newton's method on the exact "
            "Hessian (to round-off at a strict minimum; Ceres' end point is kept where it "
            "fails).");
DEFINE_bool(evaluate_training_images, false,
            "Also denoise the training images from scratch with both models (slower).");
DEFINE_bool(learn_weights, true, "Learn the expert weights (as log-weights).");
DEFINE_bool(learn_filters, true, "Learn the filter coefficients.");
DEFINE_int32(num_threads, 1, "Threads evaluating the images of a minibatch.");

namespace {

using denoise_foe::FieldsOfExperts;
using denoise_foe::FoeTrainingObjective;
using denoise_foe::Image;
using denoise_foe::NoisyPair;
using denoise_foe::PsnrResult;

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

bool Fail(const std::string& what, const ceres_wiberg::Status& status) {
  if (status.ok()) return false;
  std::fprintf(stderr, "%s: %s\n", what.c_str(), status.ToString().c_str());
  return true;
}

// ---------------------------------------------------------------------------
// Inputs: the flags, the initial model and the synthetic images.

struct Inputs {
  FieldsOfExperts initial;
  std::string model_name;
  std::vector<NoisyPair> train;
  std::vector<NoisyPair> test;
  // The (central crop of the) --noisy_image to denoise after learning; empty
  // when there is none. Read before the long work, so a bad file fails fast.
  Image noisy_image;
};

// Reads --noisy_image, if given and present, and crops it to --noisy_crop.
bool ReadNoisyImage(Image* image) {
  if (FLAGS_output_dir.empty() || FLAGS_noisy_image.empty() ||
      !std::filesystem::exists(FLAGS_noisy_image)) {
    return true;
  }
  Image noisy;
  if (Fail("reading " + FLAGS_noisy_image, denoise_foe::ReadPgm(FLAGS_noisy_image, &noisy))) {
    return false;
  }
  if (FLAGS_noisy_crop > 0 &&
      (FLAGS_noisy_crop < noisy.width || FLAGS_noisy_crop < noisy.height)) {
    const int width = std::min(FLAGS_noisy_crop, noisy.width);
    const int height = std::min(FLAGS_noisy_crop, noisy.height);
    const int x0 = (noisy.width - width) / 2, y0 = (noisy.height - height) / 2;
    Image crop(width, height);
    for (int y = 0; y < height; ++y) {
      for (int x = 0; x < width; ++x) crop.at(x, y) = noisy.at(x0 + x, y0 + y);
    }
    std::printf("central %dx%d crop of %s (%dx%d)\n", width, height, FLAGS_noisy_image.c_str(),
                noisy.width, noisy.height);
    noisy = std::move(crop);
  }
  *image = std::move(noisy);
  return true;
}

bool ReadInputs(Inputs* inputs) {
  if (FLAGS_train_images < 1 || FLAGS_test_images < 1 || FLAGS_batch_size < 1 ||
      FLAGS_iterations < 0 || !(FLAGS_sigma > 0.0)) {
    std::fprintf(stderr,
                 "need --train_images, --test_images, --batch_size >= 1, "
                 "--iterations >= 0 and --sigma > 0\n");
    return false;
  }
  if (!FLAGS_output_dir.empty() &&
      Fail("output", examples::PrepareOutputDirectory("--output_dir", FLAGS_output_dir))) {
    return false;
  }
  if (!FLAGS_output_json.empty() &&
      Fail("output", examples::CheckOutputFile("--output_json", FLAGS_output_json))) {
    return false;
  }
  if (!FLAGS_foe_file.empty() && std::filesystem::exists(FLAGS_foe_file)) {
    if (Fail("reading the model",
             denoise_foe::ReadFieldsOfExperts(FLAGS_foe_file, &inputs->initial))) {
      return false;
    }
    inputs->model_name = FLAGS_foe_file;
    std::printf("initial model: %s (%d experts, %dx%d filters)\n", FLAGS_foe_file.c_str(),
                inputs->initial.num_experts(), inputs->initial.size, inputs->initial.size);
  } else {
    inputs->initial = denoise_foe::DefaultFieldsOfExperts();
    inputs->model_name = "default (eight 3x3 derivative filters)";
    std::printf(
        "initial model: %s not found, using the default: eight 3x3 derivative "
        "filters\n",
        FLAGS_foe_file.c_str());
  }
  if (Fail("initial model", inputs->initial.Validate())) return false;

  denoise_foe::SyntheticImageOptions train_options;
  train_options.width = train_options.height = FLAGS_train_size;
  denoise_foe::SyntheticImageOptions test_options = train_options;
  test_options.width = test_options.height = FLAGS_test_size;
  std::string error;
  if (!train_options.IsValid(&error) || !test_options.IsValid(&error)) {
    std::fprintf(stderr, "image options: %s\n", error.c_str());
    return false;
  }
  inputs->train =
      denoise_foe::MakeNoisyPairs(train_options, FLAGS_train_images, FLAGS_seed, FLAGS_sigma);
  inputs->test = denoise_foe::MakeNoisyPairs(test_options, FLAGS_test_images,
                                             FLAGS_seed + 1000000, FLAGS_sigma);
  std::printf("data: %d training images %dx%d, %d test images %dx%d, noise sigma %g\n",
              FLAGS_train_images, FLAGS_train_size, FLAGS_train_size, FLAGS_test_images,
              FLAGS_test_size, FLAGS_test_size, FLAGS_sigma);
  return ReadNoisyImage(&inputs->noisy_image);
}

// ---------------------------------------------------------------------------
// Learning.

struct Learning {
  FoeTrainingObjective::Options objective_options;
  std::unique_ptr<FoeTrainingObjective> objective;
  ceres_wiberg::StochasticLearner::Options learner_options;
  ceres_wiberg::StochasticLearner::Summary summary;
  std::vector<double> losses;  // per iteration, the minibatch loss
  FieldsOfExperts learned;
  double seconds = 0.0;
};

// The training objective and the learner's options from the flags.
bool SetUpLearning(const Inputs& inputs, Learning* learning) {
  FoeTrainingObjective::Options& objective_options = learning->objective_options;
  objective_options.sigma = FLAGS_sigma;
  objective_options.learn_weights = FLAGS_learn_weights;
  objective_options.learn_filters = FLAGS_learn_filters;
  objective_options.derivative_options.lambda = FLAGS_lambda;
  if (!ceres_wiberg::StringToDampingType(FLAGS_damping,
                                         &objective_options.derivative_options.damping)) {
    std::fprintf(stderr, "unknown --damping %s\n", FLAGS_damping.c_str());
    return false;
  }
  if (!ceres_wiberg::StringToHessianModel(FLAGS_hessian,
                                          &objective_options.derivative_options.hessian_model)) {
    std::fprintf(stderr, "unknown --hessian %s\n", FLAGS_hessian.c_str());
    return false;
  }
  objective_options.solver_options.function_tolerance = FLAGS_inner_function_tolerance;
  objective_options.solver_options.max_num_iterations = FLAGS_inner_max_iterations;
  objective_options.stacked_inner_solve = FLAGS_stacked_inner_solve;
  objective_options.newton_after_ceres = FLAGS_newton_after_ceres;
  if (!ceres_wiberg::StringToInnerSolverType(FLAGS_inner_solver,
                                             &objective_options.inner_solver_type)) {
    std::fprintf(stderr, "unknown --inner_solver %s\n", FLAGS_inner_solver.c_str());
    return false;
  }
  if (Fail("training objective",
           FoeTrainingObjective::Create(&inputs.train, inputs.initial, objective_options,
                                        &learning->objective))) {
    return false;
  }
  ceres_wiberg::StochasticLearner::Options& learner_options = learning->learner_options;
  if (!ceres_wiberg::StringToStochasticOptimiser(FLAGS_optimiser, &learner_options.optimiser)) {
    std::fprintf(stderr, "unknown --optimiser %s\n", FLAGS_optimiser.c_str());
    return false;
  }
  learner_options.learning_rate = FLAGS_learning_rate;
  learner_options.batch_size = std::min(FLAGS_batch_size, FLAGS_train_images);
  learner_options.num_epochs = 0;
  learner_options.num_threads = FLAGS_num_threads;
  learner_options.seed = FLAGS_seed;
  learner_options.parameter_transforms = learning->objective->ParameterTransforms();
  learner_options.skip_failed_examples = true;
  learner_options.checkpoint_path = "";
  std::vector<double>* losses = &learning->losses;
  const FoeTrainingObjective* objective = learning->objective.get();
  learner_options.iteration_callback = [losses,
                                        objective](const ceres_wiberg::IterationRecord& record) {
    losses->push_back(record.loss);
    std::printf("  iteration %3d  loss %.4f (train PSNR %.2f dB)  |g| %.3e%s\n", record.iteration,
                record.loss, 10.0 * std::log10(255.0 * 255.0 / (2.0 * record.loss)),
                record.gradient_norm,
                record.num_skipped_examples > 0
                    ? ("  skipped " + std::to_string(record.num_skipped_examples)).c_str()
                    : "");
    if (record.num_skipped_examples > 0) {
      std::printf("    last failure: %s\n", objective->last_failure().c_str());
    }
    std::fflush(stdout);
    return true;
  };
  learner_options.max_iterations = std::max(1, FLAGS_iterations);  // 0: no learning, below
  std::string error;
  if (!learner_options.IsValid(&error)) {
    std::fprintf(stderr, "learner options: %s\n", error.c_str());
    return false;
  }
  return true;
}

// Learns from the initial model (nothing with --iterations=0).
bool Train(const Inputs& inputs, Learning* learning) {
  if (!SetUpLearning(inputs, learning)) return false;
  const FoeTrainingObjective& objective = *learning->objective;
  std::printf(
      "learning %d parameters (%s%s) with %s, lr %g, %d iterations, batch %d, "
      "lambda %g\n",
      objective.num_parameters(), FLAGS_learn_weights ? "log-weights " : "",
      FLAGS_learn_filters ? "filters" : "", FLAGS_optimiser.c_str(), FLAGS_learning_rate,
      FLAGS_iterations, learning->learner_options.batch_size, FLAGS_lambda);
  Eigen::VectorXd w = objective.ParametersOf(inputs.initial);
  ceres_wiberg::StochasticLearner learner(learning->learner_options);
  const double start = Now();
  if (FLAGS_iterations > 0) {
    if (Fail("learning", learner.Learn(learning->objective.get(), &w, &learning->summary))) {
      return false;
    }
    std::printf("%s\n", learning->summary.BriefReport().c_str());
    if (objective.num_failures() > 0) {
      std::printf("%d image evaluations failed and were skipped; last: %s\n",
                  objective.num_failures(), objective.last_failure().c_str());
    }
  }
  learning->seconds = Now() - start;
  learning->learned = objective.ModelOf(w);
  return true;
}

// ---------------------------------------------------------------------------
// Evaluation: cold denoising of the held-out (and optionally the training)
// images with both models.

struct Evaluation {
  PsnrResult train_initial, train_learned, test_initial, test_learned;
  std::vector<Image> test_initial_images, test_learned_images;
  double seconds() const {
    return train_initial.seconds + train_learned.seconds + test_initial.seconds +
           test_learned.seconds;
  }
};

bool Evaluate(const Inputs& inputs, const Learning& learning, Evaluation* evaluation) {
  const ceres::Solver::Options& solver_options = learning.objective_options.solver_options;
  if (FLAGS_evaluate_training_images &&
      (Fail("evaluation", denoise_foe::EvaluateModel(inputs.train, inputs.initial, FLAGS_sigma,
                                                     solver_options, &evaluation->train_initial,
                                                     nullptr, FLAGS_stacked_inner_solve)) ||
       Fail("evaluation", denoise_foe::EvaluateModel(inputs.train, learning.learned, FLAGS_sigma,
                                                     solver_options,
                                                     &evaluation->train_learned, nullptr,
                                                     FLAGS_stacked_inner_solve)))) {
    return false;
  }
  return !Fail("evaluation", denoise_foe::EvaluateModel(inputs.test, inputs.initial, FLAGS_sigma,
                                                        solver_options, &evaluation->test_initial,
                                                        &evaluation->test_initial_images,
                                                        FLAGS_stacked_inner_solve)) &&
         !Fail("evaluation", denoise_foe::EvaluateModel(inputs.test, learning.learned, FLAGS_sigma,
                                                        solver_options, &evaluation->test_learned,
                                                        &evaluation->test_learned_images,
                                                        FLAGS_stacked_inner_solve));
}

void PrintReport(const Learning& learning, const Evaluation& evaluation) {
  const PsnrResult& initial = evaluation.test_initial;
  const PsnrResult& learned = evaluation.test_learned;
  std::printf("\nheld-out PSNR (dB), %d synthetic %dx%d images, sigma %g:\n", FLAGS_test_images,
              FLAGS_test_size, FLAGS_test_size, FLAGS_sigma);
  std::printf("%-7s %9s %9s %9s %9s\n", "image", "noisy", "initial", "learned", "gain");
  for (int i = 0; i < FLAGS_test_images; ++i) {
    std::printf("%-7d %9.2f %9.2f %9.2f %+9.2f\n", i, initial.psnr_noisy[i],
                initial.psnr_restored[i], learned.psnr_restored[i],
                learned.psnr_restored[i] - initial.psnr_restored[i]);
  }
  std::printf("%-7s %9.2f %9.2f %9.2f %+9.2f\n", "mean", initial.mean_psnr_noisy,
              initial.mean_psnr_restored, learned.mean_psnr_restored,
              learned.mean_psnr_restored - initial.mean_psnr_restored);
  if (FLAGS_evaluate_training_images) {
    std::printf(
        "training images: mean PSNR noisy %.2f, initial %.2f, learned %.2f; "
        "loss %.4f -> %.4f\n",
        evaluation.train_initial.mean_psnr_noisy, evaluation.train_initial.mean_psnr_restored,
        evaluation.train_learned.mean_psnr_restored, evaluation.train_initial.mean_loss,
        evaluation.train_learned.mean_loss);
  }
  std::printf(
      "time: learning %.1f s (inner solves %.1f s, derivatives %.1f s), evaluation "
      "%.1f s\n",
      learning.seconds, learning.objective->solve_seconds(),
      learning.objective->derivative_seconds(), evaluation.seconds());
  if (FLAGS_newton_after_ceres && FLAGS_iterations > 0) {
    std::printf("Newton finish converged in %d of the learning's %d solves\n",
                learning.objective->num_newton_finishes_converged(),
                static_cast<int>(learning.summary.num_iterations * learning.learner_options.batch_size));
  }
}

// ---------------------------------------------------------------------------
// Outputs: images (PGM, and PNG through gnuplot), the learnt model, JSON.

struct ImageOutputs {
  nlohmann::json files = nlohmann::json::array();
  nlohmann::json noisy_image = nullptr;
  double seconds = 0.0;
};

// A PNG of `image` through gnuplot (grey palette, 0..255, 3x enlarged below
// 256 pixels wide); its data and script are removed once it is drawn.
ceres_wiberg::Status WritePng(const Image& image, const std::string& name) {
  std::string data;
  char buffer[32];
  for (int y = 0; y < image.height; ++y) {
    for (int x = 0; x < image.width; ++x) {
      const double v = std::min(255.0, std::max(0.0, image.at(x, y)));
      std::snprintf(buffer, sizeof(buffer), x + 1 < image.width ? "%.1f " : "%.1f\n", v);
      data += buffer;
    }
  }
  const int scale = image.width < 256 ? 3 : 1;
  examples::GnuplotFigure figure;
  figure.data_files = {{name + ".dat", data}};
  figure.width = scale * image.width;
  figure.height = scale * image.height;
  figure.keep_sources = false;
  figure.script =
      "set lmargin 0\nset rmargin 0\nset tmargin 0\nset bmargin 0\n"
      "unset key\nunset tics\nunset border\nunset colorbox\n"
      "set palette grey\nset cbrange [0:255]\n"
      "set xrange [-0.5:" + std::to_string(image.width) + "-0.5]\nset yrange [" +
      std::to_string(image.height) + "-0.5:-0.5]\n"
      "plot " + examples::GnuplotQuote(name + ".dat") + " matrix with image\n";
  return examples::DrawFigure(FLAGS_output_dir, name, figure);
}

// Writes <dir>/<name>.pgm (and .png); returns the PGM path or "" on failure.
std::string WriteImage(const std::string& name, const Image& image, bool png,
                       ImageOutputs* outputs) {
  const std::string pgm = FLAGS_output_dir + "/" + name + ".pgm";
  if (Fail("writing " + pgm, denoise_foe::WritePgm(pgm, image))) return "";
  outputs->files.push_back(pgm);
  if (png) {
    const std::string png_path = FLAGS_output_dir + "/" + name + ".png";
    if (WritePng(image, name).ok()) {
      outputs->files.push_back(png_path);
    } else {
      std::fprintf(stderr, "gnuplot could not write %s (the PGM is there)\n", png_path.c_str());
    }
  }
  return pgm;
}

Image Concatenate(const std::vector<Image>& images, int gap) {
  int width = 0, height = 0;
  for (const Image& image : images) {
    width += image.width + gap;
    height = std::max(height, image.height);
  }
  Image result(width - gap, height, 255.0);
  int left = 0;
  for (const Image& image : images) {
    for (int y = 0; y < image.height; ++y) {
      for (int x = 0; x < image.width; ++x) result.at(left + x, y) = image.at(x, y);
    }
    left += image.width + gap;
  }
  return result;
}

// Denoises the --noisy_image read with the inputs with both models.
bool DenoiseNoisyImage(const FieldsOfExperts& initial, const Learning& learning,
                       const Image& noisy, bool png, ImageOutputs* outputs) {
  std::printf("denoising %s (%dx%d) with both models...\n", FLAGS_noisy_image.c_str(),
              noisy.width, noisy.height);
  std::fflush(stdout);
  outputs->noisy_image = {{"path", FLAGS_noisy_image},
                          {"width", noisy.width},
                          {"height", noisy.height},
                          {"central_crop", FLAGS_noisy_crop}};
  WriteImage("ceres_noisy", noisy, png, outputs);
  for (const auto& [name, model] :
       {std::pair<const char*, const FieldsOfExperts*>{"initial", &initial},
        {"learned", &learning.learned}}) {
    Image restored;
    ceres::Solver::Summary summary;
    const double start = Now();
    if (Fail("denoising",
             denoise_foe::Denoise(noisy, *model, FLAGS_sigma,
                                  learning.objective_options.solver_options, &restored,
                                  &summary, FLAGS_stacked_inner_solve))) {
      return false;
    }
    const double seconds = Now() - start;
    std::printf("  %s model: %d iterations, %.1f s, %s\n", name,
                static_cast<int>(summary.iterations.size()), seconds,
                ceres::TerminationTypeToString(summary.termination_type));
    WriteImage(std::string("ceres_denoised_") + name, restored, png, outputs);
    outputs->noisy_image[name] = {
        {"iterations", summary.iterations.size()},
        {"seconds", seconds},
        {"termination", ceres::TerminationTypeToString(summary.termination_type)}};
  }
  return true;
}

// The learnt model, the filters, test image 0 and --noisy_image, denoised.
bool WriteImages(const Inputs& inputs, const Learning& learning, const Evaluation& evaluation,
                 ImageOutputs* outputs) {
  const double start = Now();  // --output_dir was created by ReadInputs
  const bool png = examples::GnuplotOnPath();
  if (!png) std::printf("gnuplot not on PATH: writing PGM images only\n");
  if (Fail("writing the model",
           denoise_foe::WriteFieldsOfExperts(FLAGS_output_dir + "/learned.foe",
                                             learning.learned))) {
    return false;
  }
  outputs->files.push_back(FLAGS_output_dir + "/learned.foe");
  for (const auto& [name, model] :
       {std::pair<const char*, const FieldsOfExperts*>{"filters_initial", &inputs.initial},
        {"filters_learned", &learning.learned}}) {
    WriteImage(name,
               denoise_foe::FilterMosaic(model->size, model->x_offsets, model->y_offsets,
                                         model->filters),
               png, outputs);
  }
  // Test image 0: clean | noisy | initial | learned.
  WriteImage("test0_clean_noisy_initial_learned",
             Concatenate({inputs.test[0].clean, inputs.test[0].noisy,
                          evaluation.test_initial_images[0], evaluation.test_learned_images[0]},
                         4),
             png, outputs);
  if (inputs.noisy_image.num_pixels() > 0) {
    if (!DenoiseNoisyImage(inputs.initial, learning, inputs.noisy_image, png, outputs)) {
      return false;
    }
  } else {
    std::printf("%s: skipping Ceres' noisy image\n",
                FLAGS_noisy_image.empty() ? "no --noisy_image"
                                          : (FLAGS_noisy_image + " not found").c_str());
  }
  outputs->seconds = Now() - start;
  std::printf("images written to %s\n", FLAGS_output_dir.c_str());
  return true;
}

bool WriteJson(const Inputs& inputs, const Learning& learning, const Evaluation& evaluation,
               const ImageOutputs& images, double total_seconds, double cpu_seconds) {
  nlohmann::json json;
  json["model"] = inputs.model_name;
  json["num_experts"] = inputs.initial.num_experts();
  json["filter_size"] = inputs.initial.size;
  json["num_parameters"] = learning.objective->num_parameters();
  json["learn_weights"] = FLAGS_learn_weights;
  json["learn_filters"] = FLAGS_learn_filters;
  json["sigma"] = FLAGS_sigma;
  json["train"] = {
      {"images", FLAGS_train_images}, {"size", FLAGS_train_size}, {"seed", FLAGS_seed}};
  if (FLAGS_evaluate_training_images) {
    json["train"]["loss_initial"] = evaluation.train_initial.mean_loss;
    json["train"]["loss_learned"] = evaluation.train_learned.mean_loss;
    json["train"]["psnr_noisy"] = evaluation.train_initial.mean_psnr_noisy;
    json["train"]["psnr_initial"] = evaluation.train_initial.mean_psnr_restored;
    json["train"]["psnr_learned"] = evaluation.train_learned.mean_psnr_restored;
  }
  json["learner"] = {{"optimiser", FLAGS_optimiser},
                     {"learning_rate", FLAGS_learning_rate},
                     {"iterations", learning.summary.num_iterations},
                     {"batch_size", learning.learner_options.batch_size},
                     {"lambda", FLAGS_lambda},
                     {"inner_solver", FLAGS_inner_solver},
                     {"stacked_inner_solve", FLAGS_stacked_inner_solve},
                     {"newton_after_ceres", FLAGS_newton_after_ceres},
                     {"newton_finishes_converged",
                      learning.objective->num_newton_finishes_converged()},
                     {"skipped_examples", learning.summary.num_skipped_examples},
                     {"minibatch_loss", learning.losses}};
  const PsnrResult& initial = evaluation.test_initial;
  const PsnrResult& learned = evaluation.test_learned;
  json["test"] = {{"images", FLAGS_test_images},
                  {"size", FLAGS_test_size},
                  {"seed", FLAGS_seed + 1000000},
                  {"per_image",
                   {{"psnr_noisy", initial.psnr_noisy},
                    {"psnr_initial", initial.psnr_restored},
                    {"psnr_learned", learned.psnr_restored}}}};
  json["psnr_noisy"] = initial.mean_psnr_noisy;
  json["psnr_initial"] = initial.mean_psnr_restored;
  json["psnr_learned"] = learned.mean_psnr_restored;
  json["timings_seconds"] = {{"learning", learning.seconds},
                             {"learning_inner_solves", learning.objective->solve_seconds()},
                             {"learning_derivatives", learning.objective->derivative_seconds()},
                             {"evaluation", evaluation.seconds()},
                             {"images", images.seconds},
                             {"total", total_seconds},
                             {"total_cpu", cpu_seconds}};
  json["noisy_image"] = images.noisy_image;
  json["files"] = images.files;
  return !Fail("writing " + FLAGS_output_json,
               denoise_foe::WriteFileAtomically(FLAGS_output_json, json.dump(2) + "\n"));
}

}  // namespace

int main(int argc, char** argv) {
  gflags::SetUsageMessage(
      "Learns Fields-of-Experts weights and filters by differentiating the denoiser.");
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  const double program_start = Now();
  Inputs inputs;
  Learning learning;
  Evaluation evaluation;
  if (!ReadInputs(&inputs) || !Train(inputs, &learning) ||
      !Evaluate(inputs, learning, &evaluation)) {
    return 1;
  }
  PrintReport(learning, evaluation);
  ImageOutputs images;
  if (!FLAGS_output_dir.empty() && !WriteImages(inputs, learning, evaluation, &images)) return 1;
  const double total_seconds = Now() - program_start;
  const double cpu_seconds = static_cast<double>(std::clock()) / CLOCKS_PER_SEC;
  std::printf("total time %.1f s wall, %.1f s CPU\n", total_seconds, cpu_seconds);
  if (!FLAGS_output_json.empty() &&
      !WriteJson(inputs, learning, evaluation, images, total_seconds, cpu_seconds)) {
    return 1;
  }
  return 0;
}
