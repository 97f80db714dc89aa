#include "ceres_wiberg/minimiser_derivative.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <cmath>
#include <sstream>

#include "ceres_wiberg/internal/damped_solver.h"
#include "ceres_wiberg/internal/derivative_access.h"
#include "ceres_wiberg/internal/exact_hessian.h"
#include "ceres_wiberg/internal/inner_newton.h"
#include "ceres_wiberg/internal/linearisation.h"
#include "ceres_wiberg/internal/problem_layout.h"
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
        problem_id_(problem->id()),
        layout_(problem->layout()),
        newton_(options, problem),
        linearisation_(newton_.linearisation()),
        solver_(newton_.solver()) {}

  uint64_t problem_id() const { return problem_id_; }
  const InnerNewton& newton() const { return newton_; }
  InnerNewton* mutable_newton() { return &newton_; }

  // reuse_evaluation: when the InnerNewton's last evaluation (and H) is at
  // the problem's current values, use it instead of evaluating again (the
  // caller vouches that no data changed since; see
  // SharedInnerSolve::Linearise).
  Status Linearise(MinimiserDerivative::Summary* summary, bool reuse_evaluation);
  Status Jacobian(Eigen::MatrixXd* J_y_w) const;
  Status VectorJacobianProduct(const Eigen::VectorXd& u, Eigen::VectorXd* J_y_w_T_u) const;
  Status Solve(const Eigen::MatrixXd& b, Eigen::MatrixXd* x) const;
  Status InnerGradient(Eigen::VectorXd* gradient) const;
  // kInvalidArgument if the problem's values moved since Linearise.
  Status CheckUnchanged(bool learnable_too) const;

 private:
  // Builds H at the last evaluated point (unless it is built) and
  // factorises H + lambda D, adding the times to *summary.
  Status BuildAndFactorise(MinimiserDerivative::Summary* summary);
  // The local Hessian of residual block i without its residual curvature:
  // rho' J^T J + 2 rho'' J^T r r^T J of Linearisation's exact view, and for
  // a learnable loss its a and m columns (and rows) m (d rho'/da) J^T r and
  // rho' J^T r.
  RowMajorMatrix FirstOrderLocal(int i) const;
  // Learnable local columns of residual block i whose mixed curvature is
  // differenced (all but a learnable loss's a and m).
  int NumDifferencedLearnable(int i) const;
  // Whether the free gradient at the last evaluated point is at its own
  // rounding level: every free |g_j| <= kGradientRoundOff eps sum_i
  // |rho'_i| (|J_i|^T |r_i|)_j, the scale of the roundings of the terms that
  // sum to g_j. A Newton step from there moves y by rounding noise only.
  bool GradientIsRoundOff();

  const MinimiserDerivative::Options options_;
  BilevelProblem* problem_;
  const uint64_t problem_id_;
  const ProblemLayout& layout_;
  InnerNewton newton_;
  const Linearisation& linearisation_;
  const DampedSolver& solver_;
  Eigen::VectorXd inner_snapshot_;
  Eigen::VectorXd learnable_snapshot_;
  // VectorJacobianProduct's per-residual vectors (one thread at a time, see
  // minimiser_derivative.h).
  struct VjpScratch {
    Eigen::VectorXd v_local, J_v, local, curvature;
  };
  mutable VjpScratch vjp_scratch_;
  Eigen::VectorXd gradient_scale_;  // GradientIsRoundOff's sums
};

// A residual block's Jacobian evaluation accumulates some tens of roundings
// (as ExactHessian's noise factor): a gradient entry within this many eps of
// its terms' magnitudes is indistinguishable from zero.
constexpr double kGradientRoundOff = 64.0;

bool DerivativeEngine::GradientIsRoundOff() {
  gradient_scale_.setZero(layout_.num_inner);
  for (size_t i = 0; i < layout_.residuals.size(); ++i) {
    const ResidualBlockInfo& residual = layout_.residuals[i];
    const ConstRowMajorMap J(linearisation_.exact_jacobian(static_cast<int>(i)),
                             residual.num_residuals, residual.num_local);
    const Eigen::Map<const Eigen::VectorXd> r(
        linearisation_.exact_residuals(static_cast<int>(i)), residual.num_residuals);
    const double rho_prime = std::abs(linearisation_.exact_rho(static_cast<int>(i))[1]);
    for (size_t j = 0; j < residual.blocks.size(); ++j) {
      const ParameterBlockInfo& block = layout_.blocks[residual.blocks[j]];
      if (block.role != BlockRole::kInner) continue;
      for (int q = 0; q < block.tangent_size; ++q) {
        gradient_scale_[block.offset + q] +=
            rho_prime * J.col(residual.local_offset[j] + q).cwiseAbs().dot(r.cwiseAbs());
      }
    }
  }
  const Eigen::VectorXd& g = newton_.free_gradient();
  const double tolerance = kGradientRoundOff * std::numeric_limits<double>::epsilon();
  for (int j = 0; j < layout_.num_inner; ++j) {
    if (!(std::abs(g[j]) <= tolerance * gradient_scale_[j])) return false;
  }
  return true;
}

RowMajorMatrix DerivativeEngine::FirstOrderLocal(int i) const {
  const ResidualBlockInfo& residual = layout_.residuals[i];
  const ConstRowMajorMap J(linearisation_.exact_jacobian(i), residual.num_residuals,
                           residual.num_local);
  const double* rho = linearisation_.exact_rho(i);
  RowMajorMatrix local = rho[1] * J.transpose() * J;
  const bool learnable_loss = residual.learnable_loss != nullptr;
  if (rho[2] == 0.0 && !learnable_loss) return local;
  const Eigen::VectorXd J_T_r =
      J.transpose() * Eigen::Map<const Eigen::VectorXd>(linearisation_.exact_residuals(i),
                                                        residual.num_residuals);
  if (rho[2] != 0.0) local += 2.0 * rho[2] * J_T_r * J_T_r.transpose();
  if (learnable_loss) {
    // J's columns of a and m are zero, so are J_T_r's entries there: the
    // diagonal entries of a and m stay as they are (not used).
    const LearnableLossDerivatives& loss = linearisation_.learnable_loss(i);
    auto add_column = [&](int j, double factor) {
      if (j < 0 || residual.local_offset[j] < 0) return;
      const int col = residual.local_offset[j];
      local.col(col) += factor * J_T_r;
      local.row(col) += factor * J_T_r.transpose();
    };
    add_column(residual.learnable_loss->scale_block_index(), loss.m * loss.drho_prime_da);
    add_column(residual.learnable_loss->weight_block_index(), loss.rho_prime);
  }
  return local;
}

int DerivativeEngine::NumDifferencedLearnable(int i) const {
  const ResidualBlockInfo& residual = layout_.residuals[i];
  int count = 0;
  for (int j = 0; j < residual.num_differenced_blocks; ++j) {
    const ParameterBlockInfo& block = layout_.blocks[residual.blocks[j]];
    if (block.role == BlockRole::kLearnable) count += block.ambient_size;
  }
  return count;
}

Status DerivativeEngine::BuildAndFactorise(MinimiserDerivative::Summary* summary) {
  if (!newton_.hessian_is_current()) {
    const auto start = std::chrono::steady_clock::now();
    Status status = newton_.BuildHessian();
    summary->hessian_time_in_seconds += SecondsSince(start);
    if (!status.ok()) return status;
  }
  Status status;
  const auto factor_start = std::chrono::steady_clock::now();
  status = newton_.Factorise(options_.lambda);
  summary->factorisation_time_in_seconds += SecondsSince(factor_start);
  summary->symbolic_analysis_time_in_seconds += solver_.analysis_time_in_seconds();
  return status;
}

Status DerivativeEngine::Linearise(MinimiserDerivative::Summary* summary,
                                   bool reuse_evaluation) {
  const auto start = std::chrono::steady_clock::now();
  Status status;
  if (!reuse_evaluation || !newton_.IsEvaluatedAtCurrentValues()) {
    status = newton_.Evaluate();
    if (!status.ok()) return status;
  }
  summary->gradient_max_norm_before_newton_step =
      newton_.free_gradient().lpNorm<Eigen::Infinity>();
  double evaluation_time = SecondsSince(start);

  // The inner values before a final Newton step: restored if anything
  // fails after the step moved them, so that a failure leaves the user's
  // problem as it was (no non-finite values).
  Eigen::VectorXd before_step;
  // Whether y is not where H was last factorised (then H is built and
  // factorised below).
  bool moved = true;
  summary->final_newton_step_taken = options_.final_newton_step && !GradientIsRoundOff();
  if (summary->final_newton_step_taken) {
    status = BuildAndFactorise(summary);
    if (!status.ok()) {
      return Status(status.code(), "before the final Newton step: " + status.message());
    }
    const Eigen::VectorXd step = newton_.Step(newton_.free_gradient());
    if (!step.allFinite()) {
      return NumericalFailureError(
          "the final Newton step has a NaN or infinite entry (the factorisation of "
          "H + lambda D is not usable); the inner values are unchanged");
    }
    summary->newton_step_norm = step.norm();
    before_step = problem_->GetInnerValues();
    status = newton_.ApplyStep(step);
    // A step below half an ulp of every coordinate leaves y as it was, and
    // with it the evaluation, H and the factorisation: nothing to redo.
    moved = !status.ok() || problem_->GetInnerValues() != before_step;
    if (status.ok() && moved) {
      const auto restart = std::chrono::steady_clock::now();
      status = newton_.Evaluate();
      evaluation_time += SecondsSince(restart);
    }
    if (!status.ok()) {
      problem_->SetInnerValues(before_step);
      return Status(status.code(), status.message() +
                                       " after the final Newton step; the inner values "
                                       "are restored to those before it");
    }
  }

  if (moved) status = BuildAndFactorise(summary);
  summary->evaluation_time_in_seconds = evaluation_time;
  summary->gradient_max_norm = newton_.free_gradient().lpNorm<Eigen::Infinity>();
  summary->gradient_norm = newton_.free_gradient().norm();
  summary->num_active_bounds = newton_.active_bounds().num_active;
  summary->min_active_bound_multiplier = newton_.active_bounds().min_multiplier;
  summary->min_eigenvalue = solver_.min_eigenvalue();
  summary->max_eigenvalue = solver_.max_eigenvalue();
  summary->scaled_min_eigenvalue = solver_.scaled_min_eigenvalue();
  summary->scaled_max_eigenvalue = solver_.scaled_max_eigenvalue();
  summary->condition_number =
      solver_.scaled_min_eigenvalue() > 0.0
          ? solver_.scaled_max_eigenvalue() / solver_.scaled_min_eigenvalue()
          : std::numeric_limits<double>::infinity();
  summary->eigenvalues_are_estimates = solver_.eigenvalues_are_estimates();
  summary->linear_solver_type = solver_.solver_type();
  summary->num_eliminated_parameters = solver_.num_eliminated();
  if (!status.ok()) {
    if (before_step.size() > 0) {
      problem_->SetInnerValues(before_step);
      return Status(status.code(), status.message() +
                                       " (after the final Newton step; the inner values "
                                       "are restored to those before it)");
    }
    return status;
  }
  inner_snapshot_ = problem_->GetInnerValues();
  learnable_snapshot_ = problem_->GetLearnableParameters();
  return Status::Ok();
}

Status DerivativeEngine::CheckUnchanged(bool learnable_too) const {
  if (inner_snapshot_.size() == 0) {
    return InvalidArgumentError("Linearise has not succeeded on this problem");
  }
  if (problem_->GetInnerValues() != inner_snapshot_) {
    return InvalidArgumentError(
        "the inner values changed since Linearise; call Linearise again");
  }
  if (learnable_too && problem_->GetLearnableParameters() != learnable_snapshot_) {
    return InvalidArgumentError(
        "the learnable values changed since Linearise; call Linearise again");
  }
  return Status::Ok();
}

Status DerivativeEngine::Jacobian(Eigen::MatrixXd* J_y_w) const {
  Status status = CheckUnchanged(true);
  if (!status.ok()) return status;
  // G = dg/dw: first-order part plus the mixed residual curvature, differenced
  // along whichever local set (inner or learnable columns) is smaller.
  Eigen::MatrixXd G = Eigen::MatrixXd::Zero(layout_.num_inner, layout_.num_learnable);
  const std::vector<char>& active = newton_.active_bounds().active;
  for (size_t i = 0; i < layout_.residuals.size(); ++i) {
    const ResidualBlockInfo& residual = layout_.residuals[i];
    if (!residual.has_learnable) continue;
    RowMajorMatrix local = FirstOrderLocal(i);
    const int num_inner_local = residual.num_inner_local;
    // A learnable loss's a and m do not enter the differenced (wrapped) cost
    // function: their mixed derivatives are all in FirstOrderLocal.
    const int num_learnable_local = NumDifferencedLearnable(i);
    const bool along_learnable = num_learnable_local <= num_inner_local;
    const BlockRole differenced = along_learnable ? BlockRole::kLearnable : BlockRole::kInner;
    Eigen::VectorXd direction = Eigen::VectorXd::Zero(residual.num_local);
    Eigen::VectorXd column = Eigen::VectorXd::Zero(residual.num_local);
    for (int j = 0; num_learnable_local > 0 && j < residual.num_differenced_blocks; ++j) {
      const ParameterBlockInfo& block = layout_.blocks[residual.blocks[j]];
      if (block.role != differenced) continue;
      for (int q = 0; q < block.local_size(); ++q) {
        // An active bound's row of G is not used: not differenced along (no
        // evaluation beyond the bound).
        if (!along_learnable && active[block.offset + q]) continue;
        const int col = residual.local_offset[j] + q;
        direction[col] = 1.0;
        column.setZero();
        status = newton_.exact_hessian().CurvatureAlong(
            i, direction.data(),
            along_learnable ? CurvatureRows::kInner : CurvatureRows::kLearnable, column.data());
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
  if (!G.allFinite()) return NumericalFailureError("G = dg/dw has a NaN or infinite entry");
  *J_y_w = -solver_.Solve(G);
  if (!J_y_w->allFinite()) {
    return NumericalFailureError(
        "dy*/dw has a NaN or infinite entry: the factorisation of H + lambda D is not usable");
  }
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
  // Per residual block, in buffers kept across blocks and calls.
  Eigen::VectorXd& v_local = vjp_scratch_.v_local;
  Eigen::VectorXd& J_v = vjp_scratch_.J_v;
  Eigen::VectorXd& local = vjp_scratch_.local;
  Eigen::VectorXd& curvature = vjp_scratch_.curvature;
  for (size_t i = 0; i < layout_.residuals.size(); ++i) {
    const ResidualBlockInfo& residual = layout_.residuals[i];
    if (!residual.has_learnable) continue;
    v_local.setZero(residual.num_local);
    for (size_t j = 0; j < residual.blocks.size(); ++j) {
      const ParameterBlockInfo& block = layout_.blocks[residual.blocks[j]];
      if (block.role != BlockRole::kInner) continue;
      v_local.segment(residual.local_offset[j], block.tangent_size) =
          v.segment(block.offset, block.tangent_size);
    }
    const ConstRowMajorMap J(linearisation_.exact_jacobian(i), residual.num_residuals,
                             residual.num_local);
    const Eigen::Map<const Eigen::VectorXd> r(linearisation_.exact_residuals(i),
                                              residual.num_residuals);
    const double* rho = linearisation_.exact_rho(i);
    J_v.noalias() = J * v_local;
    const double r_T_J_v = r.dot(J_v);
    local.noalias() = J.transpose() * (rho[1] * J_v + 2.0 * rho[2] * r_T_J_v * r);
    if (residual.learnable_loss != nullptr) {
      // v^T G's entries of a and m: m (d rho'/da) r^T J v and rho' r^T J v.
      const LearnableLossDerivatives& loss = linearisation_.learnable_loss(i);
      const int a = residual.local_offset[residual.learnable_loss->scale_block_index()];
      if (a >= 0) local[a] += loss.m * loss.drho_prime_da * r_T_J_v;
      const int m = residual.learnable_loss->weight_block_index();
      if (m >= 0 && residual.local_offset[m] >= 0) {
        local[residual.local_offset[m]] += loss.rho_prime * r_T_J_v;
      }
    }
    if (NumDifferencedLearnable(static_cast<int>(i)) > 0) {
      curvature.setZero(residual.num_local);
      status = newton_.exact_hessian().CurvatureAlong(i, v_local.data(),
                                                      CurvatureRows::kLearnable, curvature.data());
      if (!status.ok()) return status;
      local += curvature;
    }
    for (size_t j = 0; j < residual.blocks.size(); ++j) {
      const ParameterBlockInfo& block = layout_.blocks[residual.blocks[j]];
      if (block.role != BlockRole::kLearnable) continue;
      G_T_v.segment(block.offset, block.ambient_size) +=
          local.segment(residual.local_offset[j], block.ambient_size);
    }
  }
  *J_y_w_T_u = -G_T_v;
  if (!J_y_w_T_u->allFinite()) {
    return NumericalFailureError(
        "(dy*/dw)^T u has a NaN or infinite entry: G or the factorisation of H + lambda D is "
        "not usable");
  }
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
  return linearisation_.EvaluateGradient(gradient);
}

Status LinearisedHessian(const MinimiserDerivative& derivative, Eigen::SparseMatrix<double>* H,
                         std::vector<char>* fixed) {
  CHECK(H != nullptr);
  CHECK(fixed != nullptr);
  if (derivative.engine_ == nullptr) {
    return InvalidArgumentError("call MinimiserDerivative::Linearise first (and check its status)");
  }
  Status status = derivative.engine_->CheckUnchanged(false);
  if (!status.ok()) return status;
  *H = derivative.engine_->newton().solver().KeptHessian();
  *fixed = derivative.engine_->newton().active_bounds().active;
  return Status::Ok();
}

InnerNewton* SharedInnerSolve::Newton(MinimiserDerivative* derivative, BilevelProblem* problem) {
  CHECK(derivative != nullptr);
  CHECK(problem != nullptr);
  CHECK(derivative->options().hessian_model == HessianModel::EXACT)
      << "the shared InnerNewton's H must be the exact one";
  derivative->EnsureEngine(problem);
  return derivative->engine_->mutable_newton();
}

Status SharedInnerSolve::Linearise(MinimiserDerivative* derivative, BilevelProblem* problem,
                                   MinimiserDerivative::Summary* summary) {
  CHECK(derivative != nullptr);
  return derivative->Linearise(problem, summary, /*reuse_evaluation=*/true);
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
  // Enums: a value outside the enumerators (e.g. cast from an int) has no
  // name, and would leave the switches that use it without a case.
  DampingType known_damping;
  if (!StringToDampingType(DampingTypeToString(damping), &known_damping)) {
    return fail("damping has the unknown value " + std::to_string(static_cast<int>(damping)));
  }
  HessianModel known_model;
  if (!StringToHessianModel(HessianModelToString(hessian_model), &known_model)) {
    return fail("hessian_model has the unknown value " +
                std::to_string(static_cast<int>(hessian_model)));
  }
  LinearSolverType known_solver;
  if (!StringToLinearSolverType(LinearSolverTypeToString(linear_solver_type), &known_solver)) {
    return fail("linear_solver_type has the unknown value " +
                std::to_string(static_cast<int>(linear_solver_type)));
  }
  SparseLinearAlgebraLibraryType known_library;
  if (!StringToSparseLinearAlgebraLibraryType(
          SparseLinearAlgebraLibraryTypeToString(sparse_linear_algebra_library_type),
          &known_library)) {
    return fail("sparse_linear_algebra_library_type has the unknown value " +
                std::to_string(static_cast<int>(sparse_linear_algebra_library_type)));
  }
  if (max_dense_size < 0) return fail("max_dense_size must be >= 0");
  if (!(second_derivative_relative_step > 0.0 && second_derivative_relative_step < 1.0)) {
    return fail("second_derivative_relative_step must be in (0, 1), got " +
                std::to_string(second_derivative_relative_step));
  }
  if (!(bound_tolerance >= 0.0 && bound_tolerance < 1.0)) {
    return fail("bound_tolerance must be in [0, 1), got " + std::to_string(bound_tolerance));
  }
  if (!(singular_tolerance >= 0.0) || !std::isfinite(singular_tolerance)) {
    return fail("singular_tolerance must be finite and >= 0");
  }
  if (max_exact_eigenvalue_size < 0) return fail("max_exact_eigenvalue_size must be >= 0");
  if (num_threads < 1) {
    return fail("num_threads must be >= 1, got " + std::to_string(num_threads));
  }
  if (eigenvalue_iterations < 0 || eigenvalue_iterations > kMaxEigenvalueIterations) {
    return fail("eigenvalue_iterations must be in [0, " +
                std::to_string(kMaxEigenvalueIterations) + "], got " +
                std::to_string(eigenvalue_iterations));
  }
  return true;
}

std::string MinimiserDerivative::Summary::BriefReport() const {
  std::ostringstream out;
  out.precision(3);
  out << "MinimiserDerivative: n_y " << num_inner_parameters << ", n_w "
      << num_learnable_parameters << ", lambda " << lambda << ", "
      << HessianModelToString(hessian_model) << "/" << LinearSolverTypeToString(linear_solver_type)
      << ", |g|_max " << gradient_max_norm;
  if (num_active_bounds > 0) out << ", " << num_active_bounds << " active bound(s)";
  out << ", eig(H + lambda D) in [" << min_eigenvalue
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
      << "  linear solver                " << LinearSolverTypeToString(linear_solver_type)
      << (linear_solver_type == LinearSolverType::SPARSE ||
                  linear_solver_type == LinearSolverType::SPARSE_SCHUR
              ? std::string(" (") +
                    SparseLinearAlgebraLibraryTypeToString(sparse_linear_algebra_library_type) + ")"
              : std::string())
      << (linear_solver_type == LinearSolverType::SPARSE_SCHUR
              ? ", " + std::to_string(num_eliminated_parameters) + " coordinates eliminated"
              : std::string())
      << "\n"
      << "  |g|_max at inner solution    " << gradient_max_norm_before_newton_step << "\n"
      << "  final Newton step norm       " << newton_step_norm
      << (final_newton_step_taken ? "" : " (not taken)") << "\n"
      << "  |g|_max, |g|_2 differentiated " << gradient_max_norm << ", " << gradient_norm << "\n"
      << "  active bounds (fixed coords) " << num_active_bounds << "\n"
      << "  min active bound multiplier  " << min_active_bound_multiplier << "\n"
      << "  eigenvalues of H + lambda D  [" << min_eigenvalue << ", " << max_eigenvalue << "]"
      << (eigenvalues_are_estimates ? " (estimates)" : " (exact)") << "\n"
      << "  Jacobi-scaled eigenvalues    [" << scaled_min_eigenvalue << ", "
      << scaled_max_eigenvalue << "]\n"
      << "  condition number (scaled)    " << condition_number << "\n"
      << "  evaluation time (s)          " << evaluation_time_in_seconds << "\n"
      << "  Hessian time (s)             " << hessian_time_in_seconds << "\n"
      << "  factorisation time (s)       " << factorisation_time_in_seconds << " (symbolic "
      << symbolic_analysis_time_in_seconds << ")\n";
  return out.str();
}

MinimiserDerivative::MinimiserDerivative(const Options& options) : options_(options) {}

MinimiserDerivative::~MinimiserDerivative() = default;

Status MinimiserDerivative::Linearise(BilevelProblem* problem, Summary* summary) {
  return Linearise(problem, summary, /*reuse_evaluation=*/false);
}

void MinimiserDerivative::EnsureEngine(BilevelProblem* problem) {
  // By id, not address: a new problem may sit at a freed one's address.
  if (engine_ == nullptr || engine_->problem_id() != problem->id()) {
    engine_ = std::make_unique<internal::DerivativeEngine>(options_, problem);
  }
}

Status MinimiserDerivative::Linearise(BilevelProblem* problem, Summary* summary,
                                      bool reuse_evaluation) {
  CHECK(problem != nullptr);
  std::string error;
  if (!options_.IsValid(&error)) return InvalidArgumentError(error);
  EnsureEngine(problem);
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
  out->sparse_linear_algebra_library_type = options_.sparse_linear_algebra_library_type;
  Status status = engine_->Linearise(out, reuse_evaluation);
  if (!status.ok()) engine_.reset();
  return status;
}

namespace {
Status NotLinearised() {
  return InvalidArgumentError("call MinimiserDerivative::Linearise first (and check its status)");
}
}  // namespace

Status MinimiserDerivative::Jacobian(Eigen::MatrixXd* J_y_w) const {
  CHECK(J_y_w != nullptr);
  return engine_ ? engine_->Jacobian(J_y_w) : NotLinearised();
}

Status MinimiserDerivative::VectorJacobianProduct(const Eigen::VectorXd& u,
                                                  Eigen::VectorXd* J_y_w_T_u) const {
  CHECK(J_y_w_T_u != nullptr);
  return engine_ ? engine_->VectorJacobianProduct(u, J_y_w_T_u) : NotLinearised();
}

Status MinimiserDerivative::SolveDampedSystem(const Eigen::MatrixXd& b,
                                              Eigen::MatrixXd* x) const {
  CHECK(x != nullptr);
  return engine_ ? engine_->Solve(b, x) : NotLinearised();
}

Status MinimiserDerivative::InnerGradient(Eigen::VectorXd* gradient) const {
  CHECK(gradient != nullptr);
  return engine_ ? engine_->InnerGradient(gradient) : NotLinearised();
}

}  // namespace ceres_wiberg
