#include "ceres_wiberg/minimiser_derivative.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <cmath>
#include <sstream>

#include "ceres_wiberg/internal/damped_solver.h"
#include "ceres_wiberg/internal/linearization.h"
#include "ceres_wiberg/internal/problem_layout.h"
#include "ceres_wiberg/internal/symmetric_block_matrix.h"
#include "glog/logging.h"

namespace ceres_wiberg {
namespace internal {
namespace {

using RowMajorMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstRowMajorMap = Eigen::Map<const RowMajorMatrix>;

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

// One linearisation of one BilevelProblem: first-order data, H, its
// factorisation, and the snapshot of the point they belong to.
class DerivativeEngine {
 public:
  DerivativeEngine(const MinimiserDerivative::Options& options, BilevelProblem* problem)
      : options_(options),
        problem_(problem),
        layout_(problem->layout()),
        linearization_(layout_),
        hessian_(layout_),
        solver_(options) {}

  BilevelProblem* problem() const { return problem_; }

  Status Linearize(MinimiserDerivative::Summary* summary);
  Status Jacobian(Eigen::MatrixXd* J_y_w) const;
  Status VectorJacobianProduct(const Eigen::VectorXd& u, Eigen::VectorXd* J_y_w_T_u) const;
  Status Solve(const Eigen::MatrixXd& b, Eigen::MatrixXd* x) const;
  Status InnerGradient(Eigen::VectorXd* gradient) const;

 private:
  // Assembles H at the last evaluated point and factorises H + lambda D.
  Status BuildAndFactorize();
  // kInvalidArgument if the problem's values moved since Linearize.
  Status CheckUnchanged(bool learnable_too) const;
  // rho' J^T J (+ 2 rho'' J^T r r^T J if with_rho2) of residual block i.
  RowMajorMatrix FirstOrderLocal(int i, bool with_rho2) const;
  // H of residual block i over its inner local columns into local_hessian_.
  Status InnerLocalHessian(int i, bool exact);
  // The residual curvature of residual block i over its inner local columns
  // into curvature_ (see the definition for the probes).
  Status InnerCurvature(int i);

  const MinimiserDerivative::Options options_;
  BilevelProblem* problem_;
  const ProblemLayout& layout_;
  Linearization linearization_;
  SymmetricBlockMatrix hessian_;
  DampedSolver solver_;
  Eigen::VectorXd inner_snapshot_;
  Eigen::VectorXd learnable_snapshot_;

  // Scratch of BuildAndFactorize, reused across residual blocks.
  RowMajorMatrix inner_jacobian_;  // num_residuals x num_inner_local
  RowMajorMatrix local_hessian_;   // num_inner_local x num_inner_local
  RowMajorMatrix curvature_;       // num_inner_local x num_inner_local
  Eigen::VectorXd inner_J_T_r_;
  Eigen::VectorXd direction_;      // num_local
  Eigen::VectorXd column_;         // num_local
  std::vector<int> probe_order_;
  std::vector<char> block_known_;  // per block of the residual: columns differenced
};

namespace {

// Inner blocks with at least this many tangent coordinates are probed for
// structurally zero curvature columns before their columns are differenced.
constexpr int kProbeMinSize = 3;

// Residual blocks with at most this many residuals form J^T J by outer products.
constexpr int kSmallProductRows = 8;

// The probe direction's coordinates: deterministic, all of one sign and
// pairwise different, so that a block's curvature columns that are not zero
// do not cancel along it.
double ProbeCoefficient(int q) {
  const double x = 0.6180339887498949 * (q + 1);  // golden-ratio sequence in [1, 2)
  return 1.0 + (x - std::floor(x));
}

}  // namespace

RowMajorMatrix DerivativeEngine::FirstOrderLocal(int i, bool with_rho2) const {
  const ResidualBlockInfo& residual = layout_.residuals[i];
  const ConstRowMajorMap J(linearization_.jacobian(i), residual.num_residuals,
                           residual.num_local);
  const double* rho = linearization_.rho(i);
  RowMajorMatrix local = rho[1] * J.transpose() * J;
  if (with_rho2 && rho[2] != 0.0) {
    const Eigen::VectorXd J_T_r =
        J.transpose() *
        Eigen::Map<const Eigen::VectorXd>(linearization_.residuals(i), residual.num_residuals);
    local += 2.0 * rho[2] * J_T_r * J_T_r.transpose();
  }
  return local;
}

Status DerivativeEngine::InnerLocalHessian(int i, bool exact) {
  const ResidualBlockInfo& residual = layout_.residuals[i];
  const int k = residual.num_residuals;
  const int n = residual.num_inner_local;
  const ConstRowMajorMap J(linearization_.jacobian(i), k, residual.num_local);
  inner_jacobian_.resize(k, n);
  for (size_t j = 0; j < residual.blocks.size(); ++j) {
    if (residual.inner_offset[j] < 0) continue;
    const int t = layout_.blocks[residual.blocks[j]].tangent_size;
    inner_jacobian_.middleCols(residual.inner_offset[j], t) =
        J.middleCols(residual.local_offset[j], t);
  }
  const double* rho = linearization_.rho(i);
  local_hessian_.resize(n, n);
  if (k <= kSmallProductRows) {
    // A few residuals: a sum of outer products, without GEMM's blocking.
    local_hessian_.noalias() = (rho[1] * inner_jacobian_.row(0).transpose()) * inner_jacobian_.row(0);
    for (int p = 1; p < k; ++p) {
      local_hessian_.noalias() +=
          (rho[1] * inner_jacobian_.row(p).transpose()) * inner_jacobian_.row(p);
    }
  } else {
    local_hessian_.noalias() = rho[1] * inner_jacobian_.transpose() * inner_jacobian_;
  }
  if (!exact) return Status::Ok();
  if (rho[2] != 0.0) {
    inner_J_T_r_.noalias() =
        inner_jacobian_.transpose() * Eigen::Map<const Eigen::VectorXd>(linearization_.residuals(i), k);
    local_hessian_.noalias() += (2.0 * rho[2]) * inner_J_T_r_ * inner_J_T_r_.transpose();
  }
  Status status = InnerCurvature(i);
  if (!status.ok()) return status;
  local_hessian_ += curvature_;
  return Status::Ok();
}

// One central difference of the Jacobians per inner local column. A block of
// kProbeMinSize or more tangent coordinates is first differenced along one
// probe direction: when that changes no Jacobian row of an inner block whose
// columns are not yet known (itself included), its columns are zero in those
// rows (the residuals are linear in it and it does not move those rows' Jacobians,
// e.g. a translation or linear coefficients), its rows in the known
// columns follow by symmetry, and its columns are not differenced. Blocks go
// smallest first, so that known columns cover as many rows as possible.
Status DerivativeEngine::InnerCurvature(int i) {
  const ResidualBlockInfo& residual = layout_.residuals[i];
  const int n = residual.num_inner_local;
  // Entries of columns never differenced are not read before the
  // symmetrisation below writes them.
  curvature_.resize(n, n);
  direction_.setZero(residual.num_local);
  column_.resize(residual.num_local);
  block_known_.assign(residual.blocks.size(), 0);
  probe_order_.clear();
  for (size_t j = 0; j < residual.blocks.size(); ++j) {
    if (residual.inner_offset[j] >= 0) probe_order_.push_back(static_cast<int>(j));
  }
  std::stable_sort(probe_order_.begin(), probe_order_.end(), [&](int a, int b) {
    return layout_.blocks[residual.blocks[a]].tangent_size <
           layout_.blocks[residual.blocks[b]].tangent_size;
  });
  // Writes every inner row of column_.
  auto difference = [&]() {
    return linearization_.CurvatureAlong(i, direction_.data(), CurvatureRows::kInner,
                                         options_.second_derivative_relative_step,
                                         column_.data());
  };

  for (int j : probe_order_) {
    const int t = layout_.blocks[residual.blocks[j]].tangent_size;
    const int local = residual.local_offset[j];
    if (t >= kProbeMinSize) {
      for (int q = 0; q < t; ++q) direction_[local + q] = ProbeCoefficient(q);
      Status status = difference();
      direction_.segment(local, t).setZero();
      if (!status.ok()) return status;
      bool moves_unknown_rows = false;
      for (size_t l = 0; l < residual.blocks.size() && !moves_unknown_rows; ++l) {
        if (residual.inner_offset[l] < 0 || block_known_[l]) continue;
        const int t_l = layout_.blocks[residual.blocks[l]].tangent_size;
        moves_unknown_rows = (column_.segment(residual.local_offset[l], t_l).array() != 0.0).any();
      }
      if (!moves_unknown_rows) continue;
    }
    for (int q = 0; q < t; ++q) {
      direction_[local + q] = 1.0;
      Status status = difference();
      direction_[local + q] = 0.0;
      if (!status.ok()) return status;
      const int col = residual.inner_offset[j] + q;
      for (size_t l = 0; l < residual.blocks.size(); ++l) {
        if (residual.inner_offset[l] < 0) continue;
        const int t_l = layout_.blocks[residual.blocks[l]].tangent_size;
        curvature_.col(col).segment(residual.inner_offset[l], t_l) =
            column_.segment(residual.local_offset[l], t_l);
      }
    }
    block_known_[j] = 1;
  }

  // Symmetrise: known columns averaged with their transposes, rows of the
  // columns not differenced taken from the known columns, zero elsewhere.
  for (int a : probe_order_) {
    const int off_a = residual.inner_offset[a];
    const int t_a = layout_.blocks[residual.blocks[a]].tangent_size;
    for (int b : probe_order_) {
      const int off_b = residual.inner_offset[b];
      if (off_b < off_a) continue;  // each pair once, the diagonal blocks too
      const int t_b = layout_.blocks[residual.blocks[b]].tangent_size;
      auto ab = curvature_.block(off_a, off_b, t_a, t_b);
      auto ba = curvature_.block(off_b, off_a, t_b, t_a);
      if (block_known_[a] && block_known_[b]) {
        ab = 0.5 * (ab + ba.transpose()).eval();
        if (a != b) ba = ab.transpose();  // a diagonal block is ab itself
      } else if (block_known_[b]) {
        ba = ab.transpose();
      } else if (block_known_[a]) {
        ab = ba.transpose();
      } else {
        ab.setZero();
        ba.setZero();
      }
    }
  }
  return Status::Ok();
}

Status DerivativeEngine::BuildAndFactorize() {
  const bool exact = options_.hessian_model == HessianModel::EXACT;
  hessian_.SetZero();
  for (size_t i = 0; i < layout_.residuals.size(); ++i) {
    Status status = InnerLocalHessian(static_cast<int>(i), exact);
    if (!status.ok()) return status;
    hessian_.AddInnerLocal(layout_.residuals[i], local_hessian_.data());
  }
  if (exact) {
    std::vector<double> curvature;
    for (int b : layout_.inner_blocks) {
      if (layout_.blocks[b].manifold == nullptr) continue;
      Status status = linearization_.ManifoldCurvature(b, &curvature);
      if (!status.ok()) return status;
      hessian_.AddToDiagonalBlock(b, curvature.data());
    }
  }
  const bool dense =
      options_.linear_solver_type == LinearSolverType::DENSE ||
      (options_.linear_solver_type == LinearSolverType::AUTOMATIC &&
       layout_.num_inner <= options_.max_dense_size);
  return dense ? solver_.FactorizeDense(hessian_.ToDense())
               : solver_.FactorizeSparse(hessian_.ToSparseUpper());
}

Status DerivativeEngine::Linearize(MinimiserDerivative::Summary* summary) {
  const auto start = std::chrono::steady_clock::now();
  Status status = linearization_.Evaluate();
  if (!status.ok()) return status;
  summary->gradient_max_norm_before_newton_step =
      linearization_.gradient().lpNorm<Eigen::Infinity>();
  double evaluation_time = SecondsSince(start);

  if (options_.final_newton_step) {
    status = BuildAndFactorize();
    if (!status.ok()) {
      return Status(status.code(), "before the final Newton step: " + status.message());
    }
    const Eigen::VectorXd step = -solver_.Solve(linearization_.gradient());
    summary->newton_step_norm = step.norm();
    status = ApplyInnerStep(layout_, step);
    if (!status.ok()) {
      return Status(status.code(), status.message() + " during the final Newton step");
    }
    const auto restart = std::chrono::steady_clock::now();
    status = linearization_.Evaluate();
    if (!status.ok()) return status;
    evaluation_time += SecondsSince(restart);
  }

  const auto factor_start = std::chrono::steady_clock::now();
  status = BuildAndFactorize();
  summary->factorization_time_in_seconds = SecondsSince(factor_start);
  summary->evaluation_time_in_seconds = evaluation_time;
  summary->gradient_max_norm = linearization_.gradient().lpNorm<Eigen::Infinity>();
  summary->gradient_norm = linearization_.gradient().norm();
  summary->min_eigenvalue = solver_.min_eigenvalue();
  summary->max_eigenvalue = solver_.max_eigenvalue();
  summary->condition_number = solver_.min_eigenvalue() > 0.0
                                  ? solver_.max_eigenvalue() / solver_.min_eigenvalue()
                                  : std::numeric_limits<double>::infinity();
  summary->eigenvalues_are_estimates = solver_.eigenvalues_are_estimates();
  summary->linear_solver_type =
      solver_.is_dense() ? LinearSolverType::DENSE : LinearSolverType::SPARSE;
  if (!status.ok()) return status;
  inner_snapshot_ = problem_->GetInnerValues();
  learnable_snapshot_ = problem_->GetLearnableParameters();
  return Status::Ok();
}

Status DerivativeEngine::CheckUnchanged(bool learnable_too) const {
  if (inner_snapshot_.size() == 0) {
    return InvalidArgumentError("Linearize has not succeeded on this problem");
  }
  if (problem_->GetInnerValues() != inner_snapshot_) {
    return InvalidArgumentError(
        "the inner values changed since Linearize; call Linearize again");
  }
  if (learnable_too && problem_->GetLearnableParameters() != learnable_snapshot_) {
    return InvalidArgumentError(
        "the learnable values changed since Linearize; call Linearize again");
  }
  return Status::Ok();
}

Status DerivativeEngine::Jacobian(Eigen::MatrixXd* J_y_w) const {
  Status status = CheckUnchanged(true);
  if (!status.ok()) return status;
  // G = dg/dw: first-order part plus the mixed residual curvature, differenced
  // along whichever local set (inner or learnable columns) is smaller.
  Eigen::MatrixXd G = Eigen::MatrixXd::Zero(layout_.num_inner, layout_.num_learnable);
  for (size_t i = 0; i < layout_.residuals.size(); ++i) {
    const ResidualBlockInfo& residual = layout_.residuals[i];
    if (!residual.has_learnable) continue;
    RowMajorMatrix local = FirstOrderLocal(i, true);
    int num_inner_local = 0;
    for (size_t j = 0; j < residual.blocks.size(); ++j) {
      const ParameterBlockInfo& block = layout_.blocks[residual.blocks[j]];
      if (block.role == BlockRole::kInner) num_inner_local += block.tangent_size;
    }
    const bool along_learnable = residual.num_local - num_inner_local <= num_inner_local;
    const BlockRole differenced = along_learnable ? BlockRole::kLearnable : BlockRole::kInner;
    Eigen::VectorXd direction = Eigen::VectorXd::Zero(residual.num_local);
    Eigen::VectorXd column = Eigen::VectorXd::Zero(residual.num_local);
    for (size_t j = 0; j < residual.blocks.size(); ++j) {
      const ParameterBlockInfo& block = layout_.blocks[residual.blocks[j]];
      if (block.role != differenced) continue;
      for (int q = 0; q < block.local_size(); ++q) {
        const int col = residual.local_offset[j] + q;
        direction[col] = 1.0;
        column.setZero();
        status = linearization_.CurvatureAlong(
            i, direction.data(),
            along_learnable ? CurvatureRows::kInner : CurvatureRows::kLearnable,
            options_.second_derivative_relative_step, column.data());
        direction[col] = 0.0;
        if (!status.ok()) return status;
        // Column `col` of the symmetric curvature, written to both halves so
        // the inner-rows x learnable-columns part below is complete.
        for (size_t l = 0; l < residual.blocks.size(); ++l) {
          const ParameterBlockInfo& other = layout_.blocks[residual.blocks[l]];
          if (other.role == BlockRole::kFixed || other.role == differenced) continue;
          for (int p = 0; p < other.local_size(); ++p) {
            const int row = residual.local_offset[l] + p;
            local(row, col) += column[row];
            local(col, row) += column[row];
          }
        }
      }
    }
    for (size_t a = 0; a < residual.blocks.size(); ++a) {
      const ParameterBlockInfo& inner = layout_.blocks[residual.blocks[a]];
      if (inner.role != BlockRole::kInner) continue;
      for (size_t b = 0; b < residual.blocks.size(); ++b) {
        const ParameterBlockInfo& learnable = layout_.blocks[residual.blocks[b]];
        if (learnable.role != BlockRole::kLearnable) continue;
        G.block(inner.offset, learnable.offset, inner.tangent_size, learnable.ambient_size) +=
            local.block(residual.local_offset[a], residual.local_offset[b],
                        inner.tangent_size, learnable.ambient_size);
      }
    }
  }
  *J_y_w = -solver_.Solve(G);
  return Status::Ok();
}

Status DerivativeEngine::VectorJacobianProduct(const Eigen::VectorXd& u,
                                               Eigen::VectorXd* J_y_w_T_u) const {
  if (u.size() != layout_.num_inner) {
    return InvalidArgumentError("u has size " + std::to_string(u.size()) +
                                " but the problem has " + std::to_string(layout_.num_inner) +
                                " inner (tangent) coordinates");
  }
  if (!u.allFinite()) return NumericalFailureError("u has a NaN or infinite entry");
  Status status = CheckUnchanged(true);
  if (!status.ok()) return status;
  // (dy*/dw)^T u = -G^T v with (H + lambda D) v = u (H is symmetric).
  const Eigen::VectorXd v = solver_.Solve(u);
  Eigen::VectorXd G_T_v = Eigen::VectorXd::Zero(layout_.num_learnable);
  for (size_t i = 0; i < layout_.residuals.size(); ++i) {
    const ResidualBlockInfo& residual = layout_.residuals[i];
    if (!residual.has_learnable) continue;
    Eigen::VectorXd v_local = Eigen::VectorXd::Zero(residual.num_local);
    for (size_t j = 0; j < residual.blocks.size(); ++j) {
      const ParameterBlockInfo& block = layout_.blocks[residual.blocks[j]];
      if (block.role != BlockRole::kInner) continue;
      v_local.segment(residual.local_offset[j], block.tangent_size) =
          v.segment(block.offset, block.tangent_size);
    }
    const ConstRowMajorMap J(linearization_.jacobian(i), residual.num_residuals,
                             residual.num_local);
    const Eigen::Map<const Eigen::VectorXd> r(linearization_.residuals(i),
                                              residual.num_residuals);
    const double* rho = linearization_.rho(i);
    const Eigen::VectorXd J_v = J * v_local;
    Eigen::VectorXd local = J.transpose() * (rho[1] * J_v + 2.0 * rho[2] * r.dot(J_v) * r);
    Eigen::VectorXd curvature = Eigen::VectorXd::Zero(residual.num_local);
    status = linearization_.CurvatureAlong(i, v_local.data(), CurvatureRows::kLearnable,
                                           options_.second_derivative_relative_step,
                                           curvature.data());
    if (!status.ok()) return status;
    local += curvature;
    for (size_t j = 0; j < residual.blocks.size(); ++j) {
      const ParameterBlockInfo& block = layout_.blocks[residual.blocks[j]];
      if (block.role != BlockRole::kLearnable) continue;
      G_T_v.segment(block.offset, block.ambient_size) +=
          local.segment(residual.local_offset[j], block.ambient_size);
    }
  }
  *J_y_w_T_u = -G_T_v;
  return Status::Ok();
}

Status DerivativeEngine::Solve(const Eigen::MatrixXd& b, Eigen::MatrixXd* x) const {
  if (b.rows() != layout_.num_inner) {
    return InvalidArgumentError("the right-hand side has " + std::to_string(b.rows()) +
                                " rows, not n_y = " + std::to_string(layout_.num_inner));
  }
  Status status = CheckUnchanged(false);
  if (!status.ok()) return status;
  *x = solver_.Solve(b);
  return Status::Ok();
}

Status DerivativeEngine::InnerGradient(Eigen::VectorXd* gradient) const {
  Status status = CheckUnchanged(false);
  if (!status.ok()) return status;
  return linearization_.EvaluateGradient(gradient);
}

}  // namespace internal

bool MinimiserDerivative::Options::IsValid(std::string* error) const {
  auto fail = [error](const std::string& message) {
    if (error != nullptr) *error = message;
    return false;
  };
  if (!(lambda >= 0.0) || !std::isfinite(lambda)) {
    return fail("lambda must be finite and >= 0, got " + std::to_string(lambda));
  }
  if (max_dense_size < 0) return fail("max_dense_size must be >= 0");
  if (!(second_derivative_relative_step > 0.0)) {
    return fail("second_derivative_relative_step must be > 0");
  }
  if (!(singular_tolerance >= 0.0)) return fail("singular_tolerance must be >= 0");
  if (max_exact_eigenvalue_size < 0) return fail("max_exact_eigenvalue_size must be >= 0");
  if (eigenvalue_iterations < 0) return fail("eigenvalue_iterations must be >= 0");
  return true;
}

std::string MinimiserDerivative::Summary::BriefReport() const {
  std::ostringstream out;
  out.precision(3);
  out << "MinimiserDerivative: n_y " << num_inner_parameters << ", n_w "
      << num_learnable_parameters << ", lambda " << lambda << ", "
      << HessianModelToString(hessian_model) << "/" << LinearSolverTypeToString(linear_solver_type)
      << ", |g|_max " << gradient_max_norm << ", eig(H + lambda D) in [" << min_eigenvalue
      << ", " << max_eigenvalue << "]" << (eigenvalues_are_estimates ? " (est.)" : "");
  return out.str();
}

std::string MinimiserDerivative::Summary::FullReport() const {
  std::ostringstream out;
  out.precision(6);
  out << "MinimiserDerivative report\n"
      << "  inner parameters (tangent)   " << num_inner_parameters << "\n"
      << "  learnable parameters         " << num_learnable_parameters << "\n"
      << "  residual blocks              " << num_residual_blocks << "\n"
      << "  lambda                       " << lambda << "\n"
      << "  damping                      " << DampingTypeToString(damping) << "\n"
      << "  Hessian model                " << HessianModelToString(hessian_model) << "\n"
      << "  linear solver                " << LinearSolverTypeToString(linear_solver_type) << "\n"
      << "  |g|_max at inner solution    " << gradient_max_norm_before_newton_step << "\n"
      << "  final Newton step norm       " << newton_step_norm << "\n"
      << "  |g|_max, |g|_2 differentiated " << gradient_max_norm << ", " << gradient_norm << "\n"
      << "  eigenvalues of H + lambda D  [" << min_eigenvalue << ", " << max_eigenvalue << "]"
      << (eigenvalues_are_estimates ? " (estimates)" : " (exact)") << "\n"
      << "  condition number             " << condition_number << "\n"
      << "  evaluation time (s)          " << evaluation_time_in_seconds << "\n"
      << "  factorisation time (s)       " << factorization_time_in_seconds << "\n";
  return out.str();
}

MinimiserDerivative::MinimiserDerivative(const Options& options) : options_(options) {}

MinimiserDerivative::~MinimiserDerivative() = default;

Status MinimiserDerivative::Linearize(BilevelProblem* problem, Summary* summary) {
  CHECK(problem != nullptr);
  std::string error;
  if (!options_.IsValid(&error)) return InvalidArgumentError(error);
  if (engine_ == nullptr || engine_->problem() != problem) {
    engine_ = std::make_unique<internal::DerivativeEngine>(options_, problem);
  }
  Summary local_summary;
  Summary* out = summary != nullptr ? summary : &local_summary;
  *out = Summary();
  out->num_inner_parameters = problem->num_inner_parameters();
  out->num_learnable_parameters = problem->num_learnable_parameters();
  out->num_residual_blocks = static_cast<int>(problem->layout().residuals.size());
  out->lambda = options_.lambda;
  out->damping = options_.damping;
  out->hessian_model = options_.hessian_model;
  out->linear_solver_type = options_.linear_solver_type;
  Status status = engine_->Linearize(out);
  if (!status.ok()) engine_.reset();
  return status;
}

namespace {
Status NotLinearized() {
  return InvalidArgumentError("call MinimiserDerivative::Linearize first (and check its status)");
}
}  // namespace

Status MinimiserDerivative::Jacobian(Eigen::MatrixXd* J_y_w) const {
  CHECK(J_y_w != nullptr);
  return engine_ ? engine_->Jacobian(J_y_w) : NotLinearized();
}

Status MinimiserDerivative::VectorJacobianProduct(const Eigen::VectorXd& u,
                                                  Eigen::VectorXd* J_y_w_T_u) const {
  CHECK(J_y_w_T_u != nullptr);
  return engine_ ? engine_->VectorJacobianProduct(u, J_y_w_T_u) : NotLinearized();
}

Status MinimiserDerivative::SolveDampedSystem(const Eigen::MatrixXd& b,
                                              Eigen::MatrixXd* x) const {
  CHECK(x != nullptr);
  return engine_ ? engine_->Solve(b, x) : NotLinearized();
}

Status MinimiserDerivative::InnerGradient(Eigen::VectorXd* gradient) const {
  CHECK(gradient != nullptr);
  return engine_ ? engine_->InnerGradient(gradient) : NotLinearized();
}

}  // namespace ceres_wiberg
