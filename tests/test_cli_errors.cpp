// Bad input gets one clear line, a non-zero exit and no output file. Each case runs the
// real command line in-process.
#include "cli_helpers.hpp"
#include "random_model.hpp"

#include <catch2/catch.hpp>
#include <stackdyn/core/h5.hpp>
#include <stackdyn/model/model_io.hpp>

#include <fstream>
#include <limits>

using namespace stackdyn;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {

struct Fixture {
  test::ScratchDir dir{"cli_errors"};
  std::string model = dir / "model.h5";
  std::string input = dir / "input.h5";
  std::string out = dir / "out.h5";
  Fixture() {
    const Model m = test::random_model(3, {{CellType::Lstm, 4}, {CellType::Lstm, 4}}, 1);
    write_model(m, model, Provenance{});
    write_input({2, 5, 3});
  }
  void write_input(const h5::Shape& shape, double fill = 0.1) const {
    h5::File f = h5::File::create(input);
    std::vector<double> data(h5::element_count(shape), fill);
    f.write("inputs", shape, data.data());
  }
  test::CliResult forward() const { return test::run_cli({"forward", model, input, "-o", out}); }
};


void replace_dataset(const std::string& file, const std::string& name, double value, std::size_t at) {
  h5::File f = h5::File::open_rw(file);
  h5::Array a = f.read(name);
  a.data[at] = value;
  f.remove(name);
  f.write(name, a.shape, a.data.data());
}

}  // namespace

TEST_CASE("a valid forward run writes its output", "[cli]") {
  Fixture fx;
  const auto r = fx.forward();
  REQUIRE(r.code == 0);
  CHECK(std::filesystem::exists(fx.out));
  CHECK_FALSE(std::filesystem::exists(fx.out + ".partial"));
}

TEST_CASE("bad files give one clear line and no output", "[cli][errors]") {
  Fixture fx;
  SECTION("missing model file") {
    const auto r = test::run_cli({"forward", fx.dir / "nope.h5", fx.input, "-o", fx.out});
    test::expect_clean_failure(r, fx.out, {"nope.h5", "no such file"});
  }
  SECTION("unreadable model path (a directory)") {
    const auto r = test::run_cli({"forward", fx.dir.path.string(), fx.input, "-o", fx.out});
    test::expect_clean_failure(r, fx.out, {fx.dir.path.string()});
  }
  SECTION("a file that is not HDF5") {
    std::ofstream(fx.dir / "notes.txt") << "not an hdf5 file\n";
    const auto r = test::run_cli({"forward", fx.model, fx.dir / "notes.txt", "-o", fx.out});
    test::expect_clean_failure(r, fx.out, {"notes.txt", "not an HDF5 file"});
  }
  SECTION("missing dataset 'inputs'") {
    { h5::File f = h5::File::create(fx.input); f.set_attr("x", 1LL); }
    test::expect_clean_failure(fx.forward(), fx.out, {"input.h5", "inputs", "not found"});
  }
  SECTION("inputs of the wrong rank") {
    fx.write_input({2, 3});
    test::expect_clean_failure(fx.forward(), fx.out, {"input.h5", "inputs", "(2, 3)", "(batch, time, input_size = 3)"});
  }
  SECTION("inputs of the wrong width") {
    fx.write_input({2, 5, 4});
    test::expect_clean_failure(fx.forward(), fx.out, {"input.h5", "inputs", "(2, 5, 4)", "input_size = 3"});
  }
  SECTION("h0 of the wrong shape") {
    { h5::File f = h5::File::open_rw(fx.input); std::vector<double> h(2 * 2 * 5, 0.0); f.write("h0", {2, 2, 5}, h.data()); }
    test::expect_clean_failure(fx.forward(), fx.out, {"input.h5", "h0", "(2, 2, 5)", "hidden_size = 4"});
  }
  SECTION("NaN in a weight") {
    replace_dataset(fx.model, "layers/1/weight_hh", std::numeric_limits<double>::quiet_NaN(), 5);
    test::expect_clean_failure(fx.forward(), fx.out, {"model.h5", "weight_hh", "NaN"});
  }
  SECTION("Inf in a weight") {
    replace_dataset(fx.model, "layers/0/bias_ih", std::numeric_limits<double>::infinity(), 2);
    test::expect_clean_failure(fx.forward(), fx.out, {"model.h5", "bias_ih", "Inf"});
  }
  SECTION("NaN in the inputs") {
    replace_dataset(fx.input, "inputs", std::numeric_limits<double>::quiet_NaN(), 7);
    test::expect_clean_failure(fx.forward(), fx.out, {"input.h5", "inputs", "NaN", "(0, 2, 1)"});
  }
  SECTION("Inf in the inputs") {
    replace_dataset(fx.input, "inputs", -std::numeric_limits<double>::infinity(), 0);
    test::expect_clean_failure(fx.forward(), fx.out, {"input.h5", "inputs", "Inf"});
  }
  SECTION("unknown cell type in a model file") {
    { h5::File f = h5::File::open_rw(fx.model); f.group("layers/1").set_attr("cell", std::string("gru2")); }
    test::expect_clean_failure(fx.forward(), fx.out, {"model.h5", "gru2", "lstm"});
  }
  SECTION("a weight missing from a model file") {
    { h5::File f = h5::File::open_rw(fx.model); f.remove("layers/0/weight_ih"); }
    test::expect_clean_failure(fx.forward(), fx.out, {"model.h5", "weight_ih"});
  }
  SECTION("info on a file that is not a model") {
    const auto r = test::run_cli({"info", fx.input});
    CHECK(r.code == 2);
    CHECK_THAT(r.err, Contains("input.h5"));
  }
}

TEST_CASE("bad model descriptions give one clear line and no model file", "[cli][errors][init]") {
  test::ScratchDir dir("init_errors");
  const std::string cfg = dir / "model.toml", out = dir / "model.h5";
  auto init_with = [&](const std::string& toml, std::vector<std::string> extra = {}) {
    std::ofstream(cfg) << toml;
    std::vector<std::string> args{"init", cfg, "-o", out};
    args.insert(args.end(), extra.begin(), extra.end());
    return test::run_cli(args);
  };
  const std::string good = "input_size = 2\n[[layers]]\ncell = \"gru\"\nhidden_size = 4\n";
  SECTION("the good description works") {
    REQUIRE(init_with(good).code == 0);
    CHECK(std::filesystem::exists(out));
  }
  SECTION("unknown cell type") {
    test::expect_clean_failure(init_with("input_size = 2\n[[layers]]\ncell = \"gru3\"\nhidden_size = 4\n"), out,
                          {"model.toml", "gru3"});
  }
  SECTION("unknown key") {
    test::expect_clean_failure(init_with(good + "hiden_size = 3\n"), out, {"model.toml", "hiden_size"});
  }
  SECTION("invalid value") {
    test::expect_clean_failure(init_with("input_size = 2\n[[layers]]\ncell = \"gru\"\nhidden_size = -3\n"), out,
                          {"model.toml", "hidden_size", "-3"});
  }
  SECTION("invalid value given by a flag") {
    test::expect_clean_failure(init_with(good, {"--set", "layers.0.hidden_size=0"}), out, {"hidden_size"});
  }
  SECTION("TOML syntax error") {
    test::expect_clean_failure(init_with("input_size = = 2\n"), out, {"model.toml"});
  }
  SECTION("missing configuration file") {
    const auto r = test::run_cli({"init", dir / "absent.toml", "-o", out});
    test::expect_clean_failure(r, out, {"absent.toml"});
  }
}
