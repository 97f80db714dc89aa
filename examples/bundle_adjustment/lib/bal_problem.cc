#include "bal_problem.h"

#include <cstdio>
#include <utility>

#include "ceres_wiberg/file.h"
#include "common/text_tokens.h"

namespace bundle_adjustment {
namespace {

using ceres_wiberg::Status;
using examples::LineError;
using examples::Tokeniser;

// Counts above this are refused outright (about 10^8 numbers).
constexpr long kMaxCount = 100000000;

// Reads the tokens of a BAL text in order, naming the line of any error.
class BalReader {
 public:
  BalReader(const std::string& text, const std::string& name)
      : tokens_(text, /*comments=*/false), name_(name) {}

  Status Count(const char* what, long* value) {
    std::string token;
    if (!NextToken(what, &token)) return error_;
    if (!examples::ParseCount(token, kMaxCount, value) || *value == 0) {
      return LineError(name_, line_, std::string(what) + " must be a positive integer, not \"" +
                                         token.substr(0, 20) + "\"");
    }
    return Status::Ok();
  }

  Status Index(const std::string& what, long limit, int* value) {
    std::string token;
    if (!NextToken(what, &token)) return error_;
    long parsed = 0;
    if (!examples::ParseCount(token, kMaxCount, &parsed) || parsed >= limit) {
      return LineError(name_, line_, what + " is \"" + token.substr(0, 20) +
                                         "\", not an index in [0, " + std::to_string(limit) +
                                         ")");
    }
    *value = static_cast<int>(parsed);
    return Status::Ok();
  }

  Status Number(const std::string& what, double* value) {
    std::string token;
    if (!NextToken(what, &token)) return error_;
    if (!examples::ParseFiniteDouble(token, value)) {
      return LineError(name_, line_, what + " is \"" + token.substr(0, 20) +
                                         "\", not a finite number");
    }
    return Status::Ok();
  }

  Status ExpectEnd() {
    std::string token;
    if (tokens_.Next(&token, &line_)) {
      return LineError(name_, line_, "text after the last point (\"" + token.substr(0, 20) +
                                         "\")");
    }
    return Status::Ok();
  }

 private:
  bool NextToken(const std::string& what, std::string* token) {
    if (tokens_.Next(token, &line_)) return true;
    error_ = LineError(name_, tokens_.line(), "the file ends before " + what + " (truncated)");
    return false;
  }

  Tokeniser tokens_;
  const std::string& name_;
  int line_ = 1;
  Status error_;
};

}  // namespace

Status ParseBal(const std::string& text, const std::string& name, BalProblem* problem) {
  BalReader reader(text, name);
  long num_cameras = 0, num_points = 0, num_observations = 0;
  Status status = reader.Count("the number of cameras", &num_cameras);
  if (status.ok()) status = reader.Count("the number of points", &num_points);
  if (status.ok()) status = reader.Count("the number of observations", &num_observations);
  if (!status.ok()) return status;
  // Every number takes at least two characters (a digit and a separator):
  // refuse counts the text cannot hold before allocating for them.
  const double numbers = 4.0 * num_observations + 9.0 * num_cameras + 3.0 * num_points;
  if (numbers > 0.5 * static_cast<double>(text.size()) + 1.0) {
    return ceres_wiberg::InvalidArgumentError(
        name + ": the header announces " + std::to_string(num_cameras) + " cameras, " +
        std::to_string(num_points) + " points and " + std::to_string(num_observations) +
        " observations, more than the file's " + std::to_string(text.size()) +
        " bytes can hold (truncated?)");
  }
  BalProblem parsed;
  parsed.observations.resize(num_observations);
  for (long k = 0; k < num_observations && status.ok(); ++k) {
    BalObservation& observation = parsed.observations[k];
    const std::string what = "observation " + std::to_string(k);
    status = reader.Index(what + "'s camera", num_cameras, &observation.camera);
    if (status.ok()) status = reader.Index(what + "'s point", num_points, &observation.point);
    if (status.ok()) status = reader.Number(what + "'s x", &observation.x);
    if (status.ok()) status = reader.Number(what + "'s y", &observation.y);
  }
  parsed.cameras.resize(9 * num_cameras);
  for (long i = 0; i < 9 * num_cameras && status.ok(); ++i) {
    status = reader.Number("camera " + std::to_string(i / 9) + " parameter " + std::to_string(i % 9),
                           &parsed.cameras[i]);
  }
  parsed.points.resize(3 * num_points);
  for (long i = 0; i < 3 * num_points && status.ok(); ++i) {
    status = reader.Number("point " + std::to_string(i / 3) + " coordinate " + std::to_string(i % 3),
                           &parsed.points[i]);
  }
  if (status.ok()) status = reader.ExpectEnd();
  if (!status.ok()) return status;
  *problem = std::move(parsed);
  return Status::Ok();
}

std::string BalToString(const BalProblem& problem) {
  std::string text;
  char line[128];
  std::snprintf(line, sizeof(line), "%d %d %d\n", problem.num_cameras(), problem.num_points(),
                problem.num_observations());
  text += line;
  for (const BalObservation& o : problem.observations) {
    std::snprintf(line, sizeof(line), "%d %d %.17g %.17g\n", o.camera, o.point, o.x, o.y);
    text += line;
  }
  for (const std::vector<double>* values : {&problem.cameras, &problem.points}) {
    for (double value : *values) {
      std::snprintf(line, sizeof(line), "%.17g\n", value);
      text += line;
    }
  }
  return text;
}

Status ReadBal(const std::string& path, BalProblem* problem) {
  std::string text;
  Status status = ceres_wiberg::ReadFileToString(path, &text);
  if (!status.ok()) return status;
  return ParseBal(text, path, problem);
}

Status WriteBal(const std::string& path, const BalProblem& problem) {
  return ceres_wiberg::WriteFileAtomically(path, BalToString(problem));
}

}  // namespace bundle_adjustment
