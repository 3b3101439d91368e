// The frequency probe of each layer (see timescales.hpp).
#include <stackdyn/analysis/timescales.hpp>
#include <stackdyn/core/error.hpp>
#include <stackdyn/core/format.hpp>
#include <stackdyn/core/lapack.hpp>
#include <stackdyn/core/parallel.hpp>
#include <stackdyn/dynamics/continuous_system.hpp>
#include <stackdyn/dynamics/integrate.hpp>
#include <stackdyn/model/stack.hpp>

#include <Eigen/LU>

#include <algorithm>
#include <cmath>
#include <complex>
#include <limits>
#include <numbers>
#include <variant>

namespace stackdyn {
namespace {

using cd = std::complex<double>;
constexpr double kTwoPi = 2 * std::numbers::pi;

VectorXd unit_direction(const TimescaleOptions& o, int d) {
  VectorXd e = o.direction.size() == 0 ? VectorXd::Unit(d, 0) : o.direction;
  return e / e.norm();
}

// What one frequency's window accumulates, as deviations from the fixed point (small at
// small amplitude, so the mean's subtraction loses nothing to cancellation).
struct Window {
  VectorXd sum;       // sum of delta
  Eigen::VectorXcd fourier;  // sum of delta exp(-2 pi i f t)
  cd phase_sum = 0;   // sum of exp(-2 pi i f t)
  VectorXd square;    // per layer: sum of |delta_h^(l)|^2
  long long n = 0;

  explicit Window(int N, int L) : sum(VectorXd::Zero(N)), fourier(Eigen::VectorXcd::Zero(N)), square(VectorXd::Zero(L)) {}
  void add(const Eigen::Ref<const VectorXd>& delta, double phase, const std::vector<StateSlice>& slices) {
    const cd w = std::polar(1.0, -phase);
    sum += delta;
    fourier += delta.cast<cd>() * w;
    phase_sum += w;
    for (std::size_t l = 0; l < slices.size(); ++l)
      square(static_cast<Eigen::Index>(l)) += delta.segment(slices[l].offset, slices[l].hidden_size).squaredNorm();
    ++n;
  }
  // The fundamental's complex amplitude: delta(t) ~ mean + Re(c exp(2 pi i f t)).
  Eigen::VectorXcd coefficients() const {
    const double N = static_cast<double>(n);
    return (2.0 / N) * (fourier - (sum / N).cast<cd>() * phase_sum);
  }
  // gain^(l) and power^(l) into column j; the coefficients into C's column j.
  void finish(const std::vector<StateSlice>& slices, double a, MatrixXd& gain, MatrixXd& power, Eigen::Index j,
              Eigen::MatrixXcd& C) const {
    const double N = static_cast<double>(n);
    const VectorXd mean = sum / N;
    const Eigen::VectorXcd c = coefficients();
    C.col(j) = c;
    for (std::size_t l = 0; l < slices.size(); ++l) {
      const auto& s = slices[l];
      const auto L = static_cast<Eigen::Index>(l);
      gain(L, j) = c.segment(s.offset, s.hidden_size).norm() / a;
      power(L, j) = square(L) / N - mean.segment(s.offset, s.hidden_size).squaredNorm();
    }
  }
};

void check_finite(const Stack& stack, const Eigen::Ref<const VectorXd>& s, const std::string& when, double f) {
  for (int l = 0; l < stack.num_layers(); ++l) {
    const auto& sl = stack.slices()[static_cast<std::size_t>(l)];
    if (!s.segment(sl.offset, sl.size).allFinite())
      throw RunError("the probe at frequency " + format_number(f) + " left the finite numbers at " + when + " in layer " +
                     std::to_string(l));
  }
}

// Discrete view: the frequencies `cols` (ascending, so the longest runs first) as the columns
// of one batched run of the map; a column leaves the batch when its window has ended.
void run_discrete(const Stack& stack, const TimescaleOptions& o, const VectorXd& x0, const VectorXd& e,
                  const VectorXd& s_star, const VectorXd& p_star, const TimescaleResult& r,
                  const std::vector<std::size_t>& cols, MatrixXd& gain, MatrixXd& power, Eigen::MatrixXcd& C) {
  const auto n = static_cast<Eigen::Index>(cols.size());
  const int N = stack.state_dim();
  const auto O = p_star.size();  // readout rows below the state's (0 without a readout)
  MatrixXd P;
  VectorXd delta(N + O);
  std::vector<long long> end(cols.size());
  for (std::size_t c = 0; c < cols.size(); ++c)
    end[c] = static_cast<long long>(r.transient[cols[c]]) + r.window[cols[c]];
  MatrixXd S = s_star.replicate(1, n), S_new(N, n), X(stack.input_size(), n);
  auto ws = stack.make_workspace();
  std::vector<Window> win(cols.size(), Window(static_cast<int>(N + O), stack.num_layers()));
  Eigen::Index active = n;
  for (long long step = 0; active > 0; ++step) {
    // Step `step` reads x_step and gives the state at time t = step + 1.
    for (Eigen::Index c = 0; c < active; ++c)
      X.col(c) = x0 + o.amplitude * std::sin(kTwoPi * r.frequencies(static_cast<Eigen::Index>(cols[static_cast<std::size_t>(c)])) *
                                             static_cast<double>(step)) * e;
    stack.step(X.leftCols(active), S.leftCols(active), S_new.leftCols(active), ws);
    S.leftCols(active).swap(S_new.leftCols(active));
    if (O > 0) predictions_at_states(stack.model(), S.leftCols(active), X.leftCols(active), P);
    const long long t = step + 1;
    for (Eigen::Index c = 0; c < active; ++c) {
      const std::size_t j = cols[static_cast<std::size_t>(c)];
      const double f = r.frequencies(static_cast<Eigen::Index>(j));
      if (!S.col(c).allFinite()) check_finite(stack, S.col(c), "step " + std::to_string(t), f);
      const auto start = static_cast<long long>(r.transient[j]);
      if (t <= start || t > start + r.window[j]) continue;
      delta.head(N) = S.col(c) - s_star;
      if (O > 0) delta.tail(O) = P.col(c) - p_star;
      win[static_cast<std::size_t>(c)].add(delta, kTwoPi * f * static_cast<double>(t), stack.slices());
    }
    while (active > 0 && end[static_cast<std::size_t>(active - 1)] <= t) --active;
  }
  for (std::size_t c = 0; c < cols.size(); ++c)
    win[c].finish(stack.slices(), o.amplitude, gain, power, static_cast<Eigen::Index>(cols[c]), C);
}

// The drive x0 + a sin(2 pi f t) e as simulate's input.
InputSpec drive_spec(const VectorXd& x0, const VectorXd& e, double a, double f) {
  InputSpec spec;
  spec.constant = x0;
  for (Eigen::Index c = 0; c < e.size(); ++c)
    if (e(c) != 0) spec.sinusoids.push_back({static_cast<int>(c), a * e(c), f, 0.0});
  return spec;
}

// Continuous view: one frequency, integrated by dopri5 and sampled on its own grid.
void run_continuous(const Model& model, const TimescaleOptions& o, const VectorXd& x0, const VectorXd& e,
                    const VectorXd& s_star, const VectorXd& p_star, const TimescaleResult& r, std::size_t j,
                    MatrixXd& gain, MatrixXd& power, Eigen::MatrixXcd& C) {
  const double f = r.frequencies(static_cast<Eigen::Index>(j));
  const InputSignal input(drive_spec(x0, e, o.amplitude, f), model.input_size, 1, "timescales");
  ContinuousSystem sys(model, o.tau, input);
  const auto spp = static_cast<long long>(o.samples_per_period);
  const auto first = static_cast<long long>(std::llround(r.transient[j] * f)) * spp;  // whole periods
  IntegratorOptions io;
  io.method = Method::Dopri5;
  io.rtol = o.rtol;
  io.atol = o.atol;
  io.dt = std::min(0.01, 0.1 / f);
  io.dt_out = 1.0 / (f * static_cast<double>(spp));
  io.t_end = static_cast<double>(first + r.window[j]) * io.dt_out;
  const int N = sys.state_dim();
  const auto O = p_star.size();
  Window win(static_cast<int>(N + O), sys.stack().num_layers());
  long long k = 0;
  VectorXd s = s_star, delta(N + O);
  MatrixXd P, X(model.input_size, 1);
  integrate(sys, s, io, [&](const VectorXd& y, double t) {
    if (k >= first && k < first + r.window[j]) {
      delta.head(N) = y - s_star;
      if (O > 0) {
        X.col(0) = x0 + o.amplitude * std::sin(kTwoPi * f * t) * e;
        predictions_at_states(model, y, X, P);
        delta.tail(O) = P.col(0) - p_star;
      }
      win.add(delta, kTwoPi * f * t, sys.stack().slices());
    }
    ++k;
  });
  win.finish(sys.stack().slices(), o.amplitude, gain, power, static_cast<Eigen::Index>(j), C);
}

// Layer l driven alone at frequency j (both views): the streams below held to their measured
// fundamentals C(:, j) around s*, scaled by kappa so that the stream it reads (h^(l-1), or the
// input for l = 0) has amplitude a; returns |c'^(l)_h| / a.
double run_own(const Stack& stack, const TimescaleOptions& o, const VectorXd& x0, const VectorXd& e,
               const VectorXd& s_star, const TimescaleResult& r, std::size_t j, int l, const Eigen::MatrixXcd& C,
               double rate) {
  const bool discrete = o.view == TimeView::Discrete;
  const auto& slices = stack.slices();
  const auto& sl = slices[static_cast<std::size_t>(l)];
  const auto J = static_cast<Eigen::Index>(j);
  const double f = r.frequencies(J), w = kTwoPi * f, a = o.amplitude;
  double kappa = 1;
  if (l > 0) {
    const auto& below = slices[static_cast<std::size_t>(l) - 1];
    const double amp = C.col(J).segment(below.offset, below.hidden_size).norm();
    if (!(amp > 0)) return std::numeric_limits<double>::quiet_NaN();
    kappa = a / amp;
  }
  auto ws = stack.make_workspace();
  MatrixXd X(stack.input_size(), 1), Sb(std::max(sl.offset, 1), 1), U, Pr, G(sl.size, 1);
  CellTrace trace;
  // G = F_l(s, u(t)) with x read at time tx and the layers below at time t.
  auto layer_map = [&](const Eigen::Ref<const VectorXd>& s, double t, double tx) {
    X.col(0) = x0 + kappa * a * std::sin(w * tx) * e;
    if (sl.offset > 0)
      Sb.col(0) = s_star.head(sl.offset) + kappa * (C.col(J).head(sl.offset) * std::polar(1.0, w * t)).real();
    stack.layer_input(l, X, Sb.topRows(sl.offset), U, ws);
    std::visit(
        [&](const auto& cell) {
          Pr.resize(cell.projection_rows(), 1);
          cell.project_input(U, Pr);
          cell.step(Pr, s, G, trace);
        },
        stack.cell(l));
  };
  Window win(sl.size, 1);
  const std::vector<StateSlice> one{StateSlice{0, sl.size, sl.hidden_size, sl.has_cell_state}};
  VectorXd s = s_star.segment(sl.offset, sl.size);
  const auto start = static_cast<long long>(discrete ? r.transient[j] : std::llround(r.transient[j] * f) * o.samples_per_period);
  const long long end = start + r.window[j];
  if (discrete) {
    // Step `step` reads x_step and the new states of the layers below, at t = step + 1.
    for (long long step = 0; step < end; ++step) {
      const double t = static_cast<double>(step + 1);
      layer_map(s, t, static_cast<double>(step));
      s = G.col(0);
      if (!s.allFinite())
        throw RunError("the probe of layer " + std::to_string(l) + " alone at frequency " + format_number(f) +
                       " left the finite numbers at step " + std::to_string(step + 1));
      if (step + 1 > start) win.add(s - s_star.segment(sl.offset, sl.size), w * t, one);
    }
  } else {
    // Classical RK4 on tau ds/dt = -s + G_l(s, u(t)), substeps with h * rate <= 0.05.
    const double tau = o.tau[o.tau.size() == 1 ? 0 : static_cast<std::size_t>(l)];
    const double dt_out = 1.0 / (f * o.samples_per_period);
    const auto m = static_cast<long long>(std::max(1.0, std::ceil(dt_out * rate / 0.05)));
    const double h = dt_out / static_cast<double>(m);
    VectorXd k1, k2, k3, k4;
    auto rhs = [&](const VectorXd& y, double t) {
      layer_map(y, t, t);
      return VectorXd((G.col(0) - y) / tau);
    };
    for (long long k = 1; k <= end; ++k) {
      for (long long i = 0; i < m; ++i) {
        const double t = static_cast<double>(k - 1) * dt_out + static_cast<double>(i) * h;
        k1 = rhs(s, t);
        k2 = rhs(s + 0.5 * h * k1, t + 0.5 * h);
        k3 = rhs(s + 0.5 * h * k2, t + 0.5 * h);
        k4 = rhs(s + h * k3, t + h);
        s += h / 6 * (k1 + 2 * k2 + 2 * k3 + k4);
      }
      if (!s.allFinite())
        throw RunError("the probe of layer " + std::to_string(l) + " alone at frequency " + format_number(f) +
                       " left the finite numbers");
      if (k >= start && k < end) win.add(s - s_star.segment(sl.offset, sl.size), w * static_cast<double>(k) * dt_out, one);
    }
  }
  return win.coefficients().head(sl.hidden_size).norm() / a;
}

}  // namespace

void TimescaleOptions::validate(const Model& model, const std::string& where) const {
  if (model.bidirectional)
    throw InputError(where + ": the model is bidirectional; the probe needs a causal (unidirectional) model");
  const bool discrete = view == TimeView::Discrete;
  if (frequencies.empty()) throw InputError(where + ": no frequencies; expected at least one");
  for (double f : frequencies) {
    if (!(f > 0) || !std::isfinite(f))
      throw InputError(where + ": frequency " + format_number(f) + " is not positive; expected frequencies > 0");
    if (discrete && f >= 0.5)
      throw InputError(where + ": frequency " + format_number(f) +
                       " cycles per step is at or above the Nyquist rate; expected 0 < f < 0.5 in discrete mode");
  }
  if (!(amplitude != 0) || !std::isfinite(amplitude))
    throw InputError(where + ": amplitude " + format_number(amplitude) + "; expected a non-zero finite amplitude");
  if (!(periods >= 1) || !std::isfinite(periods))
    throw InputError(where + ": periods = " + format_number(periods) + "; expected at least one measured period");
  if (!(transient_periods >= 0)) throw InputError(where + ": transient_periods = " + format_number(transient_periods) + "; expected >= 0");
  if (samples_per_period < 4)
    throw InputError(where + ": samples_per_period = " + std::to_string(samples_per_period) + "; expected at least 4");
  const int d = model.input_size;
  if (direction.size() != 0 && (direction.size() != d || !(direction.norm() > 0) || !direction.allFinite()))
    throw InputError(where + ": input direction of " + std::to_string(direction.size()) +
                     " numbers; expected " + std::to_string(d) + " finite numbers, not all zero");
  if (x0.size() != 0 && (x0.size() != d || !x0.allFinite()))
    throw InputError(where + ": input constant of " + std::to_string(x0.size()) + " numbers; expected " +
                     std::to_string(d) + " finite numbers");
  if (tau.size() != 1 && static_cast<int>(tau.size()) != model.num_layers())
    throw InputError(where + ": " + std::to_string(tau.size()) + " time constants for " +
                     std::to_string(model.num_layers()) + " layers; expected one or one per layer");
}

namespace {

// The linear response's complex state amplitudes per unit input amplitude (columns:
// frequencies): (z I - A) x = B e, block lower-triangular, solved layer by layer upwards.
Eigen::MatrixXcd linear_response(const Stack& stack, const VectorXd& x0, const VectorXd& s, const VectorXd& e,
                                 const std::vector<double>& frequencies, TimeView view, const std::vector<double>& tau) {
  const bool discrete = view == TimeView::Discrete;
  const auto lin = stack.linearize(x0, s);
  MatrixXd A = stack.jacobian_state(lin);
  VectorXd b = stack.jacobian_input(lin) * e;
  const auto& slices = stack.slices();
  const int L = stack.num_layers();
  if (!discrete) {
    // M = T^-1 (A - I), rhs T^-1 B e: the flow's Jacobians.
    for (int l = 0; l < L; ++l) {
      const auto& sl = slices[static_cast<std::size_t>(l)];
      const double it = 1.0 / tau[tau.size() == 1 ? 0 : static_cast<std::size_t>(l)];
      A.middleRows(sl.offset, sl.size).diagonal(sl.offset).array() -= 1.0;
      A.middleRows(sl.offset, sl.size) *= it;
      b.segment(sl.offset, sl.size) *= it;
    }
  }
  Eigen::MatrixXcd x(stack.state_dim(), static_cast<Eigen::Index>(frequencies.size()));
  for (std::size_t j = 0; j < frequencies.size(); ++j) {
    const auto J = static_cast<Eigen::Index>(j);
    const cd z = discrete ? std::polar(1.0, kTwoPi * frequencies[j]) : cd(0, kTwoPi * frequencies[j]);
    for (int l = 0; l < L; ++l) {
      const auto& sl = slices[static_cast<std::size_t>(l)];
      Eigen::VectorXcd rhs = b.segment(sl.offset, sl.size).cast<cd>();
      if (sl.offset > 0) rhs += A.block(sl.offset, 0, sl.size, sl.offset).cast<cd>() * x.col(J).head(sl.offset);
      Eigen::MatrixXcd M = -A.block(sl.offset, sl.offset, sl.size, sl.size).cast<cd>();
      M.diagonal().array() += z;
      x.col(J).segment(sl.offset, sl.size) = M.partialPivLu().solve(rhs);
    }
  }
  return x;
}

MatrixXd layer_norms(const std::vector<StateSlice>& slices, const Eigen::MatrixXcd& x) {
  MatrixXd g(static_cast<Eigen::Index>(slices.size()), x.cols());
  for (std::size_t l = 0; l < slices.size(); ++l)
    for (Eigen::Index j = 0; j < x.cols(); ++j)
      g(static_cast<Eigen::Index>(l), j) = x.col(j).segment(slices[l].offset, slices[l].hidden_size).norm();
  return g;
}

// Preferred (argmax) and cutoff (highest grid frequency with gain >= gain(lowest)/sqrt 2) per row.
void preferred_and_cutoff(const VectorXd& freqs, const MatrixXd& gain, VectorXd& preferred, VectorXd& cutoff) {
  preferred.resize(gain.rows());
  cutoff.resize(gain.rows());
  for (Eigen::Index l = 0; l < gain.rows(); ++l) {
    Eigen::Index best = 0;
    gain.row(l).maxCoeff(&best);
    preferred(l) = freqs(best);
    const double level = gain(l, 0) / std::sqrt(2.0);
    double c = freqs(0);
    for (Eigen::Index j = 0; j < freqs.size(); ++j)
      if (gain(l, j) >= level) c = freqs(j);
    cutoff(l) = c;
  }
}

// Stability of every layer's block at s: spectral radius (discrete) or largest real part of
// T_l^-1 (eigenvalues - 1) (continuous), the timescale, and the largest |eigenvalue - 1| / T_l
// (the continuous layer's fastest rate). false when a block is not stable.
struct BlockStability {
  VectorXd radius, timescale, rate;
  int unstable_layer = -1;
  double unstable_value = 0;
};
BlockStability block_stability(const Stack& stack, const VectorXd& x0, const VectorXd& s, TimeView view,
                               const std::vector<double>& tau) {
  const int L = stack.num_layers();
  const auto lin = stack.linearize(x0, s);
  BlockStability b;
  b.radius.resize(L);
  b.timescale.resize(L);
  b.rate.resize(L);
  for (int l = 0; l < L; ++l) {
    const Eigen::VectorXcd ev = dense_eigen(stack.diagonal_block(lin, l), false).values;
    b.radius(l) = ev.cwiseAbs().maxCoeff();
    const double t_l = tau[tau.size() == 1 ? 0 : static_cast<std::size_t>(l)];
    b.rate(l) = (ev.array() - 1.0).abs().maxCoeff() / t_l;
    const double v = view == TimeView::Discrete ? b.radius(l) : (ev.real().maxCoeff() - 1) / t_l;
    const bool stable = view == TimeView::Discrete ? v < 1 : v < 0;
    if (!stable) {
      if (b.unstable_layer < 0) {
        b.unstable_layer = l;
        b.unstable_value = v;
      }
      b.timescale(l) = std::numeric_limits<double>::infinity();
    } else {
      b.timescale(l) = view == TimeView::Discrete ? -1.0 / std::log(v) : -1.0 / v;
    }
  }
  return b;
}

// States of the drive's trajectory from the zero state at frequency f: `n` states evenly spaced
// over `length` steps (time units), the last at the end.
MatrixXd drive_trajectory(const Model& model, const TimescaleOptions& o, const VectorXd& x0, const VectorXd& e,
                          double f, double length, int n) {
  const int N = model.state_dim();
  MatrixXd out(N, n);
  if (o.view == TimeView::Discrete) {
    const Stack stack(model);
    auto ws = stack.make_workspace();
    MatrixXd S = MatrixXd::Zero(N, 1), S_new(N, 1), X(model.input_size, 1);
    const auto steps = static_cast<long long>(length);
    int k = 0;
    for (long long step = 0; step < steps && k < n; ++step) {
      X.col(0) = x0 + o.amplitude * std::sin(kTwoPi * f * static_cast<double>(step)) * e;
      stack.step(X, S, S_new, ws);
      S.swap(S_new);
      if (!S.allFinite()) break;
      if ((step + 1) * n >= static_cast<long long>(k + 1) * steps) out.col(k++) = S.col(0);
    }
    return out.leftCols(k);
  }
  const InputSignal input(drive_spec(x0, e, o.amplitude, f), model.input_size, 1, "timescales");
  ContinuousSystem sys(model, o.tau, input);
  IntegratorOptions io;
  io.method = Method::Dopri5;
  io.rtol = o.rtol;
  io.atol = o.atol;
  io.dt = 0.01;
  io.dt_out = length / n;
  io.t_end = length;
  VectorXd s = VectorXd::Zero(N);
  int k = -1;
  try {
    integrate(sys, s, io, [&](const VectorXd& y, double) {
      if (k >= 0 && k < n) out.col(k) = y;
      ++k;
    });
  } catch (const RunError&) {
    // a trajectory that leaves the finite numbers gives the states it had
  }
  return out.leftCols(std::clamp(k, 0, n));
}

}  // namespace

MatrixXd linear_gain(const Model& model, const VectorXd& x0, const VectorXd& s, const VectorXd& e,
                     const std::vector<double>& frequencies, TimeView view, const std::vector<double>& tau) {
  const Stack stack(model, view == TimeView::Discrete ? Coupling::Sequential : Coupling::Simultaneous);
  return layer_norms(stack.slices(), linear_response(stack, x0, s, e, frequencies, view, tau));
}

TimescaleResult probe_timescales(const Model& model, const TimescaleOptions& o) {
  o.validate(model, "timescales");
  const bool discrete = o.view == TimeView::Discrete;
  const int d = model.input_size, L = model.num_layers(), N = model.state_dim();
  const VectorXd x0 = o.x0.size() == 0 ? VectorXd::Zero(d) : o.x0;
  const VectorXd e = unit_direction(o, d);

  TimescaleResult r;
  std::vector<double> freqs = o.frequencies;
  std::sort(freqs.begin(), freqs.end());
  r.frequencies = Eigen::Map<const VectorXd>(freqs.data(), static_cast<Eigen::Index>(freqs.size()));
  const auto nf = r.frequencies.size();
  const Stack stack(model);

  // The stable rest point under x0: Newton from every start, the stable point nearest the
  // second half of the drive's trajectory taken (docs/probes.md).
  const FixedPointSystem fps(model, x0, o.view, o.tau);
  FinderOptions fo;
  fo.max_iters = 500;
  fo.threads = 1;
  std::vector<std::pair<VectorXd, std::string>> starts;
  MatrixXd trajectory;
  if (o.given_start.size() > 0) {
    if (o.given_start.size() != N || !o.given_start.allFinite())
      throw InputError("timescales: the given start (" + o.given_label + ") has " + std::to_string(o.given_start.size()) +
                       " numbers; expected state_dim = " + std::to_string(N) + " finite numbers");
    starts.emplace_back(o.given_start, o.given_label);
  } else {
    starts.emplace_back(VectorXd::Zero(N), "the zero state");
    const double f = r.frequencies(0);
    const double length = std::clamp(std::ceil(4 / f), 200.0, 5000.0);
    trajectory = drive_trajectory(model, o, x0, e, f, length, 16);
    for (Eigen::Index k = 0; k < trajectory.cols(); ++k)
      starts.emplace_back(trajectory.col(k), "the drive's trajectory from the zero state at " +
                                                 format_number(length * static_cast<double>(k + 1) / 16) +
                                                 (discrete ? " steps" : " time units") + " (f = " + format_number(f) + ")");
    for (Eigen::Index k = 0; k < o.extra_starts.cols(); ++k)
      if (o.extra_starts.col(k).size() == N && o.extra_starts.col(k).allFinite())
        starts.emplace_back(o.extra_starts.col(k), o.extra_label + " " + std::to_string(k));
  }
  std::vector<StartResult> found(starts.size());
  parallel_for(starts.size(), o.threads <= 0 ? default_threads() : o.threads,
               [&](std::size_t i) { found[i] = run_start(fps, starts[i].first, fo); });
  const MatrixXd late = trajectory.cols() > 0 ? MatrixXd(trajectory.rightCols((trajectory.cols() + 1) / 2)) : MatrixXd();
  double best_q = std::numeric_limits<double>::infinity(), best_distance = best_q;
  int best = -1;
  BlockStability chosen;
  std::string unstable_note;
  r.starts_tried = static_cast<int>(starts.size());
  for (std::size_t i = 0; i < starts.size(); ++i) {
    best_q = std::min(best_q, found[i].q);
    if (found[i].status != StartStatus::Converged) continue;
    BlockStability b = block_stability(stack, x0, found[i].state, o.view, o.tau);
    if (b.unstable_layer >= 0) {
      unstable_note = "layer " + std::to_string(b.unstable_layer) + (discrete ? " spectral radius " : " largest real part ") +
                      format_number(b.unstable_value);
      continue;
    }
    ++r.starts_stable;
    double dist = 0;
    if (late.cols() > 0) dist = (late.colwise() - found[i].state).colwise().norm().minCoeff();
    if (best < 0 || dist < best_distance - 1e-12 * (1 + dist)) {
      best = static_cast<int>(i);
      best_distance = dist;
      chosen = std::move(b);
    }
  }
  if (best < 0) {
    if (o.given_start.size() > 0)
      throw RunError(o.given_label + (found[0].status == StartStatus::Converged
                                          ? " is not a stable fixed point under the input constant (" + unstable_note + ")"
                                          : " does not converge to a fixed point under the input constant (q = " +
                                                format_number(found[0].q) + " after " +
                                                std::to_string(found[0].iterations) + " iterations)") +
                     "; the probe needs a stable fixed point");
    throw RunError("no stable fixed point found under the input constant from " + std::to_string(starts.size()) +
                   " starts (the zero state, the drive's trajectory" + (o.extra_starts.cols() ? ", " + o.extra_label : "") +
                   "; lowest q = " + format_number(best_q) + (unstable_note.empty() ? "" : "; a converged one unstable: " + unstable_note) +
                   "); give the rest point with --fixed-point FILE:INDEX or --state FILE");
  }
  r.fixed_point = found[static_cast<std::size_t>(best)].state;
  r.fixed_point_start = starts[static_cast<std::size_t>(best)].second;
  r.spectral_radius = chosen.radius;
  r.timescale = chosen.timescale;
  const double slowest = r.timescale.maxCoeff();

  // Transients and windows.
  const auto spp = static_cast<long long>(o.samples_per_period);
  for (Eigen::Index j = 0; j < nf; ++j) {
    const double f = r.frequencies(j);
    if (discrete) {
      r.window.push_back(std::max<long long>(1, std::llround(o.periods / f)));
      r.transient.push_back(std::ceil(std::max(o.transient_periods / f, 10 * slowest)));
    } else {
      const double tr_periods = std::ceil(std::max(o.transient_periods, 10 * slowest * f));
      r.window.push_back(std::llround(o.periods * static_cast<double>(spp)));
      r.transient.push_back(tr_periods / f);
    }
  }

  // The readout's value at the rest point (its rows follow the state's in the windows).
  VectorXd p_star;
  if (model.has_readout()) {
    MatrixXd P;
    predictions_at_states(model, r.fixed_point, x0, P);
    p_star = P.col(0);
  }
  const auto O = p_star.size();
  Eigen::MatrixXcd C(N + O, nf);
  r.gain.resize(L, nf);
  r.power.resize(L, nf);
  const int threads = o.threads <= 0 ? default_threads() : o.threads;
  if (discrete) {
    // One batch per thread, the frequencies dealt out in turn so that each gets long and short runs.
    const auto chunks = static_cast<std::size_t>(std::min<Eigen::Index>(threads, nf));
    parallel_for(chunks, threads, [&](std::size_t c) {
      std::vector<std::size_t> cols;
      for (std::size_t j = c; j < static_cast<std::size_t>(nf); j += chunks) cols.push_back(j);
      run_discrete(stack, o, x0, e, r.fixed_point, p_star, r, cols, r.gain, r.power, C);
    });
  } else {
    parallel_for(static_cast<std::size_t>(nf), threads, [&](std::size_t j) {
      run_continuous(model, o, x0, e, r.fixed_point, p_star, r, j, r.gain, r.power, C);
    });
  }

  // Each layer alone, from the stream it reads.
  r.own_gain.resize(L, nf);
  parallel_for(static_cast<std::size_t>(nf) * static_cast<std::size_t>(L), threads, [&](std::size_t i) {
    const auto j = i / static_cast<std::size_t>(L);
    const int l = static_cast<int>(i % static_cast<std::size_t>(L));
    r.own_gain(l, static_cast<Eigen::Index>(j)) = run_own(stack, o, x0, e, r.fixed_point, r, j, l, C, chosen.rate(l));
  });

  const Stack lin_stack(model, discrete ? Coupling::Sequential : Coupling::Simultaneous);
  const Eigen::MatrixXcd x = linear_response(lin_stack, x0, r.fixed_point, e, freqs, o.view, o.tau);
  r.gain_linear = layer_norms(stack.slices(), x);
  r.own_gain_linear = r.gain_linear;
  for (int l = 1; l < L; ++l) r.own_gain_linear.row(l).array() /= r.gain_linear.row(l - 1).array();
  if (O > 0) {
    r.readout_gain = C.bottomRows(O).colwise().norm().transpose() / o.amplitude;
    // The readout is affine in (state, input): its response's amplitude from the state's
    // (at the time the state is read: z x in the discrete step convention) and the input's.
    r.readout_gain_linear.resize(nf);
    MatrixXd Pre, S(N, 2), X(d, 2);
    for (Eigen::Index j = 0; j < nf; ++j) {
      const cd z = discrete ? std::polar(1.0, kTwoPi * r.frequencies(j)) : cd(1, 0);
      const Eigen::VectorXcd xs = z * x.col(j);
      S.col(0) = r.fixed_point + xs.real();
      S.col(1) = r.fixed_point + xs.imag();
      X.col(0) = x0 + e;
      X.col(1) = x0;
      predictions_at_states(model, S, X, Pre);
      r.readout_gain_linear(j) = std::hypot((Pre.col(0) - p_star).norm(), (Pre.col(1) - p_star).norm());
    }
  }
  preferred_and_cutoff(r.frequencies, r.gain, r.preferred_frequency, r.cutoff_frequency);
  preferred_and_cutoff(r.frequencies, r.own_gain, r.own_preferred_frequency, r.own_cutoff_frequency);
  return r;
}

}  // namespace stackdyn
