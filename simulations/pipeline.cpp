// `stackdyn pipeline [CONFIG.toml] -o DIR`: the main job. Trains a stack, analyses the trained
// model and, as the control, its initialisation (fixed points, timescales, Lyapunov spectrum,
// gradient flow, continuation), draws the figures and writes a report with the headline
// numbers (summary.json). Each stage is the matching command run in-process (cli::run) on a
// configuration file the pipeline writes into DIR/config/, so every number comes from the same
// code as the command line, and every result file records how it was made.
#include "command.hpp"
#include "command_util.hpp"
#include "pipeline_report.hpp"

#include <stackdyn/core/config.hpp>
#include <stackdyn/core/error.hpp>
#include <stackdyn/core/format.hpp>
#include <stackdyn/core/h5.hpp>
#include <stackdyn/pipeline_default.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <ostream>
#include <set>
#include <sstream>

namespace stackdyn::cli {
namespace {

namespace fs = std::filesystem;

// The analysis stages: their name (a section of the configuration), the command that runs
// them and the file they write (and `<file>_init.h5` for the control).
struct AnalysisStage {
  const char* name;
  const char* command;
  bool needs_stable_point;
};
const std::vector<AnalysisStage>& analysis_stages() {
  static const std::vector<AnalysisStage> s = {{"fixed_points", "fixed-points", false},
                                               {"timescales", "timescales", true},
                                               {"lyapunov", "lyapunov", false},
                                               {"gradient_flow", "gradient-flow", false},
                                               {"continuation", "continuation", true}};
  return s;
}

const std::vector<std::string>& stage_names() {
  static const std::vector<std::string> s = {"train",         "fixed_points", "timescales", "lyapunov",
                                             "gradient_flow", "continuation", "figures",    "report"};
  return s;
}

// Sections of the configuration and what checks their keys.
const std::vector<std::string> train_sections = {"model", "data", "train"};
const std::vector<std::string> pipeline_keys = {"control", "python"};

std::string join(const std::vector<std::string>& v, const std::string& sep = ", ") {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : sep) + x;
  return s;
}

std::string format_fixed(double x, int digits) {
  std::ostringstream s;
  s.setf(std::ios::fixed);
  s.precision(digits);
  s << x;
  return s.str();
}

// "--only a,b": known stage names, InputError otherwise.
std::vector<std::string> parse_stage_list(const std::string& text) {
  std::vector<std::string> out;
  std::string item;
  std::istringstream in(text);
  while (std::getline(in, item, ',')) {
    while (!item.empty() && item.front() == ' ') item.erase(item.begin());
    while (!item.empty() && item.back() == ' ') item.pop_back();
    if (std::find(stage_names().begin(), stage_names().end(), item) == stage_names().end())
      throw InputError("--only: unknown stage '" + item + "'; expected a comma-separated list of: " + join(stage_names()));
    out.push_back(item);
  }
  if (out.empty()) throw InputError("--only: no stage given; expected a comma-separated list of: " + join(stage_names()));
  return out;
}

bool is_table(const std::string& toml_value) { return !toml_value.empty() && toml_value.front() == '{'; }

// Copies every leaf of `from` (below `prefix`) into `into`: tables are merged key by key,
// anything else (numbers, strings, whole arrays) replaces the value.
void merge_into(Config& into, const Config& from, const std::string& prefix, const std::string& origin) {
  for (const auto& [name, text] : from.entries(prefix)) {
    const std::string key = prefix.empty() ? name : prefix + "." + name;
    if (is_table(text))
      merge_into(into, from, key, origin);
    else
      into.set(key, text, origin);
  }
}

// A configuration holding only `sections` of `cfg`, named `name`.
Config sections_of(const Config& cfg, const std::vector<std::string>& sections, const std::string& name) {
  Config out = Config::from_string("", name);
  for (const auto& s : sections)
    if (cfg.has(s)) merge_into(out, cfg, s, name);
  return out;
}

// Makes the path-valued keys of a user's configuration absolute (relative to its file), since
// the stages read copies written into DIR/config/.
void absolutize_paths(Config& cfg, const std::string& base) {
  auto fix = [&](const std::string& key) {
    if (!cfg.has(key)) return;
    fs::path p = cfg.get_string(key);
    // A model spec FILE.h5:/group keeps its group.
    std::string text = p.string(), suffix;
    const auto colon = text.find(".h5:");
    if (colon != std::string::npos) {
      suffix = text.substr(colon + 3);
      text = text.substr(0, colon + 3);
    }
    fs::path q = text;
    if (q.is_relative()) q = fs::absolute(fs::path(base) / q).lexically_normal();
    cfg.set(key, Config::quote(q.string() + suffix));
  };
  for (const char* k : {"model.file", "data.file", "data.digits_file"}) fix(k);
  for (const auto& st : analysis_stages()) {
    const CommandSpec* c = find_command(st.command);
    for (const auto& o : c->options)
      if (o.kind == ValueKind::Path && !o.key.empty()) fix(std::string(st.name) + "." + o.key);
  }
}

// Refuses keys that no stage knows, before anything runs.
void check_pipeline_keys(const Config& cfg) {
  std::vector<std::string> sections = {"pipeline"};
  sections.insert(sections.end(), train_sections.begin(), train_sections.end());
  for (const auto& st : analysis_stages()) sections.push_back(st.name);
  for (const auto& [name, text] : cfg.entries("")) {
    if (std::find(sections.begin(), sections.end(), name) == sections.end())
      throw InputError(cfg.name() + ": unknown section or key '" + name + "' (expected one of the sections: " +
                       join(sections) + ")");
    if (!is_table(text))
      throw InputError(cfg.name() + ": key '" + name + "' must be a table ([" + name + "]), found " + text);
  }
  cfg.subtable("pipeline", cfg.name() + " [pipeline]").check_keys(pipeline_keys);
  sections_of(cfg, train_sections, cfg.name()).check_keys(accepted_keys(*find_command("train")));
  for (const auto& st : analysis_stages()) {
    const Config sub = cfg.subtable(st.name, cfg.name() + " [" + std::string(st.name) + "]");
    sub.check_keys(accepted_keys(*find_command(st.command)));
  }
}

// What the pipeline remembers between invocations (DIR/pipeline_state.toml): per stage its
// status ("ok", "skipped", "failed"), a reason, and the wall time of its last run.
struct StageState {
  std::string status;  ///< empty: never finished
  std::string reason;
  double wall = -1;
};

std::map<std::string, StageState> read_state(const fs::path& path) {
  std::map<std::string, StageState> s;
  if (!fs::exists(path)) return s;
  const Config c = Config::from_file(path.string());
  for (const auto& name : stage_names()) {
    const std::string k = "stages." + name;
    if (!c.has(k)) continue;
    s[name] = {c.get_string(k + ".status", ""), c.get_string(k + ".reason", ""), c.get_double(k + ".wall_time_s", -1)};
  }
  return s;
}

void write_state(const fs::path& path, const std::map<std::string, StageState>& s) {
  Config c = Config::from_string("", path.string());
  for (const auto& [name, st] : s) {
    const std::string k = "stages." + name;
    c.set(k + ".status", Config::quote(st.status));
    c.set(k + ".reason", Config::quote(st.reason));
    c.set(k + ".wall_time_s", toml_number(st.wall));
  }
  write_text_atomic(path.string(), "# stackdyn pipeline: the stages' state (written by the pipeline; do not edit)\n" + c.to_toml());
}

class Pipeline {
 public:
  Pipeline(Invocation& inv) : inv_(inv), ctx_(inv.ctx), dir_(inv.output) {}
  int run();

 private:
  Invocation& inv_;
  Context& ctx_;
  fs::path dir_;
  Config cfg_;
  std::map<std::string, StageState> state_;
  std::set<std::string> only_;
  bool control_ = true;
  bool ran_something_ = false;

  fs::path path(const std::string& name) const { return dir_ / name; }
  void say(const std::string& line) const {
    if (!ctx_.quiet) ctx_.err << "stackdyn pipeline: " << line << "\n" << std::flush;
  }
  bool should_run(const std::string& stage) const;
  void record(const std::string& stage, const std::string& status, const std::string& reason, double wall);
  int command(const std::string& log_name, const std::vector<std::string>& args, std::string& error);
  int train();
  void analysis(const AnalysisStage& st);
  void figures();
  void prepare_directory();
  std::string stable_point_reason(const std::string& fp_file, long long& index) const;
};

bool Pipeline::should_run(const std::string& stage) const {
  if (!only_.empty()) return only_.count(stage) > 0;
  if (inv_.force || ran_something_) return true;  // a stage after one that ran reads new inputs
  const auto it = state_.find(stage);
  return it == state_.end() || it->second.status.empty() || it->second.status == "failed";
}

void Pipeline::record(const std::string& stage, const std::string& status, const std::string& reason, double wall) {
  state_[stage] = {status, reason, wall};
  write_state(path("pipeline_state.toml"), state_);
}

// Runs `stackdyn -q args...` in-process; its stdout and stderr go to DIR/logs/<log_name>.log.
int Pipeline::command(const std::string& log_name, const std::vector<std::string>& args, std::string& error) {
  std::ostringstream out, err;
  std::vector<std::string> full = {"-q"};
  full.insert(full.end(), args.begin(), args.end());
  const int code = cli::run(full, out, err);
  std::string line = "stackdyn";
  for (const auto& a : full) line += " " + a;
  std::ofstream log(path("logs") / (log_name + ".log"), std::ios::app);
  log << "$ " << line << "\n" << out.str() << err.str() << "exit " << code << "\n";
  error = code == 0 ? "" : last_error(err.str());
  return code;
}

int Pipeline::train() {
  const auto t0 = std::chrono::steady_clock::now();
  const fs::path run = path("run.h5"), partial = path("run.h5.partial");
  const fs::path cfg_path = path("config") / "train.toml";
  write_text_atomic(cfg_path.string(), "# written by stackdyn pipeline from its configuration's [model], [data], [train]\n" +
                                  sections_of(cfg_, train_sections, "train").to_toml());
  std::vector<std::string> args;
  if (fs::exists(partial) && !inv_.force && only_.empty()) {
    say("[train] resuming " + partial.string());
    args = {"train", cfg_path.string(), "--resume", run.string()};
  } else {
    // A rerun asked for (--only train, --force): the old run goes.
    fs::remove(run);
    fs::remove(partial);
    args = {"train", cfg_path.string(), "-o", run.string()};
  }
  std::string error;
  const int code = command("train", args, error);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (code != 0) {
    record("train", "failed", error, wall);
    return code;
  }
  record("train", "ok", "", wall);
  return 0;
}

// Why the stages that need a stable point cannot run on `fp_file` (empty when they can), and
// the index of the stable point they use: the one most starts reached.
std::string Pipeline::stable_point_reason(const std::string& fp_file, long long& index) const {
  index = -1;
  if (!fs::exists(fp_file)) return "no fixed-point file (" + fs::path(fp_file).filename().string() + ")";
  const h5::File f = h5::File::open(fp_file);
  if (!f.has("fixed_points/stable")) return "the fixed-point search found no point";
  const std::vector<long long> stable = f.read_int("fixed_points/stable");
  const std::vector<long long> counts = f.read_int("fixed_points/counts");
  long long best = -1;
  for (std::size_t k = 0; k < stable.size(); ++k)
    if (stable[k] == 1 && (index < 0 || counts[k] > best)) {
      index = static_cast<long long>(k);
      best = counts[k];
    }
  if (index < 0)
    return "no stable fixed point at zero input among the " + std::to_string(stable.size()) + " points found";
  return "";
}

void Pipeline::analysis(const AnalysisStage& st) {
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::string> reasons, errors;
  const std::vector<std::pair<std::string, std::string>> models = [&] {
    std::vector<std::pair<std::string, std::string>> m = {{"", path("run.h5").string()}};
    if (control_) m.push_back({"_init", path("run.h5").string() + ":/checkpoints/0"});
    return m;
  }();
  const fs::path cfg_path = path("config") / (std::string(st.name) + ".toml");
  Config sub = cfg_.subtable(st.name, st.name);
  write_text_atomic(cfg_path.string(), "# written by stackdyn pipeline from its configuration's [" + std::string(st.name) + "]\n" +
                                  sub.to_toml());
  int done = 0;
  for (const auto& [suffix, model] : models) {
    const std::string out = path(std::string(st.name) + suffix + ".h5").string();
    fs::remove(out);  // a stale result must not survive a failed rerun
    std::vector<std::string> args = {st.command, model, cfg_path.string(), "-o", out};
    if (st.needs_stable_point) {
      long long index = -1;
      const std::string why = stable_point_reason(path("fixed_points" + suffix + ".h5").string(), index);
      if (!why.empty()) {
        reasons.push_back((suffix.empty() ? "trained model: " : "initial model: ") + why);
        continue;
      }
      if (std::string(st.name) == "continuation") {
        // Follow that one point: a states file holding it.
        const h5::File fp = h5::File::open(path("fixed_points" + suffix + ".h5").string());
        const Eigen::MatrixXd pts = fp.read_matrix("fixed_points/states");
        const fs::path start = path("config") / ("continuation_start" + suffix + ".h5");
        fs::remove(start);
        {
          h5::File s = h5::File::create(start.string());
          const Eigen::VectorXd p = pts.row(index).transpose();
          std::vector<double> v(p.data(), p.data() + p.size());
          s.write("states", {1, v.size()}, v.data());
          s.set_attr("source", "stable fixed point " + std::to_string(index) + " of fixed_points" + suffix + ".h5");
          s.close();
        }
        args.insert(args.end(), {"--initial-states", start.string()});
      }
    }
    std::string error;
    if (command(std::string(st.name) + suffix, args, error) != 0)
      errors.push_back((suffix.empty() ? "trained model: " : "initial model: ") + error);
    else
      ++done;
  }
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!errors.empty())
    record(st.name, "failed", join(errors, "; "), wall);
  else if (!reasons.empty())
    record(st.name, done > 0 ? "partial" : "skipped", join(reasons, "; "), wall);
  else
    record(st.name, "ok", "", wall);
}

void Pipeline::figures() {
  const auto t0 = std::chrono::steady_clock::now();
  const char* env = std::getenv("STACKDYN_SCRIPTS");
  const fs::path script = fs::path(env ? env : build_scripts_dir) / "pipeline_figures.py";
  std::string python = cfg_.get_string("pipeline.python");
  if (python.empty()) python = build_figures_python;
  std::string reason;
  if (!fs::exists(script)) {
    reason = "the figure script " + script.string() + " is missing (set STACKDYN_SCRIPTS to the scripts/ folder)";
  } else {
    fs::create_directories(path("figures"));
    const fs::path log = path("logs") / "figures.log";
    // The script exits 3 with one line when matplotlib or h5py is missing.
    const std::string cmd = "'" + python + "' '" + script.string() + "' '" + dir_.string() + "' > '" + log.string() +
                            "' 2>&1";
    const int status = std::system(cmd.c_str());
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (code != 0) {
      std::string tail = last_error(read_text(log.string()));
      if (code == 127) tail = python + " was not found";
      reason = "figures were not drawn: " + tail;
    }
  }
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  record("figures", reason.empty() ? "ok" : "skipped", reason, wall);
}

void Pipeline::prepare_directory() {
  const fs::path saved = path("pipeline.toml");
  const std::string text = cfg_.to_toml();
  if (fs::exists(dir_) && !fs::is_directory(dir_))
    throw InputError(dir_.string() + " exists and is not a directory; expected a directory for the pipeline's files");
  if (fs::exists(saved)) {
    const Config old = Config::from_file(saved.string());
    if (old.to_toml() != text) {
      if (!inv_.force)
        throw InputError(dir_.string() + " holds a pipeline made with another configuration (" + differing_keys(old, cfg_, "there") +
                         "); choose another directory, or --force to replace it");
      // Replaced: the old run's state goes (its files are rewritten stage by stage).
      fs::remove(path("pipeline_state.toml"));
      fs::remove(path("run.h5.partial"));
    }
  } else if (fs::exists(dir_) && !fs::is_empty(dir_) && !inv_.force) {
    throw InputError(dir_.string() + " is not empty and holds no stackdyn pipeline (no pipeline.toml); choose a new "
                     "directory, or --force to write into it");
  }
  fs::create_directories(dir_ / "config");
  fs::create_directories(dir_ / "logs");
  write_text_atomic(saved.string(), "# stackdyn pipeline: the whole configuration of this directory's run\n" + text);
  state_ = read_state(path("pipeline_state.toml"));
}

int Pipeline::run() {
  const auto t_start = std::chrono::steady_clock::now();
  // The configuration: the embedded default, then the user's file key by key.
  {
    // The user's file with the --set assignments over it (the dispatcher's reading).
    Config user = inv_.config;
    const std::string base = inv_.has("config") ? fs::path(inv_.arg("config")).parent_path().string() : std::string();
    absolutize_paths(user, base.empty() ? "." : base);
    check_pipeline_keys(user);
    // The default's [data] describes its own task, and its [model] an inline architecture: a
    // user's other task (or data file) replaces the whole [data], a model file the whole [model].
    const Config def = Config::from_string(pipeline_default_toml, "pipeline_default.toml");
    std::vector<std::string> keep;
    for (const auto& [name, text] : def.entries("")) {
      const bool other_data = name == "data" && (user.has("data.file") ||
                                                 (user.has("data.task") && user.get_string("data.task") !=
                                                                               def.get_string("data.task")));
      const bool other_model = name == "model" && user.has("model.file");
      if (!other_data && !other_model) keep.push_back(name);
    }
    cfg_ = sections_of(def, keep, "pipeline_default.toml");
    merge_into(cfg_, user, "", inv_.has("config") ? inv_.arg("config") : std::string("--set"));
  }
  check_pipeline_keys(cfg_);
  control_ = cfg_.get_bool("pipeline.control");
  if (inv_.flags.count("--only")) {
    for (const auto& s : parse_stage_list(inv_.flags.at("--only"))) only_.insert(s);
  }
  prepare_directory();
  if (!only_.empty() && !only_.count("train") && !fs::exists(path("run.h5")))
    throw InputError("--only " + inv_.flags.at("--only") + ": " + path("run.h5").string() +
                     " does not exist; run the train stage first (without --only, or with --only train)");

  bool diverged = false;
  int exit_code = 0;
  for (const auto& stage : stage_names()) {
    if (stage == "report") break;
    if (!should_run(stage)) {
      say("[" + stage + "] complete, skipped (--force or --only " + stage + " reruns it)");
      continue;
    }
    say("[" + stage + "] started");
    const auto t0 = std::chrono::steady_clock::now();
    if (stage == "train") {
      const int code = train();
      if (code != 0) {
        say("[train] failed: " + state_["train"].reason);
        exit_code = code;
        diverged = code == 1;
        if (code == 2) throw InputError("train stage: " + state_["train"].reason);
        if (code != 1) {  // interrupted (128 + signal): the rerun resumes; nothing to report yet
          ctx_.err << "stackdyn: error: train stage: " << state_["train"].reason << "; rerun the same command to resume\n";
          return code;
        }
        break;
      }
    } else if (stage == "figures") {
      figures();
    } else {
      for (const auto& st : analysis_stages())
        if (st.name == stage) analysis(st);
    }
    ran_something_ = true;
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const StageState& s = state_[stage];
    say("[" + stage + "] " + (s.status == "ok" ? "done" : s.status) + " in " + format_fixed(wall, 1) + " s" +
        (s.reason.empty() ? "" : ": " + s.reason));
    if (s.status == "failed") exit_code = 1;
  }

  // summary.json and the report are made from the files, whatever ran this time.
  if (only_.empty() || only_.count("report") || ran_something_) {
    say("[report] started");
    const auto t0 = std::chrono::steady_clock::now();
    PipelineReportInput in;
    in.dir = dir_.string();
    in.control = control_;
    in.diverged = diverged;
    for (const auto& [name, st] : state_) in.stages[name] = {st.status, st.reason, st.wall};
    in.total_wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    in.config_toml = cfg_.to_toml();
    write_pipeline_report(in);
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    record("report", "ok", "", wall);
    say("[report] done in " + format_fixed(wall, 1) + " s: " + path("report.html").string());
  }
  if (diverged) say("the training diverged: the analyses were not run (see report.md)");
  ctx_.out << dir_.string() << ": " << (diverged ? "training diverged; " : "")
           << "summary.json, report.md, report.html" << "\n";
  return exit_code;
}

int run_pipeline(Invocation& inv) { return Pipeline(inv).run(); }

const bool registered = register_command({
    .name = "pipeline",
    .summary = "The main job: train a stack, analyse it and its initialisation, figures and a report",
    .positionals = {{"config", "Configuration (TOML; sections [pipeline], [model], [data], [train], [fixed_points], "
                               "[timescales], [lyapunov], [gradient_flow], [continuation]) over the embedded default "
                               "(data/pipeline_default.toml)",
                     Positional::Kind::Config, false}},
    .options = {{"--only", "", ValueKind::Text, "",
                 "Rerun only these stages (comma-separated: train, fixed_points, timescales, lyapunov, gradient_flow, "
                 "continuation, figures, report) from their inputs",
                 ""}},
    .set = true,
    .check_keys = false,
    .force = true,
    .force_help = "Rerun every stage; replace a directory made with another configuration",
    .footer = "DIR holds run.h5 (the training run), fixed_points.h5, timescales.h5, lyapunov.h5, gradient_flow.h5,\n"
              "continuation.h5 and the same with _init (the model at initialisation), figures/*.png, summary.json\n"
              "(the headline numbers), report.md and report.html, pipeline.toml (the whole configuration),\n"
              "config/ (each stage's configuration) and logs/. A stage already complete is skipped; an\n"
              "interrupted pipeline continues where it stopped. See docs/pipeline.md.",
    .run = run_pipeline,
});

}  // namespace
}  // namespace stackdyn::cli
