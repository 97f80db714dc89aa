#include "ba_energy.h"

#include <cmath>
#include <utility>

#include "Eigen/SVD"
#include "aligned_point_error.h"
#include "ceres/ceres.h"
#include "ceres/manifold.h"
#include "ceres_wiberg/enum_names.h"
#include "ceres_wiberg/learnable_loss.h"
#include "snavely_reprojection_error.h"

namespace bundle_adjustment {

using ceres_wiberg::InvalidArgumentError;
using ceres_wiberg::Status;

const char* BaLossToString(BaLoss loss) {
  switch (loss) {
    case BaLoss::LEAST_SQUARES:
      return "LEAST_SQUARES";
    case BaLoss::HUBER:
      return "HUBER";
    case BaLoss::LEARNT:
      return "LEARNT";
  }
  return "UNKNOWN";
}

bool StringToBaLoss(const std::string& name, BaLoss* loss) {
  return ceres_wiberg::StringToEnum(name, {BaLoss::LEAST_SQUARES, BaLoss::HUBER, BaLoss::LEARNT},
                                    BaLossToString, loss);
}

const char* GaugeFixingToString(GaugeFixing gauge) {
  switch (gauge) {
    case GaugeFixing::NONE:
      return "NONE";
    case GaugeFixing::FIRST_CAMERA_AND_ONE_COORDINATE:
      return "FIRST_CAMERA_AND_ONE_COORDINATE";
  }
  return "UNKNOWN";
}

BaModel BaModel::Initial(int num_cameras) {
  BaModel model;
  model.scale = 1.0;
  model.camera_weights.assign(num_cameras, 1.0);
  return model;
}

Eigen::VectorXd BaModel::ToVector() const {
  Eigen::VectorXd w(1 + camera_weights.size());
  w(0) = scale;
  for (size_t i = 0; i < camera_weights.size(); ++i) w(1 + i) = camera_weights[i];
  return w;
}

BaModel BaModel::FromVector(const Eigen::VectorXd& w) {
  CHECK_GE(w.size(), 1);
  BaModel model;
  model.scale = w(0);
  model.camera_weights.assign(w.data() + 1, w.data() + w.size());
  return model;
}

ceres::Solver::Options BaSolverOptions() {
  ceres::Solver::Options options;
  options.minimizer_type = ceres::TRUST_REGION;
  options.trust_region_strategy_type = ceres::LEVENBERG_MARQUARDT;
  options.linear_solver_type = ceres::SPARSE_SCHUR;
  options.num_threads = 1;
  options.logging_type = ceres::SILENT;
  options.function_tolerance = 1e-12;
  options.gradient_tolerance = 1e-12;
  options.parameter_tolerance = 1e-10;
  options.max_num_iterations = 500;
  return options;
}

bool BaEnergyOptions::IsValid(std::string* error) const {
  if (!(huber_scale > 0.0) || !std::isfinite(huber_scale)) {
    *error = "huber_scale must be positive and finite";
    return false;
  }
  return true;
}

BaEnergy::~BaEnergy() = default;

Status BaEnergy::Create(const BalProblem& bal, const BaEnergyOptions& options,
                        const BaModel& model, std::unique_ptr<BaEnergy>* energy) {
  std::string error;
  if (!options.IsValid(&error)) return InvalidArgumentError("BaEnergyOptions: " + error);
  const int num_cameras = bal.num_cameras();
  const int num_points = bal.num_points();
  if (bal.cameras.size() != 9u * num_cameras || bal.points.size() != 3u * num_points ||
      num_cameras < 2 || num_points < 3) {
    return InvalidArgumentError("bundle adjustment: needs >= 2 cameras and >= 3 points");
  }
  for (double v : bal.cameras) {
    if (!std::isfinite(v)) return InvalidArgumentError("bundle adjustment: a camera is not finite");
  }
  for (double v : bal.points) {
    if (!std::isfinite(v)) return InvalidArgumentError("bundle adjustment: a point is not finite");
  }
  if (options.loss == BaLoss::LEARNT) {
    if (static_cast<int>(model.camera_weights.size()) != num_cameras) {
      return InvalidArgumentError("bundle adjustment: the model has " +
                                  std::to_string(model.camera_weights.size()) +
                                  " camera weights for " + std::to_string(num_cameras) +
                                  " cameras");
    }
    for (int i = 0; i < num_cameras; ++i) {
      Status status =
          ceres_wiberg::ValidateLearnableLossParameters(model.scale, model.camera_weights[i]);
      if (!status.ok()) {
        return InvalidArgumentError("bundle adjustment, camera " + std::to_string(i) + ": " +
                                    status.message());
      }
    }
  }
  std::unique_ptr<BaEnergy> result(new BaEnergy);
  result->options_ = options;
  result->cameras_ = bal.cameras;
  result->points_ = bal.points;
  result->scale_ = model.scale;
  result->weights_ = options.loss == BaLoss::LEARNT ? model.camera_weights
                                                    : std::vector<double>(num_cameras, 1.0);
  ceres::Problem::Options problem_options;
  problem_options.enable_fast_removal = false;
  result->problem_ = std::make_unique<ceres::Problem>(problem_options);
  ceres::Problem& problem = *result->problem_;
  std::vector<bool> camera_seen(num_cameras, false), point_seen(num_points, false);
  for (const BalObservation& o : bal.observations) {
    if (o.camera < 0 || o.camera >= num_cameras || o.point < 0 || o.point >= num_points) {
      return InvalidArgumentError("bundle adjustment: an observation's index is out of range");
    }
    camera_seen[o.camera] = point_seen[o.point] = true;
    ceres::CostFunction* reprojection = SnavelyReprojectionError::Create(o.x, o.y, options.curvature);
    double* camera = result->camera(o.camera);
    double* point = result->point(o.point);
    switch (options.loss) {
      case BaLoss::LEAST_SQUARES:
        problem.AddResidualBlock(reprojection, nullptr, camera, point);
        break;
      case BaLoss::HUBER:
        problem.AddResidualBlock(reprojection, new ceres::HuberLoss(options.huber_scale), camera,
                                 point);
        break;
      case BaLoss::LEARNT:
        problem.AddResidualBlock(
            new ceres_wiberg::LearnableLossCostFunction(
                reprojection, ceres_wiberg::LearnableLossType::PSEUDO_HUBER,
                /*has_weight_block=*/true),
            nullptr, {camera, point, &result->scale_, &result->weights_[o.camera]});
        break;
    }
  }
  for (int i = 0; i < num_cameras; ++i) {
    if (!camera_seen[i]) {
      return InvalidArgumentError("bundle adjustment: camera " + std::to_string(i) +
                                  " sees no point");
    }
  }
  for (int j = 0; j < num_points; ++j) {
    if (!point_seen[j]) {
      return InvalidArgumentError("bundle adjustment: point " + std::to_string(j) +
                                  " is seen by no camera");
    }
  }
  if (options.gauge == GaugeFixing::FIRST_CAMERA_AND_ONE_COORDINATE) {
    // Camera 0's pose (angle-axis and translation) constant, its intrinsics
    // free; what remains of the gauge is X -> c_0 + s (X - c_0).
    problem.SetManifold(result->camera(0), new ceres::SubsetManifold(9, {0, 1, 2, 3, 4, 5}));
    Eigen::Vector3d centre;  // c_0 = -R_0^T t_0
    const double* c0 = result->camera(0);
    const double minus_angle_axis[3] = {-c0[0], -c0[1], -c0[2]};
    const double minus_t[3] = {-c0[3], -c0[4], -c0[5]};
    ceres::AngleAxisRotatePoint(minus_angle_axis, minus_t, centre.data());
    const Eigen::Vector3d offset = Eigen::Map<const Eigen::Vector3d>(result->point(0)) - centre;
    offset.cwiseAbs().maxCoeff(&result->fixed_point_coordinate_);
    problem.SetManifold(result->point(0),
                        new ceres::SubsetManifold(3, {result->fixed_point_coordinate_}));
  }
  if (options.loss == BaLoss::LEARNT) {
    ceres_wiberg::BilevelProblem::Options bilevel_options;
    for (int i = 0; i < num_cameras; ++i) {
      bilevel_options.inner_parameter_blocks.push_back(result->camera(i));
    }
    for (int j = 0; j < num_points; ++j) {
      bilevel_options.inner_parameter_blocks.push_back(result->point(j));
    }
    for (int i = 0; i < num_cameras; ++i) {
      bilevel_options.parameter_block_names[result->camera(i)] = "camera " + std::to_string(i);
      bilevel_options.parameter_block_names[&result->weights_[i]] = "weight " + std::to_string(i);
    }
    for (int j = 0; j < num_points; ++j) {
      bilevel_options.parameter_block_names[result->point(j)] = "point " + std::to_string(j);
    }
    bilevel_options.parameter_block_names[&result->scale_] = "scale a";
    std::vector<double*> learnable = {&result->scale_};
    for (double& weight : result->weights_) learnable.push_back(&weight);
    Status status = ceres_wiberg::BilevelProblem::Create(&problem, learnable, bilevel_options,
                                                         &result->bilevel_);
    if (!status.ok()) return status;
  }
  *energy = std::move(result);
  return Status::Ok();
}

Status BaEnergy::Solve(const ceres::Solver::Options& solver_options,
                       ceres::Solver::Summary* summary,
                       ceres_wiberg::NewtonPolish::Summary* polish) {
  if (bilevel_ != nullptr) {
    Status status = bilevel_->SolveInner(solver_options, summary);
    if (!status.ok() || !options_.newton_polish) return status;
    ceres_wiberg::NewtonPolish::Summary local;
    return ceres_wiberg::NewtonPolish::Polish(ceres_wiberg::NewtonPolish::Options(),
                                              bilevel_.get(), polish != nullptr ? polish : &local);
  }
  ceres::Solve(solver_options, problem_.get(), summary);
  if (summary->termination_type == ceres::FAILURE) {
    return ceres_wiberg::NumericalFailureError("bundle adjustment: " + summary->message);
  }
  return Status::Ok();
}

std::vector<double*> BaEnergy::point_blocks() {
  std::vector<double*> blocks;
  for (int j = 0; j < num_points(); ++j) blocks.push_back(point(j));
  return blocks;
}

Eigen::Matrix3Xd BaEnergy::Points() const {
  return Eigen::Map<const Eigen::Matrix3Xd>(points_.data(), 3, num_points());
}

Status ScaledJacobianSingularValues(BaEnergy* energy, Eigen::VectorXd* singular_values) {
  ceres::Problem::EvaluateOptions evaluate_options;
  ceres::Problem* problem = energy->problem();
  for (int i = 0; i < energy->num_cameras(); ++i) {
    evaluate_options.parameter_blocks.push_back(energy->camera(i));
  }
  for (int j = 0; j < energy->num_points(); ++j) {
    evaluate_options.parameter_blocks.push_back(energy->point(j));
  }
  ceres::CRSMatrix crs;
  if (!problem->Evaluate(evaluate_options, nullptr, nullptr, nullptr, &crs)) {
    return ceres_wiberg::NumericalFailureError("bundle adjustment: the Jacobian failed");
  }
  Eigen::MatrixXd J = Eigen::MatrixXd::Zero(crs.num_rows, crs.num_cols);
  for (int r = 0; r < crs.num_rows; ++r) {
    for (int k = crs.rows[r]; k < crs.rows[r + 1]; ++k) J(r, crs.cols[k]) = crs.values[k];
  }
  for (int c = 0; c < J.cols(); ++c) {
    const double norm = J.col(c).norm();
    if (norm > 0.0) J.col(c) /= norm;
  }
  *singular_values = Eigen::JacobiSVD<Eigen::MatrixXd>(J).singularValues();
  return Status::Ok();
}

Eigen::Matrix3Xd PointMatrix(const BalProblem& problem) {
  return Eigen::Map<const Eigen::Matrix3Xd>(problem.points.data(), 3, problem.num_points());
}

Status SolveAndScore(const BalProblem& initial, const BalProblem& truth,
                     const BaEnergyOptions& options, const BaModel& model,
                     const ceres::Solver::Options& solver_options, double* rmse,
                     ceres::Solver::Summary* summary, Eigen::VectorXd* point_errors) {
  std::unique_ptr<BaEnergy> energy;
  Status status = BaEnergy::Create(initial, options, model, &energy);
  if (!status.ok()) return status;
  ceres::Solver::Summary local;
  status = energy->Solve(solver_options, summary != nullptr ? summary : &local);
  if (!status.ok()) return status;
  const Eigen::Matrix3Xd true_points = PointMatrix(truth);
  Similarity alignment;
  status = AlignedPointError(energy->Points(), true_points, rmse, nullptr, &alignment);
  if (!status.ok() || point_errors == nullptr) return status;
  *point_errors = (((alignment.scale * alignment.rotation * energy->Points()).colwise() +
                    alignment.translation) -
                   true_points)
                      .colwise()
                      .norm()
                      .transpose();
  return Status::Ok();
}

}  // namespace bundle_adjustment
