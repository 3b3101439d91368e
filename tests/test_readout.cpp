// A readout everywhere it helps: the model's prediction at states (predictions_at_states)
// against the stream a step of the stack builds, and the `predictions` that simulate,
// fixed-points, spectrum and continuation write, against forward's and against W h + b
// computed here from the written states.
#include "cli_helpers.hpp"
#include "random_model.hpp"

#include <catch2/catch.hpp>
#include <stackdyn/core/h5.hpp>
#include <stackdyn/model/model_io.hpp>
#include <stackdyn/model/stack.hpp>

using namespace stackdyn;

namespace {

Model with_readout(Model m, int O, unsigned seed, bool bias = true) {
  std::mt19937_64 rng(seed);
  m.readout_weight = test::random_matrix(rng, O, m.output_size(), 0.8);
  if (bias) m.readout_bias = test::random_matrix(rng, O, 1, 0.8);
  m.validate("test model");
  return m;
}

double max_abs(const MatrixXd& a) { return a.size() ? a.cwiseAbs().maxCoeff() : 0.0; }

}  // namespace

TEST_CASE("predictions at states equal the readout of the stream a step builds", "[readout]") {
  // Residual layers with and without a projection: the stream mixes the input and every layer.
  test::LayerDesc a{CellType::Gru, 4, false, true}, b{CellType::Lstm, 4, false, true}, c{CellType::RnnTanh, 3, true, true};
  for (const bool readout : {true, false}) {
    Model m = test::random_model(2, {a, b, c}, 3, 0.7);
    if (readout) m = with_readout(m, 2, 5);
    const Stack stack(m, Coupling::Sequential);
    std::mt19937_64 rng(7);
    const MatrixXd S = test::random_matrix(rng, m.state_dim(), 5, 0.8), X = test::random_matrix(rng, 2, 5, 1.0);
    auto ws = stack.make_workspace();
    MatrixXd S1(m.state_dim(), 5), P;
    stack.step(X, S, S1, ws);
    MatrixXd expected = stack.output(ws);
    if (readout) {
      expected = m.readout_weight * expected;
      expected.colwise() += m.readout_bias;
    }
    predictions_at_states(m, S1, X, P);
    INFO("readout " << readout);
    REQUIRE(P.rows() == m.prediction_size());
    CHECK(max_abs(P - expected) < 1e-14);
    // One input column serves every state.
    MatrixXd P1;
    predictions_at_states(m, S1, X.col(2), P1);
    CHECK(max_abs(P1.col(2) - P.col(2)) == 0.0);
  }
}

TEST_CASE("simulate, fixed-points, spectrum and continuation write the readout's value", "[readout][cli]") {
  test::ScratchDir dir("readout_cli");
  const std::string model = dir / "m.h5", in = dir / "in.h5";
  const Model m = with_readout(test::random_model(1, {{CellType::Gru, 4}, {CellType::RnnTanh, 3, false, true}}, 11, 0.5), 2, 12);
  write_model(m, model, Provenance{});
  const int B = 2, T = 9;
  {
    h5::File f = h5::File::create(in);
    std::vector<double> x(B * T);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.7 * static_cast<double>(i));
    f.write("inputs", {B, T, 1}, x.data());
  }
  auto ok = [](const test::CliResult& r) {
    INFO(r.err);
    REQUIRE(r.code == 0);
  };

  SECTION("simulate's discrete predictions are forward's") {
    ok(test::run_cli({"forward", model, in, "-o", dir / "fwd.h5"}));
    ok(test::run_cli({"simulate", model, "-o", dir / "sim.h5", "--mode", "discrete", "--input-file", in, "--steps",
                      std::to_string(T)}));
    const h5::File fw = h5::File::open(dir / "fwd.h5"), sim = h5::File::open(dir / "sim.h5");
    const h5::Array pf = fw.read("predictions"), ps = sim.read("predictions");
    REQUIRE(pf.shape == h5::Shape{B, T, 2});
    REQUIRE(ps.shape == h5::Shape{B, T + 1, 2});  // the initial state first
    double err = 0;
    for (std::size_t b = 0; b < B; ++b)
      for (std::size_t t = 0; t < T; ++t)
        for (std::size_t o = 0; o < 2; ++o)
          err = std::max(err, std::abs(pf.data[(b * T + t) * 2 + o] - ps.data[(b * (T + 1) + t + 1) * 2 + o]));
    CHECK(err < 1e-14);
  }

  SECTION("continuous predictions are the readout of the written states and inputs") {
    ok(test::run_cli({"simulate", model, "-o", dir / "c.h5", "--t-end", "3", "--batch", "2", "--set",
                      "input.sinusoids=[{channel=0, amplitude=0.5, frequency=0.3}]", "--set", "s0_scale=0.5"}));
    const h5::File f = h5::File::open(dir / "c.h5");
    const h5::Array st = f.read("states"), x = f.read("inputs"), p = f.read("predictions");
    const std::size_t n = st.shape[1], N = static_cast<std::size_t>(m.state_dim());
    REQUIRE(p.shape == h5::Shape{2, n, 2});
    double err = 0;
    for (std::size_t b = 0; b < 2; ++b)
      for (std::size_t k = 0; k < n; ++k) {
        // y = h2 + (projection) ... layer 2 is residual with a projection from h1 (4 -> 3)
        VectorXd s(static_cast<Eigen::Index>(N));
        for (std::size_t j = 0; j < N; ++j) s(static_cast<Eigen::Index>(j)) = st.data[(b * n + k) * N + j];
        const VectorXd y = s.segment(4, 3) + m.layers[1].residual_proj * s.head(4);
        const VectorXd pred = m.readout_weight * y + m.readout_bias;
        for (int o = 0; o < 2; ++o) err = std::max(err, std::abs(pred(o) - p.data[(b * n + k) * 2 + static_cast<std::size_t>(o)]));
      }
    CHECK(err < 1e-13);
    CHECK(x.shape[1] == n);
  }

  SECTION("fixed points, their spectra and continuation branches") {
    ok(test::run_cli({"fixed-points", model, "-o", dir / "fp.h5", "--n-init", "16"}));
    const h5::File f = h5::File::open(dir / "fp.h5");
    const MatrixXd S = f.read_matrix("fixed_points/states"), P = f.read_matrix("fixed_points/predictions");
    REQUIRE(S.rows() >= 1);
    REQUIRE(P.rows() == S.rows());
    REQUIRE(P.cols() == 2);
    for (Eigen::Index k = 0; k < S.rows(); ++k) {
      const VectorXd s = S.row(k).transpose();
      const VectorXd pred = m.readout_weight * VectorXd(s.segment(4, 3) + m.layers[1].residual_proj * s.head(4)) + m.readout_bias;
      CHECK(max_abs(pred - P.row(k).transpose()) < 1e-14);
    }
    ok(test::run_cli({"spectrum", model, dir / "fp.h5", "-o", dir / "sp.h5"}));
    CHECK(max_abs(h5::File::open(dir / "sp.h5").read_matrix("predictions") - P) == 0.0);

    ok(test::run_cli({"continuation", model, "-o", dir / "co.h5", "--direction", "1", "--set", "p_max=0.5",
                      "--set", "p_min=-0.5"}));
    const h5::File c = h5::File::open(dir / "co.h5");
    const MatrixXd cs = c.read_matrix("branches/branch_0/states"), cp = c.read_matrix("branches/branch_0/predictions");
    const h5::Array p = c.read("branches/branch_0/p");
    REQUIRE(cp.rows() == cs.rows());
    // The input moves along the branch, but without a residual path from x the readout reads
    // the states alone.
    for (Eigen::Index k = 0; k < cs.rows(); ++k) {
      const VectorXd s = cs.row(k).transpose();
      const VectorXd pred = m.readout_weight * VectorXd(s.segment(4, 3) + m.layers[1].residual_proj * s.head(4)) + m.readout_bias;
      CHECK(max_abs(pred - cp.row(k).transpose()) < 1e-14);
    }
    CHECK(p.data.size() == static_cast<std::size_t>(cs.rows()));
  }
}
