// ceres_wiberg: learning energy parameters by differentiating Ceres minimisers.
//
// Atomic file replacement for results, figures and data files: a reader sees
// either the old file or the complete new one, never a torn write.

#ifndef CERES_WIBERG_ATOMIC_FILE_H_
#define CERES_WIBERG_ATOMIC_FILE_H_

#include <string>

#include "ceres_wiberg/status.h"

namespace ceres_wiberg {

// Writes `contents` to path + ".tmp" and renames it over `path`.
// kInternalError naming the file and the OS error otherwise (the temporary
// file is removed).
Status WriteFileAtomically(const std::string& path, const std::string& contents);

}  // namespace ceres_wiberg

#endif  // CERES_WIBERG_ATOMIC_FILE_H_
