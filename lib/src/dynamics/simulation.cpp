// A simulation from configuration to trajectories (see simulation.hpp).
#include <stackdyn/dynamics/continuous_system.hpp>
#include <stackdyn/core/error.hpp>
#include <stackdyn/core/format.hpp>
#include <stackdyn/core/random.hpp>
#include <stackdyn/model/model_io.hpp>
#include <stackdyn/dynamics/simulation.hpp>
#include <stackdyn/model/model_io.hpp>
#include <stackdyn/model/stack.hpp>
#include <stackdyn/dynamics/trajectory_writer.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <memory>
#include <sstream>

namespace stackdyn {
namespace {

std::string fmt(double v) { return format_number(v); }

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
    // In a stack that mixes LSTM and other layers, c0 keeps torch's (num_layers, batch,
    // hidden_size) layout and only the LSTM layers' rows are read.
    if (cell && std::none_of(slices.begin(), slices.end(), [](const StateSlice& sl) { return sl.has_cell_state; }))
      throw InputError(path + ": dataset 'c0' is only for LSTM layers; this model has none");
    const h5::Array a = f.read(name);
    if (a.shape != h5::Shape{L, batch, static_cast<std::size_t>(n)})
      throw InputError(path + ": dataset '" + name + "' has shape " + h5::shape_string(a.shape) +
                       ", expected (num_layers = " + std::to_string(L) + ", batch = " + std::to_string(batch) +
                       ", hidden_size = " + std::to_string(n) + ")");
    for (std::size_t l = 0; l < L; ++l)
      if (!cell || slices[l].has_cell_state)
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


// The cascade's per layer: method asked for and used, tolerances, auto's figures and the
// statistics, as datasets over the layer axis (and the chosen methods as one attribute).
void write_cascade_layers(const std::vector<LayerStats>& layers, h5::Group& out) {
  h5::Group g = out.create_group("cascade");
  const std::size_t L = layers.size();
  std::string requested, chosen;
  for (const LayerStats& l : layers) {
    requested += (requested.empty() ? "" : ",") + l.requested;
    chosen += (chosen.empty() ? "" : ",") + l.chosen;
  }
  g.set_attr("requested_methods", requested);
  g.set_attr("chosen_methods", chosen);
  auto column = [&](const char* name, auto get) {
    std::vector<double> v;
    for (const LayerStats& l : layers) v.push_back(static_cast<double>(get(l)));
    g.write(name, {L}, v.data());
    g.set_dim_labels(name, {"layer"});
  };
  column("rtol", [](const LayerStats& l) { return l.rtol; });
  column("atol", [](const LayerStats& l) { return l.atol; });
  column("spectral_radius", [](const LayerStats& l) { return l.spectral_radius; });
  column("step_estimate", [](const LayerStats& l) { return l.step_estimate; });
  column("steps", [](const LayerStats& l) { return l.steps; });
  column("rejected_steps", [](const LayerStats& l) { return l.rejected_steps; });
  column("rhs_evaluations", [](const LayerStats& l) { return l.rhs_evaluations; });
  column("jacobian_evaluations", [](const LayerStats& l) { return l.jacobian_evaluations; });
  column("input_error_capped", [](const LayerStats& l) { return l.input_error_capped; });
}

}  // namespace

const OptionTable& simulation_options() {
  using K = ValueKind;
  static const OptionTable table = {
      {"--mode", "mode", K::Text, "\"continuous\"", "continuous (the ODE of docs/design.md 3) or discrete (the map)", ""},
      {"--tau", "tau", K::Numbers, "1.0", "Time constants: one value, or one per layer", "continuous"},
      {"--method", "method", K::Text, "\"dopri5\"",
       "euler, rk4, dopri5, rosenbrock4, bulirsch_stoer, cascade or auto", "continuous"},
      {"--rtol", "rtol", K::Number, "1e-6", "Relative tolerance of the adaptive methods", "continuous"},
      {"--atol", "atol", K::Number, "1e-9", "Absolute tolerance of the adaptive methods", "continuous"},
      {"--dt", "dt", K::Number, "0.01", "Fixed step (euler, rk4); first trial step of the adaptive methods", "continuous"},
      {"--t-end", "t_end", K::Number, "100.0", "End time", "continuous"},
      {"--steps", "steps", K::Integer, "100", "Number of steps of the map", "discrete"},
      {"--dt-out", "dt_out", K::Number, "1.0", "Sampling interval of the output (time; steps in discrete mode)", ""},
      {"--batch", "batch", K::Integer, "", "Number of trajectories (default 1; an input file gives its own)", ""},
      {"--seed", "seed", K::Integer, "0", "Seed of random inputs and initial states", ""},
      {"--s0-scale", "s0_scale", K::Number, "0.0", "Initial states U(-s0_scale, s0_scale) from the seed (0: zeros)", ""},
      {"--input-file", "input_file", K::Path, "",
       "Inputs: 'inputs' (batch, time, input_size) with attribute dt, optional 's0' (batch, state_dim)", ""},
      {"--input-constant", "input.constant", K::Numbers, "", "Constant input added to the signal: v1,v2,...", ""},
      {"", "input.sinusoids.*.channel", K::Integer, "", "", ""},
      {"", "input.sinusoids.*.amplitude", K::Number, "", "", ""},
      {"", "input.sinusoids.*.frequency", K::Number, "", "", ""},
      {"", "input.sinusoids.*.phase", K::Number, "", "", ""},
      {"", "input.pulses.*.channel", K::Integer, "", "", ""},
      {"", "input.pulses.*.start", K::Number, "", "", ""},
      {"", "input.pulses.*.duration", K::Number, "", "", ""},
      {"", "input.pulses.*.amplitude", K::Number, "", "", ""},
      {"", "input.noise.std", K::Number, "", "", ""},
      {"", "input.noise.interval", K::Number, "", "", ""},
      {"", "input.noise.seed", K::Integer, "", "", ""},
      {"", "input.flipflop.bits", K::Integer, "", "", ""},
      {"", "input.flipflop.interval", K::Number, "", "", ""},
      {"", "input.flipflop.probability", K::Number, "", "", ""},
      {"", "input.flipflop.amplitude", K::Number, "", "", ""},
      {"", "input.flipflop.seed", K::Integer, "", "", ""},
      {"", "cascade.methods", K::Table, "", "cascade: each layer's method (dopri5, rosenbrock4, auto)", "continuous"},
      {"", "cascade.rtol", K::Numbers, "", "cascade: each layer's relative tolerance", "continuous"},
      {"", "cascade.atol", K::Numbers, "", "cascade: each layer's absolute tolerance", "continuous"},
      {"", "cascade.window_steps", K::Integer, "", "cascade: steps of the bottom layer per window", "continuous"},
  };
  return table;
}

SimulationConfig simulation_config(const Config& given, const Model& model) {
  given.check_keys(option_keys(simulation_options()));
  Config cfg = given;
  fill_defaults(cfg, simulation_options());
  SimulationConfig c;
  const std::string mode = cfg.get_string("mode");
  if (const auto view = parse_time_view(mode))
    c.mode = *view;
  else
    throw cfg.error("mode", "unknown mode '" + mode + "'; expected continuous or discrete");
  auto& I = c.integrator;
  if (c.mode == TimeView::Continuous) {
    c.tau = cfg.get_double_list("tau", Range::positive());
    if (c.tau.size() != 1 && static_cast<int>(c.tau.size()) != model.num_layers())
      throw cfg.error("tau", std::to_string(c.tau.size()) + " values for a model of " +
                                 std::to_string(model.num_layers()) + " layers; expected one value or one per layer");
    I.method = parse_method(cfg.get_string("method"), cfg.name() + ": key 'method'");
    I.rtol = cfg.get_double("rtol", Range::positive());
    I.atol = cfg.get_double("atol", Range::positive());
    I.dt = cfg.get_double("dt", Range::positive());
    I.t_end = cfg.get_double("t_end", Range::positive());
    I.dt_out = cfg.get_double("dt_out", Range::positive());
  // The cascade's per-layer methods: an array of names, or one string (commas between layers).
  if (cfg.has("cascade.methods")) {
    std::vector<std::string> names;
    const std::size_t n = cfg.value_text("cascade.methods")->front() == '[' ? cfg.array_size("cascade.methods") : 0;
    if (n > 0) {
      for (std::size_t i = 0; i < n; ++i) names.push_back(cfg.get_string("cascade.methods[" + std::to_string(i) + "]"));
    } else {
      std::stringstream list(cfg.get_string("cascade.methods"));
      for (std::string item; std::getline(list, item, ',');) names.push_back(item);
    }
    if (names.size() != 1 && static_cast<int>(names.size()) != model.num_layers())
      throw cfg.error("cascade.methods", std::to_string(names.size()) + " values for a model of " +
                                             std::to_string(model.num_layers()) +
                                             " layers; expected one value or one per layer");
    for (const std::string& m : names) I.layer_methods.push_back(parse_layer_method(m, cfg.name() + ": key 'cascade.methods'"));
  }
  for (const char* key : {"cascade.rtol", "cascade.atol"}) {
    auto& v = key[8] == 'r' ? I.layer_rtol : I.layer_atol;
    v = cfg.get_double_list(key, {}, Range::positive());
    if (v.size() > 1 && static_cast<int>(v.size()) != model.num_layers())
      throw cfg.error(key, std::to_string(v.size()) + " values for a model of " + std::to_string(model.num_layers()) +
                               " layers; expected one value or one per layer");
  }
  I.window_steps = static_cast<int>(cfg.get_int("cascade.window_steps", 256, Range::closed(1, 1e7)));
  } else {
    c.steps = cfg.get_int("steps", Range::positive());
    const double every = cfg.get_double("dt_out", Range::at_least(1.0));
    if (every != std::floor(every)) throw cfg.error("dt_out", "expected a whole number of steps in discrete mode");
    c.every = static_cast<long long>(every);
  }
  c.batch = static_cast<int>(cfg.get_int("batch", 1, Range::closed(1, 1e6)));
  c.seed = cfg.get_int("seed", Range::non_negative());
  c.s0_scale = cfg.get_double("s0_scale", Range::non_negative());

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
    const long long batch_key = given.has("batch") ? c.batch : -1;
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

double simulation_output_bytes(const SimulationConfig& c, const Model& model) {
  double samples = 0;
  if (c.mode == TimeView::Continuous) {
    // in doubles: t_end / dt_out may exceed any integer type (OutputClock's count is exact)
    samples = std::floor(c.integrator.t_end / c.integrator.dt_out) + 2;
  } else {
    samples = 1 + std::floor(static_cast<double>(c.steps) / static_cast<double>(c.every)) +
              (c.steps % c.every != 0 ? 1 : 0);
  }
  return 8.0 * samples * (static_cast<double>(c.batch) * model.state_dim() + 1);
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
  // and, with a readout, the model's prediction there (the readout of the top stream built
  // from the state and that input: predictions_at_states)
  const bool readout = model.has_readout() && !model.bidirectional;
  TrajectoryWriter writer(out, N, B, model.input_size, hooks.flush_file, readout ? model.prediction_size() : 0);
  Eigen::MatrixXd X_out(model.input_size, B), P_out(model.prediction_size(), B);
  auto predict = [&](const double* states) {
    if (readout) predictions_at_states(model, Eigen::Map<const Eigen::MatrixXd>(states, N, B), X_out, P_out);
    return readout ? P_out.data() : nullptr;
  };
  out.attach_scale("states", 1, "time", "time");
  out.attach_scale("inputs", 1, "time", "time");
  if (readout) out.attach_scale("predictions", 1, "time", "time");
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
    if (!st.layers.empty()) write_cascade_layers(st.layers, out);
    out.set_attr("status", status);
  };

  if (continuous) {
    ContinuousSystem sys(model, c.tau, input);
    Eigen::VectorXd s = Eigen::Map<const Eigen::VectorXd>(S0.data(), S0.size());
    const double t_end = c.integrator.t_end;
    struct Stopped {};
    auto obs = [&](const Eigen::VectorXd& x, double t) {
      input.at(t, X_out);
      writer.write(x.data(), t, X_out.data(), predict(x.data()));
      if (hooks.progress) hooks.progress(t / t_end);
      if (hooks.stop && t > 0 && t < t_end && hooks.stop()) throw Stopped{};
    };
    try {
      finish(integrate(sys, s, c.integrator, obs), "complete");
    } catch (const Stopped&) {
      // The driver's step counts are lost with its stack frame: -1 says "not known".
      IntegrationStats st;
      st.steps = st.rejected_steps = -1;
      st.rhs_evaluations = sys.rhs_evaluations();
      st.jacobian_evaluations = sys.jacobian_evaluations();
      st.t_reached = writer.last_time();
      r.interrupted = "interrupted at t = " + fmt(writer.last_time());
      finish(st, r.interrupted.c_str());
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
  InputSignal::Draws draws;
  IntegrationStats st;
  input.at_step(0, X_out);
  writer.write(S.data(), 0.0, X_out.data(), predict(S.data()));
  const auto slices = stack.slices();
  for (long long k = 0; k < c.steps; ++k) {
    input.at_step(k, X, draws);
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
      // the prediction of the step that produced s_{k+1}: the readout of the top stream that
      // step built (from s_{k+1} and the input it read)
      if (readout) apply_readout(model, stack.output(ws), P_out);
      input.at_step(k + 1, X_out);
      writer.write(S.data(), static_cast<double>(k + 1), X_out.data(), readout ? P_out.data() : nullptr);
      if (hooks.progress) hooks.progress(static_cast<double>(k + 1) / static_cast<double>(c.steps));
      if (hooks.stop && k + 1 < c.steps && hooks.stop()) {
        st.outputs = writer.count();
        r.interrupted = "interrupted at step " + std::to_string(k + 1);
        finish(st, r.interrupted.c_str());
        return r;
      }
    }
  }
  st.outputs = writer.count();
  finish(st, "complete");
  return r;
}

}  // namespace stackdyn
