// The command plumbing every command shares: no output overwrites an input, runaway
// outputs are refused before they run, SIGTERM leaves a complete file with its status,
// numbers keep every digit on their way into configurations, one precedence (flag > --set >
// file > default), one way to name a model, and the messages of bad usage.
#include "cli_helpers.hpp"
#include "command_util.hpp"
#include "fixed_point_models.hpp"
#include "random_model.hpp"

#include <catch2/catch.hpp>
#include <stackdyn/core/config.hpp>
#include <stackdyn/core/format.hpp>
#include <stackdyn/core/options.hpp>
#include <stackdyn/dynamics/simulation.hpp>
#include <stackdyn/core/h5.hpp>
#include <stackdyn/model/model_io.hpp>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>
#include <spawn.h>
#include <sys/wait.h>

extern char** environ;

using namespace stackdyn;
using Catch::Matchers::Contains;

namespace {

namespace fs = std::filesystem;

std::string bytes_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

struct Files {
  test::ScratchDir dir{"plumbing"};
  std::string model = dir / "m.h5";
  std::string input = dir / "in.h5";
  Files() {
    write_model(test::random_model(2, {{CellType::RnnTanh, 3}, {CellType::Gru, 2}}, 5), model, Provenance{});
    h5::File f = h5::File::create(input);
    std::vector<double> x(2 * 4 * 2, 0.1);
    f.write("inputs", {2, 4, 2}, x.data());
  }
};

// The recorded configuration of a result file.
Config recorded(const std::string& path) {
  return Config::from_string(h5::File::open(path).attr_string("config"), path);
}

// One bistable tanh unit per axis (w = 2) and a weak GRU on top: saddles of index 1.
void write_bistable(const std::string& path) {
  Model m;
  m.input_size = 2;
  m.layers.push_back(test::vanilla_layer(CellType::RnnTanh, 2.0 * Eigen::MatrixXd::Identity(2, 2),
                                         0.1 * Eigen::MatrixXd::Identity(2, 2), Eigen::VectorXd::Zero(2)));
  m.validate("bistable");
  write_model(m, path, Provenance{});
}

}  // namespace

TEST_CASE("an output that names an input is refused and the input is left as it was", "[cli][safety]") {
  Files fx;
  const std::string model_bytes = bytes_of(fx.model), input_bytes = bytes_of(fx.input);
  auto unchanged = [&](const test::CliResult& r, const std::string& out) {
    INFO(r.err);
    CHECK(r.code == 2);
    CHECK_THAT(r.err, Contains("same file as the input"));
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK(bytes_of(fx.model) == model_bytes);
    CHECK(bytes_of(fx.input) == input_bytes);
    CHECK_FALSE(fs::exists(out + ".partial"));
  };
  SECTION("forward: -o the model, and -o the input") {
    unchanged(test::run_cli({"forward", fx.model, fx.input, "-o", fx.model}), fx.model);
    unchanged(test::run_cli({"forward", fx.model, fx.input, "-o", fx.input}), fx.input);
  }
  SECTION("another spelling of the same file: ./, .., a symbolic link") {
    const std::string dotted = (fx.dir.path / "." / "sub" / ".." / "m.h5").string();
    fs::create_directories(fx.dir.path / "sub");
    unchanged(test::run_cli({"forward", fx.model, fx.input, "-o", dotted}), dotted);
    fs::create_symlink(fx.dir.path, fx.dir.path / "link");
    const std::string linked = fx.dir / "link/m.h5";
    unchanged(test::run_cli({"fixed-points", fx.model, "-o", linked, "--n-init", "4"}), linked);
  }
  SECTION("simulate --input-file, and an input given in the configuration file") {
    unchanged(test::run_cli({"simulate", fx.model, "--input-file", fx.input, "-o", fx.input, "--t-end", "2"}), fx.input);
    std::ofstream(fx.dir / "sim.toml") << "input_file = 'in.h5'\nt_end = 2.0\n";
    unchanged(test::run_cli({"simulate", fx.model, fx.dir / "sim.toml", "-o", fx.input}), fx.input);
  }
  SECTION("the output's .partial is an input") {
    fs::copy_file(fx.model, fx.dir / "x.h5.partial");
    const std::string before = bytes_of(fx.dir / "x.h5.partial");
    const auto r = test::run_cli({"info", fx.dir / "x.h5.partial"});
    REQUIRE(r.code == 0);
    const auto s = test::run_cli({"simulate", fx.dir / "x.h5.partial", "-o", fx.dir / "x.h5", "--t-end", "1"});
    CHECK(s.code == 2);
    CHECK_THAT(s.err, Contains("same file"));
    CHECK(bytes_of(fx.dir / "x.h5.partial") == before);
    CHECK_FALSE(fs::exists(fx.dir / "x.h5"));
  }
  SECTION("every command that writes: spectrum, continuation, sweep, init") {
    h5::File s = h5::File::create(fx.dir / "states.h5");
    std::vector<double> st(5, 0.0);
    s.write("states", {1, 5}, st.data());
    s.close();
    const std::string states_bytes = bytes_of(fx.dir / "states.h5");
    auto r = test::run_cli({"spectrum", fx.model, fx.dir / "states.h5", "-o", fx.dir / "states.h5"});
    CHECK(r.code == 2);
    CHECK(bytes_of(fx.dir / "states.h5") == states_bytes);
    unchanged(test::run_cli({"continuation", fx.model, "-o", fx.model, "--direction", "1,0"}), fx.model);
    std::ofstream(fx.dir / "sweep.toml") << "model_file = 'm.h5'\n[simulate]\nt_end = 1.0\n[grid]\nseed = [1, 2]\n";
    unchanged(test::run_cli({"sweep", fx.dir / "sweep.toml", "-o", fx.model}), fx.model);
    std::ofstream(fx.dir / "model.toml") << "input_size = 2\n[[layers]]\ncell = 'gru'\nhidden_size = 3\n";
    const std::string toml_bytes = bytes_of(fx.dir / "model.toml");
    r = test::run_cli({"init", fx.dir / "model.toml", "-o", fx.dir / "model.toml"});
    CHECK(r.code == 2);
    CHECK(bytes_of(fx.dir / "model.toml") == toml_bytes);
  }
}

TEST_CASE("runaway outputs are refused before they run", "[cli][safety]") {
  Files fx;
  const std::string out = fx.dir / "big.h5";
  SECTION("above the limit without --force") {
    // 2 samples x 10^6 trajectories x 5 states x 8 bytes per step; 300 samples: 12 GB
    const auto r = test::run_cli({"simulate", fx.model, "-o", out, "--mode", "discrete", "--steps", "300", "--batch",
                                  "1000000"});
    test::expect_clean_failure(r, out, {"-o", "GiB", "--force"});
  }
  SECTION("above the free disk space, even with --force") {
    const auto r = test::run_cli({"simulate", fx.model, "-o", out, "--t-end", "1e15", "--force"});
    test::expect_clean_failure(r, out, {"free"});
  }
  SECTION("a sweep counts all its runs") {
    std::ofstream(fx.dir / "sweep.toml") << "model_file = 'm.h5'\n[simulate]\nmode = 'discrete'\nsteps = 100\n"
                                         << "batch = 1000000\n[grid]\nseed = [1, 2, 3]\n";
    const auto r = test::run_cli({"sweep", fx.dir / "sweep.toml", "-o", out});
    test::expect_clean_failure(r, out, {"GiB", "--force"});
    CHECK_FALSE(fs::exists(out + ".runs/run_000000.h5"));
  }
}

TEST_CASE("SIGTERM stops simulate with a complete file saying where it stopped", "[cli][safety][signal]") {
  Files fx;
  const std::string out = fx.dir / "long.h5";
  const std::string exe = STACKDYN_EXE;
  std::vector<std::string> args = {exe, "simulate", fx.model, "-o", out, "--t-end", "1e7", "--dt-out", "10",
                                   "--method", "rk4", "--dt", "0.1"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  REQUIRE(posix_spawn(&pid, exe.c_str(), nullptr, nullptr, argv.data(), environ) == 0);
  // Wait until it writes (the .partial file exists), then a little more.
  for (int i = 0; i < 200 && !fs::exists(out + ".partial"); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  REQUIRE(kill(pid, SIGTERM) == 0);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 1);
  CHECK_FALSE(fs::exists(out + ".partial"));
  REQUIRE(fs::exists(out));
  const h5::File f = h5::File::open(out);
  const std::string st = f.attr_string("status");
  CHECK_THAT(st, Catch::Matchers::StartsWith("interrupted at t = "));
  // The file is whole: time and states agree, and the status names the last sample.
  const auto time = f.read("time").data;
  REQUIRE(time.size() >= 1);
  CHECK(f.shape("states")[1] == time.size());
  CHECK(st == "interrupted at t = " + format_number(time.back()));
  CHECK(time.back() < 1e7);
}

TEST_CASE("numbers reach the configuration and the computation with every digit", "[cli][numbers]") {
  Files fx;
  const double a = 1e-7, b = 0.1234567891;
  SECTION("format_number is the shortest text that reads back exactly") {
    CHECK(format_number(a) == "1e-07");
    CHECK(format_number(b) == "0.1234567891");
    CHECK(toml_number(2.0) == "2.0");
    CHECK(std::stod(format_number(0.1 + 0.2)) == 0.1 + 0.2);
  }
  SECTION("simulate: --tau, --rtol, --dt-out, --input-constant") {
    const std::string out = fx.dir / "s.h5";
    const auto r = test::run_cli({"simulate", fx.model, "-o", out, "--tau", "1e-7,0.1234567891", "--rtol", "1e-7",
                                  "--t-end", "0.1234567891", "--dt-out", "0.1234567891", "--input-constant",
                                  "1e-7,0.1234567891", "--method", "rosenbrock4"});
    INFO(r.err);
    REQUIRE(r.code == 0);
    const Config c = recorded(out);
    CHECK(c.get_double_list("tau") == std::vector<double>{a, b});
    CHECK(c.get_double("rtol") == a);
    CHECK(c.get_double("t_end") == b);
    CHECK(c.get_double_list("input.constant") == std::vector<double>{a, b});
    const h5::File f = h5::File::open(out);
    CHECK(f.read("tau").data == std::vector<double>{a, b});  // used, not only recorded
    CHECK(f.attr_double("rtol") == a);
    CHECK(f.read("time").data.back() == b);
  }
  SECTION("fixed-points, spectrum and continuation") {
    const std::string fp = fx.dir / "fp.h5";
    auto r = test::run_cli({"fixed-points", fx.model, "-o", fp, "--q-tol", "1e-7", "--noise", "0.1234567891",
                            "--n-init", "8", "--mode", "continuous", "--tau", "0.1234567891"});
    INFO(r.err);
    REQUIRE(r.code == 0);
    Config c = recorded(fp);
    CHECK(c.get_double("q_tol") == a);
    CHECK(c.get_double("noise") == b);
    CHECK(h5::File::open(fp).attr_double("q_tol") == a);
    CHECK(h5::File::open(fp).read("tau").data == std::vector<double>{b, b});
    const std::string sp = fx.dir / "sp.h5";
    r = test::run_cli({"spectrum", fx.model, fp, "-o", sp, "--mode", "continuous", "--tau", "1e-7"});
    REQUIRE(r.code == 0);
    CHECK(recorded(sp).get_double_list("tau") == std::vector<double>{a});
    CHECK(h5::File::open(sp).read("tau").data == std::vector<double>{a, a});
    const std::string co = fx.dir / "co.h5";
    r = test::run_cli({"continuation", fx.model, "-o", co, "--direction", "1e-7,0.1234567891", "--p-max",
                       "0.1234567891", "--ds", "1e-7", "--max-steps", "3", "--n-init", "4"});
    REQUIRE(r.code == 0);
    c = recorded(co);
    CHECK(c.get_double_list("direction") == std::vector<double>{a, b});
    CHECK(c.get_double("ds") == a);
    CHECK(c.get_double("p_max") == b);
    CHECK(h5::File::open(co).read("direction").data == std::vector<double>{a, b});
  }
  SECTION("demo: --t-end") {
    const std::string out = fx.dir / "demo.h5";
    const auto r = test::run_cli({"demo", "-o", out, "--t-end", "0.1234567891", "--steps", "3", "--batch", "1"});
    INFO(r.err);
    REQUIRE(r.code == 0);
    CHECK(recorded(out).get_double("t_end") == b);
    CHECK(h5::File::open(out).group("continuous").read("time").data.back() == b);
    CHECK(read_model_spec(out).parameter_count() == 10688);  // the demo's file names a model
  }
  SECTION("sweep: --set into the base simulation") {
    std::ofstream(fx.dir / "sweep.toml") << "model_file = 'm.h5'\n[simulate]\nt_end = 1.0\n[grid]\nrtol = [1e-7, 0.1234567891]\n";
    const std::string out = fx.dir / "sw.h5";
    const auto r = test::run_cli({"sweep", fx.dir / "sweep.toml", "-o", out, "--set", "dt_out=0.1234567891"});
    INFO(r.err);
    REQUIRE(r.code == 0);
    const h5::File f = h5::File::open(out);
    CHECK(f.read("time").data[1] == b);
    CHECK(f.read("parameters").data == std::vector<double>{a, b});
  }
}

TEST_CASE("one precedence: flag > --set > configuration file > default", "[cli][config]") {
  Files fx;
  const std::string out = fx.dir / "s.h5";
  std::ofstream(fx.dir / "sim.toml") << "t_end = 3.0\n";
  auto t_end = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {"simulate", fx.model, "-o", out};
    args.insert(args.end(), extra.begin(), extra.end());
    fs::remove(out);
    const auto r = test::run_cli(args);
    INFO(r.err);
    REQUIRE(r.code == 0);
    return recorded(out).get_double("t_end");
  };
  CHECK(t_end({}) == 100.0);
  CHECK(t_end({fx.dir / "sim.toml"}) == 3.0);
  CHECK(t_end({fx.dir / "sim.toml", "--set", "t_end=2"}) == 2.0);
  CHECK(t_end({fx.dir / "sim.toml", "--set", "t_end=2", "--t-end", "1"}) == 1.0);
  CHECK(t_end({"--t-end", "1", "--set", "t_end=2"}) == 1.0);  // the order on the line does not matter

  SECTION("fixed-points: --input-constant beats --set input.constant") {
    const std::string fp = fx.dir / "fp.h5";
    const auto r = test::run_cli({"fixed-points", fx.model, "-o", fp, "--n-init", "4", "--set", "input.constant=[5, 5]",
                                  "--input-constant", "0.5,0.25"});
    INFO(r.err);
    REQUIRE(r.code == 0);
    CHECK(h5::File::open(fp).read("input_constant").data == std::vector<double>{0.5, 0.25});
  }
}

TEST_CASE("a flag that does not apply in the chosen mode is an error", "[cli][config]") {
  Files fx;
  const std::string out = fx.dir / "o.h5";
  test::expect_clean_failure(test::run_cli({"simulate", fx.model, "-o", out, "--steps", "10"}), out,
                             {"--steps", "discrete mode", "continuous"});
  test::expect_clean_failure(test::run_cli({"simulate", fx.model, "-o", out, "--mode", "discrete", "--t-end", "3"}),
                             out, {"--t-end", "continuous mode"});
  test::expect_clean_failure(test::run_cli({"fixed-points", fx.model, "-o", out, "--tau", "2"}), out,
                             {"--tau", "continuous mode", "discrete"});
  // the mode may come from the configuration file
  std::ofstream(fx.dir / "fp.toml") << "mode = 'continuous'\n";
  const auto r = test::run_cli({"fixed-points", fx.model, fx.dir / "fp.toml", "-o", out, "--tau", "2", "--n-init", "4"});
  INFO(r.err);
  CHECK(r.code == 0);
}

TEST_CASE("one vocabulary: input.constant in every command, continuation takes a configuration", "[cli][config]") {
  Files fx;
  std::ofstream(fx.dir / "c.toml") << "mode = 'discrete'\nn_init = 4\np_min = -0.5\nds = 0.05\nmax_steps = 7\n"
                                   << "direction = [1.0, 0.0]\n[input]\nconstant = [0.1, 0.2]\n";
  const std::string out = fx.dir / "c.h5";
  const auto r = test::run_cli({"continuation", fx.model, fx.dir / "c.toml", "-o", out, "--set", "p_max=0.5"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  const Config c = recorded(out);
  CHECK(c.get_double("p_min") == -0.5);
  CHECK(c.get_double("p_max") == 0.5);
  CHECK(c.get_int("max_steps") == 7);
  CHECK(h5::File::open(out).read("input_constant").data == std::vector<double>{0.1, 0.2});
  CHECK(h5::File::open(out).attr_double("p_min") == -0.5);
  // p_start defaults to the model's own p (0 on the input line), inside [p_min, p_max]
  CHECK(h5::File::open(out).attr_double("p_start") == 0.0);
  // the same [input] table in fixed-points and simulate
  const std::string fp = fx.dir / "fp.h5";
  std::ofstream(fx.dir / "fp.toml") << "n_init = 4\n[input]\nconstant = [0.1, 0.2]\n";
  REQUIRE(test::run_cli({"fixed-points", fx.model, fx.dir / "fp.toml", "-o", fp}).code == 0);
  CHECK(h5::File::open(fp).read("input_constant").data == std::vector<double>{0.1, 0.2});
}

TEST_CASE("paths in a configuration file are relative to that file", "[cli][config]") {
  Files fx;
  fs::create_directories(fx.dir.path / "runs");
  {
    h5::File f = h5::File::create(fx.dir / "runs/in.h5");
    std::vector<double> x(1 * 6 * 2, 0.2);
    f.write("inputs", {1, 6, 2}, x.data());
  }
  std::ofstream(fx.dir / "runs/sim.toml") << "mode = 'discrete'\nsteps = 5\ninput_file = 'in.h5'\n";
  const std::string out = fx.dir / "s.h5";
  const auto r = test::run_cli({"simulate", fx.model, fx.dir / "runs/sim.toml", "-o", out});
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(fs::equivalent(h5::File::open(out).attr_string("input_path"), fx.dir / "runs/in.h5"));
  // a sweep's model_file likewise
  fs::copy_file(fx.model, fx.dir / "runs/m2.h5");
  fs::copy_file(fx.model, fx.dir / "runs/m3.h5");
  std::ofstream(fx.dir / "runs/sweep.toml") << "model_file = 'm2.h5'\n[simulate]\nt_end = 1.0\n[grid]\n"
                                             << "model_file = ['m2.h5', 'm3.h5']\n";
  const auto s = test::run_cli({"sweep", fx.dir / "runs/sweep.toml", "-o", fx.dir / "sw.h5"});
  INFO(s.err);
  CHECK(s.code == 0);
}

TEST_CASE("one way to name a model: file, result file with a model, FILE.h5:/group", "[cli][model]") {
  Files fx;
  const Model m = read_model(fx.model);
  // a result file holding the model at /model (as demo.h5), another at /final_model (a
  // training run), a third only at a group of our choosing
  for (const auto& [file, group] : {std::pair{"demo_like.h5", "model"}, {"run.h5", "final_model"},
                                    {"deep.h5", "analysis/models/best"}}) {
    h5::File f = h5::File::create(fx.dir / file);
    f.set_attr("status", std::string("complete"));
    h5::Group g = f.create_group(group);
    write_model(m, g, Provenance{});
  }
  for (const std::string& spec : {fx.model, fx.dir / "demo_like.h5", fx.dir / "run.h5", fx.dir / "deep.h5:/analysis/models/best",
                                 fx.dir / "run.h5:/final_model"}) {
    INFO(spec);
    const Model r = read_model_spec(spec);
    CHECK(r.parameter_count() == m.parameter_count());
    CHECK(r.layers[1].fwd.w_hh == m.layers[1].fwd.w_hh);
    const auto info = test::run_cli({"info", spec});
    CHECK(info.code == 0);
    CHECK_THAT(info.out, Contains("parameters: " + std::to_string(m.parameter_count())));
    const std::string out = fx.dir / "o.h5";
    fs::remove(out);
    const auto sim = test::run_cli({"simulate", spec, "-o", out, "--t-end", "1"});
    INFO(sim.err);
    CHECK(sim.code == 0);
  }
  const auto bad = test::run_cli({"info", fx.dir / "deep.h5:/nowhere"});
  CHECK(bad.code == 2);
  CHECK_THAT(bad.err, Contains("nowhere"));
  const auto none = test::run_cli({"info", fx.dir / "deep.h5"});
  CHECK(none.code == 2);
  CHECK_THAT(none.err, Contains("deep.h5"));
}

TEST_CASE("messages: unknown command, unknown flag, --set errors, -q after the command", "[cli][messages]") {
  Files fx;
  const std::string out = fx.dir / "o.h5";
  auto r = test::run_cli({"frobnicate"});
  CHECK(r.code == 2);
  CHECK_THAT(r.err, Contains("unknown command 'frobnicate'"));
  CHECK_THAT(r.err, Contains("simulate"));
  CHECK_THAT(r.err, Contains("fixed-points"));

  r = test::run_cli({"simulate", fx.model, "-o", out, "--tua", "2"});
  test::expect_clean_failure(r, out, {"'--tua'", "did you mean '--tau'", "usage: stackdyn simulate MODEL"});

  r = test::run_cli({"fixed-points", fx.model, "-o", out, "--set", "q_tol=-1"});
  test::expect_clean_failure(r, out, {"--set 'q_tol=-1'", "q_tol"});
  CHECK_THAT(r.err, !Contains("fixed-points options"));
  std::ofstream(fx.dir / "fp.toml") << "n_init = 4\n";
  r = test::run_cli({"fixed-points", fx.model, fx.dir / "fp.toml", "-o", out, "--set", "n_init=0"});
  test::expect_clean_failure(r, out, {"--set 'n_init=0'"});
  CHECK_THAT(r.err, !Contains("fp.toml"));
  r = test::run_cli({"fixed-points", fx.model, "-o", out, "--set", "n_inti=3"});
  test::expect_clean_failure(r, out, {"--set 'n_inti=3'", "unknown key"});

  r = test::run_cli({"simulate", fx.model, "-o", out, "--t-end", "1", "-q"});
  CHECK(r.code == 0);
  r = test::run_cli({"info", fx.model, "--quiet"});
  CHECK(r.code == 0);
}

TEST_CASE("summaries say '1 direction'", "[cli][messages]") {
  test::ScratchDir dir("direction");
  write_bistable(dir / "b.h5");
  const auto r = test::run_cli({"fixed-points", dir / "b.h5", "-o", dir / "fp.h5", "--n-init", "200"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK_THAT(r.out, Contains("unstable in 1 direction,"));
  CHECK_THAT(r.out, !Contains("1 directions"));
}

TEST_CASE("progress: a line every few seconds when stderr is not a terminal", "[cli][messages]") {
  std::ostringstream out, err;
  cli::Context log{out, err, "stackdyn test", false, false};
  {
    cli::Progress p(log, "simulate", 0.0);
    p(0.25, "t = 25");
    p(0.5, "t = 50");
  }
  const std::string lines = err.str();
  CHECK_THAT(lines, Contains("simulate: 25% (t = 25)"));
  CHECK(std::count(lines.begin(), lines.end(), '\n') == 2);
  std::ostringstream err2;
  cli::Context slow{out, err2, "stackdyn test", false, false};
  {
    cli::Progress p(slow, "simulate", 5.0);
    p(0.5);  // within the first five seconds: nothing
  }
  CHECK(err2.str().empty());
  std::ostringstream err3;
  cli::Context quiet{out, err3, "stackdyn test", true, false};
  {
    cli::Progress p(quiet, "simulate", 0.0);
    p(0.5);
  }
  CHECK(err3.str().empty());
}

TEST_CASE("Config: errors name where a value came from; entries and subtables", "[config][cli]") {
  Config c = Config::from_string("a = 1\n[t]\n'x.y[0]' = [0.5, 2.0]\nb = 'q'\n", "c.toml");
  c.set("n", "-3", "--set 'n=-3'");
  CHECK_THAT(test::message_of([&] { (void)c.get_int("n", Range::positive()); }),
             Catch::Matchers::StartsWith("--set 'n=-3': key 'n': expected a positive integer"));
  CHECK_THAT(test::message_of([&] { (void)c.get_string("a"); }), Catch::Matchers::StartsWith("c.toml: key 'a'"));
  const auto e = c.entries("t");
  REQUIRE(e.size() == 2);
  CHECK(e[0] == std::pair<std::string, std::string>{"b", "\"q\""});
  CHECK(e[1] == std::pair<std::string, std::string>{"x.y[0]", "[0.5, 2.0]"});
  const Config t = c.subtable("t", "c.toml [t]");
  CHECK(t.get_string("b") == "q");
  CHECK(t.name() == "c.toml [t]");
  CHECK(Config::quote("a\"b") == "\"a\\\"b\"");
}

TEST_CASE("option tables: defaults by mode, paths relative to the file", "[config][cli]") {
  const OptionTable table = {{"--mode", "mode", ValueKind::Text, "\"a\"", "", ""},
                             {"--x", "x", ValueKind::Number, "1.5", "", "a"},
                             {"--y", "y", ValueKind::Number, "2.5", "", "b"},
                             {"", "file", ValueKind::Path, "", "", ""}};
  Config c = Config::from_string("file = 'in.h5'\n", "c.toml");
  fill_defaults(c, table);
  CHECK(c.get_double("x") == 1.5);
  CHECK_FALSE(c.has("y"));  // not in mode a
  CHECK(c.get_string("mode") == "a");
  resolve_paths(c, table, "/data/run");
  CHECK(c.get_string("file") == "/data/run/in.h5");
  Config d = Config::from_string("mode = 'b'\nfile = '/abs/in.h5'\n", "d.toml");
  fill_defaults(d, table);
  resolve_paths(d, table, "/data/run");
  CHECK(d.get_double("y") == 2.5);
  CHECK_FALSE(d.has("x"));
  CHECK(d.get_string("file") == "/abs/in.h5");
  CHECK(option_keys(table) == std::vector<std::string>{"mode", "x", "y", "file"});
}

TEST_CASE("a stopped simulation writes what it has, with a status saying where", "[simulate][safety]") {
  test::ScratchDir dir("stop");
  const Model m = test::random_model(2, {{CellType::RnnTanh, 3}, {CellType::Lstm, 2}}, 3);
  for (const bool continuous : {false, true}) {
    INFO((continuous ? "continuous" : "discrete"));
    SimulationConfig c;
    c.mode = continuous ? TimeView::Continuous : TimeView::Discrete;
    c.steps = 1000;
    c.every = 10;
    c.integrator.t_end = 1000;
    c.integrator.dt_out = 10;
    c.batch = 2;
    int asked = 0;
    SimulationHooks hooks;
    hooks.stop = [&] { return ++asked == 5; };  // a signal after the fifth sample
    h5::AtomicOutput out(dir / "s.h5");
    const SimulationResult r = simulate(m, c, out.file(), hooks);
    out.commit();
    const h5::File f = h5::File::open(dir / "s.h5");
    const auto time = f.read("time").data;
    // the initial state, then five samples: the stop is asked after each sample but the first
    REQUIRE(time.size() == 6);
    CHECK(time.back() == 50.0);
    CHECK(f.shape("states") == h5::Shape{2, 6, 7});
    CHECK(f.attr_string("status") == (continuous ? "interrupted at t = 50" : "interrupted at step 50"));
    CHECK(r.interrupted == f.attr_string("status"));
    CHECK(f.group("statistics").attr_double("t_reached") == 50.0);
    // the estimate counts what an uninterrupted run writes: 101 samples of 2 x 7 states and a time
    CHECK(simulation_output_bytes(c, m) >= 8.0 * 101 * 15);
    CHECK(simulation_output_bytes(c, m) <= 8.0 * 102 * 15);
  }
}
