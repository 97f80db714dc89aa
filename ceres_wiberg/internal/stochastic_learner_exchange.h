// ceres_wiberg: learning energy parameters by differentiating Ceres minimisers.
//
// What StochasticLearner's processes exchange through
// LearnerCommunicator::AllGather: a flat byte encoding (host byte order, the
// same program on every process) of integers, doubles (their exact bits),
// strings and statuses, and a fingerprint that tells whether two processes
// hold the same bytes.

#ifndef CERES_WIBERG_INTERNAL_STOCHASTIC_LEARNER_EXCHANGE_H_
#define CERES_WIBERG_INTERNAL_STOCHASTIC_LEARNER_EXCHANGE_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "Eigen/Core"
#include "ceres_wiberg/status.h"

namespace ceres_wiberg {
namespace internal {

class ByteWriter {
 public:
  void Int(int64_t value);
  void Double(double value);
  void Doubles(const Eigen::VectorXd& values);  // size, then the values
  void String(const std::string& value);        // size, then the bytes
  void StatusValue(const Status& status);       // code, then the message
  const std::string& bytes() const { return bytes_; }

 private:
  void Raw(const void* data, size_t size);
  std::string bytes_;
};

// Reads what a ByteWriter wrote, in the same order. A read past the end or a
// size out of range sets ok() to false and leaves the value unchanged.
class ByteReader {
 public:
  explicit ByteReader(const std::string& bytes) : bytes_(bytes) {}
  bool Int(int64_t* value);
  bool Double(double* value);
  // The vector must have `expected_size` entries.
  bool Doubles(int64_t expected_size, Eigen::VectorXd* values);
  bool String(std::string* value);
  bool StatusValue(Status* status);
  bool ok() const { return ok_; }
  bool at_end() const { return position_ == bytes_.size(); }

 private:
  bool Raw(void* data, size_t size);
  const std::string& bytes_;
  size_t position_ = 0;
  bool ok_ = true;
};

// FNV-1a over the bytes, continuing from `hash` (start with the default).
uint64_t Fingerprint(const void* data, size_t size, uint64_t hash = 14695981039346656037ull);

}  // namespace internal
}  // namespace ceres_wiberg

#endif  // CERES_WIBERG_INTERNAL_STOCHASTIC_LEARNER_EXCHANGE_H_
