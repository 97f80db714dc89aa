#include "tome_model.h"

#include <H5Cpp.h>

#include <cmath>
#include <filesystem>
#include <sstream>
#include <utility>

#include "glog/logging.h"

namespace human_pose {
namespace {

using ceres_wiberg::InvalidArgumentError;
using ceres_wiberg::NumericalFailureError;
using ceres_wiberg::Status;

std::string ShapeToString(const std::vector<hsize_t>& shape) {
  std::ostringstream out;
  out << "(";
  for (size_t i = 0; i < shape.size(); ++i) out << (i > 0 ? ", " : "") << shape[i];
  out << ")";
  return out.str();
}

// The file's top-level dataset names, "a, b, c".
std::string ListDatasets(const H5::H5File& file) {
  std::string names;
  for (hsize_t i = 0; i < file.getNumObjs(); ++i) {
    names += (i > 0 ? ", " : "") + file.getObjnameByIdx(i);
  }
  return names.empty() ? "none" : names;
}

// Opens an HDF5 file read-only; a missing file or a non-HDF5 file is an error
// naming it.
Status OpenFile(const std::string& path, H5::H5File* file) {
  H5::Exception::dontPrint();
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error)) {
    return InvalidArgumentError(path + ": no such file");
  }
  try {
    file->openFile(path, H5F_ACC_RDONLY);
  } catch (const H5::Exception& exception) {
    return InvalidArgumentError(path + ": cannot open as HDF5 (" +
                                exception.getDetailMsg() + ")");
  }
  return Status::Ok();
}

// Opens an HDF5 file image held in memory (the core driver, no backing
// store); `name` names it in errors.
Status OpenImage(const std::string& contents, const std::string& name, H5::H5File* file) {
  H5::Exception::dontPrint();
  try {
    H5::FileAccPropList access;
    if (H5Pset_fapl_core(access.getId(), 1 << 16, /*backing_store=*/0) < 0 ||
        H5Pset_file_image(access.getId(), const_cast<char*>(contents.data()), contents.size()) <
            0) {
      return InvalidArgumentError(name + ": cannot set up an HDF5 file image");
    }
    file->openFile(name, H5F_ACC_RDONLY, access);
  } catch (const H5::Exception& exception) {
    return InvalidArgumentError(name + ": cannot open as HDF5 (" + exception.getDetailMsg() +
                                ")");
  }
  return Status::Ok();
}

// Reads dataset `name`, which must be floating point with the given shape, as
// doubles in row-major order, and checks that every value is finite.
Status ReadDataset(const std::string& path, const H5::H5File& file, const std::string& name,
                   const std::vector<hsize_t>& expected_shape, std::vector<double>* values) {
  const std::string where = path + ": dataset " + name;
  try {
    if (H5Lexists(file.getId(), name.c_str(), H5P_DEFAULT) <= 0) {
      return InvalidArgumentError(where + " not found (the file has: " + ListDatasets(file) +
                                  ")");
    }
    if (file.childObjType(name) != H5O_TYPE_DATASET) {
      return InvalidArgumentError(where + " is not a dataset");
    }
    const H5::DataSet dataset = file.openDataSet(name);
    if (dataset.getTypeClass() != H5T_FLOAT) {
      return InvalidArgumentError(where + " is not floating point");
    }
    const H5::DataSpace space = dataset.getSpace();
    std::vector<hsize_t> shape(space.getSimpleExtentNdims());
    space.getSimpleExtentDims(shape.data());
    if (shape != expected_shape) {
      return InvalidArgumentError(where + " has shape " + ShapeToString(shape) + ", expected " +
                                  ShapeToString(expected_shape));
    }
    values->assign(space.getSimpleExtentNpoints(), 0.0);
    dataset.read(values->data(), H5::PredType::NATIVE_DOUBLE);
  } catch (const H5::Exception& exception) {
    return InvalidArgumentError(where + ": read failed (" + exception.getDetailMsg() + ")");
  } catch (const std::exception& exception) {
    // E.g. bad_alloc: the expected shapes are small, so this is the file.
    return InvalidArgumentError(where + ": read failed (" + exception.what() + ")");
  }
  for (size_t i = 0; i < values->size(); ++i) {
    if (!std::isfinite((*values)[i])) {
      return NumericalFailureError(where + " has a non-finite value at flat index " +
                                   std::to_string(i));
    }
  }
  return Status::Ok();
}

// The (3, 17) row-major block starting at `offset` as a Pose.
Pose PoseAt(const std::vector<double>& values, size_t offset) {
  Pose pose;
  for (int axis = 0; axis < 3; ++axis) {
    for (int joint = 0; joint < kNumJoints; ++joint) {
      pose(axis, joint) = values[offset + axis * kNumJoints + joint];
    }
  }
  return pose;
}

}  // namespace

Pose TomeToModelFrame(const Pose& pose) { return pose.colwise() - pose.col(kHip); }

namespace {

Status ReadTomeModelFrom(const H5::H5File& file, const std::string& path, int num_components,
                         PoseModel* model, TomeModelExtras* extras) {
  Status status;
  const hsize_t k = static_cast<hsize_t>(num_components);
  const std::string suffix = "_" + std::to_string(num_components);
  std::vector<double> mu, e, sigma;
  status = ReadDataset(path, file, "mu" + suffix, {k, 3, kNumJoints}, &mu);
  if (!status.ok()) return status;
  status = ReadDataset(path, file, "e" + suffix, {k, kNumBasis, 3, kNumJoints}, &e);
  if (!status.ok()) return status;
  status = ReadDataset(path, file, "sigma" + suffix, {k, kNumBasis + 1}, &sigma);
  if (!status.ok()) return status;
  for (size_t i = 0; i < sigma.size(); ++i) {
    if (!(sigma[i] > 0.0)) {
      return NumericalFailureError(path + ": dataset sigma" + suffix + " has " +
                                   std::to_string(sigma[i]) + " <= 0 at component " +
                                   std::to_string(i / (kNumBasis + 1)) + ", entry " +
                                   std::to_string(i % (kNumBasis + 1)));
    }
  }

  PoseModel converted;
  TomeModelExtras raw;
  raw.raw_sigma.resize(num_components, kNumBasis + 1);
  raw.loss_scales.resize(num_components);
  raw.noise_std.resize(num_components);
  const size_t pose_size = 3 * kNumJoints;
  for (int c = 0; c < num_components; ++c) {
    PpcaComponent component;
    const Pose mean = PoseAt(mu, c * pose_size);
    component.mean = TomeToModelFrame(mean);
    component.variances.resize(kNumBasis);
    for (int b = 0; b < kNumBasis; ++b) {
      component.basis.push_back(TomeToModelFrame(PoseAt(e, (c * kNumBasis + b) * pose_size)));
      const double s = sigma[c * (kNumBasis + 1) + b];
      component.variances[b] = 1.0 / (s * s);
    }
    for (int i = 0; i <= kNumBasis; ++i) raw.raw_sigma(c, i) = sigma[c * (kNumBasis + 1) + i];
    raw.loss_scales[c] = raw.raw_sigma(c, kNumBasis);
    raw.noise_std[c] = 1.0 / raw.loss_scales[c];
    raw.raw_means.push_back(mean);
    converted.components.push_back(std::move(component));
  }
  *model = std::move(converted);
  if (extras != nullptr) *extras = std::move(raw);
  return Status::Ok();
}

Status ReadTomeCamerasFrom(const H5::H5File& file, const std::string& path,
                           std::vector<Eigen::Matrix3d>* rotations) {
  Status status;
  // The number of cameras is free (but bounded); read the shape first.
  hsize_t count = 0;
  try {
    if (H5Lexists(file.getId(), "cams", H5P_DEFAULT) > 0 &&
        file.childObjType("cams") == H5O_TYPE_DATASET) {
      const H5::DataSpace space = file.openDataSet("cams").getSpace();
      if (space.getSimpleExtentNdims() == 3) {
        hsize_t shape[3];
        space.getSimpleExtentDims(shape);
        count = shape[0];
      }
    }
  } catch (const H5::Exception& exception) {
    return InvalidArgumentError(path + ": dataset cams: read failed (" +
                                exception.getDetailMsg() + ")");
  }
  if (count > kMaxTomeCameras) {
    return InvalidArgumentError(path + ": dataset cams has " + std::to_string(count) +
                                " cameras, at most " + std::to_string(kMaxTomeCameras) +
                                " are read");
  }
  std::vector<double> cams;
  status = ReadDataset(path, file, "cams", {count > 0 ? count : 1, 3, 3}, &cams);
  if (!status.ok()) return status;
  std::vector<Eigen::Matrix3d> read(count);
  for (hsize_t c = 0; c < count; ++c) {
    for (int r = 0; r < 3; ++r) {
      for (int q = 0; q < 3; ++q) read[c](r, q) = cams[c * 9 + r * 3 + q];
    }
  }
  *rotations = std::move(read);
  return Status::Ok();
}

}  // namespace

Status ReadTomeModel(const std::string& path, int num_components, PoseModel* model,
                     TomeModelExtras* extras) {
  CHECK(model != nullptr);
  if (num_components < 1) {
    return InvalidArgumentError(path + ": num_components must be >= 1, got " +
                                std::to_string(num_components));
  }
  H5::H5File file;
  Status status = OpenFile(path, &file);
  if (!status.ok()) return status;
  return ReadTomeModelFrom(file, path, num_components, model, extras);
}

Status ParseTomeModel(const std::string& contents, const std::string& name, int num_components,
                      PoseModel* model, TomeModelExtras* extras) {
  CHECK(model != nullptr);
  if (num_components < 1) {
    return InvalidArgumentError(name + ": num_components must be >= 1, got " +
                                std::to_string(num_components));
  }
  H5::H5File file;
  Status status = OpenImage(contents, name, &file);
  if (!status.ok()) return status;
  return ReadTomeModelFrom(file, name, num_components, model, extras);
}

Status ReadTomeCameras(const std::string& path, std::vector<Eigen::Matrix3d>* rotations) {
  CHECK(rotations != nullptr);
  H5::H5File file;
  Status status = OpenFile(path, &file);
  if (!status.ok()) return status;
  return ReadTomeCamerasFrom(file, path, rotations);
}

Status ParseTomeCameras(const std::string& contents, const std::string& name,
                        std::vector<Eigen::Matrix3d>* rotations) {
  CHECK(rotations != nullptr);
  H5::H5File file;
  Status status = OpenImage(contents, name, &file);
  if (!status.ok()) return status;
  return ReadTomeCamerasFrom(file, name, rotations);
}

}  // namespace human_pose
