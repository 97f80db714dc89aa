// Axis-aligned boxes in image pixels, their overlap, and the coordinate-wise
// fusions (mean, median) used as baselines in Table 1 of Toso et al. (2019).

#ifndef CERES_WIBERG_EXAMPLES_TRACKER_FUSION_BOXES_H_
#define CERES_WIBERG_EXAMPLES_TRACKER_FUSION_BOXES_H_

#include <array>
#include <vector>

namespace tracker_fusion {

// A box as VOT writes it: top-left corner (x, y) and size (width, height), in
// pixels; x grows to the right and y downwards. The box covers
// [x, x + width] x [y, y + height].
struct Box {
  double x = 0.0;
  double y = 0.0;
  double width = 0.0;
  double height = 0.0;

  double right() const { return x + width; }
  double bottom() const { return y + height; }
  double area() const { return width * height; }
};

// The box with corners (x0, y0) top-left and (x1, y1) bottom-right.
Box BoxFromCorners(double x0, double y0, double x1, double y1);

// Intersection over union of two boxes; 0 when the union has zero area.
double IoU(const Box& a, const Box& b);

// The axis-aligned bounding box of a VOT polygon x1,y1,x2,y2,x3,y3,x4,y4 (the
// four corners in any order), as the VOT toolkit converts a rotated region to
// a rectangle.
Box PolygonToBox(const std::array<double, 8>& polygon);

// How the available boxes of one frame are combined. Both rules act
// coordinate-wise on the corners (x0, y0, x1, y1), the parametrisation of the
// fusion energy (supplementary, eq. 14).
enum class FusionRule {
  kMean,
  // The middle value of each corner coordinate; for an even number of boxes
  // the mean of the two middle values.
  kMedian,
};
const char* FusionRuleToString(FusionRule rule);

// Fuses `boxes` by `rule` into *fused. Returns false (and leaves *fused
// alone) when `boxes` is empty.
bool FuseBoxes(const std::vector<Box>& boxes, FusionRule rule, Box* fused);

}  // namespace tracker_fusion

#endif  // CERES_WIBERG_EXAMPLES_TRACKER_FUSION_BOXES_H_
