// Benchmark of the continuous-time view, driven by scripts/bench_simulate.py,
// which runs scipy's solve_ivp on the same systems and alternates the two sides.
//
// The systems: 3-layer vanilla tanh stacks of N units per layer, input 2 sinusoids, t in
// [0, 200], tau 1 (non-stiff) or tau = (1, 0.01, 1) (stiff: layer 2 100 times faster).
//
//   bench_simulate model DIR N                       writes DIR/model_N.h5 (the weights)
//   bench_simulate run N STIFF METHOD RTOL ATOL      one integration; prints
//                                                    "seconds steps rejected rhs jacobians"
//                                                    (and for the cascade its chosen methods)
//                                                    and then the final state, one line each;
//                                                    METHOD cascade:M1,M2,M3 sets the layers' methods
//   bench_simulate rhs N                             one right-hand side against its
//                                                    matrix-vector products alone, measured
//                                                    alternately; prints the two median times (s)
//   bench_simulate dgemm N                           Eigen's dgemm rate at N x N (GFLOP/s)
#include <stackdyn/dynamics/continuous_system.hpp>
#include <stackdyn/dynamics/integrate.hpp>
#include <stackdyn/model/model_io.hpp>
#include <stackdyn/core/random.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <string>

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

std::vector<double> bench_tau(bool stiff) { return stiff ? std::vector<double>{1.0, 0.01, 1.0} : std::vector<double>{1.0}; }

template <class F>
double per_call(F&& f, int calls) {
  f();
  const auto t0 = Clock::now();
  for (int i = 0; i < calls; ++i) f();
  return std::chrono::duration<double>(Clock::now() - t0).count() / calls;
}

int usage() {
  std::cerr << "usage: bench_simulate model DIR N | run N STIFF METHOD RTOL ATOL | rhs N | dgemm N\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return usage();
  const std::string mode = argv[1];
  std::cout.precision(17);
  if (mode == "model" && argc == 4) {
    std::filesystem::create_directories(argv[2]);
    const int n = std::atoi(argv[3]);
    write_model(bench_model(n), std::string(argv[2]) + "/model_" + std::to_string(n) + ".h5", Provenance{});
    return 0;
  }
  if (mode == "run" && argc == 7) {
    const int n = std::atoi(argv[2]);
    const Model m = bench_model(n);
    const InputSignal input(bench_input(), m.input_size, 1);
    ContinuousSystem sys(m, bench_tau(std::atoi(argv[3]) != 0), input);
    Eigen::VectorXd s = Eigen::VectorXd::Zero(sys.size());
    IntegratorOptions o;
    const std::string method = argv[4];
    const auto colon = method.find(':');
    o.method = parse_method(method.substr(0, colon), "method");
    if (colon != std::string::npos) {
      std::stringstream list(method.substr(colon + 1));
      for (std::string name; std::getline(list, name, ',');) o.layer_methods.push_back(parse_layer_method(name, "method"));
    }
    o.rtol = std::atof(argv[5]);
    o.atol = std::atof(argv[6]);
    o.t_end = 200;
    o.dt_out = 200;
    o.dt = 1e-3;
    const auto t0 = Clock::now();
    const IntegrationStats st = integrate(sys, s, o, [](const Eigen::VectorXd&, double) {});
    const double sec = std::chrono::duration<double>(Clock::now() - t0).count();
    std::cout << sec << " " << st.steps << " " << st.rejected_steps << " " << st.rhs_evaluations << " "
              << st.jacobian_evaluations;
    std::string chosen;
    for (const LayerStats& l : st.layers) {
      chosen += (chosen.empty() ? " " : ",") + l.chosen;
      std::cerr << l.chosen << ": rho " << l.spectral_radius << ", h_acc " << l.step_estimate << ", " << l.steps
                << " steps, " << l.rejected_steps << " rejected, " << l.input_error_capped << " capped\n";
    }
    std::cout << chosen << "\n";
    for (Eigen::Index i = 0; i < s.size(); ++i) std::cout << s[i] << (i + 1 < s.size() ? " " : "\n");
    return 0;
  }
  if (mode == "rhs" && argc == 3) {
    const int n = std::atoi(argv[2]);
    const Model m = bench_model(n);
    const InputSignal input(bench_input(), m.input_size, 1);
    ContinuousSystem sys(m, {1.0}, input);
    Eigen::VectorXd s = Eigen::VectorXd::Constant(sys.size(), 0.1), ds(sys.size());
    // The products alone: W_ih u and W_hh h for each layer, into preallocated outputs.
    std::vector<Eigen::VectorXd> out(3, Eigen::VectorXd(n));
    Eigen::VectorXd x = Eigen::VectorXd::Constant(2, 0.3);
    auto products = [&] {
      for (int l = 0; l < 3; ++l) {
        const auto& p = m.layers[l].fwd;
        if (l == 0)
          out[l].noalias() = p.w_ih * x;
        else
          out[l].noalias() = p.w_ih * s.segment(n * (l - 1), n);
        out[l].noalias() += p.w_hh * s.segment(n * l, n);
      }
    };
    const int calls = std::max(2000, 200000000 / (6 * n * n));  // ~20 ms a measurement
    std::vector<double> t_rhs, t_mv;
    for (int r = 0; r < 11; ++r) {  // alternately: the clock drifts
      t_rhs.push_back(per_call([&] { sys(s, ds, 1.0); }, calls));
      t_mv.push_back(per_call(products, calls));
    }
    std::nth_element(t_rhs.begin(), t_rhs.begin() + 5, t_rhs.end());
    std::nth_element(t_mv.begin(), t_mv.begin() + 5, t_mv.end());
    std::cout << t_rhs[5] << " " << t_mv[5] << "\n";
    return 0;
  }
  if (mode == "dgemm" && argc == 3) {
    const int n = std::atoi(argv[2]);
    Eigen::MatrixXd a = Eigen::MatrixXd::Random(n, n), b = Eigen::MatrixXd::Random(n, n), c(n, n);
    double best = 1e300;
    for (int r = 0; r < 5; ++r) best = std::min(best, per_call([&] { c.noalias() = a * b; }, 3));
    std::cout << 2.0 * n * n * n / best / 1e9 << "\n";
    return 0;
  }
  return usage();
}
