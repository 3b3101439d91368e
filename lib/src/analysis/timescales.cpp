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
#include <numbers>

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
  // gain^(l) and power^(l) into column j.
  void finish(const std::vector<StateSlice>& slices, double a, MatrixXd& gain, MatrixXd& power, Eigen::Index j) const {
    const double N = static_cast<double>(n);
    const VectorXd mean = sum / N;
    const Eigen::VectorXcd c = (2.0 / N) * (fourier - mean.cast<cd>() * phase_sum);
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
                  const VectorXd& s_star, const TimescaleResult& r, const std::vector<std::size_t>& cols,
                  MatrixXd& gain, MatrixXd& power) {
  const auto n = static_cast<Eigen::Index>(cols.size());
  const int N = stack.state_dim();
  std::vector<long long> end(cols.size());
  for (std::size_t c = 0; c < cols.size(); ++c)
    end[c] = static_cast<long long>(r.transient[cols[c]]) + r.window[cols[c]];
  MatrixXd S = s_star.replicate(1, n), S_new(N, n), X(stack.input_size(), n);
  auto ws = stack.make_workspace();
  std::vector<Window> win(cols.size(), Window(N, stack.num_layers()));
  Eigen::Index active = n;
  for (long long step = 0; active > 0; ++step) {
    // Step `step` reads x_step and gives the state at time t = step + 1.
    for (Eigen::Index c = 0; c < active; ++c)
      X.col(c) = x0 + o.amplitude * std::sin(kTwoPi * r.frequencies(static_cast<Eigen::Index>(cols[static_cast<std::size_t>(c)])) *
                                             static_cast<double>(step)) * e;
    stack.step(X.leftCols(active), S.leftCols(active), S_new.leftCols(active), ws);
    S.leftCols(active).swap(S_new.leftCols(active));
    const long long t = step + 1;
    for (Eigen::Index c = 0; c < active; ++c) {
      const std::size_t j = cols[static_cast<std::size_t>(c)];
      const double f = r.frequencies(static_cast<Eigen::Index>(j));
      if (!S.col(c).allFinite()) check_finite(stack, S.col(c), "step " + std::to_string(t), f);
      const auto start = static_cast<long long>(r.transient[j]);
      if (t <= start || t > start + r.window[j]) continue;
      win[static_cast<std::size_t>(c)].add(S.col(c) - s_star, kTwoPi * f * static_cast<double>(t), stack.slices());
    }
    while (active > 0 && end[static_cast<std::size_t>(active - 1)] <= t) --active;
  }
  for (std::size_t c = 0; c < cols.size(); ++c)
    win[c].finish(stack.slices(), o.amplitude, gain, power, static_cast<Eigen::Index>(cols[c]));
}

// Continuous view: one frequency, integrated by dopri5 and sampled on its own grid.
void run_continuous(const Model& model, const TimescaleOptions& o, const VectorXd& x0, const VectorXd& e,
                    const VectorXd& s_star, const TimescaleResult& r, std::size_t j, MatrixXd& gain, MatrixXd& power) {
  const double f = r.frequencies(static_cast<Eigen::Index>(j));
  InputSpec spec;
  spec.constant = x0;
  for (Eigen::Index c = 0; c < e.size(); ++c)
    if (e(c) != 0) spec.sinusoids.push_back({static_cast<int>(c), o.amplitude * e(c), f, 0.0});
  const InputSignal input(spec, model.input_size, 1, "timescales");
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
  Window win(sys.state_dim(), sys.stack().num_layers());
  long long k = 0;
  VectorXd s = s_star;
  integrate(sys, s, io, [&](const VectorXd& y, double t) {
    if (k >= first && k < first + r.window[j]) win.add(y - s_star, kTwoPi * f * t, sys.stack().slices());
    ++k;
  });
  win.finish(sys.stack().slices(), o.amplitude, gain, power, static_cast<Eigen::Index>(j));
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

MatrixXd linear_gain(const Model& model, const VectorXd& x0, const VectorXd& s, const VectorXd& e,
                     const std::vector<double>& frequencies, TimeView view, const std::vector<double>& tau) {
  const bool discrete = view == TimeView::Discrete;
  const Stack stack(model, discrete ? Coupling::Sequential : Coupling::Simultaneous);
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
  MatrixXd gain(L, static_cast<Eigen::Index>(frequencies.size()));
  Eigen::VectorXcd x(stack.state_dim());
  for (std::size_t j = 0; j < frequencies.size(); ++j) {
    const cd z = discrete ? std::polar(1.0, kTwoPi * frequencies[j]) : cd(0, kTwoPi * frequencies[j]);
    // (z I - A) x = b, block lower-triangular: layer by layer upwards.
    for (int l = 0; l < L; ++l) {
      const auto& sl = slices[static_cast<std::size_t>(l)];
      Eigen::VectorXcd rhs = b.segment(sl.offset, sl.size).cast<cd>();
      if (sl.offset > 0) rhs += A.block(sl.offset, 0, sl.size, sl.offset).cast<cd>() * x.head(sl.offset);
      Eigen::MatrixXcd M = -A.block(sl.offset, sl.offset, sl.size, sl.size).cast<cd>();
      M.diagonal().array() += z;
      x.segment(sl.offset, sl.size) = M.partialPivLu().solve(rhs);
      gain(l, static_cast<Eigen::Index>(j)) = x.segment(sl.offset, sl.hidden_size).norm();
    }
  }
  return gain;
}

TimescaleResult probe_timescales(const Model& model, const TimescaleOptions& o) {
  o.validate(model, "timescales");
  const bool discrete = o.view == TimeView::Discrete;
  const int d = model.input_size, L = model.num_layers();
  const VectorXd x0 = o.x0.size() == 0 ? VectorXd::Zero(d) : o.x0;
  const VectorXd e = unit_direction(o, d);

  TimescaleResult r;
  std::vector<double> freqs = o.frequencies;
  std::sort(freqs.begin(), freqs.end());
  r.frequencies = Eigen::Map<const VectorXd>(freqs.data(), static_cast<Eigen::Index>(freqs.size()));
  const auto nf = r.frequencies.size();

  // The stable fixed point under x0, from the zero state.
  const FixedPointSystem fps(model, x0, o.view, o.tau);
  FinderOptions fo;
  fo.max_iters = 500;
  const StartResult start = run_start(fps, VectorXd::Zero(model.state_dim()), fo);
  if (start.status != StartStatus::Converged)
    throw RunError("no fixed point found from the zero state under the input constant (q = " + format_number(start.q) +
                   " after " + std::to_string(start.iterations) + " iterations); the probe needs a stable fixed point");
  r.fixed_point = start.state;
  const Stack stack(model);
  const auto lin = stack.linearize(x0, r.fixed_point);
  r.spectral_radius.resize(L);
  r.timescale.resize(L);
  double slowest = 0;
  for (int l = 0; l < L; ++l) {
    const Eigen::VectorXcd ev = dense_eigen(stack.diagonal_block(lin, l), false).values;
    r.spectral_radius(l) = ev.cwiseAbs().maxCoeff();
    double ts;
    if (discrete) {
      if (!(r.spectral_radius(l) < 1))
        throw RunError("the fixed point found under the input constant is unstable in layer " + std::to_string(l) +
                       " (spectral radius " + format_number(r.spectral_radius(l)) + "); the probe needs a stable fixed point");
      ts = -1.0 / std::log(r.spectral_radius(l));
    } else {
      const double t_l = o.tau[o.tau.size() == 1 ? 0 : static_cast<std::size_t>(l)];
      const double re = (ev.real().maxCoeff() - 1) / t_l;
      if (!(re < 0))
        throw RunError("the fixed point found under the input constant is unstable in layer " + std::to_string(l) +
                       " (largest real part " + format_number(re) + "); the probe needs a stable fixed point");
      ts = -1.0 / re;
    }
    r.timescale(l) = ts;
    slowest = std::max(slowest, ts);
  }

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

  r.gain.resize(L, nf);
  r.power.resize(L, nf);
  const int threads = o.threads <= 0 ? default_threads() : o.threads;
  if (discrete) {
    // One batch per thread, the frequencies dealt out in turn so that each gets long and short runs.
    const auto chunks = static_cast<std::size_t>(std::min<Eigen::Index>(threads, nf));
    parallel_for(chunks, threads, [&](std::size_t c) {
      std::vector<std::size_t> cols;
      for (std::size_t j = c; j < static_cast<std::size_t>(nf); j += chunks) cols.push_back(j);
      run_discrete(stack, o, x0, e, r.fixed_point, r, cols, r.gain, r.power);
    });
  } else {
    parallel_for(static_cast<std::size_t>(nf), threads,
                 [&](std::size_t j) { run_continuous(model, o, x0, e, r.fixed_point, r, j, r.gain, r.power); });
  }

  r.gain_linear = linear_gain(model, x0, r.fixed_point, e, freqs, o.view, o.tau);
  r.preferred_frequency.resize(L);
  r.cutoff_frequency.resize(L);
  for (int l = 0; l < L; ++l) {
    Eigen::Index best = 0;
    r.gain.row(l).maxCoeff(&best);
    r.preferred_frequency(l) = r.frequencies(best);
    const double level = r.gain(l, 0) / std::sqrt(2.0);
    double cutoff = r.frequencies(0);
    for (Eigen::Index j = 0; j < nf; ++j)
      if (r.gain(l, j) >= level) cutoff = r.frequencies(j);
    r.cutoff_frequency(l) = cutoff;
  }
  return r;
}

}  // namespace stackdyn
