#include "ceres_wiberg/linear_least_squares.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <sstream>
#include <utility>

#include "Eigen/Cholesky"
#include "Eigen/SVD"
#include "ceres_wiberg/enum_names.h"
#include "ceres_wiberg/thread_pool.h"
#include "glog/logging.h"

namespace ceres_wiberg {
namespace {

constexpr double kEpsilon = std::numeric_limits<double>::epsilon();

std::string SizeString(const Eigen::MatrixXd& x) {
  std::ostringstream out;
  out << x.rows() << " x " << x.cols();
  return out.str();
}

// kNumericalFailure naming the first non-finite entry of `x`, or OK.
Status CheckFinite(const Eigen::MatrixXd& x, const char* name,
                   const char* caller) {
  for (Eigen::Index j = 0; j < x.cols(); ++j) {
    for (Eigen::Index i = 0; i < x.rows(); ++i) {
      if (!std::isfinite(x(i, j))) {
        std::ostringstream out;
        out << caller << ": " << name << "(" << i << ", " << j << ") = "
            << x(i, j) << " is not finite.";
        return NumericalFailureError(out.str());
      }
    }
  }
  return Status::Ok();
}

Status CheckSize(const Eigen::MatrixXd& x, Eigen::Index rows,
                 Eigen::Index cols, const char* name, const char* caller) {
  if (x.rows() == rows && x.cols() == cols) return Status::Ok();
  std::ostringstream out;
  out << caller << ": " << name << " is " << SizeString(x) << ", expected "
      << rows << " x " << cols << ".";
  return InvalidArgumentError(out.str());
}

double RankTolerance(const DifferentiableLinearLeastSquares::Options& options,
                     Eigen::Index m, Eigen::Index n) {
  return options.rank_tolerance >= 0.0
             ? options.rank_tolerance
             : static_cast<double>(std::min(m, n)) * kEpsilon;
}

// The number of singular values (sorted decreasingly) above tolerance * s_max.
int NumericalRank(const Eigen::VectorXd& singular_values, double tolerance) {
  if (singular_values.size() == 0 || singular_values(0) <= 0.0) return 0;
  const double threshold = tolerance * singular_values(0);
  int rank = 0;
  while (rank < singular_values.size() && singular_values(rank) > threshold) {
    ++rank;
  }
  return rank;
}

// The first failing status, prefixed with its system's index, or OK.
Status FirstError(const std::vector<Status>& statuses, const char* caller) {
  for (size_t i = 0; i < statuses.size(); ++i) {
    if (!statuses[i].ok()) {
      std::ostringstream out;
      out << caller << ": system " << i << ": " << statuses[i].message();
      return Status(statuses[i].code(), out.str());
    }
  }
  return Status::Ok();
}

}  // namespace

const char* LeastSquaresMethodToString(LeastSquaresMethod method) {
  switch (method) {
    case LeastSquaresMethod::FULL_RANK_CHOLESKY:
      return "FULL_RANK_CHOLESKY";
    case LeastSquaresMethod::MINIMUM_NORM:
      return "MINIMUM_NORM";
  }
  return "UNKNOWN";
}

bool StringToLeastSquaresMethod(const std::string& name, LeastSquaresMethod* method) {
  return StringToEnum(
      name, {LeastSquaresMethod::FULL_RANK_CHOLESKY, LeastSquaresMethod::MINIMUM_NORM},
      LeastSquaresMethodToString, method);
}

bool DifferentiableLinearLeastSquares::Options::IsValid(
    std::string* error) const {
  CHECK(error != nullptr);
  std::ostringstream out;
  if (method != LeastSquaresMethod::FULL_RANK_CHOLESKY &&
      method != LeastSquaresMethod::MINIMUM_NORM) {
    out << "method = " << static_cast<int>(method) << " is not a "
        << "LeastSquaresMethod.";
  } else if (!std::isfinite(l2_regulariser) || l2_regulariser < 0.0) {
    out << "l2_regulariser = " << l2_regulariser
        << " must be finite and >= 0.";
  } else if (!std::isfinite(rank_tolerance) || rank_tolerance >= 1.0) {
    out << "rank_tolerance = " << rank_tolerance
        << " must be finite and < 1 (negative: automatic).";
  } else if (!std::isfinite(cholesky_rcond_tolerance) ||
             cholesky_rcond_tolerance >= 1.0) {
    out << "cholesky_rcond_tolerance = " << cholesky_rcond_tolerance
        << " must be finite and < 1 (negative: automatic).";
  } else if (num_threads < 1) {
    out << "num_threads = " << num_threads << " must be >= 1.";
  }
  *error = out.str();
  return error->empty();
}

DifferentiableLinearLeastSquares::DifferentiableLinearLeastSquares()
    : DifferentiableLinearLeastSquares(Options()) {}

DifferentiableLinearLeastSquares::DifferentiableLinearLeastSquares(
    const Options& options)
    : options_(options) {}

void DifferentiableLinearLeastSquares::Clear() {
  path_ = Path::kNone;
  solved_ = false;
  rank_ = -1;
  A_.resize(0, 0);
  b_.resize(0, 0);
  y_.resize(0, 0);
  residual_.resize(0, 0);
  cholesky_factor_.resize(0, 0);
  U_.resize(0, 0);
  singular_values_.resize(0);
  V_.resize(0, 0);
}

Status DifferentiableLinearLeastSquares::Solve(const Eigen::MatrixXd& A,
                                               const Eigen::MatrixXd& b) {
  static constexpr char kCaller[] = "DifferentiableLinearLeastSquares::Solve";
  Clear();
  std::string error;
  if (!options_.IsValid(&error)) {
    return InvalidArgumentError(std::string(kCaller) +
                                ": invalid options: " + error);
  }
  if (A.rows() == 0 || A.cols() == 0 || b.cols() == 0) {
    return InvalidArgumentError(std::string(kCaller) + ": A is " +
                                SizeString(A) + " and b is " + SizeString(b) +
                                "; both need at least one row and column.");
  }
  if (b.rows() != A.rows()) {
    return InvalidArgumentError(std::string(kCaller) + ": A is " +
                                SizeString(A) + " but b is " + SizeString(b) +
                                "; they need the same number of rows.");
  }
  Status status = CheckFinite(A, "A", kCaller);
  if (!status.ok()) return status;
  status = CheckFinite(b, "b", kCaller);
  if (!status.ok()) return status;

  A_ = A;
  b_ = b;
  status = options_.method == LeastSquaresMethod::FULL_RANK_CHOLESKY
               ? SolveCholesky()
               : SolveSvd();
  if (status.ok() && !y_.allFinite()) {
    status = NumericalFailureError(
        std::string(kCaller) + ": the solution is not finite (" +
        LeastSquaresMethodToString(options_.method) + ").");
  }
  if (!status.ok()) {
    Clear();
    return status;
  }
  residual_ = b_ - A_ * y_;
  solved_ = true;
  return Status::Ok();
}

Status DifferentiableLinearLeastSquares::SolveCholesky() {
  const Eigen::Index m = A_.rows();
  const Eigen::Index n = A_.cols();
  const double l2 = options_.l2_regulariser;
  // Without regularisation, rank(A^T A) <= m < n: singular, no need to try.
  if (l2 == 0.0 && m < n) return SingularCholeskyError(0.0);

  Eigen::MatrixXd M = Eigen::MatrixXd::Zero(n, n);
  M.selfadjointView<Eigen::Lower>().rankUpdate(A_.transpose());
  M.diagonal().array() += l2;
  const Eigen::LLT<Eigen::MatrixXd> llt(M);
  if (llt.info() != Eigen::Success) return SingularCholeskyError(0.0);
  const double tolerance = options_.cholesky_rcond_tolerance >= 0.0
                               ? options_.cholesky_rcond_tolerance
                               : static_cast<double>(n) * kEpsilon;
  const double rcond = llt.rcond();
  if (!(rcond > tolerance)) return SingularCholeskyError(rcond);

  cholesky_factor_ = llt.matrixL();
  path_ = Path::kCholesky;
  y_ = ApplyInverseM(A_.transpose() * b_);
  rank_ = l2 == 0.0 ? static_cast<int>(n) : -1;
  return Status::Ok();
}

Status DifferentiableLinearLeastSquares::SingularCholeskyError(
    double rcond) const {
  const Eigen::Index m = A_.rows();
  const Eigen::Index n = A_.cols();
  // Error path only: the SVD gives the rank the message reports.
  Eigen::BDCSVD<Eigen::MatrixXd> svd(A_);
  const Eigen::VectorXd& s = svd.singularValues();
  const double rank_tolerance = RankTolerance(options_, m, n);
  const int rank = NumericalRank(s, rank_tolerance);

  std::ostringstream out;
  out << "DifferentiableLinearLeastSquares::Solve: FULL_RANK_CHOLESKY: "
      << "M = A^T A + l2 I (" << n << " x " << n << ", l2 = "
      << options_.l2_regulariser << ") is singular to working precision";
  if (rcond > 0.0) out << " (estimated reciprocal condition number " << rcond
                       << ")";
  out << ". A (" << m << " x " << n << ") has numerical rank " << rank;
  if (rank < n) {
    out << " < n = " << n;
    if (m < n) out << " (more columns than rows)";
  } else {
    out << " = n by rank_tolerance " << rank_tolerance
        << ", but its condition number " << s(0) / s(s.size() - 1)
        << " is too large for the normal equations";
  }
  out << " (singular values above " << rank_tolerance
      << " * s_max count). Use LeastSquaresMethod::MINIMUM_NORM for the "
      << "minimum-norm solution, or l2_regulariser > 0.";
  return Status(StatusCode::kSingularHessian, out.str());
}

Status DifferentiableLinearLeastSquares::SolveSvd() {
  const Eigen::Index m = A_.rows();
  const Eigen::Index n = A_.cols();
  const double l2 = options_.l2_regulariser;
  Eigen::BDCSVD<Eigen::MatrixXd> svd(A_,
                                     Eigen::ComputeThinU | Eigen::ComputeThinV);
  if (svd.info() != Eigen::Success) {
    return NumericalFailureError(
        "DifferentiableLinearLeastSquares::Solve: the SVD of A (" +
        SizeString(A_) + ") failed.");
  }
  rank_ = NumericalRank(svd.singularValues(), RankTolerance(options_, m, n));
  if (l2 == 0.0) {
    // Truncated SVD: A^+ = V_r S_r^-1 U_r^T.
    U_ = svd.matrixU().leftCols(rank_);
    singular_values_ = svd.singularValues().head(rank_);
    V_ = svd.matrixV().leftCols(rank_);
    y_ = V_ * (singular_values_.cwiseInverse().asDiagonal() *
               (U_.transpose() * b_));
    path_ = Path::kPseudoInverse;
  } else {
    // Tikhonov filter factors s / (s^2 + l2) on every singular triplet.
    U_ = svd.matrixU();
    singular_values_ = svd.singularValues();
    V_ = svd.matrixV();
    const Eigen::VectorXd filter =
        singular_values_.array() / (singular_values_.array().square() + l2);
    y_ = V_ * (filter.asDiagonal() * (U_.transpose() * b_));
    path_ = Path::kRegularisedSvd;
  }
  return Status::Ok();
}

Eigen::MatrixXd DifferentiableLinearLeastSquares::ApplyInverseM(
    const Eigen::MatrixXd& x) const {
  if (path_ == Path::kCholesky) {
    // M^-1 x = L^-T L^-1 x.
    const auto L = cholesky_factor_.triangularView<Eigen::Lower>();
    return L.transpose().solve(L.solve(x));
  }
  CHECK(path_ == Path::kRegularisedSvd);
  const double l2 = options_.l2_regulariser;
  const Eigen::MatrixXd Vt_x = V_.transpose() * x;
  const Eigen::VectorXd inverse_eigenvalues =
      (singular_values_.array().square() + l2).inverse();
  Eigen::MatrixXd result = V_ * (inverse_eigenvalues.asDiagonal() * Vt_x);
  // The null space of A (m < n), where M = l2 I. When V is square this term is
  // zero in exact arithmetic; skip it rather than divide rounding by l2.
  if (V_.cols() < V_.rows()) result += (x - V_ * Vt_x) / l2;
  return result;
}

Status DifferentiableLinearLeastSquares::CheckSolved(const char* caller) const {
  if (solved_) return Status::Ok();
  return InvalidArgumentError(std::string(caller) +
                              ": no solution; call Solve first (and check "
                              "its status).");
}

Status DifferentiableLinearLeastSquares::Forward(const Eigen::MatrixXd& dA,
                                                 const Eigen::MatrixXd& db,
                                                 Eigen::MatrixXd* dy) const {
  static constexpr char kCaller[] = "DifferentiableLinearLeastSquares::Forward";
  CHECK(dy != nullptr);
  Status status = CheckSolved(kCaller);
  if (status.ok()) status = CheckSize(dA, A_.rows(), A_.cols(), "dA", kCaller);
  if (status.ok()) status = CheckSize(db, b_.rows(), b_.cols(), "db", kCaller);
  if (status.ok()) status = CheckFinite(dA, "dA", kCaller);
  if (status.ok()) status = CheckFinite(db, "db", kCaller);
  if (!status.ok()) return status;

  // db - dA y*, shared by both formulas.
  const Eigen::MatrixXd db_minus_dA_y = db - dA * y_;
  const Eigen::MatrixXd dAt_r = dA.transpose() * residual_;
  if (path_ != Path::kPseudoInverse) {
    // (F1): dy* = M^-1 (dA^T r + A^T (db - dA y*)).
    *dy = ApplyInverseM(dAt_r + A_.transpose() * db_minus_dA_y);
    return Status::Ok();
  }
  // (F2): dy* = A^+ (db - dA y*) + A^+ A^+^T dA^T r
  //             + (I - A^+ A) dA^T A^+^T y*.
  const Eigen::VectorXd inverse_s = singular_values_.cwiseInverse();
  *dy = V_ * (inverse_s.asDiagonal() * (U_.transpose() * db_minus_dA_y) +
              inverse_s.array().square().matrix().asDiagonal() *
                  (V_.transpose() * dAt_r));
  if (rank_ < A_.cols()) {
    // A^+^T y* = U_r S_r^-1 V_r^T y*; the term vanishes for full column rank.
    const Eigen::MatrixXd At_pinv_y =
        U_ * (inverse_s.asDiagonal() * (V_.transpose() * y_));
    const Eigen::MatrixXd x = dA.transpose() * At_pinv_y;
    *dy += x - V_ * (V_.transpose() * x);
  }
  return Status::Ok();
}

Status DifferentiableLinearLeastSquares::Reverse(const Eigen::MatrixXd& dL_dy,
                                                 Eigen::MatrixXd* dL_dA,
                                                 Eigen::MatrixXd* dL_db) const {
  static constexpr char kCaller[] = "DifferentiableLinearLeastSquares::Reverse";
  Status status = CheckSolved(kCaller);
  if (status.ok()) {
    status = CheckSize(dL_dy, A_.cols(), b_.cols(), "dL_dy", kCaller);
  }
  if (status.ok()) status = CheckFinite(dL_dy, "dL_dy", kCaller);
  if (!status.ok()) return status;

  if (path_ != Path::kPseudoInverse) {
    // (R1): u = M^-1 G, dL/dA = r u^T - A u y*^T, dL/db = A u.
    const Eigen::MatrixXd u = ApplyInverseM(dL_dy);
    const Eigen::MatrixXd A_u = A_ * u;
    if (dL_dA != nullptr) {
      *dL_dA = residual_ * u.transpose() - A_u * y_.transpose();
    }
    if (dL_db != nullptr) *dL_db = A_u;
    return Status::Ok();
  }
  // (R2): z = A^+^T G, v = A^+ A^+^T G, w = A^+^T y*,
  // dL/dA = -z y*^T + r v^T + w ((I - A^+ A) G)^T, dL/db = z.
  const Eigen::VectorXd inverse_s = singular_values_.cwiseInverse();
  const Eigen::MatrixXd Vt_G = V_.transpose() * dL_dy;
  const Eigen::MatrixXd z = U_ * (inverse_s.asDiagonal() * Vt_G);
  if (dL_dA != nullptr) {
    const Eigen::MatrixXd v =
        V_ * (inverse_s.array().square().matrix().asDiagonal() * Vt_G);
    *dL_dA = residual_ * v.transpose() - z * y_.transpose();
    if (rank_ < A_.cols()) {
      const Eigen::MatrixXd w =
          U_ * (inverse_s.asDiagonal() * (V_.transpose() * y_));
      const Eigen::MatrixXd projected_G = dL_dy - V_ * Vt_G;
      *dL_dA += w * projected_G.transpose();
    }
  }
  if (dL_db != nullptr) *dL_db = z;
  return Status::Ok();
}

DifferentiableLinearLeastSquaresBatch::DifferentiableLinearLeastSquaresBatch(
    const DifferentiableLinearLeastSquares::Options& options)
    : options_(options) {}

const DifferentiableLinearLeastSquares&
DifferentiableLinearLeastSquaresBatch::system(int i) const {
  CHECK_GE(i, 0);
  CHECK_LT(i, size());
  return systems_[i];
}

Status DifferentiableLinearLeastSquaresBatch::Solve(
    const std::vector<Eigen::MatrixXd>& A,
    const std::vector<Eigen::MatrixXd>& b) {
  static constexpr char kCaller[] =
      "DifferentiableLinearLeastSquaresBatch::Solve";
  systems_.clear();
  std::string error;
  if (!options_.IsValid(&error)) {
    return InvalidArgumentError(std::string(kCaller) +
                                ": invalid options: " + error);
  }
  if (A.size() != b.size()) {
    std::ostringstream out;
    out << kCaller << ": " << A.size() << " matrices A but " << b.size()
        << " right-hand sides b.";
    return InvalidArgumentError(out.str());
  }
  std::vector<DifferentiableLinearLeastSquares> systems(
      A.size(), DifferentiableLinearLeastSquares(options_));
  std::vector<Status> statuses(A.size());
  ParallelFor(static_cast<int>(A.size()), options_.num_threads,
              [&](int i) { statuses[i] = systems[i].Solve(A[i], b[i]); });
  Status status = FirstError(statuses, kCaller);
  if (status.ok()) systems_ = std::move(systems);
  return status;
}

Status DifferentiableLinearLeastSquaresBatch::Forward(
    const std::vector<Eigen::MatrixXd>& dA,
    const std::vector<Eigen::MatrixXd>& db,
    std::vector<Eigen::MatrixXd>* dy) const {
  static constexpr char kCaller[] =
      "DifferentiableLinearLeastSquaresBatch::Forward";
  CHECK(dy != nullptr);
  if (dA.size() != systems_.size() || db.size() != systems_.size()) {
    std::ostringstream out;
    out << kCaller << ": " << dA.size() << " dA and " << db.size()
        << " db for " << systems_.size() << " solved systems.";
    return InvalidArgumentError(out.str());
  }
  dy->assign(systems_.size(), Eigen::MatrixXd());
  std::vector<Status> statuses(systems_.size());
  ParallelFor(size(), options_.num_threads, [&](int i) {
    statuses[i] = systems_[i].Forward(dA[i], db[i], &(*dy)[i]);
  });
  return FirstError(statuses, kCaller);
}

Status DifferentiableLinearLeastSquaresBatch::Reverse(
    const std::vector<Eigen::MatrixXd>& dL_dy,
    std::vector<Eigen::MatrixXd>* dL_dA,
    std::vector<Eigen::MatrixXd>* dL_db) const {
  static constexpr char kCaller[] =
      "DifferentiableLinearLeastSquaresBatch::Reverse";
  if (dL_dy.size() != systems_.size()) {
    std::ostringstream out;
    out << kCaller << ": " << dL_dy.size() << " dL_dy for " << systems_.size()
        << " solved systems.";
    return InvalidArgumentError(out.str());
  }
  if (dL_dA != nullptr) dL_dA->assign(systems_.size(), Eigen::MatrixXd());
  if (dL_db != nullptr) dL_db->assign(systems_.size(), Eigen::MatrixXd());
  std::vector<Status> statuses(systems_.size());
  ParallelFor(size(), options_.num_threads, [&](int i) {
    statuses[i] = systems_[i].Reverse(
        dL_dy[i], dL_dA != nullptr ? &(*dL_dA)[i] : nullptr,
        dL_db != nullptr ? &(*dL_db)[i] : nullptr);
  });
  return FirstError(statuses, kCaller);
}

}  // namespace ceres_wiberg
