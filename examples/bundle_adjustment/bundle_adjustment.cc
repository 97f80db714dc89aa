// Bundle adjustment, learnt: per-camera observation weights and the scale of
// a pseudo-Huber loss are learnt on synthetic training scenes (cameras of
// unequal quality, gross outliers) by differentiating the bundle
// adjustment's minimiser, with the outer loss the point RMSE after a
// similarity alignment to the truth; held-out scenes compare plain least
// squares, Ceres' Huber loss with a hand-set scale, and the learnt energy.
// First, the gauge: refused at lambda = 0, checked at lambda > 0, accepted
// and checked against re-solves when fixed. See README.md.
//
//   build/examples/bundle_adjustment/bundle_adjustment \
//       --output_json=out/bundle_adjustment/bundle_adjustment.json \
//       --output_dir=out/bundle_adjustment

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include "aligned_point_error.h"
#include "ba_energy.h"
#include "ba_learning.h"
#include "bal_problem.h"
#include "bal_scene.h"
#include "ceres_wiberg/file.h"
#include "ceres_wiberg/minimiser_derivative.h"
#include "ceres_wiberg/minimiser_derivative_checker.h"
#include "ceres_wiberg/stochastic_learner.h"
#include "common/gnuplot.h"
#include "gflags/gflags.h"
#include "glog/logging.h"
#include "nlohmann/json.hpp"

DEFINE_int32(num_cameras, 8, "Cameras per scene (every scene has the same rig).");
DEFINE_int32(num_points, 200, "Points per scene.");
DEFINE_int32(train_scenes, 6, "Training scenes.");
DEFINE_int32(test_scenes, 6, "Held-out scenes.");
DEFINE_int32(validation_scenes, 6,
             "Validation scenes, from the training side (seed of scene i: seed + 500 + i): "
             "every choice of the learning is made on them, never on the held-out scenes.");
DEFINE_double(initial_scale, 0.5,
              "The pseudo-Huber scale a (pixels) learning starts from: 0.5, where the initial "
              "model matches the Huber baseline (b = 1 px) on the training and validation scenes "
              "(a = 1 is worse than it on both); see README.md.");
DEFINE_bool(select_by_validation, true,
            "Return the model, among the initial one and those at the end of each epoch, with "
            "the lowest validation loss (early stopping); false: the last one.");
DEFINE_bool(robust_outer_loss, false,
            "Learn with the robust aligned point error (pseudo-Huber of the point errors, "
            "scale 1% of the scene's size) as the outer loss instead of the RMSE.");
DEFINE_bool(show_gauge, true, "Show the gauge (the first part of the program).");
DEFINE_bool(print_scenes, false, "Print every scene's RMSE per method and split.");
DEFINE_uint64(seed, 1, "Seed of training scene i: seed + i; held-out scene i: seed + 1000 + i.");
DEFINE_int32(epochs, 3,
             "Epochs of the stochastic learner (the validation loss was lowest after the first "
             "in every configuration tried: see README.md).");
DEFINE_int32(batch_size, 3, "Scenes per step.");
DEFINE_double(learning_rate, 0.1, "Adam's step on log(scale) and log(weights).");
DEFINE_double(lambda, 0.1, "Damping of the minimiser derivative for learning (D = diag(H)).");
DEFINE_bool(warm_start, true,
            "Start each training solve from the scene's last solution (true) or from its "
            "initial estimates (false).");
DEFINE_double(huber_scale, 1.0,
              "The hand-set Huber scale (pixels) of the baseline; 1, as Ceres' bundle_adjuster "
              "--robustify.");
DEFINE_int32(gauge_points, 40, "Points of the scene of the gauge demonstration.");
DEFINE_int32(num_threads, 1, "Threads evaluating the scenes of a minibatch.");
DEFINE_string(output_json, "", "Write the results here (JSON, atomically); empty: none.");
DEFINE_string(output_dir, "",
              "Write the figure (gnuplot data, script and PNG) and held-out scene 0 as BAL "
              "files (initial and truth) here; empty: none.");

namespace {

using bundle_adjustment::BaEnergy;
using bundle_adjustment::BaEnergyOptions;
using bundle_adjustment::BaLoss;
using bundle_adjustment::BaModel;
using bundle_adjustment::GaugeFixing;
using bundle_adjustment::Scene;
using bundle_adjustment::SceneOptions;
using ceres_wiberg::MinimiserDerivative;
using ceres_wiberg::MinimiserDerivativeChecker;
using ceres_wiberg::Status;

double Seconds(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

bool Fail(const std::string& what, const Status& status) {
  if (status.ok()) return false;
  std::fprintf(stderr, "%s: %s\n", what.c_str(), status.ToString().c_str());
  return true;
}

SceneOptions BaseSceneOptions() {
  SceneOptions options;
  options.num_cameras = FLAGS_num_cameras;
  options.num_points = FLAGS_num_points;
  return options;
}

bool MakeScenes(int count, uint64_t first_seed, int num_points, std::vector<Scene>* scenes) {
  for (int i = 0; i < count; ++i) {
    SceneOptions options = BaseSceneOptions();
    options.num_points = num_points;
    options.seed = first_seed + i;
    Scene scene;
    if (Fail("scene " + std::to_string(i), GenerateScene(options, &scene))) return false;
    scenes->push_back(std::move(scene));
  }
  return true;
}

// ---------------------------------------------------------------------------
// The gauge.

struct GaugeResults {
  int free_null_dimension = 0;
  int fixed_null_dimension = 0;
  Eigen::VectorXd free_singular_values;  // the smallest 9, relative to the largest
  std::string lambda_zero_message;
  std::string lambda_zero_code;
  double lambda_positive_error = 0.0;
  double fixed_condition_number = 0.0;
  double fixed_error = 0.0;
  double free_cost = 0.0, fixed_cost = 0.0;
  double free_rmse = 0.0, fixed_rmse = 0.0;
  int num_inner_free = 0, num_inner_fixed = 0;
};

// Singular values below 1e-8 of the largest (columns scaled to unit norm).
int NullDimension(const Eigen::VectorXd& singular_values) {
  int count = 0;
  for (int i = 0; i < singular_values.size(); ++i) {
    count += singular_values[i] < 1e-8 * singular_values[0];
  }
  return count;
}

bool SolvedEnergy(const Scene& scene, GaugeFixing gauge, std::unique_ptr<BaEnergy>* energy,
                  double* cost, double* rmse) {
  BaEnergyOptions options;
  options.gauge = gauge;
  BaModel model = BaModel::Initial(scene.initial.num_cameras());
  if (Fail("gauge scene", BaEnergy::Create(scene.initial, options, model, energy))) return false;
  ceres::Solver::Summary summary;
  ceres_wiberg::NewtonPolish::Summary polish;
  if (Fail("gauge scene solve", (*energy)->Solve(bundle_adjustment::BaSolverOptions(), &summary,
                                                 &polish))) {
    return false;
  }
  *cost = polish.final_cost;
  return !Fail("gauge scene RMSE",
               bundle_adjustment::AlignedPointError((*energy)->Points(),
                                                    bundle_adjustment::PointMatrix(scene.truth),
                                                    rmse));
}

bool ShowGauge(GaugeResults* results) {
  std::vector<Scene> scenes;
  if (!MakeScenes(1, FLAGS_seed, FLAGS_gauge_points, &scenes)) return false;
  const Scene& scene = scenes[0];
  std::printf("== The gauge: scene of %d cameras and %d points (training seed, learnt energy at "
              "its initial model) ==\n",
              scene.initial.num_cameras(), scene.initial.num_points());
  std::unique_ptr<BaEnergy> free_energy, fixed_energy;
  if (!SolvedEnergy(scene, GaugeFixing::NONE, &free_energy, &results->free_cost,
                    &results->free_rmse) ||
      !SolvedEnergy(scene, GaugeFixing::FIRST_CAMERA_AND_ONE_COORDINATE, &fixed_energy,
                    &results->fixed_cost, &results->fixed_rmse)) {
    return false;
  }
  results->num_inner_free = free_energy->bilevel()->num_inner_parameters();
  results->num_inner_fixed = fixed_energy->bilevel()->num_inner_parameters();
  Eigen::VectorXd free_sv, fixed_sv;
  if (Fail("Jacobian", bundle_adjustment::ScaledJacobianSingularValues(free_energy.get(),
                                                                         &free_sv)) ||
      Fail("Jacobian", bundle_adjustment::ScaledJacobianSingularValues(fixed_energy.get(),
                                                                         &fixed_sv))) {
    return false;
  }
  results->free_null_dimension = NullDimension(free_sv);
  results->fixed_null_dimension = NullDimension(fixed_sv);
  results->free_singular_values = free_sv.tail(9).reverse() / free_sv[0];
  std::printf("every block free: %d inner variables; the 9 smallest singular values of the "
              "column-scaled Jacobian, relative to the largest:\n  ",
              results->num_inner_free);
  for (int i = 0; i < results->free_singular_values.size(); ++i) {
    std::printf(" %.1e", results->free_singular_values[i]);
  }
  std::printf("\n  null space (below 1e-8): %d = the similarity gauge (rotation 3, translation "
              "3, scale 1)\n",
              results->free_null_dimension);

  // lambda = 0, every block free: refused.
  MinimiserDerivative::Options options = bundle_adjustment::BaLearningDerivativeOptions();
  options.eigenvalue_iterations = MinimiserDerivative::Options().eigenvalue_iterations;
  options.lambda = 0.0;
  {
    MinimiserDerivative derivative(options);
    MinimiserDerivative::Summary summary;
    const Status status = derivative.Linearise(free_energy->bilevel(), &summary);
    results->lambda_zero_code = ceres_wiberg::StatusCodeToString(status.code());
    results->lambda_zero_message = status.message();
    std::printf("lambda = 0: %s\n  %s\n", results->lambda_zero_code.c_str(),
                status.ok() ? "(accepted?)" : status.message().c_str());
    if (status.ok()) {
      std::fprintf(stderr, "lambda = 0 with a free gauge was accepted: expected a refusal\n");
      return false;
    }
  }
  // lambda > 0, every block free: the checker (damped Newton step).
  MinimiserDerivativeChecker::Result result;
  if (Fail("checker, lambda > 0",
           MinimiserDerivativeChecker::Check(MinimiserDerivativeChecker::Options(),
                                             bundle_adjustment::BaLearningDerivativeOptions(),
                                             free_energy->bilevel(), &result))) {
    return false;
  }
  results->lambda_positive_error = result.max_relative_error;
  std::printf("lambda = %g (D = diag(H)): accepted; checker (%s): max relative error %.2e\n",
              bundle_adjustment::BaLearningDerivativeOptions().lambda, result.method.c_str(),
              result.max_relative_error);
  // Gauge fixed, lambda = 0: accepted, against re-solves.
  if (Fail("checker, gauge fixed",
           MinimiserDerivativeChecker::Check(MinimiserDerivativeChecker::Options(), options,
                                             fixed_energy->bilevel(), &result))) {
    return false;
  }
  results->fixed_error = result.max_relative_error;
  results->fixed_condition_number = result.derivative_summary.condition_number;
  std::printf("gauge fixed (camera 0's pose, coordinate %d of point 0): %d inner variables, "
              "null space %d; the same minimum (cost %.10g vs %.10g free; aligned RMSE %.6g vs "
              "%.6g)\n  lambda = 0: accepted (Jacobi-scaled condition number %.2e); checker "
              "(%s, polished): max relative error %.2e\n",
              fixed_energy->fixed_point_coordinate(), results->num_inner_fixed,
              results->fixed_null_dimension, results->fixed_cost, results->free_cost,
              results->fixed_rmse, results->free_rmse, results->fixed_condition_number,
              result.method.c_str(), result.max_relative_error);
  return true;
}

// ---------------------------------------------------------------------------
// Held-out evaluation.

struct Method {
  std::string name;
  BaEnergyOptions options;
  BaModel model;
  // Per scene: the aligned point RMSE, the median aligned point error, and
  // the share of the squared error (RMSE^2 N) that its worst point holds.
  std::vector<double> rmse;
  std::vector<double> median;
  std::vector<double> worst_share;
  std::vector<int> iterations;
  double Mean() const { return MeanOf(rmse); }
  double MeanMedian() const { return MeanOf(median); }
  static double MeanOf(const std::vector<double>& v) {
    return std::accumulate(v.begin(), v.end(), 0.0) / v.size();
  }
};

// Every method is solved with camera 0's pose and one point coordinate held
// (GaugeFixing::FIRST_CAMERA_AND_ONE_COORDINATE): the same minima as with a
// free gauge (the aligned RMSE does not see the gauge), but a non-singular
// reduced camera system, so that Ceres' LM converges without fighting it.
bool Evaluate(const std::vector<Scene>& scenes, Method* method) {
  method->options.gauge = GaugeFixing::FIRST_CAMERA_AND_ONE_COORDINATE;
  method->options.newton_polish = false;
  method->rmse.clear();
  method->median.clear();
  method->worst_share.clear();
  method->iterations.clear();
  for (size_t i = 0; i < scenes.size(); ++i) {
    double rmse = 0.0;
    Eigen::VectorXd errors;
    ceres::Solver::Summary summary;
    if (Fail(method->name + ", scene " + std::to_string(i),
             bundle_adjustment::SolveAndScore(scenes[i].initial, scenes[i].truth, method->options,
                                              method->model,
                                              bundle_adjustment::BaSolverOptions(), &rmse,
                                              &summary, &errors))) {
      return false;
    }
    method->rmse.push_back(rmse);
    method->worst_share.push_back(errors.array().square().maxCoeff() / errors.squaredNorm());
    std::sort(errors.data(), errors.data() + errors.size());
    const Eigen::Index n = errors.size();
    method->median.push_back(n % 2 ? errors[n / 2] : 0.5 * (errors[n / 2 - 1] + errors[n / 2]));
    method->iterations.push_back(summary.iterations.size() - 1);
  }
  return true;
}

std::string FigureData(const std::vector<Method>& methods, const std::vector<Scene>& test) {
  std::ostringstream text;
  text << "# held-out scene";
  for (const Method& m : methods) text << "  " << m.name;
  text << "\n";
  for (size_t i = 0; i < test.size(); ++i) {
    text << i;
    for (const Method& m : methods) text << " " << m.rmse[i];
    text << "\n";
  }
  return text.str();
}

bool WriteOutputs(const std::vector<Method>& methods, const std::vector<Scene>& test,
                  const BaModel& learnt) {
  if (FLAGS_output_dir.empty()) return true;
  examples::GnuplotFigure figure;
  figure.data_files.emplace_back("heldout_rmse.dat", FigureData(methods, test));
  std::ostringstream weights;
  weights << "# camera  pixel noise sigma  learnt weight  weight / max weight\n";
  const double max_weight =
      *std::max_element(learnt.camera_weights.begin(), learnt.camera_weights.end());
  for (size_t i = 0; i < learnt.camera_weights.size(); ++i) {
    weights << i << " " << test[0].camera_pixel_noise[i] << " " << learnt.camera_weights[i] << " "
            << learnt.camera_weights[i] / max_weight << "\n";
  }
  figure.data_files.emplace_back("camera_weights.dat", weights.str());
  figure.width = 1100;
  figure.height = 450;
  std::ostringstream script;
  script << "set multiplot layout 1,2\n"
            "set title 'Held-out point RMSE after similarity alignment'\n"
            "set xlabel 'held-out scene'\nset ylabel 'RMSE (scene units)'\nset grid\n"
            "set key top left\nset logscale y\n"
            "plot 'heldout_rmse.dat' using 1:2 with linespoints pt 7 title '"
         << methods[0].name << "', '' using 1:3 with linespoints pt 5 title '" << methods[1].name
         << "', '' using 1:4 with linespoints pt 9 lw 2 title '" << methods.back().name
         << "'\n"
            "unset logscale y\nset title 'Learnt camera weights (relative to the largest)'\n"
            "set xlabel 'camera'\nset ylabel 'weight / max weight'\nset y2label 'pixel noise "
            "sigma (px)'\nset y2tics\nset ytics nomirror\nset yrange [0:*]\nset y2range [0:*]\n"
            "set style fill solid 0.5\nset boxwidth 0.4\nset key below\n"
            "plot 'camera_weights.dat' using ($1-0.2):4 with boxes title 'learnt weight', "
            "'' using ($1+0.2):2 axes x1y2 with boxes title 'pixel noise (truth)'\n"
            "unset multiplot\n";
  figure.script = script.str();
  Status status = examples::DrawFigure(FLAGS_output_dir, "bundle_adjustment", figure);
  if (!status.ok()) std::printf("figure: %s\n", status.ToString().c_str());
  else std::printf("figure: %s/bundle_adjustment.png\n", FLAGS_output_dir.c_str());
  status = bundle_adjustment::WriteBal(FLAGS_output_dir + "/heldout0_initial.bal", test[0].initial);
  if (Fail("writing BAL", status)) return false;
  status = bundle_adjustment::WriteBal(FLAGS_output_dir + "/heldout0_truth.bal", test[0].truth);
  if (Fail("writing BAL", status)) return false;
  std::printf("held-out scene 0 as BAL: %s/heldout0_{initial,truth}.bal\n",
              FLAGS_output_dir.c_str());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  gflags::SetUsageMessage(
      "Bundle adjustment: learn per-camera weights and a robust scale on training scenes, "
      "compare on held-out scenes; the gauge at lambda = 0 and lambda > 0.");
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  // Ceres' LM warns (glog WARNING) each time CHOLMOD refuses a step on the
  // free-gauge system and LM raises its damping; keep errors only.
  FLAGS_minloglevel = 2;
  const auto start = std::chrono::steady_clock::now();
  if (FLAGS_train_scenes < 1 || FLAGS_test_scenes < 1 || FLAGS_epochs < 0 ||
      FLAGS_batch_size < 1 || FLAGS_gauge_points < 3) {
    std::fprintf(stderr, "need --train_scenes, --test_scenes, --batch_size >= 1, --epochs >= 0, "
                         "--gauge_points >= 3\n");
    return 1;
  }

  GaugeResults gauge;
  const auto gauge_start = std::chrono::steady_clock::now();
  if (FLAGS_show_gauge && !ShowGauge(&gauge)) return 1;
  const double gauge_seconds = Seconds(gauge_start);

  std::vector<Scene> train, validation, test;
  if (!MakeScenes(FLAGS_train_scenes, FLAGS_seed, FLAGS_num_points, &train) ||
      !MakeScenes(FLAGS_validation_scenes, FLAGS_seed + 500, FLAGS_num_points, &validation) ||
      !MakeScenes(FLAGS_test_scenes, FLAGS_seed + 1000, FLAGS_num_points, &test)) {
    return 1;
  }
  int observations = 0, outliers = 0;
  for (const Scene& s : test) {
    observations += s.initial.num_observations();
    outliers += std::count(s.outlier.begin(), s.outlier.end(), true);
  }
  std::printf("\n== Scenes: %d cameras, %d points; %d training, %d held-out (%d observations, "
              "%.1f%% gross outliers) ==\ncamera pixel noise (px):",
              FLAGS_num_cameras, FLAGS_num_points, FLAGS_train_scenes, FLAGS_test_scenes,
              observations, 100.0 * outliers / observations);
  for (double sigma : test[0].camera_pixel_noise) std::printf(" %g", sigma);
  std::printf("\n");

  // Learning.
  BaModel initial = BaModel::Initial(FLAGS_num_cameras);
  initial.scale = FLAGS_initial_scale;
  bundle_adjustment::BaTrainingObjective::Options objective_options;
  objective_options.derivative_options.lambda = FLAGS_lambda;
  objective_options.warm_start = FLAGS_warm_start;
  objective_options.robust_outer_loss = FLAGS_robust_outer_loss;
  std::unique_ptr<bundle_adjustment::BaTrainingObjective> objective;
  if (Fail("training objective", bundle_adjustment::BaTrainingObjective::Create(
                                     &train, initial, objective_options, &objective))) {
    return 1;
  }
  std::unique_ptr<bundle_adjustment::BaTrainingObjective> validation_objective;
  if (!validation.empty() &&
      Fail("validation objective", bundle_adjustment::BaTrainingObjective::Create(
                                       &validation, initial, objective_options,
                                       &validation_objective))) {
    return 1;
  }
  ceres_wiberg::StochasticLearner::Options learner_options;
  learner_options.validation_objective = validation_objective.get();
  learner_options.optimiser = ceres_wiberg::StochasticOptimiser::ADAM;
  learner_options.learning_rate = FLAGS_learning_rate;
  learner_options.batch_size = std::min(FLAGS_batch_size, FLAGS_train_scenes);
  learner_options.num_epochs = FLAGS_epochs;
  learner_options.num_threads = FLAGS_num_threads;
  learner_options.seed = FLAGS_seed;
  learner_options.parameter_transforms.assign(1 + FLAGS_num_cameras,
                                              ceres_wiberg::ParameterTransform::EXP);
  learner_options.progress_stream = &std::cout;
  std::printf("\n== Learning: Adam on log(scale), log(weights); lambda = %g, D = diag(H) ==\n",
              FLAGS_lambda);
  Eigen::VectorXd w = initial.ToVector();
  // The model at the end of each epoch (the iterate after its last step).
  std::vector<Eigen::VectorXd> epoch_models;
  learner_options.iteration_callback = [&epoch_models](const ceres_wiberg::IterationRecord& r) {
    if (static_cast<int>(epoch_models.size()) <= r.epoch) epoch_models.resize(r.epoch + 1);
    epoch_models[r.epoch] = r.w;
    return true;
  };
  ceres_wiberg::StochasticLearner learner(learner_options);
  ceres_wiberg::StochasticLearner::Summary learner_summary;
  const auto learn_start = std::chrono::steady_clock::now();
  if (FLAGS_epochs > 0 &&
      Fail("learning", learner.Learn(objective.get(), &w, &learner_summary))) {
    return 1;
  }
  // The validation loss of the initial model and after each epoch, and the
  // epoch whose model is returned (0: the initial model).
  std::vector<double> validation_curve;
  int selected_epoch = static_cast<int>(learner_summary.epochs.size());
  if (FLAGS_select_by_validation && validation_objective != nullptr) {
    double initial_loss = 0.0;
    for (int e = 0; e < validation_objective->num_examples(); ++e) {
      double loss = 0.0;
      if (Fail("validation", validation_objective->EvaluateExample(e, initial.ToVector(), &loss,
                                                                   nullptr))) {
        return 1;
      }
      initial_loss += loss / validation_objective->num_examples();
    }
    double best = initial_loss;
    w = initial.ToVector();
    selected_epoch = 0;
    validation_curve.push_back(initial_loss);
    std::printf("validation loss: initial model %.4e", initial_loss);
    for (size_t e = 0; e < learner_summary.epochs.size() && e < epoch_models.size(); ++e) {
      const double loss = learner_summary.epochs[e].validation_loss;
      validation_curve.push_back(loss);
      std::printf(", epoch %zu %.4e", e + 1, loss);
      if (loss < best) {
        best = loss;
        w = epoch_models[e];
        selected_epoch = static_cast<int>(e) + 1;
      }
    }
    std::printf("\nselected: %s (lowest validation loss)\n",
                selected_epoch == 0 ? "the initial model"
                                    : ("epoch " + std::to_string(selected_epoch)).c_str());
  }
  const double learn_seconds = Seconds(learn_start);
  std::cout << learner_summary.BriefReport() << "\n";
  const BaModel learnt = BaModel::FromVector(w);
  std::printf("learnt: scale a = %.3g px; weights", learnt.scale);
  for (double m : learnt.camera_weights) std::printf(" %.3g", m);
  std::printf("\n");

  // Held-out comparison (every method from the same initial estimates, the
  // same Ceres options; the learnt energy is Newton-polished, see
  // BaEnergyOptions::newton_polish).
  std::vector<Method> methods(4);
  methods[0].name = "least squares";
  methods[0].options.loss = BaLoss::LEAST_SQUARES;
  methods[1].name = "Huber, b = " + std::to_string(FLAGS_huber_scale).substr(0, 4) + " px";
  methods[1].options.loss = BaLoss::HUBER;
  methods[1].options.huber_scale = FLAGS_huber_scale;
  methods[2].name = "pseudo-Huber, initial model";
  methods[2].options.loss = BaLoss::LEARNT;
  methods[2].model = initial;
  methods[3].name = "learnt weights + scale";
  methods[3].options.loss = BaLoss::LEARNT;
  methods[3].model = learnt;
  const auto eval_start = std::chrono::steady_clock::now();
  std::vector<Method> train_methods = methods, validation_methods = methods;
  for (Method& m : methods) {
    if (!Evaluate(test, &m)) return 1;
  }
  for (Method& m : train_methods) {
    if (!Evaluate(train, &m)) return 1;
  }
  for (Method& m : validation_methods) {
    if (!validation.empty() && !Evaluate(validation, &m)) return 1;
  }
  if (FLAGS_print_scenes) {
    const std::vector<std::pair<std::string, const std::vector<Method>*>> splits = {
        {"training", &train_methods}, {"validation", &validation_methods}, {"held-out", &methods}};
    for (const auto& split : splits) {
      std::printf("\n%s scenes, per scene: RMSE / median point error / the worst point's "
                  "share of RMSE^2:\n",
                  split.first.c_str());
      for (const Method& m : *split.second) {
        std::printf("  %-28s", m.name.c_str());
        for (size_t i = 0; i < m.rmse.size(); ++i) {
          std::printf(" %.4f/%.4f/%2.0f%%", m.rmse[i], m.median[i], 100.0 * m.worst_share[i]);
        }
        std::printf("\n");
      }
    }
  }
  const double eval_seconds = Seconds(eval_start);
  std::printf("\n== Point error after similarity alignment (scene units; points in a ball of "
              "radius 2): mean over scenes of the RMSE and of the median point error ==\n"
              "%-30s %10s %10s %10s %10s %10s %10s\n",
              "method", "train RMSE", "median", "valid RMSE", "median", "test RMSE", "median");
  for (size_t k = 0; k < methods.size(); ++k) {
    const bool v = !validation.empty();
    std::printf("%-30s %10.5f %10.5f %10.5f %10.5f %10.5f %10.5f\n", methods[k].name.c_str(),
                train_methods[k].Mean(), train_methods[k].MeanMedian(),
                v ? validation_methods[k].Mean() : 0.0,
                v ? validation_methods[k].MeanMedian() : 0.0, methods[k].Mean(),
                methods[k].MeanMedian());
  }
  // Scenes where the learnt energy's RMSE is lower than `baseline`'s.
  const auto wins = [](const std::vector<Method>& split, int baseline) {
    int count = 0;
    for (size_t i = 0; i < split[3].rmse.size(); ++i) {
      count += split[3].rmse[i] < split[baseline].rmse[i];
    }
    return count;
  };
  const int wins_ls = wins(methods, 0), wins_huber = wins(methods, 1);
  std::printf("learnt lower than least squares / Huber on: %d / %d of %d training scenes, %d / %d "
              "of %d validation scenes, %d / %d of %d held-out scenes\n",
              wins(train_methods, 0), wins(train_methods, 1), FLAGS_train_scenes,
              validation.empty() ? 0 : wins(validation_methods, 0),
              validation.empty() ? 0 : wins(validation_methods, 1), FLAGS_validation_scenes,
              wins_ls, wins_huber, FLAGS_test_scenes);

  const std::vector<Method> plotted = {methods[0], methods[1], methods[3]};
  if (!WriteOutputs(plotted, test, learnt)) return 1;
  const double total_seconds = Seconds(start);
  if (!FLAGS_output_json.empty()) {
    nlohmann::json json;
    json["settings"] = {{"num_cameras", FLAGS_num_cameras},
                        {"num_points", FLAGS_num_points},
                        {"train_scenes", FLAGS_train_scenes},
                        {"validation_scenes", FLAGS_validation_scenes},
                        {"initial_scale", FLAGS_initial_scale},
                        {"select_by_validation", FLAGS_select_by_validation},
                        {"robust_outer_loss", FLAGS_robust_outer_loss},
                        {"test_scenes", FLAGS_test_scenes},
                        {"seed", FLAGS_seed},
                        {"epochs", FLAGS_epochs},
                        {"batch_size", FLAGS_batch_size},
                        {"learning_rate", FLAGS_learning_rate},
                        {"lambda", FLAGS_lambda},
                        {"damping", "HESSIAN_DIAGONAL"},
                        {"huber_scale", FLAGS_huber_scale},
                        {"camera_pixel_noise", test[0].camera_pixel_noise},
                        {"outlier_fraction", SceneOptions().outlier_fraction},
                        {"heldout_observations", observations},
                        {"heldout_outliers", outliers}};
    for (size_t k = 0; k < methods.size(); ++k) {
      json["methods"].push_back({{"name", methods[k].name},
                                 {"loss", bundle_adjustment::BaLossToString(
                                              methods[k].options.loss)},
                                 {"heldout_rmse", methods[k].rmse},
                                 {"heldout_mean_rmse", methods[k].Mean()},
                                 {"heldout_ceres_iterations", methods[k].iterations},
                                 {"heldout_median_error", methods[k].median},
                                 {"heldout_mean_median_error", methods[k].MeanMedian()},
                                 {"heldout_worst_point_share", methods[k].worst_share},
                                 {"training_rmse", train_methods[k].rmse},
                                 {"training_mean_rmse", train_methods[k].Mean()},
                                 {"training_mean_median_error", train_methods[k].MeanMedian()},
                                 {"validation_rmse", validation_methods[k].rmse},
                                 {"validation_mean_rmse",
                                  validation.empty() ? 0.0 : validation_methods[k].Mean()},
                                 {"validation_mean_median_error",
                                  validation.empty() ? 0.0
                                                     : validation_methods[k].MeanMedian()}});
    }
    json["learnt"] = {{"scale", learnt.scale}, {"camera_weights", learnt.camera_weights}};
    json["learning"] = {{"iterations", learner_summary.num_iterations},
                        {"final_loss", learner_summary.final_loss},
                        {"validation_curve", validation_curve},
                        {"selected_epoch", selected_epoch},
                        {"seconds", learn_seconds}};
    json["wins"] = {{"vs_least_squares", wins_ls},
                    {"vs_huber", wins_huber},
                    {"training_vs_least_squares", wins(train_methods, 0)},
                    {"training_vs_huber", wins(train_methods, 1)},
                    {"validation_vs_least_squares",
                     validation.empty() ? 0 : wins(validation_methods, 0)},
                    {"validation_vs_huber", validation.empty() ? 0 : wins(validation_methods, 1)}};
    std::vector<double> sv(gauge.free_singular_values.data(),
                           gauge.free_singular_values.data() + gauge.free_singular_values.size());
    json["gauge"] = {{"points", FLAGS_gauge_points},
                     {"inner_variables_free", gauge.num_inner_free},
                     {"inner_variables_fixed", gauge.num_inner_fixed},
                     {"smallest_relative_singular_values_free", sv},
                     {"null_dimension_free", gauge.free_null_dimension},
                     {"null_dimension_fixed", gauge.fixed_null_dimension},
                     {"lambda_zero_free_status", gauge.lambda_zero_code},
                     {"lambda_zero_free_message", gauge.lambda_zero_message},
                     {"lambda_positive_checker_error", gauge.lambda_positive_error},
                     {"fixed_lambda_zero_checker_error", gauge.fixed_error},
                     {"fixed_condition_number", gauge.fixed_condition_number},
                     {"free_cost", gauge.free_cost},
                     {"fixed_cost", gauge.fixed_cost},
                     {"seconds", gauge_seconds}};
    json["evaluation_seconds"] = eval_seconds;
    json["total_seconds"] = total_seconds;
    if (Fail("writing " + FLAGS_output_json,
             ceres_wiberg::WriteFileAtomically(FLAGS_output_json, json.dump(2) + "\n"))) {
      return 1;
    }
    std::printf("results: %s\n", FLAGS_output_json.c_str());
  }
  std::printf("total time %.1f s\n", total_seconds);
  return 0;
}
