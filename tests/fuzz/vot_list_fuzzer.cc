// Fuzzes the reader of a VOT sequences/list.txt: every accepted name must
// be a plain, distinct folder name.

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "glog/logging.h"
#include "vot_format.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string contents(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> names;
  const ceres_wiberg::Status status =
      tracker_fusion::ParseSequenceList(contents, "list.txt", &names);
  if (status.ok()) {
    std::set<std::string> seen;
    for (const std::string& name : names) {
      CHECK(!name.empty());
      CHECK(name != "." && name != "..") << name;
      CHECK_EQ(name.find_first_of(std::string("/\\\0", 3)), std::string::npos) << name;
      CHECK(seen.insert(name).second) << "repeated " << name;
    }
  } else {
    CHECK_EQ(status.message().rfind("list.txt", 0), 0u) << status.message();
  }
  return 0;
}
