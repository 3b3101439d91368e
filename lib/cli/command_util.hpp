// Helpers shared by the commands: provenance of result files, reading and checking arrays,
// and converting between the files' (batch, time, ...) layout and the library's columns.
#pragma once
#include "cli.hpp"

#include <stackdyn/core/h5.hpp>
#include <stackdyn/model/model.hpp>
#include <stackdyn/core/provenance.hpp>

#include <ostream>
#include <string>

namespace stackdyn::cli {

/// Provenance of a result file made by the running command from `model_path`.
Provenance make_provenance(const Context& ctx, const std::string& model_path, const std::string& config_toml = "",
                           long long seed = -1);

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

/// A progress bar on stderr, `label [####    ] 40%`, redrawn when the percentage changes.
class ProgressBar {
 public:
  ProgressBar(std::ostream& err, bool quiet, std::string label) : err_(err), quiet_(quiet), label_(std::move(label)) {}
  ~ProgressBar() { done(); }
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;
  void operator()(double fraction);
  /// Ends the bar's line (if one was drawn).
  void done();

 private:
  std::ostream& err_;
  bool quiet_;
  std::string label_;
  int shown_ = -1;
};

}  // namespace stackdyn::cli
