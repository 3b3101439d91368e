// `stackdyn demo -o OUT.h5`: the main job on the embedded default model (data/default_model.toml):
// the model, a default input (sinusoids), and the discrete-time trajectories of a batch of
// initial states, all in one self-describing file.
#include "cli.hpp"
#include "command_util.hpp"

#include <stackdyn/config.hpp>
#include <stackdyn/default_model.hpp>
#include <stackdyn/init.hpp>
#include <stackdyn/model_io.hpp>
#include <stackdyn/random.hpp>
#include <stackdyn/stack.hpp>

#include <cmath>
#include <numbers>
#include <ostream>

namespace stackdyn::cli {
namespace {

struct DemoOptions {
  std::string output = "stackdyn_demo.h5";
  int steps = 400;
  int batch = 8;
  long long seed = 1;
};

int run_demo(const DemoOptions& o, Context& ctx) {
  Config cfg = Config::from_string(default_model_toml, "default_model.toml");
  long long model_seed = 0;
  const Model model = model_from_config(cfg, &model_seed);
  const Stack stack(model);
  const int d = model.input_size, N = stack.state_dim(), B = o.batch, T = o.steps;

  // Default input: channel k is sin(2 pi t / period_k), the same for every sample; the
  // samples differ in their random initial states.
  Eigen::MatrixXd X(d, static_cast<Eigen::Index>(T) * B);
  for (int t = 0; t < T; ++t)
    for (int k = 0; k < d; ++k)
      X.block(k, static_cast<Eigen::Index>(t) * B, 1, B)
          .setConstant(0.5 * std::sin(2 * std::numbers::pi * (t + 1) / (25.0 * (k + 1))));
  Rng rng(static_cast<std::uint64_t>(o.seed));
  Eigen::MatrixXd S(N, B), S_next(N, B);
  for (Eigen::Index j = 0; j < S.size(); ++j) S.data()[j] = rng.uniform(-0.5, 0.5);

  // Trajectories: sample 0 is the initial state at t = 0.
  Eigen::MatrixXd traj(N, static_cast<Eigen::Index>(T + 1) * B);
  traj.leftCols(B) = S;
  auto ws = stack.make_workspace();
  for (int t = 0; t < T; ++t) {
    stack.step(X.middleCols(static_cast<Eigen::Index>(t) * B, B), S, S_next, ws);
    S.swap(S_next);
    traj.middleCols(static_cast<Eigen::Index>(t + 1) * B, B) = S;
  }

  h5::AtomicOutput out(o.output);
  h5::File& f = out.file();
  write_provenance(f, make_provenance(ctx, "", cfg.to_toml(), o.seed));
  f.set_attr("mode", std::string("discrete"));
  f.set_attr("units", std::string("steps"));
  f.set_attr("input_description", std::string("x_k(t) = 0.5 sin(2 pi t / (25 (k+1))), the same for every sample"));
  write_state_layout(f, model);
  h5::Group mg = f.create_group("model");
  Provenance mp = make_provenance(ctx, "", cfg.to_toml(), model_seed);
  mp.source = "init (embedded default model)";
  write_model(model, mg, mp);
  const auto Bz = static_cast<std::size_t>(B), Tz = static_cast<std::size_t>(T);
  Eigen::VectorXd time = Eigen::VectorXd::LinSpaced(T + 1, 0, T);
  f.write("time", time);
  const auto xs = from_columns(X, Bz, Tz);
  f.write("inputs", {Bz, Tz, static_cast<std::size_t>(d)}, xs.data());
  f.set_dim_labels("inputs", {"batch", "time", "input"});
  const auto st = from_columns(traj, Bz, Tz + 1);
  f.write("states", {Bz, Tz + 1, static_cast<std::size_t>(N)}, st.data());
  f.set_dim_labels("states", {"batch", "time", "state"});
  out.commit();

  ctx.out << o.output << ": default model (" << model.num_layers() << " layers, " << model.parameter_count()
          << " parameters, state_dim " << N << "), " << B << " trajectories of " << T << " steps\n";
  for (int l = 0; l < model.num_layers(); ++l) {
    const auto& sl = stack.slices()[l];
    const double rms = std::sqrt(S.middleRows(sl.offset, sl.hidden_size).squaredNorm() / (sl.hidden_size * B));
    ctx.out << "  layer " << l << " (" << cell_name(model.layers[l].cell) << ", " << sl.hidden_size
            << " units): rms activity at the last step " << rms << "\n";
  }
  return 0;
}

const bool registered = register_command(
    {"demo", "The main job: simulate the embedded default 3-layer model on a default input",
     [](CLI::App& sub) -> Runner {
       auto o = std::make_shared<DemoOptions>();
       sub.add_option("-o,--output", o->output, "Result file (HDF5)")->capture_default_str();
       sub.add_option("--steps", o->steps, "Number of steps")->check(CLI::PositiveNumber)->capture_default_str();
       sub.add_option("--batch", o->batch, "Number of trajectories")->check(CLI::PositiveNumber)->capture_default_str();
       sub.add_option("--seed", o->seed, "Seed of the initial states")->capture_default_str();
       return [o](Context& ctx) { return run_demo(*o, ctx); };
     }});

}  // namespace
}  // namespace stackdyn::cli
