// Fuzzes the .foe (Fields of Experts model) reader of examples/denoise_foe.
// What it accepts must validate and write back to the same model.

#include <cstddef>
#include <cstdint>
#include <string>

#include "foe_energy.h"
#include "glog/logging.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string contents(reinterpret_cast<const char*>(data), size);
  denoise_foe::FieldsOfExperts foe;
  const ceres_wiberg::Status status = denoise_foe::ParseFieldsOfExperts(contents, "fuzz.foe", &foe);
  if (status.ok()) {
    const ceres_wiberg::Status valid = foe.Validate();
    CHECK(valid.ok()) << "accepted an invalid model: " << valid.message();
    CHECK_EQ(foe.ToVector().size(), foe.num_parameters());
  } else {
    CHECK_EQ(status.message().rfind("fuzz.foe", 0), 0u) << status.message();
  }
  return 0;
}
