#include "common/text_tokens.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace examples {
namespace {

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

}  // namespace

bool Tokeniser::Next(std::string* token, int* line) {
  SkipBlanksAndComments();
  if (position_ >= text_.size()) return false;
  const std::size_t begin = position_;
  while (position_ < text_.size() && !IsSpace(text_[position_]) &&
         !(comments_ && text_[position_] == '#')) {
    ++position_;
  }
  *token = text_.substr(begin, position_ - begin);
  *line = line_;
  return true;
}

void Tokeniser::SkipBlanksAndComments() {
  while (position_ < text_.size()) {
    const char c = text_[position_];
    if (c == '\n') {
      ++line_;
      ++position_;
    } else if (IsSpace(c)) {
      ++position_;
    } else if (comments_ && c == '#') {
      while (position_ < text_.size() && text_[position_] != '\n') ++position_;
    } else {
      break;
    }
  }
}

ceres_wiberg::Status LineError(const std::string& name, int line, const std::string& cause) {
  return ceres_wiberg::InvalidArgumentError(name + ":" + std::to_string(line) + ": " + cause);
}

bool ParseCount(const std::string& token, long max, long* value) {
  if (token.empty() || token.size() > 9) return false;
  long result = 0;
  for (char c : token) {
    if (c < '0' || c > '9') return false;
    result = 10 * result + (c - '0');
  }
  if (result > max) return false;
  *value = result;
  return true;
}

bool ParseFiniteDouble(const std::string& token, double* value) {
  if (token.empty()) return false;
  char* end = nullptr;
  errno = 0;
  const double parsed = std::strtod(token.c_str(), &end);
  if (end != token.c_str() + token.size() || !std::isfinite(parsed)) return false;
  *value = parsed;
  return true;
}

}  // namespace examples
