// A simulation from configuration to trajectories (see simulation.hpp).
#include <stackdyn/dynamics/continuous_system.hpp>
#include <stackdyn/core/error.hpp>
#include <stackdyn/core/random.hpp>
#include <stackdyn/model/model_io.hpp>
#include <stackdyn/dynamics/simulation.hpp>
#include <stackdyn/model/stack.hpp>
#include <stackdyn/dynamics/trajectory_writer.hpp>

#include <chrono>
#include <cmath>
#include <limits>
#include <memory>
#include <sstream>

namespace stackdyn {
namespace {

std::string fmt(double v) {
  std::ostringstream o;
  o.precision(10);
  o << v;
  return o.str();
}

// The full initial state (state_dim, batch) from torch's h0 and c0 (num_layers, batch,
// hidden_size), as `forward` reads them: layer l's slice is [h0[l]; c0[l]], a missing one zeros.
Eigen::MatrixXd initial_state_from_torch(const h5::File& f, const std::string& path, const Model& model,
                                         std::size_t batch) {
  const int n = model.layers.front().hidden_size;
  for (const auto& l : model.layers)
    if (l.hidden_size != n)
      throw InputError(path + ": datasets 'h0'/'c0' need layers of one hidden size (torch's layout); give the "
                              "initial full state as 's0' (batch, state_dim) instead");
  const auto L = static_cast<std::size_t>(model.num_layers());
  const auto slices = model.state_slices();
  Eigen::MatrixXd S0 = Eigen::MatrixXd::Zero(model.state_dim(), static_cast<Eigen::Index>(batch));
  for (const char* name : {"h0", "c0"}) {
    if (!f.has(name)) continue;
    const bool cell = name[0] == 'c';
    if (cell)
      for (const auto& sl : slices)
        if (!sl.has_cell_state)
          throw InputError(path + ": dataset 'c0' is only for LSTM models; this model has no cell state in every layer");
    const h5::Array a = f.read(name);
    if (a.shape != h5::Shape{L, batch, static_cast<std::size_t>(n)})
      throw InputError(path + ": dataset '" + name + "' has shape " + h5::shape_string(a.shape) +
                       ", expected (num_layers = " + std::to_string(L) + ", batch = " + std::to_string(batch) +
                       ", hidden_size = " + std::to_string(n) + ")");
    for (std::size_t l = 0; l < L; ++l)
      S0.middleRows(slices[l].offset + (cell ? n : 0), n) = Eigen::Map<const Eigen::MatrixXd>(
          a.data.data() + l * batch * static_cast<std::size_t>(n), n, static_cast<Eigen::Index>(batch));
  }
  if (!S0.allFinite()) throw InputError(path + ": datasets 'h0'/'c0' hold NaN/Inf; expected finite values");
  return S0;
}

// Reads the input file: 'inputs' (batch, time, input_size) with optional attribute dt, and
// optional 's0' (batch, state_dim) or torch's 'h0'/'c0'.
void read_input_file(const std::string& path, const Model& model, SimulationConfig& c) {
  const h5::File f = h5::File::open(path);
  if (!f.has("inputs"))
    throw InputError(path + ": no dataset 'inputs'; expected 'inputs' (batch, time, input_size) float64");
  const h5::Array a = f.read("inputs");
  if (a.shape.size() != 3 || a.shape[2] != static_cast<std::size_t>(model.input_size) || a.shape[0] == 0 ||
      a.shape[1] == 0)
    throw InputError(path + ": dataset 'inputs' has shape " + h5::shape_string(a.shape) +
                     ", expected (batch, time, input_size = " + std::to_string(model.input_size) +
                     ") with batch, time > 0");
  for (std::size_t i = 0; i < a.data.size(); ++i)
    if (!std::isfinite(a.data[i]))
      throw InputError(path + ": dataset 'inputs' holds a NaN/Inf at flat index " + std::to_string(i) +
                       "; expected finite values");
  auto s = std::make_shared<InputSamples>();
  s->batch = a.shape[0];
  s->steps = a.shape[1];
  s->width = a.shape[2];
  s->data = a.data;
  s->dt = f.dataset_attr_double("inputs", "dt", 1.0);
  if (!(s->dt > 0) || !std::isfinite(s->dt))
    throw InputError(path + ": attribute 'dt' of dataset 'inputs' is " + fmt(s->dt) + "; expected a positive number");
  c.batch = static_cast<int>(s->batch);
  c.input.samples = s;
  if (f.has("s0") && (f.has("h0") || f.has("c0")))
    throw InputError(path + ": give either 's0' or 'h0'/'c0', not both");
  if (f.has("h0") || f.has("c0")) c.s0 = initial_state_from_torch(f, path, model, s->batch);
  if (f.has("s0")) {
    const h5::Array s0 = f.read("s0");
    const auto N = static_cast<std::size_t>(model.state_dim());
    if (s0.shape.size() != 2 || s0.shape[0] != s->batch || s0.shape[1] != N)
      throw InputError(path + ": dataset 's0' has shape " + h5::shape_string(s0.shape) + ", expected (batch = " +
                       std::to_string(s->batch) + ", state_dim = " + std::to_string(N) + ")");
    c.s0 = Eigen::Map<const Eigen::MatrixXd>(s0.data.data(), static_cast<Eigen::Index>(N),
                                             static_cast<Eigen::Index>(s->batch));
    if (!c.s0.allFinite()) throw InputError(path + ": dataset 's0' holds NaN/Inf; expected finite values");
  }
}


}  // namespace

const std::vector<std::string>& simulation_config_keys() {
  static const std::vector<std::string> keys = {
      "mode", "tau", "method", "rtol", "atol", "dt", "t_end", "steps", "dt_out", "batch", "seed", "s0_scale",
      "input_file", "input.constant", "input.sinusoids.*.channel", "input.sinusoids.*.amplitude",
      "input.sinusoids.*.frequency", "input.sinusoids.*.phase", "input.pulses.*.channel", "input.pulses.*.start",
      "input.pulses.*.duration", "input.pulses.*.amplitude", "input.noise.std", "input.noise.interval",
      "input.noise.seed", "input.flipflop.bits", "input.flipflop.interval", "input.flipflop.probability",
      "input.flipflop.amplitude", "input.flipflop.seed"};
  return keys;
}

SimulationConfig simulation_config(const Config& cfg, const Model& model) {
  cfg.check_keys(simulation_config_keys());
  SimulationConfig c;
  const std::string mode = cfg.get_string("mode", "continuous");
  if (const auto view = parse_time_view(mode))
    c.mode = *view;
  else
    throw cfg.error("mode", "unknown mode '" + mode + "'; expected continuous or discrete");
  c.tau = cfg.get_double_list("tau", {1.0}, Range::positive());
  if (c.tau.size() != 1 && static_cast<int>(c.tau.size()) != model.num_layers())
    throw cfg.error("tau", std::to_string(c.tau.size()) + " values for a model of " +
                               std::to_string(model.num_layers()) + " layers; expected one value or one per layer");
  auto& I = c.integrator;
  I.method = parse_method(cfg.get_string("method", "dopri5"), cfg.name() + ": key 'method'");
  I.rtol = cfg.get_double("rtol", 1e-6, Range::positive());
  I.atol = cfg.get_double("atol", 1e-9, Range::positive());
  I.dt = cfg.get_double("dt", 0.01, Range::positive());
  I.t_end = cfg.get_double("t_end", 100.0, Range::positive());
  c.steps = cfg.get_int("steps", 100, Range::positive());
  if (c.mode == TimeView::Continuous) {
    I.dt_out = cfg.get_double("dt_out", 1.0, Range::positive());
  } else {
    const double every = cfg.get_double("dt_out", 1.0, Range::at_least(1.0));
    if (every != std::floor(every)) throw cfg.error("dt_out", "expected a whole number of steps in discrete mode");
    c.every = static_cast<long long>(every);
  }
  c.batch = static_cast<int>(cfg.get_int("batch", 1, Range::closed(1, 1e6)));
  c.seed = cfg.get_int("seed", 0, Range::non_negative());
  c.s0_scale = cfg.get_double("s0_scale", 0.0, Range::non_negative());

  InputSpec& in = c.input;
  if (cfg.has("input.constant")) {
    const auto v = cfg.get_double_list("input.constant");
    in.constant = Eigen::Map<const Eigen::VectorXd>(v.data(), static_cast<Eigen::Index>(v.size()));
  }
  for (std::size_t i = 0; i < cfg.array_size("input.sinusoids"); ++i) {
    const std::string k = "input.sinusoids[" + std::to_string(i) + "].";
    in.sinusoids.push_back({static_cast<int>(cfg.get_int(k + "channel", 0)), cfg.get_double(k + "amplitude", 1.0),
                            cfg.get_double(k + "frequency", Range::non_negative()), cfg.get_double(k + "phase", 0.0)});
  }
  for (std::size_t i = 0; i < cfg.array_size("input.pulses"); ++i) {
    const std::string k = "input.pulses[" + std::to_string(i) + "].";
    in.pulses.push_back({static_cast<int>(cfg.get_int(k + "channel", 0)), cfg.get_double(k + "start", 0.0),
                         cfg.get_double(k + "duration", std::numeric_limits<double>::infinity(), Range::positive()),
                         cfg.get_double(k + "amplitude", 1.0)});
  }
  in.noise.std = cfg.get_double("input.noise.std", 0.0, Range::non_negative());
  in.noise.interval = cfg.get_double("input.noise.interval", 1.0, Range::positive());
  in.noise.seed = static_cast<std::uint64_t>(cfg.get_int("input.noise.seed", c.seed, Range::non_negative()));
  in.flipflop.bits = static_cast<int>(cfg.get_int("input.flipflop.bits", 0, Range::non_negative()));
  in.flipflop.interval = cfg.get_double("input.flipflop.interval", 1.0, Range::positive());
  in.flipflop.probability = cfg.get_double("input.flipflop.probability", 0.05, Range::closed(0, 1));
  in.flipflop.amplitude = cfg.get_double("input.flipflop.amplitude", 1.0);
  in.flipflop.seed = static_cast<std::uint64_t>(cfg.get_int("input.flipflop.seed", c.seed, Range::non_negative()));

  c.input_path = cfg.get_string("input_file", "");
  if (!c.input_path.empty()) {
    const long long batch_key = cfg.has("batch") ? c.batch : -1;
    read_input_file(c.input_path, model, c);
    if (batch_key > 0 && batch_key != c.batch)
      throw cfg.error("batch", std::to_string(batch_key) + " does not match the input file's batch of " +
                                   std::to_string(c.batch));
  }
  // Every check that needs the model: builds the signal once (tau, channels, widths).
  const InputSignal probe(c.input, model.input_size, c.batch, cfg.name());
  if (c.mode == TimeView::Continuous && I.t_end > probe.horizon() * (1 + 1e-12))
    throw cfg.error("t_end", fmt(I.t_end) + " goes beyond the input file's " +
                                 std::to_string(c.input.samples->steps) + " samples of dt " +
                                 fmt(c.input.samples->dt) + " (t <= " + fmt(probe.horizon()) + ")");
  if (c.mode == TimeView::Discrete && c.steps > probe.step_horizon())
    throw cfg.error("steps", std::to_string(c.steps) + " steps, but the input file has " +
                                 std::to_string(probe.step_horizon()) + " samples");
  return c;
}

SimulationResult simulate(const Model& model, const SimulationConfig& c, h5::Group& out,
                          const SimulationHooks& hooks) {
  const auto t0 = std::chrono::steady_clock::now();
  const InputSignal input(c.input, model.input_size, c.batch);
  const int N = model.state_dim(), B = c.batch;
  Eigen::MatrixXd S0 = Eigen::MatrixXd::Zero(N, B);
  if (c.s0.size() > 0) {
    if (c.s0.rows() != N || c.s0.cols() != B)
      throw InputError("s0 of shape (" + std::to_string(c.s0.cols()) + ", " + std::to_string(c.s0.rows()) +
                       "), expected (batch = " + std::to_string(B) + ", state_dim = " + std::to_string(N) + ")");
    S0 = c.s0;
  } else if (c.s0_scale > 0) {
    Rng rng(static_cast<std::uint64_t>(c.seed));
    for (Eigen::Index j = 0; j < S0.size(); ++j) S0.data()[j] = rng.uniform(-c.s0_scale, c.s0_scale);
  }

  // Self-description of the group.
  const bool continuous = c.mode == TimeView::Continuous;
  out.set_attr("mode", continuous ? "continuous" : "discrete");
  out.set_attr("units", continuous ? "time (the unit of tau)" : "steps");
  out.set_attr("status", "running");
  if (!out.has("state_slices")) write_state_layout(out, model);
  {
    out.write("s0", {static_cast<std::size_t>(B), static_cast<std::size_t>(N)}, S0.data());
    out.set_dim_labels("s0", {"batch", "state"});
  }
  if (continuous) {
    out.set_attr("method", std::string(method_name(c.integrator.method)));
    out.write("tau", Eigen::VectorXd(Eigen::Map<const Eigen::VectorXd>(c.tau.data(), static_cast<Eigen::Index>(c.tau.size()))));
    out.set_attr("rtol", c.integrator.rtol);
    out.set_attr("atol", c.integrator.atol);
    out.set_attr("dt", c.integrator.dt);
    out.set_attr("t_end", c.integrator.t_end);
    out.set_attr("dt_out", c.integrator.dt_out);
  } else {
    out.set_attr("steps", c.steps);
    out.set_attr("dt_out", c.every);
  }

  // the input beside the states: x(t) at each output time (discrete: x_k, what the step
  // leaving s_k reads), whatever made it (constant, sinusoids, pulses, noise, file)
  TrajectoryWriter writer(out, N, B, model.input_size, hooks.flush_file);
  Eigen::MatrixXd X_out(model.input_size, B);
  out.attach_scale("states", 1, "time", "time");
  out.attach_scale("inputs", 1, "time", "time");
  attach_state_axis(out, "states", 2);
  attach_state_axis(out, "s0", 1);
  SimulationResult r;
  auto finish = [&](const IntegrationStats& st, const char* status) {
    writer.flush();
    r.stats = st;
    r.outputs = writer.count();
    r.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    h5::Group g = out.create_group("statistics");
    g.set_attr("steps", st.steps);
    g.set_attr("rejected_steps", st.rejected_steps);
    g.set_attr("rhs_evaluations", st.rhs_evaluations);
    g.set_attr("jacobian_evaluations", st.jacobian_evaluations);
    g.set_attr("outputs", r.outputs);
    g.set_attr("t_reached", st.t_reached);
    g.set_attr("wall_seconds", r.wall_seconds);
    out.set_attr("status", status);
  };

  if (continuous) {
    ContinuousSystem sys(model, c.tau, input);
    Eigen::VectorXd s = Eigen::Map<const Eigen::VectorXd>(S0.data(), S0.size());
    const double t_end = c.integrator.t_end;
    auto obs = [&](const Eigen::VectorXd& x, double t) {
      input.at(t, X_out);
      writer.write(x.data(), t, X_out.data());
      if (hooks.progress) hooks.progress(t / t_end);
    };
    try {
      finish(integrate(sys, s, c.integrator, obs), "complete");
    } catch (const DivergenceError& e) {
      finish(e.stats, "diverged");
      out.set_attr("error", e.what());
      throw DivergenceError(std::string(e.what()) + "; " + std::to_string(writer.count()) +
                                " output samples up to t = " + fmt(writer.last_time()) + " were kept",
                            e.t, e.layer, e.stats);
    }
    return r;
  }

  // Discrete map: s_{k+1} = F(s_k, x_{k+1}), one Sequential step of the stack.
  const Stack stack(model, Coupling::Sequential);
  auto ws = stack.make_workspace();
  Eigen::MatrixXd S = S0, S_new(N, B), X(model.input_size, B);
  IntegrationStats st;
  input.at_step(0, X_out);
  writer.write(S.data(), 0.0, X_out.data());
  const auto slices = stack.slices();
  for (long long k = 0; k < c.steps; ++k) {
    input.at_step(k, X);
    stack.step(X, S, S_new, ws);
    S.swap(S_new);
    ++st.steps;
    st.t_reached = static_cast<double>(k + 1);
    if (!S.allFinite()) {
      int layer = 0;
      for (int l = 0; l < stack.num_layers(); ++l)
        if (!S.middleRows(slices[l].offset, slices[l].size).allFinite()) {
          layer = l;
          break;
        }
      finish(st, "diverged");
      const std::string msg = "the state diverged to NaN/Inf at step " + std::to_string(k + 1) + " in layer " +
                              std::to_string(layer) + "; " + std::to_string(writer.count()) +
                              " output samples up to step " + fmt(writer.last_time()) + " were kept";
      out.set_attr("error", msg);
      throw DivergenceError(msg, static_cast<double>(k + 1), layer, st);
    }
    if ((k + 1) % c.every == 0 || k + 1 == c.steps) {
      input.at_step(k + 1, X_out);
      writer.write(S.data(), static_cast<double>(k + 1), X_out.data());
      if (hooks.progress) hooks.progress(static_cast<double>(k + 1) / static_cast<double>(c.steps));
    }
  }
  st.outputs = writer.count();
  finish(st, "complete");
  return r;
}

}  // namespace stackdyn
