// WriteFileAtomically and ReadFileToString: round trips, replacement, and
// errors that name the file and the OS cause without leaving a temporary.

#include "ceres_wiberg/file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "gtest/gtest.h"

namespace ceres_wiberg {
namespace {

std::string TestPath(const std::string& name) {
  return ::testing::TempDir() + "ceres_wiberg_file_test_" + std::to_string(::getpid()) + "_" +
         name;
}

bool Exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

TEST(File, WritesReplacesAndReadsBackBinaryContents) {
  const std::string path = TestPath("round_trip");
  const std::string first("first\0with a NUL\n", 17);
  for (bool durable : {false, true}) {
    ASSERT_TRUE(WriteFileAtomically(path, first, durable).ok());
    std::string read;
    ASSERT_TRUE(ReadFileToString(path, &read).ok());
    EXPECT_EQ(read, first);
    ASSERT_TRUE(WriteFileAtomically(path, "second", durable).ok());
    ASSERT_TRUE(ReadFileToString(path, &read).ok());
    EXPECT_EQ(read, "second");
    EXPECT_FALSE(Exists(path + ".tmp"));
  }
  ::unlink(path.c_str());
}

TEST(File, ErrorsNameTheFileAndTheCause) {
  const std::string missing = TestPath("does_not_exist");
  std::string contents = "unchanged";
  const Status read = ReadFileToString(missing, &contents);
  EXPECT_EQ(read.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(read.message(), "cannot open '" + missing + "': No such file or directory");
  EXPECT_EQ(contents, "unchanged");

  const std::string in_missing_directory = TestPath("no_such_directory") + "/file";
  const Status write = WriteFileAtomically(in_missing_directory, "x");
  EXPECT_EQ(write.code(), StatusCode::kInternalError);
  EXPECT_EQ(write.message(),
            "cannot create '" + in_missing_directory + ".tmp': No such file or directory");
}

TEST(File, AFailedRenameKeepsTheOldFileAndRemovesTheTemporary) {
  // A directory in the way: the rename over it fails.
  const std::string directory = TestPath("a_directory");
  ASSERT_EQ(::mkdir(directory.c_str(), 0755), 0);
  const Status status = WriteFileAtomically(directory, "x");
  EXPECT_EQ(status.code(), StatusCode::kInternalError);
  EXPECT_NE(status.message().find("cannot rename"), std::string::npos) << status.message();
  EXPECT_FALSE(Exists(directory + ".tmp"));
  ::rmdir(directory.c_str());
}

}  // namespace
}  // namespace ceres_wiberg
