// `stackdyn train CONFIG.toml -o RUN.h5`: trains a stack by backpropagation through time with
// torch's SGD or Adam, records how it got there (history, checkpoints with probe-state
// trajectories) and the final model (docs/training.md).
#include "command.hpp"
#include "command_util.hpp"

#include <stackdyn/analysis/fixed_point_analysis.hpp>
#include <stackdyn/analysis/fixed_point_file.hpp>
#include <stackdyn/core/config.hpp>
#include <stackdyn/core/error.hpp>
#include <stackdyn/core/format.hpp>
#include <stackdyn/core/random.hpp>
#include <stackdyn/model/init.hpp>
#include <stackdyn/model/model_io.hpp>
#include <stackdyn/training/bptt.hpp>
#include <stackdyn/training/data.hpp>
#include <stackdyn/training/objective.hpp>
#include <stackdyn/training/optimizer.hpp>
#include <stackdyn/training/parameters.hpp>
#include <stackdyn/training/tasks.hpp>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <map>
#include <iostream>
#include <numeric>
#include <optional>
#include <ostream>
#include <unistd.h>

namespace stackdyn::cli {
namespace {

volatile std::sig_atomic_t g_signal = 0;
extern "C" void on_signal(int sig) { g_signal = sig; }

// Installs the SIGINT/SIGTERM handlers for the run and restores the previous ones.
struct SignalGuard {
  using Handler = void (*)(int);
  Handler old_int, old_term;
  SignalGuard() {
    g_signal = 0;
    old_int = std::signal(SIGINT, on_signal);
    old_term = std::signal(SIGTERM, on_signal);
  }
  ~SignalGuard() {
    std::signal(SIGINT, old_int);
    std::signal(SIGTERM, old_term);
  }
  SignalGuard(const SignalGuard&) = delete;
  SignalGuard& operator=(const SignalGuard&) = delete;
};

const std::vector<std::string>& train_keys() {
  static const std::vector<std::string> keys = [] {
    std::vector<std::string> k = {"model.file", "model.readout", "data.file", "data.task", "data.samples",
                                  "data.valid_samples", "data.steps", "data.bits", "data.p", "data.period_min",
                                  "data.period_max", "data.period_slow", "data.period_fast", "data.symbols", "data.length", "data.delay", "data.seed",
                                  "data.digits_file", "data.permutation_seed",
                                  "train.loss", "train.optimizer", "train.lr", "train.momentum", "train.betas",
                                  "train.eps", "train.weight_decay", "train.clip_grad_norm", "train.batch_size",
                                  "train.steps", "train.shuffle", "train.seed", "train.checkpoint_every",
                                  "train.lr_schedule", "train.lr_step_size", "train.lr_gamma", "train.lr_min",
                                  "train.truncate", "train.dropout", "train.probe_batch", "train.valid_every",
                                  "train.fixed_points_every", "train.fixed_points_starts", "train.aux_layers",
                                  "train.aux_lambda", "train.gate_penalty", "train.fix_gate",
                                  "train.predictive_coding", "train.pc_lambda"};
    for (const auto& m : model_config_keys()) k.push_back("model." + m);
    return k;
  }();
  return keys;
}

// The inline architecture under [model] as a configuration of its own (stackdyn init's schema).
Config inline_model_config(const Config& cfg) {
  Config mc = Config::from_string("", cfg.name() + " [model]");
  for (const auto& key : model_config_keys()) {
    // model.readout is the training's own key (it also adds a readout to a model file's model)
    if (key.rfind("layers.*.", 0) == 0 || key == "readout") continue;
    if (auto v = cfg.value_text("model." + key)) mc.set(key, *v);
  }
  const std::size_t n = cfg.array_size("model.layers");
  for (std::size_t i = 0; i < n; ++i)
    for (const auto& key : model_config_keys()) {
      if (key.rfind("layers.*.", 0) != 0) continue;
      const std::string leaf = key.substr(9), k = "layers[" + std::to_string(i) + "]." + leaf;
      if (auto v = cfg.value_text("model." + k)) mc.set(k, *v);
    }
  return mc;
}

struct Setup {
  Model model;
  std::string model_path;  // empty for an inline model
  SequenceData train, valid;
  bool has_valid = false;
  OptimizerOptions opt;
  LrOptions lr;
  double clip = 0;
  int batch = 32, truncate = 0, probe_batch = 4, valid_every = 1;
  long long steps = 100, checkpoint_every = 0;
  long long fixed_points_every = 0;  // fixed points of the checkpoints at multiples of this step
  int fixed_points_starts = 256;
  bool shuffle = true;
  std::uint64_t seed = 0;
  std::vector<double> dropout;  // per gap
  ObjectiveOptions objective;
  FixedGate fix_gate = FixedGate::None;
};

// The file a run's data come from (data.file, or the digits tasks' images) and the hash of its
// bytes; both empty for a task generated from its seed alone.
std::pair<std::string, std::string> training_data_hash(const Config& cfg) {
  std::string path;
  if (cfg.has("data.file")) {
    path = cfg.get_string("data.file");
  } else {
    const std::string task = cfg.get_string("data.task", "");
    if (task == "digits" || task == "permuted_digits") path = digits_data(cfg.get_string("data.digits_file", "")).path;
  }
  return {path, path.empty() ? std::string() : file_hash(path)};
}

Setup read_setup(const Config& cfg, std::ostream& err) {
  cfg.check_keys(train_keys());
  Setup s;
  s.seed = static_cast<std::uint64_t>(cfg.get_int("train.seed", 0, Range::non_negative()));
  // --- model
  if (cfg.has("model.file")) {
    for (const auto& key : model_config_keys())
      if (key != "readout" && cfg.has("model." + key.substr(0, key.find('.'))))
        throw cfg.error("model." + key.substr(0, key.find('.')), "an inline architecture and model.file exclude each other");
    s.model_path = cfg.get_string("model.file");  // relative to the configuration: resolved by the dispatcher
    s.model = read_model_spec(s.model_path);
  } else if (cfg.has("model.layers")) {
    s.model = model_from_config(inline_model_config(cfg));
  } else {
    throw cfg.error("model", "missing: give model.file = \"M.h5\" or an inline architecture (input_size, [[model.layers]])");
  }
  if (cfg.has("model.readout")) {
    const long long O = cfg.get_int("model.readout", Range::positive());
    if (s.model.has_readout())
      throw cfg.error("model.readout", "the model already has a readout (" + std::to_string(s.model.readout_weight.rows()) + " outputs)");
    Rng rng(s.seed ^ 0x5eed0fead0u);
    linear_init(s.model.readout_weight, s.model.readout_bias, static_cast<int>(O), s.model.output_size(), rng);
  }
  // --- data
  std::optional<LossKind> loss;
  if (cfg.has("train.loss")) loss = parse_loss(cfg.get_string("train.loss"), cfg.name() + ": key 'train.loss'");
  if (cfg.has("data.file") == cfg.has("data.task"))
    throw cfg.error("data", "give exactly one of data.file = \"D.h5\" and data.task = \"<name>\"");
  // A key of another task (data.bits in a multiscale configuration) is refused like an unknown one.
  {
    static const std::map<std::string, std::vector<std::string>> task_keys = {
        {"flipflop", {"bits", "p"}},
        {"sine", {"period_min", "period_max"}},
        {"multiscale", {"period_slow", "period_fast"}},
        {"adding", {}},
        {"copy", {"symbols", "length", "delay"}},
        {"digits", {"digits_file"}},
        {"permuted_digits", {"digits_file", "permutation_seed"}}};
    const std::string task = cfg.get_string("data.task", "");
    const auto own = task_keys.find(task);
    if (cfg.has("data.file") != cfg.has("data.task") && (own != task_keys.end() || cfg.has("data.file"))) {
      std::vector<std::string> allowed = {"file"};
      if (!cfg.has("data.file")) {
        allowed = {"task", "samples", "valid_samples", "steps", "seed"};
        allowed.insert(allowed.end(), own->second.begin(), own->second.end());
      }
      for (const auto& [key, value] : cfg.entries("data"))
        if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
          std::string list;
          for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
          throw cfg.error("data." + key, cfg.has("data.file")
                                             ? "applies to the built-in tasks, not to data.file (expected only: file)"
                                             : "does not apply to task " + task + " (its keys: " + list + ")");
        }
    }
  }
  if (cfg.has("data.file")) {
    const std::string path = cfg.get_string("data.file");
    const h5::File f = h5::File::open(path);
    s.train = read_sequence_data(f, s.model, loss);
    if (f.has("valid_inputs")) {
      s.valid = read_sequence_data(f, s.model, s.train.y.kind, "valid_");
      s.has_valid = true;
    }
  } else {
    TaskOptions t;
    t.name = cfg.get_string("data.task");
    try {
      (void)task_input_size(t);
    } catch (const InputError& e) {
      throw cfg.error("data.task", e.what());
    }
    t.samples = static_cast<int>(cfg.get_int("data.samples", 256, Range::closed(1, 1e7)));
    t.steps = static_cast<int>(cfg.get_int("data.steps", 64, Range::closed(2, 1e6)));
    t.bits = static_cast<int>(cfg.get_int("data.bits", 3, Range::closed(1, 1024)));
    t.p = cfg.get_double("data.p", 0.05, Range::closed(0, 1));
    t.period_min = cfg.get_double("data.period_min", 10, Range::positive());
    t.period_max = cfg.get_double("data.period_max", 40, Range::at_least(t.period_min));
    t.period_slow = cfg.get_double("data.period_slow", 50, Range::positive());
    t.period_fast = cfg.get_double("data.period_fast", 5, Range::positive());
    t.symbols = static_cast<int>(cfg.get_int("data.symbols", 4, Range::closed(1, 1024)));
    t.length = static_cast<int>(cfg.get_int("data.length", 5, Range::closed(1, 1e5)));
    t.delay = static_cast<int>(cfg.get_int("data.delay", 10, Range::closed(0, 1e5)));
    t.seed = static_cast<std::uint64_t>(cfg.get_int("data.seed", 1, Range::non_negative()));
    t.digits_file = cfg.get_string("data.digits_file", "");
    t.permutation_seed = static_cast<std::uint64_t>(cfg.get_int("data.permutation_seed", 0, Range::non_negative()));
    if (loss && *loss != task_loss(t))
      throw cfg.error("train.loss", "task " + t.name + " needs the loss " + std::string(loss_name(task_loss(t))));
    if (s.model.input_size != task_input_size(t))
      throw cfg.error("data.task", "task " + t.name + " has " + std::to_string(task_input_size(t)) +
                                       " inputs, but the model reads " + std::to_string(s.model.input_size));
    if (s.model.prediction_size() != task_output_size(t))
      throw cfg.error("data.task", "task " + t.name + " needs " + std::to_string(task_output_size(t)) +
                                       " outputs, but the model predicts " + std::to_string(s.model.prediction_size()) +
                                       " (set model.readout = " + std::to_string(task_output_size(t)) + ")");
    const long long nv = cfg.get_int("data.valid_samples", 0, Range::closed(0, 1e7));
    const bool digits = t.name == "digits" || t.name == "permuted_digits";
    if (digits) {
      // training and validation split one fixed set of images: together at most all of them
      const long long n = static_cast<long long>(digits_data(t.digits_file).labels.size());
      if (t.samples + nv > n)
        throw cfg.error("data.samples", std::to_string(t.samples) + " training and " + std::to_string(nv) +
                                            " validation samples, but the digits data set has " + std::to_string(n) +
                                            " images; expected samples + valid_samples <= " + std::to_string(n));
    }
    s.train = make_task(t);
    if (nv > 0) {
      TaskOptions v = t;
      v.samples = static_cast<int>(nv);
      if (digits)
        v.validation = true;  // the last images of the same permutation
      else
        v.seed = t.seed + 0x9e3779b97f4a7c15ull;
      s.valid = make_task(v);
      s.has_valid = true;
    }
  }
  // --- optimiser and schedule
  const std::string opt = cfg.get_string("train.optimizer", "adam");
  if (opt != "sgd" && opt != "adam") throw cfg.error("train.optimizer", "expected \"sgd\" or \"adam\", got \"" + opt + "\"");
  s.opt.kind = opt == "sgd" ? OptimizerKind::Sgd : OptimizerKind::Adam;
  s.lr.lr = cfg.get_double("train.lr", 1e-3, Range::positive());
  if (!std::isfinite(s.lr.lr)) throw cfg.error("train.lr", "expected a finite positive number");
  s.opt.weight_decay = cfg.get_double("train.weight_decay", 0.0, Range::non_negative());
  const auto warn = [&](const std::string& key) {
    if (cfg.has(key)) err << "stackdyn: warning: key '" << key << "' does not apply to the optimizer " << opt << "; ignored\n";
  };
  if (s.opt.kind == OptimizerKind::Sgd) {
    s.opt.momentum = cfg.get_double("train.momentum", 0.0, Range::closed(0, 1));
    warn("train.betas");
    warn("train.eps");
  } else {
    const auto betas = cfg.get_double_list("train.betas", {0.9, 0.999}, Range::half_open(0, 1));
    if (betas.size() != 2) throw cfg.error("train.betas", "expected two numbers [beta1, beta2]");
    s.opt.beta1 = betas[0];
    s.opt.beta2 = betas[1];
    s.opt.eps = cfg.get_double("train.eps", 1e-8, Range::non_negative());
    warn("train.momentum");
  }
  s.clip = cfg.get_double("train.clip_grad_norm", 0.0, Range::non_negative());
  s.batch = static_cast<int>(cfg.get_int("train.batch_size", std::min(32, s.train.N), Range::positive()));
  if (s.batch > s.train.N)
    throw cfg.error("train.batch_size", "is " + std::to_string(s.batch) + ", but the data set has " +
                                            std::to_string(s.train.N) + " samples");
  s.steps = cfg.get_int("train.steps", 100, Range::positive());
  s.shuffle = cfg.get_bool("train.shuffle", true);
  s.checkpoint_every = cfg.get_int("train.checkpoint_every", 0, Range::non_negative());
  s.fixed_points_every = cfg.get_int("train.fixed_points_every", 0, Range::non_negative());
  s.fixed_points_starts = static_cast<int>(cfg.get_int("train.fixed_points_starts", 256, Range::closed(1, 1e6)));
  if (s.fixed_points_every > 0) {
    if (s.checkpoint_every == 0 || s.fixed_points_every % s.checkpoint_every != 0)
      throw cfg.error("train.fixed_points_every", std::to_string(s.fixed_points_every) +
                                                     " steps, but checkpoints come every " +
                                                     std::to_string(s.checkpoint_every) +
                                                     "; expected a multiple of train.checkpoint_every (> 0)");
    if (s.model.bidirectional)
      throw cfg.error("train.fixed_points_every", "the model is bidirectional; fixed points need a causal model");
  }
  s.truncate = static_cast<int>(cfg.get_int("train.truncate", 0, Range::non_negative()));
  s.probe_batch = static_cast<int>(cfg.get_int("train.probe_batch", 4, Range::non_negative()));
  s.valid_every = static_cast<int>(cfg.get_int("train.valid_every", 1, Range::positive()));
  const std::string sched = cfg.get_string("train.lr_schedule", "constant");
  if (sched == "constant") s.lr.schedule = LrSchedule::Constant;
  else if (sched == "step") s.lr.schedule = LrSchedule::Step;
  else if (sched == "cosine") s.lr.schedule = LrSchedule::Cosine;
  else throw cfg.error("train.lr_schedule", "expected \"constant\", \"step\" or \"cosine\", got \"" + sched + "\"");
  s.lr.step_size = static_cast<int>(cfg.get_int("train.lr_step_size", 100, Range::positive()));
  s.lr.gamma = cfg.get_double("train.lr_gamma", 0.1, Range::positive());
  s.lr.lr_min = cfg.get_double("train.lr_min", 0.0, Range::non_negative());
  s.lr.steps = s.steps;
  const int gaps = s.model.num_layers() - 1;
  s.dropout = cfg.get_double_list("train.dropout", {}, Range::half_open(0, 1));
  if (s.dropout.size() == 1 && gaps != 1) s.dropout.assign(static_cast<std::size_t>(std::max(gaps, 0)), s.dropout[0]);
  if (!s.dropout.empty() && s.dropout.size() != static_cast<std::size_t>(gaps))
    throw cfg.error("train.dropout", "has " + std::to_string(s.dropout.size()) + " rates, expected one per gap between layers (" +
                                         std::to_string(gaps) + ") or one for all");
  if (s.dropout.empty() && s.model.dropout > 0 && gaps > 0) s.dropout.assign(static_cast<std::size_t>(gaps), s.model.dropout);
  bool any = false;
  for (double r : s.dropout) any = any || r > 0;
  if (!any) s.dropout.clear();
  // --- objectives beside the top-level loss
  ObjectiveOptions& ob = s.objective;
  for (double l : cfg.get_double_list("train.aux_layers", {}, Range::closed(0, 1e6))) {
    if (l != std::floor(l)) throw cfg.error("train.aux_layers", "expected 0-based layer numbers (integers)");
    ob.aux_layers.push_back(static_cast<int>(l));
  }
  ob.aux_lambda = cfg.get_double("train.aux_lambda", 1.0, Range::non_negative());
  if (cfg.has("train.aux_lambda") && ob.aux_layers.empty())
    throw cfg.error("train.aux_lambda", "weights the auxiliary readouts, but train.aux_layers names none");
  ob.gate_penalty = cfg.get_double("train.gate_penalty", 0.0, Range::non_negative());
  const std::string fix = cfg.get_string("train.fix_gate", "none");
  if (fix == "none") s.fix_gate = FixedGate::None;
  else if (fix == "output") s.fix_gate = FixedGate::Output;
  else if (fix == "input") s.fix_gate = FixedGate::Input;
  else throw cfg.error("train.fix_gate", "expected \"none\", \"output\" or \"input\", got \"" + fix + "\"");
  const std::string pc = cfg.get_string("train.predictive_coding", "off");
  if (pc == "off") ob.pc = PredictiveCoding::Off;
  else if (pc == "local") ob.pc = PredictiveCoding::Local;
  else if (pc == "combined") ob.pc = PredictiveCoding::Combined;
  else throw cfg.error("train.predictive_coding", "expected \"off\", \"local\" or \"combined\", got \"" + pc + "\"");
  ob.pc_lambda = cfg.get_double("train.pc_lambda", 1.0, Range::non_negative());
  if (cfg.has("train.pc_lambda") && ob.pc == PredictiveCoding::Off)
    throw cfg.error("train.pc_lambda", "weights the prediction errors, but train.predictive_coding is off");
  fix_lstm_gates(s.model, s.fix_gate, cfg.name() + ": key 'train.fix_gate'");
  return s;
}

// Samples of step k: with shuffle, a fresh permutation per epoch, drawn from the seed and the
// epoch alone (so a resumed run draws the same batches).
class Batches {
 public:
  Batches(int N, int B, bool shuffle, std::uint64_t seed) : N_(N), B_(B), shuffle_(shuffle), seed_(seed) {}
  void indices(long long k, std::vector<int>& idx) {
    idx.resize(static_cast<std::size_t>(B_));
    for (int j = 0; j < B_; ++j) {
      const long long p = k * B_ + j;
      const long long epoch = p / N_;
      const int i = static_cast<int>(p % N_);
      if (!shuffle_) {
        idx[static_cast<std::size_t>(j)] = i;
        continue;
      }
      if (epoch != epoch_) make_perm(epoch);
      idx[static_cast<std::size_t>(j)] = perm_[static_cast<std::size_t>(i)];
    }
  }

 private:
  void make_perm(long long epoch) {
    perm_.resize(static_cast<std::size_t>(N_));
    std::iota(perm_.begin(), perm_.end(), 0);
    Rng rng(seed_ * 0x100000001b3ull + static_cast<std::uint64_t>(epoch) + 1);
    for (int i = N_ - 1; i > 0; --i)
      std::swap(perm_[static_cast<std::size_t>(i)], perm_[static_cast<std::size_t>(rng.below(static_cast<std::uint64_t>(i) + 1))]);
    epoch_ = epoch;
  }
  int N_, B_;
  bool shuffle_;
  std::uint64_t seed_;
  long long epoch_ = -1;
  std::vector<int> perm_;
};

// Buffered history, appended to the file at each checkpoint (so that the file's history
// always ends where its last checkpoint is).
struct History {
  std::vector<double> loss, valid_loss, accuracy, lr, grad_norm, layer_norms;
  std::vector<double> total_loss, aux_loss, gate_penalty, prediction_error;  // auxiliary objectives
  void clear() {
    loss.clear(); valid_loss.clear(); accuracy.clear(); lr.clear(); grad_norm.clear(); layer_norms.clear();
    total_loss.clear(); aux_loss.clear(); gate_penalty.clear(); prediction_error.clear();
  }
};

class RunFile {
 public:
  // The history's datasets of the run `s` (created, or opened to continue).
  RunFile(h5::File f, const Setup& s, bool objective) : f_(std::move(f)), L_(static_cast<std::size_t>(s.model.num_layers())) {
    const bool with_valid = s.has_valid, with_accuracy = s.train.y.kind == LossKind::CrossEntropy;
    const ObjectiveOptions& ob = s.objective;
    h5::Group h = f_.has("history") ? f_.group("history") : f_.create_group("history");
    loss_.emplace(h, "loss", h5::Shape{0}, 0);
    lr_.emplace(h, "lr", h5::Shape{0}, 0);
    gn_.emplace(h, "grad_norm", h5::Shape{0}, 0);
    gl_.emplace(h, "grad_norm_layers", h5::Shape{0, L_, 2}, 0);
    if (with_valid) valid_.emplace(h, "valid_loss", h5::Shape{0}, 0);
    if (with_accuracy) acc_.emplace(h, "accuracy", h5::Shape{0}, 0);
    if (objective) total_.emplace(h, "total_loss", h5::Shape{0}, 0);
    if (!ob.aux_layers.empty()) aux_.emplace(h, "aux_loss", h5::Shape{0, ob.aux_layers.size()}, 0);
    if (ob.gate_penalty > 0) gate_.emplace(h, "gate_penalty", h5::Shape{0}, 0);
    if (ob.pc != PredictiveCoding::Off) pc_.emplace(h, "prediction_error", h5::Shape{0, L_}, 0);
  }
  h5::File& file() { return f_; }
  /// Closes the datasets, then the file.
  void close() {
    loss_.reset(); lr_.reset(); gn_.reset(); gl_.reset(); valid_.reset(); acc_.reset();
    total_.reset(); aux_.reset(); gate_.reset(); pc_.reset();
    f_.close();
  }
  long long length() const { return static_cast<long long>(loss_->length()); }
  void append(History& h) {
    const std::size_t n = h.loss.size();
    if (n == 0) return;
    loss_->append(h.loss.data(), n);
    lr_->append(h.lr.data(), n);
    gn_->append(h.grad_norm.data(), n);
    gl_->append(h.layer_norms.data(), n);
    if (valid_) valid_->append(h.valid_loss.data(), n);
    if (acc_) acc_->append(h.accuracy.data(), n);
    if (total_) total_->append(h.total_loss.data(), n);
    if (aux_) aux_->append(h.aux_loss.data(), n);
    if (gate_) gate_->append(h.gate_penalty.data(), n);
    if (pc_) pc_->append(h.prediction_error.data(), n);
    h.clear();
  }

 private:
  h5::File f_;
  std::size_t L_;
  std::optional<h5::Appender> loss_, lr_, gn_, gl_, valid_, acc_, total_, aux_, gate_, pc_;
};

// Probe-state trajectories of the model at a checkpoint (eval mode), unidirectional only.
void write_probe(h5::Group& g, const Model& m, const SequenceData& probe) {
  if (m.bidirectional || probe.N == 0) return;
  Bptt b(m);
  b.forward(probe.X, probe.N, probe.T, probe.init);
  const auto buf = from_columns(b.states(), static_cast<std::size_t>(probe.N), static_cast<std::size_t>(probe.T));
  g.write("states", {static_cast<std::size_t>(probe.N), static_cast<std::size_t>(probe.T), static_cast<std::size_t>(m.state_dim())},
          buf.data());
  g.set_dim_labels("states", {"batch", "time", "state"});
}

// The fixed points of the model at a checkpoint (discrete map, zero input), by the
// fixed-points command's finder with its defaults: attractors appearing during training.
void write_checkpoint_fixed_points(h5::Group& g, const Model& m, const Setup& s) {
  FixedPointSearch search;
  search.n_init = s.fixed_points_starts;
  search.seed = s.seed;
  const VectorXd x = VectorXd::Zero(m.input_size);
  const FixedPointReport rep = analyse_fixed_points(m, x, search);
  h5::Group fg = g.create_group("fixed_point_search");
  write_fixed_point_report(fg, m, x, search, rep);
}

// The parameters trained beside the model (auxiliary readouts, predictors), if any.
void write_extra_parameters(h5::Group& parent, Objective& obj) {
  if (!obj.active() || obj.parameters().empty()) return;
  h5::Group e = parent.create_group("extra_parameters");
  write_blocks(e, obj.parameters());
}

// The checkpoint's group complete first, then the history up to it, then last_checkpoint.
void write_checkpoint(RunFile& rf, long long step, const Model& model, OptimizerState& st, const SequenceData& probe,
                      History& hist, const Provenance& prov, const Setup& s, Objective& obj,
                      const std::vector<ParamBlock>& params) {
  h5::File& f = rf.file();
  const std::string name = "checkpoints/" + std::to_string(step);
  if (f.has(name)) f.remove(name);
  h5::Group g = f.create_group(name);
  write_model(model, g, prov);
  write_probe(g, model, probe);
  if (s.fixed_points_every > 0 && step % s.fixed_points_every == 0) write_checkpoint_fixed_points(g, model, s);
  h5::Group o = g.create_group("optimizer");
  o.set_attr("step", st.step);
  write_extra_parameters(g, obj);
  h5::Group m1 = o.create_group("m1");
  write_blocks(m1, blocks_over(params, st.m1));
  if (!st.m2.empty()) {
    h5::Group m2 = o.create_group("m2");
    write_blocks(m2, blocks_over(params, st.m2));
  }
  rf.append(hist);
  f.set_attr("last_checkpoint", step);
}

// Every change to RUN.h5.partial is made to a copy, RUN.h5.partial.tmp, renamed over it when
// complete: a process killed at any moment (SIGKILL included, inside a checkpoint's write)
// leaves RUN.h5.partial as it was after its last complete checkpoint (docs/training.md).
template <class Body>
void update_run_file(const std::string& partial, const Setup& s, const Objective& obj, Body&& body) {
  namespace fs = std::filesystem;
  const std::string tmp = partial + ".tmp";
  fs::copy_file(partial, tmp, fs::copy_options::overwrite_existing);
  try {
    RunFile rf(h5::File::open_rw(tmp), s, obj.active());
    body(rf);
    rf.close();
  } catch (...) {
    std::error_code ec;
    fs::remove(tmp, ec);  // RUN.h5.partial is as it was
    throw;
  }
  fs::rename(tmp, partial);
}

// The first parameter block whose values are not finite: in backward order (readout, then
// the top layer down) for gradients, in the file's order for parameters.
std::string first_nonfinite(const std::vector<ParamBlock>& blocks, bool backward) {
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    const ParamBlock& b = blocks[backward ? blocks.size() - 1 - i : i];
    if (!b.map().allFinite()) return b.name;
  }
  return "";
}

int run_train(Invocation& inv) {
  Context& ctx = inv.ctx;
  const Config& cfg = inv.config;
  const std::string config_path = inv.arg("config");
  const std::string resume = inv.flags.count("--resume") ? inv.flags.at("--resume") : "";
  long long interrupt_at = -1;  // testing: raise SIGTERM before this step
  if (inv.flags.count("--interrupt-at")) {
    const std::string& t = inv.flags.at("--interrupt-at");
    const auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), interrupt_at);
    if (t.empty() || ec != std::errc() || ptr != t.data() + t.size())
      throw InputError("--interrupt-at: expected an integer, got '" + t + "'");
  }
  std::string output = inv.output;
  if (!resume.empty()) {
    if (!output.empty() && output != resume)
      throw InputError("--resume " + resume + " and -o " + output + " name different files; give one");
    output = resume;
    // The dispatcher checked the inputs against -o only; the run file is the output too.
    inv.output = output;
    inv.check_input(config_path, "CONFIG");
    if (cfg.has("model.file")) inv.check_input(model_spec_file(cfg.get_string("model.file")), "model.file");
    if (cfg.has("data.file")) inv.check_input(cfg.get_string("data.file"), "data.file");
  }
  if (output.empty()) throw InputError("no output: give -o RUN.h5 (or --resume RUN.h5)");
  if (resume.empty() && !inv.force)
    if (const auto done = h5::training_run_info(output); done && done->complete)
      throw InputError(output + " holds a complete training run (" + std::to_string(done->steps) +
                       " steps trained); give --force to replace it, or choose another -o");
  Setup s = read_setup(cfg, ctx.err);
  const std::string config_text = cfg.to_toml();
  // What the run learns from, by content: a resume must see the same bytes.
  const auto [data_path, data_hash] = training_data_hash(cfg);
  const std::string partial = output + ".partial";
  Provenance prov = make_provenance(ctx, s.model_path, config_text, static_cast<long long>(s.seed));

  // The parameters trained beside the model, drawn after the model's own (readout included).
  Rng objective_rng(s.seed ^ 0x0b1ec71fe5u);
  Objective obj(s.model, s.objective, s.model.prediction_size(), objective_rng, cfg.name());
  // Model and extra parameters: one list for the optimiser, clipping and files.
  const auto all_params = [&] {
    auto p = parameter_blocks(s.model);
    for (const auto& b : obj.parameters()) p.push_back(b);
    return p;
  };
  std::vector<ParamBlock> params = all_params();
  OptimizerState st = make_optimizer_state(params, s.opt);
  long long start = 0, last_checkpoint = -1;
  // The last checkpoint whose parameters gave a finite loss (a checkpoint at step k holds the
  // parameters of step k, whose loss is known one step later).
  long long good_checkpoint = -1;
  namespace fs = std::filesystem;
  if (!resume.empty()) {
    if (!fs::exists(partial)) {
      if (fs::exists(output))
        throw InputError(output + ": the run is complete; nothing to resume");
      throw InputError(partial + " does not exist: nothing to resume for " + output);
    }
    h5::File f = h5::File::open(partial);
    const Provenance old = read_provenance(f);
    if (old.config_toml != config_text)
      throw InputError(partial + " was written from a different configuration than " + config_path + " (" +
                       differing_keys(Config::from_string(old.config_toml, partial), cfg, "in the run") +
                       "); resume with the configuration of that run");
    if (old.model_hash != prov.model_hash)
      throw InputError(partial + " was trained from a different model file than " + s.model_path);
    if (f.has_attr("data_hash") && f.attr_string("data_hash") != data_hash)
      throw InputError(partial + " was trained on other data: " + data_path + " has changed since the run began (hash " +
                       data_hash + ", the run recorded " + f.attr_string("data_hash") +
                       "); restore that data, or start a new run without --resume");
    if (!f.has_attr("last_checkpoint"))
      throw InputError(partial + ": root attribute 'last_checkpoint' is missing; expected a run file of stackdyn train");
    if (f.has_attr("complete") && f.attr_int("complete") != 0) {  // stopped between its last two renames
      f = h5::File();
      fs::rename(partial, output);
      ctx.out << output << ": the run was already complete; " << partial << " renamed to " << output << "\n";
      return 0;
    }
    // No checkpoint yet (stopped before the first one): the run starts again from step 0.
    last_checkpoint = f.attr_int("last_checkpoint");
    start = std::max(last_checkpoint, 0LL);
    const long long length = f.has("history/loss") ? static_cast<long long>(f.shape("history/loss").at(0)) : 0;
    if (length != start)
      throw InputError(partial + ": history holds " + std::to_string(length) + " steps but the last checkpoint is at step " +
                       std::to_string(start));
    if (last_checkpoint >= 0) {
      for (const auto& name : f.group("checkpoints").children()) {
        long long step = -1;
        if (std::from_chars(name.data(), name.data() + name.size(), step).ec == std::errc() && step < start)
          good_checkpoint = std::max(good_checkpoint, step);
      }
      const h5::Group g = f.group("checkpoints/" + std::to_string(start));
      s.model = read_model(g);
      params = all_params();
      if (obj.active() && !obj.parameters().empty()) read_blocks(g.group("extra_parameters"), obj.parameters());
      st = make_optimizer_state(params, s.opt);
      st.step = g.group("optimizer").attr_int("step");
      read_blocks(g.group("optimizer/m1"), blocks_over(params, st.m1));
      if (s.opt.kind == OptimizerKind::Adam) read_blocks(g.group("optimizer/m2"), blocks_over(params, st.m2));
    }
  } else {
    if (fs::exists(partial))
      throw InputError(partial + " exists (an interrupted run?): resume it with --resume " + output + " or remove it");
    // The header is written to RUN.h5.partial.tmp and published by an exclusive link: no
    // half-written RUN.h5.partial, and one that appeared meanwhile is not replaced.
    const std::string tmp = partial + ".tmp";
    {
      h5::File f = h5::File::create(tmp);
      write_provenance(f, prov);
      f.set_attr("format", run_format);
      f.set_attr("steps", s.steps);
      f.set_attr("last_checkpoint", -1LL);
      f.set_attr("data_path", data_path);
      f.set_attr("data_hash", data_hash);
      write_state_layout(f, s.model);
      RunFile rf(std::move(f), s, obj.active());
      rf.close();
    }
    std::error_code ec;
    fs::create_hard_link(tmp, partial, ec);
    if (ec == std::errc::file_exists)
      throw InputError(partial + " appeared while the run started (another train?): resume it with --resume " + output +
                       " or remove it");
    if (ec) fs::rename(tmp, partial);  // no hard links on this file system
    else fs::remove(tmp);
  }

  // The probe batch: the first samples of the validation set, or of the training set.
  SequenceData probe;
  const SequenceData& probe_src = s.has_valid ? s.valid : s.train;
  std::vector<int> idx(static_cast<std::size_t>(std::min(s.probe_batch, probe_src.N)));
  std::iota(idx.begin(), idx.end(), 0);
  gather(probe_src, idx, probe);

  SignalGuard guard;
  History hist;
  const auto checkpoint = [&](long long step) {
    update_run_file(partial, s, obj, [&](RunFile& rf) { write_checkpoint(rf, step, s.model, st, probe, hist, prov, s, obj, params); });
    last_checkpoint = step;
  };
  // Where a diverged run can go back to.
  const auto last_good = [&] {
    if (good_checkpoint >= 0)
      return "the last good parameters are checkpoint " + std::to_string(good_checkpoint) + " of " + partial;
    return last_checkpoint < 0 ? std::string("no checkpoint was written (train.checkpoint_every = 0)")
                               : "no checkpoint of " + partial + " has parameters with a finite loss";
  };
  if (start == 0 && s.checkpoint_every > 0) checkpoint(0);

  Bptt bptt(s.model), valid_bptt(s.model);
  Model grad = zeros_like(s.model);
  std::vector<ParamBlock> grad_blocks = parameter_blocks(grad);
  for (const auto& b : obj.gradients()) grad_blocks.push_back(b);
  BackwardExtras global_extras, local_extras;
  Batches batches(s.train.N, s.batch, s.shuffle, s.seed);
  SequenceData batch;
  MatrixXd gPred;
  std::vector<MatrixXd> masks;
  const int L = s.model.num_layers();
  const bool tty = &ctx.err == &std::cerr && isatty(STDERR_FILENO) && !ctx.quiet;
  const auto t0 = std::chrono::steady_clock::now();
  auto last_print = t0;
  double last_loss = NAN;
  for (long long k = start; k < s.steps; ++k) {
    if (k == interrupt_at) std::raise(SIGTERM);
    if (g_signal != 0) {
      const int sig = g_signal;
      checkpoint(k);
      ctx.err << "stackdyn: " << (sig == SIGINT ? "interrupted (SIGINT)" : "terminated (SIGTERM)") << " at step " << k
              << ": checkpoint written to " << partial << "; continue with --resume " << output << "\n";
      return 128 + sig;
    }
    batches.indices(k, idx);
    gather(s.train, idx, batch);
    if (!s.dropout.empty()) {
      // Masks drawn from the seed and the step alone (reproducible on resume).
      Rng rng(s.seed * 0x9e3779b97f4a7c15ull + static_cast<std::uint64_t>(k) * 0xbf58476d1ce4e5b9ull + 7);
      masks.resize(static_cast<std::size_t>(L - 1));
      for (int l = 0; l + 1 < L; ++l) {
        const double p = s.dropout[static_cast<std::size_t>(l)];
        MatrixXd& m = masks[static_cast<std::size_t>(l)];
        m.resize(s.model.stream_width(l + 1), batch.X.cols());
        for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = rng.uniform() < p ? 0.0 : 1.0 / (1.0 - p);
      }
    }
    bptt.forward(batch.X, batch.N, batch.T, batch.init, masks);
    const double loss = loss_and_gradient(batch.y, bptt.predictions(), batch.N, batch.T, &gPred);
    for (const auto& b : grad_blocks) b.map().setZero();
    Objective::Terms terms;
    terms.total = loss;
    if (obj.active()) {
      terms = obj.evaluate(bptt, batch.y, batch.N, batch.T, loss, global_extras, local_extras);
      obj.backward(bptt, gPred, grad, s.truncate, global_extras, local_extras);
    } else {
      bptt.backward(gPred, grad, s.truncate);
    }
    const std::string bad = first_nonfinite(grad_blocks, true);
    if (!std::isfinite(loss) || !std::isfinite(terms.total) || !bad.empty())
      throw RunError("training diverged at step " + std::to_string(k) + ": loss " + std::to_string(loss) +
                     (obj.active() ? ", objective " + std::to_string(terms.total) : "") +
                     (bad.empty() ? "" : ", first non-finite gradient in " + bad) + "; " + last_good());
    if (last_checkpoint == k) good_checkpoint = k;
    for (int l = 0; l < L; ++l) {
      const LayerSpec& g = grad.layers[static_cast<std::size_t>(l)];
      hist.layer_norms.push_back(std::hypot(g.fwd.w_ih.norm(), g.bwd.w_ih.norm()));
      hist.layer_norms.push_back(std::hypot(g.fwd.w_hh.norm(), g.bwd.w_hh.norm()));
    }
    const double gn = s.clip > 0 ? clip_gradient(grad_blocks, s.clip) : gradient_norm(grad_blocks);
    const double lr = learning_rate(s.lr, k);
    hist.loss.push_back(loss);
    if (obj.active()) {
      hist.total_loss.push_back(terms.total);
      hist.aux_loss.insert(hist.aux_loss.end(), terms.aux.begin(), terms.aux.end());
      if (s.objective.gate_penalty > 0) hist.gate_penalty.push_back(terms.gate);
      hist.prediction_error.insert(hist.prediction_error.end(), terms.pc.begin(), terms.pc.end());
    }
    hist.lr.push_back(lr);
    hist.grad_norm.push_back(gn);
    if (batch.y.kind == LossKind::CrossEntropy) hist.accuracy.push_back(accuracy(batch.y, bptt.predictions(), batch.N, batch.T));
    if (s.has_valid) {
      double v = NAN;
      if (k % s.valid_every == 0) {
        valid_bptt.forward(s.valid.X, s.valid.N, s.valid.T, s.valid.init);
        v = loss_and_gradient(s.valid.y, valid_bptt.predictions(), s.valid.N, s.valid.T, nullptr);
      }
      hist.valid_loss.push_back(v);
    }
    optimizer_step(params, grad_blocks, lr, s.opt, st);
    fix_lstm_gates(s.model, s.fix_gate, cfg.name());  // weight decay would move the pinned gates
    if (const std::string p = first_nonfinite(params, false); !p.empty())
      throw RunError("training diverged at step " + std::to_string(k) + ": the update made the parameters non-finite, first " +
                     p + "; " + last_good());
    last_loss = loss;
    if (s.checkpoint_every > 0 && (k + 1) % s.checkpoint_every == 0) checkpoint(k + 1);
    const auto now = std::chrono::steady_clock::now();
    if (tty && (now - last_print > std::chrono::milliseconds(250) || k + 1 == s.steps)) {
      const double sec = std::chrono::duration<double>(now - t0).count();
      const double rate = static_cast<double>(k + 1 - start) / std::max(sec, 1e-9);
      ctx.err << "\rstep " << k + 1 << "/" << s.steps << "  loss " << loss << "  " << rate << " steps/s  "
              << static_cast<long long>(static_cast<double>(s.steps - k - 1) / rate) << " s left   " << std::flush;
      last_print = now;
    }
  }
  if (tty) ctx.err << "\n";
  // Final state: the last checkpoint (with the optimiser) and the final model.
  update_run_file(partial, s, obj, [&](RunFile& rf) {
    if (last_checkpoint != s.steps) write_checkpoint(rf, s.steps, s.model, st, probe, hist, prov, s, obj, params);
    h5::Group fm = rf.file().create_group("final_model");
    write_model(s.model, fm, prov);
    write_extra_parameters(rf.file(), obj);
    rf.file().set_attr("complete", 1);
  });
  fs::rename(partial, output);
  const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ctx.out << output << ": trained " << s.steps - start << " steps in " << sec << " s; last loss " << format_number(last_loss)
          << "; final model in group /final_model\n";
  return 0;
}

const bool registered = register_command({
    .name = "train",
    .summary = "Train a stack by backpropagation through time (torch's SGD or Adam); history, checkpoints, final model",
    .positionals = {{"config", "Training configuration (TOML: [model], [data], [train]; docs/training.md)",
                     Positional::Kind::Config}},
    // Only the files are declared here (relative to the configuration, never the output);
    // the sections' keys are checked and read by the command's own reader.
    .options = {{"", "model.file", ValueKind::Path, "", "Model: a model file, a run file or FILE.h5:/group", ""},
                {"", "data.file", ValueKind::Path, "", "Data file (datasets as for stackdyn gradients)", ""},
                {"", "data.digits_file", ValueKind::Path, "", "The digits tasks' images (default: data/digits.h5)", ""},
                {"--resume", "", ValueKind::Path, "",
                 "Continue the interrupted run RUN.h5 (its RUN.h5.partial) from its last checkpoint; -o may be left out", ""},
                {"--interrupt-at", "", ValueKind::Integer, "", "Testing: raise SIGTERM before this step", ""}},
    .output_required = false,
    .set = true,
    .check_keys = false,
    .force = true,
    .force_help = "Replace a complete training run at -o (without it, train refuses)",
    .config_keys = [] { return train_keys(); },
    .footer = "RUN holds history/ (loss, lr, grad_norm, grad_norm_layers, valid_loss, accuracy), checkpoints/<step>/\n"
              "(the model-file layout, probe states, optimiser state) and final_model. Auxiliary objectives\n"
              "(train.aux_layers, gate_penalty, fix_gate, predictive_coding) add their terms to history/ and\n"
              "their parameters as extra_parameters/. SIGINT/SIGTERM writes a checkpoint and stops; --resume\n"
              "continues bitwise as if uninterrupted, also after SIGKILL. Written as RUN.h5.partial until\n"
              "complete; a complete RUN.h5 is replaced only with --force.",
    .run = run_train,
});

}  // namespace
}  // namespace stackdyn::cli
