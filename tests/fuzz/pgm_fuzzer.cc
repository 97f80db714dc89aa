// Fuzzes the PGM reader (P2 and P5) of examples/denoise_foe.

#include <cstddef>
#include <cstdint>
#include <string>

#include "glog/logging.h"
#include "image.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string contents(reinterpret_cast<const char*>(data), size);
  denoise_foe::Image image;
  const ceres_wiberg::Status status = denoise_foe::ParsePgm(contents, "fuzz.pgm", &image);
  if (status.ok()) {
    CHECK_GT(image.width, 0);
    CHECK_GT(image.height, 0);
    CHECK_EQ(image.pixels.size(), static_cast<size_t>(image.width) * image.height);
    for (double pixel : image.pixels) CHECK(pixel >= 0.0 && pixel <= 255.0) << pixel;
  } else {
    CHECK_EQ(status.message().rfind("fuzz.pgm", 0), 0u) << status.message();
  }
  return 0;
}
