// Reading and writing tracking data in the VOT short-term (baseline
// experiment) file layout:
//
//   <root>/sequences/list.txt                           sequence names, one a line
//   <root>/sequences/<seq>/groundtruth.txt              one box per frame
//   <root>/results/<tracker>/baseline/<seq>/<seq>_001.txt   one line per frame
//
// A ground-truth line is a box: "x,y,w,h" (top-left corner and size, pixels)
// or an 8-number polygon "x1,y1,...,x4,y4", read as its axis-aligned bounding
// box. A result line is a box likewise, or one integer: 1 = (re)initialisation
// with the ground truth, 2 = failure, 0 = skipped (VOT re-initialises 5 frames
// after a failure). Fields are separated by commas (optionally padded with
// blanks) or by tabs/spaces; "\r\n" line ends and blank lines at the end of a
// file are accepted. Widths and heights must be >= 0 and every number finite.
// Any other content is an error "<path>:<line>: <cause>". Other files in the
// tree (e.g. <seq>_time.txt, images) are ignored.
//
// Files are written as "x,y,w,h" with the shortest decimal that reads back as
// the same double, and atomically (to <path>.tmp, then renamed).

#ifndef CERES_WIBERG_EXAMPLES_TRACKER_FUSION_VOT_FORMAT_H_
#define CERES_WIBERG_EXAMPLES_TRACKER_FUSION_VOT_FORMAT_H_

#include <string>
#include <vector>

#include "boxes.h"
#include "ceres_wiberg/status.h"
#include "tracking_data.h"

namespace tracker_fusion {

struct VotReadOptions {
  // Sequences to read; empty: the names in <root>/sequences/list.txt or,
  // without that file, every folder of <root>/sequences holding a
  // groundtruth.txt, sorted by name.
  std::vector<std::string> sequences;
  // Trackers to read; empty: every folder of <root>/results, sorted by name.
  std::vector<std::string> trackers;
  // VOT experiment folder and repetition number of the result files.
  std::string experiment = "baseline";
  int repetition = 1;
};

// <root>/sequences/<sequence>/groundtruth.txt
std::string GroundTruthPath(const std::string& root, const std::string& sequence);
// <root>/results/<tracker>/<experiment>/<sequence>/<sequence>_<repetition, 3 digits>.txt
std::string ResultPath(const std::string& root, const std::string& tracker,
                       const std::string& sequence, const std::string& experiment = "baseline",
                       int repetition = 1);

// One ground-truth file: one box per line.
ceres_wiberg::Status ReadGroundTruthFile(const std::string& path, std::vector<Box>* boxes);

// One result file: a box or a special line per frame; frames_since_initialisation
// is filled in (see TrackerFrame).
ceres_wiberg::Status ReadResultFile(const std::string& path, std::vector<TrackerFrame>* frames);

// The readers above and the one of list.txt on a file's contents, `path`
// naming it in errors. A sequence name is refused if it is ".", "..", holds a
// blank, a slash, a backslash or a NUL, or repeats an earlier line.
ceres_wiberg::Status ParseGroundTruth(const std::string& contents, const std::string& path,
                                      std::vector<Box>* boxes);
ceres_wiberg::Status ParseResults(const std::string& contents, const std::string& path,
                                  std::vector<TrackerFrame>* frames);
ceres_wiberg::Status ParseSequenceList(const std::string& contents, const std::string& path,
                                       std::vector<std::string>* names);

// A whole tree. Every tracker needs a result file for every sequence with as
// many lines as the sequence's groundtruth.txt; a shorter or longer file is an
// error naming the first missing or extra line.
ceres_wiberg::Status ReadVotDataset(const std::string& root, const VotReadOptions& options,
                                    Dataset* dataset);

ceres_wiberg::Status WriteGroundTruthFile(const std::string& path, const std::vector<Box>& boxes);
ceres_wiberg::Status WriteResultFile(const std::string& path,
                                     const std::vector<TrackerFrame>& frames);

// Writes list.txt, every groundtruth.txt and every <seq>_001.txt of the
// baseline experiment under `root`, creating folders as needed.
ceres_wiberg::Status WriteVotDataset(const std::string& root, const Dataset& dataset);

}  // namespace tracker_fusion

#endif  // CERES_WIBERG_EXAMPLES_TRACKER_FUSION_VOT_FORMAT_H_
