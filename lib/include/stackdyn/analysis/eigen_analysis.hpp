// Linearisation of a stack at a state (docs/design.md sections 3, 4): eigenvalues of the
// Jacobian of the dynamics, right and left eigenvectors of the top modes, the number of
// unstable directions, timescales and periods.
//
//   | method  | how                                                                      |
//   |---------|--------------------------------------------------------------------------|
//   | full    | LAPACK's dgeev (OpenBLAS) on the dense Jacobian: eigenvalues, right and  |
//   |         | left eigenvectors                                                        |
//   | block   | the Jacobian is block lower-triangular in layers, so its spectrum is the |
//   |         | union of the diagonal blocks' spectra (dgeev per block): O(sum n_l^3)    |
//   |         | instead of O((sum n_l)^3); vectors of the top modes by substitution      |
//   |         | through the layers (below)                                               |
//   | spectra | Spectra::GenEigsSolver, the top k by magnitude or real part: on each     |
//   |         | layer's diagonal block (dense, one n_l x n_l product a step; dgeev for a |
//   |         | block too small for Arnoldi), merged (the top k of a block-triangular J  |
//   |         | are the top k of the union of the blocks' top k); vectors of the top     |
//   |         | modes by the block method's substitution. spectra_per_block = false:     |
//   |         | Arnoldi through the whole stack's Jacobian-vector product instead (left  |
//   |         | vectors through the vector-Jacobian product)                             |
//
// Conventions: right v with J v = lambda v, |v|_2 = 1; left w with w^T J = lambda w^T,
// w^T v = 1 (no conjugation), so that w^T ds is the coordinate of a perturbation ds on the
// mode. Eigenvalues are sorted by `which`, ties broken by imaginary part (descending).
//
// Block method, vectors. An eigenvalue lambda of layer l's block A_ll, with the block's own
// vectors v_l, w_l, has the right eigenvector x of J: zero in layers below l, v_l in layer
// l, and in each layer m above, by forward substitution,
//     (lambda I - A_mm) x_m = sum_{k<m} J_mk x_k          (the sum: one Jacobian-vector product)
// and the left eigenvector y: zero above l, w_l in layer l, and below, upwards from l - 1,
//     (lambda I - A_mm)^T y_m = sum_{k>m} J_km^T y_k      (one vector-Jacobian product).
// Normalised as the full method's: |x|_2 = 1, y^T x = 1 (= y_l^T x_l). Each shifted block
// is solved by LU (LAPACK's zgesv), O(n_m^3) per layer per mode; the conjugate partner of a
// complex pair takes its pair's conjugated vectors. Repeated across layers: when lambda is also
// within `repeated_tol` (relative) of an eigenvalue of a block it is substituted through,
// that system is singular; the minimum-norm least-squares solution (complete orthogonal
// decomposition) is used and `Spectrum::repeated` is set for the mode. If the right-hand
// side lies in the range (the coupling does not reach that block's mode) the result is an
// exact eigenvector (one of a family: any multiple of the other layer's vector can be
// added); if not, lambda is defective in J (a Jordan chain across the layers), no
// eigenvector of that shape exists, and the returned vector's residual |J x - lambda x|
// says by how much it misses. The eigenvector for which lambda is the *other* layer's own
// eigenvalue is always exact (it is that layer's mode).
#pragma once
#include <stackdyn/analysis/fixed_points.hpp>
#include <stackdyn/core/lapack.hpp>

#include <string_view>
#include <vector>

namespace stackdyn {

enum class EigenMethod { Auto, Full, Block, Spectra };
std::string_view eigen_method_name(EigenMethod m);  ///< auto, full, block, spectra
EigenMethod parse_eigen_method(std::string_view name, std::string_view where);

enum class EigenOrder { LargestMagnitude, LargestReal };
std::string_view eigen_order_name(EigenOrder w);  ///< "magnitude", "real"
EigenOrder parse_eigen_order(std::string_view name, std::string_view where);
/// The natural order of a view: |lambda| for the discrete map, Re lambda for the flow.
inline EigenOrder natural_order(TimeView v) {
  return v == TimeView::Discrete ? EigenOrder::LargestMagnitude : EigenOrder::LargestReal;
}

struct EigenOptions {
  EigenMethod method = EigenMethod::Auto;
  EigenOrder which = EigenOrder::LargestMagnitude;
  int top_k = 20;            ///< eigenvalues kept by spectra (and by auto beyond full_limit)
  int n_vectors = 3;         ///< top modes whose right and left eigenvectors are computed
  int full_limit = 1000;     ///< auto: full solve up to this state_dim, spectra beyond
  bool block_spectra = true; ///< also compute each layer's block spectrum
  double spectra_tol = 1e-10;
  int spectra_ncv = 0;       ///< Krylov subspace size; 0 = max(5k, k + 40): clustered spectra need room
  int spectra_max_iters = 1000;
  /// spectra: Arnoldi per diagonal block (true), or matrix-free through the whole stack's
  /// Jacobian-vector product (false; slower: every product streams every layer's weights)
  bool spectra_per_block = true;
  /// block: lambda counts as repeated in another layer's block when within this (relative)
  double repeated_tol = 1e-10;
  /// A mode is defective when its unit right and left vectors have |w^H v| below this
  /// (see Spectrum::defective).
  double defective_tol = default_defective_tol;
};

struct Spectrum {
  EigenMethod method = EigenMethod::Full;
  Eigen::VectorXcd eigenvalues;  ///< sorted by `which`; all of them, or the top k
  bool complete = true;          ///< false when only the top k were computed
  Eigen::MatrixXcd right, left;  ///< columns: the first n_vectors modes
  /// Discrete: |lambda| > 1 + 1e-12; continuous: Re lambda > 1e-12. A lower bound when
  /// the spectrum is not complete and every computed eigenvalue was unstable.
  int n_unstable = 0;
  /// Per eigenvalue (docs/design.md 4). Discrete (steps): tau = -1/ln|lambda|, period 2 pi/|arg lambda|.
  /// Continuous (time units): tau = -1/Re lambda, period 2 pi/|Im lambda|. +inf where the
  /// formula divides by zero (no decay, no rotation); negative tau = growth.
  Eigen::VectorXd timescales, periods;
  /// Each layer's diagonal block of J_dyn, its eigenvalues sorted by `which`.
  std::vector<Eigen::VectorXcd> block_eigenvalues;
  /// Block (and spectra per block), per vector mode: lambda was (numerically) also an eigenvalue of another
  /// layer's block on the substitution path, and a least-squares solve was used (see above).
  std::vector<bool> repeated;
  /// Per vector mode: the eigenvalue is numerically defective (a Jordan block: the unit right
  /// and left vectors are orthogonal to within `defective_tol`), so no left vector with
  /// w^T v = 1 exists; both of the mode's vectors are NaN.
  std::vector<bool> defective;
  /// Spectra only: converged eigenvalues out of the k requested.
  int converged = 0;
  EigenOrder which = EigenOrder::LargestMagnitude;  ///< the order of `eigenvalues` (and what spectra kept)
};

/// What a spectrum says of stability. A complete one decides. A top-k one decides when it
/// is ordered by the view's own criterion (|lambda| for the map, Re lambda for the flow) and
/// its leading eigenvalue converged, since the top k then hold the least stable eigenvalues;
/// any unstable eigenvalue among those computed decides too.
enum class Stability { Stable, Unstable, Undecided };
Stability stability(const Spectrum& sp, TimeView view);
/// Whether n_unstable counts every unstable direction: a complete spectrum, or a top-k one
/// ordered by the view's criterion whose converged part reaches a stable eigenvalue.
bool n_unstable_exact(const Spectrum& sp, TimeView view);

/// The analysis of J_dyn at state s (any state, not only a fixed point).
Spectrum analyse_spectrum(const FixedPointSystem& sys, const Eigen::Ref<const VectorXd>& s, const EigenOptions& o);

/// Sorts eigenvalues (and, if given, the matching columns) by `which`, largest first.
std::vector<int> eigen_order(const Eigen::VectorXcd& lambda, EigenOrder which);
/// n_unstable for eigenvalues of a view.
int count_unstable(const Eigen::VectorXcd& lambda, TimeView view);
/// Timescales and periods of eigenvalues of a view (docs/design.md 4).
void timescales(const Eigen::VectorXcd& lambda, TimeView view, Eigen::VectorXd& tau, Eigen::VectorXd& period);
/// The continuous reading of a discrete block eigenvalue: (lambda - 1) / tau_l, and back.
inline std::complex<double> continuous_from_discrete(std::complex<double> lambda, double tau) {
  return (lambda - 1.0) / tau;
}
inline std::complex<double> discrete_from_continuous(std::complex<double> lambda, double tau) {
  return 1.0 + tau * lambda;
}

/// Matrix operations (Spectra's concept: rows(), cols(), perform_op(x_in, y_out)) for J_dyn
/// and its transpose at a linearisation, through jvp / vjp.
class JacobianOp {
 public:
  using Scalar = double;
  JacobianOp(const FixedPointSystem& sys, const FixedPointSystem::Linearization& lin, bool transpose)
      : sys_(&sys), lin_(&lin), transpose_(transpose) {}
  Eigen::Index rows() const { return sys_->dim(); }
  Eigen::Index cols() const { return sys_->dim(); }
  void perform_op(const double* x_in, double* y_out) const;

 private:
  const FixedPointSystem* sys_;
  const FixedPointSystem::Linearization* lin_;
  bool transpose_;
};

}  // namespace stackdyn
