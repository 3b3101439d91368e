// Random initialisation from a TOML description (init.hpp) and the portable RNG under it
// (random.hpp): determinism, the distributions' bounds and moments, orthogonality,
// spectral radii, widths, torch's parameter counts, and the messages for bad input.
#include "test_util.hpp"

#include <catch2/catch.hpp>

#include <stackdyn/core/config.hpp>
#include <stackdyn/model/init.hpp>
#include <stackdyn/core/random.hpp>

#include <Eigen/Eigenvalues>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

using stackdyn::CellParams;
using stackdyn::CellType;
using stackdyn::Config;
using stackdyn::InputError;
using stackdyn::Model;
using stackdyn::model_from_config;
using stackdyn::Rng;
using Catch::Matchers::Contains;
using Catch::Matchers::Equals;
using Catch::Matchers::StartsWith;

namespace {

Model build(const std::string& toml, long long* seed = nullptr) {
  return model_from_config(Config::from_string(toml, "model.toml"), seed);
}


std::string build_error(const std::string& toml) {
  return stackdyn::test::message_of([&] { (void)build(toml); });
}

bool same_bits(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) {
  return a.rows() == b.rows() && a.cols() == b.cols() &&
         (a.size() == 0 || std::memcmp(a.data(), b.data(), sizeof(double) * static_cast<std::size_t>(a.size())) == 0);
}

bool same_bits(const CellParams& a, const CellParams& b) {
  if (!same_bits(a.w_ih, b.w_ih) || !same_bits(a.w_hh, b.w_hh) || !same_bits(a.b_ih, b.b_ih) ||
      !same_bits(a.b_hh, b.b_hh) || a.mlp_w.size() != b.mlp_w.size() || a.mlp_b.size() != b.mlp_b.size())
    return false;
  for (std::size_t k = 0; k < a.mlp_w.size(); ++k)
    if (!same_bits(a.mlp_w[k], b.mlp_w[k])) return false;
  for (std::size_t k = 0; k < a.mlp_b.size(); ++k)
    if (!same_bits(a.mlp_b[k], b.mlp_b[k])) return false;
  return true;
}

bool same_bits(const Model& a, const Model& b) {
  if (a.num_layers() != b.num_layers()) return false;
  for (int i = 0; i < a.num_layers(); ++i) {
    const auto &la = a.layers[static_cast<std::size_t>(i)], &lb = b.layers[static_cast<std::size_t>(i)];
    if (!same_bits(la.fwd, lb.fwd) || !same_bits(la.bwd, lb.bwd) || !same_bits(la.residual_proj, lb.residual_proj))
      return false;
  }
  return true;
}

/// Largest |eigenvalue| by the complex Schur route (ComplexEigenSolver), independent of
/// the real EigenSolver that init uses.
double spectral_radius(const Eigen::MatrixXd& m) {
  const Eigen::ComplexEigenSolver<Eigen::MatrixXcd> es(m.cast<std::complex<double>>(), false);
  REQUIRE(es.info() == Eigen::Success);
  return es.eigenvalues().cwiseAbs().maxCoeff();
}

const char* mixed_stack = R"(
input_size = 3
seed = 11
[[layers]]
cell = "lstm"
hidden_size = 6
[[layers]]
cell = "gru"
hidden_size = 5
init = "orthogonal"
spectral_radius = 0.9
[[layers]]
cell = "deep_transition"
hidden_size = 4
transition_hidden = [7, 3]
skip = true
residual = true
)";

}  // namespace

// --- Rng --------------------------------------------------------------------------------

TEST_CASE("Rng: the standard engine, our own conversions", "[random]") {
  SECTION("the engine is std::mt19937_64 (its 10000th output for the default seed is fixed by the standard)") {
    Rng rng(5489u);
    std::uint64_t x = 0;
    for (int i = 0; i < 10000; ++i) x = rng.next_u64();
    CHECK(x == 9981545732273789042ull);
  }
  SECTION("uniform() is the top 53 bits times 2^-53") {
    Rng rng(42);
    std::mt19937_64 ref(42);
    for (int i = 0; i < 1000; ++i) {
      const double u = rng.uniform();
      CHECK(u == std::ldexp(static_cast<double>(ref() >> 11), -53));
      CHECK(u >= 0.0);
      CHECK(u < 1.0);
    }
  }
  SECTION("moments of uniform(a, b) and normal()") {
    Rng rng(7);
    const int n = 200000;
    double su = 0, suu = 0, sn = 0, snn = 0, sn4 = 0;
    int outside = 0;
    for (int i = 0; i < n; ++i) {
      const double u = rng.uniform(-2.0, 3.0);
      outside += (u < -2.0 || u > 3.0);
      su += u;
      suu += u * u;
      const double z = rng.normal();
      sn += z;
      snn += z * z;
      sn4 += z * z * z * z;
    }
    CHECK(outside == 0);
    const double mu = su / n, vu = suu / n - mu * mu;
    CHECK(mu == Approx(0.5).margin(0.02));            // sd of the mean: 5/sqrt(12 n) = 0.003
    CHECK(vu == Approx(25.0 / 12.0).epsilon(0.02));   // relative sd ~ 0.2%
    CHECK(sn / n == Approx(0.0).margin(0.015));       // sd 0.0022
    CHECK(snn / n == Approx(1.0).epsilon(0.02));      // sd 0.003
    CHECK(sn4 / n == Approx(3.0).epsilon(0.05));      // normal kurtosis
  }
  SECTION("below(n) is uniform on [0, n) and the same seed repeats") {
    Rng a(3), b(3);
    std::vector<int> counts(7, 0);
    int mismatches = 0;
    for (int i = 0; i < 70000; ++i) {
      const auto k = a.below(7);
      mismatches += (k != b.below(7));
      ++counts[std::min<std::size_t>(k, 6)];
    }
    CHECK(mismatches == 0);
    for (const int c : counts) CHECK(c == Approx(10000).margin(500));  // sd ~ 93
    CHECK(Rng(5).below(1) == 0);
    CHECK(a.normal() == b.normal());
  }
}

// --- model_from_config: randomness -------------------------------------------------------

TEST_CASE("the seed alone determines the model", "[init]") {
  long long seed = -1;
  const Model a = build(mixed_stack, &seed);
  CHECK(seed == 11);
  const Model b = build(mixed_stack);
  CHECK(same_bits(a, b));

  Config other = Config::from_string(mixed_stack, "model.toml");
  other.set("seed", "12");
  const Model c = model_from_config(other, &seed);
  CHECK(seed == 12);
  CHECK_FALSE(same_bits(a, c));
  CHECK_FALSE(same_bits(a.layers[0].fwd, c.layers[0].fwd));
  CHECK_FALSE(same_bits(a.layers[2].fwd, c.layers[2].fwd));

  SECTION("seed defaults to 0") {
    Config zero = Config::from_string(mixed_stack, "model.toml");
    zero.set("seed", "0");
    const std::string text = std::string(mixed_stack).replace(std::string(mixed_stack).find("seed = 11"), 9, "");
    CHECK(same_bits(model_from_config(zero), build(text, &seed)));
    CHECK(seed == 0);
  }
  SECTION("the documented order: the first draw is layer 0's weight_ih(0, 0), row-major") {
    const double k = 1.0 / std::sqrt(6.0);
    Rng rng(11);
    const Eigen::MatrixXd& w = a.layers[0].fwd.w_ih;
    for (Eigen::Index r = 0; r < 2; ++r)
      for (Eigen::Index col = 0; col < w.cols(); ++col) CHECK(w(r, col) == rng.uniform(-k, k));
  }
}

TEST_CASE("uniform initialisation: torch's U(-1/sqrt(n), 1/sqrt(n))", "[init]") {
  const Model m = build(R"(
input_size = 200
bidirectional = true
[[layers]]
cell = "gru"
hidden_size = 200
[[layers]]
cell = "rnn_relu"
hidden_size = 3
)");
  SECTION("every weight and bias within the bound") {
    for (const auto& layer : m.layers) {
      const double k = 1.0 / std::sqrt(static_cast<double>(layer.hidden_size));
      for (const CellParams* p : {&layer.fwd, &layer.bwd}) {
        CHECK(p->w_ih.cwiseAbs().maxCoeff() <= k);
        CHECK(p->w_hh.cwiseAbs().maxCoeff() <= k);
        CHECK(p->b_ih.cwiseAbs().maxCoeff() <= k);
        CHECK(p->b_hh.cwiseAbs().maxCoeff() <= k);
      }
    }
  }
  SECTION("sample mean and variance of a large layer: 0 and k^2/3") {
    const auto& p = m.layers[0].fwd;  // 600 x 200 twice: 240000 draws
    Eigen::VectorXd all(p.w_ih.size() + p.w_hh.size());
    all << p.w_ih.reshaped(), p.w_hh.reshaped();
    const double k2 = 1.0 / 200.0, mean = all.mean();
    const double var = (all.array() - mean).square().sum() / static_cast<double>(all.size() - 1);
    CHECK(mean == Approx(0.0).margin(0.01 * std::sqrt(k2)));  // sd of the mean: 0.0012 k
    CHECK(var == Approx(k2 / 3.0).epsilon(0.02));              // relative sd 0.12%
  }
  SECTION("the residual projection is U(-1/sqrt(fan_in), ..): fan_in = 400, the stream below") {
    const Model r = build("input_size = 400\n[[layers]]\ncell = 'rnn_relu'\nhidden_size = 3\nresidual = true\n");
    const auto& P = r.layers[0].residual_proj;
    REQUIRE(P.rows() == 3);
    REQUIRE(P.cols() == 400);
    CHECK(P.cwiseAbs().maxCoeff() <= 1.0 / std::sqrt(400.0));
    CHECK(P.cwiseAbs().maxCoeff() > 0.9 / std::sqrt(400.0));
  }
}

TEST_CASE("orthogonal initialisation and spectral radius", "[init]") {
  SECTION("each recurrent gate block is orthogonal, in both directions") {
    const Model m = build(R"(
input_size = 4
bidirectional = true
[[layers]]
cell = "gru"
hidden_size = 32
init = "orthogonal"
[[layers]]
cell = "lstm"
hidden_size = 9
init = "orthogonal"
)");
    for (const auto& layer : m.layers) {
      const int n = layer.hidden_size;
      const double k = 1.0 / std::sqrt(static_cast<double>(n));
      for (const CellParams* p : {&layer.fwd, &layer.bwd}) {
        REQUIRE(p->w_hh.rows() == stackdyn::gate_count(layer.cell) * n);
        for (int g = 0; g < stackdyn::gate_count(layer.cell); ++g) {
          const Eigen::MatrixXd Q = p->w_hh.middleRows(g * n, n);
          CHECK((Q.transpose() * Q - Eigen::MatrixXd::Identity(n, n)).cwiseAbs().maxCoeff() < 1e-12);
          CHECK((Q * Q.transpose() - Eigen::MatrixXd::Identity(n, n)).cwiseAbs().maxCoeff() < 1e-12);
        }
        CHECK(p->w_ih.cwiseAbs().maxCoeff() <= k);  // the rest stays uniform
        CHECK(p->b_hh.cwiseAbs().maxCoeff() <= k);
      }
      // different blocks are different draws
      CHECK((layer.fwd.w_hh.topRows(n) - layer.fwd.w_hh.middleRows(n, n)).norm() > 1.0);
      CHECK((layer.fwd.w_hh - layer.bwd.w_hh).norm() > 1.0);
    }
  }
  SECTION("spectral_radius is achieved per gate block, with either init") {
    for (const char* init : {"uniform", "orthogonal"}) {
      Config cfg = Config::from_string(R"(
input_size = 2
bidirectional = true
[[layers]]
cell = "rnn_tanh"
hidden_size = 40
spectral_radius = 1.5
[[layers]]
cell = "lstm"
hidden_size = 12
spectral_radius = 0.7
[[layers]]
cell = "gru_reset_before"
hidden_size = 8
spectral_radius = 2
)",
                                       "model.toml");
      for (int i = 0; i < 3; ++i) cfg.set("layers[" + std::to_string(i) + "].init", init);
      const Model m = model_from_config(cfg);
      const double target[] = {1.5, 0.7, 2.0};
      for (std::size_t i = 0; i < 3; ++i) {
        const auto& layer = m.layers[i];
        const int n = layer.hidden_size;
        for (const CellParams* p : {&layer.fwd, &layer.bwd})
          for (int g = 0; g < stackdyn::gate_count(layer.cell); ++g)
            CHECK(std::abs(spectral_radius(p->w_hh.middleRows(g * n, n)) - target[i]) < 1e-10);
      }
    }
  }
}

// --- widths and counts ---------------------------------------------------------------------

TEST_CASE("widths with skip, residual, bidirectional and deep transitions", "[init]") {
  SECTION("a unidirectional mixed stack") {
    const Model m = build(mixed_stack);
    const auto& l0 = m.layers[0];
    CHECK(l0.fwd.w_ih.rows() == 24);
    CHECK(l0.fwd.w_ih.cols() == 3);
    CHECK(l0.fwd.w_hh.cols() == 6);
    CHECK(l0.bwd.w_ih.size() == 0);  // no reverse direction
    CHECK(m.layers[1].fwd.w_ih.cols() == 6);
    // deep transition on layer 3: reads [y^(2); h^(1)] = 5 + 6; MLP 11+4 -> 7 -> 3 -> 4
    const auto& d = m.layers[2];
    CHECK(d.fwd.w_ih.rows() == 7);
    CHECK(d.fwd.w_ih.cols() == 11);
    CHECK(d.fwd.w_hh.rows() == 7);
    CHECK(d.fwd.w_hh.cols() == 4);
    CHECK(d.fwd.b_ih.size() == 7);
    CHECK(d.fwd.b_hh.size() == 0);
    REQUIRE(d.fwd.mlp_w.size() == 2);
    CHECK(d.fwd.mlp_w[0].rows() == 3);
    CHECK(d.fwd.mlp_w[0].cols() == 7);
    CHECK(d.fwd.mlp_w[1].rows() == 4);
    CHECK(d.fwd.mlp_w[1].cols() == 3);
    CHECK(d.fwd.mlp_b[1].size() == 4);
    // residual: y^(2) has width 5, h^(3) 4 -> projection 4 x 5
    CHECK(d.residual_proj.rows() == 4);
    CHECK(d.residual_proj.cols() == 5);
    // bounds: 1/sqrt(fan_in), fan_in = columns of the whole MLP layer
    CHECK(std::max(d.fwd.w_ih.cwiseAbs().maxCoeff(), d.fwd.w_hh.cwiseAbs().maxCoeff()) <= 1.0 / std::sqrt(15.0));
    CHECK(d.fwd.b_ih.cwiseAbs().maxCoeff() <= 1.0 / std::sqrt(15.0));
    CHECK(d.fwd.mlp_w[0].cwiseAbs().maxCoeff() <= 1.0 / std::sqrt(7.0));
    CHECK(d.fwd.mlp_w[1].cwiseAbs().maxCoeff() <= 1.0 / std::sqrt(3.0));
    CHECK(d.fwd.mlp_w[1].cwiseAbs().maxCoeff() > 1.0 / std::sqrt(7.0));  // not the narrower bound
    CHECK(m.state_dim() == 12 + 5 + 4);
  }
  SECTION("bidirectional: both directions drawn, the layer above reads both") {
    const Model m = build(R"(
input_size = 3
bidirectional = true
[[layers]]
cell = "rnn_tanh"
hidden_size = 4
[[layers]]
cell = "gru"
hidden_size = 5
bias = false
)");
    for (const auto& layer : m.layers) {
      CHECK(layer.bwd.w_ih.rows() == layer.fwd.w_ih.rows());
      CHECK(layer.bwd.w_ih.cols() == layer.fwd.w_ih.cols());
      CHECK(layer.bwd.w_hh.rows() == layer.fwd.w_hh.rows());
    }
    CHECK(m.layers[0].fwd.w_ih.cols() == 3);
    CHECK(m.layers[1].fwd.w_ih.cols() == 8);  // [h_fwd; h_bwd] of the layer below
    CHECK(m.layers[1].bwd.w_ih.cols() == 8);
    CHECK(m.layers[1].fwd.w_ih.rows() == 15);
    CHECK(m.layers[1].bwd.b_ih.size() == 0);
    CHECK(m.layers[1].fwd.b_hh.size() == 0);
    CHECK_FALSE(same_bits(m.layers[0].fwd, m.layers[0].bwd));
    CHECK(m.parameter_count() == 2 * (4 * 3 + 4 * 4 + 8) + 2 * (15 * 8 + 15 * 5));
  }
  SECTION("skip and residual: equal widths need no projection") {
    const Model m = build(R"(
input_size = 3
[[layers]]
cell = "rnn_tanh"
hidden_size = 4
[[layers]]
cell = "rnn_tanh"
hidden_size = 4
residual = true
skip = true
[[layers]]
cell = "gru_reset_before"
hidden_size = 6
residual = true
skip = true
)");
    CHECK(m.layers[1].fwd.w_ih.cols() == 4 + 3);  // [y^(1); x]
    CHECK(m.layers[1].residual_proj.size() == 0);  // 4 -> 4: the identity
    CHECK(m.layers[2].fwd.w_ih.cols() == 4 + 4);   // [y^(2); h^(1)]
    CHECK(m.layers[2].residual_proj.rows() == 6);
    CHECK(m.layers[2].residual_proj.cols() == 4);
  }
  SECTION("a residual first layer projects the input") {
    const Model m = build("input_size = 3\n[[layers]]\ncell = 'rnn_tanh'\nhidden_size = 5\nresidual = true\n");
    CHECK(m.layers[0].residual_proj.rows() == 5);
    CHECK(m.layers[0].residual_proj.cols() == 3);
  }
}

TEST_CASE("parameter count of a 2-layer LSTM equals torch's numel sum", "[init]") {
  // torch.nn.LSTM(3, 5, num_layers=2): per layer 4n*in + 4n*n + 2*4n.
  //   layer 0: 20*3 + 20*5 + 40 = 200; layer 1: 20*5 + 20*5 + 40 = 240.
  const Model m = build("input_size = 3\n[[layers]]\ncell = 'lstm'\nhidden_size = 5\n"
                        "[[layers]]\ncell = 'lstm'\nhidden_size = 5\n");
  CHECK(m.parameter_count() == 440);
  CHECK(m.parameter_counts() == std::vector<long>{200, 240});
  // bidirectional=True: layer 0 2*200; layer 1 reads 10: 2*(20*10 + 20*5 + 40) = 680.
  Config bi = Config::from_string("input_size = 3\nbidirectional = true\n[[layers]]\ncell = 'lstm'\nhidden_size = 5\n"
                                  "[[layers]]\ncell = 'lstm'\nhidden_size = 5\n",
                                  "bi.toml");
  CHECK(model_from_config(bi).parameter_count() == 1080);
}

TEST_CASE("the shipped descriptions build", "[init]") {
#ifdef STACKDYN_SOURCE_DIR
  const std::string dir = std::string(STACKDYN_SOURCE_DIR) + "/data/";
  SECTION("default_model.toml: the main job's model") {
    long long seed = -1;
    const Model m = model_from_config(Config::from_file(dir + "default_model.toml"), &seed);
    CHECK(seed == 7);
    CHECK(m.input_size == 2);
    REQUIRE(m.num_layers() == 3);
    CHECK(m.layers[0].cell == CellType::RnnTanh);
    CHECK(m.layers[0].hidden_size == 32);
    CHECK(m.layers[1].cell == CellType::Gru);
    CHECK(m.layers[1].hidden_size == 32);
    CHECK(m.layers[2].cell == CellType::Lstm);
    CHECK(m.layers[2].hidden_size == 16);
    CHECK(std::abs(spectral_radius(m.layers[0].fwd.w_hh) - 1.5) < 1e-10);
  }
  SECTION("model_example.toml: every key") {
    const Model m = model_from_config(Config::from_file(dir + "model_example.toml"));
    CHECK(m.num_layers() == 2);
    CHECK(m.layers[1].cell == CellType::DeepTransition);
    CHECK(m.readout_weight.rows() == 3);
    CHECK(m.readout_weight.cols() == m.output_size());
  }
#else
  WARN("STACKDYN_SOURCE_DIR not defined: shipped descriptions not checked");
#endif
}

TEST_CASE("init draws a readout as torch's nn.Linear does", "[init]") {
  const std::string desc = "input_size = 2\nseed = 4\nreadout = 5\n[[layers]]\ncell = 'gru'\nhidden_size = 6\n"
                           "[[layers]]\ncell = 'lstm'\nhidden_size = 9\nresidual = true\n";
  const Model m = model_from_config(Config::from_string(desc, "model.toml"));
  REQUIRE(m.readout_weight.rows() == 5);
  REQUIRE(m.readout_weight.cols() == 9);  // the top stream
  REQUIRE(m.readout_bias.size() == 5);
  const double k = 1.0 / 3.0;             // 1/sqrt(9)
  CHECK(m.readout_weight.cwiseAbs().maxCoeff() <= k);
  CHECK(m.readout_bias.cwiseAbs().maxCoeff() <= k);
  CHECK(m.readout_weight.cwiseAbs().maxCoeff() > 0.5 * k);  // spread over the range, not zeros
  // Drawn after the layers: the layers are the same as without a readout.
  const Model plain = model_from_config(Config::from_string(
      "input_size = 2\nseed = 4\n[[layers]]\ncell = 'gru'\nhidden_size = 6\n"
      "[[layers]]\ncell = 'lstm'\nhidden_size = 9\nresidual = true\n",
      "model.toml"));
  CHECK(plain.layers[1].fwd.w_hh == m.layers[1].fwd.w_hh);
  CHECK(plain.layers[1].residual_proj == m.layers[1].residual_proj);
  CHECK_FALSE(plain.has_readout());
  CHECK_THROWS_WITH(model_from_config(Config::from_string("input_size = 2\nreadout = 0\n[[layers]]\ncell = 'gru'\n"
                                                          "hidden_size = 6\n", "model.toml")),
                    Catch::Matchers::Contains("readout"));
}

// --- bad input ----------------------------------------------------------------------------

TEST_CASE("invalid descriptions: one line naming the file and the key", "[init]") {
  const std::string head = "input_size = 2\n[[layers]]\n";
  const std::string gru = head + "cell = 'gru'\nhidden_size = 4\n";

  CHECK_THAT(build_error(head + "cell = 'gru'\nhiden_size = 4\n"),
             StartsWith("model.toml: unknown key 'layers[0].hiden_size' (expected one of: cell, hidden_size, bias,"));
  CHECK_THAT(build_error("input_sise = 2\n"), StartsWith("model.toml: unknown key 'input_sise' (expected one of: "
                                                         "input_size, seed, bidirectional, dropout, layers, readout)"));
  {
    const std::string msg = build_error(head + "cell = 'gur'\nhidden_size = 4\n");
    CHECK_THAT(msg, StartsWith("model.toml: key 'layers[0].cell'"));
    CHECK_THAT(msg, Contains("gur"));
  }
  CHECK_THAT(build_error(head + "hidden_size = 4\n"),
             StartsWith("model.toml: key 'layers[0].cell': missing required key; expected one of rnn_tanh"));
  CHECK_THAT(build_error(head + "cell = 'gru'\nhidden_size = 0\n"),
             Equals("model.toml: key 'layers[0].hidden_size': expected a positive integer, got 0"));
  CHECK_THAT(build_error(head + "cell = 'gru'\n"),
             Equals("model.toml: key 'layers[0].hidden_size': missing required key; expected a positive integer"));
  CHECK_THAT(build_error("[[layers]]\ncell = 'gru'\nhidden_size = 4\n"),
             Equals("model.toml: key 'input_size': missing required key; expected a positive integer"));
  CHECK_THAT(build_error("input_size = 2\n"),
             Equals("model.toml: key 'layers': missing: expected at least one [[layers]] table"));
  CHECK_THAT(build_error("dropout = 1.5\n" + gru),
             Equals("model.toml: key 'dropout': expected a number in [0, 1), got 1.5"));
  CHECK_THAT(build_error("seed = -1\n" + gru),
             Equals("model.toml: key 'seed': expected a non-negative integer, got -1"));
  CHECK_THAT(build_error("bidirectional = 1\n" + gru),
             Equals("model.toml: key 'bidirectional': expected true or false, got 1"));
  CHECK_THAT(build_error(gru + "spectral_radius = 0\n"),
             Equals("model.toml: key 'layers[0].spectral_radius': expected a positive number, got 0"));
  CHECK_THAT(build_error(gru + "spectral_radius = -1.5\n"),
             Equals("model.toml: key 'layers[0].spectral_radius': expected a positive number, got -1.5"));
  CHECK_THAT(build_error(gru + "skip = true\n"), StartsWith("model.toml: key 'layers[0].skip': the first layer cannot skip"));
  CHECK_THAT(build_error(gru + "init = 'xavier'\n"),
             Equals("model.toml: key 'layers[0].init': expected \"uniform\" or \"orthogonal\", got \"xavier\""));
  CHECK_THAT(build_error(gru + "transition_hidden = [8]\n"),
             Equals("model.toml: key 'layers[0].transition_hidden': only for cell = \"deep_transition\"; "
                    "this layer's cell is \"gru\""));
  CHECK_THAT(build_error(gru + "activation = 'relu'\n"), StartsWith("model.toml: key 'layers[0].activation': only for"));
  CHECK_THAT(build_error(gru + "transition_residual = true\n"),
             StartsWith("model.toml: key 'layers[0].transition_residual': only for"));

  const std::string deep = head + "cell = 'deep_transition'\nhidden_size = 4\n";
  CHECK_THAT(build_error(deep + "spectral_radius = 1.2\n"),
             StartsWith("model.toml: key 'layers[0].spectral_radius': does not apply to deep_transition cells"));
  CHECK_THAT(build_error(deep + "init = 'orthogonal'\n"),
             StartsWith("model.toml: key 'layers[0].init': \"orthogonal\" does not apply to deep_transition cells"));
  CHECK_THAT(build_error(deep + "transition_hidden = [8, 0]\n"),
             Equals("model.toml: key 'layers[0].transition_hidden[1]': expected a positive integer, got 0"));
  {
    const std::string msg = build_error(deep + "activation = 'sigmoid'\n");
    CHECK_THAT(msg, StartsWith("model.toml: key 'layers[0].activation'"));
    CHECK_THAT(msg, Contains("sigmoid"));
  }
  CHECK_THAT(build_error(gru + "[[layers]]\ncell = 'gru'\nhidden_size = -3\n"),
             Equals("model.toml: key 'layers[1].hidden_size': expected a positive integer, got -3"));
  const std::string bi = "bidirectional = true\n" + gru + "[[layers]]\nhidden_size = 4\n";
  CHECK_THAT(build_error(bi + "cell = 'gru'\nskip = true\n"),
             StartsWith("model.toml: key 'layers[1].skip': skip connections are not supported in a bidirectional model"));
  CHECK_THAT(build_error(bi + "cell = 'gru'\nresidual = true\n"),
             StartsWith("model.toml: key 'layers[1].residual': residual connections are not supported in a bidirectional"));
  CHECK_THAT(build_error(bi + "cell = 'deep_transition'\n"),
             StartsWith("model.toml: key 'layers[1].cell': deep_transition cells are not supported in a bidirectional"));
  CHECK_THAT(build_error("input_size = 2\nlayers = 3\n"),
             Equals("model.toml: key 'layers': expected an array of tables, got 3"));
  // A deep transition accepts the keys a plain cell refuses, with a scalar as a 1-list.
  CHECK_NOTHROW(build(deep + "transition_hidden = 8\nactivation = 'relu'\ntransition_residual = true\n"));
}
