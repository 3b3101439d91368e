// The whole-sequence forward pass (layer by layer, as torch computes it) against two other
// routes: stepping the full stack one step at a time, and, for bidirectional models,
// composing single-direction runs by hand.
#include "random_model.hpp"

#include <catch2/catch.hpp>
#include <stackdyn/model/sequence.hpp>
#include <stackdyn/model/stack.hpp>

using namespace stackdyn;
using test::LayerDesc;

namespace {

double max_abs(const Eigen::MatrixXd& a) { return a.size() ? a.cwiseAbs().maxCoeff() : 0.0; }

void check_against_steps(const Model& m, int B, int T, unsigned seed) {
  std::mt19937_64 rng(seed);
  const Stack st(m);
  const Eigen::MatrixXd X = test::random_matrix(rng, m.input_size, static_cast<Eigen::Index>(T) * B, 1.0);
  const Eigen::MatrixXd S0 = test::random_matrix(rng, st.state_dim(), B, 0.5);
  std::vector<Eigen::MatrixXd> h0, c0;
  for (const auto& sl : st.slices()) {
    h0.push_back(S0.middleRows(sl.offset, sl.hidden_size));
    c0.push_back(sl.has_cell_state ? Eigen::MatrixXd(S0.middleRows(sl.offset + sl.hidden_size, sl.hidden_size))
                                   : Eigen::MatrixXd());
  }
  const SequenceOutput r = run_sequence(m, X, B, T, h0, c0);

  auto ws = st.make_workspace();
  Eigen::MatrixXd S = S0, S_next(st.state_dim(), B);
  for (int t = 0; t < T; ++t) {
    st.step(X.middleCols(static_cast<Eigen::Index>(t) * B, B), S, S_next, ws);
    S.swap(S_next);
    CHECK(max_abs(r.states.middleCols(static_cast<Eigen::Index>(t) * B, B) - S) < 1e-13);
    CHECK(max_abs(r.outputs.middleCols(static_cast<Eigen::Index>(t) * B, B) - st.output(ws)) < 1e-13);
  }
  for (int l = 0; l < st.num_layers(); ++l) {
    const auto& sl = st.slices()[l];
    CHECK(max_abs(r.h_n[l] - S.middleRows(sl.offset, sl.hidden_size)) < 1e-13);
  }
}

// A one-layer unidirectional model holding one direction's parameters of layer l.
Model single_direction(const Model& m, int l, bool reverse, int input_size) {
  Model one;
  one.input_size = input_size;
  LayerSpec s = m.layers[l];
  s.fwd = reverse ? s.bwd : s.fwd;
  s.bwd = CellParams{};
  one.layers.push_back(s);
  return one;
}

Eigen::MatrixXd reverse_time(const Eigen::MatrixXd& X, int B, int T) {
  Eigen::MatrixXd R(X.rows(), X.cols());
  for (int t = 0; t < T; ++t)
    R.middleCols(static_cast<Eigen::Index>(T - 1 - t) * B, B) = X.middleCols(static_cast<Eigen::Index>(t) * B, B);
  return R;
}

}  // namespace

TEST_CASE("sequence forward equals stepping the stack", "[sequence]") {
  using C = CellType;
  SECTION("torch-shaped") { check_against_steps(test::random_model(3, {{C::Lstm, 5}, {C::Lstm, 5}}, 1), 4, 9, 2); }
  SECTION("mixed cells, skip, residual, deep transition") {
    LayerDesc a{C::Gru, 5}, b{C::Lstm, 4}, c{C::DeepTransition, 3}, d{C::GruResetBefore, 3};
    b.skip = true;
    c.residual = true;
    c.transition_hidden = {4};
    d.skip = true;
    d.residual = true;
    check_against_steps(test::random_model(2, {a, b, c, d}, 3), 3, 11, 4);
  }
  SECTION("long sequence (several projection chunks)") {
    check_against_steps(test::random_model(2, {{C::RnnTanh, 4}, {C::Gru, 3}}, 5), 2, 600, 6);
  }
}

TEST_CASE("bidirectional forward composes the two directions of each layer", "[sequence]") {
  using C = CellType;
  for (auto cell : {C::RnnTanh, C::Gru, C::Lstm}) {
    const Model m = test::random_model(3, {{cell, 4}, {cell, 4}, {cell, 4}}, 7, 0.6, true);
    const int B = 2, T = 5;
    std::mt19937_64 rng(8);
    const Eigen::MatrixXd X = test::random_matrix(rng, 3, T * B, 1.0);
    const SequenceOutput r = run_sequence(m, X, B, T);
    Eigen::MatrixXd below = X;
    for (int l = 0; l < m.num_layers(); ++l) {
      const int in = static_cast<int>(below.rows());
      const SequenceOutput f = run_sequence(single_direction(m, l, false, in), below, B, T);
      const SequenceOutput b = run_sequence(single_direction(m, l, true, in), reverse_time(below, B, T), B, T);
      Eigen::MatrixXd layer_out(8, T * B);
      layer_out << f.outputs, reverse_time(b.outputs, B, T);
      CHECK(max_abs(r.h_n[2 * l] - f.h_n[0]) < 1e-14);
      CHECK(max_abs(r.h_n[2 * l + 1] - b.h_n[0]) < 1e-14);
      below = layer_out;
    }
    CHECK(max_abs(r.outputs - below) < 1e-14);
    CHECK(r.states.size() == 0);
  }
}
