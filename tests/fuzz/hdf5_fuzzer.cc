// Fuzzes the HDF5 readers of examples/human_pose (Tome et al.'s model and
// cameras) on file images held in memory: the first byte picks the reader
// (and K), the rest is the file image.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "glog/logging.h"
#include "tome_model.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string image(reinterpret_cast<const char*>(data) + 1, size - 1);
  ceres_wiberg::Status status;
  if (data[0] & 1) {
    std::vector<Eigen::Matrix3d> rotations;
    status = human_pose::ParseTomeCameras(image, "fuzz.h5", &rotations);
    if (status.ok()) {
      CHECK_LE(rotations.size(), human_pose::kMaxTomeCameras);
      for (const Eigen::Matrix3d& r : rotations) CHECK(r.allFinite());
    }
  } else {
    const int num_components = 1 + (data[0] >> 1) % 3;
    human_pose::PoseModel model;
    human_pose::TomeModelExtras extras;
    status = human_pose::ParseTomeModel(image, "fuzz.h5", num_components, &model, &extras);
    if (status.ok()) CHECK_EQ(static_cast<int>(model.components.size()), num_components);
  }
  if (!status.ok()) {
    CHECK_EQ(status.message().rfind("fuzz.h5", 0), 0u) << status.message();
  }
  return 0;
}
