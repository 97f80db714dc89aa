#include "ceres_wiberg/internal/string_util.h"

#include <cmath>
#include <cstdio>

namespace ceres_wiberg {
namespace internal {

std::string FormatDouble(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.17g", value);
  return buffer;
}

}  // namespace internal
}  // namespace ceres_wiberg
