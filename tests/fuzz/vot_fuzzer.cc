// Fuzzes the VOT ground-truth and result-file readers of
// examples/tracker_fusion: the first byte picks the reader.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "glog/logging.h"
#include "vot_format.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string contents(reinterpret_cast<const char*>(data) + 1, size - 1);
  ceres_wiberg::Status status;
  if (data[0] & 1) {
    std::vector<tracker_fusion::Box> boxes;
    status = tracker_fusion::ParseGroundTruth(contents, "groundtruth.txt", &boxes);
    if (status.ok()) {
      CHECK(!boxes.empty());
      for (const tracker_fusion::Box& box : boxes) {
        CHECK(std::isfinite(box.x) && std::isfinite(box.y));
        CHECK(box.width >= 0.0 && box.height >= 0.0) << box.width << " " << box.height;
      }
    }
  } else {
    std::vector<tracker_fusion::TrackerFrame> frames;
    status = tracker_fusion::ParseResults(contents, "result_001.txt", &frames);
  }
  if (!status.ok()) {
    const std::string& message = status.message();
    CHECK(message.rfind("groundtruth.txt", 0) == 0 || message.rfind("result_001.txt", 0) == 0)
        << message;
  }
  return 0;
}
