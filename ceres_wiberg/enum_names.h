// ceres_wiberg: learning energy parameters by differentiating Ceres minimisers.
//
// StringToEnum: the one mechanism behind every StringToX, the library's and
// its users'. XToString names each value of an enum, and
//
//   bool StringToProtocol(const std::string& name, Protocol* protocol) {
//     return ceres_wiberg::StringToEnum(name, {Protocol::kA, Protocol::kB},
//                                       ProtocolToString, protocol);
//   }
//
// finds the value whose name equals `name` ignoring ASCII case, as Ceres'
// StringToX do.

#ifndef CERES_WIBERG_ENUM_NAMES_H_
#define CERES_WIBERG_ENUM_NAMES_H_

#include <initializer_list>
#include <string>

namespace ceres_wiberg {

// True if a and b are equal ignoring ASCII case.
bool EqualsIgnoringCase(const std::string& a, const char* b);

// False, and *value untouched, if no value of `values` is called `name`.
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

}  // namespace ceres_wiberg

#endif  // CERES_WIBERG_ENUM_NAMES_H_
