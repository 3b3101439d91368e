// The frequency probe: at small amplitude the measured gain of every layer equals the
// linearisation's transfer function (discrete and continuous views, gated cells, a drive
// direction and an operating point); on a one-unit layer the transfer function and the
// timescale are closed forms; at large amplitude the two part; bad input is refused.
#include "cli_helpers.hpp"
#include "probe_models.hpp"

#include <catch2/catch.hpp>
#include <stackdyn/analysis/timescales.hpp>
#include <stackdyn/core/h5.hpp>
#include <stackdyn/model/model_io.hpp>

#include <cmath>
#include <complex>
#include <filesystem>
#include <numbers>

using namespace stackdyn;
using Catch::Matchers::Contains;

namespace {

Model gated_stack() {
  return test::random_model(2, {{CellType::Gru, 5}, {CellType::Lstm, 4}, {CellType::RnnTanh, 3}}, 17, 0.5);
}

double max_relative_gap(const MatrixXd& a, const MatrixXd& b) {
  return ((a - b).cwiseAbs().array() / b.cwiseAbs().array()).maxCoeff();
}

}  // namespace

TEST_CASE("timescales: at small amplitude the measured gain is the linear prediction", "[timescales]") {
  const Model m = gated_stack();
  TimescaleOptions o;
  o.amplitude = 1e-4;
  o.direction = (VectorXd(2) << 1.0, -2.0).finished();
  o.x0 = (VectorXd(2) << 0.3, -0.1).finished();
  SECTION("discrete map") {
    o.frequencies = {0.01, 0.04, 0.1, 0.25, 0.4};  // P / f whole: no leakage
    const TimescaleResult r = probe_timescales(m, o);
    REQUIRE(r.gain.rows() == 3);
    REQUIRE(r.gain.cols() == 5);
    CHECK(max_relative_gap(r.gain, r.gain_linear) < 1e-4);
    // power of a sinusoid of amplitude |c|: |c|^2 / 2
    CHECK(max_relative_gap(r.power, (r.gain * o.amplitude).array().square().matrix() / 2) < 1e-3);
  }
  SECTION("continuous view") {
    o.view = TimeView::Continuous;
    o.tau = {1.0, 2.0, 0.5};
    o.frequencies = {0.02, 0.1, 0.3, 1.0};
    o.rtol = 1e-9;
    o.atol = 1e-12;
    const TimescaleResult r = probe_timescales(m, o);
    CHECK(max_relative_gap(r.gain, r.gain_linear) < 1e-4);
  }
}

TEST_CASE("timescales: one unit has the closed-form transfer function and timescale", "[timescales]") {
  const double rho = 0.8, w_in = 1.5;
  Model m = test::random_model(1, {{CellType::RnnTanh, 1, false, false, {}, false, false}}, 1);
  m.layers[0].fwd.w_hh(0, 0) = rho;
  m.layers[0].fwd.w_ih(0, 0) = w_in;
  const std::vector<double> f = {0.01, 0.1, 0.25};  // P / f whole
  using cd = std::complex<double>;
  TimescaleOptions o;
  o.frequencies = f;
  o.amplitude = 1e-4;
  const TimescaleResult r = probe_timescales(m, o);
  for (std::size_t j = 0; j < f.size(); ++j) {
    const cd z = std::polar(1.0, 2 * std::numbers::pi * f[j]);
    CHECK(r.gain_linear(0, static_cast<Eigen::Index>(j)) == Approx(w_in / std::abs(z - rho)).epsilon(1e-12));
    CHECK(r.gain(0, static_cast<Eigen::Index>(j)) == Approx(w_in / std::abs(z - rho)).epsilon(1e-4));
  }
  CHECK(r.spectral_radius(0) == Approx(rho));
  CHECK(r.timescale(0) == Approx(-1 / std::log(rho)));
  CHECK(r.preferred_frequency(0) == 0.01);  // a low-pass filter

  o.view = TimeView::Continuous;
  o.tau = {2.0};
  const TimescaleResult c = probe_timescales(m, o);
  for (std::size_t j = 0; j < f.size(); ++j) {
    const cd s(0, 2 * std::numbers::pi * f[j]);
    CHECK(c.gain_linear(0, static_cast<Eigen::Index>(j)) == Approx(std::abs((w_in / 2) / (s - (rho - 1) / 2))).epsilon(1e-12));
  }
  CHECK(c.timescale(0) == Approx(2 / (1 - rho)));
}

TEST_CASE("timescales: at large amplitude the measured gain departs from the linear one", "[timescales]") {
  Model m = test::contracting_tanh_stack({6, 6}, {0.5, 0.9}, 4);
  TimescaleOptions o;
  o.frequencies = {0.05, 0.2};
  o.amplitude = 3.0;
  const TimescaleResult r = probe_timescales(m, o);
  CHECK(max_relative_gap(r.gain, r.gain_linear) > 0.05);
  CHECK((r.gain.array() < r.gain_linear.array()).all());  // tanh saturates
}

TEST_CASE("timescales command writes the contract's datasets", "[timescales][cli]") {
  test::ScratchDir dir("timescales_cli");
  const std::string model = dir / "m.h5", out = dir / "ts.h5";
  write_model(gated_stack(), model, Provenance{});
  const auto r = test::run_cli({"timescales", model, "-o", out, "--f-min", "0.02", "--f-max", "0.4", "--n-freq", "4",
                                "--periods", "5", "--transient-periods", "5"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  const h5::File f = h5::File::open(out);
  CHECK(f.attr_string("kind") == "timescales");
  CHECK(f.read("frequencies").shape == h5::Shape{4});
  for (const char* name : {"gain", "gain_linear", "power"}) CHECK(f.read(name).shape == h5::Shape{3, 4});
  for (const char* name : {"preferred_frequency", "cutoff_frequency", "spectral_radius", "timescale"})
    CHECK(f.read(name).shape == h5::Shape{3});
  const VectorXd fr = f.read_vector("frequencies");
  CHECK(fr(0) == Approx(0.02));
  CHECK(fr(3) == Approx(0.4));
  CHECK(fr(1) == Approx(0.02 * std::pow(20.0, 1.0 / 3)));
}

TEST_CASE("timescales command refuses bad input with one line", "[timescales][cli][errors]") {
  test::ScratchDir dir("timescales_errors");
  const std::string model = dir / "m.h5", bidi = dir / "bidi.h5", out = dir / "ts.h5";
  write_model(gated_stack(), model, Provenance{});
  write_model(test::random_model(1, {{CellType::Gru, 3}}, 1, 0.5, true), bidi, Provenance{});
  auto run = [&](std::vector<std::string> extra, const std::string& m = "") {
    std::vector<std::string> a = {"timescales", m.empty() ? model : m, "-o", out};
    a.insert(a.end(), extra.begin(), extra.end());
    return test::run_cli(a);
  };
  test::expect_clean_failure(run({"--frequencies", "0.1,0.5"}), out, {"0.5", "Nyquist"});
  test::expect_clean_failure(run({"--frequencies", "0.1,-0.2"}), out, {"-0.2", "positive"});
  test::expect_clean_failure(run({"--frequencies", "0.1", "--periods", "0.5"}), out, {"periods"});
  test::expect_clean_failure(run({"--frequencies", "0.1", "--amplitude", "0"}), out, {"amplitude"});
  test::expect_clean_failure(run({"--frequencies", "0.1", "--input-direction", "1"}), out, {"direction", "2"});
  test::expect_clean_failure(run({"--frequencies", "0.1"}, bidi), out, {"bidirectional"});

  // No stable fixed point: a one-unit layer with w = 2 rests unstably at zero.
  const std::string unstable = dir / "unstable.h5";
  Model m = test::random_model(1, {{CellType::RnnTanh, 1, false, false, {}, false, false}}, 1);
  m.layers[0].fwd.w_hh(0, 0) = 2.0;
  write_model(m, unstable, Provenance{});
  const auto r = run({"--frequencies", "0.1"}, unstable);
  CHECK(r.code == 1);
  CHECK_THAT(r.err, Contains("stackdyn: error: ") && Contains("stable fixed point"));
  CHECK_FALSE(std::filesystem::exists(out));
}
