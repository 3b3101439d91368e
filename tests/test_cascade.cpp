// The cascade (dynamics/cascade.hpp): the stack integrated layer by layer against the
// monolithic integrators (scipy's reference: test_simulate.cpp), auto's choice of method per
// layer, skip and residual connections, the file record, and the discrete map left alone.
#include "cli_helpers.hpp"
#include "random_model.hpp"

#include <catch2/catch.hpp>
#include <stackdyn/core/config.hpp>
#include <stackdyn/core/h5.hpp>
#include <stackdyn/dynamics/cascade.hpp>
#include <stackdyn/dynamics/simulation.hpp>

#include <cmath>

using namespace stackdyn;

namespace {

struct Run {
  h5::Array states;
  IntegrationStats stats;
  std::string chosen;
};

Run run(const Model& m, const SimulationConfig& c) {
  test::ScratchDir dir("cascade");
  h5::File f = h5::File::create(dir / "out.h5");
  const SimulationResult r = simulate(m, c, f);
  Run out;
  out.stats = r.stats;
  out.states = f.read("states");
  if (f.has("cascade")) out.chosen = f.group("cascade").attr_string("chosen_methods");
  return out;
}

double max_diff(const h5::Array& a, const h5::Array& b) {
  REQUIRE(a.shape == b.shape);
  double e = 0;
  for (std::size_t i = 0; i < a.data.size(); ++i) e = std::max(e, std::abs(a.data[i] - b.data[i]));
  return e;
}

// Mixed cells, an LSTM's cell state, a skip connection (layer 3 reads layer 1), a residual
// layer, a batch of 3, sinusoids and a pulse (a jump every layer must stop at).
Model mixed_model() {
  return test::random_model(2,
                            {{CellType::Gru, 5},
                             {CellType::Lstm, 4},
                             {CellType::RnnTanh, 6, /*skip=*/true},
                             {CellType::RnnTanh, 6, false, /*residual=*/true}},
                            21, 0.7);
}

SimulationConfig mixed_config(Method method) {
  SimulationConfig c;
  c.integrator.method = method;
  c.integrator.t_end = 12;
  c.integrator.dt_out = 0.37;
  c.tau = {1.0, 0.5, 0.7, 1.3};
  c.batch = 3;
  c.input.sinusoids = {{0, 1.0, 0.2, 0.0}, {1, 0.5, 0.07, 1.0}};
  c.input.pulses = {{1, 4.0, 2.5, 0.8}};
  c.s0_scale = 0.5;
  c.seed = 8;
  return c;
}

}  // namespace

TEST_CASE("cascade: on one layer, its dopri5 takes odeint's dopri5 steps", "[cascade]") {
  // Two routes to one method: odeint's controlled dopri5 on the whole system, and the
  // cascade's own Dormand-Prince with odeint's controller rules and Hairer's dense output.
  const Model m = test::random_model(2, {{CellType::Gru, 7}}, 5, 0.9);
  SimulationConfig c = mixed_config(Method::Dopri5);
  c.tau = {0.8};
  c.input.pulses.clear();
  c.integrator.rtol = 1e-8;
  c.integrator.atol = 1e-10;
  const Run mono = run(m, c);
  c.integrator.method = Method::Cascade;
  const Run casc = run(m, c);
  CHECK(casc.stats.steps == mono.stats.steps);
  CHECK(casc.stats.rejected_steps == mono.stats.rejected_steps);
  CHECK(max_diff(casc.states, mono.states) < 1e-12);
  CHECK(casc.chosen == "dopri5");
}

TEST_CASE("cascade agrees with the monolithic integrators: skip, residual, LSTM, pulses, a batch", "[cascade]") {
  const Model m = mixed_model();
  SimulationConfig c = mixed_config(Method::Dopri5);
  c.integrator.rtol = 1e-12;
  c.integrator.atol = 1e-14;
  const Run reference = run(m, c);
  struct Case {
    Method method;
    std::vector<Method> layers;
    double rtol, bound;
  };
  const std::vector<Case> cases = {
      {Method::Cascade, {}, 1e-8, 2e-7},
      {Method::Cascade, {Method::Rosenbrock4}, 1e-8, 2e-6},
      {Method::Cascade, {Method::Dopri5, Method::Rosenbrock4, Method::Dopri5, Method::Rosenbrock4}, 1e-8, 2e-6},
      {Method::Auto, {}, 1e-8, 2e-7},
  };
  for (const Case& k : cases) {
    c.integrator.method = k.method;
    c.integrator.layer_methods = k.layers;
    c.integrator.rtol = k.rtol;
    c.integrator.atol = k.rtol * 1e-2;
    c.integrator.window_steps = 16;  // several windows
    const Run r = run(m, c);
    const double e = max_diff(r.states, reference.states);
    INFO(method_name(k.method) << " " << r.chosen << ": max |cascade - dopri5 at 1e-12| = " << e << ", "
                               << r.stats.steps << " layer steps");
    CHECK(e < k.bound);
    // The same integrator at a 100x tighter tolerance moves closer: the error is controlled.
    c.integrator.rtol = k.rtol * 1e-2;
    c.integrator.atol = k.rtol * 1e-4;
    CHECK(max_diff(run(m, c).states, reference.states) < e);
  }
}

TEST_CASE("cascade: the window length changes nothing but rounding and the last steps", "[cascade]") {
  const Model m = mixed_model();
  SimulationConfig c = mixed_config(Method::Cascade);
  c.integrator.rtol = 1e-9;
  c.integrator.atol = 1e-11;
  c.integrator.window_steps = 4;
  const Run short_windows = run(m, c);
  c.integrator.window_steps = 100000;
  const Run one_window = run(m, c);
  CHECK(max_diff(short_windows.states, one_window.states) < 1e-7);
}

TEST_CASE("auto: a stiff middle layer gets rosenbrock4, the others dopri5", "[cascade]") {
  const Model m = test::random_model(2, {{CellType::RnnTanh, 6}, {CellType::RnnTanh, 8}, {CellType::Gru, 5}}, 9, 0.6);
  SimulationConfig c;
  c.integrator.t_end = 20;
  c.integrator.dt_out = 0.5;
  c.tau = {1.0, 1e-3, 1.0};
  c.input.sinusoids = {{0, 1.0, 0.05, 0.0}, {1, 0.5, 0.13, 1.0}};
  c.s0_scale = 0.5;
  c.batch = 2;
  c.integrator.method = Method::Rosenbrock4;
  c.integrator.rtol = 1e-10;
  c.integrator.atol = 1e-12;
  const Run reference = run(m, c);
  c.integrator.method = Method::Dopri5;
  c.integrator.rtol = 1e-6;
  c.integrator.atol = 1e-9;
  const Run explicit_run = run(m, c);
  c.integrator.method = Method::Auto;
  const Run a = run(m, c);
  CHECK(a.chosen == "dopri5,rosenbrock4,dopri5");
  REQUIRE(a.stats.layers.size() == 3);
  CHECK(a.stats.layers[1].spectral_radius > 100);  // |lambda| ~ 1 / tau
  CHECK(a.stats.layers[0].spectral_radius < 10);
  const double e = max_diff(a.states, reference.states);
  INFO("auto: " << a.stats.layers[0].steps << ", " << a.stats.layers[1].steps << ", " << a.stats.layers[2].steps
                << " steps per layer, error " << e << "; dopri5 on the whole stack " << explicit_run.stats.steps
                << " steps");
  CHECK(e < 1e-5);
  // The explicit layers no longer pay for the stiff one.
  CHECK(a.stats.layers[0].steps * 10 < explicit_run.stats.steps);
  CHECK(a.stats.layers[2].steps * 10 < explicit_run.stats.steps);
}

TEST_CASE("cascade: per-layer methods, tolerances and choices are in the file", "[cascade]") {
  const Model m = mixed_model();
  Config cfg = Config::from_string(
      "method = \"cascade\"\nt_end = 3.0\ncascade.methods = [\"auto\", \"rosenbrock4\", \"dopri5\", \"auto\"]\n"
      "cascade.rtol = [1e-7, 1e-6, 1e-6, 1e-5]\ncascade.atol = 1e-10\n",
      "c.toml");
  const SimulationConfig c = simulation_config(cfg, m);
  test::ScratchDir dir("cascade_file");
  h5::File f = h5::File::create(dir / "out.h5");
  simulate(m, c, f);
  CHECK(f.attr_string("method") == "cascade");
  const h5::Group g = f.group("cascade");
  CHECK(g.attr_string("requested_methods") == "auto,rosenbrock4,dopri5,auto");
  const std::string chosen = g.attr_string("chosen_methods");
  CHECK(chosen.find("auto") == std::string::npos);
  CHECK(chosen.substr(0, chosen.find(',')) != "");
  CHECK(g.read("rtol").data == std::vector<double>{1e-7, 1e-6, 1e-6, 1e-5});
  CHECK(g.read("atol").data == std::vector<double>(4, 1e-10));
  const h5::Array steps = g.read("steps");
  for (double s : steps.data) CHECK(s > 0);
}

TEST_CASE("cascade: bad per-layer settings are refused with the key", "[cascade]") {
  const Model m = mixed_model();
  auto refuse = [&](const std::string& toml, const std::string& what) {
    const Config cfg = Config::from_string(toml, "c.toml");
    try {
      simulation_config(cfg, m);
      FAIL("accepted: " << toml);
    } catch (const InputError& e) {
      CHECK_THAT(e.what(), Catch::Contains(what));
    }
  };
  refuse("method = \"cascade\"\ncascade.methods = [\"dopri5\", \"rk4\"]\n", "cascade.methods");
  refuse("method = \"cascade\"\ncascade.methods = \"dopri5,rosenbrock4\"\n", "expected one value or one per layer");
  refuse("cascade.methods = \"euler\"\n", "expected one of: dopri5, rosenbrock4, auto");
  refuse("cascade.rtol = [1e-6, 1e-6]\n", "cascade.rtol");
  refuse("cascade.atol = -1\n", "cascade.atol");
  refuse("method = \"cascades\"\n", "cascade, auto");
}

TEST_CASE("cascade: the discrete map ignores the method", "[cascade]") {
  const Model m = mixed_model();
  SimulationConfig c = mixed_config(Method::Dopri5);
  c.mode = TimeView::Discrete;
  c.steps = 50;
  const Run plain = run(m, c);
  c.integrator.method = Method::Auto;
  const Run with_auto = run(m, c);
  CHECK(plain.states.data == with_auto.states.data);
  CHECK(with_auto.chosen.empty());
}
