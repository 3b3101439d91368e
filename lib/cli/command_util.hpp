// Helpers shared by the commands: provenance of result files, reading and checking arrays,
// converting between the files' (batch, time, ...) layout and the library's columns, the
// output-size guard, progress on stderr and stopping cleanly on SIGINT/SIGTERM.
#pragma once
#include "command.hpp"

#include <stackdyn/core/h5.hpp>
#include <stackdyn/core/provenance.hpp>
#include <stackdyn/model/model.hpp>

#include <chrono>
#include <string>

#include <ostream>
#include <string>

namespace stackdyn::cli {

/// Provenance of a result file made by the running command from `model_spec`.
Provenance make_provenance(const Context& ctx, const std::string& model_spec, const std::string& config_toml = "",
                           long long seed = -1);

/// "train.lr is 0.01 in the run, 0.02 now; ...": the leaf keys whose values differ between an
/// earlier configuration (`then_where`: "in the run") and the one now, at most four, then how
/// many more; for refusing to continue work made under another configuration.
std::string differing_keys(const Config& then, const Config& now, const std::string& then_where);

/// Throws InputError naming the file, dataset and C-order index of the first NaN/Inf.
void check_finite(const h5::Array& a, const std::string& file, const std::string& dataset);

/// Reads a float dataset of rank `expected.size()`; entries of `expected` that are >= 0 must
/// match exactly. `labels` name the axes for the message, e.g. {"batch","time","input_size"}.
h5::Array read_checked(const h5::Group& g, const std::string& dataset, const std::vector<long long>& expected,
                       const std::vector<std::string>& labels);

/// (batch, time, k) C-order array -> (k, time*batch) matrix, column t*batch + b.
Eigen::MatrixXd to_columns(const h5::Array& a);
/// Inverse of to_columns: (k, time*batch) -> (batch, time, k) C order.
std::vector<double> from_columns(const Eigen::MatrixXd& m, std::size_t batch, std::size_t time);

/// `dataset` of `path` as columns: states (n, state_dim), or trajectories (batch, time,
/// state_dim) as forward and simulate write them (trajectory by trajectory, in time order);
/// every `every`-th state (of each trajectory) from the first. At least one, all finite.
Eigen::MatrixXd read_states(const std::string& path, const Model& model, const std::string& dataset = "states",
                            int every = 1);
/// Refuses a bidirectional model, naming its file.
void require_causal(const Model& model, const std::string& path);

/// Outputs above this many bytes need --force (docs/design.md section 6).
inline constexpr double output_limit_bytes = 8.0 * 1024 * 1024 * 1024;
/// Refuses (InputError, before anything runs) an output of `bytes` above output_limit_bytes
/// without `force`, and always one above the free space of the output's directory.
void check_output_size(double bytes, const std::string& output, bool force);

/// Progress on stderr: a bar redrawn in place on a terminal; otherwise (a log file, a
/// batch job) one line every `interval` seconds; nothing with -q.
class Progress {
 public:
  Progress(const Context& ctx, std::string label, double interval_seconds = 5.0);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;
  /// `fraction` done in [0, 1]; `detail` ("t = 12.5") goes into the log lines.
  void operator()(double fraction, const std::string& detail = "");

 private:
  const Context& ctx_;
  std::string label_;
  double interval_;
  int shown_ = -1;
  std::chrono::steady_clock::time_point start_, last_;
};

/// While alive, SIGINT and SIGTERM only set a flag that the running command polls, so that
/// it can finish the current chunk and write a complete file; the previous handlers come
/// back on destruction.
class StopSignal {
 public:
  StopSignal();
  ~StopSignal();
  StopSignal(const StopSignal&) = delete;
  StopSignal& operator=(const StopSignal&) = delete;
  bool requested() const;
  /// "SIGINT" or "SIGTERM" (empty when none came).
  std::string name() const;
};

}  // namespace stackdyn::cli
