// Driving Odeint's steppers over the output times (see integrate.hpp). The loops are
// written out, rather than odeint::integrate_times, so that rejected steps can be counted,
// steps can stop at the input's jumps and the state can be checked after every step.
#include <stackdyn/dynamics/cascade.hpp>
#include <stackdyn/core/format.hpp>
#include <stackdyn/dynamics/integrate.hpp>

#include "block_rosenbrock4.hpp"

#include <boost/numeric/odeint/stepper/bulirsch_stoer.hpp>
#include <boost/numeric/odeint/stepper/euler.hpp>
#include <boost/numeric/odeint/stepper/generation.hpp>
#include <boost/numeric/odeint/stepper/runge_kutta4.hpp>
#include <boost/numeric/odeint/stepper/runge_kutta_dopri5.hpp>
#include <boost/numeric/odeint/external/eigen/eigen.hpp>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <sstream>

namespace stackdyn {
namespace {

namespace odeint = boost::numeric::odeint;
using State = Eigen::VectorXd;
using Algebra = odeint::vector_space_algebra;

constexpr std::string_view kNames[] = {"euler", "rk4", "dopri5", "rosenbrock4", "bulirsch_stoer", "cascade", "auto"};

class Driver {
 public:
  Driver(ContinuousSystem& sys, const IntegratorOptions& o, const Observer& obs)
      : sys_(sys), o_(o), obs_(obs), clock_(o.t_end, o.dt_out), tol_(1e-12 * std::max(1.0, o.t_end)),
        rhs0_(sys.rhs_evaluations()), jac0_(sys.jacobian_evaluations()) {}

  IntegrationStats run(State& s) {
    sys_.hold_input_at(0.0);
    emit(s, 0.0);
    if (o_.stepper) {
      const std::unique_ptr<AdaptiveStepper> st = o_.stepper(sys_, o_.atol, o_.rtol, s);
      dense_adaptive(*st, s);
      return stats();
    }
    switch (o_.method) {
      case Method::Euler: {
        odeint::euler<State, double, State, double, Algebra> st;
        fixed(st, s);
        break;
      }
      case Method::Rk4: {
        odeint::runge_kutta4<State, double, State, double, Algebra> st;
        fixed(st, s);
        break;
      }
      case Method::Dopri5: dopri5(s); break;
      case Method::Rosenbrock4: {
        detail::BlockRosenbrock4<ContinuousSystem> st(sys_, sys_.stack().slices(), o_.atol, o_.rtol, s);
        dense_adaptive(st, s);
        break;
      }
      case Method::BulirschStoer: bulirsch_stoer(s); break;
      case Method::Cascade:
      case Method::Auto: break;  // integrate() hands these to the cascade
    }
    return stats();
  }

 private:
  IntegrationStats stats() {
    st_.rhs_evaluations = sys_.rhs_evaluations() - rhs0_;
    st_.jacobian_evaluations = sys_.jacobian_evaluations() - jac0_;
    return st_;
  }
  bool more() const { return next_ < clock_.count(); }
  double next_out() const { return clock_.time(next_); }
  void emit(const State& s, double t) {
    obs_(s, t);
    ++st_.outputs;
    ++next_;
  }
  void accepted(const double* s, double t) {
    ++st_.steps;
    st_.t_reached = t;
    const auto [layer, sample] = sys_.first_nonfinite(s);
    if (layer < 0) return;
    throw DivergenceError("the state diverged to NaN/Inf at t = " + format_number(t) + " in layer " +
                              std::to_string(layer) + " (sample " + std::to_string(sample) + ", method " +
                              std::string(method_name(o_.method)) + ")",
                          t, layer, stats());
  }
  void rejected(double t, double dt) {
    ++st_.rejected_steps;
    if (!(dt > 1e-14 * std::max(1.0, std::abs(t)))) {
      throw RunError("step size underflow at t = " + format_number(t) + " (method " +
                     std::string(method_name(o_.method)) + "): the system is too stiff for the tolerances, or is diverging");
    }
  }
  // Where the next step must end at the latest: a jump of the input, or the end.
  double stop_after(double t) const { return std::min(sys_.input().next_break(t), o_.t_end); }

  template <class Stepper>
  void fixed(Stepper& stepper, State& s) {
    for (; more(); ) {
      const double ta = clock_.time(next_ - 1), tb = next_out();
      const auto m = std::max<long long>(1, static_cast<long long>(std::ceil((tb - ta) / o_.dt - 1e-9)));
      const double h = (tb - ta) / static_cast<double>(m);
      for (long long i = 0; i < m; ++i) {
        const double ti = ta + static_cast<double>(i) * h;
        sys_.hold_input_at(ti);
        stepper.do_step(std::ref(sys_), s, ti, h);
        accepted(s.data(), i + 1 == m ? tb : ti + h);
      }
      emit(s, tb);
    }
  }

  void dopri5(State& s) {
    auto ctl = odeint::make_controlled(o_.atol, o_.rtol,
                                       odeint::runge_kutta_dopri5<State, double, State, double, Algebra>());
    const auto n = s.size();
    State dsdt(n), s_new(n), dsdt_new(n), s_out(n);
    sys_(s, dsdt, 0.0);
    adaptive(
        false,
        [&](double& t, double& dt) { return ctl.try_step(std::ref(sys_), s, dsdt, t, s_new, dsdt_new, dt) != odeint::fail; },
        [&](double t_old, double t, bool clamped) {
          accepted(s_new.data(), t);
          for (; more() && next_out() <= t + tol_;) {
            const double to = next_out();
            if (to >= t - tol_) {
              emit(s_new, to);
            } else {
              ctl.stepper().calc_state(to, s_out, s, dsdt, t_old, s_new, dsdt_new, t);
              emit(s_out, to);
            }
          }
          s.swap(s_new);
          dsdt.swap(dsdt_new);
          if (clamped && more()) sys_(s, dsdt, t);  // the input may jump here: a fresh derivative
        });
  }

  // A stepper with its own dense output (rosenbrock4, or the caller's).
  template <class Stepper>
  void dense_adaptive(Stepper& stepper, State& s) {
    State out(s.size());
    adaptive(
        false, [&](double& t, double& dt) { return stepper.try_step(t, dt); },
        [&](double, double t, bool) {
          accepted(stepper.state(), t);
          for (; more() && next_out() <= t + tol_;) {
            const double to = next_out();
            if (to >= t - tol_)
              stepper.copy_state(out);
            else
              stepper.dense(to, out);
            emit(out, to);
          }
        });
    stepper.copy_state(s);
  }

  void bulirsch_stoer(State& s) {
    odeint::bulirsch_stoer<State, double, State, double, Algebra> bs(o_.atol, o_.rtol);
    adaptive(
        true, [&](double& t, double& dt) { return bs.try_step(std::ref(sys_), s, t, dt) != odeint::fail; },
        [&](double, double t, bool) {
          accepted(s.data(), t);
          if (more() && next_out() <= t + tol_) emit(s, next_out());
        });
  }

  // The loop every adaptive stepper shares: a step never crosses a jump of the input (nor,
  // with stop_at_outputs, an output time); attempt(t, dt) tries one step and on success
  // advances t and dt; after(t_old, t, clamped) handles the accepted step.
  template <class Attempt, class After>
  void adaptive(bool stop_at_outputs, Attempt&& attempt, After&& after) {
    double t = 0, dt = std::min(o_.dt, o_.t_end);
    while (more()) {
      const double t_stop = stop_at_outputs ? std::min(stop_after(t), next_out()) : stop_after(t);
      const double dt_wanted = dt, t_old = t;
      const bool clamped = t + dt > t_stop - tol_;
      if (clamped) dt = t_stop - t;
      if (!attempt(t, dt)) {
        rejected(t, dt);
        continue;
      }
      if (clamped) {
        t = t_stop;
        dt = std::max(dt, dt_wanted);
        sys_.hold_input_at(t);  // past a jump of the input (or at an output time: harmless)
      }
      after(t_old, t, clamped);
    }
  }

  ContinuousSystem& sys_;
  const IntegratorOptions& o_;
  const Observer& obs_;
  OutputClock clock_;
  double tol_;
  long long rhs0_, jac0_;
  long long next_ = 0;
  IntegrationStats st_;
};

}  // namespace

std::string_view method_name(Method m) { return kNames[static_cast<int>(m)]; }

Method parse_method(std::string_view name, std::string_view where) {
  for (int i = 0; i < static_cast<int>(std::size(kNames)); ++i)
    if (name == kNames[i]) return static_cast<Method>(i);
  throw InputError(std::string(where) + ": unknown method '" + std::string(name) +
                   "'; expected one of: euler, rk4, dopri5, rosenbrock4, bulirsch_stoer, cascade, auto");
}

Method parse_layer_method(std::string_view name, std::string_view where) {
  if (name == "dopri5") return Method::Dopri5;
  if (name == "rosenbrock4") return Method::Rosenbrock4;
  if (name == "auto") return Method::Auto;
  throw InputError(std::string(where) + ": unknown layer method '" + std::string(name) +
                   "'; expected one of: dopri5, rosenbrock4, auto");
}

bool is_adaptive(Method m) { return m != Method::Euler && m != Method::Rk4; }
bool is_cascade(Method m) { return m == Method::Cascade || m == Method::Auto; }

OutputClock::OutputClock(double t_end, double dt_out) : t_end_(t_end), dt_out_(dt_out) {
  const auto grid = static_cast<long long>(std::floor(t_end / dt_out * (1 + 1e-12)));
  // k dt_out for k <= grid; t_end replaces the last grid point when they coincide.
  const bool on_grid = static_cast<double>(grid) * dt_out >= t_end * (1 - 1e-12);
  n_ = on_grid ? grid + 1 : grid + 2;
}

IntegrationStats integrate(ContinuousSystem& sys, Eigen::VectorXd& s, const IntegratorOptions& opt,
                           const Observer& obs) {
  if (s.size() != sys.size())
    throw InputError("initial state of length " + std::to_string(s.size()) + ", expected " +
                     std::to_string(sys.size()) + " (state_dim x batch)");
  if (is_cascade(opt.method)) return integrate_cascade(sys, s, opt, obs);
  Driver d(sys, opt, obs);
  const IntegrationStats st = d.run(s);
  sys.hold_input_at(std::numeric_limits<double>::quiet_NaN());
  return st;
}

}  // namespace stackdyn
