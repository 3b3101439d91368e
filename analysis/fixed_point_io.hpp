// Shared by `stackdyn fixed-points` and `stackdyn spectrum`: options from the configuration,
// states from files, and the result datasets (docs/fixed-points.md).
#pragma once
#include <stackdyn/core/config.hpp>
#include <stackdyn/analysis/fixed_point_analysis.hpp>
#include <stackdyn/core/h5.hpp>

#include <optional>
#include <string>
#include <vector>

namespace stackdyn::cli {

/// Shortest text that reads back as the same double (for Config::set).
std::string format_double(double v);
/// Sets `key` to the comma-separated numbers of a flag's value (nothing when absent);
/// InputError naming `flag` on a bad number.
void set_list(Config& cfg, const std::string& key, const std::optional<std::string>& value, const std::string& flag);
/// Sets `key` to a flag's value, written as TOML (nothing when absent).
void set_value(Config& cfg, const std::string& key, const std::optional<std::string>& value);
/// The search options of the configuration's keys (see analysis/fixed_points.cpp).
FixedPointSearch search_from_config(const Config& cfg, const Model& model);
/// The key input_constant, default zeros; InputError unless it has input_size finite values.
VectorXd input_from_config(const Config& cfg, const Model& model);
/// `dataset` of `path` as columns: states (n, state_dim), or trajectories (batch, time,
/// state_dim) as forward and simulate write them (trajectory by trajectory, in time order);
/// every `every`-th state (of each trajectory) from the first. At least one, all finite.
MatrixXd read_states(const std::string& path, const Model& model, const std::string& dataset = "states",
                     int every = 1);
/// Refuses a bidirectional model, naming its file.
void require_causal(const Model& model, const std::string& path);

/// Eigen-analysis datasets of K states in `g`: eigenvalues, n_unstable, timescales, periods,
/// right/left eigenvectors, block eigenvalues in both readings.
void write_spectra(h5::Group& g, const std::vector<Spectrum>& spectra, const FixedPointSystem& sys,
                   const EigenOptions& eo);
/// The whole fixed-point result file below the provenance.
void write_fixed_point_report(h5::Group& root, const Model& model, const VectorXd& x, const FixedPointSearch& s,
                              const FixedPointReport& rep);
/// Attributes common to both commands: mode, units, q's definition, input, tau, state layout.
void write_view_description(h5::Group& root, const Model& model, const VectorXd& x, TimeView view,
                            const std::vector<double>& tau);

}  // namespace stackdyn::cli
