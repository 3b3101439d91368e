// Gradient flow: the vector-Jacobian route against dense products of the analytic Jacobians
// on small stacks (gated cells, skip and residual connections), path counts in depth against
// Fibonacci, and the command's file and bad input.
#include "cli_helpers.hpp"
#include "random_model.hpp"

#include <catch2/catch.hpp>
#include <stackdyn/analysis/gradient_flow.hpp>
#include <stackdyn/core/h5.hpp>
#include <stackdyn/model/model_io.hpp>
#include <stackdyn/model/stack.hpp>
#include <stackdyn/training/bptt.hpp>

#include <filesystem>

using namespace stackdyn;
using Catch::Matchers::Contains;

TEST_CASE("gradient flow: jacobian_norms are the blocks of dense Jacobian products", "[gradient_flow]") {
  const Model m = test::random_model(
      2, {{CellType::RnnTanh, 3}, {CellType::Lstm, 2, /*skip=*/true}, {CellType::Gru, 3, false, /*residual=*/true}}, 5,
      0.8);
  const Stack stack(m);
  const int N = m.state_dim(), L = 3, T = 7;
  const MatrixXd X = test::random_matrix(*std::make_unique<std::mt19937_64>(3), 2, T, 1.0);
  const VectorXd s0 = VectorXd::LinSpaced(N, -0.5, 0.5);
  const GradientFlowResult r = gradient_flow(m, X, s0);
  REQUIRE(r.norms.size() == 3);

  const auto& sl = stack.slices();
  MatrixXd P = MatrixXd::Identity(N, N);  // d s_T / d s_t, built from t = T - 1 down
  for (int t = T - 1; t >= 0; --t) {
    P = P * stack.jacobian_state(stack.linearize(X.col(t), r.states.col(t)));
    for (int mo = 0; mo < L; ++mo)
      for (int l = 0; l < L; ++l) {
        const double dense = P.block(sl[mo].offset, sl[l].offset, sl[mo].hidden_size, sl[l].size).norm();
        INFO("t " << t << " output layer " << mo << " layer " << l);
        CHECK(r.norms[static_cast<std::size_t>(mo)](t, l) == Approx(dense).epsilon(1e-12).margin(1e-300));
      }
  }
  // Derivatives flow up only: a lower layer's output never depends on a higher layer.
  CHECK(r.norms[0].col(1).norm() == 0.0);
  CHECK(r.norms[1].col(2).norm() == 0.0);
}

TEST_CASE("gradient flow: a bidirectional stack's dependency map against finite differences", "[gradient_flow]") {
  // Unidirectional: residual with a projection on the first layer and a skip to the input on
  // the second, every route by which x reaches the top stream (bidirectional stacks have
  // neither connection).
  for (const bool bidi : {true, false}) {
    const test::LayerDesc a{CellType::Lstm, 3, false, !bidi}, b{CellType::Gru, 2, !bidi},
        c{CellType::RnnTanh, 2, false, !bidi};
    const Model m = test::random_model(2, {a, b, c}, 9, 0.7, bidi);
    m.validate("test model");
    const int T = 6, d = 2, O = m.output_size();
    std::mt19937_64 rng(4);
    const MatrixXd X = test::random_matrix(rng, d, T, 1.0);
    std::vector<VectorXd> init;
    for (const auto& l : m.layers)
      for (int dir = 0; dir < m.num_directions(); ++dir) init.push_back(test::random_matrix(rng, l.state_size(), 1, 0.5));
    const MatrixXd dep = output_input_dependency(m, X, init);
    REQUIRE(dep.rows() == T);
    REQUIRE(dep.cols() == T);
    std::vector<MatrixXd> init_m(init.begin(), init.end());
    Bptt bp(m);
    auto outputs = [&](const MatrixXd& Xp) {
      bp.forward(Xp, 1, T, init_m);
      return MatrixXd(bp.outputs());
    };
    const double h = 1e-6;
    MatrixXd fd2 = MatrixXd::Zero(T, T);  // squared norms, summed over the input's components
    for (int s = 0; s < T; ++s)
      for (int i = 0; i < d; ++i) {
        MatrixXd Xp = X, Xm = X;
        Xp(i, s) += h;
        Xm(i, s) -= h;
        const MatrixXd D = (outputs(Xp) - outputs(Xm)) / (2 * h);  // (O, T)
        for (int t = 0; t < T; ++t) fd2(t, s) += D.col(t).squaredNorm();
      }
    INFO("bidirectional " << bidi << ", output width " << O);
    CHECK((dep - fd2.cwiseSqrt()).cwiseAbs().maxCoeff() < 1e-7 * (1 + dep.maxCoeff()));
    // Causal stacks never read the future; bidirectional ones do.
    const double future = dep.triangularView<Eigen::StrictlyUpper>().toDenseMatrix().norm();
    if (bidi)
      CHECK(future > 1e-3);
    else
      CHECK(future == 0.0);
  }
}

TEST_CASE("gradient flow: paths in depth", "[gradient_flow]") {
  std::vector<test::LayerDesc> plain(4, {CellType::RnnTanh, 2}), skips(7, {CellType::RnnTanh, 2, true}),
      residual(3, {CellType::RnnTanh, 2, false, true});
  skips[0].skip = false;  // the first layer has nothing two below it but the input it reads already
  CHECK(depth_path_counts(test::random_model(1, plain, 1)) == std::vector<long long>{1, 1, 1, 1});
  CHECK(depth_path_counts(test::random_model(1, skips, 1)) == std::vector<long long>{1, 2, 3, 5, 8, 13, 21});
  // Residual streams: y^(l) = h^(l) + y^(l-1) doubles the paths at every layer.
  CHECK(depth_path_counts(test::random_model(1, residual, 1)) == std::vector<long long>{1, 2, 4});
}

TEST_CASE("gradient-flow command writes its datasets and refuses bad input", "[gradient_flow][cli]") {
  test::ScratchDir dir("gradient_flow_cli");
  const std::string model = dir / "m.h5", out = dir / "gf.h5", in = dir / "in.h5", bidi = dir / "bidi.h5";
  const Model m = test::random_model(1, {{CellType::Gru, 3}, {CellType::Lstm, 3}}, 2, 0.6);
  write_model(m, model, Provenance{});
  {
    h5::File f = h5::File::create(in);
    std::vector<double> x(2 * 20, 0.3), h0(2 * 2 * 3, 0.1), c0(2 * 2 * 3, -0.2);
    f.write("inputs", {2, 20, 1}, x.data());
    f.write("h0", {2, 2, 3}, h0.data());
    f.write("c0", {2, 2, 3}, c0.data());
  }
  const auto r = test::run_cli({"gradient-flow", model, "-o", out, "--input-file", in, "--steps", "12", "--sample", "1"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  {
    const h5::File f = h5::File::open(out);
    CHECK(f.attr_string("kind") == "gradient_flow");
    CHECK(f.read("jacobian_norms").shape == h5::Shape{12, 2});
    CHECK(f.read("jacobian_norms_all").shape == h5::Shape{2, 12, 2});
    CHECK(f.read_int("depth_path_counts") == std::vector<long long>{1, 1});
    const MatrixXd states = f.read_matrix("states");
    CHECK(states(0, 0) == 0.1);  // h0 of layer 0
    CHECK(states(0, 3 + 3) == -0.2);  // c0 of the LSTM layer
    const h5::Array all = f.read("jacobian_norms_all");
    const MatrixXd top = f.read_matrix("jacobian_norms");
    CHECK(all.data[(1 * 12 + 5) * 2 + 0] == top(5, 0));
  }
  const std::string bad = dir / "bad.h5";
  write_model(test::random_model(1, {{CellType::Gru, 3}}, 1, 0.5, true), bidi, Provenance{});
  const Model mb = test::random_model(1, {{CellType::Gru, 3}, {CellType::RnnTanh, 2}}, 1, 0.5, true);
  write_model(mb, bidi, Provenance{});
  {
    // A bidirectional stack: the dependency of each output step on each input step.
    const auto rb = test::run_cli({"gradient-flow", bidi, "-o", out, "--steps", "9", "--set",
                                   "input.sinusoids=[{channel=0, amplitude=0.5, frequency=0.1}]"});
    INFO(rb.err);
    REQUIRE(rb.code == 0);
    const h5::File f = h5::File::open(out);
    const MatrixXd dep = f.read_matrix("dependency");
    REQUIRE(dep.rows() == 9);
    REQUIRE(dep.cols() == 9);
    CHECK(f.read_int("depth_path_counts") == std::vector<long long>{1, 1});
    CHECK_FALSE(f.has("jacobian_norms"));
    CHECK(dep(0, 8) > 0.0);  // the first output reads the last input through the reverse direction
    CHECK(dep(8, 0) > 0.0);
  }
  test::expect_clean_failure(test::run_cli({"gradient-flow", bidi, "-o", bad, "--input-file", in}), bad,
                             {"bidirectional", "h0"});
  test::expect_clean_failure(test::run_cli({"gradient-flow", model, "-o", bad, "--input-file", in, "--sample", "2"}),
                             bad, {"sample", "2"});
  test::expect_clean_failure(test::run_cli({"gradient-flow", model, "-o", bad, "--input-file", in, "--steps", "21"}),
                             bad, {"steps", "20"});
}
