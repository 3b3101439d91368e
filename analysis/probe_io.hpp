// Shared by the probe commands (lyapunov, timescales, gradient-flow): their entries of
// simulate's option table, the drive read through simulate's configuration, the view, and
// the result file's frame.
#pragma once
#include <stackdyn/core/config.hpp>
#include <stackdyn/core/h5.hpp>
#include <stackdyn/core/options.hpp>
#include <stackdyn/dynamics/simulation.hpp>

#include <optional>
#include <string>
#include <vector>

namespace stackdyn::cli {

/// The entries of simulate's option table (simulation_options) for `keys`, in its order;
/// "input.*" stands for every input key. `mode` defaults to discrete, as the probes measure
/// the map unless told otherwise.
OptionTable probe_options(const std::vector<std::string>& keys);

/// simulate's reading of the drive keys of `cfg` (mode, tau, rtol, atol, dt, batch, seed,
/// input_file, input.*): InputSignal checks, the input file's inputs and s0. The lengths
/// (`steps`, `t_end`) are left to the caller, which checks them against the input's horizon.
SimulationConfig probe_drive(const Config& cfg, const Model& model);

/// The view of the key `mode` (default discrete).
TimeView probe_view(const Config& cfg);

/// State dimension per layer slice, (L, 2), as every result file has, plus the view's
/// attributes (mode, units, tau).
void write_probe_frame(h5::Group& root, const Model& model, TimeView view, const std::vector<double>& tau,
                       const std::string& kind);

/// The entries --fixed-point FILE:INDEX (key `fixed_point`) and --state FILE (key `state`):
/// a start given explicitly, shared by timescales, lyapunov and gradient-flow. `what` says
/// what the start is for in the help text.
OptionTable start_options(const std::string& what);

struct GivenStart {
  Eigen::VectorXd state;
  std::string label;  ///< "--fixed-point fp.h5:2", for the result file's attribute
};
/// The start given by `fixed_point` (row INDEX of a fixed-points result's
/// fixed_points/states (K, state_dim)) or `state` (dataset 'state' (state_dim,), or the
/// first row of 'states' (n, state_dim)); nullopt when neither. InputError when both are
/// given, or on a missing file, dataset or index, a wrong width or non-finite numbers.
std::optional<GivenStart> probe_start(const Config& cfg, const Model& model);

}  // namespace stackdyn::cli
