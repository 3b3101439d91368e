// Gradients by backpropagation through time against central finite differences of the
// loss, for every cell and connection; the forward pass against run_sequence; truncated
// BPTT against the sum of its windows' full gradients; the full-state adjoint against
// finite differences of the remaining loss in the state.
#include "random_model.hpp"

#include <catch2/catch.hpp>
#include <stackdyn/model/sequence.hpp>
#include <stackdyn/model/stack.hpp>
#include <stackdyn/training/bptt.hpp>
#include <stackdyn/training/loss.hpp>
#include <stackdyn/training/parameters.hpp>

using namespace stackdyn;
using test::LayerDesc;

namespace {

struct Problem {
  Model model;
  int B = 3, T = 5;
  MatrixXd X;
  std::vector<MatrixXd> init, masks;
  Targets y;
};

void add_readout(Model& m, std::mt19937_64& rng, int O, bool bias = true) {
  m.readout_weight = test::random_matrix(rng, O, m.output_size(), 0.7);
  if (bias) m.readout_bias = test::random_matrix(rng, O, 1, 0.7);
}

Problem make_problem(Model m, unsigned seed, LossKind kind = LossKind::Mse, bool every_step = true, bool with_init = true,
                     bool readout = true) {
  std::mt19937_64 rng(seed);
  Problem p;
  if (readout) add_readout(m, rng, kind == LossKind::Mse ? 2 : 3);
  p.model = std::move(m);
  const Model& md = p.model;
  p.X = test::random_matrix(rng, md.input_size, p.T * p.B, 1.0);
  if (with_init)
    for (const auto& l : md.layers)
      for (int d = 0; d < md.num_directions(); ++d) p.init.push_back(test::random_matrix(rng, l.state_size(), p.B, 0.5));
  p.y.kind = kind;
  p.y.every_step = every_step;
  const int cols = every_step ? p.T * p.B : p.B;
  if (kind == LossKind::Mse) {
    p.y.values = test::random_matrix(rng, md.prediction_size(), cols, 1.0);
  } else {
    std::uniform_int_distribution<int> k(0, md.prediction_size() - 1);
    for (int j = 0; j < cols; ++j) p.y.classes.push_back(k(rng));
  }
  return p;
}

double loss_of(const Model& m, const Problem& p) {
  Bptt b(m);
  b.forward(p.X, p.B, p.T, p.init, p.masks);
  return loss_and_gradient(p.y, b.predictions(), p.B, p.T, nullptr);
}

// Analytic gradient of every parameter against central differences (relative to the
// largest entry of the block, with a floor).
void check_gradients(Problem p, int truncate = 0) {
  Bptt b(p.model);
  b.forward(p.X, p.B, p.T, p.init, p.masks);
  MatrixXd gPred;
  loss_and_gradient(p.y, b.predictions(), p.B, p.T, &gPred);
  Model grad = zeros_like(p.model);
  b.backward(gPred, grad, truncate);
  Model probe = p.model;
  const auto blocks = parameter_blocks(probe);
  const auto gblocks = parameter_blocks(grad);
  REQUIRE(blocks.size() == gblocks.size());
  for (std::size_t k = 0; k < blocks.size(); ++k) {
    INFO("parameter " << blocks[k].name);
    const MatrixXd fd = test::central_differences(blocks[k].data, blocks[k].rows, blocks[k].cols, [&] { return loss_of(probe, p); });
    const MatrixXd an = gblocks[k].map();
    CHECK((an - fd).cwiseAbs().maxCoeff() / std::max(1e-3, fd.cwiseAbs().maxCoeff()) < 1e-7);
  }
}

}  // namespace

TEST_CASE("BPTT forward equals run_sequence", "[bptt]") {
  for (bool bidi : {false, true}) {
    const Model m = test::random_model(3, {{CellType::Gru, 4}, {CellType::Lstm, 3}, {CellType::RnnTanh, 5}}, 7, 0.6, bidi);
    Problem p = make_problem(m, 3, LossKind::Mse, true, false, false);
    Bptt b(p.model);
    b.forward(p.X, p.B, p.T);
    const SequenceOutput r = run_sequence(p.model, p.X, p.B, p.T);
    CHECK((b.outputs() - r.outputs).norm() == 0.0);
    if (!bidi) CHECK((b.states() - r.states).norm() == 0.0);
  }
}

TEST_CASE("BPTT gradients of every cell against finite differences", "[bptt]") {
  const std::vector<std::pair<const char*, std::vector<LayerDesc>>> cases = {
      {"rnn_tanh", {{CellType::RnnTanh, 4}, {CellType::RnnTanh, 3}}},
      {"rnn_relu", {{CellType::RnnRelu, 4}, {CellType::RnnRelu, 3}}},
      {"gru", {{CellType::Gru, 4}, {CellType::Gru, 3}}},
      {"gru_reset_before", {{CellType::GruResetBefore, 4}, {CellType::GruResetBefore, 3}}},
      {"lstm", {{CellType::Lstm, 4}, {CellType::Lstm, 3}}},
      {"deep_transition", {{CellType::DeepTransition, 4, false, false, {5, 3}}, {CellType::DeepTransition, 3}}},
      {"deep_transition residual relu",
       {{CellType::DeepTransition, 4, false, false, {5}, true, true, Activation::Relu}, {CellType::RnnTanh, 3}}},
      {"no bias", {{CellType::Gru, 4, false, false, {}, false, false}, {CellType::Lstm, 3, false, false, {}, false, false},
                   {CellType::DeepTransition, 3, false, false, {4}, false, false}}},
  };
  for (const auto& [name, layers] : cases) {
    SECTION(name) { check_gradients(make_problem(test::random_model(3, layers, 11), 5)); }
  }
}

TEST_CASE("BPTT gradients of every connection against finite differences", "[bptt]") {
  SECTION("skip") {
    check_gradients(make_problem(
        test::random_model(2, {{CellType::Gru, 4}, {CellType::RnnTanh, 3, true}, {CellType::Lstm, 3, true}}, 12), 6));
  }
  SECTION("residual, identity and projection") {
    check_gradients(make_problem(test::random_model(2,
                                                    {{CellType::RnnTanh, 4, false, true},
                                                     {CellType::Gru, 4, false, true},
                                                     {CellType::Lstm, 3, false, true}},
                                                    13),
                                 7));
  }
  SECTION("bidirectional") {
    check_gradients(make_problem(test::random_model(2, {{CellType::Lstm, 3}, {CellType::Gru, 3}}, 14, 0.6, true), 8));
    check_gradients(make_problem(test::random_model(2, {{CellType::RnnTanh, 3}, {CellType::RnnRelu, 2}}, 15, 0.6, true), 9));
  }
  SECTION("dropout masks between layers") {
    Problem p = make_problem(test::random_model(2,
                                                {{CellType::Gru, 4}, {CellType::Lstm, 3, false, true},
                                                 {CellType::RnnTanh, 3, true}},
                                                16),
                             10);
    std::mt19937_64 rng(3);
    std::bernoulli_distribution keep(0.7);
    for (int l = 0; l + 1 < p.model.num_layers(); ++l) {
      MatrixXd mask(p.model.stream_width(l + 1), p.T * p.B);
      for (Eigen::Index i = 0; i < mask.size(); ++i) mask.data()[i] = keep(rng) ? 1.0 / 0.7 : 0.0;
      p.masks.push_back(mask);
    }
    check_gradients(p);
  }
  SECTION("cross-entropy, last step only, zero initial state") {
    check_gradients(make_problem(test::random_model(2, {{CellType::Lstm, 3}, {CellType::Gru, 4}}, 17), 11,
                                 LossKind::CrossEntropy, false, false));
    check_gradients(make_problem(test::random_model(2, {{CellType::RnnTanh, 3}}, 18), 12, LossKind::CrossEntropy, true));
    check_gradients(make_problem(test::random_model(2, {{CellType::Gru, 3}}, 19), 13, LossKind::Mse, false, true, false));
  }
}

TEST_CASE("truncated BPTT is the sum of each window's gradient from its detached start", "[bptt]") {
  // Second route: run each window of k steps on its own from the state the full forward
  // pass reached there, and add the windows' full gradients.
  const Model m = test::random_model(2, {{CellType::Lstm, 3}, {CellType::Gru, 4}}, 21);
  Problem p = make_problem(m, 14);
  p.T = 7;
  std::mt19937_64 rng(5);
  p.X = test::random_matrix(rng, 2, p.T * p.B, 1.0);
  p.y.values = test::random_matrix(rng, p.model.prediction_size(), p.T * p.B, 1.0);
  const int k = 3;
  Bptt full(p.model);
  full.forward(p.X, p.B, p.T, p.init);
  MatrixXd gPred;
  const double N = static_cast<double>(p.y.values.size());
  loss_and_gradient(p.y, full.predictions(), p.B, p.T, &gPred);
  Model truncated = zeros_like(p.model);
  full.backward(gPred, truncated, k);

  Model sum = zeros_like(p.model);
  const auto slices = p.model.state_slices();
  const MatrixXd states = full.states();
  for (int t0 = 0; t0 < p.T; t0 += k) {
    const int len = std::min(k, p.T - t0);
    std::vector<MatrixXd> init;
    for (std::size_t l = 0; l < slices.size(); ++l)
      init.push_back(t0 == 0 ? p.init[l]
                             : MatrixXd(states.block(slices[l].offset, static_cast<Eigen::Index>(t0 - 1) * p.B,
                                                     slices[l].size, p.B)));
    Bptt w(p.model);
    w.forward(p.X.middleCols(static_cast<Eigen::Index>(t0) * p.B, len * p.B), p.B, len, init);
    // the window's share of the mean over all elements
    MatrixXd g = (w.predictions() - p.y.values.middleCols(static_cast<Eigen::Index>(t0) * p.B, len * p.B)) * (2.0 / N);
    w.backward(g, sum);
  }
  auto a = parameter_blocks(truncated), b = parameter_blocks(sum);
  for (std::size_t i = 0; i < a.size(); ++i) {
    INFO(a[i].name);
    CHECK((a[i].map() - b[i].map()).norm() <= 1e-12 * std::max(1.0, b[i].map().norm()));
  }
  // and it differs from the full gradient
  Model fullg = zeros_like(p.model);
  full.backward(gPred, fullg, 0);
  CHECK((parameter_blocks(fullg)[1].map() - b[1].map()).norm() > 1e-6);
}

TEST_CASE("full-state adjoint against finite differences of the remaining loss", "[bptt]") {
  for (bool residual : {false, true}) {
    INFO("residual " << residual);
    Model m = test::random_model(2, {{CellType::Gru, 3}, {CellType::Lstm, 2, false, residual}, {CellType::RnnTanh, 2, true, residual}}, 23);
    Problem p = make_problem(m, 15);
    Bptt b(p.model);
    b.forward(p.X, p.B, p.T, p.init);
    MatrixXd gPred;
    loss_and_gradient(p.y, b.predictions(), p.B, p.T, &gPred);
    Model grad = zeros_like(p.model);
    b.backward(gPred, grad);
    const MatrixXd S = b.states();
    const MatrixXd g = full_state_adjoint(p.model, p.X, S, b.output_cotangent(), p.B, p.T);
    // The loss of steps t.. as a function of s_t (one sample), stepping the map onwards.
    const Stack st(p.model);
    auto ws = st.make_workspace();
    const double N = static_cast<double>(p.y.values.size());
    auto rest = [&](int t, int s, const VectorXd& st0) {
      VectorXd cur = st0, next(st.state_dim());
      double total = 0;
      for (int tau = t; tau < p.T; ++tau) {
        const Eigen::Index c = static_cast<Eigen::Index>(tau) * p.B + s;
        if (tau > t) {
          st.step(p.X.col(c), cur, next, ws);
          cur = next;
        }
        // the top stream from the state (residual streams through the layers below)
        VectorXd y = p.X.col(c);
        for (int l = 0; l < p.model.num_layers(); ++l) {
          const auto& sl = st.slices()[static_cast<std::size_t>(l)];
          const LayerSpec& spec = p.model.layers[static_cast<std::size_t>(l)];
          VectorXd h = cur.segment(sl.offset, sl.hidden_size);
          if (spec.residual) h += spec.residual_proj.size() ? VectorXd(spec.residual_proj * y) : y;
          y = h;
        }
        VectorXd pred = p.model.readout_weight * y + p.model.readout_bias;
        total += (pred - p.y.values.col(c)).squaredNorm() / N;
      }
      return total;
    };
    for (int t : {0, 2, p.T - 1})
      for (int s = 0; s < p.B; ++s) {
        const Eigen::Index c = static_cast<Eigen::Index>(t) * p.B + s;
        VectorXd fd(st.state_dim());
        for (int i = 0; i < st.state_dim(); ++i) {
          VectorXd sp = S.col(c), sm = S.col(c);
          sp(i) += 1e-6;
          sm(i) -= 1e-6;
          fd(i) = (rest(t, s, sp) - rest(t, s, sm)) / 2e-6;
        }
        CHECK((g.col(c) - fd).cwiseAbs().maxCoeff() < 1e-8);
      }
  }
}
