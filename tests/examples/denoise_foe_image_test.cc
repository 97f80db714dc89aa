// Images of examples/denoise_foe: the PGM reader on good and malformed files,
// atomic PGM writing, PSNR and the Gaussian noise.

#include "image.h"

#include <sys/resource.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CERES_WIBERG_HAS_ASAN
#endif
#endif

namespace denoise_foe {
namespace {

namespace fs = std::filesystem;

std::string TestFile(const std::string& name, const std::string& contents) {
  const fs::path folder = fs::path(::testing::TempDir()) / "denoise_foe_image_test";
  fs::create_directories(folder);
  const std::string path = (folder / name).string();
  std::ofstream(path, std::ios::binary) << contents;
  return path;
}

TEST(Pgm, ReadsAsciiWithCommentsAndRescales) {
  const std::string path = TestFile("ascii.pgm",
                                    "P2\n# a comment\n3 # width\n2\n15\n"
                                    "0 5 15\n"
                                    "  10 3 1\n");
  Image image;
  const ceres_wiberg::Status status = ReadPgm(path, &image);
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(image.width, 3);
  EXPECT_EQ(image.height, 2);
  // maxval 15: values scaled by 255 / 15 = 17.
  EXPECT_EQ(image.pixels, (std::vector<double>{0, 85, 255, 170, 51, 17}));
}

TEST(Pgm, WritesBinaryAtomicallyAndReadsItBack) {
  Image image(4, 3);
  for (int i = 0; i < 12; ++i) image.pixels[i] = 20.0 * i + 0.4;
  image.pixels[0] = -7.0;   // clamped to 0
  image.pixels[11] = 300.0;  // clamped to 255
  const std::string path = TestFile("written.pgm", "old contents");
  ASSERT_TRUE(WritePgm(path, image).ok());
  EXPECT_FALSE(fs::exists(path + ".tmp"));
  Image again;
  ASSERT_TRUE(ReadPgm(path, &again).ok());
  ASSERT_EQ(again.width, 4);
  ASSERT_EQ(again.height, 3);
  EXPECT_EQ(again.pixels[0], 0.0);
  EXPECT_EQ(again.pixels[5], 100.0);
  EXPECT_EQ(again.pixels[11], 255.0);
  // 16-bit binary: two big-endian bytes per pixel.
  std::string wide = "P5 2 1 65535\n";
  wide += std::string("\xff\xff\x00\x00", 4);
  Image two;
  ASSERT_TRUE(ReadPgm(TestFile("wide.pgm", wide), &two).ok());
  EXPECT_EQ(two.pixels, (std::vector<double>{255.0, 0.0}));
}

TEST(Pgm, RejectsMalformedFilesNamingTheLineAndCause) {
  struct Case {
    const char* name;
    std::string contents;
    std::string expected;  // the message starts with the path and this
  };
  const std::vector<Case> cases = {
      {"empty.pgm", "", ": empty file"},
      {"magic.pgm", "P6\n2 2 255\n", ":1: not a PGM file (magic \"P6\""},
      {"width.pgm", "P2\n# size next\n-3 2\n255\n", ":3: bad width \"-3\""},
      {"height.pgm", "P2\n3\n0\n255\n", ":3: bad height \"0\""},
      {"maxval.pgm", "P2\n2 1\n", ": header ends before the maxval"},
      {"value.pgm", "P2\n2 2\n255\n1 2\n3 256\n", ":5: pixel 3: bad value \"256\""},
      {"token.pgm", "P2\n2 2\n255\n1 2\n3 x\n", ":5: pixel 3: bad value \"x\""},
      {"short.pgm", "P2\n2 2\n255\n1 2\n3\n", ": truncated: 3 of 4 pixels"},
      {"extra.pgm", "P2\n2 1\n255\n1 2\n\n3\n", ":6: extra data after 2 pixels"},
      {"binary_short.pgm", std::string("P5\n2 2\n255\n") + "abc",
       ": truncated: 3 of 4 bytes of pixel data"},
      {"binary_extra.pgm", std::string("P5\n2 1\n255\n") + "abc",
       ": 1 bytes of extra data after the pixels"},
      {"binary_above.pgm", std::string("P5\n2 1\n100\n") + "a\xc8",
       ": pixel 1: value 200 above maxval 100"},
  };
  for (const Case& c : cases) {
    const std::string path = TestFile(c.name, c.contents);
    Image image;
    const ceres_wiberg::Status status = ReadPgm(path, &image);
    ASSERT_FALSE(status.ok()) << c.name;
    EXPECT_EQ(status.code(), ceres_wiberg::StatusCode::kInvalidArgument);
    EXPECT_EQ(status.message().rfind(path + c.expected, 0), 0u)
        << c.name << ": " << status.message();
  }
  Image image;
  const std::string missing = TestFile("x", "") + ".does_not_exist";
  EXPECT_EQ(ReadPgm(missing, &image).message(),
            "cannot open '" + missing + "': No such file or directory");
}

// A 20-byte header announcing a 16384 x 16384 raster is refused as truncated
// before anything of the image's size is allocated.
TEST(Pgm, AHugeHeaderWithoutPixelsIsRefusedBeforeAllocating) {
  for (const std::string magic : {"P5", "P2"}) {
    const std::string path = TestFile("huge_" + magic + ".pgm", magic + " 16384 16384 255\n");
    Image image(2, 2, 7.0);
    const ceres_wiberg::Status status = ReadPgm(path, &image);
    ASSERT_FALSE(status.ok());
    EXPECT_NE(status.message().find(path + ": truncated"), std::string::npos) << status.message();
    EXPECT_NE(status.message().find("16384 x 16384 = 268435456 pixels"), std::string::npos)
        << status.message();
    EXPECT_EQ(image.width, 2);
#if !defined(__SANITIZE_ADDRESS__) && !defined(CERES_WIBERG_HAS_ASAN)
    // With 512 MiB of address space the 2 GiB raster cannot be allocated:
    // the reader must not try. (Not under AddressSanitizer, which reserves
    // terabytes of address space up front.)
    EXPECT_EXIT(
        {
          rlimit limit;
          limit.rlim_cur = limit.rlim_max = rlim_t{512} << 20;
          setrlimit(RLIMIT_AS, &limit);
          Image small;
          std::exit(ReadPgm(path, &small).ok() ? 1 : 0);
        },
        ::testing::ExitedWithCode(0), "");
#endif
  }
}

// Found by fuzzing: maxval 49 scaled 49 to 255.00000000000003, outside the
// documented [0, 255].
TEST(Pgm, MaxvalMapsToExactly255) {
  for (int max_value = 1; max_value <= 1000; ++max_value) {
    const std::string text = "P2 2 1 " + std::to_string(max_value) + " 0 " +
                             std::to_string(max_value) + "\n";
    Image image;
    ASSERT_TRUE(ParsePgm(text, "maxval.pgm", &image).ok()) << max_value;
    EXPECT_EQ(image.pixels[0], 0.0);
    EXPECT_EQ(image.pixels[1], 255.0) << "maxval " << max_value;
  }
}

TEST(Pgm, ReadsCeresNoisyImageFromTheSharedData) {
#ifdef CERES_WIBERG_SHARED_DATA_DIR
  const std::string path = std::string(CERES_WIBERG_SHARED_DATA_DIR) + "/ceres_foe/ceres_noisy.pgm";
#else
  const std::string path;
#endif
  if (path.empty() || !fs::exists(path)) {
    GTEST_SKIP() << "shared data not found (" << path << "): skipping Ceres' noisy image";
  }
  Image image;
  const ceres_wiberg::Status status = ReadPgm(path, &image);
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(image.width, 177);
  EXPECT_EQ(image.height, 213);
  EXPECT_EQ(image.pixels[0], 86.0);
  EXPECT_EQ(image.pixels[1], 74.0);
}

TEST(Psnr, MatchesTheDefinition) {
  Image a(2, 2, 100.0), b(2, 2, 100.0);
  EXPECT_TRUE(std::isinf(Psnr(a, b)));
  b.pixels = {110, 90, 100, 100};  // MSE = 50
  EXPECT_DOUBLE_EQ(MeanSquaredError(a, b), 50.0);
  EXPECT_NEAR(Psnr(a, b), 10.0 * std::log10(255.0 * 255.0 / 50.0), 1e-12);
}

TEST(GaussianNoise, IsDeterministicWithTheRequestedStatistics) {
  const Image flat(100, 100, 128.0);
  const Image noisy = AddGaussianNoise(flat, 20.0, 7);
  EXPECT_EQ(noisy.pixels, AddGaussianNoise(flat, 20.0, 7).pixels);
  EXPECT_NE(noisy.pixels, AddGaussianNoise(flat, 20.0, 8).pixels);
  double mean = 0.0, square = 0.0;
  for (double p : noisy.pixels) {
    mean += (p - 128.0) / 1e4;
    square += (p - 128.0) * (p - 128.0) / 1e4;
  }
  // 10,000 samples: the mean's standard error is 0.2, the deviation's 0.14.
  EXPECT_LT(std::abs(mean), 0.8);
  EXPECT_NEAR(std::sqrt(square - mean * mean), 20.0, 0.6);
}

TEST(FilterMosaic, PlacesEachFilterInItsCell) {
  const std::vector<int> xs = {0, 1, 0, 1}, ys = {0, 0, 1, 1};
  const Image mosaic = FilterMosaic(2, xs, ys, {{1, -1, 0, 0}, {0, 0, 0, 2}}, 3, 8, 1);
  // Two 6 x 6 cells with 1-pixel gaps: 1 + 2 * 7 wide, 1 + 7 high.
  ASSERT_EQ(mosaic.width, 15);
  ASSERT_EQ(mosaic.height, 8);
  EXPECT_EQ(mosaic.at(0, 0), 255.0);            // gap
  EXPECT_EQ(mosaic.at(1, 1), 128.0 + 127.0);    // filter 0, tap (0, 0) = +max
  EXPECT_EQ(mosaic.at(4, 1), 128.0 - 127.0);    // filter 0, tap (1, 0) = -max
  EXPECT_EQ(mosaic.at(1, 4), 128.0);            // filter 0, tap (0, 1) = 0
  EXPECT_EQ(mosaic.at(8 + 3, 1 + 3), 255.0);    // filter 1, tap (1, 1) = +max
}

}  // namespace
}  // namespace denoise_foe
