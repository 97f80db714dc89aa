#include "common/output_paths.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace examples {
namespace {

namespace fs = std::filesystem;

class OutputPathsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("output_paths_test_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override {
    std::error_code ignored;
    fs::permissions(root_ / "read_only", fs::perms::owner_all, ignored);
    fs::remove_all(root_, ignored);
  }
  fs::path root_;
};

TEST_F(OutputPathsTest, PrepareOutputDirectoryCreatesNestedFolders) {
  const fs::path dir = root_ / "a" / "b";
  EXPECT_TRUE(PrepareOutputDirectory("--output_dir", dir.string()).ok());
  EXPECT_TRUE(fs::is_directory(dir));
  EXPECT_TRUE(PrepareOutputDirectory("--output_dir", dir.string()).ok());  // exists: fine
}

TEST_F(OutputPathsTest, PrepareOutputDirectoryRefusesAFileNamingTheFlag) {
  const fs::path file = root_ / "file";
  std::ofstream(file) << "x";
  const ceres_wiberg::Status status = PrepareOutputDirectory("--output_dir", file.string());
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("--output_dir="), std::string::npos) << status.message();
  EXPECT_FALSE(PrepareOutputDirectory("--output_dir", (file / "below").string()).ok());
  EXPECT_FALSE(PrepareOutputDirectory("--output_dir", "").ok());
}

TEST_F(OutputPathsTest, CheckOutputFileNeedsAnExistingFolderAndWritesNothing) {
  EXPECT_TRUE(CheckOutputFile("--output_json", (root_ / "r.json").string()).ok());
  EXPECT_FALSE(fs::exists(root_ / "r.json"));
  const ceres_wiberg::Status missing =
      CheckOutputFile("--output_json", (root_ / "missing" / "r.json").string());
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.message().find("is not a directory"), std::string::npos)
      << missing.message();
  EXPECT_FALSE(fs::exists(root_ / "missing"));
  EXPECT_FALSE(CheckOutputFile("--output_json", root_.string()).ok());  // a directory
  EXPECT_FALSE(CheckOutputFile("--output_json", "").ok());
  EXPECT_TRUE(CheckOutputFile("--output_json", "relative_name.json").ok());  // the cwd
}

TEST_F(OutputPathsTest, ReadOnlyFolderIsRefusedUnlessRoot) {
  if (::geteuid() == 0) GTEST_SKIP() << "root may write anywhere";
  const fs::path dir = root_ / "read_only";
  fs::create_directories(dir);
  fs::permissions(dir, fs::perms::owner_read | fs::perms::owner_exec);
  EXPECT_FALSE(CheckOutputFile("--output_json", (dir / "r.json").string()).ok());
  EXPECT_FALSE(PrepareOutputDirectory("--output_dir", dir.string()).ok());
}

}  // namespace
}  // namespace examples
