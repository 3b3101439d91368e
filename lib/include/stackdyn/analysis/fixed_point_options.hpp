// The options of a fixed-point search and eigen-analysis as configuration keys (one table
// for `stackdyn fixed-points`, `spectrum`, `continuation`): flag, key, type, default, help.
#pragma once
#include <stackdyn/analysis/fixed_point_analysis.hpp>
#include <stackdyn/core/options.hpp>

namespace stackdyn {

/// mode, tau, input.constant, the finder's, the deduplication's and the eigen-analysis'
/// keys; the one place where their defaults are written.
const OptionTable& fixed_point_options();

/// The search options of the configuration's keys; absent keys take the table's defaults.
FixedPointSearch search_from_config(const Config& cfg, const Model& model);
/// The key input.constant, default zeros; InputError unless it has input_size finite values.
VectorXd input_from_config(const Config& cfg, const Model& model);

}  // namespace stackdyn
