#include "fusion_model.h"

#include <algorithm>
#include <cmath>
#include <sstream>

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

// One damped-Newton descent of E~ from y (in place). Returns true if it
// converged within the iteration limit.
bool Descend(const std::vector<Kernel>& kernels, const CornerSolverOptions& options, double y[2],
             double* energy) {
  double g[2], h[4];
  double e = KernelEnergy(kernels, y, g, h);
  for (int iteration = 0; iteration < options.max_iterations; ++iteration) {
    if (std::max(std::abs(g[0]), std::abs(g[1])) <= options.gradient_tolerance) {
      *energy = e;
      return true;
    }
    // Smallest eigenvalue of the symmetric 2 x 2 Hessian; damp it to be
    // positive definite (Levenberg-Marquardt), then grow the damping until
    // the energy decreases.
    const double mean = 0.5 * (h[0] + h[3]);
    const double radius = std::hypot(0.5 * (h[0] - h[3]), h[1]);
    const double min_eigenvalue = mean - radius;
    const double max_abs_eigenvalue = std::abs(mean) + radius;
    const double eigenvalue_floor = 1e-8 * std::max(max_abs_eigenvalue, 1e-300);
    double mu = min_eigenvalue > eigenvalue_floor
                    ? 0.0
                    : eigenvalue_floor - min_eigenvalue + 1e-3 * max_abs_eigenvalue;
    bool accepted = false;
    double step_norm = 0.0;
    for (int attempt = 0; attempt < 60 && !accepted; ++attempt) {
      const double a = h[0] + mu, b = h[1], d = h[3] + mu;
      const double det = a * d - b * b;
      if (det > 0.0 && std::isfinite(det)) {
        const double s0 = -(d * g[0] - b * g[1]) / det;
        const double s1 = -(a * g[1] - b * g[0]) / det;
        const double candidate[2] = {y[0] + s0, y[1] + s1};
        double g_new[2], h_new[4];
        const double e_new = KernelEnergy(kernels, candidate, g_new, h_new);
        // Near the minimum E~ changes below its rounding (|dy| ~ sqrt(eps)),
        // so an undamped Newton step that raises E~ by no more than rounding
        // is also accepted when it halves the gradient: the descent then
        // converges to |g| ~ eps, not to |dy| ~ sqrt(eps). (A step that
        // raises E~ more, e.g. into a flat tail where g also vanishes, is not.)
        const bool rounding_level_newton_step =
            mu == 0.0 && e_new <= e + 1e-13 * (1.0 + std::abs(e)) &&
            std::hypot(g_new[0], g_new[1]) < 0.5 * std::hypot(g[0], g[1]);
        if (std::isfinite(e_new) && (e_new <= e || rounding_level_newton_step)) {
          step_norm = std::hypot(s0, s1);
          y[0] = candidate[0];
          y[1] = candidate[1];
          e = e_new;
          std::copy(g_new, g_new + 2, g);
          std::copy(h_new, h_new + 4, h);
          accepted = true;
          break;
        }
      }
      mu = std::max(10.0 * mu, 1e-3 * std::max(max_abs_eigenvalue, 1e-12));
    }
    if (!accepted || step_norm <= options.step_tolerance * (1.0 + std::hypot(y[0], y[1]))) {
      *energy = e;
      return true;  // no decrease is possible at working precision
    }
  }
  *energy = e;
  return false;
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
