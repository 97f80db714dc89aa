// Fuzzes the BAL reader of examples/bundle_adjustment: what it accepts is
// consistent (indices in range, finite values) and writes back to text that
// reads to the same problem.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>

#include "bal_problem.h"
#include "glog/logging.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string contents(reinterpret_cast<const char*>(data), size);
  bundle_adjustment::BalProblem problem;
  const ceres_wiberg::Status status = bundle_adjustment::ParseBal(contents, "fuzz.bal", &problem);
  if (!status.ok()) {
    CHECK_EQ(status.message().rfind("fuzz.bal", 0), 0u) << status.message();
    return 0;
  }
  CHECK_GT(problem.num_cameras(), 0);
  CHECK_GT(problem.num_points(), 0);
  for (const bundle_adjustment::BalObservation& o : problem.observations) {
    CHECK(o.camera >= 0 && o.camera < problem.num_cameras());
    CHECK(o.point >= 0 && o.point < problem.num_points());
    CHECK(std::isfinite(o.x) && std::isfinite(o.y));
  }
  for (double value : problem.cameras) CHECK(std::isfinite(value));
  for (double value : problem.points) CHECK(std::isfinite(value));
  bundle_adjustment::BalProblem again;
  CHECK(bundle_adjustment::ParseBal(bundle_adjustment::BalToString(problem), "again", &again).ok());
  CHECK(again.cameras == problem.cameras && again.points == problem.points);
  CHECK_EQ(again.num_observations(), problem.num_observations());
  return 0;
}
