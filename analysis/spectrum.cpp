// `stackdyn spectrum MODEL.h5 STATES.h5 [CONFIG.toml] -o OUT.h5`: eigen-analysis of the
// Jacobian of the dynamics at given states (any states, not only fixed points;
// docs/fixed-points.md).
#include "command.hpp"
#include "command_util.hpp"

#include <stackdyn/analysis/eigen_analysis.hpp>
#include <stackdyn/analysis/fixed_point_file.hpp>
#include <stackdyn/analysis/fixed_point_options.hpp>
#include <stackdyn/core/parallel.hpp>
#include <stackdyn/model/model_io.hpp>

#include <ostream>

namespace stackdyn::cli {
namespace {

OptionTable options() {
  OptionTable t = select_options(fixed_point_options(), {"mode", "tau", "input.constant", "eig_method", "top_k",
                                                         "which", "n_vectors", "threads"});
  t.push_back({"--dataset", "dataset", ValueKind::Text, "",
               "Dataset of STATES to read (default states, else fixed_points/states)", ""});
  t.push_back({"--every", "every", ValueKind::Integer, "1", "Trajectories: every K-th time of each", ""});
  return t;
}

int run_spectrum(Invocation& inv) {
  const std::string& spec = inv.arg("model");
  const std::string& states = inv.arg("states");
  const Model model = inv.model();
  require_causal(model, spec);
  const FixedPointSearch s = search_from_config(inv.config, model);
  const VectorXd x = input_from_config(inv.config, model);
  std::string dataset = inv.config.get_string("dataset", "");
  if (dataset.empty()) {
    const h5::File f = h5::File::open(states);
    dataset = !f.has("states") && f.has("fixed_points/states") ? "fixed_points/states" : "states";
  }
  const int every = static_cast<int>(inv.config.get_int("every", Range::positive()));
  const MatrixXd S = read_states(states, model, dataset, every);
  const FixedPointSystem sys(model, x, s.view, s.tau);
  std::vector<Spectrum> spectra(static_cast<std::size_t>(S.cols()));
  std::vector<double> q(spectra.size());
  parallel_for(spectra.size(), s.finder.threads, [&](std::size_t k) {
    spectra[k] = analyse_spectrum(sys, S.col(static_cast<Eigen::Index>(k)), s.eigen);
    q[k] = sys.q(S.col(static_cast<Eigen::Index>(k)));
  });

  h5::AtomicOutput out(inv.output);
  h5::File& f = out.file();
  write_provenance(f, make_provenance(inv.ctx, spec, inv.config.to_toml()));
  f.set_attr("states_path", states);
  f.set_attr("states_dataset", dataset);
  f.set_attr("states_every", static_cast<long long>(every));
  write_view_description(f, model, x, s.view, s.tau);
  f.write("states", MatrixXd(S.transpose()));
  f.set_dim_labels("states", {"point", "state"});
  attach_state_axis(f, "states", 1);
  write_predictions(f, model, S, x);
  f.write("q", {q.size()}, q.data());
  f.set_dim_labels("q", {"point"});
  write_spectra(f, spectra, sys, s.eigen);
  out.commit();

  int stable = 0, undecided = 0;
  for (const auto& sp : spectra) {
    stable += stability(sp, s.view) == Stability::Stable;
    undecided += stability(sp, s.view) == Stability::Undecided;
  }
  inv.ctx.out << inv.output << ": spectra at " << spectra.size() << " states ("
              << eigen_method_name(spectra.front().method)
              << (spectra.front().complete ? ", all eigenvalues"
                                           : ", top " + std::to_string(spectra.front().eigenvalues.size()))
              << "); " << stable << " with no unstable direction";
  if (undecided > 0)
    inv.ctx.out << ", " << undecided << " undecided (the top-k eigenvalues are not the least stable ones)";
  inv.ctx.out << "\n";
  return 0;
}

const bool registered = register_command({
    .name = "spectrum",
    .summary = "Eigen-analysis of the Jacobian at given states (any states, not only fixed points)",
    .positionals = {model_positional(),
                    {"states",
                     "States file: dataset 'states' (n, state_dim) or trajectories (batch, time, state_dim) from "
                     "forward or simulate, or a fixed-points result file",
                     Positional::Kind::Input},
                    {"config", "Options as TOML (the keys shown in {key ...}); flags override it",
                     Positional::Kind::Config, false}},
    .options = options(),
    .set = true,
    .run = run_spectrum,
});

}  // namespace
}  // namespace stackdyn::cli
