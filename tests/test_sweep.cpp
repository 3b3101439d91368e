// `stackdyn sweep`: a grid merged into one file with a run table, and an interrupted sweep
// that resumes, keeping its completed runs, to the same numbers as an uninterrupted one.
#include "cli_helpers.hpp"
#include "random_model.hpp"

#include <catch2/catch.hpp>
#include <stackdyn/core/h5.hpp>
#include <stackdyn/model/model_io.hpp>

#include <filesystem>
#include <fstream>

using namespace stackdyn;
using Catch::Matchers::Contains;

TEST_CASE("a 2 x 3 x 4 sweep gives one file with a run table", "[sweep][threads]") {
  test::ScratchDir dir("sweep");
  write_model(test::random_model(2, {{CellType::RnnTanh, 3}, {CellType::Gru, 2}}, 4), dir / "m.h5", Provenance{});
  std::ofstream(dir / "sweep.toml") << "model_file = '" << (dir / "m.h5") << "'\nthreads = 2\n"
                                    << "[simulate]\nt_end = 4.0\ndt_out = 1.0\nbatch = 2\ns0_scale = 0.3\n"
                                    << "[[simulate.input.sinusoids]]\nchannel = 1\nfrequency = 0.1\n"
                                    << "[grid]\nmethod = ['dopri5', 'rk4']\ntau = [0.5, 1.0, 2.0]\n"
                                    << "'input.sinusoids[0].amplitude' = [0.0, 0.1, 0.2, 0.4]\n";
  const auto r = test::run_cli({"sweep", dir / "sweep.toml", "-o", dir / "out.h5"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK_FALSE(std::filesystem::exists(dir / "out.h5.runs"));
  const h5::File f = h5::File::open(dir / "out.h5");
  CHECK(f.shape("states") == h5::Shape{24, 2, 5, 5});
  CHECK(f.shape("parameters") == h5::Shape{24, 3});
  CHECK(f.attr_string("parameter_names") == "input.sinusoids[0].amplitude; method; tau");
  const h5::Array p = f.read("parameters");
  // C order, the last key fastest: run 5 = (amplitude 0.0, method rk4, tau 2.0)
  CHECK(p.data[5 * 3 + 0] == 0.0);
  CHECK(std::isnan(p.data[5 * 3 + 1]));  // a name, not a number: see run_table
  CHECK(p.data[5 * 3 + 2] == 2.0);
  CHECK_THAT(f.attr_string("run_table"), Contains("5: input.sinusoids[0].amplitude = 0.0, method = \"rk4\", tau = 2.0"));
  CHECK(f.read("statistics/complete").data == std::vector<double>(24, 1.0));
  // Runs with amplitude 0 do not depend on the frequency's sinusoid: runs 0 and 6*1+0 differ
  // only in amplitude, so their states must differ; runs with equal parameters but another
  // thread must agree exactly with a single simulate.
  const auto single = test::run_cli({"simulate", dir / "m.h5", "-o", dir / "one.h5", "--t-end", "4", "--dt-out", "1",
                                     "--batch", "2", "--set", "s0_scale=0.3", "--method", "rk4", "--tau", "2",
                                     "--set", "input.sinusoids=[{channel=1, frequency=0.1, amplitude=0.0}]"});
  REQUIRE(single.code == 0);
  const h5::Array one = h5::File::open(dir / "one.h5").read("states");
  const h5::Array all = f.read("states");
  const std::size_t per_run = one.data.size();
  CHECK(std::equal(one.data.begin(), one.data.end(), all.data.begin() + static_cast<std::ptrdiff_t>(5 * per_run)));
  // Runs 0 and 6 differ only in the amplitude (0 and 0.1): the input reaches the states.
  // Their first samples (the initial states, from one seed) agree; later ones do not.
  const auto run = [&](std::size_t i) { return all.data.begin() + static_cast<std::ptrdiff_t>(i * per_run); };
  CHECK(std::equal(run(0), run(0) + 5, run(6)));
  CHECK_FALSE(std::equal(run(0), run(1), run(6)));
}

TEST_CASE("an interrupted sweep resumes and gives the same numbers", "[sweep]") {
  test::ScratchDir dir("sweep_resume");
  write_model(test::random_model(1, {{CellType::RnnTanh, 3}}, 8), dir / "m1.h5", Provenance{});
  std::ofstream(dir / "sweep.toml") << "threads = 1\nmodel_file = '" << (dir / "m1.h5") << "'\n"
                                    << "[simulate]\nt_end = 3.0\ns0_scale = 0.5\ninput.constant = [0.2]\n"
                                    << "[grid]\nmodel_file = ['" << (dir / "m1.h5") << "', '" << (dir / "m2.h5")
                                    << "']\ntau = [0.5, 1.0]\n";
  const std::vector<std::string> cmd = {"sweep", dir / "sweep.toml", "-o", dir / "out.h5"};
  // m2.h5 is missing: runs 0 and 1 complete, run 2 fails, nothing is merged.
  const auto first = test::run_cli(cmd);
  CHECK(first.code == 2);
  CHECK_THAT(first.err, Contains("m2.h5"));
  CHECK_FALSE(std::filesystem::exists(dir / "out.h5"));
  CHECK(std::filesystem::exists(dir / "out.h5.runs/run_000000.h5"));
  CHECK(std::filesystem::exists(dir / "out.h5.runs/run_000001.h5"));
  std::filesystem::copy_file(dir / "m1.h5", dir / "m2.h5");
  const auto second = test::run_cli(cmd);
  INFO(second.err);
  REQUIRE(second.code == 0);
  CHECK_THAT(second.out, Contains("2 already done"));
  // The same sweep from scratch.
  const auto fresh = test::run_cli({"sweep", dir / "sweep.toml", "-o", dir / "fresh.h5"});
  REQUIRE(fresh.code == 0);
  const h5::Array a = h5::File::open(dir / "out.h5").read("states"), b = h5::File::open(dir / "fresh.h5").read("states");
  CHECK(a.shape == h5::Shape{4, 1, 4, 3});
  CHECK(a.data == b.data);
}

TEST_CASE("a sweep refuses to reuse runs computed under another configuration", "[sweep]") {
  test::ScratchDir dir("sweep_stale");
  write_model(test::random_model(1, {{CellType::RnnTanh, 3}}, 8), dir / "m1.h5", Provenance{});
  std::ofstream(dir / "sweep.toml") << "threads = 1\nmodel_file = '" << (dir / "m1.h5") << "'\n"
                                    << "[simulate]\nt_end = 3.0\ns0_scale = 0.5\ninput.constant = [0.5]\n"
                                    << "[grid]\nmodel_file = ['" << (dir / "m1.h5") << "', '" << (dir / "m2.h5")
                                    << "']\ntau = [0.5, 1.0]\n";
  const std::vector<std::string> cmd = {"sweep", dir / "sweep.toml", "-o", dir / "out.h5"};
  // m2.h5 is missing: runs 0 and 1 complete and stay, nothing is merged.
  REQUIRE(test::run_cli(cmd).code == 2);
  REQUIRE(std::filesystem::exists(dir / "out.h5.runs/run_000000.h5"));
  std::filesystem::copy_file(dir / "m1.h5", dir / "m2.h5");
  // The drive changed since: the kept runs are not this sweep's runs any more.
  std::vector<std::string> changed = cmd;
  changed.insert(changed.end(), {"--set", "input.constant=[3.0]"});
  const auto refused = test::run_cli(changed);
  CHECK(refused.code == 2);
  CHECK_THAT(refused.err, Contains("run 0 (model_file"));
  CHECK_THAT(refused.err, Contains("simulate.input.constant is [0.5] there, [3.0] now"));
  CHECK_THAT(refused.err, Contains("--force"));
  CHECK_FALSE(std::filesystem::exists(dir / "out.h5"));
  // --force redoes them: the result equals a fresh sweep under the new configuration.
  changed.push_back("--force");
  const auto redone = test::run_cli(changed);
  INFO(redone.err);
  REQUIRE(redone.code == 0);
  CHECK_THAT(redone.out, Contains("0 already done"));
  const auto fresh = test::run_cli({"sweep", dir / "sweep.toml", "-o", dir / "fresh.h5", "--set", "input.constant=[3.0]"});
  REQUIRE(fresh.code == 0);
  CHECK(h5::File::open(dir / "out.h5").read("states").data == h5::File::open(dir / "fresh.h5").read("states").data);
}

TEST_CASE("a sweep's merged file keeps the runs' predictions", "[sweep]") {
  test::ScratchDir dir("sweep_predictions");
  Model m = test::random_model(1, {{CellType::RnnTanh, 3}}, 8);
  m.readout_weight = Eigen::MatrixXd::Random(2, 3);
  m.readout_bias = Eigen::VectorXd::Random(2);
  write_model(m, dir / "m.h5", Provenance{});
  std::ofstream(dir / "sweep.toml") << "threads = 1\nmodel_file = '" << (dir / "m.h5") << "'\n"
                                    << "[simulate]\nmode = 'discrete'\nsteps = 6\ns0_scale = 0.5\n"
                                    << "[grid]\n'input.constant' = [[0.0], [0.7]]\n";
  const auto r = test::run_cli({"sweep", dir / "sweep.toml", "-o", dir / "out.h5"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  const h5::File f = h5::File::open(dir / "out.h5");
  const h5::Array S = f.read("states"), P = f.read("predictions");
  REQUIRE(P.shape.size() == 4);
  CHECK(P.shape[0] == 2);
  CHECK(P.shape[3] == 2);
  CHECK(P.shape[1] == S.shape[1]);
  CHECK(P.shape[2] == S.shape[2]);
  // Each prediction is the readout of its state (one rnn_tanh layer: the top stream is h).
  const std::size_t n = S.shape[3];
  for (std::size_t k = 0; k < S.data.size() / n; ++k) {
    const Eigen::Map<const Eigen::VectorXd> h(S.data.data() + k * n, static_cast<Eigen::Index>(n));
    const Eigen::VectorXd want = m.readout_weight * h + m.readout_bias;
    for (Eigen::Index o = 0; o < 2; ++o) CHECK(std::abs(P.data[k * 2 + static_cast<std::size_t>(o)] - want(o)) < 1e-12);
  }
}
