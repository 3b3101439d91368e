// Simulation: integrators against known solutions and their orders, the two
// views of docs/design.md 3 against each other, a stiff case, the analytic Jacobian of the
// continuous view against finite differences, and scipy's solve_ivp as an outside reference.
#include "cli_helpers.hpp"
#include "odeint_rosenbrock4.hpp"
#include "random_model.hpp"

#include <catch2/catch.hpp>
#include <stackdyn/core/config.hpp>
#include <stackdyn/dynamics/continuous_system.hpp>
#include <stackdyn/core/h5.hpp>
#include <stackdyn/model/model_io.hpp>
#include <stackdyn/core/random.hpp>
#include <stackdyn/dynamics/simulation.hpp>
#include <stackdyn/model/stack.hpp>

#include <cmath>

using namespace stackdyn;

namespace {

// VectorXd rather than fixed-size: GCC 12 warns falsely on AVX loads from Vector2d.
Eigen::VectorXd vec(std::initializer_list<double> v) {
  Eigen::VectorXd r(static_cast<Eigen::Index>(v.size()));
  Eigen::Index i = 0;
  for (double x : v) r(i++) = x;
  return r;
}

// One relu layer that stays in its linear region: tau dh/dt = -(I - W) h + b with
// W = diag(w), b > 0 and h(0) = 0, so h(t) = b/(1-w) (1 - exp(-(1-w) t / tau)).
Model linear_relu_model(const Eigen::VectorXd& w, const Eigen::VectorXd& b) {
  Model m = test::random_model(1, {{CellType::RnnRelu, 2}}, 3);
  auto& p = m.layers[0].fwd;
  p.w_hh = w.asDiagonal();
  p.w_ih.setZero();
  p.b_ih = b;
  p.b_hh.setZero();
  return m;
}

struct Run {
  Eigen::MatrixXd final_state;  // (state_dim, batch) at the last output
  std::vector<double> time;
  h5::Array states;
  IntegrationStats stats;
};

Run run(const Model& m, const SimulationConfig& c) {
  test::ScratchDir dir("simulate");
  h5::File f = h5::File::create(dir / "out.h5");
  const SimulationResult r = simulate(m, c, f);
  Run out;
  out.stats = r.stats;
  out.states = f.read("states");
  const h5::Array t = f.read("time");
  out.time = t.data;
  const auto B = out.states.shape[0], T = out.states.shape[1], N = out.states.shape[2];
  out.final_state.resize(static_cast<Eigen::Index>(N), static_cast<Eigen::Index>(B));
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t i = 0; i < N; ++i)
      out.final_state(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(b)) = out.states.data[(b * T + T - 1) * N + i];
  return out;
}

SimulationConfig continuous(Method method, double t_end, double dt_out) {
  SimulationConfig c;
  c.integrator.method = method;
  c.integrator.t_end = t_end;
  c.integrator.dt_out = dt_out;
  return c;
}

}  // namespace

TEST_CASE("rk4 and dopri5 converge at their orders on a linear system", "[simulate]") {
  const Eigen::VectorXd w = vec({0.5, -0.3}), b = vec({1.0, 2.0});
  const Model m = linear_relu_model(w, b);
  const double tau = 0.8, T = 4.0;
  const Eigen::VectorXd exact = (b.array() / (1 - w.array()) * (1 - (-(1 - w.array()) * T / tau).exp())).matrix();
  auto error = [&](Method method, double dt, double rtol, long long* steps = nullptr) {
    SimulationConfig c = continuous(method, T, T);
    c.tau = {tau};
    c.integrator.dt = dt;
    c.integrator.rtol = rtol;
    c.integrator.atol = rtol * 1e-3;
    const Run r = run(m, c);
    if (steps) *steps = r.stats.steps;
    return (r.final_state.col(0) - exact).cwiseAbs().maxCoeff();
  };
  SECTION("rk4: halving dt divides the error by 2^4") {
    const double e1 = error(Method::Rk4, 0.2, 1), e2 = error(Method::Rk4, 0.1, 1), e3 = error(Method::Rk4, 0.05, 1);
    CHECK(std::log2(e1 / e2) == Approx(4).margin(0.3));
    CHECK(std::log2(e2 / e3) == Approx(4).margin(0.3));
  }
  SECTION("euler: first order") {
    const double e1 = error(Method::Euler, 0.02, 1), e2 = error(Method::Euler, 0.01, 1);
    CHECK(std::log2(e1 / e2) == Approx(1).margin(0.1));
  }
  SECTION("dopri5: error against steps taken has slope -5; the tolerance is met") {
    long long n1 = 0, n2 = 0;
    const double e1 = error(Method::Dopri5, 0.01, 1e-5, &n1), e2 = error(Method::Dopri5, 0.01, 1e-9, &n2);
    INFO("steps " << n1 << " -> " << n2 << ", errors " << e1 << " -> " << e2);
    CHECK(e2 < 1e-8);
    const double order = std::log(e1 / e2) / std::log(static_cast<double>(n2) / static_cast<double>(n1));
    CHECK(order > 4.0);
    CHECK(order < 6.5);
  }
  SECTION("bulirsch_stoer and rosenbrock4 reach the tolerance") {
    CHECK(error(Method::BulirschStoer, 0.01, 1e-9) < 1e-7);
    CHECK(error(Method::Rosenbrock4, 0.01, 1e-9) < 1e-7);
  }
}

TEST_CASE("forward Euler with dt = tau is the discrete map for one layer", "[simulate]") {
  const Model m = test::random_model(3, {{CellType::Gru, 5}}, 11, 0.8);
  const double tau = 0.7;
  const int steps = 12;
  // A held input sampled every tau: discrete step k reads sample k, Euler's step from k tau too.
  auto samples = std::make_shared<InputSamples>();
  samples->batch = 2;
  samples->steps = steps;
  samples->width = 3;
  samples->dt = tau;
  Rng rng(5);
  for (int i = 0; i < 2 * steps * 3; ++i) samples->data.push_back(rng.uniform(-1, 1));

  SimulationConfig d;
  d.mode = TimeView::Discrete;
  d.steps = steps;
  d.batch = 2;
  d.input.samples = samples;
  d.s0_scale = 0.5;
  d.seed = 4;
  SimulationConfig c = continuous(Method::Euler, steps * tau, tau);
  c.tau = {tau};
  c.integrator.dt = tau;
  c.batch = 2;
  c.input.samples = samples;
  c.s0_scale = 0.5;
  c.seed = 4;
  const Run rd = run(m, d), rc = run(m, c);
  REQUIRE(rd.states.shape == rc.states.shape);
  double diff = 0;
  for (std::size_t i = 0; i < rd.states.data.size(); ++i) diff = std::max(diff, std::abs(rd.states.data[i] - rc.states.data[i]));
  CHECK(diff < 1e-14);
  CHECK(rc.time.back() == Approx(steps * tau));
}

TEST_CASE("for a stack, Euler with dt = tau differs from the map except at a fixed point", "[simulate]") {
  const Model m = test::random_model(2, {{CellType::RnnTanh, 4}, {CellType::RnnTanh, 3}}, 2, 0.5);
  SimulationConfig d;
  d.mode = TimeView::Discrete;
  d.steps = 400;
  d.s0_scale = 0.3;
  d.input.constant = vec({0.2, -0.1});
  SimulationConfig c = continuous(Method::Euler, 400, 1);
  c.integrator.dt = 1.0;
  c.s0_scale = 0.3;
  c.input.constant = d.input.constant;
  const Run rd = run(m, d), rc = run(m, c);
  // Early on the one-step delay per layer shows; both reach the same fixed point.
  const auto N = rd.states.shape[2];
  double early = 0;
  for (std::size_t i = 0; i < N; ++i) early = std::max(early, std::abs(rd.states.data[2 * N + i] - rc.states.data[2 * N + i]));
  CHECK(early > 1e-4);
  CHECK((rd.final_state - rc.final_state).cwiseAbs().maxCoeff() < 1e-10);
}

TEST_CASE("a stiff stack: rosenbrock4 needs far fewer steps than dopri5", "[simulate]") {
  const Model m = test::random_model(2, {{CellType::RnnTanh, 6}, {CellType::RnnTanh, 6}}, 9, 0.5);
  SimulationConfig c = continuous(Method::Dopri5, 20, 5);
  c.tau = {1.0, 1e-3};
  c.input.constant = vec({0.5, -0.3});
  c.s0_scale = 0.5;
  c.integrator.rtol = 1e-6;
  c.integrator.atol = 1e-9;
  const Run explicit_run = run(m, c);
  c.integrator.method = Method::Rosenbrock4;
  const Run implicit_run = run(m, c);
  INFO("dopri5 " << explicit_run.stats.steps << " steps, rosenbrock4 " << implicit_run.stats.steps);
  CHECK(implicit_run.stats.steps * 20 < explicit_run.stats.steps);
  CHECK(implicit_run.stats.jacobian_evaluations >= implicit_run.stats.steps);
  CHECK((implicit_run.final_state - explicit_run.final_state).cwiseAbs().maxCoeff() < 1e-4);
}

TEST_CASE("rosenbrock4's block-triangular solves give odeint's rosenbrock4 step for step", "[simulate]") {
  // Mixed cells, an LSTM's cell state, a skip connection, a stiff middle layer, a batch of 3
  // and a time-varying input: the block stepper factors one layer's diagonal block per
  // sample, odeint's the whole 3 N x 3 N matrix; the method, controller and dense output are
  // the same, so the steps and the outputs must be too, up to rounding.
  const Model m = test::random_model(
      2, {{CellType::Gru, 5}, {CellType::Lstm, 4}, {CellType::RnnTanh, 6, /*skip=*/true}}, 21, 0.7);
  SimulationConfig c = continuous(Method::Rosenbrock4, 15, 0.37);
  c.tau = {1.0, 0.01, 0.5};
  c.batch = 3;
  c.input.sinusoids = {{0, 1.0, 0.2, 0.0}, {1, 0.5, 0.07, 1.0}};
  c.s0_scale = 0.5;
  c.seed = 8;
  c.integrator.rtol = 1e-7;
  c.integrator.atol = 1e-10;
  const Run block = run(m, c);
  c.integrator.stepper = test::odeint_rosenbrock4;
  const Run dense = run(m, c);
  INFO("block " << block.stats.steps << " steps (" << block.stats.rejected_steps << " rejected), odeint "
                << dense.stats.steps << " (" << dense.stats.rejected_steps << ")");
  CHECK(block.stats.steps == dense.stats.steps);
  CHECK(block.stats.rejected_steps == dense.stats.rejected_steps);
  CHECK(block.stats.jacobian_evaluations == dense.stats.jacobian_evaluations);
  REQUIRE(block.states.shape == dense.states.shape);
  double err = 0;
  for (std::size_t i = 0; i < block.states.data.size(); ++i)
    err = std::max(err, std::abs(block.states.data[i] - dense.states.data[i]));
  CHECK(err < 1e-11);
}

TEST_CASE("the continuous view's Jacobian J = T^-1 (J_G - I) and df/dt match finite differences", "[simulate]") {
  const Model m = test::random_model(2, {{CellType::Lstm, 3}, {CellType::RnnTanh, 4, true}, {CellType::Gru, 3}}, 21);
  InputSpec spec;
  spec.sinusoids = {{0, 0.7, 0.3, 0.2}, {1, 0.4, 1.1, 0.0}};
  spec.constant = vec({0.1, -0.2});
  const InputSignal input(spec, 2, 1);
  ContinuousSystem sys(m, {0.5, 2.0, 1.0}, input);
  const int N = sys.state_dim();
  Rng rng(3);
  Eigen::VectorXd s(N);
  for (int i = 0; i < N; ++i) s(i) = rng.uniform(-0.5, 0.5);
  const double t = 1.3, h = 1e-6;
  Eigen::MatrixXd J;
  Eigen::VectorXd dfdt;
  sys.jacobian(s, t, 0, J, &dfdt);
  Eigen::MatrixXd Jfd(N, N);
  Eigen::VectorXd fp(N), fm(N);
  for (int j = 0; j < N; ++j) {
    Eigen::VectorXd sp = s, sm = s;
    sp(j) += h;
    sm(j) -= h;
    sys(sp, fp, t);
    sys(sm, fm, t);
    Jfd.col(j) = (fp - fm) / (2 * h);
  }
  CHECK((J - Jfd).cwiseAbs().maxCoeff() < 1e-7);
  sys(s, fp, t + h);
  sys(s, fm, t - h);
  CHECK((dfdt - (fp - fm) / (2 * h)).cwiseAbs().maxCoeff() < 1e-7);
}

TEST_CASE("continuous view agrees with scipy's solve_ivp on a 3-layer model to 1e-7", "[simulate][scipy][cascade]") {
  const std::string ref = std::string(STACKDYN_TEST_DATA) + "/scipy/rnn3_reference.h5";
  const std::string model_path = std::string(STACKDYN_TEST_DATA) + "/torch/rnn_tanh_L3_uni_bias.model.h5";
  const h5::File f = h5::File::open(ref);
  const Model m = read_model(model_path);
  Config cfg = Config::from_string(f.attr_string("config"), "rnn3_reference.h5:config");
  cfg.set("input_file", "\"" + ref + "\"");
  cfg.set("rtol", "1e-10");
  cfg.set("atol", "1e-12");
  const h5::Array expected = f.read("states");
  // rosenbrock4 with a time-dependent input: the check on odeint's d4 (rodas_coefficients.hpp).
  // The cascade (cascade.hpp): dopri5 in every layer, auto's choice, and a mix of methods.
  for (const char* method : {"dopri5", "bulirsch_stoer", "rosenbrock4", "rosenbrock4:odeint", "cascade", "auto",
                             "cascade:dopri5,rosenbrock4,dopri5"}) {
    const std::string name = method;
    cfg.set("method", name.substr(0, name.find(':')));
    const bool odeint = name == "rosenbrock4:odeint";  // odeint's own stepper (odeint_rosenbrock4.hpp)
    if (name.find(':') != std::string::npos && !odeint)
      cfg.set("cascade.methods", "\"" + name.substr(name.find(':') + 1) + "\"");
    SimulationConfig sc = simulation_config(cfg, m);
    if (odeint) sc.integrator.stepper = test::odeint_rosenbrock4;
    const Run r = run(m, sc);
    REQUIRE(r.states.shape == expected.shape);
    double err = 0;
    for (std::size_t i = 0; i < expected.data.size(); ++i) err = std::max(err, std::abs(r.states.data[i] - expected.data[i]));
    INFO(method << ": max |stackdyn - scipy| = " << err);
    CHECK(err < 1e-7);
  }
}
