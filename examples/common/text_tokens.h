// Reading whitespace-separated text files (PGM headers, BAL files) with the
// line number of every token, so that errors can name the line.

#ifndef CERES_WIBERG_EXAMPLES_COMMON_TEXT_TOKENS_H_
#define CERES_WIBERG_EXAMPLES_COMMON_TEXT_TOKENS_H_

#include <cstddef>
#include <string>

#include "ceres_wiberg/status.h"

namespace examples {

// Whitespace-separated tokens with their line numbers; with comments on, '#'
// starts a comment that runs to the end of the line.
class Tokeniser {
 public:
  Tokeniser(const std::string& text, bool comments) : text_(text), comments_(comments) {}

  // The next token, or false at the end of the text.
  bool Next(std::string* token, int* line);

  std::size_t position() const { return position_; }
  int line() const { return line_; }

 private:
  void SkipBlanksAndComments();

  const std::string& text_;
  const bool comments_;
  std::size_t position_ = 0;
  int line_ = 1;
};

// kInvalidArgument "<name>:<line>: <cause>".
ceres_wiberg::Status LineError(const std::string& name, int line, const std::string& cause);

// A non-negative decimal integer token (digits only, at most 9) no larger
// than `max`.
bool ParseCount(const std::string& token, long max, long* value);

// A finite double: the whole token must be a number (strtod syntax); NaN and
// infinities are refused.
bool ParseFiniteDouble(const std::string& token, double* value);

}  // namespace examples

#endif  // CERES_WIBERG_EXAMPLES_COMMON_TEXT_TOKENS_H_
