// Helpers shared by the commands (see command_util.hpp).
#include "command_util.hpp"

#include <stackdyn/core/error.hpp>

#include <algorithm>
#include <cmath>
#include <sstream>

namespace stackdyn::cli {

Provenance make_provenance(const Context& ctx, const std::string& model_path, const std::string& config_toml,
                           long long seed) {
  Provenance p;
  p.command_line = ctx.command_line;
  p.config_toml = config_toml;
  p.seed = seed;
  p.model_path = model_path;
  if (!model_path.empty()) p.model_hash = file_hash(model_path);
  return p;
}

void check_finite(const h5::Array& a, const std::string& file, const std::string& dataset) {
  for (std::size_t i = 0; i < a.data.size(); ++i) {
    if (std::isfinite(a.data[i])) continue;
    // C-order multi-index of element i
    std::vector<std::size_t> idx(a.shape.size());
    std::size_t rest = i;
    for (std::size_t k = a.shape.size(); k-- > 0;) {
      idx[k] = rest % a.shape[k];
      rest /= a.shape[k];
    }
    throw InputError(file + ": dataset '" + dataset + "' holds " + (std::isnan(a.data[i]) ? "NaN" : "Inf") +
                     " at " + h5::shape_string(idx) + "; expected finite values");
  }
}

h5::Array read_checked(const h5::Group& g, const std::string& dataset, const std::vector<long long>& expected,
                       const std::vector<std::string>& labels) {
  const h5::Shape shape = g.shape(dataset);
  bool ok = shape.size() == expected.size();
  for (std::size_t k = 0; ok && k < shape.size(); ++k)
    ok = expected[k] < 0 || static_cast<long long>(shape[k]) == expected[k];
  if (!ok) {
    std::ostringstream want;
    want << "(";
    for (std::size_t k = 0; k < labels.size(); ++k) {
      want << (k ? ", " : "") << labels[k];
      if (expected[k] >= 0) want << " = " << expected[k];
    }
    want << ")";
    throw InputError(g.file_name() + ": dataset '" + dataset + "' has shape " + h5::shape_string(shape) +
                     ", expected " + want.str());
  }
  h5::Array a = g.read(dataset);
  check_finite(a, g.file_name(), dataset);
  return a;
}

Eigen::MatrixXd to_columns(const h5::Array& a) {
  const std::size_t B = a.shape[0], T = a.shape[1], K = a.shape[2];
  Eigen::MatrixXd m(K, static_cast<Eigen::Index>(T * B));
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t t = 0; t < T; ++t)
      m.col(static_cast<Eigen::Index>(t * B + b)) =
          Eigen::Map<const Eigen::VectorXd>(a.data.data() + (b * T + t) * K, static_cast<Eigen::Index>(K));
  return m;
}

std::vector<double> from_columns(const Eigen::MatrixXd& m, std::size_t B, std::size_t T) {
  const std::size_t K = static_cast<std::size_t>(m.rows());
  std::vector<double> out(B * T * K);
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t t = 0; t < T; ++t)
      Eigen::Map<Eigen::VectorXd>(out.data() + (b * T + t) * K, static_cast<Eigen::Index>(K)) =
          m.col(static_cast<Eigen::Index>(t * B + b));
  return out;
}

void ProgressBar::operator()(double fraction) {
  const int pct = static_cast<int>(100 * std::clamp(fraction, 0.0, 1.0));
  if (quiet_ || pct == shown_) return;
  shown_ = pct;
  err_ << "\r" << label_ << " [" << std::string(static_cast<std::size_t>(pct / 5), '#')
       << std::string(static_cast<std::size_t>(20 - pct / 5), ' ') << "] " << pct << "%" << std::flush;
}

void ProgressBar::done() {
  if (!quiet_ && shown_ >= 0) err_ << "\n";
  shown_ = -1;
}

}  // namespace stackdyn::cli
