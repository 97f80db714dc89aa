#include "vot_format.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <system_error>

namespace tracker_fusion {
namespace {

namespace fs = std::filesystem;
using ceres_wiberg::InvalidArgumentError;
using ceres_wiberg::Status;
using ceres_wiberg::StatusCode;

bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

std::string Trim(const std::string& text) {
  std::size_t begin = 0, end = text.size();
  while (begin < end && IsBlank(text[begin])) ++begin;
  while (end > begin && IsBlank(text[end - 1])) --end;
  return text.substr(begin, end - begin);
}

Status LineError(const std::string& path, int line, const std::string& cause) {
  return InvalidArgumentError(path + ":" + std::to_string(line) + ": " + cause);
}

// The trimmed lines of `text`, without the blank lines at its end.
std::vector<std::string> SplitLines(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t begin = 0;
  while (begin < text.size()) {
    std::size_t end = text.find('\n', begin);
    if (end == std::string::npos) end = text.size();
    lines.push_back(Trim(text.substr(begin, end - begin)));
    begin = end + 1;
  }
  while (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
}

// The whole of `path`.
Status ReadText(const std::string& path, std::string* text) {
  std::ifstream stream(path, std::ios::binary);
  if (!stream) return InvalidArgumentError(path + ": cannot open file");
  std::ostringstream contents;
  contents << stream.rdbuf();
  if (stream.bad()) return InvalidArgumentError(path + ": read error");
  *text = contents.str();
  return Status::Ok();
}

// Splits a trimmed, non-empty line into fields: at commas (each field
// trimmed) if it has any, else at runs of blanks.
Status SplitFields(const std::string& line, const std::string& path, int line_number,
                   std::vector<std::string>* fields) {
  fields->clear();
  if (line.find(',') != std::string::npos) {
    std::stringstream stream(line);
    std::string field;
    while (std::getline(stream, field, ',')) fields->push_back(Trim(field));
    if (line.back() == ',') fields->push_back("");
    for (const std::string& f : *fields) {
      if (f.empty()) return LineError(path, line_number, "empty field in \"" + line + "\"");
      if (std::any_of(f.begin(), f.end(), IsBlank)) {
        return LineError(path, line_number, "mixed separators in \"" + line + "\"");
      }
    }
    return Status::Ok();
  }
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && IsBlank(line[i])) ++i;
    std::size_t end = i;
    while (end < line.size() && !IsBlank(line[end])) ++end;
    if (end > i) fields->push_back(line.substr(i, end - i));
    i = end;
  }
  return Status::Ok();
}

Status ParseNumber(const std::string& field, const std::string& path, int line_number,
                   double* value) {
  const char* begin = field.data();
  const char* end = begin + field.size();
  // One optional '+' (from_chars takes no '+', and after one no sign).
  if (begin != end && *begin == '+') {
    ++begin;
    if (begin != end && (*begin == '-' || *begin == '+')) {
      return LineError(path, line_number, "\"" + field + "\" is not a number");
    }
  }
  const auto result = std::from_chars(begin, end, *value);
  if (result.ec != std::errc() || result.ptr != end) {
    return LineError(path, line_number, "\"" + field + "\" is not a number");
  }
  if (!std::isfinite(*value)) {
    return LineError(path, line_number, "\"" + field + "\" is not finite");
  }
  return Status::Ok();
}

// Parses 4 (x,y,w,h) or 8 (polygon) fields into a box.
Status ParseBox(const std::vector<std::string>& fields, const std::string& path, int line_number,
                Box* box) {
  if (fields.size() != 4 && fields.size() != 8) {
    return LineError(path, line_number,
                     "expected 4 (x,y,w,h) or 8 (polygon) numbers, found " +
                         std::to_string(fields.size()) + " fields");
  }
  std::array<double, 8> values;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    Status status = ParseNumber(fields[i], path, line_number, &values[i]);
    if (!status.ok()) return status;
  }
  if (fields.size() == 8) {
    *box = PolygonToBox(values);
    return Status::Ok();
  }
  box->x = values[0];
  box->y = values[1];
  box->width = values[2];
  box->height = values[3];
  if (box->width < 0.0) return LineError(path, line_number, "negative width " + fields[2]);
  if (box->height < 0.0) return LineError(path, line_number, "negative height " + fields[3]);
  return Status::Ok();
}

Status ParseResultLine(const std::string& line, const std::string& path, int line_number,
                       TrackerFrame* frame) {
  if (line.empty()) return LineError(path, line_number, "empty line");
  std::vector<std::string> fields;
  Status status = SplitFields(line, path, line_number, &fields);
  if (!status.ok()) return status;
  *frame = TrackerFrame();
  if (fields.size() == 1) {
    int code = -1;
    const char* end = fields[0].data() + fields[0].size();
    const auto result = std::from_chars(fields[0].data(), end, code);
    if (result.ec != std::errc() || result.ptr != end || code < 0 || code > 2) {
      return LineError(path, line_number,
                       "\"" + fields[0] + "\" is neither a box nor a VOT code 0, 1 or 2");
    }
    frame->status = code == 1   ? FrameStatus::kInitialised
                    : code == 2 ? FrameStatus::kFailed
                                : FrameStatus::kSkipped;
    return Status::Ok();
  }
  frame->status = FrameStatus::kBox;
  return ParseBox(fields, path, line_number, &frame->box);
}

std::string FormatNumber(double value) {
  std::array<char, 64> buffer;
  const auto result = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value);
  return std::string(buffer.data(), result.ptr);
}

std::string FormatBox(const Box& box) {
  return FormatNumber(box.x) + "," + FormatNumber(box.y) + "," + FormatNumber(box.width) + "," +
         FormatNumber(box.height);
}

// Writes `text` to `path` through <path>.tmp and a rename, creating the
// parent folders.
Status WriteFileAtomically(const std::string& path, const std::string& text) {
  std::error_code error;
  const fs::path parent = fs::path(path).parent_path();
  if (!parent.empty()) fs::create_directories(parent, error);
  if (error) {
    return Status(StatusCode::kInternalError,
                  "cannot create folder " + parent.string() + ": " + error.message());
  }
  const std::string temporary = path + ".tmp";
  {
    std::ofstream stream(temporary, std::ios::binary | std::ios::trunc);
    stream << text;
    stream.close();
    if (!stream) {
      std::remove(temporary.c_str());
      return Status(StatusCode::kInternalError, "cannot write " + temporary);
    }
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    std::remove(temporary.c_str());
    return Status(StatusCode::kInternalError, "cannot rename " + temporary + " to " + path);
  }
  return Status::Ok();
}

// The sorted names of the sub-folders of `folder` (that hold `required_file`
// when it is not empty).
Status ListFolders(const std::string& folder, const std::string& required_file,
                   std::vector<std::string>* names) {
  std::error_code error;
  fs::directory_iterator it(folder, error);
  if (error) return InvalidArgumentError(folder + ": cannot list folder: " + error.message());
  std::vector<std::string> found;
  // An error while listing, or while examining an entry (other than "no
  // such file": a dangling link or a folder without required_file), fails
  // the listing: a shorter list would silently drop sequences or trackers.
  auto failed = [&error](const fs::path& path) {
    return InvalidArgumentError(path.string() + ": cannot list or examine: " + error.message());
  };
  auto real_error = [&error]() {
    return error && error != std::errc::no_such_file_or_directory;
  };
  while (it != fs::directory_iterator()) {
    const fs::path entry = it->path();
    const bool is_directory = fs::is_directory(entry, error);
    if (real_error()) return failed(entry);
    if (is_directory) {
      const bool has_file = required_file.empty() || fs::exists(entry / required_file, error);
      if (real_error()) return failed(entry / required_file);
      if (has_file) found.push_back(entry.filename().string());
    }
    it.increment(error);
    if (error) return failed(folder);
  }
  std::sort(found.begin(), found.end());
  *names = std::move(found);
  return Status::Ok();
}

Status ListSequences(const std::string& root, std::vector<std::string>* names) {
  const std::string list = root + "/sequences/list.txt";
  std::error_code error;
  if (!fs::exists(list, error)) return ListFolders(root + "/sequences", "groundtruth.txt", names);
  std::string text;
  Status status = ReadText(list, &text);
  if (!status.ok()) return status;
  return ParseSequenceList(text, list, names);
}

}  // namespace

std::string GroundTruthPath(const std::string& root, const std::string& sequence) {
  return root + "/sequences/" + sequence + "/groundtruth.txt";
}

std::string ResultPath(const std::string& root, const std::string& tracker,
                       const std::string& sequence, const std::string& experiment,
                       int repetition) {
  char suffix[16];
  std::snprintf(suffix, sizeof(suffix), "_%03d.txt", repetition);
  return root + "/results/" + tracker + "/" + experiment + "/" + sequence + "/" + sequence +
         suffix;
}

Status ParseSequenceList(const std::string& contents, const std::string& path,
                         std::vector<std::string>* names) {
  const std::vector<std::string> lines = SplitLines(contents);
  std::vector<std::string> read;
  std::map<std::string, int> first_line;
  for (int i = 0; i < static_cast<int>(lines.size()); ++i) {
    if (lines[i].empty()) return LineError(path, i + 1, "empty line");
    if (lines[i] == "." || lines[i] == ".." ||
        lines[i].find_first_of(std::string(" \t/\\\0", 5)) != std::string::npos) {
      return LineError(path, i + 1, "\"" + lines[i] + "\" is not a sequence name");
    }
    const auto inserted = first_line.emplace(lines[i], i + 1);
    if (!inserted.second) {
      return LineError(path, i + 1, "\"" + lines[i] + "\" repeats line " +
                                        std::to_string(inserted.first->second));
    }
    read.push_back(lines[i]);
  }
  *names = std::move(read);
  return Status::Ok();
}

Status ReadGroundTruthFile(const std::string& path, std::vector<Box>* boxes) {
  std::string text;
  Status status = ReadText(path, &text);
  if (!status.ok()) return status;
  return ParseGroundTruth(text, path, boxes);
}

Status ParseGroundTruth(const std::string& contents, const std::string& path,
                        std::vector<Box>* boxes) {
  Status status;
  const std::vector<std::string> lines = SplitLines(contents);
  if (lines.empty()) return InvalidArgumentError(path + ": no frames");
  boxes->assign(lines.size(), Box());
  std::vector<std::string> fields;
  for (int i = 0; i < static_cast<int>(lines.size()); ++i) {
    if (lines[i].empty()) return LineError(path, i + 1, "empty line");
    status = SplitFields(lines[i], path, i + 1, &fields);
    if (!status.ok()) return status;
    status = ParseBox(fields, path, i + 1, &(*boxes)[i]);
    if (!status.ok()) return status;
  }
  return Status::Ok();
}

Status ReadResultFile(const std::string& path, std::vector<TrackerFrame>* frames) {
  std::string text;
  Status status = ReadText(path, &text);
  if (!status.ok()) return status;
  return ParseResults(text, path, frames);
}

Status ParseResults(const std::string& contents, const std::string& path,
                    std::vector<TrackerFrame>* frames) {
  Status status;
  const std::vector<std::string> lines = SplitLines(contents);
  frames->assign(lines.size(), TrackerFrame());
  for (int i = 0; i < static_cast<int>(lines.size()); ++i) {
    status = ParseResultLine(lines[i], path, i + 1, &(*frames)[i]);
    if (!status.ok()) return status;
  }
  AssignFramesSinceInitialisation(frames);
  return Status::Ok();
}

Status ReadVotDataset(const std::string& root, const VotReadOptions& options,
                      Dataset* dataset) {
  if (options.repetition < 1 || options.repetition > 999) {
    return InvalidArgumentError("repetition must be in [1, 999], got " +
                                std::to_string(options.repetition));
  }
  std::vector<std::string> sequence_names = options.sequences;
  Status status;
  if (sequence_names.empty()) {
    status = ListSequences(root, &sequence_names);
    if (!status.ok()) return status;
    if (sequence_names.empty()) return InvalidArgumentError(root + "/sequences: no sequences");
  }
  std::vector<std::string> tracker_names = options.trackers;
  if (tracker_names.empty()) {
    status = ListFolders(root + "/results", "", &tracker_names);
    if (!status.ok()) return status;
    if (tracker_names.empty()) return InvalidArgumentError(root + "/results: no trackers");
  }

  Dataset result;
  result.tracker_names = tracker_names;
  result.sequences.resize(sequence_names.size());
  for (std::size_t s = 0; s < sequence_names.size(); ++s) {
    Sequence& sequence = result.sequences[s];
    sequence.name = sequence_names[s];
    status = ReadGroundTruthFile(GroundTruthPath(root, sequence.name), &sequence.groundtruth);
    if (!status.ok()) return status;
    sequence.tracks.resize(tracker_names.size());
    for (std::size_t t = 0; t < tracker_names.size(); ++t) {
      const std::string path = ResultPath(root, tracker_names[t], sequence.name,
                                          options.experiment, options.repetition);
      status = ReadResultFile(path, &sequence.tracks[t]);
      if (!status.ok()) return status;
      const int num_lines = static_cast<int>(sequence.tracks[t].size());
      const int num_frames = sequence.num_frames();
      if (num_lines < num_frames) {
        return LineError(path, num_lines + 1,
                         "missing; the file has " + std::to_string(num_lines) +
                             " frames, groundtruth.txt has " + std::to_string(num_frames));
      }
      if (num_lines > num_frames) {
        return LineError(path, num_frames + 1,
                         "extra; the file has " + std::to_string(num_lines) +
                             " frames, groundtruth.txt has " + std::to_string(num_frames));
      }
    }
  }
  *dataset = std::move(result);
  return Status::Ok();
}

Status WriteGroundTruthFile(const std::string& path, const std::vector<Box>& boxes) {
  std::string text;
  for (const Box& box : boxes) text += FormatBox(box) + "\n";
  return WriteFileAtomically(path, text);
}

Status WriteResultFile(const std::string& path, const std::vector<TrackerFrame>& frames) {
  std::string text;
  for (const TrackerFrame& frame : frames) {
    switch (frame.status) {
      case FrameStatus::kBox:
        text += FormatBox(frame.box);
        break;
      case FrameStatus::kInitialised:
        text += "1";
        break;
      case FrameStatus::kFailed:
        text += "2";
        break;
      case FrameStatus::kSkipped:
        text += "0";
        break;
    }
    text += "\n";
  }
  return WriteFileAtomically(path, text);
}

Status WriteVotDataset(const std::string& root, const Dataset& dataset) {
  std::string list;
  for (const Sequence& sequence : dataset.sequences) {
    if (static_cast<int>(sequence.tracks.size()) != dataset.num_trackers()) {
      return InvalidArgumentError("sequence " + sequence.name + " has " +
                                  std::to_string(sequence.tracks.size()) + " tracks for " +
                                  std::to_string(dataset.num_trackers()) + " trackers");
    }
    Status status = WriteGroundTruthFile(GroundTruthPath(root, sequence.name),
                                         sequence.groundtruth);
    if (!status.ok()) return status;
    for (int t = 0; t < dataset.num_trackers(); ++t) {
      status = WriteResultFile(ResultPath(root, dataset.tracker_names[t], sequence.name),
                               sequence.tracks[t]);
      if (!status.ok()) return status;
    }
    list += sequence.name + "\n";
  }
  return WriteFileAtomically(root + "/sequences/list.txt", list);
}

}  // namespace tracker_fusion
