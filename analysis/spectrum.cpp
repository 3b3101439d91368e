// `stackdyn spectrum MODEL.h5 STATES.h5 -o OUT.h5`: eigen-analysis of the Jacobian of the
// dynamics at given states (any states, not only fixed points; docs/fixed-points.md).
#include "cli.hpp"
#include "command_util.hpp"
#include "fixed_point_io.hpp"

#include <stackdyn/analysis/eigen_analysis.hpp>
#include <stackdyn/core/error.hpp>
#include <stackdyn/model/model_io.hpp>
#include <stackdyn/core/parallel.hpp>

#include <optional>
#include <ostream>

namespace stackdyn::cli {
namespace {

struct SpectrumOptions {
  std::string model, states, output, dataset;
  int every = 1;
  std::optional<std::string> input_constant, mode, tau, eig_method, top_k, which, n_vectors, threads;
};

int run_spectrum(const SpectrumOptions& o, Context& ctx) {
  const Model model = read_model(o.model);
  require_causal(model, o.model);
  Config cfg = Config::from_string("", "spectrum options");
  set_list(cfg, "input_constant", o.input_constant, "--input-constant");
  set_list(cfg, "tau", o.tau, "--tau");
  for (const auto& [key, value] : {std::pair{"mode", &o.mode}, {"eig_method", &o.eig_method}, {"top_k", &o.top_k},
                                   {"which", &o.which}, {"n_vectors", &o.n_vectors}, {"threads", &o.threads}})
    set_value(cfg, key, *value);
  const FixedPointSearch s = search_from_config(cfg, model);
  const VectorXd x = input_from_config(cfg, model);
  std::string dataset = o.dataset;
  if (dataset.empty()) {
    const h5::File f = h5::File::open(o.states);
    dataset = !f.has("states") && f.has("fixed_points/states") ? "fixed_points/states" : "states";
  }
  const MatrixXd S = read_states(o.states, model, dataset, o.every);
  const FixedPointSystem sys(model, x, s.view, s.tau);
  std::vector<Spectrum> spectra(static_cast<std::size_t>(S.cols()));
  std::vector<double> q(spectra.size());
  parallel_for(spectra.size(), s.finder.threads, [&](std::size_t k) {
    spectra[k] = analyse_spectrum(sys, S.col(static_cast<Eigen::Index>(k)), s.eigen);
    q[k] = sys.q(S.col(static_cast<Eigen::Index>(k)));
  });

  h5::AtomicOutput out(o.output);
  h5::File& f = out.file();
  write_provenance(f, make_provenance(ctx, o.model, cfg.to_toml()));
  f.set_attr("states_path", o.states);
  f.set_attr("states_dataset", dataset);
  f.set_attr("states_every", static_cast<long long>(o.every));
  write_view_description(f, model, x, s.view, s.tau);
  f.write("states", MatrixXd(S.transpose()));
  f.set_dim_labels("states", {"point", "state"});
  attach_state_axis(f, "states", 1);
  f.write("q", {q.size()}, q.data());
  f.set_dim_labels("q", {"point"});
  write_spectra(f, spectra, sys, s.eigen);
  out.commit();

  int stable = 0, undecided = 0;
  for (const auto& sp : spectra) {
    stable += stability(sp, s.view) == Stability::Stable;
    undecided += stability(sp, s.view) == Stability::Undecided;
  }
  ctx.out << o.output << ": spectra at " << spectra.size() << " states (" << eigen_method_name(spectra.front().method)
          << (spectra.front().complete ? ", all eigenvalues" : ", top " + std::to_string(spectra.front().eigenvalues.size()))
          << "); " << stable << " with no unstable direction";
  if (undecided > 0) ctx.out << ", " << undecided << " undecided (the top-k eigenvalues are not the least stable ones)";
  ctx.out << "\n";
  return 0;
}

const bool registered = register_command(
    {"spectrum", "Eigen-analysis of the Jacobian at given states (any states, not only fixed points)",
     [](CLI::App& sub) -> Runner {
       auto o = std::make_shared<SpectrumOptions>();
       sub.add_option("model", o->model, "Model file (HDF5)")->required();
       sub.add_option("states", o->states,
                      "States file: dataset 'states' (n, state_dim) or trajectories (batch, time, state_dim) from "
                      "forward or simulate, or a fixed-points result file")
           ->required();
       sub.add_option("-o,--output", o->output, "Result file (HDF5)")->required();
       sub.add_option("--dataset", o->dataset, "Dataset of STATES to read (default states, else fixed_points/states)");
       sub.add_option("--every", o->every, "Trajectories: every K-th time of each (default 1)");
       sub.add_option("--input-constant", o->input_constant, "Constant input x*: v1,v2,... (default zeros)");
       sub.add_option("--mode", o->mode, "discrete (Jacobian of the map) or continuous (of the flow)");
       sub.add_option("--tau", o->tau, "Time constants of the continuous view: one value, or one per layer");
       sub.add_option("--eig-method", o->eig_method, "auto, full, block or spectra (default auto)");
       sub.add_option("--top-k", o->top_k, "Eigenvalues kept by spectra (default 20)");
       sub.add_option("--which", o->which, "magnitude or real: which eigenvalues come first (and spectra keeps)");
       sub.add_option("--n-vectors", o->n_vectors, "Top modes with right and left eigenvectors (default 3)");
       sub.add_option("--threads", o->threads, "Threads (0 = every core)");
       return [o](Context& ctx) { return run_spectrum(*o, ctx); };
     }});

}  // namespace
}  // namespace stackdyn::cli
