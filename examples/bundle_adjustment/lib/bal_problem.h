// Bundle-adjustment data in the BAL text format ("Bundle Adjustment in the
// Large", Agarwal et al. 2010), as Ceres' bundle_adjuster example reads it:
//
//   <num_cameras> <num_points> <num_observations>
//   <camera_index> <point_index> <x> <y>          (num_observations lines)
//   <camera parameters>                           (9 per camera, Snavely model)
//   <point coordinates>                           (3 per point)
//
// Numbers are separated by white space. The reader refuses, with a message
// naming the line and the cause: counts that are not positive, counts that
// the file is too short to hold (checked before anything is allocated), a
// truncated file, a token that is not a number, NaN or infinite values,
// negative or out-of-range camera and point indices, and text after the last
// point.

#ifndef CERES_WIBERG_EXAMPLES_BUNDLE_ADJUSTMENT_BAL_PROBLEM_H_
#define CERES_WIBERG_EXAMPLES_BUNDLE_ADJUSTMENT_BAL_PROBLEM_H_

#include <string>
#include <vector>

#include "ceres_wiberg/status.h"

namespace bundle_adjustment {

struct BalObservation {
  int camera = 0;
  int point = 0;
  double x = 0.0;
  double y = 0.0;
};

struct BalProblem {
  int num_cameras() const { return static_cast<int>(cameras.size() / 9); }
  int num_points() const { return static_cast<int>(points.size() / 3); }
  int num_observations() const { return static_cast<int>(observations.size()); }
  double* mutable_camera(int i) { return cameras.data() + 9 * i; }
  double* mutable_point(int j) { return points.data() + 3 * j; }
  const double* camera(int i) const { return cameras.data() + 9 * i; }
  const double* point(int j) const { return points.data() + 3 * j; }

  std::vector<BalObservation> observations;
  std::vector<double> cameras;  // 9 per camera
  std::vector<double> points;   // 3 per point
};

// Parses BAL text; `name` prefixes messages (e.g. the file name).
ceres_wiberg::Status ParseBal(const std::string& text, const std::string& name,
                              BalProblem* problem);
// The BAL text of `problem`, doubles written to read back bit-identical.
std::string BalToString(const BalProblem& problem);

// File versions: ReadBal reads the whole file first; WriteBal writes
// atomically. *problem is untouched on error.
ceres_wiberg::Status ReadBal(const std::string& path, BalProblem* problem);
ceres_wiberg::Status WriteBal(const std::string& path, const BalProblem& problem);

}  // namespace bundle_adjustment

#endif  // CERES_WIBERG_EXAMPLES_BUNDLE_ADJUSTMENT_BAL_PROBLEM_H_
