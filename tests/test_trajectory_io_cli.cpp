// The toolkit reads its own outputs: forward/simulate trajectories as fixed-point starts and
// spectrum states (--every K); simulate's input file with torch's h0/c0; the input a run was
// driven by, saved beside its states; per-unit state names and the time axis as dimension
// scales.
#include "cli_helpers.hpp"
#include "random_model.hpp"

#include <catch2/catch.hpp>
#include <stackdyn/core/h5.hpp>
#include <stackdyn/model/model_io.hpp>

#include <cmath>
#include <numbers>

using namespace stackdyn;
using Catch::Matchers::Contains;

namespace {

struct Fixture {
  test::ScratchDir dir{"trajectory_io"};
  std::string model = dir / "model.h5", in = dir / "in.h5";
  static constexpr std::size_t B = 2, T = 7, D = 2, H = 3;
  std::vector<double> x, h0, c0;
  Fixture() {
    // two LSTM layers of one width (torch's h0/c0 layout applies), state [h0; c0; h1; c1]
    write_model(test::random_model(2, {{CellType::Lstm, 3}, {CellType::Lstm, 3}}, 4), model, Provenance{});
    h5::File f = h5::File::create(in);
    for (std::size_t i = 0; i < B * T * D; ++i) x.push_back(std::sin(0.7 * static_cast<double>(i)));
    for (std::size_t i = 0; i < 2 * B * H; ++i) {
      h0.push_back(0.1 * static_cast<double>(i) - 0.5);
      c0.push_back(0.05 * static_cast<double>(i));
    }
    f.write("inputs", {B, T, D}, x.data());
    f.write("h0", {2, B, H}, h0.data());
    f.write("c0", {2, B, H}, c0.data());
  }
  test::CliResult run(std::vector<std::string> args) const {
    const auto r = test::run_cli(args);
    INFO(r.err);
    REQUIRE(r.code == 0);
    return r;
  }
};

}  // namespace

TEST_CASE("simulate --input-file takes h0/c0 as forward does, and saves the input beside the states",
          "[simulate][cli][trajectories]") {
  Fixture fx;
  const std::string sim = fx.dir / "sim.h5", fwd = fx.dir / "fwd.h5";
  fx.run({"simulate", fx.model, "-o", sim, "--mode", "discrete", "--steps", "6", "--input-file", fx.in});
  fx.run({"forward", fx.model, fx.in, "-o", fwd});
  const h5::File s = h5::File::open(sim), f = h5::File::open(fwd);
  // s0 = [h0[0]; c0[0]; h0[1]; c0[1]] per sample
  const auto s0 = s.read("s0");
  REQUIRE(s0.shape == h5::Shape{2, 12});
  for (std::size_t b = 0; b < 2; ++b)
    for (std::size_t l = 0; l < 2; ++l)
      for (std::size_t i = 0; i < 3; ++i) {
        CHECK(s0.data[b * 12 + l * 6 + i] == fx.h0[(l * 2 + b) * 3 + i]);
        CHECK(s0.data[b * 12 + l * 6 + 3 + i] == fx.c0[(l * 2 + b) * 3 + i]);
      }
  // the same steps from the same state: simulate's state k+1 is forward's state after step k
  const auto st = s.read("states"), fs = f.read("states");
  REQUIRE(st.shape == h5::Shape{2, 7, 12});
  REQUIRE(fs.shape == h5::Shape{2, 7, 12});
  double worst = 0;
  for (std::size_t b = 0; b < 2; ++b)
    for (std::size_t k = 0; k < 6; ++k)
      for (std::size_t n = 0; n < 12; ++n)
        worst = std::max(worst, std::abs(st.data[(b * 7 + k + 1) * 12 + n] - fs.data[(b * 7 + k) * 12 + n]));
  CHECK(worst < 1e-13);
  // inputs: x_k of the file at output k (the step leaving s_k reads it)
  const auto xs = s.read("inputs");
  REQUIRE(xs.shape == h5::Shape{2, 7, 2});
  for (std::size_t b = 0; b < 2; ++b)
    for (std::size_t k = 0; k < 7; ++k)
      for (std::size_t c = 0; c < 2; ++c) CHECK(xs.data[(b * 7 + k) * 2 + c] == fx.x[(b * 7 + k) * 2 + c]);
  // dimension scales: time on the time axis, per-unit names on the state axis
  CHECK(s.attached_scales("states", 1) == std::vector<std::string>{"/time"});
  CHECK(s.attached_scales("inputs", 1) == std::vector<std::string>{"/time"});
  CHECK(s.attached_scales("states", 2) == std::vector<std::string>{"/state_names"});
  CHECK(f.attached_scales("states", 2) == std::vector<std::string>{"/state_names"});
  const auto names = s.read_strings("state_names");
  REQUIRE(names.size() == 12);
  CHECK(names[0] == "layer0.h[0]");
  CHECK(names[3] == "layer0.c[0]");
  CHECK(names[8] == "layer1.h[2]");
  CHECK(names[11] == "layer1.c[2]");

  SECTION("continuous view: a sinusoid's value at each output time") {
    const std::string c = fx.dir / "cont.h5";
    fx.run({"simulate", fx.model, "-o", c, "--t-end", "3", "--dt-out", "0.5", "--set",
            "input.sinusoids=[{channel=1, amplitude=0.5, frequency=0.1}]"});
    const h5::File g = h5::File::open(c);
    const auto t = g.read("time").data;
    const auto xi = g.read("inputs");
    REQUIRE(xi.shape == h5::Shape{1, t.size(), 2});
    for (std::size_t k = 0; k < t.size(); ++k) {
      CHECK(xi.data[k * 2] == 0.0);
      CHECK(xi.data[k * 2 + 1] == Approx(0.5 * std::sin(2 * std::numbers::pi * 0.1 * t[k])).margin(1e-15));
    }
  }
  SECTION("bad initial states: one line, no file") {
    const std::string bad = fx.dir / "bad.h5", out = fx.dir / "o.h5";
    {
      h5::File b = h5::File::create(bad);
      b.write("inputs", {2, 7, 2}, fx.x.data());
      b.write("h0", {1, 2, 3}, fx.h0.data());
    }
    test::expect_clean_failure(
        test::run_cli({"simulate", fx.model, "-o", out, "--mode", "discrete", "--input-file", bad}), out,
        {"bad.h5", "'h0'", "num_layers = 2"});
    {
      h5::File b = h5::File::open_rw(bad);
      b.remove("h0");
      std::vector<double> z(24, 0.0);
      b.write("s0", {2, 12}, z.data());
      b.write("h0", {2, 2, 3}, fx.h0.data());
    }
    test::expect_clean_failure(
        test::run_cli({"simulate", fx.model, "-o", out, "--mode", "discrete", "--input-file", bad}), out,
        {"bad.h5", "either 's0' or 'h0'/'c0'"});
  }
}

TEST_CASE("forward and simulate trajectories as fixed-point starts and spectrum states, with --every",
          "[fixed-points][cli][trajectories]") {
  Fixture fx;
  const std::string fwd = fx.dir / "fwd.h5", fp = fx.dir / "fp.h5", sp = fx.dir / "sp.h5";
  fx.run({"forward", fx.model, fx.in, "-o", fwd});
  const auto traj = h5::File::open(fwd).read("states");  // (2, 7, 12)
  fx.run({"fixed-points", fx.model, "-o", fp, "--initial-states", fwd, "--every", "3"});
  // times 0, 3, 6 of each trajectory, trajectory by trajectory
  const auto init = h5::File::open(fp).read("starts/initial");
  REQUIRE(init.shape == h5::Shape{6, 12});
  const std::size_t picks[6][2] = {{0, 0}, {0, 3}, {0, 6}, {1, 0}, {1, 3}, {1, 6}};
  for (std::size_t j = 0; j < 6; ++j)
    for (std::size_t n = 0; n < 12; ++n)
      CHECK(init.data[j * 12 + n] == traj.data[(picks[j][0] * 7 + picks[j][1]) * 12 + n]);
  CHECK(h5::File::open(fp).attr_int("initial_states_every") == 3);

  fx.run({"spectrum", fx.model, fwd, "-o", sp, "--every", "2"});
  const h5::File s = h5::File::open(sp);
  const auto st = s.read("states");
  REQUIRE(st.shape == h5::Shape{8, 12});  // times 0, 2, 4, 6 of 2 trajectories
  for (std::size_t n = 0; n < 12; ++n) CHECK(st.data[5 * 12 + n] == traj.data[(1 * 7 + 2) * 12 + n]);
  CHECK(s.shape("eigenvalues") == h5::Shape{8, 12});
  CHECK(s.attr_int("states_every") == 2);

  SECTION("--every 0 is refused") {
    const std::string out = fx.dir / "e.h5";
    test::expect_clean_failure(test::run_cli({"spectrum", fx.model, fwd, "-o", out, "--every", "0"}), out,
                               {"--every", "positive"});
  }
}
