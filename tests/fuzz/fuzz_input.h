// ceres_wiberg fuzzing: typed values taken from libFuzzer's bytes.

#ifndef CERES_WIBERG_TESTS_FUZZ_FUZZ_INPUT_H_
#define CERES_WIBERG_TESTS_FUZZ_FUZZ_INPUT_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace ceres_wiberg {
namespace fuzz {

// Reads fixed-size values from the front of the input; zeros once it is
// used up. Doubles are raw bit patterns half of the time (NaN, infinities,
// denormals) and a small "interesting" value otherwise.
class FuzzInput {
 public:
  FuzzInput(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  uint8_t Byte() { return position_ < size_ ? data_[position_++] : 0; }

  template <typename T>
  T Raw() {
    T value{};
    unsigned char bytes[sizeof(T)] = {};
    for (size_t i = 0; i < sizeof(T); ++i) bytes[i] = Byte();
    std::memcpy(&value, bytes, sizeof(T));
    return value;
  }

  bool Bool() { return Byte() & 1; }

  double Double() {
    static const double kInteresting[] = {0.0,   -0.0, 1.0,  -1.0, 0.5,  0.9,    0.999,
                                          1e-8,  1e-3, 0.1,  2.0,  10.0, 1e300,  -1e300,
                                          1e-320, 0.99, 1e-12, 6e-6, 100.0, 1.0 - 1e-16};
    const uint8_t selector = Byte();
    if (selector & 1) return Raw<double>();
    return kInteresting[(selector >> 1) % (sizeof(kInteresting) / sizeof(kInteresting[0]))];
  }

  // A raw int half of the time, else a small one in [-2, 13].
  int Int() {
    const uint8_t selector = Byte();
    if (selector & 1) return Raw<int>();
    return static_cast<int>(selector >> 1) % 16 - 2;
  }

  // The rest of the input.
  std::string Rest() {
    std::string rest(reinterpret_cast<const char*>(data_) + position_, size_ - position_);
    position_ = size_;
    return rest;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t position_ = 0;
};

}  // namespace fuzz
}  // namespace ceres_wiberg

#endif  // CERES_WIBERG_TESTS_FUZZ_FUZZ_INPUT_H_
