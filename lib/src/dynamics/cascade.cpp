// The cascade (see cascade.hpp): dense tracks, one layer as a system, the explicit layer
// stepper, the choice of method and the window loop.
#include <stackdyn/dynamics/cascade.hpp>

#include "block_rosenbrock4.hpp"
#include "cascade_layer.hpp"

#include <Eigen/Eigenvalues>

#include <algorithm>
#include <cmath>
#include <memory>
#include <numbers>
#include <sstream>
#include <variant>

namespace stackdyn {
namespace detail {

// ---------------------------------------------------------------------------- DenseTrack

void DenseTrack::reset(int rows, int cols, double t_start) {
  rows_ = rows;
  cols_ = cols;
  t_start_ = t_start;
  n_ = 0;
  cursor_ = 0;
}

Eigen::MatrixXd* DenseTrack::add(double t0, double h, int degree, double eps) {
  if (n_ == t0_.size()) {
    t0_.push_back(0);
    h_.push_back(0);
    eps_.push_back(0);
    degree_.push_back(0);
    coef_.resize(coef_.size() + kSlots);
  }
  t0_[n_] = t0;
  h_[n_] = h;
  eps_[n_] = eps;
  degree_[n_] = degree;
  Eigen::MatrixXd* c = &coef_[n_ * kSlots];
  for (int p = 0; p <= degree; ++p) c[p].resize(rows_, cols_);
  ++n_;
  return c;
}

// Stage times move forward by less than a step and back after a rejection: search from the
// last step found.
std::size_t DenseTrack::find(double t) const {
  std::size_t i = std::min(cursor_, n_ - 1);
  while (i > 0 && t < t0_[i]) --i;
  while (i + 1 < n_ && t >= t0_[i + 1]) ++i;
  cursor_ = i;
  return i;
}

void DenseTrack::eval(double t, Eigen::Ref<Eigen::MatrixXd> out) const {
  const std::size_t i = find(t);
  const double th = std::clamp((t - t0_[i]) / h_[i], 0.0, 1.0);
  const Eigen::MatrixXd* c = &coef_[i * kSlots];
  out = c[degree_[i]];
  for (int p = degree_[i] - 1; p >= 0; --p) out = out * th + c[p];
}

void DenseTrack::derivative(double t, Eigen::Ref<Eigen::MatrixXd> out) const {
  const std::size_t i = find(t);
  const double th = std::clamp((t - t0_[i]) / h_[i], 0.0, 1.0);
  const Eigen::MatrixXd* c = &coef_[i * kSlots];
  const int d = degree_[i];
  out = static_cast<double>(d) * c[d];
  for (int p = d - 1; p >= 1; --p) out = out * th + static_cast<double>(p) * c[p];
  out /= h_[i];
}

double DenseTrack::max_error(double ta, double tb) const {
  std::size_t i = find(ta);
  double e = 0;
  for (; i < n_ && t0_[i] < tb; ++i) e = std::max(e, eps_[i]);
  return e;
}

// --------------------------------------------------------------------------- LayerSystem

LayerSystem::LayerSystem(const Stack& stack, int layer, double tau, const InputSignal& input,
                         const std::vector<DenseTrack>& below)
    : stack_(&stack), l_(layer), n_(stack.slices()[layer].size), B_(input.batch()),
      below_rows_(stack.slices()[layer].offset), tau_(tau), input_(&input), below_(&below),
      read_(stack.layers_read(layer)) {
  StateSlice sl = stack.slices()[layer];
  sl.offset = 0;
  slice_ = {sl};
  ws_ = stack.make_workspace();
  X_.resize(stack.input_size(), B_);
  dX_.resize(stack.input_size(), B_);
  Sb_.setZero(below_rows_, B_);
  X_.setZero();
  dX_.setZero();
  // x reaches the layer directly (layer 1), through a skip (layer 2) or a residual stream from layer 1.
  const auto& layers = stack.model().layers;
  reads_x_ = layer == 0 || (layer == 1 && layers[1].skip) ||
             (!read_.empty() && read_.front() == 0 && layers[0].residual);
  std::visit(
      [&](const auto& cell) {
        P_.resize(cell.projection_rows(), B_);
        P1_.resize(cell.projection_rows(), 1);
      },
      stack.cell(layer));
  G_.resize(n_, B_);
  G1_.resize(n_, 1);
  jvp_.resize(n_, 1);
  zero_.setZero(n_, 1);
}

void LayerSystem::inputs_at(double t) {
  if (t == u_t_) return;
  if (reads_x_) input_->at(t, std::isnan(hold_) ? t : hold_, X_, draws_);
  for (int k : read_) {
    const StateSlice& sk = stack_->slices()[k];
    (*below_)[k].eval(t, Sb_.middleRows(sk.offset, sk.size));
  }
  stack_->layer_input(l_, X_, Sb_, U_, ws_);
  u_t_ = t;
}

void LayerSystem::input_derivative_at(double t) {
  if (t == du_t_) return;
  if (reads_x_ && input_->time_varying()) input_->derivative(t, dX_);
  for (int k : read_) {
    const StateSlice& sk = stack_->slices()[k];
    (*below_)[k].derivative(t, Sb_.middleRows(sk.offset, sk.size));
  }
  stack_->layer_input(l_, dX_, Sb_, dU_, ws_);
  du_t_ = t;
  u_t_ = std::numeric_limits<double>::quiet_NaN();  // Sb_ now holds derivatives
}

void LayerSystem::operator()(const State& s, State& dsdt, double t) {
  inputs_at(t);
  const Eigen::Map<const Eigen::MatrixXd> S(s.data(), n_, B_);
  Eigen::Map<Eigen::MatrixXd> D(dsdt.data(), n_, B_);
  std::visit(
      [&](const auto& cell) {
        cell.project_input(U_, P_);
        cell.step(P_, S, G_, trace_);
      },
      stack_->cell(l_));
  D = (G_ - S) / tau_;
  ++rhs_;
}

void LayerSystem::trace_sample(const Eigen::Ref<const Eigen::VectorXd>& s, int b) {
  std::visit(
      [&](const auto& cell) {
        cell.project_input(U_.col(b), P1_);
        cell.step(P1_, s, G1_, trace1_);
      },
      stack_->cell(l_));
  trace1_.s = s;
}

void LayerSystem::jacobian(const Eigen::Ref<const Eigen::VectorXd>& s, double t, int b, Eigen::MatrixXd& J,
                           Eigen::VectorXd* dfdt, bool count) {
  if (dfdt) input_derivative_at(t);
  inputs_at(t);
  trace_sample(s, b);
  J.resize(n_, n_);
  std::visit([&](const auto& cell) { cell.jacobian_state(trace1_, J); }, stack_->cell(l_));
  J.diagonal().array() -= 1.0;
  J /= tau_;
  if (dfdt) {
    std::visit([&](const auto& cell) { cell.jvp(trace1_, dU_.col(b), zero_, jvp_); }, stack_->cell(l_));
    *dfdt = jvp_.col(0) / tau_;
  }
  if (count) ++jac_;
}

double LayerSystem::input_gain(const State& s, double t) {
  inputs_at(t);
  double g = 0;
  for (int b = 0; b < B_; ++b) {
    trace_sample(s.segment(static_cast<Eigen::Index>(b) * n_, n_), b);
    Bl_.resize(n_, U_.rows());
    std::visit([&](const auto& cell) { cell.jacobian_input(trace1_, Bl_); }, stack_->cell(l_));
    g = std::max(g, Bl_.cwiseAbs().rowwise().sum().maxCoeff());
  }
  return g;
}

}  // namespace detail

namespace {

using detail::DenseTrack;
using detail::LayerSystem;
using State = Eigen::VectorXd;

// Dormand-Prince 5(4) with odeint's controlled stepper's rules (default_error_checker: max
// norm of err / (atol + rtol (|x| + h |dx/dt|)); default_step_adjuster), so that on one
// layer it takes odeint's steps; written out for the stage derivatives, which its
// continuous extension needs (odeint keeps them private).
class Dopri5Layer {
 public:
  Dopri5Layer(LayerSystem& sys, double atol, double rtol, const State& s0)
      : sys_(&sys), atol_(atol), rtol_(rtol), x_(s0) {
    for (State* v : {&x_old_, &k1_, &k1_old_, &k2_, &k3_, &k4_, &k5_, &k6_, &k7_, &xt_, &xn_, &err_})
      v->setZero(s0.size());
  }
  /// A fresh derivative at t (the start, or past a jump of the input).
  void restart(double t) { (*sys_)(x_, k1_, t); }
  void set_input_error(double e, double cap) {
    e_in_ = e;
    cap_ = cap;
  }
  const State& state() const { return x_; }
  long long capped() const { return capped_; }

  bool try_step(double& t, double& dt) {
    constexpr double a2 = 1.0 / 5, a3 = 3.0 / 10, a4 = 4.0 / 5, a5 = 8.0 / 9;
    constexpr double b21 = 1.0 / 5, b31 = 3.0 / 40, b32 = 9.0 / 40, b41 = 44.0 / 45, b42 = -56.0 / 15,
                     b43 = 32.0 / 9, b51 = 19372.0 / 6561, b52 = -25360.0 / 2187, b53 = 64448.0 / 6561,
                     b54 = -212.0 / 729, b61 = 9017.0 / 3168, b62 = -355.0 / 33, b63 = 46732.0 / 5247,
                     b64 = 49.0 / 176, b65 = -5103.0 / 18656;
    constexpr double c1 = 35.0 / 384, c3 = 500.0 / 1113, c4 = 125.0 / 192, c5 = -2187.0 / 6784, c6 = 11.0 / 84;
    constexpr double dc1 = c1 - 5179.0 / 57600, dc3 = c3 - 7571.0 / 16695, dc4 = c4 - 393.0 / 640,
                     dc5 = c5 - -92097.0 / 339200, dc6 = c6 - 187.0 / 2100, dc7 = -1.0 / 40;
    LayerSystem& f = *sys_;
    xt_ = x_ + dt * b21 * k1_;
    f(xt_, k2_, t + dt * a2);
    xt_ = x_ + dt * b31 * k1_ + dt * b32 * k2_;
    f(xt_, k3_, t + dt * a3);
    xt_ = x_ + dt * b41 * k1_ + dt * b42 * k2_ + dt * b43 * k3_;
    f(xt_, k4_, t + dt * a4);
    xt_ = x_ + dt * b51 * k1_ + dt * b52 * k2_ + dt * b53 * k3_ + dt * b54 * k4_;
    f(xt_, k5_, t + dt * a5);
    xt_ = x_ + dt * b61 * k1_ + dt * b62 * k2_ + dt * b63 * k3_ + dt * b64 * k4_ + dt * b65 * k5_;
    f(xt_, k6_, t + dt);
    xn_ = x_ + dt * c1 * k1_ + dt * c3 * k3_ + dt * c4 * k4_ + dt * c5 * k5_ + dt * c6 * k6_;
    f(xn_, k7_, t + dt);
    err_ = dt * dc1 * k1_ + dt * dc3 * k3_ + dt * dc4 * k4_ + dt * dc5 * k5_ + dt * dc6 * k6_ + dt * dc7 * k7_;

    double e = 0;
    bool capped = false;
    for (Eigen::Index i = 0; i < x_.size(); ++i) {
      const double sc = atol_ + rtol_ * (std::abs(x_[i]) + std::abs(dt) * std::abs(k1_[i]));
      double r = std::abs(err_[i]) / sc;
      if (e_in_ > 0) {
        const double ri = e_in_ / sc;
        capped |= ri > cap_;
        r += std::min(ri, cap_);
      }
      e = std::max(e, r);
    }
    if (!(e <= 1.0)) {
      dt *= std::max(0.9 * std::pow(e, -1.0 / 3.0), 0.2);
      return false;
    }
    if (capped) ++capped_;
    t_old_ = t;
    h_ = dt;
    t += dt;
    if (e < 0.5) dt *= 0.9 * std::pow(std::max(e, std::pow(5.0, -5.0)), -1.0 / 5.0);
    x_old_.swap(x_);
    x_.swap(xn_);
    k1_old_.swap(k1_);
    k1_.swap(k7_);  // first same as last
    return true;
  }

  /// The last step's continuous extension (odeint's calc_state, Hairer's dense output of
  /// order 4) in powers of theta, and its error estimate.
  void record(DenseTrack& track) const {
    static constexpr double beta[6][5] = {
        {1.0, -2.8605386690370884, 3.099577878709121, -1.1618105836403092, 0.013917207301610328},   // k1
        {0.0, 4.047141499642786, -6.345354046938926, 2.795465086414005, -0.04801624082496286},      // k3
        {0.0, -3.941160071112659, 10.904003027940295, -6.729317509209278, 0.4175162190483098},      // k4
        {0.0, 2.8419447015870345, -7.547675862959386, 4.957636724931253, -0.5742817428041846},      // k5
        {0.0, -1.6109886359167997, 4.218915839039518, -2.950103865566732, 0.47312904339639456},     // k6
        {0.0, 1.523601174836727, -4.329466835790622, 3.0881301470710616, -0.2822644861171672}};     // k7
    Eigen::MatrixXd* c = track.add(t_old_, h_, 5, err_.cwiseAbs().maxCoeff());
    const auto rows = c[0].rows(), cols = c[0].cols();
    auto m = [&](const State& v) { return Eigen::Map<const Eigen::MatrixXd>(v.data(), rows, cols); };
    c[0] = m(x_old_);
    // k7 of the step is now k1_ (first same as last); k1 of the step is k1_old_.
    for (int p = 1; p <= 5; ++p)
      c[p] = h_ * (beta[0][p - 1] * m(k1_old_) + beta[1][p - 1] * m(k3_) + beta[2][p - 1] * m(k4_) +
                   beta[3][p - 1] * m(k5_) + beta[4][p - 1] * m(k6_) + beta[5][p - 1] * m(k1_));
  }

 private:
  LayerSystem* sys_;
  double atol_, rtol_;
  State x_, x_old_, k1_, k1_old_, k2_, k3_, k4_, k5_, k6_, k7_, xt_, xn_, err_;
  double t_old_ = 0, h_ = 0, e_in_ = 0, cap_ = 0;
  long long capped_ = 0;
};

using Rosenbrock = detail::BlockRosenbrock4<LayerSystem>;

void record_rosenbrock(const Rosenbrock& r, double h, DenseTrack& track, State c[4]) {
  r.dense_coefficients(c[0], c[1], c[2], c[3]);
  Eigen::MatrixXd* m = track.add(r.t_old(), h, 3, r.error_estimate().cwiseAbs().maxCoeff());
  for (int p = 0; p < 4; ++p) m[p] = Eigen::Map<const Eigen::MatrixXd>(c[p].data(), m[p].rows(), m[p].cols());
}

constexpr double kInputErrorCap = 0.5;
constexpr double kDopri5Boundary = 3.3;  // |h lambda| on dopri5's stability boundary (negative real axis)

class Cascade {
 public:
  Cascade(ContinuousSystem& sys, const IntegratorOptions& o, const Observer& obs)
      : sys_(sys), stack_(sys.stack()), o_(o), obs_(obs), clock_(o.t_end, o.dt_out),
        L_(sys.stack().num_layers()), B_(sys.batch()), N_(sys.state_dim()), tol_(1e-12 * std::max(1.0, o.t_end)),
        tracks_(static_cast<std::size_t>(L_)) {}

  IntegrationStats run(State& s) {
    choose(s);
    const Eigen::Map<const Eigen::MatrixXd> S0(s.data(), N_, B_);
    for (int l = 0; l < L_; ++l) {
      const StateSlice& sl = stack_.slices()[l];
      const double tau = 1.0 / sys_.inverse_tau()[sl.offset];
      layers_.push_back(std::make_unique<Layer>());
      Layer& y = *layers_.back();
      y.sys = std::make_unique<LayerSystem>(stack_, l, tau, sys_.input(), tracks_);
      y.sys->hold_input_at(0.0);
      Eigen::MatrixXd s0 = S0.middleRows(sl.offset, sl.size);
      const State v = Eigen::Map<const State>(s0.data(), s0.size());
      const LayerStats& ls = st_.layers[static_cast<std::size_t>(l)];
      if (ls.chosen == "rosenbrock4") {
        y.stepper.emplace<Rosenbrock>(*y.sys, y.sys->slices(), ls.atol, ls.rtol, v);
      } else {
        y.stepper.emplace<Dopri5Layer>(*y.sys, ls.atol, ls.rtol, v);
      }
      y.dt = std::min(o_.dt, o_.t_end);
      y.coef.resize(4);
    }
    emit(s, 0.0);
    double T0 = 0;
    while (T0 < o_.t_end - tol_) {
      for (int l = 0; l < L_; ++l) tracks_[static_cast<std::size_t>(l)].reset(stack_.slices()[l].size, B_, T0);
      double T1 = o_.t_end;
      for (int l = 0; l < L_; ++l) T1 = advance(l, T0, T1);
      outputs(T0, T1, s);
      T0 = T1;
    }
    for (int l = 0; l < L_; ++l) {
      const StateSlice& sl = stack_.slices()[l];
      Eigen::Map<Eigen::MatrixXd>(s.data(), N_, B_).middleRows(sl.offset, sl.size) =
          Eigen::Map<const Eigen::MatrixXd>(state(l).data(), sl.size, B_);
    }
    return stats();
  }

 private:
  struct Layer {
    std::unique_ptr<LayerSystem> sys;
    std::variant<std::monostate, Dopri5Layer, Rosenbrock> stepper;
    double t = 0, dt = 0, gain = 0;
    bool started = false;
    std::vector<State> coef;
  };

  const State& state(int l) {
    Layer& y = *layers_[static_cast<std::size_t>(l)];
    if (auto* d = std::get_if<Dopri5Layer>(&y.stepper)) return d->state();
    std::get<Rosenbrock>(y.stepper).copy_state(scratch_);
    return scratch_;
  }

  // Per-layer methods and tolerances; auto's choice from the diagonal blocks at the start.
  void choose(const State& s) {
    auto pick = [&](const auto& v, std::size_t l, auto fallback) {
      return v.empty() ? fallback : v[v.size() == 1 ? 0 : l];
    };
    const Method fallback = o_.method == Method::Auto ? Method::Auto : Method::Dopri5;
    double forcing = o_.t_end;  // the fastest timescale driving the layers so far
    for (const Sinusoid& w : input_sinusoids())
      if (w.amplitude != 0 && w.frequency > 0) forcing = std::min(forcing, 1.0 / (2 * std::numbers::pi * w.frequency));
    Eigen::MatrixXd X(stack_.input_size(), B_);
    sys_.input().at(0.0, 0.0, X);
    Stack::Linearization lin;
    for (int l = 0; l < L_; ++l) {
      const auto ul = static_cast<std::size_t>(l);
      LayerStats ls;
      const Method m = pick(o_.layer_methods, ul, fallback);
      ls.requested = std::string(method_name(m));
      ls.rtol = pick(o_.layer_rtol, ul, o_.rtol);
      ls.atol = pick(o_.layer_atol, ul, o_.atol);
      const StateSlice& sl = stack_.slices()[l];
      const double inv_tau = sys_.inverse_tau()[sl.offset];
      // spectral radius of (A_ll - I) / tau_l over the first samples
      for (int b = 0; b < std::min(B_, 4); ++b) {
        stack_.linearize(X.col(b), s.segment(static_cast<Eigen::Index>(b) * N_, N_), lin);
        Eigen::MatrixXd A = stack_.diagonal_block(lin, l);
        A.diagonal().array() -= 1.0;
        A *= inv_tau;
        const Eigen::EigenSolver<Eigen::MatrixXd> es(A, false);
        ls.spectral_radius = std::max(ls.spectral_radius, es.eigenvalues().cwiseAbs().maxCoeff());
      }
      ls.step_estimate = 4.0 * std::pow(ls.rtol, 0.2) * forcing;
      if (m == Method::Auto)
        ls.chosen = ls.spectral_radius * ls.step_estimate <= kDopri5Boundary ? "dopri5" : "rosenbrock4";
      else
        ls.chosen = ls.requested;
      if (ls.chosen == "dopri5" && ls.spectral_radius > 0) forcing = std::min(forcing, 1.0 / ls.spectral_radius);
      st_.layers.push_back(ls);
    }
  }

  const std::vector<Sinusoid>& input_sinusoids() const { return sys_.input().spec().sinusoids; }

  // Layer l from T0 to the window's end: the bottom layer decides it (window_steps steps,
  // or t_end); the others stop exactly there. Returns the window's end.
  double advance(int l, double T0, double T1) {
    Layer& y = *layers_[static_cast<std::size_t>(l)];
    LayerStats& ls = st_.layers[static_cast<std::size_t>(l)];
    LayerSystem& f = *y.sys;
    DenseTrack& track = tracks_[static_cast<std::size_t>(l)];
    f.invalidate();  // the tracks below are the new window's
    auto* dp = std::get_if<Dopri5Layer>(&y.stepper);
    auto* rb = std::get_if<Rosenbrock>(&y.stepper);
    if (dp && !y.started) dp->restart(y.t);
    y.started = true;
    if (l > 0) y.gain = f.input_gain(state(l), T0);
    const bool bottom = l == 0;
    long long taken = 0;
    while (y.t < T1 - tol_ && !(bottom && taken >= o_.window_steps)) {
      const double t_stop = std::min({sys_.input().next_break(y.t), o_.t_end, T1});
      const double dt_wanted = y.dt, t_old = y.t;
      const bool clamped = y.t + y.dt > t_stop - tol_;
      if (clamped) y.dt = t_stop - y.t;
      if (l > 0) {
        double eps = 0;
        for (int k : f.layers_read()) eps = std::max(eps, tracks_[static_cast<std::size_t>(k)].max_error(y.t, y.t + y.dt));
        const double e_in = -std::expm1(-y.dt / f.tau()) * y.gain * eps;
        if (dp) dp->set_input_error(e_in, kInputErrorCap);
        if (rb) rb->set_input_error(e_in, kInputErrorCap);
      }
      const bool ok = dp ? dp->try_step(y.t, y.dt) : rb->try_step(y.t, y.dt);
      if (!ok) {
        ++ls.rejected_steps;
        if (!(y.dt > 1e-14 * std::max(1.0, std::abs(y.t)))) {
          std::ostringstream m;
          m.precision(10);
          m << "step size underflow at t = " << y.t << " in layer " << l << " (method cascade, " << ls.chosen
            << "): the layer is too stiff for the tolerances, or is diverging";
          throw RunError(m.str());
        }
        continue;
      }
      ++ls.steps;
      ++taken;
      if (dp)
        dp->record(track);
      else
        record_rosenbrock(*rb, y.t - t_old, track, y.coef.data());
      check_finite(l, y.t);
      if (clamped) {
        y.t = t_stop;
        y.dt = std::max(y.dt, dt_wanted);
        if (t_stop == sys_.input().next_break(t_old)) {  // past a jump of the input: a fresh derivative
          f.hold_input_at(t_stop);
          if (dp) dp->restart(y.t);
        }
      }
    }
    if (bottom) T1 = y.t;
    return T1;
  }

  void check_finite(int l, double t) {
    const State& x = state(l);
    if (x.allFinite()) return;
    int sample = 0;
    const int n = stack_.slices()[l].size;
    for (int b = 0; b < B_; ++b)
      if (!x.segment(static_cast<Eigen::Index>(b) * n, n).allFinite()) {
        sample = b;
        break;
      }
    std::ostringstream m;
    m.precision(10);
    m << "the state diverged to NaN/Inf at t = " << t << " in layer " << l << " (sample " << sample
      << ", method cascade, " << st_.layers[static_cast<std::size_t>(l)].chosen << ")";
    st_.t_reached = t;
    throw DivergenceError(m.str(), t, l, stats());
  }

  // The output times in (T0, T1], from the tracks.
  void outputs(double T0, double T1, State& s) {
    Eigen::Map<Eigen::MatrixXd> S(s.data(), N_, B_);
    for (; next_ < clock_.count() && clock_.time(next_) <= T1 + tol_;) {
      const double to = std::max(clock_.time(next_), T0);
      for (int l = 0; l < L_; ++l) {
        const StateSlice& sl = stack_.slices()[l];
        tracks_[static_cast<std::size_t>(l)].eval(to, S.middleRows(sl.offset, sl.size));
      }
      emit(s, clock_.time(next_));
    }
    st_.t_reached = T1;
  }

  void emit(const State& s, double t) {
    obs_(s, t);
    ++st_.outputs;
    ++next_;
  }

  IntegrationStats stats() {
    st_.steps = st_.rejected_steps = st_.rhs_evaluations = st_.jacobian_evaluations = 0;
    for (int l = 0; l < static_cast<int>(layers_.size()); ++l) {
      LayerStats& ls = st_.layers[static_cast<std::size_t>(l)];
      const Layer& y = *layers_[static_cast<std::size_t>(l)];
      ls.rhs_evaluations = y.sys->rhs_evaluations();
      ls.jacobian_evaluations = y.sys->jacobian_evaluations();
      if (auto* d = std::get_if<Dopri5Layer>(&y.stepper)) ls.input_error_capped = d->capped();
      if (auto* r = std::get_if<Rosenbrock>(&y.stepper)) ls.input_error_capped = r->capped();
      st_.steps += ls.steps;
      st_.rejected_steps += ls.rejected_steps;
      st_.rhs_evaluations += ls.rhs_evaluations;
      st_.jacobian_evaluations += ls.jacobian_evaluations;
    }
    return st_;
  }

  ContinuousSystem& sys_;
  const Stack& stack_;
  const IntegratorOptions& o_;
  const Observer& obs_;
  OutputClock clock_;
  int L_, B_, N_;
  double tol_;
  std::vector<DenseTrack> tracks_;
  std::vector<std::unique_ptr<Layer>> layers_;
  long long next_ = 0;
  IntegrationStats st_;
  State scratch_;
};

}  // namespace

IntegrationStats integrate_cascade(ContinuousSystem& sys, Eigen::VectorXd& s, const IntegratorOptions& opt,
                                   const Observer& obs) {
  if (s.size() != sys.size())
    throw InputError("initial state of length " + std::to_string(s.size()) + ", expected " +
                     std::to_string(sys.size()) + " (state_dim x batch)");
  const int L = sys.stack().num_layers();
  auto check = [&](std::size_t n, const char* what) {
    if (n > 1 && static_cast<int>(n) != L)
      throw InputError(std::string(what) + ": " + std::to_string(n) + " values for a model of " + std::to_string(L) +
                       " layers; expected one value or one per layer");
  };
  check(opt.layer_methods.size(), "cascade.methods");
  check(opt.layer_rtol.size(), "cascade.rtol");
  check(opt.layer_atol.size(), "cascade.atol");
  for (Method m : opt.layer_methods)
    if (m != Method::Dopri5 && m != Method::Rosenbrock4 && m != Method::Auto)
      throw InputError("cascade.methods: '" + std::string(method_name(m)) +
                       "' cannot integrate one layer; expected dopri5, rosenbrock4 or auto");
  Cascade c(sys, opt, obs);
  return c.run(s);
}

}  // namespace stackdyn
