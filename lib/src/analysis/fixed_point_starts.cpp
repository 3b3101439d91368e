// Starts of the fixed-point search sampled from simulated trajectories (fixed_points.hpp):
// the discrete map stepped, or the continuous-time view integrated with integrate().
#include <stackdyn/core/error.hpp>
#include <stackdyn/analysis/fixed_points.hpp>
#include <stackdyn/dynamics/integrate.hpp>
#include <stackdyn/core/random.hpp>

#include <algorithm>
#include <cmath>
#include <sstream>

namespace stackdyn {
namespace {

std::string format_number(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

// The random part shared by both views, in the order the generator is drawn: origins
// U(-1, 1) (column by column), then each start's time index, then (later) the noise.
struct Draws {
  MatrixXd origins;
  std::vector<int> stop;
};

Draws draw(Rng& rng, int N, const StartSampling& o) {
  Draws d{MatrixXd(N, o.n), std::vector<int>(static_cast<std::size_t>(o.n))};
  for (Eigen::Index j = 0; j < d.origins.size(); ++j) d.origins.data()[j] = rng.uniform(-1.0, 1.0);
  for (auto& t : d.stop) t = o.burn_in + static_cast<int>(rng.below(static_cast<std::uint64_t>(o.spread) + 1));
  return d;
}

void add_noise(Rng& rng, double noise, MatrixXd& S) {
  if (noise > 0)
    for (Eigen::Index j = 0; j < S.size(); ++j) S.data()[j] += noise * rng.normal();
}

void validate(const StartSampling& o) {
  if (o.n < 1) throw InputError("n-init must be a positive integer, got " + std::to_string(o.n));
  if (!(o.noise >= 0) || !std::isfinite(o.noise)) throw InputError("noise must be a finite number >= 0");
  if (o.burn_in < 0 || o.spread < 0) throw InputError("start sampling: burn-in and spread must be >= 0");
  if (!(o.rtol > 0) || !(o.atol > 0) || !(o.stiff_rtol > 0) || !(o.stiff_atol > 0)) throw InputError("start sampling: integrator tolerances must be > 0");
}

// Steps the map: column j is taken after stop[j] steps.
MatrixXd discrete_trajectories(const Stack& stack, const Eigen::Ref<const VectorXd>& x, const Draws& d, int T) {
  const int n = static_cast<int>(d.origins.cols());
  MatrixXd S = d.origins, S_next(S.rows(), n), out(S.rows(), n);
  const MatrixXd X = x.replicate(1, n);
  auto ws = stack.make_workspace();
  for (int t = 0; t <= T; ++t) {
    for (int j = 0; j < n; ++j)
      if (d.stop[static_cast<std::size_t>(j)] == t) out.col(j) = S.col(j);
    if (t == T) break;
    stack.step(X, S, S_next, ws);
    S.swap(S_next);
  }
  return out;
}

}  // namespace

MatrixXd sample_initial_states(const Stack& stack, const Eigen::Ref<const VectorXd>& x, int n, double noise,
                               std::uint64_t seed, int burn_in, int spread) {
  StartSampling o;
  o.n = n;
  o.noise = noise;
  o.seed = seed;
  o.burn_in = burn_in;
  o.spread = spread;
  validate(o);
  Rng rng(seed);
  const Draws d = draw(rng, stack.state_dim(), o);
  MatrixXd out = discrete_trajectories(stack, x, d, burn_in + spread);
  add_noise(rng, noise, out);
  return out;
}

TrajectoryStarts sample_trajectory_starts(const Model& model, const Eigen::Ref<const VectorXd>& x, TimeView view,
                                          const std::vector<double>& tau, const StartSampling& o) {
  validate(o);
  if (x.size() != model.input_size)
    throw InputError("constant input has " + std::to_string(x.size()) + " values, expected input_size = " +
                     std::to_string(model.input_size));
  Rng rng(o.seed);
  TrajectoryStarts r;
  const int T = o.burn_in + o.spread;
  std::ostringstream how;
  if (view == TimeView::Discrete) {
    const Stack stack(model, Coupling::Sequential);
    Draws d = draw(rng, stack.state_dim(), o);
    r.states = discrete_trajectories(stack, x, d, T);
    r.origins = std::move(d.origins);
    r.times = Eigen::Map<const Eigen::VectorXi>(d.stop.data(), o.n).cast<double>();
    how << "starts: " << o.n << " trajectories of the discrete map under the constant input from s ~ U(-1, 1), "
        << "each taken after " << o.burn_in << " + U{0.." << o.spread << "} steps";
  } else {
    // One unit of sampling time is the slowest layer's time constant (one step of the map is
    // one tau: docs/design.md 3, Euler with dt = tau).
    if (tau.empty()) throw InputError("tau: expected one value or one per layer");
    const double tau_max = *std::max_element(tau.begin(), tau.end());
    const double tau_min = *std::min_element(tau.begin(), tau.end());
    InputSpec spec;
    spec.constant = x;
    const InputSignal input(spec, model.input_size, o.n, "fixed-point starts");
    ContinuousSystem sys(model, tau, input);  // checks tau
    Draws d = draw(rng, sys.state_dim(), o);
    const int N = sys.state_dim();
    r.states = d.origins;
    r.times = Eigen::Map<const Eigen::VectorXi>(d.stop.data(), o.n).cast<double>() * tau_max;
    // Time constants far apart make the view stiff: an explicit method's step is held to
    // about min(tau) over the 100 max(tau) sampled; an L-stable method's is not.
    const bool stiff = tau_max > o.stiff_ratio * tau_min;
    IntegratorOptions io;
    io.method = stiff ? Method::Rosenbrock4 : Method::Dopri5;
    io.rtol = stiff ? o.stiff_rtol : o.rtol;
    io.atol = stiff ? o.stiff_atol : o.atol;
    r.method = std::string(method_name(io.method));
    if (T > 0) {
      io.dt = 0.01 * tau_min;
      io.t_end = T * tau_max;
      io.dt_out = tau_max;
      VectorXd s = Eigen::Map<const VectorXd>(d.origins.data(), d.origins.size());
      std::vector<char> taken(static_cast<std::size_t>(o.n), 0);
      const IntegrationStats st = integrate(sys, s, io, [&](const VectorXd& state, double t) {
        const auto k = static_cast<int>(std::llround(t / tau_max));
        const Eigen::Map<const MatrixXd> S(state.data(), N, o.n);
        for (int j = 0; j < o.n; ++j)
          if (!taken[static_cast<std::size_t>(j)] && d.stop[static_cast<std::size_t>(j)] == k) {
            r.states.col(j) = S.col(j);
            r.times[j] = t;
            taken[static_cast<std::size_t>(j)] = 1;
          }
        if (o.progress) o.progress(t / io.t_end);
      });
      r.steps = st.steps;
      r.rhs_evaluations = st.rhs_evaluations;
    }
    r.origins = std::move(d.origins);
    how << "starts: " << o.n << " trajectories of the continuous-time view tau ds/dt = G(s, x*) - s "
        << "(integrate(), " << r.method << (stiff ? " as max(tau)/min(tau) > " + format_number(o.stiff_ratio) : "")
        << ", rtol " << io.rtol << ", atol " << io.atol << ") from s ~ U(-1, 1), each taken at t = (" << o.burn_in
        << " + U{0.." << o.spread << "}) max(tau), max(tau) = " << tau_max << " (" << r.steps << " steps, "
        << r.rhs_evaluations << " right-hand sides)";
  }
  add_noise(rng, o.noise, r.states);
  how << ", plus N(0, " << o.noise << "^2) noise; seed " << o.seed;
  r.description = how.str();
  return r;
}

}  // namespace stackdyn
