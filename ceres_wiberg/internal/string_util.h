// ceres_wiberg: learning energy parameters by differentiating Ceres minimisers.
//
// Number formatting shared by messages, reports and CSV files.

#ifndef CERES_WIBERG_INTERNAL_STRING_UTIL_H_
#define CERES_WIBERG_INTERNAL_STRING_UTIL_H_

#include <initializer_list>
#include <string>

namespace ceres_wiberg {
namespace internal {

// `value` with 17 significant digits, so that it reads back bit-identical;
// "nan", "inf" and "-inf" for non-finite values.
std::string FormatDouble(double value);

// True if a and b are equal ignoring ASCII case.
bool EqualsIgnoringCase(const std::string& a, const char* b);

// The StringToX of every public enum: finds the value among `values` whose
// to_string(value) equals `name` ignoring case, as Ceres' StringToX do.
template <typename Enum>
bool StringToEnum(const std::string& name, std::initializer_list<Enum> values,
                  const char* (*to_string)(Enum), Enum* value) {
  for (Enum candidate : values) {
    if (EqualsIgnoringCase(name, to_string(candidate))) {
      *value = candidate;
      return true;
    }
  }
  return false;
}

}  // namespace internal
}  // namespace ceres_wiberg

#endif  // CERES_WIBERG_INTERNAL_STRING_UTIL_H_
