#include "fusion_model.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include "ceres_wiberg/damped_newton.h"
#include "glog/logging.h"

namespace tracker_fusion {
namespace {

double Median(std::vector<double> values) {
  const size_t n = values.size();
  const size_t middle = n / 2;
  std::nth_element(values.begin(), values.begin() + middle, values.end());
  const double upper = values[middle];
  if (n % 2 == 1) return upper;
  return 0.5 * (*std::max_element(values.begin(), values.begin() + middle) + upper);
}

bool IsFiniteBox(const Box& box) {
  return std::isfinite(box.x) && std::isfinite(box.y) && std::isfinite(box.width) &&
         std::isfinite(box.height);
}

// The DampedNewton model (ceres_wiberg/damped_newton.h) of one corner's
// energy E~: exact 2 x 2 gradient and Hessian, y (in place) in R^2.
class CornerModel {
 public:
  CornerModel(const std::vector<Kernel>& kernels, double y[2]) : kernels_(kernels), y_(y) {}

  double energy() const { return e_; }

  bool Cost(double* cost) {
    *cost = e_ = KernelEnergy(kernels_, y_, g_, h_);
    return true;
  }
  bool Linearise(double* gradient_max_norm) {
    *gradient_max_norm = std::max(std::abs(g_[0]), std::abs(g_[1]));
    return true;
  }
  // mu = 0 where H is positive definite (relative to its largest |eigenvalue|),
  // else the shift that lifts its smallest eigenvalue just above that floor.
  double InitialShift(double /*mu*/) {
    const double mean = 0.5 * (h_[0] + h_[3]);
    const double radius = std::hypot(0.5 * (h_[0] - h_[3]), h_[1]);
    const double min_eigenvalue = mean - radius;
    const double max_abs_eigenvalue = std::abs(mean) + radius;
    const double eigenvalue_floor = 1e-8 * std::max(max_abs_eigenvalue, 1e-300);
    scale_ = std::max(max_abs_eigenvalue, 1e-12);
    return min_eigenvalue > eigenvalue_floor
               ? 0.0
               : eigenvalue_floor - min_eigenvalue + 1e-3 * max_abs_eigenvalue;
  }
  double ShiftScale() const { return scale_; }
  ceres_wiberg::ShiftedFactorisation Factorise(double mu) {
    a_ = h_[0] + mu;
    d_ = h_[3] + mu;
    det_ = a_ * d_ - h_[1] * h_[1];
    return det_ > 0.0 && std::isfinite(det_)
               ? ceres_wiberg::ShiftedFactorisation::kPositiveDefinite
               : ceres_wiberg::ShiftedFactorisation::kNotPositiveDefinite;
  }
  bool Trial(double* cost) {
    const double b = h_[1];
    s_[0] = -(d_ * g_[0] - b * g_[1]) / det_;
    s_[1] = -(a_ * g_[1] - b * g_[0]) / det_;
    candidate_[0] = y_[0] + s_[0];
    candidate_[1] = y_[1] + s_[1];
    *cost = e_new_ = KernelEnergy(kernels_, candidate_, g_new_, h_new_);
    return std::isfinite(e_new_);
  }
  bool TrialHalvesGradient() const {
    return std::hypot(g_new_[0], g_new_[1]) < 0.5 * std::hypot(g_[0], g_[1]);
  }
  void Accept() {
    y_[0] = candidate_[0];
    y_[1] = candidate_[1];
    e_ = e_new_;
    std::copy(g_new_, g_new_ + 2, g_);
    std::copy(h_new_, h_new_ + 4, h_);
  }
  void Reject() {}
  bool StepIsNegligible(double tolerance) const {
    return std::hypot(s_[0], s_[1]) <= tolerance * (1.0 + std::hypot(y_[0], y_[1]));
  }

 private:
  const std::vector<Kernel>& kernels_;
  double* y_;
  double e_ = 0.0, g_[2] = {0.0, 0.0}, h_[4] = {0.0, 0.0, 0.0, 0.0};
  double scale_ = 1.0;
  double a_ = 0.0, d_ = 0.0, det_ = 0.0;  // H + mu I = [a b; b d]
  double s_[2] = {0.0, 0.0}, candidate_[2] = {0.0, 0.0};
  double e_new_ = 0.0, g_new_[2] = {0.0, 0.0}, h_new_[4] = {0.0, 0.0, 0.0, 0.0};
};

// One damped-Newton descent of E~ from y (in place). Returns true if it
// converged within the iteration limit; a point where no step lowers E~ at
// working precision counts as converged.
bool Descend(const std::vector<Kernel>& kernels, const CornerSolverOptions& options, double y[2],
             double* energy) {
  ceres_wiberg::DampedNewtonOptions newton;
  newton.max_num_iterations = options.max_iterations;
  newton.gradient_tolerance = options.gradient_tolerance;
  newton.step_tolerance = options.step_tolerance;
  // Every iteration starts from CornerModel::InitialShift; a failed trial
  // raises mu to max(10 mu, 1e-3 max|eig(H)|), up to 60 trials.
  newton.initial_mu = 1e-3;
  newton.mu_increase = 10.0;
  newton.mu_decrease = 0.0;
  newton.max_mu = std::numeric_limits<double>::infinity();
  newton.max_num_trials_per_iteration = 60;
  newton.accept_rounding_level_newton_steps = true;
  CornerModel model(kernels, y);
  ceres_wiberg::DampedNewtonSummary summary;
  const ceres_wiberg::DampedNewtonTermination termination =
      ceres_wiberg::DampedNewton(newton, &model, &summary);
  *energy = model.energy();
  return termination != ceres_wiberg::DampedNewtonTermination::kMaxIterations;
}

}  // namespace

const char* SizeReferenceToString(SizeReference reference) {
  switch (reference) {
    case SizeReference::kConsensus:
      return "CONSENSUS";
    case SizeReference::kInitialisation:
      return "INITIALISATION";
  }
  return "UNKNOWN";
}

bool StringToSizeReference(const std::string& name, SizeReference* reference) {
  if (name == "CONSENSUS") {
    *reference = SizeReference::kConsensus;
  } else if (name == "INITIALISATION") {
    *reference = SizeReference::kInitialisation;
  } else {
    return false;
  }
  return true;
}

bool FusionModelOptions::IsValid(std::string* error) const {
  if (!(min_reference_size > 0.0) || !std::isfinite(min_reference_size)) {
    *error = "min_reference_size must be positive and finite";
    return false;
  }
  return true;
}

bool InitialParameters::IsValid(std::string* error) const {
  for (double value : {sigma, scale, sigma_size, a, b}) {
    if (!(value > 0.0) || !std::isfinite(value)) {
      *error = "initial parameters must be positive and finite";
      return false;
    }
  }
  return true;
}

Eigen::VectorXd MakeInitialParameters(int num_trackers, const InitialParameters& initial) {
  std::string error;
  CHECK(initial.IsValid(&error)) << error;
  Eigen::VectorXd w(kNumTrackerParameters * num_trackers);
  for (int t = 0; t < num_trackers; ++t) {
    double* p = w.data() + kNumTrackerParameters * t;
    p[kLogSigmaT] = p[kLogSigmaL] = std::log(initial.sigma);
    p[kLogScale] = std::log(initial.scale);
    p[kLogSigmaW] = p[kLogSigmaH] = std::log(initial.sigma_size);
    p[kLogA] = std::log(initial.a);
    p[kLogB] = std::log(initial.b);
  }
  return w;
}

ceres_wiberg::Status MakeFrameInput(const Dataset& dataset, const FrameRef& ref,
                                    const FusionModelOptions& options, FrameInput* input) {
  std::string error;
  if (!options.IsValid(&error)) return ceres_wiberg::InvalidArgumentError(error);
  if (ref.sequence < 0 || ref.sequence >= dataset.num_sequences() || ref.frame < 0 ||
      ref.frame >= dataset.sequences[ref.sequence].num_frames()) {
    std::ostringstream message;
    message << "frame " << ref.frame << " of sequence " << ref.sequence << " is not in the dataset";
    return ceres_wiberg::InvalidArgumentError(message.str());
  }
  const Sequence& sequence = dataset.sequences[ref.sequence];
  *input = FrameInput();
  input->ref = ref;
  std::vector<Box> boxes;
  AvailableBoxes(sequence, ref.frame, &input->trackers, &boxes);
  for (size_t i = 0; i < boxes.size(); ++i) {
    if (!IsFiniteBox(boxes[i]) || boxes[i].width < 0.0 || boxes[i].height < 0.0) {
      std::ostringstream message;
      message << "sequence '" << sequence.name << "' frame " << ref.frame << ": tracker '"
              << dataset.tracker_names[input->trackers[i]]
              << "' has a non-finite box or a negative size";
      return ceres_wiberg::InvalidArgumentError(message.str());
    }
  }
  if (boxes.empty()) return ceres_wiberg::Status::Ok();

  std::vector<double> centre_x, centre_y, widths, heights;
  for (const Box& box : boxes) {
    centre_x.push_back(box.x + 0.5 * box.width);
    centre_y.push_back(box.y + 0.5 * box.height);
    widths.push_back(box.width);
    heights.push_back(box.height);
  }
  const double median_width = Median(widths);
  const double median_height = Median(heights);
  input->centre_x = Median(centre_x);
  input->centre_y = Median(centre_y);
  input->scale = std::max(std::sqrt(median_width * median_height), options.min_reference_size);
  const double inverse_scale = 1.0 / input->scale;

  for (size_t i = 0; i < boxes.size(); ++i) {
    const Box& box = boxes[i];
    const TrackerFrame& tracker_frame = sequence.tracks[input->trackers[i]][ref.frame];
    double reference_width = median_width, reference_height = median_height;
    if (options.size_reference == SizeReference::kInitialisation) {
      const int initialisation = ref.frame - tracker_frame.frames_since_initialisation;
      if (tracker_frame.frames_since_initialisation < 0 || initialisation < 0) {
        std::ostringstream message;
        message << "sequence '" << sequence.name << "' frame " << ref.frame << ": tracker '"
                << dataset.tracker_names[input->trackers[i]]
                << "' has a box but no valid frames since initialisation";
        return ceres_wiberg::InvalidArgumentError(message.str());
      }
      reference_width = sequence.groundtruth[initialisation].width;
      reference_height = sequence.groundtruth[initialisation].height;
    }
    CornerObservation o;
    o.dw = (box.width - reference_width) * inverse_scale;
    o.dh = (box.height - reference_height) * inverse_scale;
    o.f = std::max(tracker_frame.frames_since_initialisation, 0);
    o.a = (box.x - input->centre_x) * inverse_scale;
    o.b = (box.y - input->centre_y) * inverse_scale;
    input->corners[0].push_back(o);
    o.a = (box.right() - input->centre_x) * inverse_scale;
    o.b = (box.bottom() - input->centre_y) * inverse_scale;
    input->corners[1].push_back(o);
  }
  return ceres_wiberg::Status::Ok();
}

bool CornerSolverOptions::IsValid(std::string* error) const {
  if (max_iterations < 1) {
    *error = "max_iterations must be at least 1";
    return false;
  }
  if (!(gradient_tolerance >= 0.0) || !(step_tolerance >= 0.0) ||
      !(distinct_optimum_distance >= 0.0)) {
    *error = "tolerances must be non-negative";
    return false;
  }
  return true;
}

void MinimiseCorner(const std::vector<CornerObservation>& observations,
                    const std::vector<const double*>& params, const CornerSolverOptions& options,
                    CornerSolution* solution) {
  CHECK(!observations.empty());
  CHECK_EQ(observations.size(), params.size());
  *solution = CornerSolution();
  const std::vector<Kernel> kernels = MakeKernels(observations, params);
  if (!options.multi_start) {
    std::vector<double> a, b;
    for (const CornerObservation& o : observations) {
      a.push_back(o.a);
      b.push_back(o.b);
    }
    double y[2] = {Median(a), Median(b)};
    double energy = 0.0;
    if (!Descend(kernels, options, y, &energy)) ++solution->num_unconverged_starts;
    solution->num_starts = 1;
    solution->num_distinct_optima = 1;
    solution->energy = energy;
    solution->y[0] = y[0];
    solution->y[1] = y[1];
    return;
  }
  std::vector<std::array<double, 2>> optima;
  for (size_t t = 0; t < observations.size(); ++t) {
    double y[2] = {observations[t].a, observations[t].b};
    double energy = 0.0;
    if (!Descend(kernels, options, y, &energy)) ++solution->num_unconverged_starts;
    ++solution->num_starts;
    bool known = false;
    for (const auto& optimum : optima) {
      if (std::hypot(optimum[0] - y[0], optimum[1] - y[1]) <= options.distinct_optimum_distance) {
        known = true;
        break;
      }
    }
    if (!known) optima.push_back({y[0], y[1]});
    if (solution->best_start < 0 || energy < solution->energy) {
      solution->best_start = static_cast<int>(t);
      solution->energy = energy;
      solution->y[0] = y[0];
      solution->y[1] = y[1];
    }
  }
  solution->num_distinct_optima = static_cast<int>(optima.size());
}

std::vector<const double*> FrameParameters(const FrameInput& input, const Eigen::VectorXd& w) {
  std::vector<const double*> params;
  params.reserve(input.trackers.size());
  for (int t : input.trackers) {
    CHECK_LE(kNumTrackerParameters * (t + 1), w.size());
    params.push_back(w.data() + kNumTrackerParameters * t);
  }
  return params;
}

Box BoxFromNormalisedCorners(const FrameInput& input, const double y_top_left[2],
                             const double y_bottom_right[2]) {
  double x0 = input.centre_x + input.scale * y_top_left[0];
  double y0 = input.centre_y + input.scale * y_top_left[1];
  double x1 = input.centre_x + input.scale * y_bottom_right[0];
  double y1 = input.centre_y + input.scale * y_bottom_right[1];
  if (x1 < x0) x0 = x1 = 0.5 * (x0 + x1);
  if (y1 < y0) y0 = y1 = 0.5 * (y0 + y1);
  return BoxFromCorners(x0, y0, x1, y1);
}

bool FuseFrame(const FrameInput& input, const Eigen::VectorXd& w,
               const CornerSolverOptions& options, Box* box,
               std::array<CornerSolution, 2>* solutions) {
  if (input.empty()) return false;
  const std::vector<const double*> params = FrameParameters(input, w);
  std::array<CornerSolution, 2> local;
  for (int corner = 0; corner < 2; ++corner) {
    MinimiseCorner(input.corners[corner], params, options, &local[corner]);
  }
  *box = BoxFromNormalisedCorners(input, local[0].y, local[1].y);
  if (solutions != nullptr) *solutions = local;
  return true;
}

}  // namespace tracker_fusion
