// Analytic Jacobians of one full step of the stack against central finite differences, and
// the three analytic routes (dense, Jacobian-vector, vector-Jacobian) against each other.
#include "random_model.hpp"

#include <catch2/catch.hpp>
#include <functional>
#include <stackdyn/model/stack.hpp>

using namespace stackdyn;
using test::LayerDesc;

namespace {

Eigen::VectorXd random_vector(std::mt19937_64& rng, Eigen::Index n, double scale) {
  return test::random_matrix(rng, n, 1, scale);
}

Eigen::VectorXd step_once(const Stack& st, const Eigen::VectorXd& x, const Eigen::VectorXd& s) {
  auto ws = st.make_workspace();
  Eigen::VectorXd out(st.state_dim());
  st.step(x, s, out, ws);
  return out;
}

// Central differences of F(s, x) with respect to s (wrt_state) or x.
Eigen::MatrixXd finite_difference(const Stack& st, const Eigen::VectorXd& x, const Eigen::VectorXd& s,
                                  bool wrt_state, double h = 1e-6) {
  const Eigen::Index cols = wrt_state ? s.size() : x.size();
  Eigen::MatrixXd J(st.state_dim(), cols);
  for (Eigen::Index j = 0; j < cols; ++j) {
    Eigen::VectorXd sp = s, sm = s, xp = x, xm = x;
    if (wrt_state) {
      sp(j) += h;
      sm(j) -= h;
    } else {
      xp(j) += h;
      xm(j) -= h;
    }
    J.col(j) = (step_once(st, xp, sp) - step_once(st, xm, sm)) / (2 * h);
  }
  return J;
}

double rel_err(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) {
  return (a - b).cwiseAbs().maxCoeff() / std::max(1.0, b.cwiseAbs().maxCoeff());
}

void check_coupling(const Model& m, unsigned seed, Coupling coupling) {
  INFO((coupling == Coupling::Sequential ? "sequential (discrete map)" : "simultaneous (continuous view)"));
  const Stack st(m, coupling);
  std::mt19937_64 rng(seed);
  const Eigen::VectorXd x = random_vector(rng, st.input_size(), 1.0);
  const Eigen::VectorXd s = random_vector(rng, st.state_dim(), 0.8);
  const auto lin = st.linearize(x, s);
  REQUIRE(lin.s_next.isApprox(step_once(st, x, s), 0.0));

  const Eigen::MatrixXd Js = st.jacobian_state(lin), Jx = st.jacobian_input(lin);
  CHECK(rel_err(Js, finite_difference(st, x, s, true)) < 1e-8);
  CHECK(rel_err(Jx, finite_difference(st, x, s, false)) < 1e-8);

  // Block lower-triangular, with the layers' own blocks on the diagonal.
  for (int l = 0; l < st.num_layers(); ++l) {
    const auto& sl = st.slices()[l];
    CHECK(rel_err(Js.block(sl.offset, sl.offset, sl.size, sl.size), st.diagonal_block(lin, l)) < 1e-13);
    const int above = st.state_dim() - sl.offset - sl.size;
    if (above > 0) CHECK(Js.block(sl.offset, sl.offset + sl.size, sl.size, above).cwiseAbs().maxCoeff() == 0.0);
  }

  // Jacobian-vector and vector-Jacobian products, several directions at once.
  const int k = 3;
  const Eigen::MatrixXd dS = test::random_matrix(rng, st.state_dim(), k, 1.0);
  const Eigen::MatrixXd dX = test::random_matrix(rng, st.input_size(), k, 1.0);
  Eigen::MatrixXd out(st.state_dim(), k);
  st.jvp(lin, dX, dS, out);
  CHECK(rel_err(out, Js * dS + Jx * dX) < 1e-12);
  const Eigen::MatrixXd G = test::random_matrix(rng, st.state_dim(), k, 1.0);
  Eigen::MatrixXd gX(st.input_size(), k), gS(st.state_dim(), k);
  st.vjp(lin, G, gX, gS);
  CHECK(rel_err(gS, Js.transpose() * G) < 1e-12);
  CHECK(rel_err(gX, Jx.transpose() * G) < 1e-12);
}

// Changes a model's parameters, for the input x, so that a state it returns is (nearly) a
// fixed point: for layers that random weights leave without one.
using Pin = std::function<Eigen::VectorXd(Model&, const Eigen::VectorXd&)>;

// Both couplings: the discrete map and the map inside the continuous-time view.
void check_model(const Model& m0, unsigned seed, const Pin& pin = {}) {
  check_coupling(m0, seed, Coupling::Sequential);
  check_coupling(m0, seed, Coupling::Simultaneous);
  // At a fixed point s* (F(s*) = s*, hence G(s*) = s*) every layer reads the same input in
  // both views, so their diagonal blocks agree (docs/design.md 3). Away from fixed points they
  // need not: layer l's input is then built from different states.
  std::mt19937_64 rng(seed);
  const Eigen::VectorXd x = random_vector(rng, m0.input_size, 0.5);
  Model m = m0;
  Eigen::VectorXd s = Eigen::VectorXd::Zero(m.state_dim());
  if (pin) s = pin(m, x);
  const Stack a(m, Coupling::Sequential), b(m, Coupling::Simultaneous);
  if (!pin)
    for (int t = 0; t < 3000; ++t) s = step_once(a, x, s);
  // Where iterating finds no attracting fixed point (the residual deep-transition layers,
  // h' = MLP(h, u) + h), Newton's method on r(s) = F(s) - s finds one (least-squares steps,
  // halved until |r| decreases), from there or from seeded random states.
  auto r = [&](const Eigen::VectorXd& v) { return Eigen::VectorXd(step_once(a, x, v) - v); };
  auto newton = [&](Eigen::VectorXd v) {
    for (int it = 0; it < 200 && v.allFinite() && r(v).norm() > 1e-13; ++it) {
      Eigen::MatrixXd J = a.jacobian_state(a.linearize(x, v));
      J.diagonal().array() -= 1.0;
      const Eigen::VectorXd d = J.completeOrthogonalDecomposition().solve(r(v));
      double alpha = 1;
      while (alpha > 1e-8 && !(r(v - alpha * d).norm() < r(v).norm())) alpha /= 2;
      v -= alpha * d;
    }
    return v;
  };
  if (!s.allFinite()) s.setZero();  // iterating h' = MLP(h, u) + h may run off to infinity
  s = newton(s);
  for (int start = 0; start < 50 && !(r(s).norm() < 1e-12); ++start) s = newton(random_vector(rng, a.state_dim(), 1.0));
  if (!(r(s).norm() < 1e-12)) FAIL("no fixed point found for the comparison of the two couplings");
  CHECK((step_once(b, x, s) - s).norm() < 1e-12);
  const auto la = a.linearize(x, s), lb = b.linearize(x, s);
  for (int l = 0; l < a.num_layers(); ++l) CHECK(rel_err(a.diagonal_block(la, l), b.diagonal_block(lb, l)) < 1e-12);
}

}  // namespace

TEST_CASE("single-layer Jacobians match finite differences for every cell type", "[jacobian]") {
  using C = CellType;
  SECTION("rnn_tanh") { check_model(test::random_model(3, {{C::RnnTanh, 6}}, 1), 11); }
  SECTION("rnn_relu") { check_model(test::random_model(3, {{C::RnnRelu, 6}}, 2), 12); }
  SECTION("gru (torch, reset after)") { check_model(test::random_model(3, {{C::Gru, 5}}, 3), 13); }
  SECTION("gru_reset_before") { check_model(test::random_model(3, {{C::GruResetBefore, 5}}, 4), 14); }
  SECTION("lstm") { check_model(test::random_model(3, {{C::Lstm, 4}}, 5), 15); }
  SECTION("deep_transition, two hidden MLP layers") {
    LayerDesc d{C::DeepTransition, 5};
    d.transition_hidden = {7, 4};
    check_model(test::random_model(3, {d}, 6), 16);
  }
  SECTION("deep_transition, residual, relu") {
    LayerDesc d{C::DeepTransition, 5};
    d.transition_hidden = {8};
    d.transition_residual = true;
    d.activation = Activation::Relu;
    check_model(test::random_model(3, {d}, 7), 17);
  }
  SECTION("deep_transition without hidden MLP layers") {
    check_model(test::random_model(2, {{C::DeepTransition, 4}}, 8), 18);
  }
  SECTION("no bias") {
    for (auto c : {C::RnnTanh, C::Gru, C::GruResetBefore, C::Lstm}) {
      LayerDesc d{c, 4};
      d.bias = false;
      check_model(test::random_model(3, {d}, 9), 19);
    }
  }
}

TEST_CASE("stacked Jacobians match finite differences", "[jacobian]") {
  using C = CellType;
  SECTION("mixed cells, three layers") {
    check_model(test::random_model(3, {{C::Gru, 5}, {C::Lstm, 4}, {C::RnnTanh, 6}}, 21), 31);
  }
  SECTION("skip connections") {
    LayerDesc a{C::RnnTanh, 5}, b{C::Lstm, 4}, c{C::Gru, 3};
    b.skip = true;  // reads [h1; x]
    c.skip = true;  // reads [h2; h1]
    check_model(test::random_model(3, {a, b, c}, 22), 32);
  }
  SECTION("residual on depth, with and without projection") {
    LayerDesc a{C::Gru, 5}, b{C::RnnTanh, 5}, c{C::Lstm, 4}, d{C::Gru, 4};
    a.residual = true;  // projection from x (width 3)
    b.residual = true;  // identity
    c.residual = true;  // projection 5 -> 4
    d.residual = true;  // identity
    check_model(test::random_model(3, {a, b, c, d}, 23), 33);
  }
  SECTION("deep-transition layers in a stack with skip and residual") {
    LayerDesc a{C::DeepTransition, 5}, b{C::DeepTransition, 4}, c{C::GruResetBefore, 4};
    a.transition_hidden = {6};
    b.transition_hidden = {5, 5};
    b.transition_residual = true;
    b.skip = true;
    c.residual = true;
    c.skip = true;
    // Layer b, h' = h + tanh(W z(h, u) + bias), rests only where W z + bias = 0, which random
    // weights need not allow: its last bias is set so that h_b = 0.3 (every unit) is such a
    // point, with layer a at its own fixed point (reached by iterating: a contracts).
    const Pin pin = [](Model& m, const Eigen::VectorXd& x) {
      auto& bias = m.layers[1].fwd.mlp_b.back();
      bias.setZero();
      const Stack st(m, Coupling::Sequential);
      const auto& sl = st.slices();
      Eigen::VectorXd s = Eigen::VectorXd::Zero(st.state_dim());
      for (int t = 0; t < 3000; ++t) s = step_once(st, x, s);  // layer a reads nothing above it
      s.segment(sl[1].offset, sl[1].size).setConstant(0.3);
      s.segment(sl[2].offset, sl[2].size).setZero();
      const Eigen::VectorXd next = step_once(st, x, s);  // h_b' = 0.3 + tanh(W z): W z = atanh(h_b' - 0.3)
      bias = -(next.segment(sl[1].offset, sl[1].size).array() - 0.3).atanh().matrix();
      return s;
    };
    check_model(test::random_model(2, {a, b, c}, 24), 34, pin);
  }
}
