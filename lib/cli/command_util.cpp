// Helpers shared by the commands (see command_util.hpp).
#include "command_util.hpp"

#include <stackdyn/core/error.hpp>
#include <stackdyn/core/format.hpp>
#include <stackdyn/model/model_io.hpp>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <sstream>

namespace stackdyn::cli {

namespace fs = std::filesystem;

Provenance make_provenance(const Context& ctx, const std::string& model_spec, const std::string& config_toml,
                           long long seed) {
  Provenance p;
  p.command_line = ctx.command_line;
  p.config_toml = config_toml;
  p.seed = seed;
  p.model_path = model_spec;
  if (!model_spec.empty()) p.model_hash = file_hash(model_spec_file(model_spec));
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

Eigen::MatrixXd read_states(const std::string& path, const Model& model, const std::string& dataset, int every) {
  if (every < 1) throw InputError("--every must be a positive integer, got " + std::to_string(every));
  const h5::File f = h5::File::open(path);
  const long long N = model.state_dim();
  if (f.shape(dataset).size() == 3) {
    // trajectories (batch, time, state_dim), as forward and simulate write them: every
    // `every`-th time of each trajectory, from its first
    const h5::Array a = read_checked(f, dataset, {-1, -1, N}, {"batch", "time", "state_dim"});
    const std::size_t B = a.shape[0], T = a.shape[1];
    const std::size_t per = T == 0 ? 0 : (T - 1) / static_cast<std::size_t>(every) + 1;
    if (B * per == 0) throw InputError(path + ": dataset '" + dataset + "' is empty; expected at least one state");
    Eigen::MatrixXd S(N, static_cast<Eigen::Index>(B * per));
    Eigen::Index col = 0;
    for (std::size_t b = 0; b < B; ++b)
      for (std::size_t t = 0; t < T; t += static_cast<std::size_t>(every))
        S.col(col++) = Eigen::Map<const Eigen::VectorXd>(a.data.data() + (b * T + t) * static_cast<std::size_t>(N), N);
    return S;
  }
  const h5::Array a = read_checked(f, dataset, {-1, N}, {"n", "state_dim"});
  if (a.shape[0] == 0) throw InputError(path + ": dataset '" + dataset + "' is empty; expected at least one state");
  if (every != 1) {
    const std::size_t n = (a.shape[0] - 1) / static_cast<std::size_t>(every) + 1;
    Eigen::MatrixXd S(N, static_cast<Eigen::Index>(n));
    for (std::size_t i = 0; i < n; ++i)
      S.col(static_cast<Eigen::Index>(i)) =
          Eigen::Map<const Eigen::VectorXd>(a.data.data() + i * static_cast<std::size_t>(every * N), N);
    return S;
  }
  return Eigen::Map<const Eigen::MatrixXd>(a.data.data(), N, static_cast<Eigen::Index>(a.shape[0]));
}

void require_causal(const Model& model, const std::string& path) {
  if (model.bidirectional)
    throw InputError(path + ": the model is bidirectional, a sequence model rather than a causal dynamical "
                            "system; fixed points need a unidirectional model");
}

namespace {

std::string gib(double bytes) { return format_number(std::round(bytes / (1024.0 * 1024 * 1024) * 10) / 10) + " GiB"; }

volatile std::sig_atomic_t stop_signal = 0;
extern "C" void on_stop_signal(int sig) { stop_signal = sig; }
struct sigaction previous_int, previous_term;

}  // namespace

void check_output_size(double bytes, const std::string& output, bool force) {
  std::error_code ec;
  fs::path dir = fs::path(output).parent_path();
  if (dir.empty()) dir = ".";
  const auto space = fs::space(dir, ec);
  if (!ec && bytes > static_cast<double>(space.available))
    throw InputError("-o " + output + ": the output would take about " + gib(bytes) + ", more than the " +
                     gib(static_cast<double>(space.available)) + " free on its disk; shorten the run or sample less often");
  if (!force && bytes > output_limit_bytes)
    throw InputError("-o " + output + ": the output would take about " + gib(bytes) + " (limit " + gib(output_limit_bytes) +
                     "); shorten the run, sample less often (dt_out), or give --force");
}

Progress::Progress(const Context& ctx, std::string label, double interval_seconds)
    : ctx_(ctx), label_(std::move(label)), interval_(interval_seconds),
      start_(std::chrono::steady_clock::now()), last_(start_) {}

Progress::~Progress() {
  if (!ctx_.quiet && ctx_.terminal && shown_ >= 0) ctx_.err << "\n";
}

void Progress::operator()(double fraction, const std::string& detail) {
  if (ctx_.quiet) return;
  const int pct = static_cast<int>(100 * std::clamp(fraction, 0.0, 1.0));
  if (ctx_.terminal) {
    if (pct == shown_) return;
    shown_ = pct;
    ctx_.err << "\r" << label_ << " [" << std::string(static_cast<std::size_t>(pct / 5), '#')
             << std::string(static_cast<std::size_t>(20 - pct / 5), ' ') << "] " << pct << "%" << std::flush;
    return;
  }
  const auto now = std::chrono::steady_clock::now();
  if (std::chrono::duration<double>(now - last_).count() < interval_) return;
  last_ = now;
  ctx_.err << label_ << ": " << pct << "%" << (detail.empty() ? "" : " (" + detail + ")") << ", "
           << static_cast<long long>(std::chrono::duration<double>(now - start_).count()) << " s\n" << std::flush;
}

StopSignal::StopSignal() {
  stop_signal = 0;
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &previous_int);
  sigaction(SIGTERM, &sa, &previous_term);
}

StopSignal::~StopSignal() {
  sigaction(SIGINT, &previous_int, nullptr);
  sigaction(SIGTERM, &previous_term, nullptr);
}

bool StopSignal::requested() const { return stop_signal != 0; }

std::string StopSignal::name() const {
  return stop_signal == SIGINT ? "SIGINT" : stop_signal == SIGTERM ? "SIGTERM" : "";
}

std::string differing_keys(const Config& then, const Config& now, const std::string& then_where) {
  const auto diff = then.differences(now);
  if (diff.empty()) return "the same keys and values, written differently";
  std::string out;
  const std::size_t shown = std::min<std::size_t>(diff.size(), 4);
  for (std::size_t i = 0; i < shown; ++i)
    out += (i ? "; " : "") + diff[i].key + " is " + diff[i].here + " " + then_where + ", " + diff[i].there + " now";
  if (diff.size() > shown) out += "; and " + std::to_string(diff.size() - shown) + " more keys";
  return out;
}

}  // namespace stackdyn::cli
