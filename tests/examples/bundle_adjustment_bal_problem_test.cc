// The BAL reader and writer: bit-identical round trips, and every malformed
// file refused with a message naming the line and the cause, leaving the
// output untouched.

#include "bal_problem.h"

#include <string>

#include "bal_scene.h"
#include "gtest/gtest.h"

namespace bundle_adjustment {
namespace {

// 2 cameras, 2 points, 3 observations.
const char kValid[] =
    "2 2 3\n"
    "0 0 -385.989990234375 387.1199951171875\n"
    "1 0 38.409000396728516 492.1199951171875\n"
    "1 1 -667.28997802734375 123.54000091552734\n"
    "0.0157 -0.0128 -0.0044 -0.034 -0.1071 1.1230 399.75 -3.1773e-07 5.882e-13\n"
    "0.0161 -0.0251 -0.0094 -0.0087 -0.1217 0.7168 402.0 -3.7e-07 9.3e-13\n"
    "-0.612 0.572 -1.847\n"
    "1.7 0.2 -3.2\n";

std::string Replace(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return text.replace(at, from.size(), to);
}

TEST(BalProblem, ParsesAndRoundTripsBitIdentically) {
  BalProblem problem;
  ASSERT_TRUE(ParseBal(kValid, "valid", &problem).ok());
  EXPECT_EQ(problem.num_cameras(), 2);
  EXPECT_EQ(problem.num_points(), 2);
  EXPECT_EQ(problem.num_observations(), 3);
  EXPECT_EQ(problem.observations[2].camera, 1);
  EXPECT_EQ(problem.observations[2].point, 1);
  EXPECT_EQ(problem.camera(1)[6], 402.0);
  EXPECT_EQ(problem.point(1)[2], -3.2);

  SceneOptions options;
  options.num_cameras = 5;
  options.num_points = 40;
  Scene scene;
  ASSERT_TRUE(GenerateScene(options, &scene).ok());
  BalProblem read;
  ASSERT_TRUE(ParseBal(BalToString(scene.initial), "scene", &read).ok());
  EXPECT_EQ(read.cameras, scene.initial.cameras);
  EXPECT_EQ(read.points, scene.initial.points);
  ASSERT_EQ(read.num_observations(), scene.initial.num_observations());
  for (int k = 0; k < read.num_observations(); ++k) {
    EXPECT_EQ(read.observations[k].camera, scene.initial.observations[k].camera);
    EXPECT_EQ(read.observations[k].point, scene.initial.observations[k].point);
    EXPECT_EQ(read.observations[k].x, scene.initial.observations[k].x);
    EXPECT_EQ(read.observations[k].y, scene.initial.observations[k].y);
  }
}

TEST(BalProblem, RefusesMalformedFilesNamingTheLineAndCause) {
  struct Case {
    std::string text;
    std::string message;
  };
  const Case cases[] = {
      {"", "f:1: the file ends before the number of cameras (truncated)"},
      {"0 2 3\n", "f:1: the number of cameras must be a positive integer, not \"0\""},
      {"2 -2 3\n", "f:1: the number of points must be a positive integer, not \"-2\""},
      {"2 2 x\n", "f:1: the number of observations must be a positive integer, not \"x\""},
      {"2 2 999999\n0 0 1 2\n",
       "f: the header announces 2 cameras, 2 points and 999999 observations, more than the "
       "file's 19 bytes can hold (truncated?)"},
      {Replace(kValid, "1 0 38.4", "-1 0 38.4"),
       "f:3: observation 1's camera is \"-1\", not an index in [0, 2)"},
      {Replace(kValid, "1 1 -667", "1 2 -667"),
       "f:4: observation 2's point is \"2\", not an index in [0, 2)"},
      {Replace(kValid, "38.409000396728516", "nan"),
       "f:3: observation 1's x is \"nan\", not a finite number"},
      {Replace(kValid, "402.0", "inf"), "f:6: camera 1 parameter 6 is \"inf\", not a finite number"},
      {Replace(kValid, "1.7 0.2", "1.7 0.2x"),
       "f:8: point 1 coordinate 1 is \"0.2x\", not a finite number"},
      {Replace(kValid, "1.7 0.2 -3.2\n", "1.7 0.2\n"),
       "f:9: the file ends before point 1 coordinate 2 (truncated)"},
      {std::string(kValid) + "4\n", "f:9: text after the last point (\"4\")"},
      {Replace(kValid, "2 2 3", "2 3 3"),
       "f:9: the file ends before point 2 coordinate 0 (truncated)"},
  };
  for (const Case& c : cases) {
    BalProblem problem;
    problem.points = {42.0};
    const ceres_wiberg::Status status = ParseBal(c.text, "f", &problem);
    EXPECT_EQ(status.code(), ceres_wiberg::StatusCode::kInvalidArgument) << c.text;
    EXPECT_EQ(status.message(), c.message);
    EXPECT_EQ(problem.points, std::vector<double>{42.0}) << "output touched on error";
  }
}

TEST(BalProblem, FilesAreWrittenAtomicallyAndReadBack) {
  const std::string path = ::testing::TempDir() + "bundle_adjustment_bal_problem_test.txt";
  BalProblem problem;
  ASSERT_TRUE(ParseBal(kValid, "valid", &problem).ok());
  ASSERT_TRUE(WriteBal(path, problem).ok());
  BalProblem read;
  ASSERT_TRUE(ReadBal(path, &read).ok());
  EXPECT_EQ(read.cameras, problem.cameras);
  const ceres_wiberg::Status missing = ReadBal(path + ".missing", &read);
  EXPECT_EQ(missing.code(), ceres_wiberg::StatusCode::kInvalidArgument);
  EXPECT_NE(missing.message().find(path + ".missing"), std::string::npos);
}

}  // namespace
}  // namespace bundle_adjustment
