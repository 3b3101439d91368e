// `stackdyn sweep SWEEP.toml -o OUT.h5`: many simulations over a grid (or a list) of
// configuration keys, in threads and, under mpirun, in several processes, merged into one
// file with a leading `run` dimension and a table of each run's parameters.
//
// Each run is written atomically to OUT.runs/run_NNNNNN.h5 as it completes; a rerun of the
// same command skips the runs found there (after checking that they belong to this sweep),
// so an interrupted sweep resumes. When every run is done, one process merges them into
// OUT (written as OUT.partial and renamed) and removes OUT.runs. See docs/simulation.md.
#include "command_util.hpp"
#include "pipeline_report.hpp"

#include <stackdyn/core/error.hpp>
#include <stackdyn/model/init.hpp>
#include <stackdyn/model/model_io.hpp>
#include <stackdyn/model/spectral_radius.hpp>
#include <stackdyn/core/parallel.hpp>
#include <stackdyn/dynamics/simulation.hpp>

#include <stackdyn/core/format.hpp>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <mutex>
#include <optional>
#include <ostream>
#include <sstream>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#ifdef STACKDYN_HAVE_MPI
#include <mpi.h>
#endif

namespace stackdyn::cli {
namespace {

namespace fs = std::filesystem;

using Assignment = std::pair<std::string, std::string>;  // key, value as TOML text

struct Plan {
  std::string model_file, model_toml;
  std::string base_dir;  // the sweep file's directory: relative model files in [grid] or [[runs]] start there
  std::string simulate_toml;  // the [simulate] table as a TOML document
  std::vector<std::string> keys;  // parameter names, in table order
  std::vector<std::vector<Assignment>> runs;
  int threads = 0;
  bool pipeline = false;         // kind = "pipeline": each run is `stackdyn pipeline`
  std::string pipeline_config;   // its base configuration (empty: the pipeline's default)
};

// The sweep file's own keys; [simulate], [grid] and [[runs]] are read below.
OptionTable options() {
  using K = ValueKind;
  return {
      {"", "model_file", K::Path, "", "An HDF5 model (or any model spec), relative to the sweep file", ""},
      {"", "model_toml", K::Path, "", "An init description, relative to the sweep file", ""},
      {"--threads", "threads", K::Integer, "0", "Threads per process (0 = all cores)", ""},
      {"", "kind", K::Text, "\"simulate\"", "simulate, or pipeline: each run a `stackdyn pipeline` with the run's keys set", ""},
      {"", "pipeline_config", K::Path, "", "kind = pipeline: the runs' base configuration, relative to the sweep file", ""},
      {"", "simulate", K::Table, "", "", ""},
      {"", "grid", K::Table, "", "", ""},
      {"", "runs", K::Table, "", "", ""},
  };
}

// The TOML texts of the elements of an array given as TOML text.
std::vector<std::string> elements(const std::string& array_text, const std::string& where) {
  if (array_text.empty() || array_text.front() != '[' || array_text == "[]")
    throw InputError(where + ": expected a non-empty array of values");
  const Config tmp = Config::from_string("v = " + array_text, where);
  std::vector<std::string> out;
  for (std::size_t i = 0; i < tmp.array_size("v"); ++i) out.push_back(*tmp.value_text("v[" + std::to_string(i) + "]"));
  return out;
}

Plan make_plan(const Config& doc, const std::string& path) {
  Plan p;
  p.base_dir = fs::path(path).parent_path().string();
  p.model_file = doc.get_string("model_file", "");
  p.model_toml = doc.get_string("model_toml", "");
  const std::string kind = doc.get_string("kind", "simulate");
  if (kind != "simulate" && kind != "pipeline")
    throw InputError(path + ": kind = '" + kind + "': expected 'simulate' or 'pipeline'");
  p.pipeline = kind == "pipeline";
  p.pipeline_config = doc.get_string("pipeline_config", "");
  if (p.pipeline) {
    if (!p.model_file.empty() || !p.model_toml.empty() || doc.has("simulate"))
      throw InputError(path + ": kind = 'pipeline' takes its model and stages from pipeline_config and the runs' keys, "
                       "not model_file, model_toml or [simulate]");
  } else if (!p.pipeline_config.empty()) {
    throw InputError(path + ": pipeline_config applies to kind = 'pipeline' only");
  } else if (p.model_file.empty() == p.model_toml.empty()) {
    throw InputError(path + ": give exactly one of 'model_file' (an HDF5 model) and 'model_toml' (an init description)");
  }
  p.threads = static_cast<int>(doc.get_int("threads", Range::non_negative()));
  // The base simulation, with the --set overrides already in it.
  p.simulate_toml = doc.subtable("simulate", path + " [simulate]").to_toml();

  const bool grid = doc.has("grid"), list = doc.has("runs");
  if (grid == list)
    throw InputError(path + ": give exactly one of [grid] (a table of key = [values]) and [[runs]] (a list of tables)");
  if (grid) {
    std::vector<std::vector<std::string>> values;
    for (const auto& [key, text] : doc.entries("grid")) {
      p.keys.push_back(key);
      values.push_back(elements(text, path + ": grid key '" + key + "'"));
    }
    // A million runs is far beyond a sweep's use; a product past it would also overflow.
    constexpr std::size_t max_runs = 1000000;
    std::size_t n = 1;
    for (const auto& v : values) {
      if (n > max_runs / v.size())
        throw InputError(path + ": [grid] spans more than " + std::to_string(max_runs) + " runs");
      n *= v.size();
    }
    for (std::size_t r = 0; r < n; ++r) {  // C order: the last key varies fastest
      std::vector<Assignment> run(values.size());
      std::size_t rest = r;
      for (std::size_t k = values.size(); k-- > 0;) {
        run[k] = {p.keys[k], values[k][rest % values[k].size()]};
        rest /= values[k].size();
      }
      p.runs.push_back(run);
    }
  } else {
    for (std::size_t i = 0; i < doc.array_size("runs"); ++i) {
      std::vector<Assignment> run;
      for (const auto& [key, text] : doc.entries("runs[" + std::to_string(i) + "]")) {
        run.emplace_back(key, text);
        if (std::find(p.keys.begin(), p.keys.end(), key) == p.keys.end()) p.keys.push_back(key);
      }
      p.runs.push_back(run);
    }
  }
  if (p.runs.empty()) throw InputError(path + ": the sweep has no runs");
  return p;
}

// The model and simulation configuration of one run: keys `model_file`, `model.<key>`
// (an override of the init description), `radius.<l>` (layer l's recurrent spectral radius,
// every gate block, set after the model is built) or a simulation key.
struct RunSetup {
  Model model;
  std::string model_path;
  Config sim;
  Config whole;  // the run's whole configuration: [simulate], [model] (or model_file and its hash), radius.*
};

RunSetup setup_run(const Plan& p, const std::vector<Assignment>& run, const std::string& where) {
  RunSetup s;
  s.model_path = p.model_file;
  s.sim = Config::from_string(p.simulate_toml, where);
  std::optional<Config> mc;
  if (!p.model_toml.empty()) mc = Config::from_file(p.model_toml);
  std::vector<Assignment> radii;
  for (const auto& [key, value] : run) {
    if (key.rfind("radius.", 0) == 0) {
      radii.emplace_back(key, value);
    } else if (key == "model_file") {
      Config tmp = Config::from_string("v = " + value, where);
      s.model_path = tmp.get_string("v");
      if (fs::path(s.model_path).is_relative()) s.model_path = (fs::path(p.base_dir) / s.model_path).lexically_normal().string();
    } else if (key.rfind("model.", 0) == 0) {
      if (!mc) throw InputError(where + ": key '" + key + "' changes the model description, which needs 'model_toml'");
      mc->set(key.substr(6), value);
    } else {
      s.sim.set(key, value);
    }
  }
  s.model = mc ? model_from_config(*mc) : read_model_spec(s.model_path);
  s.whole = Config::from_string("", where);
  s.whole.set("simulate", "{}");
  for (const auto& [k, v] : s.sim.entries("")) s.whole.set("simulate." + k, v);
  if (mc) {
    s.whole.set("model", "{}");
    for (const auto& [k, v] : mc->entries("")) s.whole.set("model." + k, v);
  } else {
    s.whole.set("model_file", Config::quote(s.model_path));
    s.whole.set("model_hash", Config::quote(file_hash(model_spec_file(s.model_path))));
  }
  if (!radii.empty()) {
    std::string t;
    for (const auto& [key, value] : radii) t += (t.empty() ? "" : ", ") + ("layer_" + key.substr(7)) + " = " + value;
    s.whole.set("radius", "{ " + t + " }");
  }
  for (const auto& [key, value] : radii) {
    const Config v = Config::from_string("v = " + value, where + " key '" + key + "'");
    const std::string layer = key.substr(7);
    if (layer.empty() || layer.find_first_not_of("0123456789") != std::string::npos)
      throw InputError(where + ": key '" + key + "': expected radius.<layer>, the layer a number from 0");
    set_layer_radius(s.model, std::stoi(layer), v.get_double("v", Range::positive()), RadiusBlocks::Gates,
                     where + " key '" + key + "'");
  }
  return s;
}

std::string run_file(const std::string& dir, std::size_t i) {
  char name[32];
  std::snprintf(name, sizeof name, "run_%06zu.h5", i);
  return (fs::path(dir) / name).string();
}

std::string run_description(const std::vector<Assignment>& run) {
  std::string d;
  for (const auto& [k, v] : run) d += (d.empty() ? "" : ", ") + k + " = " + v;
  return d;
}

// Runs one simulation into its own file; a divergence is kept as that run's result.
void execute_run(const Plan& p, std::size_t i, const std::string& dir, const std::string& command_line) {
  const std::string where = "run " + std::to_string(i) + " (" + run_description(p.runs[i]) + ")";
  RunSetup s = setup_run(p, p.runs[i], where);
  const SimulationConfig sc = simulation_config(s.sim, s.model);
  h5::AtomicOutput out(run_file(dir, i));
  h5::File& f = out.file();
  Provenance prov;
  prov.command_line = command_line;
  prov.config_toml = s.sim.to_toml();
  prov.seed = sc.seed;
  prov.model_path = s.model_path;
  if (!s.model_path.empty()) prov.model_hash = file_hash(model_spec_file(s.model_path));
  write_provenance(f, prov);
  f.set_attr("run", static_cast<long long>(i));
  f.set_attr("run_parameters", run_description(p.runs[i]));
  f.set_attr("run_config", s.whole.to_toml());
  try {
    simulate(s.model, sc, f);
  } catch (const DivergenceError&) {
    // status = "diverged" is in the file; the sweep goes on
  }
  out.commit();
}

// A run file counts as done when it was computed from this run's whole configuration (the
// [simulate] table, the model description or the model file's bytes, and its keys); one made
// under another is refused, naming what changed, or redone with --force.
bool run_done(const Plan& p, std::size_t i, const std::string& dir, bool force) {
  const std::string path = run_file(dir, i);
  if (!fs::exists(path)) return false;
  const std::string where = "run " + std::to_string(i) + " (" + run_description(p.runs[i]) + ")";
  std::string why;
  {
    const h5::File f = h5::File::open(path);
    if (!f.has_attr("run_parameters") || f.attr_string("run_parameters") != run_description(p.runs[i])) {
      why = "holds a run of another sweep (parameters '" +
            (f.has_attr("run_parameters") ? f.attr_string("run_parameters") : std::string()) + "', expected '" +
            run_description(p.runs[i]) + "')";
    } else {
      const Config now = setup_run(p, p.runs[i], where).whole;
      if (!f.has_attr("run_config"))
        why = "was made by an older stackdyn that did not record its configuration";
      else if (f.attr_string("run_config") != now.to_toml())
        why = "was computed under another configuration (" +
              differing_keys(Config::from_string(f.attr_string("run_config"), path), now, "there") + ")";
    }
  }
  if (why.empty()) return true;
  if (force) {
    fs::remove(path);
    return false;
  }
  throw InputError(path + ": " + where + " " + why + "; --force redoes it, or remove " + dir + " to start afresh");
}

double number_or_nan(const std::string& text) {
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  return end && *end == '\0' && end != text.c_str() ? v : std::numeric_limits<double>::quiet_NaN();
}

// Every run must have been sampled on one time axis, that of run `first`: a complete run's
// `time` equals it, a diverged run's is its beginning. Runs with another output grid
// (t_end, dt_out, steps differing between runs) are refused rather than grouped, so that
// OUT keeps one `time` for all runs.
void check_time_axes(const Plan& p, const std::string& dir, const std::vector<double>& time, std::size_t first) {
  auto num = [](double v) {  // shortest round trip
    char buf[32];
    return std::string(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
  };
  auto axis = [&](const std::vector<double>& t) {
    return t.empty() ? std::string("no samples")
                     : std::to_string(t.size()) + " samples, t = " + num(t.front()) + " .. " + num(t.back());
  };
  for (std::size_t i = 0; i < p.runs.size(); ++i) {
    const h5::File f = h5::File::open(run_file(dir, i));
    const std::vector<double> t = f.read("time").data;
    const bool complete = f.attr_string("status") == "complete";
    const bool fits = complete ? t == time
                               : t.size() <= time.size() && std::equal(t.begin(), t.end(), time.begin());
    if (!fits)
      throw InputError("sweep: run " + std::to_string(i) + " (" + run_description(p.runs[i]) + ") has a time axis of " +
                       axis(t) + ", run " + std::to_string(first) + " (" + run_description(p.runs[first]) + ") one of " +
                       axis(time) + "; every run of a sweep must share one output grid (sweep t_end, dt_out or " +
                       "steps in separate sweeps)");
  }
}

// One file: states (run, batch, n_out, state_dim), time, the parameter table, statistics.
void merge(const Plan& p, const std::string& dir, const std::string& output, const Context& ctx,
           const std::string& sweep_path) {
  const std::size_t R = p.runs.size();
  h5::Shape shape;  // (batch, n_out, state_dim) of a complete run
  std::vector<double> time;
  std::size_t first = R;  // the complete run that gives the time axis
  for (std::size_t i = 0; i < R && shape.empty(); ++i) {
    const h5::File f = h5::File::open(run_file(dir, i));
    if (f.attr_string("status") == "complete") {
      shape = f.shape("states");
      time = f.read("time").data;
      first = i;
    }
  }
  if (shape.empty()) throw RunError("every run of the sweep diverged; the runs are in " + dir);
  check_time_axes(p, dir, time, first);
  h5::AtomicOutput out(output);
  h5::File& o = out.file();
  Provenance prov = make_provenance(ctx, p.model_file, p.simulate_toml);
  prov.source = "sweep " + sweep_path;
  write_provenance(o, prov);
  o.set_attr("model_toml", p.model_toml);
  std::string names;
  for (const auto& k : p.keys) names += (names.empty() ? "" : "; ") + k;
  o.set_attr("parameter_names", names);
  o.write("time", Eigen::VectorXd(Eigen::Map<const Eigen::VectorXd>(time.data(), static_cast<Eigen::Index>(time.size()))));
  h5::Appender states(o, "states", {0, shape[0], shape[1], shape[2]}, 0);
  o.set_dim_labels("states", {"run", "batch", "time", "state"});
  // The readout's predictions (batch, time, output) of runs whose model has one, padded as the states.
  h5::Shape pshape;
  if (const h5::File f = h5::File::open(run_file(dir, first)); f.has("predictions")) pshape = f.shape("predictions");
  std::optional<h5::Appender> predictions;
  if (!pshape.empty()) {
    predictions.emplace(o, "predictions", h5::Shape{0, pshape[0], pshape[1], pshape[2]}, 0);
    o.set_dim_labels("predictions", {"run", "batch", "time", "output"});
  }
  std::vector<double> table(R * p.keys.size(), std::numeric_limits<double>::quiet_NaN());
  std::vector<double> steps(R), rejected(R), rhs(R), jac(R), wall(R), complete(R);
  std::string descriptions;
  for (std::size_t i = 0; i < R; ++i) {
    const h5::File f = h5::File::open(run_file(dir, i));
    h5::Array st = f.read("states");
    if (st.shape[0] != shape[0] || st.shape[2] != shape[2] || st.shape[1] > shape[1])
      throw InputError("run " + std::to_string(i) + " (" + run_description(p.runs[i]) + ") has states of shape " +
                       h5::shape_string(st.shape) + ", other runs " + h5::shape_string(shape) +
                       "; a sweep needs one batch, state_dim and output grid for every run");
    // A diverged run is padded with NaN after its last sample.
    std::vector<double> padded(h5::element_count(shape), std::numeric_limits<double>::quiet_NaN());
    for (std::size_t b = 0; b < shape[0]; ++b)
      std::copy_n(st.data.begin() + static_cast<std::ptrdiff_t>(b * st.shape[1] * shape[2]), st.shape[1] * shape[2],
                  padded.begin() + static_cast<std::ptrdiff_t>(b * shape[1] * shape[2]));
    states.append(padded.data(), 1);
    if (predictions) {
      std::vector<double> pp(h5::element_count(pshape), std::numeric_limits<double>::quiet_NaN());
      if (f.has("predictions")) {
        const h5::Array pr = f.read("predictions");
        if (pr.shape[0] != pshape[0] || pr.shape[2] != pshape[2] || pr.shape[1] > pshape[1])
          throw InputError("run " + std::to_string(i) + " (" + run_description(p.runs[i]) + ") has predictions of shape " +
                           h5::shape_string(pr.shape) + ", other runs " + h5::shape_string(pshape) +
                           "; a sweep needs one readout for every run to merge them");
        for (std::size_t b = 0; b < pshape[0]; ++b)
          std::copy_n(pr.data.begin() + static_cast<std::ptrdiff_t>(b * pr.shape[1] * pshape[2]), pr.shape[1] * pshape[2],
                      pp.begin() + static_cast<std::ptrdiff_t>(b * pshape[1] * pshape[2]));
      }
      predictions->append(pp.data(), 1);
    }
    const h5::Group g = f.group("statistics");
    steps[i] = static_cast<double>(g.attr_int("steps"));
    rejected[i] = static_cast<double>(g.attr_int("rejected_steps"));
    rhs[i] = static_cast<double>(g.attr_int("rhs_evaluations"));
    jac[i] = static_cast<double>(g.attr_int("jacobian_evaluations"));
    wall[i] = g.attr_double("wall_seconds");
    complete[i] = f.attr_string("status") == "complete" ? 1.0 : 0.0;
    for (const auto& [k, v] : p.runs[i]) {
      const auto col = static_cast<std::size_t>(std::find(p.keys.begin(), p.keys.end(), k) - p.keys.begin());
      table[i * p.keys.size() + col] = number_or_nan(v);
    }
    descriptions += std::to_string(i) + ": " + run_description(p.runs[i]) + "\n";
  }
  o.write("parameters", {R, p.keys.size()}, table.data());
  o.set_dim_labels("parameters", {"run", "parameter"});
  o.set_attr("run_table", descriptions);
  auto column = [&](const char* name, const std::vector<double>& v) {
    o.write(std::string("statistics/") + name, {R}, v.data());
    o.set_dim_labels(std::string("statistics/") + name, {"run"});
  };
  column("steps", steps);
  column("rejected_steps", rejected);
  column("rhs_evaluations", rhs);
  column("jacobian_evaluations", jac);
  column("wall_seconds", wall);
  column("complete", complete);
  out.commit();
}

struct Mpi {  // the process's place in an mpirun job; one process without MPI
  int rank = 0, size = 1;
  bool active = false;
  Mpi() {
#ifdef STACKDYN_HAVE_MPI
    if (std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMI_SIZE")) {
      int provided = 0;
      MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
      MPI_Comm_rank(MPI_COMM_WORLD, &rank);
      MPI_Comm_size(MPI_COMM_WORLD, &size);
      active = true;
    }
#endif
  }
  ~Mpi() {
#ifdef STACKDYN_HAVE_MPI
    if (active) MPI_Finalize();
#endif
  }
  void barrier() const {
#ifdef STACKDYN_HAVE_MPI
    if (active) MPI_Barrier(MPI_COMM_WORLD);
#endif
  }
  // Whether every process succeeded (an error on one must not leave the others waiting).
  bool all(bool ok) const {
#ifdef STACKDYN_HAVE_MPI
    if (active) {
      int mine = ok ? 1 : 0, every = 0;
      MPI_Allreduce(&mine, &every, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
      return every == 1;
    }
#endif
    return ok;
  }
};

// Bytes of every run's file and of the merged file, before anything runs. A run that cannot
// be set up is left out here: it fails in its turn, after the runs that can be done.
double sweep_output_bytes(const Plan& p) {
  double bytes = 0;
  for (std::size_t i = 0; i < p.runs.size(); ++i) {
    try {
      const RunSetup s = setup_run(p, p.runs[i], "run " + std::to_string(i) + " (" + run_description(p.runs[i]) + ")");
      bytes += simulation_output_bytes(simulation_config(s.sim, s.model), s.model);
    } catch (const InputError&) {
    }
  }
  return 2 * bytes;  // OUT.runs/ and OUT exist together until the merge ends
}

// ---- kind = "pipeline": each run is `stackdyn pipeline` in a process of its own, in
// OUT.runs/run_NNNNNN/; the table of their headline numbers is OUT (and OUT's .csv). ----------
std::string run_dir(const std::string& dir, std::size_t i) {
  const std::string f = run_file(dir, i);
  return f.substr(0, f.size() - 3);  // run_NNNNNN
}

// Runs the pipeline of run i (a rerun skips its complete stages, and refuses a directory made
// with another configuration). Exit 0, or 1 for a diverged training or a failed stage (kept as
// that run's result); anything else stops the sweep with the run's own message.
void execute_pipeline_run(const Plan& p, std::size_t i, const std::string& dir) {
  std::vector<std::string> args = {"stackdyn", "-q", "pipeline"};
  if (!p.pipeline_config.empty()) args.push_back(p.pipeline_config);
  args.insert(args.end(), {"-o", run_dir(dir, i)});
  for (const auto& [k, v] : p.runs[i]) args.insert(args.end(), {"--set", k + "=" + v});
  const std::string log = run_dir(dir, i) + ".log";
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
  pid_t pid = 0;
  const int e = posix_spawn(&pid, "/proc/self/exe", &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (e != 0) throw RunError("cannot start the pipeline of run " + std::to_string(i) + ": " + std::strerror(e));
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (code == 0 || code == 1) return;
  const std::string what =
      "run " + std::to_string(i) + " (" + run_description(p.runs[i]) + "): " + last_error(read_text(log));
  if (code == 2) throw InputError(what);
  throw RunError(what + " (exit " + std::to_string(code) + ")");
}

void merge_pipelines(const Plan& p, const std::string& dir, const std::string& output, const Context& ctx,
                     const std::string& sweep_path) {
  const std::size_t R = p.runs.size();
  std::vector<std::vector<SummaryColumn>> cols(R);
  for (std::size_t i = 0; i < R; ++i) cols[i] = pipeline_summary_columns(run_dir(dir, i));
  const double nan = std::numeric_limits<double>::quiet_NaN();
  h5::AtomicOutput out(output);
  h5::File& o = out.file();
  Provenance prov = make_provenance(ctx, "", "");
  prov.source = "sweep of pipelines " + sweep_path;
  write_provenance(o, prov);
  o.set_attr("kind", "pipeline_sweep");
  o.set_attr("pipeline_config", p.pipeline_config);
  o.set_attr("runs_directory", dir);
  o.write_strings("parameter_names", p.keys);
  std::vector<double> table(R * p.keys.size(), nan);
  std::vector<std::string> descriptions, dirs;
  for (std::size_t i = 0; i < R; ++i) {
    for (const auto& [k, v] : p.runs[i]) {
      const auto col = static_cast<std::size_t>(std::find(p.keys.begin(), p.keys.end(), k) - p.keys.begin());
      table[i * p.keys.size() + col] = number_or_nan(v);
    }
    descriptions.push_back(run_description(p.runs[i]));
    dirs.push_back(fs::path(run_dir(dir, i)).filename().string());
  }
  o.write("parameters", {R, p.keys.size()}, table.data());
  o.set_dim_labels("parameters", {"run", "parameter"});
  o.write_strings("run_table", descriptions);
  o.write_strings("run_directory", dirs);
  // summary/<key>: (run,) or (run, layer), NaN where a run has no such number.
  std::ostringstream csv;
  csv << "run";
  for (const auto& k : p.keys) csv << "," << k;
  std::vector<std::size_t> widths;
  for (std::size_t c = 0; c < cols[0].size(); ++c) {
    std::size_t L = 0;
    for (std::size_t i = 0; i < R; ++i) L = std::max(L, cols[i][c].values.size());
    widths.push_back(cols[0][c].per_layer ? L : 1);
    const std::string& key = cols[0][c].key;
    std::vector<double> v(R * widths[c], nan);
    for (std::size_t i = 0; i < R; ++i)
      std::copy(cols[i][c].values.begin(), cols[i][c].values.end(), v.begin() + static_cast<std::ptrdiff_t>(i * widths[c]));
    if (cols[0][c].per_layer) {
      o.write("summary/" + key, {R, widths[c]}, v.data());
      o.set_dim_labels("summary/" + key, {"run", "layer"});
      for (std::size_t l = 0; l < widths[c]; ++l) csv << "," << key << "[" << l << "]";
    } else {
      o.write("summary/" + key, {R}, v.data());
      o.set_dim_labels("summary/" + key, {"run"});
      csv << "," << key;
    }
  }
  csv << "\n";
  auto field = [](const std::string& t) {
    if (t.find_first_of(",\"\n") == std::string::npos) return t;
    std::string q = "\"";
    for (const char ch : t) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
    return q + "\"";
  };
  for (std::size_t i = 0; i < R; ++i) {
    csv << i;
    for (const auto& k : p.keys) {
      std::string v;
      for (const auto& [kk, vv] : p.runs[i])
        if (kk == k) v = vv;
      csv << "," << field(v);
    }
    for (std::size_t c = 0; c < cols[i].size(); ++c)
      for (std::size_t l = 0; l < widths[c]; ++l) {
        const double x = l < cols[i][c].values.size() ? cols[i][c].values[l] : nan;
        csv << ",";
        if (std::isfinite(x)) csv << format_number(x);
      }
    csv << "\n";
  }
  fs::path csv_path = output;
  csv_path.replace_extension(".csv");
  write_text_atomic(csv_path.string(), csv.str());
  out.commit();
}

int run_sweep(Invocation& inv) {
  Context& ctx = inv.ctx;
  Mpi mpi;
  const std::string& sweep_path = inv.arg("sweep");
  const Plan p = make_plan(inv.config, sweep_path);
  const int threads = p.threads;
  const std::string output = inv.output;
  const std::string dir = output + ".runs";
  if (!p.pipeline) check_output_size(sweep_output_bytes(p), output, inv.force);
  std::error_code ec;
  if (mpi.rank == 0) fs::create_directories(dir, ec);
  mpi.barrier();
  if (!fs::is_directory(dir)) throw RunError("cannot create the directory " + dir + " for the sweep's runs");

  // This process's share: runs i with i % size == rank, not yet done.
  std::vector<std::size_t> todo;
  std::size_t skipped = 0;
  std::mutex progress;
  Progress bar(ctx, mpi.size > 1 ? "sweep (rank " + std::to_string(mpi.rank) + ")" : std::string("sweep"));
  std::size_t done = 0;
  std::exception_ptr failure;
  // Every step that can fail on one process only ends in a collective vote (mpi.all), so
  // that no process is left waiting for one that has given up.
  // SIGINT/SIGTERM: the runs under way finish and are kept, no new run starts; the same
  // command resumes.
  const StopSignal stop;
  try {
    for (std::size_t i = static_cast<std::size_t>(mpi.rank); i < p.runs.size(); i += static_cast<std::size_t>(mpi.size)) {
      if (!p.pipeline && run_done(p, i, dir, inv.force))
        ++skipped;
      else
        todo.push_back(i);
    }
    parallel_for(todo.size(), threads, [&](std::size_t k) {
      if (stop.requested()) return;
      if (p.pipeline)
        execute_pipeline_run(p, todo[k], dir);
      else
        execute_run(p, todo[k], dir, ctx.command_line);
      std::lock_guard<std::mutex> lock(progress);
      ++done;
      bar(static_cast<double>(done) / static_cast<double>(todo.size()),
          std::to_string(done) + "/" + std::to_string(todo.size()) + " runs");
    });
    if (stop.requested())
      throw RunError(stop.name() + " received: " + std::to_string(skipped + done) + " of " + std::to_string(todo.size() + skipped) +
                     " runs are done and kept in " + dir + "; the same command resumes the sweep");
  } catch (...) {
    failure = std::current_exception();
  }
  if (!mpi.all(!failure)) {
    if (failure) std::rethrow_exception(failure);
    throw RunError("another process of the sweep failed; completed runs are kept in " + dir);
  }
  if (mpi.rank == 0) {
    try {
      if (p.pipeline) {
        merge_pipelines(p, dir, output, ctx, sweep_path);  // the runs' directories stay: their reports
      } else {
        merge(p, dir, output, ctx, sweep_path);
        fs::remove_all(dir, ec);
      }
      ctx.out << output << ": " << p.runs.size() << " runs (" << skipped << " already done by an earlier attempt), "
              << mpi.size << (mpi.size == 1 ? " process" : " processes") << "\n";
    } catch (...) {
      failure = std::current_exception();
    }
  }
  if (!mpi.all(!failure)) {
    if (failure) std::rethrow_exception(failure);
    throw RunError("the merge of the sweep's runs failed on process 0; completed runs are kept in " + dir);
  }
  return 0;
}

}  // namespace

// The checks a sweep file gets before anything runs (its plan, and each run's model and
// simulation configuration), for the fuzz target and its corpus replay (tests/fuzz).
std::size_t check_sweep_file(const std::string& path) {
  const Plan p = make_plan(Config::from_file(path), path);
  for (std::size_t i = 0; i < (p.pipeline ? 0 : std::min<std::size_t>(p.runs.size(), 4)); ++i) {
    const RunSetup s = setup_run(p, p.runs[i], "run " + std::to_string(i));
    simulation_config(s.sim, s.model);
  }
  return p.runs.size();
}

namespace {

const bool registered = register_command({
    .name = "sweep",
    .summary = "Many simulations (or pipelines) over a grid of configuration keys, merged into one file",
    .positionals = {{"sweep", "Sweep description (TOML; see docs/simulation.md)", Positional::Kind::Config}},
    .options = options(),
    .set = true,
    .set_prefix = "simulate.",
    .force = true,
    .force_help = "Write outputs above the size limit; redo kept runs computed under another configuration",
    .footer = "--set KEY=VALUE overrides a key of the base [simulate] configuration.\n"
              "OUT holds states (run, batch, n_out, state_dim), time, parameters (run, parameter) with the\n"
              "attribute parameter_names, run_table (text) and statistics/* (run,). Runs in progress live in\n"
              "OUT.runs/; rerunning the same command resumes. Under mpirun the runs are shared among processes.\n"
              "The runs' files and OUT together above 8 GiB need --force. On SIGINT/SIGTERM the runs under way\n"
              "finish, no new run starts, and the same command resumes. kind = \"pipeline\": each run a whole\n"
              "`stackdyn pipeline` in OUT.runs/run_NNNNNN/, OUT and OUT's .csv the table of their headline numbers.",
    .run = run_sweep,
});

}  // namespace
}  // namespace stackdyn::cli
