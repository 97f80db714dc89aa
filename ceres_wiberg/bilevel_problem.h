// ceres_wiberg: learning energy parameters by differentiating Ceres minimisers.
//
// BilevelProblem wraps a borrowed ceres::Problem whose parameter blocks are
// split into inner variables y (solved for) and learnable parameters w (held
// constant while y is solved). Blocks the user set constant belong to neither.
//
// Coordinates. y is the concatenation of the inner blocks' *tangent* spaces
// (a block with a ceres::Manifold contributes TangentSize() coordinates, as in
// Ceres' own Jacobians); w is the concatenation of the learnable blocks'
// *ambient* values, so that dy*/dw plugs straight into a ceres::CostFunction
// over the learnable blocks.
//
// Bounds and manifolds. Inner blocks may have a manifold or Ceres bounds (not
// both: refused, since ambient bounds on a manifold do not fix tangent
// coordinates); the derivative of a bounded minimiser holds its active
// coordinates fixed (see minimiser_derivative.h). Learnable blocks are held
// constant in this problem, so a manifold or bounds on them here would be
// ignored: Create refuses them, naming the block. Put them on the outer
// problem instead (WibergCostFunction: Ceres keeps the outer steps feasible
// and maps the ambient dy*/dw to the tangent space) or use the stochastic
// learner's bounds. Bounds and manifolds are read once, by Create.

#ifndef CERES_WIBERG_BILEVEL_PROBLEM_H_
#define CERES_WIBERG_BILEVEL_PROBLEM_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "Eigen/Core"
#include "ceres/problem.h"
#include "ceres/solver.h"
#include "ceres_wiberg/status.h"

namespace ceres_wiberg {

// Levenberg-Marquardt with tolerances tight enough for re-solve differences
// and for SolveInner before a derivative: function, gradient and parameter
// tolerances 1e-16, up to 1000 iterations, silent.
ceres::Solver::Options TightSolverOptions();

namespace internal {
class ProblemLayout;
}  // namespace internal

class BilevelProblem {
 public:
  struct Options {
    // The inner blocks, in the order that defines y. Empty (the default):
    // every parameter block of the problem that is neither constant nor
    // learnable, in the order Problem::GetParameterBlocks returns them.
    std::vector<double*> inner_parameter_blocks;

    // Optional names used in error messages and reports, e.g.
    // {{sigma, "sigma"}}. Unnamed blocks are named by role, index and size.
    std::map<const double*, std::string> parameter_block_names;

    // If true, SolveInner returns kNoConvergence when Ceres stops for any
    // reason other than CONVERGENCE; the solution stays in the problem either
    // way.
    bool require_convergence = false;
  };

  // Checks the split and builds the wrapper. Errors (kInvalidArgument) name the
  // block: a learnable or inner block that is not in the problem, that is in
  // no residual block, that is listed twice or in both sets, an inner block
  // the user set constant or with both a manifold and bounds, or a learnable
  // block with a manifold or bounds.
  static Status Create(ceres::Problem* problem,
                       const std::vector<double*>& learnable_parameter_blocks,
                       const Options& options,
                       std::unique_ptr<BilevelProblem>* bilevel_problem);
  static Status Create(ceres::Problem* problem,
                       const std::vector<double*>& learnable_parameter_blocks,
                       std::unique_ptr<BilevelProblem>* bilevel_problem);

  ~BilevelProblem();
  BilevelProblem(const BilevelProblem&) = delete;
  BilevelProblem& operator=(const BilevelProblem&) = delete;

  // Solves for y with every non-inner block held constant, restoring each
  // block's earlier constant/variable state afterwards. Returns
  // kNoConvergence only if Options::require_convergence is set, and
  // kNumericalFailure if Ceres reports a FAILURE (e.g. NaN residuals).
  Status SolveInner(const ceres::Solver::Options& solver_options,
                    ceres::Solver::Summary* summary);

  ceres::Problem* problem() const { return problem_; }
  const std::vector<double*>& inner_parameter_blocks() const;
  const std::vector<double*>& learnable_parameter_blocks() const;
  // Sizes of y (sum of tangent sizes) and w (sum of ambient sizes).
  int num_inner_parameters() const;
  int num_learnable_parameters() const;

  // The learnable values concatenated into w, and back.
  Eigen::VectorXd GetLearnableParameters() const;
  void SetLearnableParameters(const Eigen::VectorXd& w);
  // The inner blocks' ambient values, concatenated (size: sum of ambient
  // sizes), and back. Used to save and restore warm starts.
  Eigen::VectorXd GetInnerValues() const;
  void SetInnerValues(const Eigen::VectorXd& values);

  // "learnable block 'sigma' (size 1)" or "inner block #3 (size 4)".
  std::string BlockName(const double* values) const;
  // The block and offset within it of coordinate i of y (tangent) or w.
  std::string InnerCoordinateName(int i) const;
  std::string LearnableCoordinateName(int i) const;

  const internal::ProblemLayout& layout() const { return *layout_; }

  // Distinct for every BilevelProblem created in this process, never reused
  // (unlike an address, which a new object may take after one is freed).
  uint64_t id() const { return id_; }

 private:
  BilevelProblem(ceres::Problem* problem, const Options& options);

  ceres::Problem* problem_;
  const uint64_t id_;
  Options options_;  // inner_parameter_blocks filled in by Create
  std::vector<double*> learnable_parameter_blocks_;
  std::unique_ptr<internal::ProblemLayout> layout_;
};

}  // namespace ceres_wiberg

#endif  // CERES_WIBERG_BILEVEL_PROBLEM_H_
