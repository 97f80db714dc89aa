#include "tome_model.h"

#include <H5Cpp.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "ppca_fit.h"

namespace human_pose {
namespace {

namespace fs = std::filesystem;
using ceres_wiberg::Status;
using ceres_wiberg::StatusCode;

const std::string kTomeDir = std::string(CERES_WIBERG_SHARED_DATA_DIR) + "/tome_ppca";

#define SKIP_WITHOUT_TOME_FILE(name)                                              \
  if (!fs::exists(kTomeDir + "/" name)) {                                         \
    GTEST_SKIP() << kTomeDir << "/" name " is absent (shared/data is not part of " \
                 << "the project); skipping the real-model checks";               \
  }

// A fresh folder under ::testing::TempDir() named after the running test.
std::string TestFolder() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const fs::path folder = fs::path(::testing::TempDir()) / "human_pose_tome_model_test" /
                          (std::string(info->test_suite_name()) + "." + info->name());
  fs::remove_all(folder);
  fs::create_directories(folder);
  return folder.string();
}

struct Dataset {
  std::string name;
  std::vector<hsize_t> shape;
  std::vector<double> values;  // row-major
  bool as_integer = false;
};

void WriteHdf5(const std::string& path, const std::vector<Dataset>& datasets) {
  H5::H5File file(path, H5F_ACC_TRUNC);
  for (const Dataset& d : datasets) {
    const H5::DataSpace space(static_cast<int>(d.shape.size()), d.shape.data());
    if (d.as_integer) {
      std::vector<int> ints(d.values.begin(), d.values.end());
      file.createDataSet(d.name, H5::PredType::STD_I32LE, space)
          .write(ints.data(), H5::PredType::NATIVE_INT);
    } else {
      file.createDataSet(d.name, H5::PredType::IEEE_F64LE, space)
          .write(d.values.data(), H5::PredType::NATIVE_DOUBLE);
    }
  }
}

// A valid 2-component model file with distinct, known values.
std::vector<Dataset> SmallModel() {
  Dataset mu{"mu_2", {2, 3, kNumJoints}, {}};
  for (int i = 0; i < 2 * 3 * kNumJoints; ++i) mu.values.push_back(std::sin(i) * 500.0);
  Dataset e{"e_2", {2, kNumBasis, 3, kNumJoints}, {}};
  for (int i = 0; i < 2 * kNumBasis * 3 * kNumJoints; ++i) e.values.push_back(std::cos(i));
  Dataset sigma{"sigma_2", {2, kNumBasis + 1}, {}};
  for (int i = 0; i < 2 * (kNumBasis + 1); ++i) sigma.values.push_back(0.001 * (i + 1));
  return {mu, e, sigma};
}

void ExpectError(const Status& status, StatusCode code, const std::vector<std::string>& parts) {
  EXPECT_EQ(status.code(), code) << status.ToString();
  for (const std::string& part : parts) {
    EXPECT_NE(status.message().find(part), std::string::npos)
        << "'" << part << "' not in: " << status.message();
  }
}

double Bone(const Pose& pose, int a, int b) { return (pose.col(a) - pose.col(b)).norm(); }

TEST(TomeModelTest, RealModelShapesValuesAndFrame) {
  SKIP_WITHOUT_TOME_FILE("model_parameters.h5");
  const std::string path = kTomeDir + "/model_parameters.h5";
  double max_heading = 0.0;
  double min_basis_norm = 1e9, max_basis_norm = 0.0;
  for (int k : {3, 6, 10}) {
    PoseModel model;
    TomeModelExtras extras;
    const Status status = ReadTomeModel(path, k, &model, &extras);
    ASSERT_TRUE(status.ok()) << status.ToString();
    ASSERT_EQ(model.components.size(), static_cast<size_t>(k));
    ASSERT_EQ(extras.raw_sigma.rows(), k);
    ASSERT_EQ(extras.raw_sigma.cols(), kNumBasis + 1);
    ASSERT_EQ(extras.raw_means.size(), static_cast<size_t>(k));
    EXPECT_EQ(model.weights.loss_scale, EnergyWeights().loss_scale);
    for (int c = 0; c < k; ++c) {
      const PpcaComponent& component = model.components[c];
      const std::string where = "K=" + std::to_string(k) + " component " + std::to_string(c);
      ASSERT_EQ(component.basis.size(), static_cast<size_t>(kNumBasis)) << where;
      ASSERT_EQ(component.variances.size(), kNumBasis) << where;
      EXPECT_TRUE(component.mean.allFinite()) << where;
      // Standard deviations 1 / sigma: tens to hundreds of mm, decreasing.
      for (int b = 0; b < kNumBasis; ++b) {
        EXPECT_TRUE(component.basis[b].allFinite()) << where;
        EXPECT_GT(component.variances[b], 0.0) << where;
        EXPECT_GT(std::sqrt(component.variances[b]), 10.0) << where << " basis " << b;
        EXPECT_LT(std::sqrt(component.variances[b]), 1000.0) << where << " basis " << b;
        // The stored basis poses are unit-norm with their joints' mean at the
        // origin; moving the root there instead lengthens them:
        // |e - r|^2 = 1 + 17 |r|^2.
        const double norm = component.basis[b].norm();
        min_basis_norm = std::min(min_basis_norm, norm);
        max_basis_norm = std::max(max_basis_norm, norm);
        EXPECT_GE(norm, 1.0 - 1e-9) << where << " basis " << b;
        EXPECT_LT(norm, 2.0) << where << " basis " << b;
      }
      EXPECT_GT(component.variances[0], 4.0 * component.variances[kNumBasis - 1]) << where;
      // PPCA noise std (the loss scale's inverse) below the smallest basis std.
      EXPECT_GT(extras.noise_std[c], 5.0) << where;
      EXPECT_LT(extras.noise_std[c], std::sqrt(component.variances.minCoeff())) << where;
      EXPECT_EQ(extras.loss_scales[c], extras.raw_sigma(c, kNumBasis));

      // Stored means are centred on the mean joint; converted ones on the root.
      EXPECT_LT(extras.raw_means[c].rowwise().mean().norm(), 1.0) << where;
      const Pose& mean = component.mean;
      EXPECT_EQ(mean.col(kHip).norm(), 0.0) << where;
      // z up, mm: head above the thorax above the root (every component, also
      // the one sitting on the floor with the legs forward); right hip at +x.
      EXPECT_GT(mean(2, kHead), mean(2, kThorax)) << where;
      EXPECT_GT(mean(2, kThorax), 100.0) << where;
      EXPECT_GT(mean(0, kRightHip), 80.0) << where;
      EXPECT_LT(mean(0, kLeftHip), -80.0) << where;
      max_heading = std::max(max_heading, std::abs(HipHeading(mean)));
      // Bone lengths in mm. Means of varied poses are shorter than people,
      // mostly the arms: forearms 131 mm in K=3 component 0, 86 mm in the
      // floor-sitting component 3 of K=10 (upper arm 171 mm).
      for (int side : {0, 1}) {
        const int hip = side ? kRightHip : kLeftHip;
        const int knee = side ? kRightKnee : kLeftKnee;
        const int foot = side ? kRightFoot : kLeftFoot;
        const int shoulder = side ? kRightShoulder : kLeftShoulder;
        const int elbow = side ? kRightElbow : kLeftElbow;
        const int wrist = side ? kRightWrist : kLeftWrist;
        EXPECT_GT(Bone(mean, hip, knee), 300.0) << where;
        EXPECT_LT(Bone(mean, hip, knee), 550.0) << where;
        EXPECT_GT(Bone(mean, knee, foot), 300.0) << where;
        EXPECT_LT(Bone(mean, knee, foot), 550.0) << where;
        EXPECT_GT(Bone(mean, shoulder, elbow), 150.0) << where;
        EXPECT_LT(Bone(mean, shoulder, elbow), 400.0) << where;
        EXPECT_GT(Bone(mean, elbow, wrist), 70.0) << where;
        EXPECT_LT(Bone(mean, elbow, wrist), 350.0) << where;
      }
      EXPECT_GT(Bone(mean, kLeftHip, kRightHip), 180.0) << where;
      EXPECT_LT(Bone(mean, kLeftHip, kRightHip), 320.0) << where;
    }
    if (k == 3) {
      // Component 0 stands with slightly bent knees and hands forward: it
      // faces +y.
      const Pose& standing = model.components[0].mean;
      EXPECT_GT(standing(2, kHead) - standing(2, kRightFoot), 1200.0);
      EXPECT_GT(standing(1, kLeftKnee), standing(1, kLeftHip));
      EXPECT_GT(standing(1, kRightWrist), standing(1, kRightShoulder));
      std::cout << "K=3 component 0: thigh " << Bone(standing, kRightHip, kRightKnee)
                << " mm, shin " << Bone(standing, kRightKnee, kRightFoot) << " mm, hips "
                << Bone(standing, kLeftHip, kRightHip) << " mm, head-feet "
                << standing(2, kHead) - standing(2, kRightFoot) << " mm, basis std "
                << std::sqrt(model.components[0].variances[0]) << " .. "
                << std::sqrt(model.components[0].variances[kNumBasis - 1])
                << " mm, noise std " << extras.noise_std[0] << " mm\n";
    }
  }
  std::cout << "root-centred basis pose norms: " << min_basis_norm << " .. " << max_basis_norm
            << "\n";
  std::cout << "largest hip-axis angle from +x over all mean poses: "
            << max_heading * 180.0 / M_PI << " degrees\n";
  EXPECT_LT(max_heading, 10.0 * M_PI / 180.0);
}

TEST(TomeModelTest, RealCameras) {
  SKIP_WITHOUT_TOME_FILE("avg_cameras.h5");
  std::vector<Eigen::Matrix3d> cameras;
  const Status status = ReadTomeCameras(kTomeDir + "/avg_cameras.h5", &cameras);
  ASSERT_TRUE(status.ok()) << status.ToString();
  ASSERT_EQ(cameras.size(), 4u);
  double worst = 0.0;
  for (const Eigen::Matrix3d& r : cameras) {
    EXPECT_TRUE(r.allFinite());
    worst = std::max(worst, (r * r.transpose() - Eigen::Matrix3d::Identity()).norm());
    // Image y points down: the second row is close to -z (z up in the world).
    EXPECT_LT(r(1, 2), -0.9);
  }
  std::cout << "largest |R R^T - I| over the cameras: " << worst << "\n";
  EXPECT_LT(worst, 0.05);
}

TEST(TomeModelTest, ReadsAndConvertsASmallFile) {
  const std::string path = TestFolder() + "/model.h5";
  const std::vector<Dataset> datasets = SmallModel();
  WriteHdf5(path, datasets);
  PoseModel model;
  TomeModelExtras extras;
  const Status status = ReadTomeModel(path, 2, &model, &extras);
  ASSERT_TRUE(status.ok()) << status.ToString();
  ASSERT_EQ(model.components.size(), 2u);
  for (int c = 0; c < 2; ++c) {
    Pose raw_mean;
    for (int a = 0; a < 3; ++a) {
      for (int j = 0; j < kNumJoints; ++j) {
        raw_mean(a, j) = datasets[0].values[(c * 3 + a) * kNumJoints + j];
      }
    }
    EXPECT_EQ(extras.raw_means[c], raw_mean);
    const Pose expected_mean = raw_mean.colwise() - raw_mean.col(kHip);
    EXPECT_LT((model.components[c].mean - expected_mean).cwiseAbs().maxCoeff(), 1e-12);
    for (int b = 0; b < kNumBasis; ++b) {
      const int base = ((c * kNumBasis + b) * 3) * kNumJoints;
      // Basis element (axis 2, joint 5), relative to the root's.
      const double value = datasets[1].values[base + 2 * kNumJoints + 5] -
                           datasets[1].values[base + 2 * kNumJoints + kHip];
      EXPECT_NEAR(model.components[c].basis[b](2, 5), value, 1e-12);
      const double sigma = 0.001 * (c * (kNumBasis + 1) + b + 1);
      EXPECT_NEAR(model.components[c].variances[b], 1.0 / (sigma * sigma), 1e-6);
    }
    EXPECT_NEAR(extras.loss_scales[c], 0.001 * (c * (kNumBasis + 1) + kNumBasis + 1), 1e-15);
    EXPECT_NEAR(extras.noise_std[c], 1.0 / extras.loss_scales[c], 1e-12);
  }
}

TEST(TomeModelTest, MissingFileOrDatasetNamesIt) {
  const std::string folder = TestFolder();
  PoseModel model;
  model.components.resize(4);
  ExpectError(ReadTomeModel(folder + "/absent.h5", 3, &model), StatusCode::kInvalidArgument,
              {folder + "/absent.h5", "no such file"});
  std::vector<Eigen::Matrix3d> cameras;
  ExpectError(ReadTomeCameras(folder + "/absent.h5", &cameras), StatusCode::kInvalidArgument,
              {folder + "/absent.h5"});

  const std::string text = folder + "/not_hdf5.h5";
  std::ofstream(text) << "mu_3 = [1, 2, 3]\n";
  ExpectError(ReadTomeModel(text, 3, &model), StatusCode::kInvalidArgument,
              {text, "cannot open as HDF5"});

  const std::string path = folder + "/model.h5";
  WriteHdf5(path, SmallModel());
  ExpectError(ReadTomeModel(path, 4, &model), StatusCode::kInvalidArgument,
              {path, "dataset mu_4 not found", "mu_2"});
  std::vector<Dataset> datasets = SmallModel();
  datasets.erase(datasets.begin() + 1);  // no e_2
  WriteHdf5(path, datasets);
  ExpectError(ReadTomeModel(path, 2, &model), StatusCode::kInvalidArgument,
              {path, "dataset e_2 not found"});
  ExpectError(ReadTomeModel(path, 0, &model), StatusCode::kInvalidArgument, {"num_components"});
  EXPECT_EQ(model.components.size(), 4u);  // untouched
}

TEST(TomeModelTest, WrongShapeTypeOrValuesNameTheDataset) {
  const std::string path = TestFolder() + "/model.h5";
  PoseModel model;

  std::vector<Dataset> datasets = SmallModel();
  datasets[0].shape = {2, 3, 16};
  datasets[0].values.resize(2 * 3 * 16);
  WriteHdf5(path, datasets);
  ExpectError(ReadTomeModel(path, 2, &model), StatusCode::kInvalidArgument,
              {path, "dataset mu_2", "shape (2, 3, 16), expected (2, 3, 17)"});

  datasets = SmallModel();
  datasets[2].as_integer = true;
  WriteHdf5(path, datasets);
  ExpectError(ReadTomeModel(path, 2, &model), StatusCode::kInvalidArgument,
              {path, "dataset sigma_2 is not floating point"});

  datasets = SmallModel();
  datasets[1].values[100] = std::nan("");
  WriteHdf5(path, datasets);
  ExpectError(ReadTomeModel(path, 2, &model), StatusCode::kNumericalFailure,
              {path, "dataset e_2 has a non-finite value at flat index 100"});

  datasets = SmallModel();
  datasets[2].values[30] = 0.0;  // component 1, entry 4
  WriteHdf5(path, datasets);
  ExpectError(ReadTomeModel(path, 2, &model), StatusCode::kNumericalFailure,
              {path, "dataset sigma_2", "component 1, entry 4"});

  WriteHdf5(path, {{"cams", {4, 3, 2}, std::vector<double>(24, 0.5)}});
  std::vector<Eigen::Matrix3d> cameras;
  ExpectError(ReadTomeCameras(path, &cameras), StatusCode::kInvalidArgument,
              {path, "dataset cams has shape (4, 3, 2), expected (4, 3, 3)"});
  WriteHdf5(path, {{"cameras", {1, 3, 3}, std::vector<double>(9, 0.5)}});
  ExpectError(ReadTomeCameras(path, &cameras), StatusCode::kInvalidArgument,
              {path, "dataset cams not found (the file has: cameras)"});
  WriteHdf5(path, {{"cams", {2, 3, 3}, std::vector<double>(18, 0.5)}});
  ASSERT_TRUE(ReadTomeCameras(path, &cameras).ok());
  EXPECT_EQ(cameras.size(), 2u);
  EXPECT_TRUE(model.components.empty());
}

// A chunked cams dataset of 2^40 cameras that was never written: the reader
// refuses its size instead of trying to allocate it.
TEST(TomeModelTest, AHugeCameraCountIsRefused) {
  const std::string path = TestFolder() + "/huge.h5";
  {
    H5::H5File file(path, H5F_ACC_TRUNC);
    const hsize_t dims[3] = {hsize_t{1} << 40, 3, 3};
    const hsize_t chunk[3] = {1, 3, 3};
    H5::DSetCreatPropList properties;
    properties.setChunk(3, chunk);
    file.createDataSet("cams", H5::PredType::IEEE_F64LE, H5::DataSpace(3, dims), properties);
  }
  std::vector<Eigen::Matrix3d> cameras;
  ExpectError(ReadTomeCameras(path, &cameras), StatusCode::kInvalidArgument,
              {path, "dataset cams", "1099511627776 cameras"});
  EXPECT_TRUE(cameras.empty());
}

}  // namespace
}  // namespace human_pose
