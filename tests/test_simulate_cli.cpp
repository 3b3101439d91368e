// `stackdyn simulate` on the command line: a valid run's file, each documented bad input
// as one clear line with exit 2 and no output, and a diverging run that stops with exit 1
// and keeps a readable file.
#include "cli_helpers.hpp"
#include "random_model.hpp"

#include <catch2/catch.hpp>
#include <stackdyn/core/h5.hpp>
#include <stackdyn/model/model_io.hpp>

#include <filesystem>

using namespace stackdyn;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {

struct Fixture {
  test::ScratchDir dir{"simulate_cli"};
  std::string model = dir / "model.h5";
  std::string out = dir / "out.h5";
  Fixture() {
    write_model(test::random_model(2, {{CellType::RnnTanh, 4}, {CellType::Gru, 3}}, 1), model, Provenance{});
  }
  test::CliResult simulate(std::vector<std::string> extra) const {
    std::vector<std::string> args = {"simulate", model, "-o", out, "--t-end", "2"};
    args.insert(args.end(), extra.begin(), extra.end());
    return test::run_cli(args);
  }
  void input_file(const std::string& path, const h5::Shape& inputs, const h5::Shape& s0 = {}) const {
    h5::File f = h5::File::create(path);
    std::vector<double> x(h5::element_count(inputs), 0.1);
    f.write("inputs", inputs, x.data());
    if (!s0.empty()) {
      std::vector<double> s(h5::element_count(s0), 0.0);
      f.write("s0", s0, s.data());
    }
  }
};


}  // namespace

TEST_CASE("simulate writes a self-describing trajectory file", "[simulate][cli]") {
  Fixture fx;
  const std::string in = fx.dir / "in.h5";
  fx.input_file(in, {3, 4, 2}, {3, 7});
  const auto r = fx.simulate({"--mode", "continuous", "--tau", "1,0.5", "--method", "rk4", "--dt", "0.05", "--dt-out",
                              "0.5", "--input-file", in, "--rtol", "1e-5", "--atol", "1e-8"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  const h5::File f = h5::File::open(fx.out);
  CHECK(f.shape("states") == h5::Shape{3, 5, 7});
  CHECK(f.read("time").data == std::vector<double>{0, 0.5, 1, 1.5, 2});
  CHECK(f.attr_string("status") == "complete");
  CHECK(f.group("statistics").attr_int("steps") == 40);
  CHECK(f.group("statistics").attr_int("rhs_evaluations") == 160);
  CHECK(f.shape("state_slices") == h5::Shape{2, 2});
  CHECK_THAT(f.attr_string("config"), Contains("tau = [1"));

  // discrete mode: --steps, and dt_out in steps
  std::filesystem::remove(fx.out);
  const auto d = test::run_cli({"simulate", fx.model, "-o", fx.out, "--mode", "discrete", "--steps", "10", "--dt-out", "5"});
  REQUIRE(d.code == 0);
  CHECK(h5::File::open(fx.out).read("time").data == std::vector<double>{0, 5, 10});
}

TEST_CASE("simulate refuses bad input with one clear line", "[simulate][cli][errors]") {
  Fixture fx;
  SECTION("unknown method") { test::expect_clean_failure(fx.simulate({"--method", "rk45"}), fx.out, {"method", "rk45", "dopri5"}); }
  SECTION("unknown mode") { test::expect_clean_failure(fx.simulate({"--mode", "hybrid"}), fx.out, {"mode", "hybrid", "discrete"}); }
  SECTION("tau count does not match the layers") {
    test::expect_clean_failure(fx.simulate({"--tau", "1,2,3"}), fx.out, {"tau", "3 values", "2 layers"});
  }
  SECTION("non-positive tau") { test::expect_clean_failure(fx.simulate({"--tau", "1,-0.5"}), fx.out, {"tau", "positive"}); }
  SECTION("non-positive dt") { test::expect_clean_failure(fx.simulate({"--dt", "0"}), fx.out, {"dt", "positive"}); }
  SECTION("non-positive rtol") { test::expect_clean_failure(fx.simulate({"--rtol=-1e-6"}), fx.out, {"rtol", "positive"}); }
  SECTION("non-positive atol") { test::expect_clean_failure(fx.simulate({"--atol", "0"}), fx.out, {"atol", "positive"}); }
  SECTION("input width does not match the model") {
    const std::string in = fx.dir / "in.h5";
    fx.input_file(in, {2, 5, 3});
    test::expect_clean_failure(fx.simulate({"--input-file", in}), fx.out, {"in.h5", "inputs", "input_size = 2"});
  }
  SECTION("s0 of the wrong width") {
    const std::string in = fx.dir / "in.h5";
    fx.input_file(in, {2, 5, 2}, {2, 6});
    test::expect_clean_failure(fx.simulate({"--input-file", in}), fx.out, {"in.h5", "s0", "state_dim = 7"});
  }
  SECTION("t_end beyond the input file") {
    const std::string in = fx.dir / "in.h5";
    fx.input_file(in, {1, 1, 2});
    test::expect_clean_failure(fx.simulate({"--input-file", in}), fx.out, {"t_end", "samples"});
  }
  SECTION("unknown key") {
    test::expect_clean_failure(fx.simulate({"--set", "input.sinusoid.frequency=1"}), fx.out, {"unknown key", "input"});
  }
}

TEST_CASE("a diverging run stops, names time and layer, and keeps a readable file", "[simulate][cli][errors]") {
  Fixture fx;
  // A relu layer with recurrent gain 30: tau dh/dt = relu(30 h + ...) - h grows like e^{29 t}.
  Model m = test::random_model(1, {{CellType::RnnTanh, 2}, {CellType::RnnRelu, 2}}, 2);
  m.layers[1].fwd.w_hh = 30 * Eigen::MatrixXd::Identity(2, 2);
  m.layers[1].fwd.b_ih.setConstant(1.0);
  m.layers[1].fwd.b_hh.setConstant(1.0);
  write_model(m, fx.model, Provenance{});
  for (const char* method : {"euler", "dopri5"}) {
    std::filesystem::remove(fx.out);
    const auto r = test::run_cli({"simulate", fx.model, "-o", fx.out, "--t-end", "100", "--method", method, "--dt", "0.01"});
    INFO(r.err);
    CHECK(r.code == 1);
    CHECK_THAT(r.err, StartsWith("stackdyn: error: the state diverged to NaN/Inf at t = "));
    CHECK_THAT(r.err, Contains("in layer 1"));
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    REQUIRE(std::filesystem::exists(fx.out));
    const h5::File f = h5::File::open(fx.out);
    CHECK(f.attr_string("status") == "diverged");
    const auto shape = f.shape("states");
    CHECK(shape[1] > 1);
    CHECK(shape[1] < 101);
    CHECK(f.shape("time")[0] == shape[1]);
    h5::Array st = f.read("states");
    for (double v : st.data) REQUIRE(std::isfinite(v));
  }
}

TEST_CASE("simulate refuses an input file whose declared shape overflows 64 bits", "[simulate][cli][errors]") {
  // Found by fuzzing (issue 19 item 13): 'inputs' declares (67109120, 9079256848778919944, 3)
  // in gzip chunks; HDF5's own element count wraps around to 1610618880, which passed the
  // checks and the program allocated until it was killed.
  Fixture fx;
  write_model(test::random_model(3, {{CellType::Gru, 3}}, 2), fx.model, Provenance{});
  const std::string in =
      std::string(STACKDYN_SOURCE_DIR) + "/tests/fuzz/corpus/input_file/regression-element-count-overflows.h5";
  REQUIRE(h5::File::open(in).has("inputs"));
  CHECK_THAT(test::message_of<InputError>([&] { (void)h5::File::open(in).read("inputs"); }),
             Contains("(67109120, 9079256848778919944, 3) declares more than 2^64 elements"));
  const auto r = fx.simulate({"--input-file", in});
  CHECK(r.code == 2);
  CHECK_THAT(r.err, StartsWith("stackdyn: error: ") && Contains("more than 2^64 elements"));
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  CHECK_FALSE(std::filesystem::exists(fx.out));
}
