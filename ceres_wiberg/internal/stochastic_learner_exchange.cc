#include "ceres_wiberg/internal/stochastic_learner_exchange.h"

#include <cstring>

namespace ceres_wiberg {
namespace internal {

void ByteWriter::Raw(const void* data, size_t size) {
  bytes_.append(static_cast<const char*>(data), size);
}

void ByteWriter::Int(int64_t value) { Raw(&value, sizeof(value)); }

void ByteWriter::Double(double value) { Raw(&value, sizeof(value)); }

void ByteWriter::Doubles(const Eigen::VectorXd& values) {
  Int(values.size());
  Raw(values.data(), sizeof(double) * static_cast<size_t>(values.size()));
}

void ByteWriter::String(const std::string& value) {
  Int(static_cast<int64_t>(value.size()));
  Raw(value.data(), value.size());
}

void ByteWriter::StatusValue(const Status& status) {
  Int(static_cast<int64_t>(status.code()));
  String(status.message());
}

bool ByteReader::Raw(void* data, size_t size) {
  if (!ok_ || size > bytes_.size() - position_) return ok_ = false;
  std::memcpy(data, bytes_.data() + position_, size);
  position_ += size;
  return true;
}

bool ByteReader::Int(int64_t* value) {
  int64_t read = 0;
  if (!Raw(&read, sizeof(read))) return false;
  *value = read;
  return true;
}

bool ByteReader::Double(double* value) {
  double read = 0.0;
  if (!Raw(&read, sizeof(read))) return false;
  *value = read;
  return true;
}

bool ByteReader::Doubles(int64_t expected_size, Eigen::VectorXd* values) {
  int64_t size = 0;
  if (!Int(&size)) return false;
  if (size != expected_size || size < 0 ||
      static_cast<uint64_t>(size) > (bytes_.size() - position_) / sizeof(double)) {
    return ok_ = false;
  }
  values->resize(size);
  return Raw(values->data(), sizeof(double) * static_cast<size_t>(size));
}

bool ByteReader::String(std::string* value) {
  int64_t size = 0;
  if (!Int(&size)) return false;
  if (size < 0 || static_cast<uint64_t>(size) > bytes_.size() - position_) return ok_ = false;
  value->assign(bytes_.data() + position_, static_cast<size_t>(size));
  position_ += static_cast<size_t>(size);
  return true;
}

bool ByteReader::StatusValue(Status* status) {
  int64_t code = 0;
  std::string message;
  if (!Int(&code) || !String(&message)) return false;
  if (code < static_cast<int64_t>(StatusCode::kOk) ||
      code > static_cast<int64_t>(StatusCode::kInternalError)) {
    return ok_ = false;
  }
  *status = Status(static_cast<StatusCode>(code), std::move(message));
  return true;
}

uint64_t Fingerprint(const void* data, size_t size, uint64_t hash) {
  const unsigned char* bytes = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < size; ++i) {
    hash ^= bytes[i];
    hash *= 1099511628211ull;
  }
  return hash;
}

}  // namespace internal
}  // namespace ceres_wiberg
