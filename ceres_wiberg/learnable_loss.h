// ceres_wiberg: learning energy parameters by differentiating Ceres minimisers.
//
// Learnable robust losses: pseudo-Huber, Cauchy and Welsch (Gaussian kernel)
// losses whose scale a, and optionally a weight m, are parameter blocks, so
// that loss shapes (Huber scales, kernel widths, mixing weights) can be learnt.
//
// ceres::LossFunction has no parameters, so the loss is folded into the
// residual instead. Given a cost function r(p_1, ..., p_n) with k residuals
// and s = ||r||^2, LearnableLossCostFunction has the parameter blocks
//
//   p_1, ..., p_n, a (1 double) [, m (1 double)]
//
// and the residual
//
//   r~ = sqrt(m f(s; a)) r,      f(s; a) = rho(s; a) / s,
//
// so that ||r~||^2 = m rho(s; a) and Ceres' term 1/2 ||r~||^2 is exactly the
// robustified, weighted term 1/2 m rho(s; a). Without the weight block m = 1.
// f is smooth and positive on s >= 0 with f(0; a) = rho'(0; a), so r~ and its
// Jacobian are smooth at r = 0 (see "Accuracy" below). With F = sqrt(f),
// F_s = dF/ds and F_a = dF/da, the Jacobians are
//
//   J_rt_p = sqrt(m) (F J + 2 F_s r r^T J)              J = dr/dp
//   J_rt_a = sqrt(m) F_a r
//   J_rt_m = F r / (2 sqrt(m))
//
// which are the formulas d r~/dp = sqrt(m f) J + (m f' / sqrt(m f)) r r^T J,
// d r~/da = r m (df/da) / (2 sqrt(m f)), d r~/dm = r f / (2 sqrt(m f))
// written without the division by sqrt(f). The gradient of the energy is
// exact: J_rt_p^T r~ = m rho'(s) J^T r.
//
// The losses (c = a^2, u = s / c; a enters only through a^2, so its sign does
// not matter):
//
//   PSEUDO_HUBER       rho = 2 c (sqrt(1 + u) - 1)    rho'(0) = 1
//                      f   = 2 / (1 + sqrt(1 + u))
//   CAUCHY             rho = c log(1 + u)             rho'(0) = 1
//                      f   = log(1 + u) / u
//   WELSCH             rho = 1 - exp(-u)              rho'(0) = 1 / a^2
//                      f   = (1 - exp(-u)) / s
//   NORMALISED_WELSCH  rho = c (1 - exp(-u))          rho'(0) = 1
//                      f   = (1 - exp(-u)) / u
//
// PSEUDO_HUBER is Ceres' SoftLOneLoss(a) and CAUCHY is Ceres' CauchyLoss(a),
// with a now learnable. Both behave like s near s = 0 for every a.
//
// WELSCH is the Gaussian kernel exactly as the paper's energies write it
// (the robust mean sum_i -exp(-(x_i - t)^2 / sigma^2), the tracker-fusion
// mixture m_t exp(-...)), up to the additive constant that makes rho(0) = 0:
// it saturates at rho = 1 whatever a is, so its slope at the origin, 1 / a^2,
// DOES depend on a. Changing a therefore changes both the kernel width and the
// weight of the inliers. NORMALISED_WELSCH = a^2 WELSCH is the same kernel in
// Ceres' convention s -> a^2 rho(s / a^2): rho'(0) = 1 for every a and it
// saturates at a^2. For a fixed a they differ by the constant factor a^2, so
// terms sharing one a have the same minimisers under either, but the
// derivatives with respect to a differ.
//
// Notes.
// - Energies without Ceres' factor 1/2 (such as the paper's) only differ by a
//   constant factor, which does not move the minimiser; m can absorb it.
// - One scalar a acts on s = ||r||^2. For per-coordinate widths (the tracker
//   fusion energy's sigma_T, sigma_L) divide the residuals by the widths in the
//   wrapped cost function and use a = 1 (held constant) or a common a.
// - Do not also pass a ceres::LossFunction for the same residual block
//   (AddResidualBlock(..., nullptr, ...)): the loss is already in r~.
// - Ceres sees r~ as an ordinary residual, so its Gauss-Newton model (and
//   HessianModel::GAUSS_NEWTON) of this term is J_rt_p^T J_rt_p =
//   m J^T (f I + (2 f' + 4 s F_s^2) r r^T) J: positive semi-definite and equal
//   to rho'(0) J^T J at r = 0, but not Ceres' own robustified model
//   (rho' J^T J plus its rho'' correction); for concave rho it weighs outliers
//   by f = rho / s >= rho'. The energy, its gradient (m rho' J^T r) and the
//   exact Hessian are those of 1/2 m rho.
// - MinimiserDerivative (HessianModel::EXACT, and G = dg/dw for every model)
//   recognises these blocks and differentiates 1/2 m rho analytically:
//   H = m [rho' J^T J + 2 rho'' J^T r r^T J] + m rho' sum_k r_k d2r_k/dy2,
//   dg/da = m (d rho'/da) J^T r, dg/dm = rho' J^T r, so that only the
//   wrapped cost function's second derivatives are differenced (none when r
//   is linear in y and w, as filter responses or x_i - t are), not those of
//   r~, which bend with the loss. A ceres::LossFunction passed as well, or a
//   or m used as an inner block, falls back to differencing r~.
// - While the inner problem is solved, a and m must be held constant (as
//   BilevelProblem does with learnable blocks): minimising over a itself is
//   meaningless (the pseudo-Huber energy goes to 0 with a, for instance).
// - Requirements on the values, which data can violate: a^2 must be a positive
//   normal double (sqrt(DBL_MIN) <= |a| <= sqrt(DBL_MAX), so a != 0) and m
//   must be positive and finite. Otherwise Evaluate returns false, which
//   Ceres treats as a failed evaluation (a rejected step inside a solve); call
//   ValidateLearnableLossParameters or ValidateParameters for a message.
//   Evaluate also returns false if the wrapped cost function does, or if s is
//   not finite.
//
// Accuracy. Everything is computed without cancellation near s = 0:
// pseudo-Huber uses sqrt(1 + u) - 1 = u / (1 + sqrt(1 + u)); Cauchy's
// f = log1p(u) / u; Welsch's f = -expm1(-u) / u. The derivatives of f involve
// differences that cancel near u = 0:
//   Cauchy   (log(1 + u) - u / (1 + u)) / u^2
//   Welsch   (1 - exp(-u) - u exp(-u)) / u^2
// and are summed from series below u = 1 (the Cauchy one through
// log(1 + u) = 2 atanh(u / (2 + u)), a series of positive terms; the Welsch
// one from its Taylor series, whose terms fall as 1/n!), with truncation error
// below 1e-17 and a relative error of a few machine epsilons on both sides of
// the switch. The same functions give d rho / da of CAUCHY and
// NORMALISED_WELSCH. Two limits that no formula avoids: Welsch's exp(-u) has
// condition number u, so far in the tail its values carry ~u eps relative
// error from the rounding of s / a^2; and J_rt_p is accurate to a few eps
// relative to sqrt(m) F |J| (far in Welsch's tail its component along r is
// exponentially small and comes out of a cancellation; the gradient's
// rounding is then ~eps m f |J| |r|, not relative to m rho' J^T r).
//
// Usage:
//   double scale = 0.5, weight = 1.0;
//   problem.AddResidualBlock(
//       new LearnableLossCostFunction(
//           new MyCost(...), LearnableLossType::WELSCH,
//           /*has_weight_block=*/true),
//       nullptr, {x, y, &scale, &weight});

#ifndef CERES_WIBERG_LEARNABLE_LOSS_H_
#define CERES_WIBERG_LEARNABLE_LOSS_H_

#include <memory>
#include <string>
#include <vector>

#include "ceres/cost_function.h"
#include "ceres/types.h"
#include "ceres_wiberg/status.h"

namespace ceres_wiberg {

// The loss rho(s; a) of a LearnableLossCostFunction; see the file comment.
enum class LearnableLossType {
  // rho = 2 a^2 (sqrt(1 + s / a^2) - 1): quadratic near 0, linear in ||r||
  // far away (Ceres' SoftLOneLoss).
  PSEUDO_HUBER,
  // rho = a^2 log(1 + s / a^2) (Ceres' CauchyLoss).
  CAUCHY,
  // rho = 1 - exp(-s / a^2): the Gaussian kernel as the paper writes it.
  // rho'(0) = 1 / a^2.
  WELSCH,
  // rho = a^2 (1 - exp(-s / a^2)): the Gaussian kernel with rho'(0) = 1.
  NORMALISED_WELSCH,
};

const char* LearnableLossTypeToString(LearnableLossType type);
// Ignores case; false for an unknown name.
bool StringToLearnableLossType(const std::string& name, LearnableLossType* type);

// The scalar loss and its derivatives, for plots, tests and hand-written
// energies. With s = ||r||^2 >= 0 and scale a:
//
//   rho[0] = rho(s; a)
//   rho[1] = d rho / ds                 (Ceres' LossFunction convention)
//   rho[2] = d^2 rho / ds^2
//   drho_da[0] = d rho / da             (if drho_da is not null)
//   drho_da[1] = d^2 rho / (ds da)
//
// Returns false, and fills the outputs with NaN, if s is negative or not
// finite or a is invalid (see ValidateLearnableLossParameters).
bool EvaluateLearnableLoss(LearnableLossType type,
                           double s,
                           double a,
                           double rho[3],
                           double drho_da[2] = nullptr);

// OK if a can be used as the scale of a learnable loss: a is finite and a^2 is
// a positive normal double (1.5e-154 <= |a| <= 1.3e154). kInvalidArgument
// with a message otherwise.
Status ValidateLearnableLossParameters(double a);

// As above, and the weight m must be positive and finite.
Status ValidateLearnableLossParameters(double a, double m);

// The robustified cost function r~ = sqrt(m rho(s; a) / s) r; see the file
// comment. The parameter block sizes are the wrapped cost function's, then 1
// (the scale a), then 1 (the weight m) if has_weight_block; the number of
// residuals is the wrapped cost function's. They are read once, at
// construction: configure a DynamicCostFunction (AddParameterBlock,
// SetNumResiduals) before wrapping it.
//
// Evaluate is thread-safe if the wrapped cost function's is, and allocates
// nothing: the wrapped Jacobians are written into the caller's arrays and
// transformed in place.
class LearnableLossCostFunction final : public ceres::CostFunction {
 public:
  // Takes ownership of cost_function if ownership is TAKE_OWNERSHIP.
  // cost_function must not be null and must have at least one residual.
  LearnableLossCostFunction(ceres::CostFunction* cost_function,
                            LearnableLossType type,
                            bool has_weight_block = false,
                            ceres::Ownership ownership = ceres::TAKE_OWNERSHIP);
  ~LearnableLossCostFunction() override;

  LearnableLossCostFunction(const LearnableLossCostFunction&) = delete;
  LearnableLossCostFunction& operator=(const LearnableLossCostFunction&) =
      delete;

  bool Evaluate(double const* const* parameters,
                double* residuals,
                double** jacobians) const override;

  // Evaluate, and also copies of what the wrapped cost function returned
  // before the loss was folded in: its residuals r into wrapped_residuals
  // (num_residuals entries) and, for each wrapped block b with both
  // jacobians[b] and wrapped_jacobians[b] not null, J = dr/dp_b into
  // wrapped_jacobians[b] (wrapped_jacobians may be null). One evaluation of
  // the wrapped cost function serves both, for code that differentiates
  // through the loss analytically (MinimiserDerivative's exact Hessian).
  // The outputs of Evaluate are bit-identical to a plain Evaluate.
  bool EvaluateWithWrapped(double const* const* parameters,
                           double* residuals,
                           double** jacobians,
                           double* wrapped_residuals,
                           double* const* wrapped_jacobians) const;

  // OK if parameters[scale_block_index()][0] (and the weight, if any) are
  // valid; see ValidateLearnableLossParameters. Does not evaluate anything.
  Status ValidateParameters(double const* const* parameters) const;

  LearnableLossType type() const { return type_; }
  bool has_weight_block() const { return has_weight_block_; }
  // n, the number of wrapped parameter blocks.
  int num_wrapped_parameter_blocks() const { return num_wrapped_blocks_; }
  // n: the index of the scale block a.
  int scale_block_index() const { return num_wrapped_blocks_; }
  // n + 1 with a weight block, -1 without.
  int weight_block_index() const {
    return has_weight_block_ ? num_wrapped_blocks_ + 1 : -1;
  }
  const ceres::CostFunction& wrapped_cost_function() const {
    return *cost_function_;
  }

 private:
  std::unique_ptr<ceres::CostFunction> cost_function_;
  const LearnableLossType type_;
  const bool has_weight_block_;
  const ceres::Ownership ownership_;
  const int num_wrapped_blocks_;
};

}  // namespace ceres_wiberg

#endif  // CERES_WIBERG_LEARNABLE_LOSS_H_
