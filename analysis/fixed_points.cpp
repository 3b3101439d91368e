// `stackdyn fixed-points MODEL.h5 [CONFIG.toml] -o FP.h5`: fixed points and slow points of a
// stack for a constant input, deduplicated, with the eigen-analysis at each (docs/fixed-points.md).
#include "command.hpp"
#include "command_util.hpp"

#include <stackdyn/analysis/fixed_point_file.hpp>
#include <stackdyn/analysis/fixed_point_options.hpp>
#include <stackdyn/model/model_io.hpp>

#include <optional>
#include <ostream>

namespace stackdyn::cli {
namespace {

OptionTable options() {
  OptionTable t = fixed_point_options();
  t.push_back({"--initial-states", "initial_states", ValueKind::Path, "",
               "Starts from a file instead of sampled ones: dataset 'states', (n, state_dim) or trajectories "
               "(batch, time, state_dim) as forward and simulate write them",
               ""});
  t.push_back({"--every", "every", ValueKind::Integer, "1", "With --initial-states trajectories: every K-th time of each",
               ""});
  return t;
}

int run_fixed_points(Invocation& inv) {
  const std::string& spec = inv.arg("model");
  const Model model = inv.model();
  require_causal(model, spec);
  FixedPointSearch s = search_from_config(inv.config, model);
  const VectorXd x = input_from_config(inv.config, model);
  const std::string initial = inv.config.get_string("initial_states", "");

  const int every = static_cast<int>(inv.config.get_int("every", Range::positive()));

  std::optional<MatrixXd> starts;
  if (!initial.empty()) starts = read_states(initial, model, "states", every);
  FixedPointReport rep;
  {
    Progress progress(inv.ctx, "fixed-points: sampling starts");
    s.progress = [&](double f) { progress(f); };
    rep = analyse_fixed_points(model, x, s, starts ? &*starts : nullptr);
  }

  h5::AtomicOutput out(inv.output);
  h5::File& f = out.file();
  Provenance prov = make_provenance(inv.ctx, spec, inv.config.to_toml(), static_cast<long long>(s.seed));
  prov.source = rep.starts_description;
  write_provenance(f, prov);
  if (!initial.empty()) {
    f.set_attr("initial_states_path", initial);
    f.set_attr("initial_states_every", static_cast<long long>(every));
  }
  write_fixed_point_report(f, model, x, s, rep);
  out.commit();

  inv.ctx.out << inv.output << ": " << summarise(rep);
  return 0;
}

const bool registered = register_command({
    .name = "fixed-points",
    .summary = "Find fixed points and slow points for a constant input, with their eigen-analysis",
    .positionals = {model_positional(),
                    {"config", "Options as TOML (the keys shown in {key ...}); flags override it",
                     Positional::Kind::Config, false}},
    .options = options(),
    .set = true,
    .footer = "FP.h5 holds fixed_points/{states (K, state_dim), q (K,), counts (K,), eigenvalues (K, M) complex,\n"
              "n_unstable (K,), stable (K,), neutral_dim (K,), continuous_set (K,), timescales, periods,\n"
              "right_eigenvectors, left_eigenvectors, block_eigenvalues}, continuous_sets/{dimension, n_points, counts,\n"
              "extent} and starts/{initial, final, q, iterations, status, point}. See docs/fixed-points.md.",
    .run = run_fixed_points,
});

}  // namespace
}  // namespace stackdyn::cli
