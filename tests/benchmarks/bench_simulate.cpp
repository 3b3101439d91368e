// Benchmark of the continuous-time view (issue 3, item 8): 3-layer vanilla tanh stacks of
// 32 and 128 units, sinusoidal input, t in [0, 200], dopri5 at rtol 1e-6 / atol 1e-9; the
// cost of one right-hand side against the matrix-vector products alone; and a stiff variant
// (layer 2's tau 100 times smaller) by rosenbrock4 with the analytic Jacobian.
// scripts/bench_simulate.py runs this program and scipy's solve_ivp on the same models.
//
//   bench_simulate OUT_DIR [N ...]   (default N = 32 128) writes OUT_DIR/model_<n>.h5 and OUT_DIR/bench_<n>.h5 (final
//                            states, times, counts) and prints a summary
#include <stackdyn/continuous_system.hpp>
#include <stackdyn/integrate.hpp>
#include <stackdyn/model_io.hpp>
#include <stackdyn/random.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>

using namespace stackdyn;
using Clock = std::chrono::steady_clock;

namespace {

// Weights ~ U(-1, 1) * gain / sqrt(n): recurrent gain 1.2 (rich but bounded dynamics).
Model bench_model(int n) {
  Rng rng(2024 + static_cast<std::uint64_t>(n));
  Model m;
  m.input_size = 2;
  for (int l = 0; l < 3; ++l) {
    LayerSpec s;
    s.cell = CellType::RnnTanh;
    s.hidden_size = n;
    const int in = l == 0 ? 2 : n;
    auto fill = [&](Eigen::Index r, Eigen::Index c, double scale) {
      Eigen::MatrixXd w(r, c);
      for (Eigen::Index i = 0; i < w.size(); ++i) w.data()[i] = scale * rng.uniform(-1, 1);
      return w;
    };
    s.fwd.w_ih = fill(n, in, 1.5 / std::sqrt(static_cast<double>(in)));
    s.fwd.w_hh = fill(n, n, 1.2 * std::sqrt(3.0) / std::sqrt(static_cast<double>(n)));
    s.fwd.b_ih = fill(n, 1, 0.1);
    s.fwd.b_hh = Eigen::VectorXd::Zero(n);
    m.layers.push_back(s);
  }
  m.validate("bench_model");
  return m;
}

InputSpec bench_input() {
  InputSpec s;
  s.sinusoids = {{0, 1.0, 0.05, 0.0}, {1, 0.5, 0.13, 1.0}};
  return s;
}

struct Timed {
  double seconds = 0;
  IntegrationStats stats;
  Eigen::VectorXd final_state;
};

Timed run(const Model& m, const std::vector<double>& tau, Method method, double rtol, double atol, int repeats) {
  const InputSignal input(bench_input(), m.input_size, 1);
  Timed best;
  best.seconds = 1e300;
  for (int r = 0; r < repeats; ++r) {
    ContinuousSystem sys(m, tau, input);
    Eigen::VectorXd s = Eigen::VectorXd::Zero(sys.size());
    IntegratorOptions o;
    o.method = method;
    o.rtol = rtol;
    o.atol = atol;
    o.t_end = 200;
    o.dt_out = 200;
    o.dt = 1e-3;
    const auto t0 = Clock::now();
    const IntegrationStats st = integrate(sys, s, o, [](const Eigen::VectorXd&, double) {});
    const double sec = std::chrono::duration<double>(Clock::now() - t0).count();
    if (sec < best.seconds) best = {sec, st, s};
  }
  return best;
}

template <class F>
double per_call(F&& f, int calls) {
  f();
  const auto t0 = Clock::now();
  for (int i = 0; i < calls; ++i) f();
  return std::chrono::duration<double>(Clock::now() - t0).count() / calls;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: bench_simulate OUT_DIR [N ...]\n";
    return 2;
  }
  const std::string dir = argv[1];
  std::filesystem::create_directories(dir);
  std::vector<int> sizes;
  for (int i = 2; i < argc; ++i) sizes.push_back(std::atoi(argv[i]));
  if (sizes.empty()) sizes = {32, 128};
  for (int n : sizes) {
    const Model m = bench_model(n);
    write_model(m, dir + "/model_" + std::to_string(n) + ".h5", Provenance{});
    const Timed dop = run(m, {1.0}, Method::Dopri5, 1e-6, 1e-9, 3);
    const Timed ref = run(m, {1.0}, Method::Dopri5, 1e-12, 1e-14, 1);
    const std::vector<double> stiff_tau = {1.0, 0.01, 1.0};
    const Timed ros = run(m, stiff_tau, Method::Rosenbrock4, 1e-6, 1e-9, 1);
    const Timed ros_ref = run(m, stiff_tau, Method::Dopri5, 1e-10, 1e-12, 1);  // explicit, slow but independent

    // One right-hand side against the six matrix-vector products it contains.
    const InputSignal input(bench_input(), m.input_size, 1);
    ContinuousSystem sys(m, {1.0}, input);
    Eigen::VectorXd s = Eigen::VectorXd::Constant(sys.size(), 0.1), ds(sys.size());
    const int calls = n == 32 ? 200000 : 20000;
    const double t_rhs = per_call([&] { sys(s, ds, 1.0); }, calls);
    std::vector<Eigen::VectorXd> out(3, Eigen::VectorXd(n));
    Eigen::VectorXd x = Eigen::VectorXd::Constant(2, 0.3);
    const double t_mv = per_call(
        [&] {
          for (int l = 0; l < 3; ++l) {
            const auto& p = m.layers[l].fwd;
            out[l].noalias() = p.w_ih * (l == 0 ? x : s.segment(n * (l - 1), n));
            out[l].noalias() += p.w_hh * s.segment(n * l, n);
          }
        },
        calls);

    h5::File f = h5::File::create(dir + "/bench_" + std::to_string(n) + ".h5");
    f.write("dopri5_final", dop.final_state);
    f.write("reference_final", ref.final_state);
    f.write("rosenbrock4_final", ros.final_state);
    f.write("rosenbrock4_reference_final", ros_ref.final_state);
    f.set_attr("dopri5_seconds", dop.seconds);
    f.set_attr("dopri5_steps", dop.stats.steps);
    f.set_attr("dopri5_rhs", dop.stats.rhs_evaluations);
    f.set_attr("rosenbrock4_seconds", ros.seconds);
    f.set_attr("rosenbrock4_steps", ros.stats.steps);
    f.set_attr("rhs_seconds", t_rhs);
    f.set_attr("matvec_seconds", t_mv);
    std::cout << "n = " << n << ": dopri5 " << dop.seconds * 1e3 << " ms (" << dop.stats.steps << " steps, "
              << dop.stats.rhs_evaluations << " rhs), error " << (dop.final_state - ref.final_state).cwiseAbs().maxCoeff()
              << "; rhs " << t_rhs * 1e6 << " us vs products alone " << t_mv * 1e6 << " us (ratio "
              << t_rhs / t_mv << "); stiff rosenbrock4 " << ros.seconds * 1e3 << " ms (" << ros.stats.steps
              << " steps), error " << (ros.final_state - ros_ref.final_state).cwiseAbs().maxCoeff() << "\n";
  }
  return 0;
}
