// StringToX for the examples' own enums, in the manner of Ceres' and
// ceres_wiberg's: XToString names each value, and
//
//   bool StringToProtocol(const std::string& name, Protocol* protocol) {
//     return examples::StringToEnum(name, {Protocol::kA, Protocol::kB},
//                                   ProtocolToString, protocol);
//   }
//
// finds the value whose name is `name` (exactly: the examples' flags are
// documented in lower case).

#ifndef CERES_WIBERG_EXAMPLES_COMMON_ENUM_NAMES_H_
#define CERES_WIBERG_EXAMPLES_COMMON_ENUM_NAMES_H_

#include <algorithm>
#include <initializer_list>
#include <string>

namespace examples {

// False, and *value untouched, if no value of `values` is called `name`.
template <typename Enum>
bool StringToEnum(const std::string& name, std::initializer_list<Enum> values,
                  const char* (*to_string)(Enum), Enum* value) {
  const auto found = std::find_if(values.begin(), values.end(),
                                  [&](Enum candidate) { return name == to_string(candidate); });
  if (found == values.end()) return false;
  *value = *found;
  return true;
}

}  // namespace examples

#endif  // CERES_WIBERG_EXAMPLES_COMMON_ENUM_NAMES_H_
