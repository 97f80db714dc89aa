// ceres_wiberg: learning energy parameters by differentiating Ceres minimisers.
//
// Atomic file replacement for the StochasticLearner's checkpoints and curves:
// a reader sees either the old file or the complete new one, never a torn
// write, even if the process dies mid-write.

#ifndef CERES_WIBERG_INTERNAL_STOCHASTIC_LEARNER_ATOMIC_FILE_H_
#define CERES_WIBERG_INTERNAL_STOCHASTIC_LEARNER_ATOMIC_FILE_H_

#include <string>

#include "ceres_wiberg/status.h"

namespace ceres_wiberg {
namespace internal {

// Writes `contents` to path + ".tmp" and renames it over `path`. With
// `durable`, fsyncs the file before the rename and the directory after it.
// kInternalError naming the file and the OS error otherwise (the temporary
// file is removed).
Status WriteFileAtomically(const std::string& path, const std::string& contents, bool durable);

// Reads the whole file. kInvalidArgument naming the file if it cannot be
// opened or read.
Status ReadWholeFile(const std::string& path, std::string* contents);

}  // namespace internal
}  // namespace ceres_wiberg

#endif  // CERES_WIBERG_INTERNAL_STOCHASTIC_LEARNER_ATOMIC_FILE_H_
