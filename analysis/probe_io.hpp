// Shared by the probe commands (lyapunov, timescales, gradient-flow): the drive taken from
// simulate's configuration keys, the view, initial states, and the result file's frame.
#pragma once
#include <stackdyn/analysis/fixed_points.hpp>
#include <stackdyn/core/config.hpp>
#include <stackdyn/core/h5.hpp>
#include <stackdyn/dynamics/simulation.hpp>

#include <string>
#include <vector>

namespace stackdyn::cli {

/// simulate's keys that describe the drive, the view and the integrator (mode, tau, rtol,
/// atol, dt, batch, seed, input_file and input.*), as Config::check_keys patterns.
const std::vector<std::string>& probe_drive_keys();

/// simulate's reading of those keys of `cfg` (InputSignal checks, the input file's
/// inputs and s0); `steps`/`t_end` are left to the caller.
SimulationConfig probe_drive(const Config& cfg, const Model& model);

/// The view of the key `mode` (default discrete).
TimeView probe_view(const Config& cfg);

/// State dimension per layer slice, (L, 2), as every result file has, plus the view's
/// attributes (mode, units, tau).
void write_probe_frame(h5::Group& root, const Model& model, TimeView view, const std::vector<double>& tau,
                       const std::string& kind);

}  // namespace stackdyn::cli
