// The main job (`stackdyn demo`) and `stackdyn info` on success: what they print and write,
// checked against the model itself (parameter counts by the torch formula, the discrete
// trajectory step by step through the stack, the fixed points by their residual).
#include "cli_helpers.hpp"
#include "random_model.hpp"

#include <catch2/catch.hpp>
#include <stackdyn/core/h5.hpp>
#include <stackdyn/model/model_io.hpp>
#include <stackdyn/model/stack.hpp>

#include <cmath>
#include <numbers>

using namespace stackdyn;
using Catch::Matchers::Contains;

namespace {
// torch's parameter count of a unidirectional layer with G gate blocks: G n (in + n) + 2 G n.
long torch_count(int gates, long n, long in) { return gates * n * (in + n) + 2 * gates * n; }
}  // namespace

TEST_CASE("info prints the architecture, parameter counts and state slices", "[cli][info]") {
  test::ScratchDir dir("info");
  write_model(test::random_model(2, {{CellType::RnnTanh, 4}, {CellType::Lstm, 3}}, 1), dir / "m.h5", Provenance{});
  const auto r = test::run_cli({"info", dir / "m.h5"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  const long p0 = torch_count(1, 4, 2), p1 = torch_count(4, 3, 4);
  CHECK_THAT(r.out, Contains("2 layers, input size 2"));
  CHECK_THAT(r.out, Contains("parameters: " + std::to_string(p0 + p1) + "\n"));
  CHECK_THAT(r.out, Contains("state_dim: 10\n"));  // 4 + [h; c] of 3
  CHECK_THAT(r.out, Contains(std::to_string(p0)));
  CHECK_THAT(r.out, Contains("[0, 4)"));
  CHECK_THAT(r.out, Contains("[4, 10) h;c"));
  CHECK(r.err.empty());
}

TEST_CASE("demo: the default model's trajectories follow the map, its fixed points are fixed", "[cli][demo]") {
  test::ScratchDir dir("demo");
  const auto r = test::run_cli({"demo", "-o", dir / "demo.h5", "--steps", "30", "--t-end", "5", "--batch", "2",
                                "--seed", "3"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  const h5::File f = h5::File::open(dir / "demo.h5");
  const Model m = read_model(f.group("model"));
  REQUIRE(m.num_layers() == 3);
  // rnn_tanh 32 on the input, gru 32, lstm 16 (data/default_model.toml)
  const long params = torch_count(1, 32, m.input_size) + torch_count(3, 32, 32) + torch_count(4, 16, 32);
  CHECK(m.parameter_count() == params);
  CHECK(m.state_dim() == 32 + 32 + 2 * 16);
  CHECK_THAT(r.out, Contains(std::to_string(params) + " parameters, state_dim 96"));
  CHECK_THAT(r.out, Contains("fixed points for zero input"));

  // s_{k+1} = F(s_k, x_{k+1}) with x_c = 0.5 sin(2 pi k / (25 (c + 1))) at step k.
  const h5::Array d = f.group("discrete").read("states", 3);
  REQUIRE(d.shape == h5::Shape{2, 31, 96});
  const Stack st(m, Coupling::Sequential);
  auto sample = [&](std::size_t b, std::size_t k) {
    return Eigen::Map<const VectorXd>(d.data.data() + (b * 31 + k) * 96, 96);
  };
  double worst = 0;
  for (std::size_t b = 0; b < 2; ++b)
    for (std::size_t k = 0; k < 30; ++k) {
      VectorXd x(m.input_size);
      for (int c = 0; c < m.input_size; ++c) x[c] = 0.5 * std::sin(2 * std::numbers::pi * k / (25.0 * (c + 1)));
      Eigen::MatrixXd S = sample(b, k), S1(96, 1), X = x;
      auto ws = st.make_workspace();
      st.step(X, S, S1, ws);
      worst = std::max(worst, (S1.col(0) - sample(b, k + 1)).cwiseAbs().maxCoeff());
    }
  CHECK(worst < 1e-12);

  const h5::Array t = f.group("continuous").read("time", 1);
  CHECK(t.data.front() == 0.0);
  CHECK(t.data.back() == 5.0);

  // Every fixed point of the zero input: |F(s*, 0) - s*| at the level the finder converges to.
  const h5::Array fp = f.group("fixed_points_zero_input/fixed_points").read("states", 2);
  REQUIRE(fp.shape[0] > 0);
  REQUIRE(fp.shape[1] == 96);
  auto ws = st.make_workspace();
  for (std::size_t k = 0; k < fp.shape[0]; ++k) {
    Eigen::MatrixXd S = Eigen::Map<const VectorXd>(fp.data.data() + k * 96, 96), S1(96, 1);
    st.step(Eigen::MatrixXd::Zero(m.input_size, 1), S, S1, ws);
    CHECK((S1 - S).norm() < 1e-10);
  }
}
