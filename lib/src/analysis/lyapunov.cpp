// Lyapunov spectra by repeated QR of tangent products (see lyapunov.hpp). Each trajectory is
// independent (its own tangent basis and sums), so samples run in parallel; the batch mean
// and the running estimate are formed afterwards from each sample's recorded sums.
#include <stackdyn/analysis/lyapunov.hpp>
#include <stackdyn/core/error.hpp>
#include <stackdyn/core/format.hpp>
#include <stackdyn/core/parallel.hpp>
#include <stackdyn/core/random.hpp>
#include <stackdyn/model/stack.hpp>

#include <Eigen/Cholesky>
#include <Eigen/QR>

#include <boost/numeric/odeint/stepper/controlled_runge_kutta.hpp>
#include <boost/numeric/odeint/stepper/generation.hpp>
#include <boost/numeric/odeint/stepper/runge_kutta_dopri5.hpp>
#include <boost/numeric/odeint/external/eigen/eigen.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <sstream>
#include <variant>

namespace stackdyn {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Between two QRs the basis columns grow at rates exp(lambda_i dt): once the spread of
// log|R_ii| passes about 36 nats (1/eps), the small directions are lost to rounding, and
// CholeskyQR2 needs cond below about 1e8 (18 nats). An interval whose QR shows a spread
// above this bound is redone from the previous QR with half the interval (docs/probes.md).
constexpr double kMaxLogSpread = 16;
// The continuous view halves at most this often per trajectory (a factor 2^-60).
constexpr int kMaxHalvings = 60;


// Thin QR in place by CholeskyQR: G = Q^T Q = R^T R (Cholesky), Q <- Q R^-1; a second pass
// (CholeskyQR2) restores orthogonality to rounding when the first R's diagonal spreads over
// more than 1e3 (cond(Q) below about 1e8 is needed; a basis re-orthonormalised every few
// steps is far from that). Three matrix-matrix products per
// pass instead of Householder's vector operations. Falls back to Householder when a
// Cholesky factor fails or a diagonal is not positive. No allocation per call once sized.
class InPlaceQR {
 public:
  // llt_ factors the identity once, so that its status is set before the object is moved
  InPlaceQR(int m, int n) : G_(n, n), llt_(MatrixXd::Identity(n, n)), hh_(m, n), logs_(n) {}
  // Q (m x n) <- its Q factor; log|R_ii| added to sums when given.
  void run(Eigen::Ref<MatrixXd> Q, VectorXd* sums) {
    logs_.setZero();
    bool ok = true;
    for (int pass = 0; pass < 2 && ok; ++pass) {
      if (pass == 1 && well_conditioned_) break;
      G_.setZero();
      G_.selfadjointView<Eigen::Lower>().rankUpdate(Q.transpose());
      llt_.compute(G_);
      ok = llt_.info() == Eigen::Success && (llt_.matrixLLT().diagonal().array() > 0).all();
      if (!ok) break;
      llt_.matrixU().solveInPlace<Eigen::OnTheRight>(Q);
      const auto d = llt_.matrixLLT().diagonal();
      logs_ += d.array().log().matrix();
      // One pass leaves Q orthonormal to about eps cond(R)^2; the diagonal's spread bounds
      // cond(R) from below, so a second pass is made when it is not small.
      if (pass == 0) well_conditioned_ = d.maxCoeff() < 1e3 * d.minCoeff();
    }
    if (!ok) householder(Q);  // Q holds a basis of the same span; its first pass's R is in logs_
    if (sums != nullptr) *sums += logs_;
  }
  // log|R_ii| of the last run.
  const VectorXd& logs() const { return logs_; }
  // The spread max - min of log|R_ii| of the last run: how far the columns' growth rates
  // drew apart since the previous QR (0 for one column).
  double spread() const { return logs_.size() > 1 ? logs_.maxCoeff() - logs_.minCoeff() : 0.0; }

 private:
  void householder(Eigen::Ref<MatrixXd> Q) {
    hh_.compute(Q);
    for (Eigen::Index i = 0; i < Q.cols(); ++i) logs_(i) += std::log(std::abs(hh_.matrixQR()(i, i)));
    Q.setIdentity();
    hh_.householderQ().applyThisOnTheLeft(Q, work_);
  }

  MatrixXd G_;
  Eigen::LLT<MatrixXd> llt_;
  Eigen::HouseholderQR<MatrixXd> hh_;
  VectorXd logs_, work_;
  bool well_conditioned_ = false;
};

// The tangent bases of one trajectory: an N x K basis for the spectrum (K may be 0) and, with
// `layer_cols` (one entry per layer, or empty), each layer's own n_l x k_l basis, carried by
// the layer's diagonal block A_ll alone.
class Tangents {
 public:
  Tangents(const Stack& stack, int K, const std::vector<int>& layer_cols, std::uint64_t seed)
      : slices_(stack.slices()), N_(stack.state_dim()), K_(K), layers_(!layer_cols.empty()), T_(N_, K), qr_(N_, K),
        sums_(VectorXd::Zero(K)) {
    // A random start: a coordinate basis can sit in an invariant subspace (the top layer's
    // coordinates are one, for a block lower-triangular Jacobian).
    Rng rng(seed);
    for (Eigen::Index i = 0; i < T_.size(); ++i) T_.data()[i] = rng.normal();
    if (layers_) {
      for (std::size_t l = 0; l < slices_.size(); ++l) {
        const int n = slices_[l].size, k = layer_cols[l];
        // all columns: the identity (any basis of the whole layer serves); fewer: random
        layer_.push_back(MatrixXd::Identity(n, k));
        if (k < n)
          for (Eigen::Index i = 0; i < layer_.back().size(); ++i) layer_.back().data()[i] = rng.normal();
        layer_tmp_.emplace_back(n, k);
        blocks_.emplace_back(n, n);
        layer_qr_.emplace_back(n, k);
        layer_sums_.push_back(VectorXd::Zero(k));
      }
    }
    orthonormalise();
  }

  bool layers() const { return layers_; }
  MatrixXd& basis() { return T_; }
  MatrixXd& layer_basis(std::size_t l) { return layer_[l]; }
  // Size of the tangent state (the spectrum's basis and the layers').
  Eigen::Index size() const {
    Eigen::Index n = T_.size();
    for (const auto& B : layer_) n += B.size();
    return n;
  }

  // The layers' own blocks A_ll at `lin` (the cells' direct formulas, into preallocated
  // matrices: cheaper than the whole dense Jacobian).
  const std::vector<MatrixXd>& diagonal_blocks(const Stack& stack, const Stack::Linearization& lin) {
    for (std::size_t l = 0; l < layer_.size(); ++l)
      std::visit([&](const auto& cell) { cell.jacobian_state(lin.ws.trace[l], blocks_[l]); },
                 stack.cell(static_cast<int>(l)));
    return blocks_;
  }
  // Each layer basis <- A_ll B (discrete map).
  void advance_layers(const Stack& stack, const Stack::Linearization& lin) {
    diagonal_blocks(stack, lin);
    for (std::size_t l = 0; l < layer_.size(); ++l) {
      layer_tmp_[l].noalias() = blocks_[l] * layer_[l];
      layer_[l].swap(layer_tmp_[l]);
    }
  }

  // Q R = basis; basis = Q. Returns the largest spread of log|R_ii| over the bases (see
  // kMaxLogSpread); count() then adds the log|R_ii| to the sums.
  double orthonormalise() {
    double spread = 0;
    if (K_ > 0) {
      qr_.run(T_, nullptr);
      spread = qr_.spread();
    }
    for (std::size_t l = 0; l < layer_.size(); ++l) {
      layer_qr_[l].run(layer_[l], nullptr);
      spread = std::max(spread, layer_qr_[l].spread());
    }
    return spread;
  }
  void count() {
    if (K_ > 0) sums_ += qr_.logs();
    for (std::size_t l = 0; l < layer_.size(); ++l) layer_sums_[l] += layer_qr_[l].logs();
  }
  // The bases as they are now (orthonormal, after a QR), to return to with restore().
  void save() {
    saved_T_ = T_;
    saved_layer_ = layer_;
  }
  void restore() {
    T_ = saved_T_;
    layer_ = saved_layer_;
  }

  // The sums the spectrum is read from: the whole basis's, or (no whole basis) the layers'
  // one after the other, whose union it is.
  VectorXd sums() const {
    if (K_ > 0) return sums_;
    Eigen::Index n = 0;
    for (const auto& v : layer_sums_) n += v.size();
    VectorXd all(n);
    n = 0;
    for (const auto& v : layer_sums_) {
      all.segment(n, v.size()) = v;
      n += v.size();
    }
    return all;
  }
  const std::vector<VectorXd>& layer_sums() const { return layer_sums_; }

 private:
  const std::vector<StateSlice>& slices_;
  int N_, K_;
  bool layers_;
  MatrixXd T_;
  InPlaceQR qr_;
  std::vector<MatrixXd> layer_, layer_tmp_, blocks_;
  MatrixXd saved_T_;
  std::vector<MatrixXd> saved_layer_;
  std::vector<InPlaceQR> layer_qr_;
  VectorXd sums_;
  std::vector<VectorXd> layer_sums_;
};

// The layer holding the first non-finite entry of s, or -1.
int first_nonfinite_layer(const Stack& stack, const Eigen::Ref<const VectorXd>& s) {
  for (int l = 0; l < stack.num_layers(); ++l) {
    const auto& sl = stack.slices()[static_cast<std::size_t>(l)];
    if (!s.segment(sl.offset, sl.size).allFinite()) return l;
  }
  return -1;
}

// The schedule shared by both views, in steps or time units from the start: re-orthonormalise
// at multiples of `every`, at the end of the transient, at every record and at the end.
struct Schedule {
  double transient, length, every, record;
  double total() const { return transient + length; }
  static double next_multiple(double t, double step, double origin) {
    const double tol = 1e-9 * std::max(1.0, std::abs(t));
    return origin + step * (std::floor((t - origin + tol) / step) + 1);
  }
  // The first event after t.
  double next_event(double t) const {
    double e = std::min(next_multiple(t, every, 0.0), total());
    if (t < transient - 1e-9 * std::max(1.0, t)) e = std::min(e, transient);
    if (t >= transient - 1e-9 * std::max(1.0, t)) e = std::min(e, next_multiple(t, record, transient));
    return e;
  }
  bool measuring(double t) const { return t > transient + 1e-9 * std::max(1.0, t); }
  bool is_record(double t) const {
    if (!measuring(t)) return false;
    const double m = (t - transient) / record;
    return std::abs(m - std::round(m)) < 1e-9 * std::max(1.0, m) || std::abs(t - total()) < 1e-9 * std::max(1.0, t);
  }
};

// What one trajectory leaves: its sums at each record, and the layers' sums at the end.
struct SampleRun {
  std::vector<VectorXd> records;  // sums at each record
  std::vector<VectorXd> layer_sums;
  long long rhs = 0;
  double every = 0;     // the re-orthonormalisation interval at the end
  int halvings = 0;     // times it was halved
  double spread = 0;    // the largest spread of log|R_ii| of an accepted QR
  double volume = kNaN;  // continuous, all exponents: the integral of tr(dG/ds - I)/tau over the window
};

// Bookkeeping at an event time: QR; when its spread of log|R_ii| passes kMaxLogSpread and
// `can_halve`, false (the caller returns to the previous QR and halves the interval); else
// counting when in the measured window, a record, and true.
bool at_event(Tangents& tg, const Schedule& sc, double t, SampleRun& run, bool can_halve) {
  const double spread = tg.orthonormalise();
  if (spread > kMaxLogSpread && can_halve) {
    ++run.halvings;
    return false;
  }
  run.spread = std::max(run.spread, spread);
  if (sc.measuring(t)) {
    tg.count();
    if (sc.is_record(t)) run.records.push_back(tg.sums());
  }
  return true;
}

SampleRun run_discrete(const Stack& stack, const InputSignal& input_proto, const VectorXd& s0, int b, int K,
                       const std::vector<int>& layer_cols, Schedule sc, std::uint64_t seed) {
  InputSignal input = input_proto;  // its caches are not shared between threads
  const int N = stack.state_dim(), d = stack.input_size();
  const bool layers = !layer_cols.empty();
  Tangents tg(stack, K, layer_cols, seed);
  MatrixXd X(d, input.batch()), dX = MatrixXd::Zero(d, K), next(N, K);
  VectorXd s = s0;
  Stack::Linearization lin = stack.linearize(VectorXd::Zero(d), s);
  SampleRun run;
  const auto total = static_cast<long long>(std::llround(sc.total()));
  double next_event = sc.next_event(0);
  // The last accepted QR, to return to (only while the interval can be halved: not at 1).
  long long saved_n = 0;
  VectorXd saved_s = s;
  if (sc.every > 1) tg.save();
  for (long long n = 0; n < total; ++n) {
    input.at_step(n, X);
    stack.linearize(X.col(b), s, lin);
    if (const int l = first_nonfinite_layer(stack, lin.s_next); l >= 0)
      throw RunError("the trajectory left the finite numbers at step " + std::to_string(n + 1) + " in layer " +
                     std::to_string(l) + " (sample " + std::to_string(b) + ")");
    if (K > 0) {
      stack.jvp(lin, dX, tg.basis(), next);
      tg.basis().swap(next);
    }
    if (layers) tg.advance_layers(stack, lin);
    s = lin.s_next;
    const auto t = static_cast<double>(n + 1);
    if (t >= next_event - 1e-9) {
      if (!at_event(tg, sc, t, run, sc.every > 1)) {
        sc.every = std::max(1.0, std::floor(sc.every / 2));
        tg.restore();
        s = saved_s;
        n = saved_n - 1;  // the loop's ++n
        next_event = sc.next_event(static_cast<double>(saved_n));
        continue;
      }
      if (sc.every > 1) {
        tg.save();
        saved_s = s;
        saved_n = n + 1;
      }
      next_event = sc.next_event(t);
    }
  }
  run.layer_sums = tg.layer_sums();
  run.every = sc.every;
  return run;
}

namespace odeint = boost::numeric::odeint;

// The continuous view with its variational equations, for one trajectory: the state
// y = [s; vec(Q); vec(Q_1); ...; vec(Q_L); (v)] (Q the spectrum's tangent basis, Q_l the layers'
// own, each column by column), dQ/dt = T^-1 (J_G Q - Q), dQ_l/dt = (A_ll Q_l - Q_l) / tau_l;
// with `volume`, dv/dt = sum_l tr(A_ll - I)/tau_l = tr(T^-1 (dG/ds - I)) (dG/ds is block
// lower-triangular), whose mean the sum of all exponents equals.
class Variational {
 public:
  Variational(const Stack& stack, const InputSignal& input, int b, const VectorXd& inv_tau, int K, bool layers,
              bool volume, Tangents& tg)
      : stack_(stack), input_(input), b_(b), inv_tau_(inv_tau), N_(stack.state_dim()), K_(K), layers_(layers),
        volume_(volume), tg_(tg),
        X_(stack.input_size(), input.batch()), dX_(MatrixXd::Zero(stack.input_size(), K)), JQ_(N_, K),
        lin_(stack.linearize(VectorXd::Zero(stack.input_size()), VectorXd::Zero(N_))) {}

  void hold_at(double t) { hold_ = t; }
  void operator()(const VectorXd& y, VectorXd& dy, double t) {
    ++rhs_;
    input_.at(t, hold_, X_);
    const Eigen::Map<const VectorXd> s(y.data(), N_);
    const Eigen::Map<const MatrixXd> Q(y.data() + N_, N_, K_);
    stack_.linearize(X_.col(b_), s, lin_);
    Eigen::Map<VectorXd>(dy.data(), N_) = inv_tau_.cwiseProduct(lin_.s_next - s);
    if (K_ > 0) {
      stack_.jvp(lin_, dX_, Q, JQ_);
      Eigen::Map<MatrixXd>(dy.data() + N_, N_, K_) = inv_tau_.asDiagonal() * (JQ_ - Q);
    }
    if (!layers_) return;
    const auto& A = tg_.diagonal_blocks(stack_, lin_);
    Eigen::Index at = N_ + static_cast<Eigen::Index>(N_) * K_;
    double volume = 0;
    for (std::size_t l = 0; l < A.size(); ++l) {
      const auto& sl = stack_.slices()[l];
      const Eigen::Index k = tg_.layer_basis(l).cols();
      const Eigen::Map<const MatrixXd> Ql(y.data() + at, sl.size, k);
      Eigen::Map<MatrixXd> dQl(dy.data() + at, sl.size, k);
      dQl.noalias() = A[l] * Ql;
      dQl = inv_tau_(sl.offset) * (dQl - Ql);
      at += static_cast<Eigen::Index>(sl.size) * k;
      volume += inv_tau_(sl.offset) * (A[l].trace() - sl.size);
    }
    if (volume_) dy(at) = volume;
  }
  long long rhs() const { return rhs_; }

 private:
  const Stack& stack_;
  const InputSignal& input_;
  int b_;
  const VectorXd& inv_tau_;
  int N_, K_;
  bool layers_, volume_;
  Tangents& tg_;  // for its block buffers
  MatrixXd X_, dX_, JQ_;
  Stack::Linearization lin_;
  double hold_ = 0;
  long long rhs_ = 0;
};

// dopri5's error norm for [s; tangent bases]: the state's components as odeint's default
// (atol + rtol (|x| + dt |dx/dt|)), each tangent column relative to its own size (rtol (max|x|
// + dt max|dx/dt|) over the column) with no absolute part. The columns shrink at their
// exponents' rates; under an absolute tolerance step control would stop following them.
class TangentErrorChecker {
 public:
  using value_type = double;
  TangentErrorChecker() = default;
  // blocks: (rows, columns) of each basis after the N state components, in order
  TangentErrorChecker(double atol, double rtol, Eigen::Index N, std::vector<std::pair<Eigen::Index, Eigen::Index>> blocks)
      : atol_(atol), rtol_(rtol), N_(N), blocks_(std::move(blocks)) {}
  template <class Algebra>
  double error(Algebra& /*algebra*/, const VectorXd& x, const VectorXd& dxdt, VectorXd& err, double dt) const {
    const double adt = std::abs(dt);
    const auto n = Eigen::seqN(0, N_);
    double worst = (err(n).array().abs() / (atol_ + rtol_ * (x(n).array().abs() + adt * dxdt(n).array().abs()))).maxCoeff();
    Eigen::Index at = N_;
    for (const auto& [rows, cols] : blocks_)
      for (Eigen::Index j = 0; j < cols; ++j, at += rows) {
        const auto c = Eigen::seqN(at, rows);
        const double size = rtol_ * (x(c).cwiseAbs().maxCoeff() + adt * dxdt(c).cwiseAbs().maxCoeff());
        const double e = err(c).cwiseAbs().maxCoeff();
        if (e > 0) worst = std::max(worst, e / std::max(size, std::numeric_limits<double>::min()));
      }
    for (; at < x.size(); ++at)  // the volume, as the state
      worst = std::max(worst, std::abs(err(at)) / (atol_ + rtol_ * (std::abs(x(at)) + adt * std::abs(dxdt(at)))));
    return worst;
  }

 private:
  double atol_ = 0, rtol_ = 0;
  Eigen::Index N_ = 0;
  std::vector<std::pair<Eigen::Index, Eigen::Index>> blocks_;
};

// Moves the tangent bases between the integrator's vector (after the state) and `tg`.
void tangents_to_vector(Tangents& tg, const Stack& stack, VectorXd& y, bool to_vector) {
  const int N = stack.state_dim();
  auto move = [&](MatrixXd& B, Eigen::Index at) {
    Eigen::Map<MatrixXd> v(y.data() + at, B.rows(), B.cols());
    if (to_vector)
      v = B;
    else
      B = v;
    return at + B.size();
  };
  Eigen::Index at = move(tg.basis(), N);
  if (tg.layers())
    for (std::size_t l = 0; l < stack.slices().size(); ++l) at = move(tg.layer_basis(l), at);
}

SampleRun run_continuous(const Stack& stack, const InputSignal& input_proto, const VectorXd& s0, int b, int K,
                         const std::vector<int>& layer_cols, Schedule sc, const LyapunovOptions& o,
                         const VectorXd& inv_tau, std::uint64_t seed) {
  InputSignal input = input_proto;
  const int N = stack.state_dim();
  const bool layers = !layer_cols.empty();
  Tangents tg(stack, K, layer_cols, seed);
  // all exponents (the layers' bases together span the tangent space): their sum's check
  Eigen::Index all = 0;
  for (int c : layer_cols) all += c;
  const bool volume = all == N;
  Variational sys(stack, input, b, inv_tau, K, layers, volume, tg);
  VectorXd y = VectorXd::Zero(N + tg.size() + (volume ? 1 : 0));
  y.head(N) = s0;
  double volume_start = 0;  // v at the end of the transient
  tangents_to_vector(tg, stack, y, true);
  std::vector<std::pair<Eigen::Index, Eigen::Index>> blocks;
  if (K > 0) blocks.emplace_back(N, K);
  if (layers)
    for (std::size_t l = 0; l < stack.slices().size(); ++l) blocks.emplace_back(tg.layer_basis(l).rows(), tg.layer_basis(l).cols());
  using Dopri5 = odeint::runge_kutta_dopri5<VectorXd, double, VectorXd, double, odeint::vector_space_algebra>;
  odeint::controlled_runge_kutta<Dopri5, TangentErrorChecker> ctl(TangentErrorChecker(o.atol, o.rtol, N, blocks));
  SampleRun run;
  double t = 0, dt = std::min(o.dt, sc.total());
  // The last accepted QR, to return to when the next one shows too wide a spread.
  VectorXd saved_y = y;
  double saved_t = 0;
  while (t < sc.total() - 1e-12 * std::max(1.0, sc.total())) {
    const double event = sc.next_event(t);
    // Integrate to the event in stretches that never cross a jump of the input; each
    // stretch restarts the derivative (the piecewise-constant parts are held at its start).
    while (t < event - 1e-12 * std::max(1.0, event)) {
      const double stop = std::min(event, input.next_break(t));
      sys.hold_at(t);
      ctl.reset();
      while (t < stop - 1e-12 * std::max(1.0, stop)) {
        const double wanted = dt;
        const bool clamped = t + dt > stop - 1e-12 * std::max(1.0, stop);
        if (clamped) dt = stop - t;
        if (ctl.try_step(std::ref(sys), y, t, dt) == odeint::fail) {
          if (!(dt > 1e-14 * std::max(1.0, std::abs(t))))
            throw RunError("step size underflow at t = " + format_number(t) + " (sample " + std::to_string(b) +
                           ", dopri5 with the variational equations): the system is too stiff for the tolerances");
          continue;
        }
        if (const int l = first_nonfinite_layer(stack, y.head(N)); l >= 0)
          throw RunError("the trajectory left the finite numbers at t = " + format_number(t) + " in layer " +
                         std::to_string(l) + " (sample " + std::to_string(b) + ")");
        if (clamped) {
          t = stop;
          dt = std::max(dt, wanted);
        }
      }
    }
    t = event;
    tangents_to_vector(tg, stack, y, false);
    if (!at_event(tg, sc, t, run, run.halvings < kMaxHalvings)) {
      sc.every /= 2;
      y = saved_y;
      t = saved_t;
      continue;
    }
    tangents_to_vector(tg, stack, y, true);
    saved_y = y;
    saved_t = t;
    if (volume && !sc.measuring(t)) volume_start = y(y.size() - 1);
  }
  if (volume) run.volume = y(y.size() - 1) - volume_start;
  run.layer_sums = tg.layer_sums();
  run.rhs = sys.rhs();
  run.every = sc.every;
  return run;
}

// Descending copy.
VectorXd sorted_descending(const VectorXd& v) {
  VectorXd r = v;
  std::sort(r.data(), r.data() + r.size(), std::greater<>());
  return r;
}

}  // namespace

void LyapunovOptions::validate(const Model& model, const std::string& where) const {
  const int N = model.state_dim();
  if (model.bidirectional)
    throw InputError(where + ": the model is bidirectional; Lyapunov spectra need a causal (unidirectional) model");
  if (k < 0 || k > N)
    throw InputError(where + ": k = " + std::to_string(k) + " exponents, but the state has " + std::to_string(N) +
                     " dimensions; expected 1 <= k <= " + std::to_string(N));
  const char* unit = view == TimeView::Discrete ? " steps" : " time units";
  auto positive = [&](double v, const char* what) {
    if (!(v > 0) || !std::isfinite(v))
      throw InputError(where + ": " + what + " = " + format_number(v) + "; expected a positive number of" + unit);
  };
  positive(length, view == TimeView::Discrete ? "steps" : "t_end");
  positive(reorthonormalize_every, "reorthonormalize_every");
  if (record_every != 0) positive(record_every, "record_every");
  if (!(transient >= 0) || !std::isfinite(transient))
    throw InputError(where + ": transient = " + format_number(transient) + "; expected zero or more" + unit);
  if (view == TimeView::Discrete) {
    auto whole = [&](double v, const char* what) {
      if (v != std::floor(v)) throw InputError(where + ": " + what + " = " + format_number(v) + "; expected a whole number of steps");
    };
    whole(length, "steps");
    whole(transient, "transient");
    whole(reorthonormalize_every, "reorthonormalize_every");
    whole(record_every, "record_every");
  }
  if (tau.size() != 1 && static_cast<int>(tau.size()) != model.num_layers())
    throw InputError(where + ": " + std::to_string(tau.size()) + " time constants for " +
                     std::to_string(model.num_layers()) + " layers; expected one or one per layer");
  for (double v : tau)
    if (!(v > 0)) throw InputError(where + ": tau = " + format_number(v) + "; expected positive time constants");
}

double kaplan_yorke_dimension(const VectorXd& l, int state_dim) {
  if (l.size() == 0) return kNaN;
  if (l(0) < 0) return 0.0;
  double sum = 0;
  for (Eigen::Index j = 0; j < l.size(); ++j) {
    if (sum + l(j) < 0) return static_cast<double>(j) + sum / std::abs(l(j));
    sum += l(j);
  }
  return l.size() == state_dim ? static_cast<double>(state_dim) : kNaN;
}

LyapunovResult lyapunov_spectrum(const Model& model, const InputSpec& spec, const MatrixXd& S0,
                                 const LyapunovOptions& o) {
  o.validate(model, "lyapunov");
  const bool discrete = o.view == TimeView::Discrete;
  const Stack stack(model, discrete ? Coupling::Sequential : Coupling::Simultaneous);
  const int N = stack.state_dim(), L = stack.num_layers();
  const int B = static_cast<int>(S0.cols());
  if (S0.rows() != N || B < 1)
    throw InputError("lyapunov: initial states of shape (" + std::to_string(S0.cols()) + ", " +
                     std::to_string(S0.rows()) + "); expected (batch >= 1, state_dim = " + std::to_string(N) + ")");
  const InputSignal input(spec, model.input_size, B, "lyapunov input");
  const int K = o.k == 0 ? N : o.k;
  const bool by_layers =
      o.route == LyapunovOptions::Route::Layers || (o.route == LyapunovOptions::Route::Auto && K == N);
  // Columns of each layer's own basis: all of them beside the whole basis when K = N (for
  // layer_exponents); min(K, n_l) on the layers route; none otherwise.
  std::vector<int> layer_cols;
  if (by_layers || K == N)
    for (const auto& s : stack.slices()) layer_cols.push_back(by_layers ? std::min(K, s.size) : s.size);
  const int K_full = by_layers ? 0 : K;

  Schedule sc{o.transient, o.length, o.reorthonormalize_every, o.record_every};
  if (sc.record == 0) {
    // About 100 records, each at a re-orthonormalisation.
    sc.record = o.reorthonormalize_every * std::max(1.0, std::ceil(o.length / (100 * o.reorthonormalize_every)));
    if (discrete) sc.record = std::round(sc.record);
  }
  VectorXd inv_tau(N);
  for (int l = 0; l < L; ++l) {
    const auto& s = stack.slices()[static_cast<std::size_t>(l)];
    inv_tau.segment(s.offset, s.size).setConstant(1.0 / o.tau[o.tau.size() == 1 ? 0 : static_cast<std::size_t>(l)]);
  }

  std::vector<SampleRun> runs(static_cast<std::size_t>(B));
  parallel_for(static_cast<std::size_t>(B), o.threads, [&](std::size_t b) {
    const std::uint64_t seed = o.seed * 1000003ULL + b;
    const VectorXd s0 = S0.col(static_cast<Eigen::Index>(b));
    runs[b] = discrete ? run_discrete(stack, input, s0, static_cast<int>(b), K_full, layer_cols, sc, seed)
                       : run_continuous(stack, input, s0, static_cast<int>(b), K_full, layer_cols, sc, o, inv_tau, seed);
  });

  LyapunovResult r;
  r.route = by_layers ? "layers" : "full";
  const std::size_t n_rec = runs[0].records.size();
  // Record times: where sample 0 recorded (every sample has the same schedule).
  r.record_times.resize(static_cast<Eigen::Index>(n_rec));
  {
    double t = o.transient;
    for (std::size_t i = 0; i < n_rec; ++i) {
      t = std::min(Schedule::next_multiple(t, sc.record, o.transient), sc.total());
      r.record_times(static_cast<Eigen::Index>(i)) = t - o.transient;
    }
  }
  r.per_sample.resize(B, K);
  r.running = MatrixXd::Zero(static_cast<Eigen::Index>(n_rec), K);
  for (int b = 0; b < B; ++b) {
    const auto& run = runs[static_cast<std::size_t>(b)];
    for (std::size_t i = 0; i < n_rec; ++i)
      r.running.row(static_cast<Eigen::Index>(i)) +=
          sorted_descending(run.records[i] / r.record_times(static_cast<Eigen::Index>(i))).head(K).transpose() / B;
    r.per_sample.row(b) = sorted_descending(run.records.back() / o.length).head(K).transpose();
    r.rhs_evaluations += run.rhs;
    r.reorthonormalize_every_used = b == 0 ? run.every : std::min(r.reorthonormalize_every_used, run.every);
    r.reorthonormalize_halvings += run.halvings;
    r.max_log_r_spread = std::max(r.max_log_r_spread, run.spread);
  }
  r.exponents = r.per_sample.colwise().mean().transpose();
  r.volume_rate = 0;
  for (const auto& run : runs) r.volume_rate += run.volume / o.length / B;  // NaN unless computed
  r.running.bottomRows(1) = r.exponents.transpose();  // the same numbers, not a re-rounded mean
  r.kaplan_yorke = kaplan_yorke_dimension(r.exponents, N);
  if (K == N) {
    int n_max = 0;
    for (const auto& s : stack.slices()) n_max = std::max(n_max, s.size);
    r.layer_exponents = MatrixXd::Constant(L, n_max, kNaN);
    for (int l = 0; l < L; ++l) {
      const int n = stack.slices()[static_cast<std::size_t>(l)].size;
      VectorXd mean = VectorXd::Zero(n);
      for (const auto& run : runs) mean += sorted_descending(run.layer_sums[static_cast<std::size_t>(l)] / o.length) / B;
      r.layer_exponents.row(l).head(n) = mean.transpose();
    }
  }
  return r;
}

}  // namespace stackdyn
