// ceres_wiberg: learning energy parameters by differentiating Ceres minimisers.
//
// Whole-file reads and atomic file replacement, for checkpoints, results,
// figures and data files: a reader sees either the old file or the complete
// new one, never a torn write, even if the process dies mid-write.

#ifndef CERES_WIBERG_FILE_H_
#define CERES_WIBERG_FILE_H_

#include <string>

#include "ceres_wiberg/status.h"

namespace ceres_wiberg {

// Writes `contents` to path + ".tmp" and renames it over `path`. With
// `durable`, fsyncs the file before the rename and the directory after it
// (for checkpoints that must survive a power cut). kInternalError naming the
// file and the OS error otherwise; the temporary file is removed.
Status WriteFileAtomically(const std::string& path, const std::string& contents,
                           bool durable = false);

// Reads the whole file into `contents`. kInvalidArgument naming the file if it
// cannot be opened or read.
Status ReadFileToString(const std::string& path, std::string* contents);

}  // namespace ceres_wiberg

#endif  // CERES_WIBERG_FILE_H_
