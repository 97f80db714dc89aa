#include "ceres_wiberg/internal/string_util.h"

#include <charconv>
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

std::string FormatShortestDouble(double value) {
  if (!std::isfinite(value)) return FormatDouble(value);
  char buffer[32];
  const std::to_chars_result result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return std::string(buffer, result.ptr);
}

}  // namespace internal
}  // namespace ceres_wiberg
