// The frequency probe: at small amplitude the measured gain of every layer equals the
// linearisation's transfer function (discrete and continuous views, gated cells, a drive
// direction and an operating point), and so does each layer's own gain its own block's; on
// one-unit layers the transfer functions and the timescale are closed forms; equal layers
// have equal own cutoffs while the cumulative ones fall; the rest point is found when the
// zero state does not reach it, or given; at large amplitude measured and linear part; bad
// input is refused.
#include "cli_helpers.hpp"
#include "probe_models.hpp"

#include <Eigen/QR>
#include <catch2/catch.hpp>
#include <stackdyn/analysis/timescales.hpp>
#include <stackdyn/core/h5.hpp>
#include <stackdyn/model/model_io.hpp>

#include <cmath>
#include <complex>
#include <filesystem>
#include <numbers>
#include <random>

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
    // each layer alone, fed its measured stream, against its own transfer function
    CHECK(max_relative_gap(r.own_gain, r.own_gain_linear) < 1e-3);
    CHECK(max_relative_gap(r.own_gain.topRows(1), r.gain.topRows(1)) < 1e-9);  // the bottom layer reads the input
  }
  SECTION("continuous view") {
    o.view = TimeView::Continuous;
    o.tau = {1.0, 2.0, 0.5};
    o.frequencies = {0.02, 0.1, 0.3, 1.0};
    o.rtol = 1e-9;
    o.atol = 1e-12;
    const TimescaleResult r = probe_timescales(m, o);
    CHECK(max_relative_gap(r.gain, r.gain_linear) < 1e-4);
    CHECK(max_relative_gap(r.own_gain, r.own_gain_linear) < 1e-3);
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

  // No stable fixed point: a one-unit layer with w = -2 rests unstably at zero, its only
  // fixed point (tanh(-2h) = h at h = 0 alone), and oscillates with period 2 around it.
  const std::string unstable = dir / "unstable.h5";
  Model m = test::random_model(1, {{CellType::RnnTanh, 1, false, false, {}, false, false}}, 1);
  m.layers[0].fwd.w_hh(0, 0) = -2.0;
  write_model(m, unstable, Provenance{});
  const auto r = run({"--frequencies", "0.1"}, unstable);
  CHECK(r.code == 1);
  CHECK_THAT(r.err, Contains("stackdyn: error: ") && Contains("stable fixed point") && Contains("--fixed-point"));
  CHECK_FALSE(std::filesystem::exists(out));

  // The given start must be a stable fixed point, and given one way.
  const std::string zero = dir / "zero.h5";
  {
    h5::File z = h5::File::create(zero);
    z.write("state", VectorXd(VectorXd::Zero(1)));
  }
  const auto g = run({"--frequencies", "0.1", "--state", zero}, unstable);
  CHECK(g.code == 1);
  CHECK_THAT(g.err, Contains("--state " + zero) && Contains("not a stable fixed point"));
  test::expect_clean_failure(run({"--frequencies", "0.1", "--state", zero, "--fixed-point", zero + ":0"}), out,
                             {"fixed_point"});
  test::expect_clean_failure(run({"--frequencies", "0.1", "--fixed-point", zero}), out, {"FILE:INDEX"});
  test::expect_clean_failure(run({"--frequencies", "0.1", "--fixed-point", zero + ":0"}), out, {"fixed_points/states"});
}

namespace {

// A vanilla tanh layer without biases resting at zero: block rho I, input weights w_in Q.
LayerSpec plain_layer(int n, int in, double rho, const MatrixXd& w_ih) {
  LayerSpec s;
  s.cell = CellType::RnnTanh;
  s.hidden_size = n;
  s.bias = false;
  s.fwd.w_hh = rho * MatrixXd::Identity(n, n);
  s.fwd.w_ih = w_ih;
  (void)in;
  return s;
}

// Two one-unit layers (block rho_l, input weight w_l) and a readout r h^(1) + 0.3.
Model two_units() {
  Model m;
  m.input_size = 1;
  m.layers.push_back(plain_layer(1, 1, 0.8, MatrixXd::Constant(1, 1, 1.5)));
  m.layers.push_back(plain_layer(1, 1, 0.5, MatrixXd::Constant(1, 1, -0.7)));
  m.readout_weight = MatrixXd::Constant(1, 1, 2.5);
  m.readout_bias = VectorXd::Constant(1, 0.3);
  m.validate("two_units");
  return m;
}

// A bistable bottom layer (tanh(2 h): 0 unstable, +-0.9575 stable) under a contracting one.
Model bistable_stack() {
  Model m = test::contracting_tanh_stack({1, 3}, {0.5, 0.6}, 9);
  m.layers[0].fwd.w_hh(0, 0) = 2.0;
  m.layers[0].fwd.w_ih(0, 0) = 1.0;
  return m;
}

}  // namespace

TEST_CASE("timescales: a layer's own gain is its own transfer function", "[timescales][own]") {
  using cd = std::complex<double>;
  const Model m = two_units();
  const std::vector<double> f = {0.01, 0.05, 0.1, 0.25};  // P / f whole
  const double rho[] = {0.8, 0.5}, w[] = {1.5, -0.7};
  TimescaleOptions o;
  o.frequencies = f;
  o.amplitude = 1e-4;
  SECTION("discrete map: H_l(z) = w_l / (z - rho_l), the readout 2.5 h^(1)") {
    const TimescaleResult r = probe_timescales(m, o);
    for (std::size_t j = 0; j < f.size(); ++j) {
      const auto J = static_cast<Eigen::Index>(j);
      const cd z = std::polar(1.0, 2 * std::numbers::pi * f[j]);
      for (int l = 0; l < 2; ++l) {
        const double h = std::abs(w[l] / (z - rho[l]));
        CHECK(r.own_gain_linear(l, J) == Approx(h).epsilon(1e-12));
        CHECK(r.own_gain(l, J) == Approx(h).epsilon(1e-4));
      }
      // the cumulative gain is their product
      CHECK(r.gain_linear(1, J) == Approx(std::abs(w[0] / (z - rho[0])) * std::abs(w[1] / (z - rho[1]))).epsilon(1e-12));
      CHECK(r.readout_gain_linear(J) == Approx(2.5 * r.gain_linear(1, J)).epsilon(1e-12));
      CHECK(r.readout_gain(J) == Approx(2.5 * r.gain_linear(1, J)).epsilon(1e-4));
    }
  }
  SECTION("continuous view: H_l(s) = (w_l / T_l) / (s - (rho_l - 1) / T_l)") {
    o.view = TimeView::Continuous;
    o.tau = {2.0, 0.5};
    o.rtol = 1e-9;
    o.atol = 1e-12;
    const TimescaleResult r = probe_timescales(m, o);
    for (std::size_t j = 0; j < f.size(); ++j) {
      const auto J = static_cast<Eigen::Index>(j);
      const cd sj(0, 2 * std::numbers::pi * f[j]);
      for (int l = 0; l < 2; ++l) {
        const double h = std::abs((w[l] / o.tau[l]) / (sj - (rho[l] - 1) / o.tau[l]));
        CHECK(r.own_gain_linear(l, J) == Approx(h).epsilon(1e-12));
        CHECK(r.own_gain(l, J) == Approx(h).epsilon(1e-4));
      }
      CHECK(r.readout_gain(J) == Approx(2.5 * r.gain_linear(1, J)).epsilon(1e-4));
    }
  }
}

TEST_CASE("timescales: a stack of equal layers has equal own cutoffs and falling cumulative ones", "[timescales][own]") {
  // Every layer: block 0.8 I, input weights 0.6 times an orthogonal matrix (a unit column at
  // the bottom), so each layer's own gain is 0.6 / |z - 0.8| whatever direction it is fed.
  const int n = 3;
  Model m;
  m.input_size = 1;
  std::mt19937_64 rng(3);
  const MatrixXd Q = Eigen::HouseholderQR<MatrixXd>(test::random_matrix(rng, n, n, 1.0)).householderQ();
  m.layers.push_back(plain_layer(n, 1, 0.8, 0.6 * Q.col(0)));
  m.layers.push_back(plain_layer(n, n, 0.8, 0.6 * Q));
  m.layers.push_back(plain_layer(n, n, 0.8, 0.6 * Q.transpose()));
  m.validate("equal layers");
  TimescaleOptions o;
  o.amplitude = 1e-4;
  // A log grid of periods 200 .. 4 steps, whole numbers: P / f whole, no leakage.
  for (int i = 0; i < 20; ++i) o.frequencies.push_back(1.0 / std::round(200 * std::pow(50.0, -i / 19.0)));
  const TimescaleResult r = probe_timescales(m, o);
  for (int l = 1; l < 3; ++l) {
    CHECK(max_relative_gap(r.own_gain_linear.row(l), r.own_gain_linear.row(0)) < 1e-12);
    CHECK(max_relative_gap(r.own_gain.row(l), r.own_gain.row(0)) < 1e-3);
    CHECK(r.own_cutoff_frequency(l) == r.own_cutoff_frequency(0));
    CHECK(r.cutoff_frequency(l) < r.cutoff_frequency(l - 1));
    CHECK(r.timescale(l) == Approx(r.timescale(0)));
  }
}

TEST_CASE("timescales: a rest point not reached from the zero state", "[timescales][start]") {
  const Model m = bistable_stack();
  TimescaleOptions o;
  o.frequencies = {0.02, 0.1, 0.25};
  o.amplitude = 1e-4;
  SECTION("found from the drive's trajectory") {
    // Newton from zero stays at the unstable zero; the driven trajectory leaves it.
    const TimescaleResult r = probe_timescales(m, o);
    CHECK_THAT(r.fixed_point_start, Contains("trajectory"));
    CHECK(std::abs(r.fixed_point(0)) == Approx(0.957504).epsilon(1e-5));
    CHECK(std::tanh(2 * r.fixed_point(0)) == Approx(r.fixed_point(0)).epsilon(1e-12));
    CHECK((r.spectral_radius.array() < 1).all());
    CHECK(max_relative_gap(r.gain, r.gain_linear) < 1e-3);
  }
  SECTION("given: the other stable point") {
    VectorXd s = VectorXd::Zero(m.state_dim());
    s(0) = -0.95;
    o.given_start = s;
    o.given_label = "--state s.h5";
    const TimescaleResult r = probe_timescales(m, o);
    CHECK(r.fixed_point_start == "--state s.h5");
    CHECK(r.fixed_point(0) == Approx(-0.957504).epsilon(1e-5));
    CHECK(r.starts_tried == 1);
  }
  SECTION("given: the unstable zero is refused") {
    o.given_start = VectorXd::Zero(m.state_dim());
    o.given_label = "--state z.h5";
    CHECK_THROWS_WITH(probe_timescales(m, o), Contains("--state z.h5") && Contains("not a stable fixed point"));
  }
}

TEST_CASE("timescales command: the rest point from --fixed-point and from a checkpoint's record", "[timescales][cli][start]") {
  test::ScratchDir dir("timescales_start");
  const Model m = bistable_stack();
  const std::string model = dir / "m.h5", fp = dir / "fp.h5", out = dir / "ts.h5";
  write_model(m, model, Provenance{});
  MatrixXd pts = MatrixXd::Zero(2, m.state_dim());  // rows: the unstable zero, the negative point
  pts(1, 0) = -0.9575;
  {
    h5::File f = h5::File::create(fp);
    h5::Group g = f.create_group("fixed_points");
    g.write("states", pts);
  }
  const std::vector<std::string> common = {"--frequencies", "0.05,0.2", "--periods", "5", "--transient-periods", "5"};
  auto run = [&](std::vector<std::string> a) {
    a.insert(a.end(), common.begin(), common.end());
    return test::run_cli(a);
  };
  auto r = run({"timescales", model, "-o", out, "--fixed-point", fp + ":1"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  {
    const h5::File f = h5::File::open(out);
    CHECK(f.attr_string("fixed_point_start") == "--fixed-point " + fp + ":1");
    CHECK(f.read_vector("fixed_point")(0) == Approx(-0.957504).epsilon(1e-5));
    for (const char* name : {"own_gain_measured", "own_gain_predicted"}) CHECK(f.read(name).shape == h5::Shape{2, 2});
    for (const char* name : {"own_preferred_frequency", "own_cutoff_frequency"}) CHECK(f.read(name).shape == h5::Shape{2});
    CHECK_FALSE(f.has("readout_gain"));  // no readout
  }
  std::filesystem::remove(out);
  test::expect_clean_failure(run({"timescales", model, "-o", out, "--fixed-point", fp + ":2"}), out, {"index 2", "2 points"});

  // A run file's checkpoint with a recorded search: its points are starts too.
  const std::string runf = dir / "run.h5";
  {
    h5::File f = h5::File::create(runf);
    h5::Group c = f.create_group("checkpoints").create_group("7");
    write_model(m, c, Provenance{});
    h5::Group s = c.create_group("fixed_point_search").create_group("fixed_points");
    s.write("states", MatrixXd(pts.bottomRows(1)));
  }
  r = run({"timescales", runf + ":/checkpoints/7", "-o", out});
  INFO(r.err);
  REQUIRE(r.code == 0);
  const h5::File f = h5::File::open(out);
  CHECK(f.attr_int("fixed_point_starts_tried") == 18);  // zero, 16 trajectory states, 1 recorded
}
