// ceres_wiberg: learning energy parameters by differentiating Ceres minimisers.
//
// Number formatting shared by messages, reports and CSV files.

#ifndef CERES_WIBERG_INTERNAL_STRING_UTIL_H_
#define CERES_WIBERG_INTERNAL_STRING_UTIL_H_

#include <string>

namespace ceres_wiberg {
namespace internal {

// `value` with 17 significant digits, so that it reads back bit-identical;
// "nan", "inf" and "-inf" for non-finite values.
std::string FormatDouble(double value);
// The shortest decimal that reads back to the same double ("0.05"), or
// "nan", "inf", "-inf".
std::string FormatShortestDouble(double value);

}  // namespace internal
}  // namespace ceres_wiberg

#endif  // CERES_WIBERG_INTERNAL_STRING_UTIL_H_
