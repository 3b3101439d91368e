// A whole simulation of a model in either view of docs/design.md 3, from a configuration to
// trajectories in an HDF5 group: what `stackdyn simulate` and `stackdyn sweep` run, and
// what a program (the demo) can call directly.
//
// Configuration keys: simulation_options() (docs/simulation.md has the table).
#pragma once
#include <stackdyn/core/config.hpp>
#include <stackdyn/core/options.hpp>
#include <stackdyn/core/h5.hpp>
#include <stackdyn/dynamics/inputs.hpp>
#include <stackdyn/dynamics/integrate.hpp>
#include <stackdyn/model/model.hpp>
#include <stackdyn/model/time_view.hpp>

#include <functional>
#include <string>
#include <vector>

namespace stackdyn {


struct SimulationConfig {
  TimeView mode = TimeView::Continuous;
  std::vector<double> tau{1.0};  ///< one value or one per layer
  IntegratorOptions integrator;  ///< method, rtol, atol, dt, t_end, dt_out (continuous)
  long long steps = 100;         ///< discrete: number of steps
  long long every = 1;           ///< discrete: output every `every` steps (dt_out)
  int batch = 1;
  InputSpec input;
  Eigen::MatrixXd s0;      ///< (state_dim, batch); empty = zeros, or s0_scale
  double s0_scale = 0.0;   ///< > 0: s0 ~ U(-s0_scale, s0_scale) from `seed`, when no s0 is given
  long long seed = 0;
  std::string input_path;  ///< recorded in the result
};

/// Every key simulation_config reads, with its flag, type, default and help: the one
/// place where the simulation's defaults are written.
const OptionTable& simulation_options();

/// Reads and checks a configuration against `model` (tau count, positive tolerances and
/// steps, channels within the input width, the input file's width and s0's width, ...):
/// InputError naming cfg.name() or the file and the key or dataset. Unknown keys are refused.
SimulationConfig simulation_config(const Config& cfg, const Model& model);

/// Bytes of the `states` and `time` datasets the simulation writes (before compression).
double simulation_output_bytes(const SimulationConfig& cfg, const Model& model);

struct SimulationHooks {
  std::function<void(double fraction)> progress;  ///< called now and then with the done fraction
  h5::File* flush_file = nullptr;                 ///< flushed periodically during the run
  /// Asked at every output sample after the initial state; true stops the run there (status
  /// "interrupted at ...").
  std::function<bool()> stop;
};

struct SimulationResult {
  IntegrationStats stats;
  long long outputs = 0;
  double wall_seconds = 0;
  std::string interrupted;  ///< empty, or the status "interrupted at t = ..." of a stopped run
};

/// Simulates and writes into `out`: `time` (n_out,), `states` (batch, n_out, state_dim)
/// (the first sample is the initial state at t = 0), `state_slices` (L, 2) and `s0`, the
/// attributes mode,
/// units, method, tau, rtol, atol, dt and the group `statistics` (steps, rejected_steps,
/// rhs_evaluations, jacobian_evaluations, outputs, wall_seconds) and `status`
/// ("complete", "diverged", or "interrupted at t = T" when hooks.stop said so: the samples up
/// to T are written and the run returns normally). On divergence the group keeps every output before it, the
/// statistics and status = "diverged", and DivergenceError is rethrown.
SimulationResult simulate(const Model& model, const SimulationConfig& cfg, h5::Group& out,
                          const SimulationHooks& hooks = {});

}  // namespace stackdyn
