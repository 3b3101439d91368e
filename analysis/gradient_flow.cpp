// `stackdyn gradient-flow MODEL.h5 [CONFIG.toml] -o GF.h5`: norms of the blocks of products of
// Jacobians along one driven trajectory, time x depth, and the paths in depth (docs/probes.md).
#include "command.hpp"
#include "command_util.hpp"
#include "probe_io.hpp"

#include <stackdyn/analysis/gradient_flow.hpp>
#include <stackdyn/core/error.hpp>
#include <stackdyn/model/model_io.hpp>
#include <stackdyn/training/bptt.hpp>

#include <ostream>

namespace stackdyn::cli {
namespace {

OptionTable options() {
  using K = ValueKind;
  OptionTable t = probe_options({"mode", "batch", "seed", "input_file", "input.*"});
  for (auto& o : t)
    if (o.key == "mode") {
      // The map is what gradients flow through: the key is accepted, with one value.
      o.flag.clear();
      o.help = "discrete only";
    } else if (o.key == "input_file") {
      o.help = "Inputs: 'inputs' (batch, time, input_size), optional 's0' or 'h0'/'c0' (initial state)";
    }
  const OptionTable own = {
      {"--steps", "steps", K::Integer, "100", "Steps T of the trajectory", ""},
      {"--sample", "sample", K::Integer, "0", "Sample b of the batch (of the input file's)", ""},
  };
  t.insert(t.end(), own.begin(), own.end());
  const OptionTable start = start_options("the initial state,");
  t.insert(t.end(), start.begin(), start.end());
  return t;
}

// The initial state of sample b: the input file's s0, or its h0 (and c0), torch-shaped
// (num_layers, batch, hidden_size); zeros otherwise.
VectorXd initial_state(const Model& model, const SimulationConfig& drive, int b) {
  const int N = model.state_dim();
  if (drive.s0.size() > 0) return drive.s0.col(b);
  VectorXd s = VectorXd::Zero(N);
  if (drive.input_path.empty()) return s;
  const h5::File f = h5::File::open(drive.input_path);
  const auto slices = model.state_slices();
  for (const char* name : {"h0", "c0"}) {
    if (!f.has(name)) continue;
    const bool cell = name[0] == 'c';
    const int n = model.layers[0].hidden_size;
    for (const auto& l : model.layers)
      if (l.hidden_size != n)
        throw InputError(drive.input_path + ": dataset '" + name +
                         "' needs layers of one width; the model's differ, give 's0' (batch, state_dim) instead");
    const h5::Array a = read_checked(f, name, {model.num_layers(), drive.batch, n}, {"num_layers", "batch", "hidden_size"});
    for (int l = 0; l < model.num_layers(); ++l) {
      const auto& sl = slices[static_cast<std::size_t>(l)];
      if (cell && !sl.has_cell_state) continue;
      for (int i = 0; i < n; ++i)
        s(sl.offset + (cell ? n : 0) + i) = a.data[(static_cast<std::size_t>(l) * drive.batch + b) * n + i];
    }
  }
  return s;
}

int run_gradient_flow(Invocation& inv) {
  Context& ctx = inv.ctx;
  const std::string& spec = inv.arg("model");
  const Model model = inv.model();
  const Config& cfg = inv.config;
  if (cfg.get_string("mode") != "discrete")
    throw cfg.error("mode", "gradient-flow follows the discrete map; expected discrete");
  if (model.bidirectional && cfg.has("input_file")) {
    // A bidirectional stack starts both directions from zeros (its state is not one vector).
    const std::string path = cfg.get_string("input_file");
    const h5::File f = h5::File::open(path);
    for (const char* name : {"s0", "h0", "c0"})
      if (f.has(name))
        throw InputError(path + ": dataset '" + name + "': gradient-flow of a bidirectional model starts from zero "
                                "states; expected only 'inputs'");
  }
  const SimulationConfig drive = probe_drive(cfg, model);
  const long long T = cfg.get_int("steps", Range::at_least(1));
  const int b = static_cast<int>(cfg.get_int("sample", Range::non_negative()));
  if (b >= drive.batch)
    throw cfg.error("sample", std::to_string(b) + " is not a sample of the batch of " + std::to_string(drive.batch) +
                                  "; expected 0 <= sample < " + std::to_string(drive.batch));
  InputSignal input(drive.input, model.input_size, drive.batch, cfg.name());
  if (T > input.step_horizon())
    throw cfg.error("steps", std::to_string(T) + " steps, but the input file has " +
                                 std::to_string(input.step_horizon()) + " samples");
  const auto given = probe_start(cfg, model);
  if (given && model.bidirectional)
    throw cfg.error(cfg.has("state") ? "state" : "fixed_point",
                    "gradient-flow of a bidirectional model starts from zero states; expected no start");
  if (given && !drive.input_path.empty()) {
    const h5::File in = h5::File::open(drive.input_path);
    for (const char* name : {"s0", "h0", "c0"})
      if (in.has(name))
        throw cfg.error(cfg.has("state") ? "state" : "fixed_point",
                        "given together with the input file's '" + std::string(name) + "' (" + drive.input_path +
                            "); expected one initial state");
  }
  MatrixXd X(model.input_size, T), Xb(model.input_size, drive.batch);
  for (long long t = 0; t < T; ++t) {
    input.at_step(t, Xb);
    X.col(t) = Xb.col(b);
  }
  const auto paths = depth_path_counts(model);
  const int L = model.num_layers();
  h5::AtomicOutput out(inv.output);
  h5::File& f = out.file();
  write_provenance(f, make_provenance(ctx, spec, cfg.to_toml(), drive.seed));
  write_probe_frame(f, model, TimeView::Discrete, {1.0}, "gradient_flow");
  f.set_attr("steps", T);
  f.set_attr("sample", static_cast<long long>(b));
  f.set_attr("input_path", drive.input_path);
  f.set_attr("initial_state", given ? given->label
                                    : drive.input_path.empty() ? std::string("zero") : "the input file's (or zero)");
  f.write_int("depth_path_counts", {paths.size()}, paths.data());
  f.set_dim_labels("depth_path_counts", {"layer"});
  if (model.bidirectional) {
    // No causal map to follow: how each output step depends on each input step, through
    // the whole sequence (both directions), by backpropagation.
    const MatrixXd dep = output_input_dependency(model, X);
    f.write("dependency", dep);
    f.set_dim_labels("dependency", {"output_time", "input_time"});
    out.commit();
    ctx.out << inv.output << ": " << T << " steps, " << L << " bidirectional layers; |d y_t / d x_s|_F at t = 0, s = "
            << T - 1 << ": " << dep(0, T - 1) << "; at t = " << T - 1 << ", s = 0: " << dep(T - 1, 0) << "\n";
    return 0;
  }
  const GradientFlowResult r = gradient_flow(model, X, given ? given->state : initial_state(model, drive, b));
  f.write("jacobian_norms", r.norms.back());
  f.set_dim_labels("jacobian_norms", {"time", "layer"});
  std::vector<double> all;
  all.reserve(static_cast<std::size_t>(L) * static_cast<std::size_t>(T) * static_cast<std::size_t>(L));
  for (const auto& m : r.norms)
    for (Eigen::Index t = 0; t < m.rows(); ++t)
      for (Eigen::Index l = 0; l < m.cols(); ++l) all.push_back(m(t, l));
  f.write("jacobian_norms_all", {static_cast<std::size_t>(L), static_cast<std::size_t>(T), static_cast<std::size_t>(L)},
          all.data());
  f.set_dim_labels("jacobian_norms_all", {"output_layer", "time", "layer"});
  f.write("states", MatrixXd(r.states.transpose()));
  f.set_dim_labels("states", {"time", "state"});
  out.commit();

  ctx.out << inv.output << ": " << T << " steps, " << L << " layers; |d h_T^(top) / d s_0^(l)|_F:";
  for (int l = 0; l < L; ++l) ctx.out << " " << r.norms.back()(0, l);
  ctx.out << "\n";
  return 0;
}

const bool registered = register_command({
    .name = "gradient-flow",
    .summary = "Norms of Jacobian products across time and depth along one driven trajectory",
    .positionals = {model_positional(),
                    {"config", "Options as TOML (the keys shown in {key ...}, simulate's input.* keys); flags override it",
                     Positional::Kind::Config, false}},
    .options = options(),
    .set = true,
    .footer = "GF.h5 holds jacobian_norms (T, L), jacobian_norms_all (L, T, L), depth_path_counts (L,) and the\n"
              "trajectory's states (T + 1, state_dim); for a bidirectional model dependency (T, T) and\n"
              "depth_path_counts. See docs/probes.md.",
    .run = run_gradient_flow,
});

}  // namespace
}  // namespace stackdyn::cli
