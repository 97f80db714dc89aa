#include "boxes.h"

#include <algorithm>
#include <cstddef>

namespace tracker_fusion {
namespace {

// The median of `values` (non-empty); the mean of the two middle values for
// an even count. Reorders `values`.
double Median(std::vector<double>* values) {
  const std::size_t n = values->size();
  const std::size_t middle = n / 2;
  std::nth_element(values->begin(), values->begin() + middle, values->end());
  const double upper = (*values)[middle];
  if (n % 2 == 1) return upper;
  const double lower = *std::max_element(values->begin(), values->begin() + middle);
  return 0.5 * (lower + upper);
}

double Mean(const std::vector<double>& values) {
  double sum = 0.0;
  for (double value : values) sum += value;
  return sum / static_cast<double>(values.size());
}

}  // namespace

Box BoxFromCorners(double x0, double y0, double x1, double y1) {
  Box box;
  box.x = x0;
  box.y = y0;
  box.width = x1 - x0;
  box.height = y1 - y0;
  return box;
}

double IoU(const Box& a, const Box& b) {
  const double overlap_width = std::min(a.right(), b.right()) - std::max(a.x, b.x);
  const double overlap_height = std::min(a.bottom(), b.bottom()) - std::max(a.y, b.y);
  if (overlap_width <= 0.0 || overlap_height <= 0.0) return 0.0;
  const double intersection = overlap_width * overlap_height;
  const double union_area = a.area() + b.area() - intersection;
  if (union_area <= 0.0) return 0.0;
  return intersection / union_area;
}

Box PolygonToBox(const std::array<double, 8>& polygon) {
  double x0 = polygon[0], x1 = polygon[0];
  double y0 = polygon[1], y1 = polygon[1];
  for (int i = 1; i < 4; ++i) {
    x0 = std::min(x0, polygon[2 * i]);
    x1 = std::max(x1, polygon[2 * i]);
    y0 = std::min(y0, polygon[2 * i + 1]);
    y1 = std::max(y1, polygon[2 * i + 1]);
  }
  return BoxFromCorners(x0, y0, x1, y1);
}

const char* FusionRuleToString(FusionRule rule) {
  switch (rule) {
    case FusionRule::kMean:
      return "mean";
    case FusionRule::kMedian:
      return "median";
  }
  return "unknown";
}

bool FuseBoxes(const std::vector<Box>& boxes, FusionRule rule, Box* fused) {
  if (boxes.empty()) return false;
  std::array<std::vector<double>, 4> corners;
  for (const Box& box : boxes) {
    corners[0].push_back(box.x);
    corners[1].push_back(box.y);
    corners[2].push_back(box.right());
    corners[3].push_back(box.bottom());
  }
  std::array<double, 4> combined;
  for (int c = 0; c < 4; ++c) {
    combined[c] = rule == FusionRule::kMean ? Mean(corners[c]) : Median(&corners[c]);
  }
  *fused = BoxFromCorners(combined[0], combined[1], combined[2], combined[3]);
  return true;
}

}  // namespace tracker_fusion
