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
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "ceres_wiberg/stochastic_learner.h"
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
DEFINE_string(optimizer, "ADAM", "SGD, SGD_MOMENTUM, AVERAGED_SGD or ADAM.");
DEFINE_double(learning_rate, 0.01, "Step size on log-weights and filter taps.");
DEFINE_double(lambda, 1.0, "Damping of the minimiser derivative (0: the implicit derivative).");
DEFINE_string(damping, "IDENTITY", "D of the damped derivative: IDENTITY or HESSIAN_DIAGONAL.");
DEFINE_string(hessian, "EXACT", "Hessian model of the derivative: EXACT or GAUSS_NEWTON.");
DEFINE_double(inner_function_tolerance, 1e-7, "Ceres function tolerance of every inner solve.");
DEFINE_int32(inner_max_iterations, 200, "Ceres iteration limit of every inner solve.");
DEFINE_bool(evaluate_training_images, false,
            "Also denoise the training images from scratch with both models (slower).");
DEFINE_bool(learn_weights, true, "Learn the expert weights (as log-weights).");
DEFINE_bool(learn_filters, true, "Learn the filter coefficients.");
DEFINE_int32(num_threads, 1, "Threads evaluating the images of a minibatch.");

namespace {

using denoise_foe::FieldsOfExperts;
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

// A PNG of `image` through gnuplot (grey palette, 0..255, 3x enlarged below
// 256 pixels wide); false if gnuplot fails. Writes its data and script next to
// the PNG and removes them afterwards.
bool WritePng(const Image& image, const std::string& png_path) {
  const std::string temporary = png_path + ".tmp.png";
  const std::string data_path = png_path + ".dat";
  const std::string script_path = png_path + ".gnuplot";
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
  const std::string script =
      "set terminal pngcairo size " + std::to_string(scale * image.width) + "," +
      std::to_string(scale * image.height) + "\nset output '" + temporary +
      "'\nset lmargin 0\nset rmargin 0\nset tmargin 0\nset bmargin 0\n"
      "unset key\nunset tics\nunset border\nunset colorbox\n"
      "set palette grey\nset cbrange [0:255]\n"
      "set xrange [-0.5:" +
      std::to_string(image.width) + "-0.5]\nset yrange [" + std::to_string(image.height) +
      "-0.5:-0.5]\n"
      "plot '" +
      data_path + "' matrix with image\n";
  bool ok = denoise_foe::WriteFileAtomically(data_path, data).ok() &&
            denoise_foe::WriteFileAtomically(script_path, script).ok();
  if (ok) {
    const std::string command = "gnuplot '" + script_path + "' 2>/dev/null";
    ok = std::system(command.c_str()) == 0 && std::rename(temporary.c_str(), png_path.c_str()) == 0;
  }
  std::remove(script_path.c_str());
  std::remove(data_path.c_str());
  if (!ok) std::remove(temporary.c_str());
  return ok;
}

bool HaveGnuplot() { return std::system("command -v gnuplot > /dev/null 2>&1") == 0; }

// Writes <dir>/<name>.pgm (and .png); returns the PGM path or "" on failure.
std::string WriteImage(const std::string& name, const Image& image, bool png,
                       nlohmann::json* files) {
  const std::string pgm = FLAGS_output_dir + "/" + name + ".pgm";
  if (Fail("writing " + pgm, denoise_foe::WritePgm(pgm, image))) return "";
  files->push_back(pgm);
  if (png) {
    const std::string png_path = FLAGS_output_dir + "/" + name + ".png";
    if (WritePng(image, png_path)) {
      files->push_back(png_path);
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

}  // namespace

int main(int argc, char** argv) {
  gflags::SetUsageMessage(
      "Learns Fields-of-Experts weights and filters by differentiating the denoiser.");
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  const double program_start = Now();
  if (FLAGS_train_images < 1 || FLAGS_test_images < 1 || FLAGS_batch_size < 1 ||
      FLAGS_iterations < 0 || !(FLAGS_sigma > 0.0)) {
    std::fprintf(stderr,
                 "need --train_images, --test_images, --batch_size >= 1, "
                 "--iterations >= 0 and --sigma > 0\n");
    return 1;
  }

  // ---- The initial model.
  FieldsOfExperts initial;
  std::string model_name;
  if (!FLAGS_foe_file.empty() && std::filesystem::exists(FLAGS_foe_file)) {
    if (Fail("reading the model", denoise_foe::ReadFieldsOfExperts(FLAGS_foe_file, &initial))) {
      return 1;
    }
    model_name = FLAGS_foe_file;
    std::printf("initial model: %s (%d experts, %dx%d filters)\n", FLAGS_foe_file.c_str(),
                initial.num_experts(), initial.size, initial.size);
  } else {
    initial = denoise_foe::DefaultFieldsOfExperts();
    model_name = "default (eight 3x3 derivative filters)";
    std::printf(
        "initial model: %s not found, using the default: eight 3x3 derivative "
        "filters\n",
        FLAGS_foe_file.c_str());
  }
  if (Fail("initial model", initial.Validate())) return 1;

  // ---- Data.
  denoise_foe::SyntheticImageOptions train_options;
  train_options.width = train_options.height = FLAGS_train_size;
  denoise_foe::SyntheticImageOptions test_options = train_options;
  test_options.width = test_options.height = FLAGS_test_size;
  std::string error;
  if (!train_options.IsValid(&error) || !test_options.IsValid(&error)) {
    std::fprintf(stderr, "image options: %s\n", error.c_str());
    return 1;
  }
  const std::vector<NoisyPair> train =
      denoise_foe::MakeNoisyPairs(train_options, FLAGS_train_images, FLAGS_seed, FLAGS_sigma);
  const std::vector<NoisyPair> test = denoise_foe::MakeNoisyPairs(
      test_options, FLAGS_test_images, FLAGS_seed + 1000000, FLAGS_sigma);
  std::printf("data: %d training images %dx%d, %d test images %dx%d, noise sigma %g\n",
              FLAGS_train_images, FLAGS_train_size, FLAGS_train_size, FLAGS_test_images,
              FLAGS_test_size, FLAGS_test_size, FLAGS_sigma);

  // ---- Learning.
  denoise_foe::FoeTrainingObjective::Options objective_options;
  objective_options.sigma = FLAGS_sigma;
  objective_options.learn_weights = FLAGS_learn_weights;
  objective_options.learn_filters = FLAGS_learn_filters;
  objective_options.derivative_options.lambda = FLAGS_lambda;
  if (FLAGS_damping == "IDENTITY" || FLAGS_damping == "HESSIAN_DIAGONAL") {
    objective_options.derivative_options.damping =
        FLAGS_damping == "IDENTITY" ? ceres_wiberg::DampingType::IDENTITY
                                    : ceres_wiberg::DampingType::HESSIAN_DIAGONAL;
  } else {
    std::fprintf(stderr, "unknown --damping %s\n", FLAGS_damping.c_str());
    return 1;
  }
  if (FLAGS_hessian == "EXACT" || FLAGS_hessian == "GAUSS_NEWTON") {
    objective_options.derivative_options.hessian_model =
        FLAGS_hessian == "EXACT" ? ceres_wiberg::HessianModel::EXACT
                                 : ceres_wiberg::HessianModel::GAUSS_NEWTON;
  } else {
    std::fprintf(stderr, "unknown --hessian %s\n", FLAGS_hessian.c_str());
    return 1;
  }
  objective_options.solver_options.function_tolerance = FLAGS_inner_function_tolerance;
  objective_options.solver_options.max_num_iterations = FLAGS_inner_max_iterations;
  std::unique_ptr<denoise_foe::FoeTrainingObjective> objective;
  if (Fail("training objective", denoise_foe::FoeTrainingObjective::Create(
                                     &train, initial, objective_options, &objective))) {
    return 1;
  }
  ceres_wiberg::StochasticLearner::Options learner_options;
  if (!ceres_wiberg::StringToStochasticOptimizer(FLAGS_optimizer, &learner_options.optimizer)) {
    std::fprintf(stderr, "unknown --optimizer %s\n", FLAGS_optimizer.c_str());
    return 1;
  }
  learner_options.learning_rate = FLAGS_learning_rate;
  learner_options.batch_size = std::min(FLAGS_batch_size, FLAGS_train_images);
  learner_options.num_epochs = 0;
  learner_options.max_iterations = FLAGS_iterations;
  learner_options.num_threads = FLAGS_num_threads;
  learner_options.seed = FLAGS_seed;
  learner_options.parameter_transforms = objective->ParameterTransforms();
  learner_options.skip_failed_examples = true;
  learner_options.checkpoint_path = "";
  std::vector<double> losses;
  learner_options.iteration_callback = [&losses,
                                        &objective](const ceres_wiberg::IterationRecord& record) {
    losses.push_back(record.loss);
    {
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
    }
    return true;
  };
  learner_options.max_iterations = std::max(1, FLAGS_iterations);  // 0: no learning, below
  if (!learner_options.IsValid(&error)) {
    std::fprintf(stderr, "learner options: %s\n", error.c_str());
    return 1;
  }
  std::printf(
      "learning %d parameters (%s%s) with %s, lr %g, %d iterations, batch %d, "
      "lambda %g\n",
      objective->num_parameters(), FLAGS_learn_weights ? "log-weights " : "",
      FLAGS_learn_filters ? "filters" : "", FLAGS_optimizer.c_str(), FLAGS_learning_rate,
      FLAGS_iterations, learner_options.batch_size, FLAGS_lambda);
  Eigen::VectorXd w = objective->ParametersOf(initial);
  ceres_wiberg::StochasticLearner learner(learner_options);
  ceres_wiberg::StochasticLearner::Summary learn_summary;
  const double learn_start = Now();
  if (FLAGS_iterations > 0) {
    if (Fail("learning", learner.Learn(objective.get(), &w, &learn_summary))) return 1;
    std::printf("%s\n", learn_summary.BriefReport().c_str());
    if (objective->num_failures() > 0) {
      std::printf("%d image evaluations failed and were skipped; last: %s\n",
                  objective->num_failures(), objective->last_failure().c_str());
    }
  }
  const double learn_seconds = Now() - learn_start;
  const FieldsOfExperts learned = objective->ModelOf(w);

  // ---- Training loss before/after, and held-out PSNR.
  const ceres::Solver::Options solver_options = objective_options.solver_options;
  PsnrResult train_initial, train_learned, test_initial, test_learned;
  std::vector<Image> test_initial_images, test_learned_images;
  if (FLAGS_evaluate_training_images &&
      (Fail("evaluation", denoise_foe::EvaluateModel(train, initial, FLAGS_sigma, solver_options,
                                                     &train_initial)) ||
       Fail("evaluation", denoise_foe::EvaluateModel(train, learned, FLAGS_sigma, solver_options,
                                                     &train_learned)))) {
    return 1;
  }
  if (Fail("evaluation", denoise_foe::EvaluateModel(test, initial, FLAGS_sigma, solver_options,
                                                    &test_initial, &test_initial_images)) ||
      Fail("evaluation", denoise_foe::EvaluateModel(test, learned, FLAGS_sigma, solver_options,
                                                    &test_learned, &test_learned_images))) {
    return 1;
  }

  std::printf("\nheld-out PSNR (dB), %d synthetic %dx%d images, sigma %g:\n", FLAGS_test_images,
              FLAGS_test_size, FLAGS_test_size, FLAGS_sigma);
  std::printf("%-7s %9s %9s %9s %9s\n", "image", "noisy", "initial", "learned", "gain");
  for (int i = 0; i < FLAGS_test_images; ++i) {
    std::printf("%-7d %9.2f %9.2f %9.2f %+9.2f\n", i, test_initial.psnr_noisy[i],
                test_initial.psnr_restored[i], test_learned.psnr_restored[i],
                test_learned.psnr_restored[i] - test_initial.psnr_restored[i]);
  }
  std::printf("%-7s %9.2f %9.2f %9.2f %+9.2f\n", "mean", test_initial.mean_psnr_noisy,
              test_initial.mean_psnr_restored, test_learned.mean_psnr_restored,
              test_learned.mean_psnr_restored - test_initial.mean_psnr_restored);
  if (FLAGS_evaluate_training_images) {
    std::printf(
        "training images: mean PSNR noisy %.2f, initial %.2f, learned %.2f; "
        "loss %.4f -> %.4f\n",
        train_initial.mean_psnr_noisy, train_initial.mean_psnr_restored,
        train_learned.mean_psnr_restored, train_initial.mean_loss, train_learned.mean_loss);
  }
  std::printf(
      "time: learning %.1f s (inner solves %.1f s, derivatives %.1f s), evaluation "
      "%.1f s\n",
      learn_seconds, objective->solve_seconds(), objective->derivative_seconds(),
      train_initial.seconds + train_learned.seconds + test_initial.seconds + test_learned.seconds);

  // ---- Images.
  nlohmann::json files = nlohmann::json::array();
  nlohmann::json noisy_image_json = nullptr;
  double images_seconds = 0.0;
  if (!FLAGS_output_dir.empty()) {
    const double images_start = Now();
    std::error_code ec;
    std::filesystem::create_directories(FLAGS_output_dir, ec);
    if (ec) {
      std::fprintf(stderr, "cannot create %s: %s\n", FLAGS_output_dir.c_str(),
                   ec.message().c_str());
      return 1;
    }
    const bool png = HaveGnuplot();
    if (!png) std::printf("gnuplot not on PATH: writing PGM images only\n");
    if (Fail("writing the model",
             denoise_foe::WriteFieldsOfExperts(FLAGS_output_dir + "/learned.foe", learned))) {
      return 1;
    }
    files.push_back(FLAGS_output_dir + "/learned.foe");
    for (const auto& [name, model] :
         {std::pair<const char*, const FieldsOfExperts*>{"filters_initial", &initial},
          {"filters_learned", &learned}}) {
      WriteImage(name,
                 denoise_foe::FilterMosaic(model->size, model->x_offsets, model->y_offsets,
                                           model->filters),
                 png, &files);
    }
    // Test image 0: clean | noisy | initial | learned.
    WriteImage(
        "test0_clean_noisy_initial_learned",
        Concatenate({test[0].clean, test[0].noisy, test_initial_images[0], test_learned_images[0]},
                    4),
        png, &files);
    if (!FLAGS_noisy_image.empty() && std::filesystem::exists(FLAGS_noisy_image)) {
      Image noisy;
      if (Fail("reading " + FLAGS_noisy_image, denoise_foe::ReadPgm(FLAGS_noisy_image, &noisy))) {
        return 1;
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
        std::printf("central %dx%d crop of %s (%dx%d)\n", width, height,
                    FLAGS_noisy_image.c_str(), noisy.width, noisy.height);
        noisy = std::move(crop);
      }
      std::printf("denoising %s (%dx%d) with both models...\n", FLAGS_noisy_image.c_str(),
                  noisy.width, noisy.height);
      std::fflush(stdout);
      noisy_image_json = {
          {"path", FLAGS_noisy_image}, {"width", noisy.width}, {"height", noisy.height},
          {"central_crop", FLAGS_noisy_crop}};
      WriteImage("ceres_noisy", noisy, png, &files);
      for (const auto& [name, model] :
           {std::pair<const char*, const FieldsOfExperts*>{"initial", &initial},
            {"learned", &learned}}) {
        Image restored;
        ceres::Solver::Summary summary;
        const double start = Now();
        if (Fail("denoising", denoise_foe::Denoise(noisy, *model, FLAGS_sigma, solver_options,
                                                   &restored, &summary))) {
          return 1;
        }
        const double seconds = Now() - start;
        std::printf("  %s model: %d iterations, %.1f s, %s\n", name,
                    static_cast<int>(summary.iterations.size()), seconds,
                    ceres::TerminationTypeToString(summary.termination_type));
        WriteImage(std::string("ceres_denoised_") + name, restored, png, &files);
        noisy_image_json[name] = {
            {"iterations", summary.iterations.size()},
            {"seconds", seconds},
            {"termination", ceres::TerminationTypeToString(summary.termination_type)}};
      }
    } else {
      std::printf("%s: skipping Ceres' noisy image\n",
                  FLAGS_noisy_image.empty() ? "no --noisy_image"
                                            : (FLAGS_noisy_image + " not found").c_str());
    }
    images_seconds = Now() - images_start;
    std::printf("images written to %s\n", FLAGS_output_dir.c_str());
  }
  const double total_seconds = Now() - program_start;
  const double cpu_seconds = static_cast<double>(std::clock()) / CLOCKS_PER_SEC;
  std::printf("total time %.1f s wall, %.1f s CPU\n", total_seconds, cpu_seconds);

  if (!FLAGS_output_json.empty()) {
    nlohmann::json json;
    json["model"] = model_name;
    json["num_experts"] = initial.num_experts();
    json["filter_size"] = initial.size;
    json["num_parameters"] = objective->num_parameters();
    json["learn_weights"] = FLAGS_learn_weights;
    json["learn_filters"] = FLAGS_learn_filters;
    json["sigma"] = FLAGS_sigma;
    json["train"] = {
        {"images", FLAGS_train_images}, {"size", FLAGS_train_size}, {"seed", FLAGS_seed}};
    if (FLAGS_evaluate_training_images) {
      json["train"]["loss_initial"] = train_initial.mean_loss;
      json["train"]["loss_learned"] = train_learned.mean_loss;
      json["train"]["psnr_noisy"] = train_initial.mean_psnr_noisy;
      json["train"]["psnr_initial"] = train_initial.mean_psnr_restored;
      json["train"]["psnr_learned"] = train_learned.mean_psnr_restored;
    }
    json["learner"] = {{"optimizer", FLAGS_optimizer},
                       {"learning_rate", FLAGS_learning_rate},
                       {"iterations", learn_summary.num_iterations},
                       {"batch_size", learner_options.batch_size},
                       {"lambda", FLAGS_lambda},
                       {"skipped_examples", learn_summary.num_skipped_examples},
                       {"minibatch_loss", losses}};
    json["test"] = {{"images", FLAGS_test_images},
                    {"size", FLAGS_test_size},
                    {"seed", FLAGS_seed + 1000000},
                    {"per_image",
                     {{"psnr_noisy", test_initial.psnr_noisy},
                      {"psnr_initial", test_initial.psnr_restored},
                      {"psnr_learned", test_learned.psnr_restored}}}};
    json["psnr_noisy"] = test_initial.mean_psnr_noisy;
    json["psnr_initial"] = test_initial.mean_psnr_restored;
    json["psnr_learned"] = test_learned.mean_psnr_restored;
    json["timings_seconds"] = {{"learning", learn_seconds},
                               {"learning_inner_solves", objective->solve_seconds()},
                               {"learning_derivatives", objective->derivative_seconds()},
                               {"evaluation", train_initial.seconds + train_learned.seconds +
                                                  test_initial.seconds + test_learned.seconds},
                               {"images", images_seconds},
                               {"total", total_seconds},
                               {"total_cpu", cpu_seconds}};
    json["noisy_image"] = noisy_image_json;
    json["files"] = files;
    if (Fail("writing " + FLAGS_output_json,
             denoise_foe::WriteFileAtomically(FLAGS_output_json, json.dump(2) + "\n"))) {
      return 1;
    }
  }
  return 0;
}
