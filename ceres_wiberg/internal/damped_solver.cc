#include "ceres_wiberg/internal/damped_solver.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <limits>
#include <mutex>
#include <sstream>
#include <utility>
#include <vector>

#include "Eigen/CholmodSupport"
#include "Eigen/Eigenvalues"
#include "glog/logging.h"

namespace ceres_wiberg {
namespace internal {

// CHOLMOD's supernodal LL^T through Eigen's CholmodSupport, with AMD
// ordering only (as Ceres orders it: no METIS trial, so the analysis time
// does not depend on the fill AMD finds), CHOLMOD's own printing off (a
// matrix that is not positive definite is a result here, not a warning), and
// the pivots of the factor, which Eigen does not expose.
class CholmodLlt
    : public Eigen::CholmodSupernodalLLT<Eigen::SparseMatrix<double>, Eigen::Upper> {
 public:
  CholmodLlt() {
    cholmod().nmethods = 1;
    cholmod().method[0].ordering = CHOLMOD_AMD;
    cholmod().postorder = 1;
    cholmod().print = 0;
  }

  // diag(L)^2, the pivots of the LDL^T with CHOLMOD's ordering, in the
  // order of the matrix's rows (after a successful factorize).
  Eigen::VectorXd Pivots() const {
    const cholmod_factor& L = *m_cholmodFactor;
    Eigen::VectorXd pivots(L.n);
    const int* perm = static_cast<const int*>(L.Perm);
    const double* x = static_cast<const double*>(L.x);
    if (L.is_super) {
      const int* super = static_cast<const int*>(L.super);
      const int* pi = static_cast<const int*>(L.pi);
      const int* px = static_cast<const int*>(L.px);
      for (size_t s = 0; s < L.nsuper; ++s) {
        // Supernode s: columns super[s] .. super[s + 1] - 1 of L, a dense
        // column-major block of pi[s + 1] - pi[s] rows at x + px[s].
        const int rows = pi[s + 1] - pi[s];
        for (int j = 0; j < super[s + 1] - super[s]; ++j) {
          const double l = x[px[s] + j * rows + j];
          pivots[perm[super[s] + j]] = l * l;
        }
      }
    } else {
      // A simplicial LL^T (CHOLMOD's fallback): the diagonal leads each column.
      const int* p = static_cast<const int*>(L.p);
      for (size_t j = 0; j < L.n; ++j) pivots[perm[j]] = x[p[j]] * x[p[j]];
    }
    return pivots;
  }

  // CHOLMOD's solve writes into the shared workspace of cholmod_common.
  Eigen::MatrixXd LockedSolve(const Eigen::MatrixXd& B) const {
    std::lock_guard<std::mutex> lock(mutex_);
    return solve(B);
  }

 private:
  mutable std::mutex mutex_;
};

namespace {

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Blocks up to this size may be eliminated (dense s x s Cholesky factors).
constexpr int kMaxEliminatedBlockSize = 16;

// R (m x m) is stored dense when its pattern holds at least this share of
// the m (m + 1) / 2 entries of its upper triangle: the sparse route then
// needs at least as much memory (R's values and row indices, 12 bytes per
// entry, and a factor with at least as many entries, 8 bytes each: 20 bytes
// x 0.8 m^2 / 2 = 8 m^2 bytes, the dense R factorised in place), and Eigen's
// blocked dense LL^T does its m^3 / 3 flops as matrix products, without the
// sparse route's index arithmetic.
constexpr double kMinDenseRFill = 0.8;

// The kept block size whose products with the dense R get fixed-size
// kernels: bundle adjustment's camera (9 coordinates: rotation,
// translation, focal length and two radial distortion coefficients), as in
// Ceres' SchurEliminator<2, 3, 9>.
constexpr int kCommonKeptSize = 9;

}  // namespace

// The Schur elimination of DampedSolver (see damped_solver.h) over an n x n
// upper triangle (every diagonal entry present) whose coordinates form
// consecutive blocks. E: the eliminated blocks, K: the kept ones (R's rows,
// in coordinate order). R is stored either as the upper triangle of a
// sparse matrix whose pattern is that of its kept blocks' pairs (dense
// blocks), factorised by the sparse library, or, when its pattern fills
// enough of it (kMinDenseRFill), as a dense m x m matrix factorised in place
// by Eigen's blocked LL^T (bundle adjustment: every two cameras share a
// point, R is dense).
class SchurFactor {
 public:
  explicit SchurFactor(SparseLinearAlgebraLibraryType library) : library_(library) {}

  // Chooses E for the pattern of `upper` and blocks of `sizes`: a greedy
  // independent set of the block graph (blocks that share an entry are
  // neighbours), blocks with the fewest neighbours (then the smallest)
  // first, as Ceres' automatic Schur ordering; and R's pattern.
  void Analyse(const Eigen::SparseMatrix<double>& upper, const std::vector<int>& sizes);
  int num_eliminated() const { return num_eliminated_; }
  bool r_dense() const { return r_dense_; }

  // Factorises `scaled` (the analysed pattern). False when an eliminated
  // block or R is not positive definite (its Cholesky factorisation fails);
  // else *pivots holds each coordinate's pivot of the block LDL^T with E
  // first, and *analysis_time the time of R's symbolic analysis (first
  // factorisation only).
  bool Factorise(const Eigen::SparseMatrix<double>& scaled, Eigen::VectorXd* pivots,
                 double* analysis_time);

  // X <- (S A S)^-1 X for the last successful Factorise (its factors and
  // W; H is not read).
  void Solve(Eigen::MatrixXd* X) const;

 private:
  // The rows of eliminated block k's W (its neighbours' coordinates,
  // stacked), and neighbour q's first row in them.
  int Rows(int k) const {
    return neighbour_row_[neighbour_start_[k + 1]] - neighbour_row_[neighbour_start_[k]];
  }
  int NeighbourRow(int k, int q) const {
    return neighbour_row_[q] - neighbour_row_[neighbour_start_[k]];
  }
  // W (rows x size, column-major, at w; zero) <- A_Ke, the entries coupling
  // eliminated block k to K. Both kinds of entries (in k's own columns, in
  // kept columns) come in increasing kept coordinate, as k's neighbours are
  // sorted: each one's neighbour is found by a merge.
  void ScatterCouplings(const int* outer, const int* inner, const double* values, int k,
                        double* w) const {
    const int start = block_start_[e_blocks_[k]];
    const int end = block_start_[e_blocks_[k] + 1];
    const long rows = Rows(k);
    // A cursor over k's neighbours: the row of kept coordinate j is
    // j + offset while j is below end (the current neighbour's last
    // coordinate + 1); next() moves it on to j's neighbour.
    struct Cursor {
      int q, end, offset;
    };
    auto reset = [&](Cursor* cursor) {
      cursor->q = neighbour_start_[k] - 1;
      cursor->end = -1;
      cursor->offset = 0;
    };
    auto next = [&](int j, Cursor* cursor) {
      while (j >= cursor->end) {
        const int block = neighbours_[++cursor->q];
        cursor->end = block_start_[block + 1];
        cursor->offset = NeighbourRow(k, cursor->q) - block_start_[block];
      }
    };
    Cursor cursor;
    for (int j = start; j < end; ++j) {
      double* column = w + (j - start) * rows;
      reset(&cursor);
      for (int p = outer[j]; p < outer[j + 1] && inner[p] < start; ++p) {
        next(inner[p], &cursor);
        column[inner[p] + cursor.offset] = values[p];
      }
    }
    reset(&cursor);
    for (int f = foreign_start_[k]; f < foreign_start_[k + 1]; ++f) {
      const int p = foreign_entries_[f];
      next(foreign_columns_[f], &cursor);
      w[(inner[p] - start) * rows + foreign_columns_[f] + cursor.offset] = values[p];
    }
  }
  // Eliminated block k (of kSize coordinates, or `size`): A_ee's upper
  // triangle overwritten by U = L^T (A_ee = U^T U), its pivots into
  // *pivots, W = A_Ke U^-1 (so that A_Ke A_ee^-1 A_eK = W W^T) and, for a
  // sparse R, R's updates. False when A_ee is not positive definite.
  template <int kSize>
  bool EliminateBlock(const int* outer, const int* inner, const double* values, int k,
                      Eigen::VectorXd* pivots, int size = kSize) {
    using Block = Eigen::Matrix<double, kSize, kSize>;
    const int start = block_start_[e_blocks_[k]];
    Eigen::Map<Block> U(factors_.data() + factor_start_[k], size, size);
    for (int j = start; j < start + size; ++j) {
      for (int p = outer[j]; p < outer[j + 1]; ++p) {
        if (inner[p] >= start) U(inner[p] - start, j - start) = values[p];
      }
    }
    Eigen::Ref<Block> U_ref(U);
    Eigen::LLT<Eigen::Ref<Block>, Eigen::Upper> llt(U_ref);
    if (llt.info() != Eigen::Success) return false;
    for (int c = 0; c < size; ++c) (*pivots)[start + c] = U(c, c) * U(c, c);
    // A block coupled to no kept one has nothing to eliminate into R (and
    // its W has no rows, possibly no storage).
    const int rows = Rows(k);
    if (rows == 0) return true;
    double* w = w_.data() + w_start_[k];
    Eigen::Map<Eigen::Matrix<double, Eigen::Dynamic, kSize>> W(w, rows, size);
    W.setZero();
    ScatterCouplings(outer, inner, values, k, w);
    // W U = A_Ke, column by column (U upper triangular).
    for (int c = 0; c < size; ++c) {
      for (int s = 0; s < c; ++s) W.col(c) -= U(s, c) * W.col(s);
      W.col(c) /= U(c, c);
    }
    if (!r_dense_) SubtractOuterProducts<kSize>(k, w, size);
    return true;
  }
  // R's blocks (a, b) of eliminated block k's neighbours -= W_a W_b^T, for
  // W (rows x size, column-major) at w; kSize: size, if fixed.
  template <int kSize>
  void SubtractOuterProducts(int k, const double* w, int size = kSize) {
    const int* outer_R = R_.outerIndexPtr();
    const Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, kSize>> W(w, Rows(k), size);
    for (int b = neighbour_start_[k]; b < neighbour_start_[k + 1]; ++b) {
      const int start_b = block_start_[neighbours_[b]];
      const int size_b = block_start_[neighbours_[b] + 1] - start_b;
      const int row_b = NeighbourRow(k, b);
      for (int a = neighbour_start_[k]; a <= b; ++a) {
        const int start_a = block_start_[neighbours_[a]];
        const int size_a = block_start_[neighbours_[a] + 1] - start_a;
        const int row_a = NeighbourRow(k, a);
        // Block a's offset in block b's columns.
        const int offset = RIndex(start_a, start_b) - outer_R[kept_position_[start_b]];
        for (int l = 0; l < size_b; ++l) {
          double* column = R_.valuePtr() + outer_R[kept_position_[start_b + l]] + offset;
          const int count = a == b ? l + 1 : size_a;
          for (int r = 0; r < count; ++r) column[r] -= W.row(row_a + r).dot(W.row(row_b + l));
        }
      }
    }
  }
  // The dense R's blocks (a, b), a <= b, for eliminated block k's neighbour
  // b (its index in neighbours_) -= W_a W_b^T (the diagonal block whole),
  // as SubtractOuterProducts; a fixed-size product where both neighbours
  // have kCommonKeptSize coordinates.
  template <int kSize>
  void SubtractDenseOuterProducts(int k, int b, const double* w, int size = kSize) {
    const Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, kSize>> W(w, Rows(k), size);
    const int start_b = block_start_[neighbours_[b]];
    const int size_b = block_start_[neighbours_[b] + 1] - start_b;
    const int row_b = NeighbourRow(k, b);
    const int column = kept_position_[start_b];
    for (int a = neighbour_start_[k]; a <= b; ++a) {
      const int start_a = block_start_[neighbours_[a]];
      const int size_a = block_start_[neighbours_[a] + 1] - start_a;
      const int row_a = NeighbourRow(k, a);
      if (size_a == kCommonKeptSize && size_b == kCommonKeptSize) {
        // Column by column: column l -= W_a (row l of W_b)^T, summed over
        // W's columns with the rows innermost (vectorised).
        const int count = kSize == Eigen::Dynamic ? size : kSize;
        const long stride = W.outerStride();
        const double* w_a = w + row_a;
        using Column = Eigen::Matrix<double, kCommonKeptSize, 1>;
        for (int l = 0; l < kCommonKeptSize; ++l) {
          Column sum = Column::Zero();
          for (int s = 0; s < count; ++s) {
            sum.noalias() += Eigen::Map<const Column>(w_a + s * stride) * w[row_b + l + s * stride];
          }
          Eigen::Map<Column>(&R_dense_(kept_position_[start_a], column + l)) -= sum;
        }
      } else {
        R_dense_.block(kept_position_[start_a], column, size_a, size_b).noalias() -=
            W.middleRows(row_a, size_a).lazyProduct(W.middleRows(row_b, size_b).transpose());
      }
    }
  }
  // Index in R's values of kept entry (i, j), i <= j.
  int RIndex(int i, int j) const {
    const int p = coordinate_block_[i];
    const auto& pairs = r_pairs_[coordinate_block_[j]];
    const auto it = std::lower_bound(pairs.begin(), pairs.end(), std::make_pair(p, 0));
    return R_.outerIndexPtr()[kept_position_[j]] + it->second + i - block_start_[p];
  }

  const SparseLinearAlgebraLibraryType library_;
  int n_ = 0;
  int num_eliminated_ = 0;
  std::vector<int> block_start_;       // blocks + 1
  std::vector<int> coordinate_block_;  // n
  std::vector<int> e_blocks_;          // the eliminated blocks, in order
  // Per eliminated block k (CSR): its kept neighbour blocks (sorted); the
  // value indices (and columns) of its couplings stored in kept columns.
  std::vector<int> neighbour_start_, neighbours_;
  // Parallel to neighbours_ (and one past): the rows of the neighbours
  // before each, summed over all eliminated blocks (see Rows).
  std::vector<int> neighbour_row_;
  std::vector<int> foreign_start_, foreign_entries_, foreign_columns_;
  std::vector<int> kept_position_;  // per coordinate: R's row, -1 in E
  // Per kept block q: (p, offset of p's rows in q's columns of R) for the
  // kept blocks p <= q coupled in R, sorted by p.
  std::vector<std::vector<std::pair<int, int>>> r_pairs_;
  Eigen::SparseMatrix<double> R_;
  // R dense (its upper triangle; after a successful Factorise, U = L^T with
  // R = U^T U); then R_ is empty.
  bool r_dense_ = false;
  Eigen::MatrixXd R_dense_;
  // Each eliminated block's Cholesky factor (lower triangle, column-major).
  std::vector<int> factor_start_;
  std::vector<double> factors_;
  bool r_analysed_ = false;
  std::unique_ptr<CholmodLlt> r_cholmod_;
  Eigen::SimplicialLLT<Eigen::SparseMatrix<double>, Eigen::Upper> r_llt_;
  // Each eliminated block's W = A_Ke U^-1 (its neighbours' rows x size,
  // column-major), at w_start_[k]: R's updates and the solves use it.
  std::vector<long> w_start_;
  std::vector<double> w_;
  // Per kept block b (CSR, increasing k): the eliminated blocks k that
  // neighbour it, and b's index in k's neighbours.
  std::vector<int> column_start_, column_e_, column_neighbour_;
};

void SchurFactor::Analyse(const Eigen::SparseMatrix<double>& upper,
                          const std::vector<int>& sizes) {
  n_ = static_cast<int>(upper.rows());
  const int* outer = upper.outerIndexPtr();
  const int* inner = upper.innerIndexPtr();
  const int num_blocks = static_cast<int>(sizes.size());
  block_start_.assign(num_blocks + 1, 0);
  coordinate_block_.resize(n_);
  for (int b = 0; b < num_blocks; ++b) {
    block_start_[b + 1] = block_start_[b] + sizes[b];
    std::fill(coordinate_block_.begin() + block_start_[b],
              coordinate_block_.begin() + block_start_[b + 1], b);
  }
  CHECK_EQ(block_start_[num_blocks], n_) << "the blocks' sizes do not sum to the matrix's size";

  // The block graph: each pair once per column block (seen[b] == q: b
  // already met in q's columns).
  std::vector<std::vector<int>> adjacent(num_blocks);
  std::vector<int> seen(num_blocks, -1);
  for (int j = 0; j < n_; ++j) {
    const int q = coordinate_block_[j];
    for (int p = outer[j]; p < outer[j + 1]; ++p) {
      const int b = coordinate_block_[inner[p]];
      if (b == q || seen[b] == q) continue;
      adjacent[q].push_back(b);
      adjacent[b].push_back(q);
      seen[b] = q;
    }
  }
  for (std::vector<int>& list : adjacent) {
    std::sort(list.begin(), list.end());
    list.erase(std::unique(list.begin(), list.end()), list.end());
  }
  std::vector<int> order(num_blocks);
  for (int b = 0; b < num_blocks; ++b) order[b] = b;
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    return std::make_pair(adjacent[a].size(), sizes[a]) <
           std::make_pair(adjacent[b].size(), sizes[b]);
  });
  std::vector<char> eliminated(num_blocks, 0), excluded(num_blocks, 0);
  for (int b : order) {
    if (excluded[b] || sizes[b] > kMaxEliminatedBlockSize) continue;
    eliminated[b] = 1;
    for (int a : adjacent[b]) excluded[a] = 1;
  }
  e_blocks_.clear();
  num_eliminated_ = 0;
  kept_position_.assign(n_, -1);
  int kept = 0;
  for (int b = 0; b < num_blocks; ++b) {
    if (eliminated[b]) {
      e_blocks_.push_back(b);
      num_eliminated_ += sizes[b];
    } else {
      for (int i = block_start_[b]; i < block_start_[b + 1]; ++i) kept_position_[i] = kept++;
    }
  }
  const int num_e = static_cast<int>(e_blocks_.size());
  std::vector<int> e_index(num_blocks, -1);
  for (int k = 0; k < num_e; ++k) e_index[e_blocks_[k]] = k;

  // Couplings of E stored in K's columns, and each eliminated block's
  // neighbours (those of the block graph: all kept).
  foreign_start_.assign(num_e + 1, 0);
  for (int j = 0; j < n_; ++j) {
    if (kept_position_[j] < 0) continue;
    for (int p = outer[j]; p < outer[j + 1]; ++p) {
      const int k = e_index[coordinate_block_[inner[p]]];
      if (k >= 0) ++foreign_start_[k + 1];
    }
  }
  for (int k = 0; k < num_e; ++k) foreign_start_[k + 1] += foreign_start_[k];
  foreign_entries_.resize(foreign_start_[num_e]);
  foreign_columns_.resize(foreign_start_[num_e]);
  std::vector<int> next(foreign_start_.begin(), foreign_start_.end() - 1);
  for (int j = 0; j < n_; ++j) {
    if (kept_position_[j] < 0) continue;
    for (int p = outer[j]; p < outer[j + 1]; ++p) {
      const int k = e_index[coordinate_block_[inner[p]]];
      if (k < 0) continue;
      foreign_entries_[next[k]] = p;
      foreign_columns_[next[k]++] = j;
    }
  }
  neighbour_start_.assign(num_e + 1, 0);
  neighbours_.clear();
  for (int k = 0; k < num_e; ++k) {
    neighbours_.insert(neighbours_.end(), adjacent[e_blocks_[k]].begin(),
                       adjacent[e_blocks_[k]].end());
    neighbour_start_[k + 1] = static_cast<int>(neighbours_.size());
  }

  // R's block pattern: K's own pairs and each eliminated block's
  // neighbours' pairs (its fill).
  std::vector<std::vector<int>> coupled(num_blocks);
  for (int q = 0; q < num_blocks; ++q) {
    if (eliminated[q]) continue;
    coupled[q].push_back(q);
    for (int p : adjacent[q]) {
      if (p < q && !eliminated[p]) coupled[q].push_back(p);
    }
  }
  for (int k = 0; k < num_e; ++k) {
    for (int a = neighbour_start_[k]; a < neighbour_start_[k + 1]; ++a) {
      for (int b = a + 1; b < neighbour_start_[k + 1]; ++b) {
        coupled[neighbours_[b]].push_back(neighbours_[a]);
      }
    }
  }
  adjacent.clear();
  adjacent.shrink_to_fit();
  r_pairs_.assign(num_blocks, {});
  const int num_kept = kept;
  std::vector<int> outer_R(num_kept + 1, 0);
  for (int q = 0; q < num_blocks; ++q) {
    if (eliminated[q]) continue;
    std::vector<int>& list = coupled[q];
    std::sort(list.begin(), list.end());
    list.erase(std::unique(list.begin(), list.end()), list.end());
    int offset = 0;
    for (int p : list) {
      r_pairs_[q].emplace_back(p, offset);
      offset += sizes[p];
    }
    // Column l of block q: the blocks before q, then q's rows up to l.
    const int before = offset - sizes[q];
    for (int l = 0; l < sizes[q]; ++l) {
      const int c = kept_position_[block_start_[q] + l];
      outer_R[c + 1] = before + l + 1;
    }
    std::vector<int>().swap(list);
  }
  for (int c = 0; c < num_kept; ++c) outer_R[c + 1] += outer_R[c];
  factor_start_.assign(num_e + 1, 0);
  for (int k = 0; k < num_e; ++k) {
    factor_start_[k + 1] = factor_start_[k] + sizes[e_blocks_[k]] * sizes[e_blocks_[k]];
  }
  factors_.resize(factor_start_[num_e]);
  w_start_.assign(num_e + 1, 0);
  column_start_.assign(num_blocks + 1, 0);
  neighbour_row_.assign(neighbours_.size() + 1, 0);
  for (int k = 0; k < num_e; ++k) {
    for (int q = neighbour_start_[k]; q < neighbour_start_[k + 1]; ++q) {
      neighbour_row_[q + 1] = neighbour_row_[q] + sizes[neighbours_[q]];
      ++column_start_[neighbours_[q] + 1];
    }
    w_start_[k + 1] = w_start_[k] + static_cast<long>(Rows(k)) * sizes[e_blocks_[k]];
  }
  w_.resize(w_start_[num_e]);
  for (int b = 0; b < num_blocks; ++b) column_start_[b + 1] += column_start_[b];
  column_e_.resize(column_start_[num_blocks]);
  column_neighbour_.resize(column_start_[num_blocks]);
  std::vector<int> column_next(column_start_.begin(), column_start_.end() - 1);
  for (int k = 0; k < num_e; ++k) {
    for (int q = neighbour_start_[k]; q < neighbour_start_[k + 1]; ++q) {
      const int slot = column_next[neighbours_[q]]++;
      column_e_[slot] = k;
      column_neighbour_[slot] = q;
    }
  }
  r_analysed_ = false;
  const double upper_size = 0.5 * num_kept * (num_kept + 1.0);
  r_dense_ = num_kept > 0 && outer_R[num_kept] >= kMinDenseRFill * upper_size;
  if (r_dense_) {
    R_ = Eigen::SparseMatrix<double>();
    R_.data().squeeze();
    std::vector<std::vector<std::pair<int, int>>>().swap(r_pairs_);
    R_dense_.resize(num_kept, num_kept);
    return;
  }
  R_dense_.resize(0, 0);
  R_.resize(num_kept, num_kept);
  R_.resizeNonZeros(outer_R[num_kept]);
  std::copy(outer_R.begin(), outer_R.end(), R_.outerIndexPtr());
  for (int q = 0; q < num_blocks; ++q) {
    if (eliminated[q]) continue;
    for (int l = 0; l < sizes[q]; ++l) {
      int* rows = R_.innerIndexPtr() + outer_R[kept_position_[block_start_[q] + l]];
      for (const auto& [p, offset] : r_pairs_[q]) {
        const int count = p == q ? l + 1 : sizes[p];
        for (int r = 0; r < count; ++r) *rows++ = kept_position_[block_start_[p] + r];
      }
    }
  }
}

bool SchurFactor::Factorise(const Eigen::SparseMatrix<double>& scaled, Eigen::VectorXd* pivots,
                            double* analysis_time) {
  const int* outer = scaled.outerIndexPtr();
  const int* inner = scaled.innerIndexPtr();
  const double* values = scaled.valuePtr();
  pivots->resize(n_);
  // R = A_KK ...
  if (r_dense_) {
    R_dense_.setZero();
    for (int j = 0; j < n_; ++j) {
      const int c = kept_position_[j];
      if (c < 0) continue;
      for (int p = outer[j]; p < outer[j + 1]; ++p) {
        const int r = kept_position_[inner[p]];
        if (r >= 0) R_dense_(r, c) = values[p];
      }
    }
  } else {
    Eigen::Map<Eigen::VectorXd>(R_.valuePtr(), R_.nonZeros()).setZero();
    for (int j = 0; j < n_; ++j) {
      if (kept_position_[j] < 0) continue;
      for (int p = outer[j]; p < outer[j + 1]; ++p) {
        if (kept_position_[inner[p]] >= 0) R_.valuePtr()[RIndex(inner[p], j)] = values[p];
      }
    }
  }
  // ... - A_KE A_EE^-1 A_EK, one eliminated block at a time.
  for (int k = 0; k < static_cast<int>(e_blocks_.size()); ++k) {
    const int size = block_start_[e_blocks_[k] + 1] - block_start_[e_blocks_[k]];
    bool eliminated = false;
    switch (size) {
      case 1:
        eliminated = EliminateBlock<1>(outer, inner, values, k, pivots);
        break;
      case 2:
        eliminated = EliminateBlock<2>(outer, inner, values, k, pivots);
        break;
      case 3:
        eliminated = EliminateBlock<3>(outer, inner, values, k, pivots);
        break;
      default:
        eliminated = EliminateBlock<Eigen::Dynamic>(outer, inner, values, k, pivots, size);
    }
    if (!eliminated) return false;
  }
  Eigen::VectorXd r_pivots;
  if (r_dense_) {
    // One column block of R at a time (it stays in cache), eliminated
    // blocks in increasing order as above.
    for (int b = 0; b < static_cast<int>(column_start_.size()) - 1; ++b) {
      for (int c = column_start_[b]; c < column_start_[b + 1]; ++c) {
        const int k = column_e_[c];
        const double* w = w_.data() + w_start_[k];
#if defined(__GNUC__)
        // The W of the eliminated block after next, fetched ahead (the
        // blocks' W lie far apart: no hardware prefetcher predicts them;
        // at 120 x 36,000 it is a third of the numeric time).
        if (c + 2 < static_cast<int>(column_e_.size())) {
          const int ahead = column_e_[c + 2];
          for (long i = w_start_[ahead]; i < w_start_[ahead + 1]; i += 8) {
            __builtin_prefetch(w_.data() + i);
          }
        }
#endif
        const int size = block_start_[e_blocks_[k] + 1] - block_start_[e_blocks_[k]];
        switch (size) {
          case 1:
            SubtractDenseOuterProducts<1>(k, column_neighbour_[c], w);
            break;
          case 2:
            SubtractDenseOuterProducts<2>(k, column_neighbour_[c], w);
            break;
          case 3:
            SubtractDenseOuterProducts<3>(k, column_neighbour_[c], w);
            break;
          default:
            SubtractDenseOuterProducts<Eigen::Dynamic>(k, column_neighbour_[c], w, size);
        }
      }
    }
    // R's upper triangle overwritten by U (R = U^T U).
    Eigen::Ref<Eigen::MatrixXd> R_ref(R_dense_);
    Eigen::LLT<Eigen::Ref<Eigen::MatrixXd>, Eigen::Upper> llt(R_ref);
    if (llt.info() != Eigen::Success) return false;
    r_pivots = R_dense_.diagonal().cwiseAbs2();
  } else if (R_.rows() == 0) {
    return true;
  } else if (library_ == SparseLinearAlgebraLibraryType::SUITE_SPARSE) {
    if (r_cholmod_ == nullptr) r_cholmod_ = std::make_unique<CholmodLlt>();
    if (!r_analysed_) {
      const auto start = std::chrono::steady_clock::now();
      r_cholmod_->analyzePattern(R_);
      r_analysed_ = true;
      *analysis_time += SecondsSince(start);
    }
    r_cholmod_->factorize(R_);
    if (r_cholmod_->info() != Eigen::Success) return false;
    r_pivots = r_cholmod_->Pivots();
  } else {
    if (!r_analysed_) {
      const auto start = std::chrono::steady_clock::now();
      r_llt_.analyzePattern(R_);
      r_analysed_ = true;
      *analysis_time += SecondsSince(start);
    }
    r_llt_.factorize(R_);
    if (r_llt_.info() != Eigen::Success) return false;
    // Eigen factorises P R P^-1: R's row r is the factor's row P(r).
    const Eigen::VectorXd diagonal = r_llt_.matrixL().nestedExpression().diagonal();
    r_pivots = r_llt_.permutationPinv() * diagonal.cwiseAbs2();
  }
  for (int i = 0; i < n_; ++i) {
    if (kept_position_[i] >= 0) (*pivots)[i] = r_pivots[kept_position_[i]];
  }
  return true;
}

void SchurFactor::Solve(Eigen::MatrixXd* X) const {
  // No right-hand side: nothing to solve (and no storage to solve in).
  if (X->cols() == 0) return;
  const int num_e = static_cast<int>(e_blocks_.size());
  // Calls visit(W_q, rows of X of neighbour q) for eliminated block k's
  // neighbours q.
  auto for_each_neighbour = [&](int k, const auto& visit) {
    const int size = block_start_[e_blocks_[k] + 1] - block_start_[e_blocks_[k]];
    const Eigen::Map<const Eigen::MatrixXd> W(w_.data() + w_start_[k], Rows(k), size);
    for (int q = neighbour_start_[k]; q < neighbour_start_[k + 1]; ++q) {
      const int start_q = block_start_[neighbours_[q]];
      const int size_q = block_start_[neighbours_[q] + 1] - start_q;
      visit(W.middleRows(NeighbourRow(k, q), size_q), X->middleRows(start_q, size_q));
    }
  };
  auto factor = [&](int k) -> const Eigen::Map<const Eigen::MatrixXd> {
    const int size = block_start_[e_blocks_[k] + 1] - block_start_[e_blocks_[k]];
    return Eigen::Map<const Eigen::MatrixXd>(factors_.data() + factor_start_[k], size, size);
  };
  auto rows_of = [&](int k) {
    const int start = block_start_[e_blocks_[k]];
    return X->middleRows(start, block_start_[e_blocks_[k] + 1] - start);
  };
  // With A_ee = U^T U and W = A_Ke U^-1: y_e = U^-T b_e; r_K = b_K - W y.
  for (int k = 0; k < num_e; ++k) {
    auto y = rows_of(k);
    factor(k).triangularView<Eigen::Upper>().transpose().solveInPlace(y);
    for_each_neighbour(k, [&](const auto& W_q, auto&& x_q) { x_q.noalias() -= W_q * y; });
  }
  // x_K = R^-1 r_K.
  const int num_kept = r_dense_ ? static_cast<int>(R_dense_.rows()) : static_cast<int>(R_.rows());
  if (num_kept > 0) {
    Eigen::MatrixXd r(num_kept, X->cols());
    for (int i = 0; i < n_; ++i) {
      if (kept_position_[i] >= 0) r.row(kept_position_[i]) = X->row(i);
    }
    if (r_dense_) {
      R_dense_.triangularView<Eigen::Upper>().transpose().solveInPlace(r);
      R_dense_.triangularView<Eigen::Upper>().solveInPlace(r);
    } else if (library_ == SparseLinearAlgebraLibraryType::SUITE_SPARSE) {
      r = r_cholmod_->LockedSolve(r);
    } else {
      r = r_llt_.solve(r);
    }
    for (int i = 0; i < n_; ++i) {
      if (kept_position_[i] >= 0) X->row(i) = r.row(kept_position_[i]);
    }
  }
  // x_e = U^-1 (y_e - W^T x_K).
  for (int k = 0; k < num_e; ++k) {
    auto y = rows_of(k);
    for_each_neighbour(k, [&](const auto& W_q, auto&& x_q) {
      y.noalias() -= W_q.transpose() * x_q;
    });
    factor(k).triangularView<Eigen::Upper>().solveInPlace(y);
  }
}

namespace {

// Ceres' Levenberg-Marquardt clamps its diagonal to this range.
constexpr double kMinDiagonal = 1e-6;
constexpr double kMaxDiagonal = 1e32;

// AUTOMATIC takes the Schur route when the elimination set holds at least
// this share of the (free) coordinates, so that R is at most a quarter of
// the system: bundle adjustment's points are 99% of it; a chain of scalar
// blocks (every other one independent: 50%) keeps the full factorisation,
// already linear in n there, and FoE's pixels (coupled through 5 x 5
// filters: a few percent independent) would fill R.
constexpr double kMinEliminatedShare = 0.75;

// Inverse iterations on a factorised S A S that is singular: they converge to
// the eigenvector of the eigenvalue nearest zero.
constexpr int kNullDirectionIterations = 8;
// At most this many negative LDL^T pivots, most negative first, are
// measured by their Rayleigh quotients (DampedSolver::MeasureNegativePivots).
constexpr int kNegativePivotProbes = 16;

}  // namespace

DampedSolver::DampedSolver(const MinimiserDerivative::Options& options)
    : options_(options), lambda_(options.lambda) {}

DampedSolver::~DampedSolver() = default;

void DampedSolver::SetFixed(const std::vector<char>& fixed) {
  std::vector<int> free;
  const bool reduced = std::find(fixed.begin(), fixed.end(), 1) != fixed.end();
  if (reduced) {
    for (size_t i = 0; i < fixed.size(); ++i) {
      if (!fixed[i]) free.push_back(static_cast<int>(i));
    }
  }
  // A new free set is a new sparsity pattern.
  if (reduced != reduced_ || free != free_) {
    cholmod_analysed_ = ldlt_analysed_ = schur_analysed_ = false;
  }
  reduced_ = reduced;
  free_ = std::move(free);
}

void DampedSolver::SetBlocks(const std::vector<int>& block_sizes) {
  if (block_sizes == block_sizes_) return;
  block_sizes_ = block_sizes;
  schur_analysed_ = false;
}

LinearSolverType DampedSolver::solver_type() const {
  if (dense_) return LinearSolverType::DENSE;
  return factor_ == Factor::kSchur ? LinearSolverType::SPARSE_SCHUR : LinearSolverType::SPARSE;
}

int DampedSolver::num_eliminated() const {
  return !dense_ && factor_ == Factor::kSchur ? schur_factor_->num_eliminated() : 0;
}

bool DampedSolver::reduced_matrix_is_dense() const {
  return num_eliminated() > 0 && schur_factor_->r_dense();
}

void DampedSolver::SetDense(Eigen::MatrixXd H) {
  dense_ = true;
  size_ = static_cast<int>(H.rows());
  if (!reduced_) {
    dense_hessian_ = std::move(H);
  } else {
    dense_hessian_ = H(free_, free_);
  }
}

Eigen::SparseMatrix<double> DampedSolver::TakeSparse() {
  if (dense_ || reduced_ || sparse_hessian_upper_.rows() != size_) return {};
  // Swapped, not moved: Eigen 3.4's SparseMatrix has no move constructor
  // (std::move would copy H).
  Eigen::SparseMatrix<double> H_upper;
  H_upper.swap(sparse_hessian_upper_);
  hessian_values_ = nullptr;
  return H_upper;
}

Eigen::SparseMatrix<double> DampedSolver::KeptHessian() const {
  Eigen::SparseMatrix<double> free_upper;
  if (dense_) {
    free_upper = dense_hessian_.triangularView<Eigen::Upper>().toDenseMatrix().sparseView(0.0, 0.0);
  } else {
    free_upper = SparseHessian();
  }
  Eigen::SparseMatrix<double> H = free_upper.selfadjointView<Eigen::Upper>();
  if (!reduced_) return H;
  std::vector<Eigen::Triplet<double>> triplets;
  triplets.reserve(H.nonZeros());
  for (int col = 0; col < H.outerSize(); ++col) {
    for (Eigen::SparseMatrix<double>::InnerIterator it(H, col); it; ++it) {
      triplets.emplace_back(free_[it.row()], free_[it.col()], it.value());
    }
  }
  Eigen::SparseMatrix<double> full(size_, size_);
  full.setFromTriplets(triplets.begin(), triplets.end());
  return full;
}

void DampedSolver::SetSparse(Eigen::SparseMatrix<double>* H, bool pattern_unchanged) {
  Eigen::SparseMatrix<double>& H_upper = *H;
  size_ = static_cast<int>(H_upper.rows());
  if (reduced_) {
    std::vector<int> position(size_, -1);
    for (size_t i = 0; i < free_.size(); ++i) position[free_[i]] = static_cast<int>(i);
    std::vector<Eigen::Triplet<double>> triplets;
    triplets.reserve(H_upper.nonZeros());
    for (int col = 0; col < H_upper.outerSize(); ++col) {
      for (Eigen::SparseMatrix<double>::InnerIterator it(H_upper, col); it; ++it) {
        const int r = position[it.row()];
        const int c = position[it.col()];
        if (r >= 0 && c >= 0) triplets.emplace_back(r, c, it.value());
      }
    }
    const int n = static_cast<int>(free_.size());
    Eigen::SparseMatrix<double> reduced(n, n);
    reduced.setFromTriplets(triplets.begin(), triplets.end());
    H_upper.swap(reduced);
  }
  // Every diagonal entry in the pattern (the damping goes there): the
  // upper triangle's columns end with it where H has one; a missing one is
  // inserted as zero.
  H_upper.makeCompressed();
  bool inserted = false;
  for (int col = 0; col < H_upper.outerSize(); ++col) {
    const int end = H_upper.outerIndexPtr()[col + 1];
    if (end > H_upper.outerIndexPtr()[col] && H_upper.innerIndexPtr()[end - 1] == col) continue;
    H_upper.coeffRef(col, col) = 0.0;
    inserted = true;
  }
  if (inserted) H_upper.makeCompressed();
  // The sparsity pattern is the problem's: analysed once, kept across points
  // while it is the same.
  const bool same_pattern =
      pattern_unchanged ||
      (!dense_ && H_upper.rows() == sparse_hessian_upper_.rows() &&
      H_upper.nonZeros() == sparse_hessian_upper_.nonZeros() &&
      std::equal(H_upper.outerIndexPtr(), H_upper.outerIndexPtr() + H_upper.outerSize() + 1,
                 sparse_hessian_upper_.outerIndexPtr()) &&
      std::equal(H_upper.innerIndexPtr(), H_upper.innerIndexPtr() + H_upper.nonZeros(),
                 sparse_hessian_upper_.innerIndexPtr()));
  if (!same_pattern) cholmod_analysed_ = ldlt_analysed_ = schur_analysed_ = false;
  dense_ = false;
  // Swapped (no copy), and the old H freed.
  sparse_hessian_upper_.swap(H_upper);
  Eigen::SparseMatrix<double>().swap(H_upper);
  hessian_values_ = sparse_hessian_upper_.valuePtr();
}

Eigen::Map<const Eigen::SparseMatrix<double>> DampedSolver::SparseHessian() const {
  const Eigen::SparseMatrix<double>& H = sparse_hessian_upper_;
  return Eigen::Map<const Eigen::SparseMatrix<double>>(H.rows(), H.cols(), H.nonZeros(),
                                                       H.outerIndexPtr(), H.innerIndexPtr(),
                                                       hessian_values_);
}

Eigen::VectorXd DampedSolver::SparseHessianDiagonal() const {
  // Each column of the upper triangle ends with its diagonal entry.
  const Eigen::SparseMatrix<double>& H = sparse_hessian_upper_;
  Eigen::VectorXd h(H.outerSize());
  for (int col = 0; col < H.outerSize(); ++col) h[col] = hessian_values_[H.outerIndexPtr()[col + 1] - 1];
  return h;
}

Status DampedSolver::Factorise(double lambda) {
  lambda_ = lambda;
  eigenvalues_deferred_ = false;
  const int free_size = dense_ ? static_cast<int>(dense_hessian_.rows())
                               : static_cast<int>(sparse_hessian_upper_.rows());
  if (free_size == 0) {
    // Every coordinate fixed: nothing to factorise, the solution is zero.
    estimates_ = false;
    min_eigenvalue_ = max_eigenvalue_ = scaled_min_eigenvalue_ = scaled_max_eigenvalue_ = 0.0;
    scale_.resize(0);
    null_direction_.resize(0);
    return Status::Ok();
  }
  return dense_ ? FactoriseDense() : FactoriseSparse();
}

Eigen::VectorXd DampedSolver::null_direction() const {
  if (!reduced_ || null_direction_.size() == 0) return null_direction_;
  Eigen::VectorXd full = Eigen::VectorXd::Zero(size_);
  for (size_t i = 0; i < free_.size(); ++i) full[free_[i]] = null_direction_[i];
  return full;
}

Eigen::VectorXd DampedSolver::DampingDiagonal(const Eigen::VectorXd& h) const {
  if (options_.damping == DampingType::IDENTITY) {
    return Eigen::VectorXd::Constant(h.size(), lambda_);
  }
  return lambda_ * h.cwiseAbs().cwiseMax(kMinDiagonal).cwiseMin(kMaxDiagonal);
}

Eigen::VectorXd DampedSolver::JacobiScale(const Eigen::VectorXd& a) {
  Eigen::VectorXd scale(a.size());
  for (int i = 0; i < a.size(); ++i) {
    const double d = std::abs(a[i]);
    scale[i] = d > 0.0 && std::isfinite(d) ? 1.0 / std::sqrt(d) : 1.0;
  }
  return scale;
}

void DampedSolver::ComputeDeferredEigenvalues() const {
  if (!eigenvalues_deferred_) return;
  eigenvalues_deferred_ = false;
  eigen_solver_.compute(damped_dense_, Eigen::EigenvaluesOnly);
  min_eigenvalue_ = eigen_solver_.eigenvalues().minCoeff();
  max_eigenvalue_ = eigen_solver_.eigenvalues().maxCoeff();
}

Status DampedSolver::Classify() const {
  const double scale = std::max(std::abs(scaled_max_eigenvalue_), std::abs(scaled_min_eigenvalue_));
  const double tolerance = options_.singular_tolerance * scale;
  const bool indefinite = scaled_min_eigenvalue_ < -tolerance;
  const bool singular = !indefinite && scaled_min_eigenvalue_ <= tolerance;
  if (!indefinite && !singular) return Status::Ok();

  std::ostringstream message;
  message.precision(6);
  const char* matrix = lambda_ == 0.0 ? "H" : "H + lambda D";
  ComputeDeferredEigenvalues();  // the message names them
  if (indefinite) {
    message << matrix << " is indefinite: its smallest eigenvalue is " << min_eigenvalue_
            << " (largest " << max_eigenvalue_ << "; Jacobi-scaled " << scaled_min_eigenvalue_
            << " and " << scaled_max_eigenvalue_
            << "), so y* is not a strict local minimum of the inner problem "
               "(a saddle point, or the inner solve stopped early). ";
  } else {
    message << matrix << " is singular: the smallest eigenvalue of its Jacobi-scaled form is "
            << scaled_min_eigenvalue_ << ", within " << options_.singular_tolerance
            << " of the largest (" << scaled_max_eigenvalue_ << "; unscaled " << min_eigenvalue_
            << " and " << max_eigenvalue_
            << "), so the minimiser is not isolated (a flat direction, e.g. a gauge freedom). ";
    if (null_space_dimension_ > 0) {
      message << "Its null space has dimension " << null_space_dimension_ << " ("
              << (dense_ ? "eigenvalues" : "factorisation pivots")
              << " of the Jacobi-scaled form within singular_tolerance of the largest). ";
    }
  }
  if (lambda_ == 0.0) {
    message << "The implicit derivative (lambda = 0) does not exist here; use "
               "lambda > 0, the trust-region derivative (the paper uses 0.1)";
    if (singular) message << ", or fix the gauge (hold blocks constant or add a prior)";
  } else {
    message << "Increase lambda (now " << lambda_
            << ") above the magnitude of the negative eigenvalue, or use "
               "HessianModel::GAUSS_NEWTON";
  }
  if (estimates_) message << " (eigenvalues estimated)";
  return Status(indefinite ? StatusCode::kIndefiniteHessian : StatusCode::kSingularHessian,
                message.str());
}

void DampedSolver::EstimateEigenvalues(int iterations, const Multiply& multiply,
                                       const Multiply& solve, double* min,
                                       double* max) const {
  if (iterations <= 0 || *max <= 0.0) return;
  const int size = scale_.size();
  // A fixed, non-special start vector keeps results repeatable.
  const Eigen::VectorXd start = Eigen::VectorXd::LinSpaced(size, 1.0, 2.0).normalized();
  Eigen::VectorXd v = start;
  for (int i = 0; i < iterations; ++i) {
    const Eigen::VectorXd Av = multiply(v);
    *max = std::max(*max, v.dot(Av));
    if (Av.norm() == 0.0) break;
    v = Av.normalized();
  }
  v = start;
  for (int i = 0; i < iterations; ++i) {
    const Eigen::VectorXd x = solve(v);
    // v^T A^-1 v is a lower bound of 1 / min_eigenvalue.
    const double rayleigh = v.dot(x);
    if (rayleigh > 0.0) *min = std::min(*min, 1.0 / rayleigh);
    if (x.norm() == 0.0 || !x.allFinite()) break;
    v = x.normalized();
  }
}

Eigen::VectorXd DampedSolver::SolveScaled(const Eigen::VectorXd& v) const {
  switch (factor_) {
    case Factor::kDense:
      return dense_factor_.solve(v);
    case Factor::kCholmodLlt:
      return cholmod_factor_->LockedSolve(v);
    case Factor::kEigenLdlt:
      return sparse_factor_.solve(v);
    case Factor::kSchur: {
      Eigen::MatrixXd x = v;
      schur_factor_->Solve(&x);
      return x;
    }
  }
  return v;
}

Status DampedSolver::FactoriseDense() {
  factor_ = Factor::kDense;
  null_space_dimension_ = -1;
  Eigen::MatrixXd& A = damped_dense_;
  A = dense_hessian_;
  A.diagonal() += DampingDiagonal(dense_hessian_.diagonal());
  scale_ = JacobiScale(A.diagonal());
  null_direction_.resize(0);
  Eigen::MatrixXd& scaled = scaled_dense_;
  scaled = scale_.asDiagonal() * A * scale_.asDiagonal();
  const bool exact = A.rows() <= options_.max_exact_eigenvalue_size;
  // The scaled eigenvalues classify; A's own are reported only (deferred to
  // their first read, see ComputeDeferredEigenvalues).
  auto compute_exact = [&]() {
    eigen_solver_.compute(scaled, Eigen::EigenvaluesOnly);
    scaled_min_eigenvalue_ = eigen_solver_.eigenvalues().minCoeff();
    scaled_max_eigenvalue_ = eigen_solver_.eigenvalues().maxCoeff();
    eigenvalues_deferred_ = true;
    estimates_ = false;
  };
  // The eigenvector of the scaled matrix's smallest eigenvalue, and the
  // dimension of its null space (then in the message).
  auto find_null_direction = [&](Status status) {
    if (status.code() == StatusCode::kSingularHessian) {
      Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eigen(scaled);
      null_direction_ = eigen.eigenvectors().col(0);
      const Eigen::VectorXd& values = eigen.eigenvalues();
      const double tolerance =
          options_.singular_tolerance * std::max(std::abs(values.minCoeff()),
                                                 std::abs(values.maxCoeff()));
      null_space_dimension_ = static_cast<int>((values.array().abs() <= tolerance).count());
      Status with_dimension = Classify();
      if (with_dimension.code() == status.code()) return with_dimension;
    }
    return status;
  };
  if (exact) compute_exact();
  dense_factor_.compute(scaled);
  if (dense_factor_.info() != Eigen::Success) {
    if (!exact) compute_exact();
    Status status = Classify();
    if (status.ok()) {
      return Status(StatusCode::kSingularHessian,
                    "the Cholesky factorisation of H + lambda D failed although "
                    "its eigenvalues are positive; the matrix is too ill-conditioned");
    }
    return find_null_direction(status);
  }
  if (!exact) {
    estimates_ = true;
    // Cholesky pivots bound nothing cheaply; start from the diagonal range,
    // which lies inside the eigenvalue range.
    min_eigenvalue_ = A.diagonal().minCoeff();
    max_eigenvalue_ = A.diagonal().maxCoeff();
    scaled_min_eigenvalue_ = scaled.diagonal().minCoeff();
    scaled_max_eigenvalue_ = scaled.diagonal().maxCoeff();
    const int n = options_.eigenvalue_iterations;
    EstimateEigenvalues(
        n, [&A](const Eigen::VectorXd& v) -> Eigen::VectorXd { return A * v; },
        [this](const Eigen::VectorXd& v) -> Eigen::VectorXd { return SolveFree(v); },
        &min_eigenvalue_, &max_eigenvalue_);
    EstimateEigenvalues(
        n, [&scaled](const Eigen::VectorXd& v) -> Eigen::VectorXd { return scaled * v; },
        [this](const Eigen::VectorXd& v) { return SolveScaled(v); }, &scaled_min_eigenvalue_,
        &scaled_max_eigenvalue_);
  }
  return find_null_direction(Classify());
}

void DampedSolver::ScaleSparseInPlace(Eigen::VectorXd* hessian_values) {
  Eigen::SparseMatrix<double>& scaled = sparse_hessian_upper_;
  const Eigen::VectorXd h = SparseHessianDiagonal();
  const Eigen::VectorXd a = h + DampingDiagonal(h);
  scale_ = JacobiScale(a);
  *hessian_values = Eigen::Map<const Eigen::VectorXd>(scaled.valuePtr(), scaled.nonZeros());
  hessian_values_ = hessian_values->data();
  // Each column of the upper triangle ends with its diagonal entry
  // (SetSparse).
  for (int col = 0; col < scaled.outerSize(); ++col) {
    scaled.valuePtr()[scaled.outerIndexPtr()[col + 1] - 1] += a[col] - h[col];
  }
  for (int col = 0; col < scaled.outerSize(); ++col) {
    for (Eigen::SparseMatrix<double>::InnerIterator it(scaled, col); it; ++it) {
      it.valueRef() *= scale_[it.row()] * scale_[it.col()];
    }
  }
}

void DampedSolver::RestoreSparse(const Eigen::VectorXd& hessian_values) {
  Eigen::Map<Eigen::VectorXd>(sparse_hessian_upper_.valuePtr(), sparse_hessian_upper_.nonZeros()) =
      hessian_values;
  hessian_values_ = sparse_hessian_upper_.valuePtr();
}

Eigen::VectorXd DampedSolver::MultiplySparse(const Eigen::VectorXd& v) const {
  const Eigen::VectorXd h = SparseHessianDiagonal();
  return SparseHessian().selfadjointView<Eigen::Upper>() * v +
         DampingDiagonal(h).cwiseProduct(v);
}

Status DampedSolver::FactoriseSparse() {
  estimates_ = true;
  null_direction_.resize(0);
  analysis_time_ = numeric_time_ = 0.0;
  null_space_dimension_ = -1;
  // S A S overwrites H's values for the factorisation (no second copy of the
  // pattern), which are restored after it.
  Eigen::VectorXd hessian_values;
  ScaleSparseInPlace(&hessian_values);
  const Status status = FactoriseScaledSparse(sparse_hessian_upper_);
  RestoreSparse(hessian_values);
  return status;
}

bool DampedSolver::FactoriseSchur(const Eigen::SparseMatrix<double>& scaled, Status* status) {
  const LinearSolverType type = options_.linear_solver_type;
  if ((type != LinearSolverType::SPARSE_SCHUR && type != LinearSolverType::AUTOMATIC) ||
      block_sizes_.empty()) {
    return false;
  }
  if (!schur_analysed_) {
    const auto start = std::chrono::steady_clock::now();
    // The blocks' free coordinates (blocks held fixed entirely left out).
    std::vector<char> is_free(size_, reduced_ ? 0 : 1);
    for (int i : free_) is_free[i] = 1;
    std::vector<int> sizes;
    int coordinate = 0;
    for (int size : block_sizes_) {
      const int free = static_cast<int>(
          std::count(is_free.begin() + coordinate, is_free.begin() + coordinate + size, 1));
      if (free > 0) sizes.push_back(free);
      coordinate += size;
    }
    CHECK_EQ(coordinate, size_) << "SetBlocks' sizes do not sum to H's size";
    if (schur_factor_ == nullptr) {
      schur_factor_ = std::make_unique<SchurFactor>(options_.sparse_linear_algebra_library_type);
    }
    schur_factor_->Analyse(scaled, sizes);
    const int eliminated = schur_factor_->num_eliminated();
    schur_chosen_ = eliminated > 0 && (type == LinearSolverType::SPARSE_SCHUR ||
                                       eliminated >= kMinEliminatedShare * scaled.rows());
    schur_analysed_ = true;
    analysis_time_ += SecondsSince(start);
  }
  if (!schur_chosen_) return false;
  const auto start = std::chrono::steady_clock::now();
  Eigen::VectorXd scaled_pivots;
  double r_analysis_time = 0.0;
  const bool factorised = schur_factor_->Factorise(scaled, &scaled_pivots, &r_analysis_time);
  analysis_time_ += r_analysis_time;
  numeric_time_ += SecondsSince(start) - r_analysis_time;
  if (!factorised) return false;
  factor_ = Factor::kSchur;
  *status = ClassifySparse(scaled, scaled_pivots, scaled_pivots.cwiseQuotient(scale_.cwiseAbs2()));
  return true;
}

Status DampedSolver::FactoriseScaledSparse(const Eigen::SparseMatrix<double>& scaled) {
  Status schur_status;
  if (FactoriseSchur(scaled, &schur_status)) return schur_status;
  if (options_.sparse_linear_algebra_library_type ==
      SparseLinearAlgebraLibraryType::EIGEN_SPARSE) {
    return FactoriseLdlt(scaled);
  }
  if (cholmod_factor_ == nullptr) cholmod_factor_ = std::make_unique<CholmodLlt>();
  if (!cholmod_analysed_) {
    const auto start = std::chrono::steady_clock::now();
    cholmod_factor_->analyzePattern(scaled);
    cholmod_analysed_ = true;
    analysis_time_ += SecondsSince(start);
  }
  const auto start = std::chrono::steady_clock::now();
  cholmod_factor_->factorize(scaled);
  numeric_time_ += SecondsSince(start);
  if (cholmod_factor_->info() != Eigen::Success) {
    // Not positive definite (to the factorisation): the LDL^T tells singular
    // from indefinite.
    return FactoriseLdlt(scaled);
  }
  factor_ = Factor::kCholmodLlt;
  const Eigen::VectorXd scaled_pivots = cholmod_factor_->Pivots();
  return ClassifySparse(scaled, scaled_pivots, scaled_pivots.cwiseQuotient(scale_.cwiseAbs2()));
}

Status DampedSolver::FactoriseLdlt(const Eigen::SparseMatrix<double>& scaled) {
  factor_ = Factor::kEigenLdlt;
  if (!ldlt_analysed_) {
    const auto start = std::chrono::steady_clock::now();
    sparse_factor_.analyzePattern(scaled);
    ldlt_analysed_ = true;
    analysis_time_ += SecondsSince(start);
  }
  const auto start = std::chrono::steady_clock::now();
  sparse_factor_.factorize(scaled);
  numeric_time_ += SecondsSince(start);
  if (sparse_factor_.info() != Eigen::Success) {
    // A zero pivot: S A S is singular (or, beyond it, indefinite); the
    // pivot's coordinate is where the null direction shows.
    min_eigenvalue_ = scaled_min_eigenvalue_ = 0.0;
    const Eigen::VectorXd h = SparseHessianDiagonal();
    max_eigenvalue_ = (h + DampingDiagonal(h))
                          .cwiseAbs()
                          .maxCoeff();
    scaled_max_eigenvalue_ = Eigen::VectorXd(scaled.diagonal()).cwiseAbs().maxCoeff();
    Status status = Classify();
    const Eigen::VectorXd pivots = sparse_factor_.vectorD();
    if (status.code() == StatusCode::kSingularHessian && pivots.size() == scaled.rows()) {
      Eigen::Index smallest = 0;
      pivots.cwiseAbs().minCoeff(&smallest);
      null_direction_ = Eigen::VectorXd::Unit(scaled.rows(), smallest);
    }
    return status;
  }
  const Eigen::VectorXd scaled_pivots = sparse_factor_.vectorD();
  return ClassifySparse(scaled, scaled_pivots, scaled_pivots.cwiseQuotient(scale_.cwiseAbs2()));
}

Status DampedSolver::ClassifySparse(const Eigen::SparseMatrix<double>& scaled,
                                    const Eigen::VectorXd& scaled_pivots,
                                    const Eigen::VectorXd& pivots) {
  // For a symmetric matrix with an LDL^T factorisation the signs of the pivots
  // are the signs of the eigenvalues (Sylvester); for a positive definite one
  // the pivots lie inside [min, max] eigenvalue. The pivots of A are those of
  // S A S divided by S^2.
  min_eigenvalue_ = pivots.minCoeff();
  max_eigenvalue_ = pivots.maxCoeff();
  scaled_min_eigenvalue_ = scaled_pivots.minCoeff();
  scaled_max_eigenvalue_ = scaled_pivots.maxCoeff();
  // Pivots within the singular band count the null space's dimension (a
  // positive semi-definite matrix of rank r has n - r zero pivots in exact
  // arithmetic); 0 leaves it unknown.
  const double band =
      options_.singular_tolerance * scaled_pivots.cwiseAbs().maxCoeff();
  const int small_pivots = static_cast<int>((scaled_pivots.array().abs() <= band).count());
  null_space_dimension_ = small_pivots > 0 ? small_pivots : -1;
  const int n = options_.eigenvalue_iterations;
  if (min_eigenvalue_ > 0.0) {
    EstimateEigenvalues(
        n, [this](const Eigen::VectorXd& v) -> Eigen::VectorXd { return MultiplySparse(v); },
        [this](const Eigen::VectorXd& v) -> Eigen::VectorXd { return SolveFree(v); },
        &min_eigenvalue_, &max_eigenvalue_);
    EstimateEigenvalues(
        n,
        [&scaled](const Eigen::VectorXd& v) -> Eigen::VectorXd {
          return scaled.selfadjointView<Eigen::Upper>() * v;
        },
        [this](const Eigen::VectorXd& v) { return SolveScaled(v); }, &scaled_min_eigenvalue_,
        &scaled_max_eigenvalue_);
  }
  if (factor_ == Factor::kEigenLdlt && scaled_min_eigenvalue_ < -band) {
    MeasureNegativePivots(scaled, scaled_pivots, band);
  }
  Status status = Classify();
  if (status.code() == StatusCode::kSingularHessian) {
    Eigen::VectorXd v = Eigen::VectorXd::LinSpaced(scaled.rows(), 1.0, 2.0).normalized();
    for (int i = 0; i < kNullDirectionIterations; ++i) {
      const Eigen::VectorXd x = SolveScaled(v);
      if (x.norm() == 0.0 || !x.allFinite()) break;
      v = x.normalized();
    }
    null_direction_ = v;
  }
  return status;
}

// S A S = P^T L D L^T P, so x_k = P^T L^-T e_k has x_k^T S A S x_k = d_k and
// |x_k| >= 1 (L is unit lower triangular). The Rayleigh quotient
// x_k^T S A S x_k / |x_k|^2, an upper bound on the smallest eigenvalue, is
// computed with S A S itself rather than as d_k / |x_k|^2, so that it holds
// however inexact the factorisation (LDL^T without pivoting on an indefinite
// or nearly singular matrix). Round-off in a near null space (a gauge
// freedom) leaves pivots small and negative whose quotients are far smaller:
// the pivots say indefinite where the eigenvalues say singular. The quotients
// of the most negative pivots replace them as the smallest eigenvalue's
// estimates, and those within the singular band count towards the null
// space's dimension.
void DampedSolver::MeasureNegativePivots(const Eigen::SparseMatrix<double>& scaled,
                                         const Eigen::VectorXd& scaled_pivots, double band) {
  std::vector<Eigen::Index> negative;
  for (Eigen::Index k = 0; k < scaled_pivots.size(); ++k) {
    if (scaled_pivots[k] < -band) negative.push_back(k);
  }
  std::sort(negative.begin(), negative.end(), [&](Eigen::Index a, Eigen::Index b) {
    return scaled_pivots[a] < scaled_pivots[b];
  });
  if (negative.size() > static_cast<size_t>(kNegativePivotProbes)) {
    negative.resize(kNegativePivotProbes);
  }
  double scaled_min = std::numeric_limits<double>::infinity();
  double min = std::numeric_limits<double>::infinity();
  int within_band = 0;
  for (Eigen::Index k : negative) {
    const Eigen::VectorXd u =
        sparse_factor_.matrixU().solve(Eigen::VectorXd::Unit(scaled_pivots.size(), k));
    const Eigen::VectorXd x = sparse_factor_.permutationPinv() * u;
    const double curvature = x.dot(scaled.selfadjointView<Eigen::Upper>() * x);
    const double scaled_quotient = curvature / x.squaredNorm();
    if (!std::isfinite(scaled_quotient)) return;  // keep the pivots' verdict
    scaled_min = std::min(scaled_min, scaled_quotient);
    min = std::min(min, curvature / scale_.cwiseProduct(x).squaredNorm());
    if (scaled_quotient >= -band) ++within_band;
  }
  scaled_min_eigenvalue_ = scaled_min;
  min_eigenvalue_ = min;
  if (within_band > 0) null_space_dimension_ = std::max(null_space_dimension_, 0) + within_band;
}

Eigen::MatrixXd DampedSolver::SolveFree(const Eigen::MatrixXd& B) const {
  if (B.rows() == 0) return B;
  const Eigen::MatrixXd scaled_B = scale_.asDiagonal() * B;
  switch (factor_) {
    case Factor::kDense:
      return scale_.asDiagonal() * dense_factor_.solve(scaled_B);
    case Factor::kCholmodLlt:
      return scale_.asDiagonal() * cholmod_factor_->LockedSolve(scaled_B);
    case Factor::kEigenLdlt:
      return scale_.asDiagonal() * sparse_factor_.solve(scaled_B);
    case Factor::kSchur: {
      Eigen::MatrixXd X = scaled_B;
      schur_factor_->Solve(&X);
      return scale_.asDiagonal() * X;
    }
  }
  return B;
}

Eigen::MatrixXd DampedSolver::Solve(const Eigen::MatrixXd& B) const {
  if (!reduced_) return SolveFree(B);
  const Eigen::MatrixXd X_free = SolveFree(B(free_, Eigen::all));
  Eigen::MatrixXd X = Eigen::MatrixXd::Zero(B.rows(), B.cols());
  X(free_, Eigen::all) = X_free;
  return X;
}

}  // namespace internal
}  // namespace ceres_wiberg
