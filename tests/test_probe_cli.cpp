// The probe commands (lyapunov, timescales, gradient-flow, rescale) through the option
// tables every command shares: a configuration file, --set and flags with one precedence, a
// model named FILE.h5:/group, the recorded configuration holding every value used, and the
// flags that do not apply in the chosen mode refused.
#include "cli_helpers.hpp"
#include "probe_models.hpp"

#include <catch2/catch.hpp>
#include <stackdyn/core/config.hpp>
#include <stackdyn/core/h5.hpp>
#include <stackdyn/model/model_io.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <tuple>

using namespace stackdyn;
using Eigen::MatrixXd;
using Eigen::VectorXd;

namespace {

namespace fs = std::filesystem;

Config recorded(const std::string& path) {
  return Config::from_string(h5::File::open(path).attr_string("config"), path);
}

// A tanh stack without biases (rest point 0, where each layer's block is its weight_hh),
// written to `file` at the group `group` of a result file.
Model write_in_group(const std::string& file, const std::string& group) {
  const Model m = test::contracting_tanh_stack({3, 4}, {0.5, 0.9}, 2);
  h5::File f = h5::File::create(file);
  f.set_attr("status", std::string("complete"));
  h5::Group g = f.create_group(group);
  write_model(m, g, Provenance{});
  return m;
}

}  // namespace

TEST_CASE("lyapunov: configuration file < --set < flag, a model group, the known spectrum", "[probes][cli][config]") {
  test::ScratchDir dir("probe_cli_lyapunov");
  const Model m = write_in_group(dir / "res.h5", "analysis/stack");
  const std::string spec = dir / "res.h5:/analysis/stack", out = dir / "ly.h5";
  std::ofstream(dir / "ly.toml") << "steps = 300\ntransient = 50\nbatch = 2\nseed = 5\n";
  const auto r = test::run_cli({"lyapunov", spec, dir / "ly.toml", "-o", out, "--set", "steps=500", "--steps", "3000"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  const Config c = recorded(out);
  CHECK(c.get_int("steps") == 3000);
  CHECK(c.get_double("transient") == 50.0);
  CHECK(c.get_int("batch") == 2);
  CHECK(c.get_double("reorthonormalize_every") == 1.0);  // a default, recorded
  CHECK_FALSE(c.has("t_end"));                            // continuous mode's, not used
  CHECK_FALSE(c.has("tau"));
  CHECK(h5::File::open(out).read("exponents_per_sample").shape == h5::Shape{2, 7});

  // No input, no biases: the exponents are log|eig| of the layers' weight blocks.
  VectorXd expected(m.state_dim());
  Eigen::Index at = 0;
  for (const auto& layer : m.layers) {
    const Eigen::VectorXcd ev = test::eigenvalues(layer.fwd.w_hh);
    for (Eigen::Index i = 0; i < ev.size(); ++i) expected(at++) = std::log(std::abs(ev(i)));
  }
  expected = test::descending(expected);
  const VectorXd got = h5::File::open(out).read_vector("exponents");
  REQUIRE(got.size() == expected.size());
  for (Eigen::Index i = 0; i < got.size(); ++i) CHECK(got(i) == Approx(expected(i)).margin(1e-2));
}

TEST_CASE("timescales and gradient-flow: recorded grid, model groups, paths relative to the configuration",
          "[probes][cli][config]") {
  test::ScratchDir dir("probe_cli_config");
  const Model m = write_in_group(dir / "res.h5", "stack");
  const std::string spec = dir / "res.h5:/stack";

  SECTION("timescales: the log grid from f_max and n_freq, the defaults recorded, the blocks' radii") {
    const std::string out = dir / "ts.h5";
    std::ofstream(dir / "ts.toml") << "f_max = 0.3\nn_freq = 3\nperiods = 4\ntransient_periods = 4\n";
    const auto r = test::run_cli({"timescales", spec, dir / "ts.toml", "-o", out});
    INFO(r.err);
    REQUIRE(r.code == 0);
    const Config c = recorded(out);
    CHECK(c.get_double("f_min") == 0.005);
    CHECK(c.get_double("f_max") == 0.3);
    CHECK(c.get_int("n_freq") == 3);
    CHECK(c.get_double("amplitude") == 0.01);
    const h5::File f = h5::File::open(out);
    const VectorXd fr = f.read_vector("frequencies");
    REQUIRE(fr.size() == 3);
    for (int i = 0; i < 3; ++i) CHECK(fr(i) == Approx(0.005 * std::pow(0.3 / 0.005, i / 2.0)));
    // At the rest point 0 each layer's block is its weight_hh, whose radius was set.
    const VectorXd rho = f.read_vector("spectral_radius");
    CHECK(rho(0) == Approx(0.5));
    CHECK(rho(1) == Approx(0.9));
  }

  SECTION("gradient-flow: an input file named in a configuration elsewhere equals the flag's") {
    fs::create_directories(dir.path / "cfg");
    {
      h5::File f = h5::File::create(dir / "cfg/in.h5");
      std::vector<double> x(2 * 10, 0.0);
      for (std::size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.7 * static_cast<double>(i));
      f.write("inputs", {2, 10, 1}, x.data());
    }
    std::ofstream(dir / "cfg/gf.toml") << "input_file = 'in.h5'\nsteps = 6\nsample = 1\n";
    const std::string a = dir / "gf_a.h5", b = dir / "gf_b.h5";
    const auto ra = test::run_cli({"gradient-flow", spec, dir / "cfg/gf.toml", "-o", a});
    INFO(ra.err);
    REQUIRE(ra.code == 0);
    const auto rb = test::run_cli({"gradient-flow", dir / "res.h5:/stack", "-o", b, "--input-file", dir / "cfg/in.h5",
                                   "--steps", "6", "--sample", "1"});
    INFO(rb.err);
    REQUIRE(rb.code == 0);
    const MatrixXd na = h5::File::open(a).read_matrix("jacobian_norms");
    CHECK(na.rows() == 6);
    CHECK(na == h5::File::open(b).read_matrix("jacobian_norms"));
    CHECK(recorded(a).get_string("mode") == "discrete");
  }
}

TEST_CASE("probe commands refuse flags of the other mode, unknown keys and missing values", "[probes][cli][errors]") {
  test::ScratchDir dir("probe_cli_errors");
  const std::string model = dir / "m.h5", out = dir / "o.h5";
  write_model(test::contracting_tanh_stack({3, 4}, {0.5, 0.9}, 2), model, Provenance{});
  auto run = [&](std::vector<std::string> a) {
    a.insert(a.begin() + 2, {"-o", out});
    return test::run_cli(a);
  };
  test::expect_clean_failure(run({"lyapunov", model, "--t-end", "5"}), out, {"--t-end", "continuous mode"});
  test::expect_clean_failure(run({"lyapunov", model, "--mode", "continuous", "--steps", "10"}), out,
                             {"--steps", "discrete mode"});
  test::expect_clean_failure(run({"lyapunov", model, "--transient", "2.5"}), out, {"transient", "whole number"});
  test::expect_clean_failure(run({"timescales", model, "--tau", "2"}), out, {"--tau", "continuous mode"});
  test::expect_clean_failure(run({"timescales", model, "--samples-per-period", "32"}), out,
                             {"--samples-per-period", "continuous mode"});
  test::expect_clean_failure(run({"timescales", model, "--frequencies", "0.1", "--f-min", "0.01"}), out,
                             {"frequencies", "f_min"});
  std::ofstream(dir / "bad.toml") << "stepz = 3\n";
  test::expect_clean_failure(run({"lyapunov", model, dir / "bad.toml"}), out, {"stepz"});
  test::expect_clean_failure(run({"gradient-flow", model, "--set", "mode='continuous'"}), out, {"mode", "discrete"});
  test::expect_clean_failure(run({"gradient-flow", model, "--mode", "discrete"}), out, {"--mode"});
  test::expect_clean_failure(run({"rescale", model}), out, {"--radius"});
}

TEST_CASE("lyapunov and gradient-flow start from --fixed-point FILE:INDEX or --state FILE", "[probes][cli][start]") {
  test::ScratchDir dir("probe_cli_start");
  const std::string model = dir / "m.h5", fp = dir / "fp.h5", st = dir / "s.h5";
  const Model m = test::contracting_tanh_stack({3, 4}, {0.5, 0.9}, 2);
  write_model(m, model, Provenance{});
  const int N = m.state_dim();
  MatrixXd pts(2, N);
  for (int i = 0; i < N; ++i) {
    pts(0, i) = 0.1 * i;
    pts(1, i) = -0.05 * i + 0.2;
  }
  {
    h5::File f = h5::File::create(fp);
    f.create_group("fixed_points").write("states", pts);
    h5::File s = h5::File::create(st);
    s.write("state", VectorXd(pts.row(0).transpose()));
  }
  SECTION("gradient-flow: the trajectory starts at the given state") {
    const std::string out = dir / "gf.h5";
    for (const auto& [flag, value, row] : {std::tuple<std::string, std::string, int>{"--fixed-point", fp + ":1", 1},
                                           {"--state", st, 0}}) {
      const auto r = test::run_cli({"gradient-flow", model, "-o", out, "--steps", "4", flag, value});
      INFO(r.err);
      REQUIRE(r.code == 0);
      const h5::File f = h5::File::open(out);
      CHECK(VectorXd(f.read_matrix("states").row(0).transpose()) == VectorXd(pts.row(row).transpose()));
      CHECK(f.attr_string("initial_state") == flag + " " + value);
    }
  }
  SECTION("lyapunov: one trajectory from the given state") {
    const std::string out = dir / "ly.h5";
    const auto r = test::run_cli({"lyapunov", model, "-o", out, "--steps", "50", "--fixed-point", fp + ":0"});
    INFO(r.err);
    REQUIRE(r.code == 0);
    const h5::File f = h5::File::open(out);
    CHECK(f.read_matrix("initial_states") == MatrixXd(pts.topRows(1)));
    CHECK_THAT(f.attr_string("source"), Catch::Matchers::Contains("--fixed-point " + fp + ":0"));
  }
  SECTION("refused: both ways, a start with initial states, a wrong width, an index beyond the file") {
    const std::string out = dir / "o.h5";
    test::expect_clean_failure(test::run_cli({"lyapunov", model, "-o", out, "--state", st, "--fixed-point", fp + ":0"}),
                               out, {"fixed_point", "one or the other"});
    test::expect_clean_failure(
        test::run_cli({"lyapunov", model, "-o", out, "--state", st, "--initial-states", fp}), out, {"state", "one start"});
    test::expect_clean_failure(test::run_cli({"gradient-flow", model, "-o", out, "--fixed-point", fp + ":5"}), out,
                               {"index 5", "0 <= INDEX < 2"});
    const std::string wide = dir / "wide.h5";
    {
      h5::File w = h5::File::create(wide);
      w.write("state", VectorXd(VectorXd::Zero(N + 1)));
    }
    test::expect_clean_failure(test::run_cli({"gradient-flow", model, "-o", out, "--state", wide}), out, {"state_dim"});
  }
}
