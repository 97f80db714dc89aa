// The fusion model: the normalised inputs of one frame, the per-tracker
// parameters, and the multi-start inner solve that fuses one frame's boxes.
//
// Normalisation. On each frame the available trackers' boxes define a
// reference: centre c = the coordinate-wise median of the boxes' centres, size
// S = sqrt(median width * median height) (at least
// FusionModelOptions::min_reference_size pixels). A pixel coordinate x maps to
// (x - c) / S. Corners, widths and the size deviations dw, dh are therefore in
// units of the consensus object size, and the learnt widths sigma are
// scale-free: the same sigma fits a 30-pixel and a 300-pixel object. Nothing
// of the ground truth enters the inputs.
//
// The two corners are the top-left (x0, y0) and the bottom-right (x1, y1);
// each is fused by its own energy (fusion_energy.h), sharing the trackers'
// parameters.
//
// The learnable vector w holds kNumTrackerParameters log-values per tracker,
// tracker t at [7 t, 7 t + 7), in the order of TrackerParameterIndex.

#ifndef CERES_WIBERG_EXAMPLES_TRACKER_FUSION_FUSION_MODEL_H_
#define CERES_WIBERG_EXAMPLES_TRACKER_FUSION_FUSION_MODEL_H_

#include <array>
#include <string>
#include <vector>

#include "Eigen/Core"
#include "boxes.h"
#include "ceres_wiberg/status.h"
#include "fusion_energy.h"
#include "scoring.h"
#include "tracking_data.h"

namespace tracker_fusion {

// How w_0,t of eq. 15 (the size a tracker's box is compared with) is read;
// the paper does not define it.
enum class SizeReference {
  // The frame's consensus size (median width / height of the available
  // boxes): m_t falls for boxes whose size disagrees with the others (e.g. a
  // tracker running away in scale).
  kConsensus,
  // The ground-truth size the tracker was (re)initialised with, f_t frames
  // ago (known to a tracker under the VOT protocol): m_t falls for boxes whose
  // size drifted since initialisation.
  kInitialisation,
};
const char* SizeReferenceToString(SizeReference reference);
bool StringToSizeReference(const std::string& name, SizeReference* reference);

struct FusionModelOptions {
  // See SizeReference.
  SizeReference size_reference = SizeReference::kConsensus;
  // Lower bound, in pixels, of the reference size S (guards frames whose
  // median box is degenerate).
  double min_reference_size = 1.0;

  bool IsValid(std::string* error) const;
};

// The initial (untrained) parameters, the same for every tracker, in
// normalised units (object sizes) and frames.
struct InitialParameters {
  double sigma = 0.1;       // sT = sL: corner spread, 0.1 object sizes
  double scale = 1.0;       // s
  double sigma_size = 0.3;  // sw = sh: size deviations of 0.3 object sizes
  double a = 0.05;          // A: theta = 0.8 after 100 frames from A alone
  double b = 0.002;         // B: theta = 0.96 after 100 frames from B alone

  bool IsValid(std::string* error) const;
};

// w for num_trackers trackers, all at `initial` (log-values).
Eigen::VectorXd MakeInitialParameters(int num_trackers, const InitialParameters& initial);

// The inputs of one frame.
struct FrameInput {
  FrameRef ref;
  // Trackers with a box on this frame (status kBox), in tracker order.
  std::vector<int> trackers;
  // corners[0]: top-left, corners[1]: bottom-right; one observation per
  // entry of `trackers`, normalised.
  std::array<std::vector<CornerObservation>, 2> corners;
  // Normalisation: pixel x = centre_x + scale * y0, pixel y = centre_y +
  // scale * y1.
  double centre_x = 0.0;
  double centre_y = 0.0;
  double scale = 1.0;

  bool empty() const { return trackers.empty(); }
};

// Builds the inputs of one frame. A frame without boxes gives an empty
// input. Errors (kInvalidArgument, naming the sequence, frame and tracker): a
// reference out of range, a non-finite box or a negative size.
ceres_wiberg::Status MakeFrameInput(const Dataset& dataset, const FrameRef& ref,
                                    const FusionModelOptions& options, FrameInput* input);

// The inner solve of one corner.
struct CornerSolverOptions {
  // Newton iterations per start (ceres_wiberg::DampedNewton: exact 2 x 2
  // Hessian, Levenberg-Marquardt damping where it is not positive definite,
  // damping raised tenfold on any increase).
  int max_iterations = 100;
  // A start has converged when max |dE/dy| <= gradient_tolerance (normalised
  // units; E~ is of order sum_t m_t) or a step is shorter than
  // step_tolerance.
  double gradient_tolerance = 1e-11;
  double step_tolerance = 1e-13;
  // Optima closer than this (normalised units) count as one in
  // CornerSolution::num_distinct_optima.
  double distinct_optimum_distance = 1e-6;
  // true: start from every observation's corner and keep the lowest optimum.
  // false: one descent from the coordinate-wise median of the corners (the
  // median-fusion corner), a local solve kept for comparison.
  bool multi_start = true;

  bool IsValid(std::string* error) const;
};

struct CornerSolution {
  double y[2] = {0.0, 0.0};
  double energy = 0.0;
  // The tracker (index into FrameInput::trackers) whose corner started the
  // best descent; the number of starts; how many distinct optima they
  // reached; how many starts hit max_iterations.
  int best_start = -1;
  int num_starts = 0;
  int num_distinct_optima = 0;
  int num_unconverged_starts = 0;
};

// Minimises E~ of one corner from every observation's corner and keeps the
// lowest-energy local optimum (the first on ties); with
// options.multi_start = false, one descent from the median corner
// (best_start = -1). `params[t]` are the
// log-parameters of observations[t]'s tracker. CHECKs that observations is
// not empty.
void MinimiseCorner(const std::vector<CornerObservation>& observations,
                    const std::vector<const double*>& params, const CornerSolverOptions& options,
                    CornerSolution* solution);

// Pointers into w for the trackers of `input`.
std::vector<const double*> FrameParameters(const FrameInput& input, const Eigen::VectorXd& w);

// The fused box of a frame (false for an empty input). `solutions` (may be
// null) receives both corners' solutions in normalised units.
bool FuseFrame(const FrameInput& input, const Eigen::VectorXd& w,
               const CornerSolverOptions& options, Box* box,
               std::array<CornerSolution, 2>* solutions = nullptr);

// The box with pixel corners c0 = centre + scale y_top_left and c1 = centre +
// scale y_bottom_right; a corner pair in the wrong order gives a box of zero
// width (or height) at their midpoint.
Box BoxFromNormalisedCorners(const FrameInput& input, const double y_top_left[2],
                             const double y_bottom_right[2]);

}  // namespace tracker_fusion

#endif  // CERES_WIBERG_EXAMPLES_TRACKER_FUSION_FUSION_MODEL_H_
