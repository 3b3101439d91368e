// Lyapunov spectra by repeated QR of tangent products (see lyapunov.hpp). Each trajectory is
// independent (its own tangent basis and sums), so samples run in parallel; the batch mean
// and the running estimate are formed afterwards from each sample's recorded sums.
#include <stackdyn/analysis/lyapunov.hpp>
#include <stackdyn/core/error.hpp>
#include <stackdyn/core/format.hpp>
#include <stackdyn/core/parallel.hpp>
#include <stackdyn/core/random.hpp>
#include <stackdyn/model/stack.hpp>

#include <boost/numeric/odeint/stepper/generation.hpp>
#include <boost/numeric/odeint/stepper/runge_kutta_dopri5.hpp>
#include <boost/numeric/odeint/external/eigen/eigen.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

namespace stackdyn {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The tangent bases of one trajectory: columns [0, K) carry the spectrum; with `layers`,
// N more columns hold a block-diagonal basis, layer l's own n_l x n_l block at its slice
// (its off-diagonal blocks are dropped after every product, so it follows A_ll alone).
class Tangents {
 public:
  Tangents(const Stack& stack, int K, bool layers, std::uint64_t seed)
      : slices_(stack.slices()), N_(stack.state_dim()), K_(K), layers_(layers),
        T_(MatrixXd::Zero(N_, K + (layers ? N_ : 0))), qr_(N_, K), sums_(VectorXd::Zero(K)) {
    // A random start: a coordinate basis can sit in an invariant subspace (the top layer's
    // coordinates are one, for a block lower-triangular Jacobian).
    Rng rng(seed);
    for (Eigen::Index j = 0; j < K; ++j)
      for (Eigen::Index i = 0; i < N_; ++i) T_(i, j) = rng.normal();
    if (layers_) {
      for (const auto& s : slices_) {
        T_.block(s.offset, K + s.offset, s.size, s.size).setIdentity();
        layer_qr_.emplace_back(s.size, s.size);
        layer_sums_.push_back(VectorXd::Zero(s.size));
      }
    }
    orthonormalise(false);
  }

  MatrixXd& basis() { return T_; }
  int columns() const { return static_cast<int>(T_.cols()); }

  // Zero the layer part outside its diagonal blocks (in M, a matrix shaped like the basis).
  void keep_diagonal_blocks(MatRef M) const {
    if (!layers_) return;
    for (const auto& s : slices_) {
      auto cols = M.middleCols(K_ + s.offset, s.size);
      cols.topRows(s.offset).setZero();
      cols.bottomRows(N_ - s.offset - s.size).setZero();
    }
  }

  // Q R = basis; basis = Q; with `count`, log|R_ii| added to the sums.
  void orthonormalise(bool count) {
    auto Q = T_.leftCols(K_);
    qr(qr_, Q, count ? &sums_ : nullptr);
    if (!layers_) return;
    for (std::size_t l = 0; l < slices_.size(); ++l) {
      const auto& s = slices_[l];
      auto B = T_.block(s.offset, K_ + s.offset, s.size, s.size);
      qr(layer_qr_[l], B, count ? &layer_sums_[l] : nullptr);
    }
  }

  const VectorXd& sums() const { return sums_; }
  const std::vector<VectorXd>& layer_sums() const { return layer_sums_; }

 private:
  template <class Block>
  void qr(Eigen::HouseholderQR<MatrixXd>& f, Block& Q, VectorXd* sums) {
    f.compute(Q);
    if (sums != nullptr)
      for (Eigen::Index i = 0; i < Q.cols(); ++i) (*sums)(i) += std::log(std::abs(f.matrixQR()(i, i)));
    Q.setIdentity();
    f.householderQ().applyThisOnTheLeft(Q, work_);
  }

  const std::vector<StateSlice>& slices_;
  int N_, K_;
  bool layers_;
  MatrixXd T_;
  Eigen::HouseholderQR<MatrixXd> qr_;
  std::vector<Eigen::HouseholderQR<MatrixXd>> layer_qr_;
  VectorXd sums_;
  std::vector<VectorXd> layer_sums_;
  VectorXd work_;
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
};

// Bookkeeping at an event time: QR, counting when in the measured window, and a record.
void at_event(Tangents& tg, const Schedule& sc, double t, SampleRun& run) {
  const bool count = sc.measuring(t);
  tg.orthonormalise(count);
  if (count && sc.is_record(t)) run.records.push_back(tg.sums());
}

SampleRun run_discrete(const Stack& stack, const InputSignal& input_proto, const VectorXd& s0, int b, int K,
                       bool layers, const Schedule& sc, std::uint64_t seed) {
  InputSignal input = input_proto;  // its caches are not shared between threads
  const int N = stack.state_dim(), d = stack.input_size();
  Tangents tg(stack, K, layers, seed);
  MatrixXd X(d, input.batch()), dX = MatrixXd::Zero(d, tg.columns()), next(N, tg.columns());
  VectorXd s = s0;
  Stack::Linearization lin = stack.linearize(VectorXd::Zero(d), s);
  SampleRun run;
  const auto total = static_cast<long long>(std::llround(sc.total()));
  double next_event = sc.next_event(0);
  for (long long n = 0; n < total; ++n) {
    input.at_step(n, X);
    stack.linearize(X.col(b), s, lin);
    if (const int l = first_nonfinite_layer(stack, lin.s_next); l >= 0)
      throw RunError("the trajectory left the finite numbers at step " + std::to_string(n + 1) + " in layer " +
                     std::to_string(l) + " (sample " + std::to_string(b) + ")");
    stack.jvp(lin, dX, tg.basis(), next);
    tg.keep_diagonal_blocks(next);
    tg.basis().swap(next);
    s = lin.s_next;
    const auto t = static_cast<double>(n + 1);
    if (t >= next_event - 1e-9) {
      at_event(tg, sc, t, run);
      next_event = sc.next_event(t);
    }
  }
  run.layer_sums = tg.layer_sums();
  return run;
}

namespace odeint = boost::numeric::odeint;

// The continuous view with its variational equations, for one trajectory: the state
// y = [s; vec(Q)] (Q the tangent basis, column by column).
class Variational {
 public:
  Variational(const Stack& stack, const InputSignal& input, int b, const VectorXd& inv_tau, Tangents& tg)
      : stack_(stack), input_(input), b_(b), inv_tau_(inv_tau), tg_(tg), N_(stack.state_dim()),
        C_(tg.columns()), X_(stack.input_size(), input.batch()), dX_(MatrixXd::Zero(stack.input_size(), C_)),
        JQ_(N_, C_), lin_(stack.linearize(VectorXd::Zero(stack.input_size()), VectorXd::Zero(N_))) {}

  void hold_at(double t) { hold_ = t; }
  void operator()(const VectorXd& y, VectorXd& dy, double t) {
    ++rhs_;
    input_.at(t, hold_, X_);
    const Eigen::Map<const VectorXd> s(y.data(), N_);
    const Eigen::Map<const MatrixXd> Q(y.data() + N_, N_, C_);
    stack_.linearize(X_.col(b_), s, lin_);
    Eigen::Map<VectorXd>(dy.data(), N_) = inv_tau_.cwiseProduct(lin_.s_next - s);
    stack_.jvp(lin_, dX_, Q, JQ_);
    Eigen::Map<MatrixXd> dQ(dy.data() + N_, N_, C_);
    dQ = inv_tau_.asDiagonal() * (JQ_ - Q);
    tg_.keep_diagonal_blocks(dQ);
  }
  long long rhs() const { return rhs_; }

 private:
  const Stack& stack_;
  const InputSignal& input_;
  int b_;
  const VectorXd& inv_tau_;
  const Tangents& tg_;
  int N_, C_;
  MatrixXd X_, dX_, JQ_;
  Stack::Linearization lin_;
  double hold_ = 0;
  long long rhs_ = 0;
};

SampleRun run_continuous(const Stack& stack, const InputSignal& input_proto, const VectorXd& s0, int b, int K,
                         bool layers, const Schedule& sc, const LyapunovOptions& o, const VectorXd& inv_tau,
                         std::uint64_t seed) {
  InputSignal input = input_proto;
  const int N = stack.state_dim();
  Tangents tg(stack, K, layers, seed);
  const int C = tg.columns();
  Variational sys(stack, input, b, inv_tau, tg);
  VectorXd y(static_cast<Eigen::Index>(N) * (1 + C));
  y.head(N) = s0;
  Eigen::Map<MatrixXd>(y.data() + N, N, C) = tg.basis();
  auto ctl = odeint::make_controlled(o.atol, o.rtol,
                                     odeint::runge_kutta_dopri5<VectorXd, double, VectorXd, double,
                                                                odeint::vector_space_algebra>());
  SampleRun run;
  double t = 0, dt = std::min(o.dt, sc.total());
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
    tg.basis() = Eigen::Map<const MatrixXd>(y.data() + N, N, C);
    at_event(tg, sc, t, run);
    Eigen::Map<MatrixXd>(y.data() + N, N, C) = tg.basis();
  }
  run.layer_sums = tg.layer_sums();
  run.rhs = sys.rhs();
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
  const bool layers = K == N;

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
    runs[b] = discrete ? run_discrete(stack, input, s0, static_cast<int>(b), K, layers, sc, seed)
                       : run_continuous(stack, input, s0, static_cast<int>(b), K, layers, sc, o, inv_tau, seed);
  });

  LyapunovResult r;
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
          sorted_descending(run.records[i] / r.record_times(static_cast<Eigen::Index>(i))).transpose() / B;
    r.per_sample.row(b) = sorted_descending(run.records.back() / o.length).transpose();
    r.rhs_evaluations += run.rhs;
  }
  r.exponents = r.per_sample.colwise().mean().transpose();
  r.running.bottomRows(1) = r.exponents.transpose();  // the same numbers, not a re-rounded mean
  r.kaplan_yorke = kaplan_yorke_dimension(r.exponents, N);
  if (layers) {
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
