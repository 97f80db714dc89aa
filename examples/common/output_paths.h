// Checks of the example programs' output paths, made before the long work
// starts: a run that trains for minutes must not fail only when it writes.

#ifndef CERES_WIBERG_EXAMPLES_COMMON_OUTPUT_PATHS_H_
#define CERES_WIBERG_EXAMPLES_COMMON_OUTPUT_PATHS_H_

#include <string>

#include "ceres_wiberg/status.h"

namespace examples {

// Creates `directory` (and its parents) if needed. kInvalidArgument when it
// cannot be created, is not a directory or is not writable, naming `flag`
// (e.g. "--output_dir") and the cause.
ceres_wiberg::Status PrepareOutputDirectory(const std::string& flag,
                                            const std::string& directory);

// The file `path` can be written later by WriteFileAtomically: it is not a
// directory, and the folder that will hold it exists and is writable (it is
// not created). Nothing is written. Errors as above.
ceres_wiberg::Status CheckOutputFile(const std::string& flag, const std::string& path);

}  // namespace examples

#endif  // CERES_WIBERG_EXAMPLES_COMMON_OUTPUT_PATHS_H_
