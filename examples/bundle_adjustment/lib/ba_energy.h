// The bundle-adjustment energy of one scene, in three forms:
//
//   LEAST_SQUARES  1/2 sum_k |r_k|^2                       (no loss function)
//   HUBER          1/2 sum_k rho_Huber(|r_k|^2; b)          (ceres::HuberLoss(b), b hand-set)
//   LEARNT         1/2 sum_k m_c(k) rho_PH(|r_k|^2; a)      (LearnableLossCostFunction)
//
// r_k is the Snavely reprojection error of observation k (pixels), c(k) its
// camera; rho_PH is the pseudo-Huber loss (Ceres' SoftLOneLoss) with scale a
// (pixels) and m_c a per-camera weight. a and the m_c are the learnable
// parameter blocks: w = (a, m_0, ..., m_{C-1}) (BaModel::ToVector order).
// Cameras (9 parameters) and points (3) are the inner blocks.
//
// The gauge. The energy is invariant under a similarity of the world
// (rotation 3, translation 3, scale 1): X -> s R X + t moves every camera
// with it and leaves every reprojection unchanged. With every block free its
// Hessian therefore has a 7-dimensional null space at the minimiser, and
// the implicit derivative (lambda = 0) does not exist. GaugeFixing::
// FIRST_CAMERA_AND_ONE_COORDINATE holds camera 0's pose constant (its 6
// extrinsic parameters, through a ceres::SubsetManifold; its focal length
// and distortion are not gauge and stay free), which removes rotation and
// translation: what remains is scaling about camera 0's centre c_0. One
// coordinate of point 0, the one along which X_0 - c_0 is largest, is held
// too (a SubsetManifold), which fixes the scale. The minimum is the same
// energy value as without fixing: only the gauge is removed.

#ifndef CERES_WIBERG_EXAMPLES_BUNDLE_ADJUSTMENT_BA_ENERGY_H_
#define CERES_WIBERG_EXAMPLES_BUNDLE_ADJUSTMENT_BA_ENERGY_H_

#include <memory>
#include <string>
#include <vector>

#include "Eigen/Core"
#include "bal_problem.h"
#include "ceres/problem.h"
#include "ceres/solver.h"
#include "ceres_wiberg/bilevel_problem.h"
#include "ceres_wiberg/newton_polish.h"
#include "ceres_wiberg/status.h"
#include "snavely_reprojection_error.h"

namespace bundle_adjustment {

enum class BaLoss { LEAST_SQUARES, HUBER, LEARNT };
const char* BaLossToString(BaLoss loss);
bool StringToBaLoss(const std::string& name, BaLoss* loss);

enum class GaugeFixing {
  // Every camera and point free: a 7-dof gauge.
  NONE,
  // Camera 0's pose, and one coordinate of point 0 (see the file comment).
  FIRST_CAMERA_AND_ONE_COORDINATE,
};
const char* GaugeFixingToString(GaugeFixing gauge);

// The learnable parameters of the LEARNT energy.
struct BaModel {
  // The pseudo-Huber scale a (pixels) and one weight per camera.
  double scale = 1.0;
  std::vector<double> camera_weights;

  // The initial model: scale 1 pixel, every weight 1.
  static BaModel Initial(int num_cameras);
  // w = (a, m_0, ..., m_{C-1}), and back (CHECKs the size).
  Eigen::VectorXd ToVector() const;
  static BaModel FromVector(const Eigen::VectorXd& w);
};

// The Ceres options of every inner solve: Levenberg-Marquardt, SPARSE_SCHUR
// (points eliminated), one thread, silent, function tolerance 1e-12,
// gradient tolerance 1e-12, parameter tolerance 1e-10, at most 100
// iterations.
ceres::Solver::Options BaSolverOptions();

struct BaEnergyOptions {
  BaLoss loss = BaLoss::LEARNT;
  // HUBER's scale b (pixels): 1, as Ceres' bundle_adjuster --robustify.
  double huber_scale = 1.0;
  GaugeFixing gauge = GaugeFixing::NONE;
  // LEARNT: after Ceres, NewtonPolish (default options: exact Newton steps to
  // |g|_inf <= 1e-10). Ceres' LM converges only linearly on the LEARNT
  // energy: it sees the robustified residual of LearnableLossCostFunction as
  // an ordinary residual, whose Gauss-Newton model over-weights outliers
  // (learnable_loss.h), and stops on its iteration limit well short of g = 0.
  bool newton_polish = true;
  // How the exact Hessian gets the reprojection errors' curvature:
  // HAND_DERIVED in closed form (SnavelyCostFunction), AUTODIFF by
  // second-order autodiff (AutoDiffSecondOrderCostFunction), DIFFERENCED by
  // central differences of the Jacobians. The same derivatives up to
  // round-off (the differences' error for DIFFERENCED); the others only to
  // compare.
  ReprojectionCurvature curvature = ReprojectionCurvature::HAND_DERIVED;

  bool IsValid(std::string* error) const;
};

// One scene's energy. Owns its ceres::Problem and the values of its blocks,
// starting from `problem`'s cameras and points (the initial estimates).
class BaEnergy {
 public:
  // Errors (kInvalidArgument): invalid options; for LEARNT a model whose
  // number of weights is not the number of cameras or whose values are not
  // valid (ValidateLearnableLossParameters); a camera or point that no
  // observation sees; non-finite values.
  static ceres_wiberg::Status Create(const BalProblem& problem, const BaEnergyOptions& options,
                                     const BaModel& model, std::unique_ptr<BaEnergy>* energy);
  ~BaEnergy();

  // Solves for the cameras and points (the learnable blocks held constant),
  // then polishes (see BaEnergyOptions::newton_polish). `polish` may be null.
  // Not converging is not an error: see the summaries.
  ceres_wiberg::Status Solve(const ceres::Solver::Options& solver_options,
                             ceres::Solver::Summary* summary,
                             ceres_wiberg::NewtonPolish::Summary* polish = nullptr);

  ceres::Problem* problem() { return problem_.get(); }
  // LEARNT only (null otherwise): the bilevel split, learnable blocks
  // (a, m_0, ..., m_{C-1}), inner blocks cameras then points, named
  // "camera i", "point j", "scale a", "weight i".
  ceres_wiberg::BilevelProblem* bilevel() { return bilevel_.get(); }
  int num_cameras() const { return static_cast<int>(cameras_.size() / 9); }
  int num_points() const { return static_cast<int>(points_.size() / 3); }
  double* camera(int i) { return cameras_.data() + 9 * i; }
  double* point(int j) { return points_.data() + 3 * j; }
  std::vector<double*> point_blocks();
  // The current points (3 x N).
  Eigen::Matrix3Xd Points() const;
  // FIRST_CAMERA_AND_ONE_COORDINATE: which coordinate of point 0 is held.
  int fixed_point_coordinate() const { return fixed_point_coordinate_; }

 private:
  BaEnergy() = default;

  BaEnergyOptions options_;
  std::vector<double> cameras_;
  std::vector<double> points_;
  double scale_ = 1.0;
  std::vector<double> weights_;
  int fixed_point_coordinate_ = -1;
  std::unique_ptr<ceres::Problem> problem_;
  std::unique_ptr<ceres_wiberg::BilevelProblem> bilevel_;
};

// The singular values (descending) of the residuals' Jacobian with respect
// to the inner variables (the tangent coordinates of every camera and
// point), each column scaled to unit norm (so that units do not matter).
// Its null space is the energy's gauge: 7 trailing values at round-off level
// when every block is free (rotation 3, translation 3, scale 1), none when
// the gauge is fixed. Dense: for small scenes (demonstrations and tests).
ceres_wiberg::Status ScaledJacobianSingularValues(BaEnergy* energy,
                                                  Eigen::VectorXd* singular_values);

// The points as a 3 x N matrix.
Eigen::Matrix3Xd PointMatrix(const BalProblem& problem);

// Solves `scene_initial` from its initial estimates with `options` (and
// `model` for LEARNT) and returns the aligned point RMSE against `truth`
// (aligned_point_error.h). `summary` may be null; `point_errors`, if not
// null, receives each point's distance to its true position after that
// alignment (|r_j|, in scene units; RMSE^2 is their mean square).
ceres_wiberg::Status SolveAndScore(const BalProblem& initial, const BalProblem& truth,
                                   const BaEnergyOptions& options, const BaModel& model,
                                   const ceres::Solver::Options& solver_options, double* rmse,
                                   ceres::Solver::Summary* summary,
                                   Eigen::VectorXd* point_errors = nullptr);

}  // namespace bundle_adjustment

#endif  // CERES_WIBERG_EXAMPLES_BUNDLE_ADJUSTMENT_BA_ENERGY_H_
