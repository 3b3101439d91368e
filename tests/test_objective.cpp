// Auxiliary training objectives: auxiliary readouts of intermediate layers, the penalty on
// redundant gating between stacked LSTM layers, a gate fixed at 1, and predictive coding.
// Gradients against central finite differences of the whole objective; predictive coding's
// local gradients against a second route (one-step sequences of each layer alone, from the
// recorded states); the gate penalty's value against gates recomputed from the weights; the
// command line: history, extra parameters, bitwise resume, what each option does, bad input.
#include "cli_helpers.hpp"
#include "random_model.hpp"

#include <catch2/catch.hpp>
#include <stackdyn/core/h5.hpp>
#include <stackdyn/model/model_io.hpp>
#include <stackdyn/training/bptt.hpp>
#include <stackdyn/training/objective.hpp>
#include <stackdyn/training/parameters.hpp>

#include <csignal>
#include <filesystem>
#include <fstream>

using namespace stackdyn;
using test::LayerDesc;

namespace {

struct Setup {
  Model model;
  int B = 3, T = 6;
  MatrixXd X;
  std::vector<MatrixXd> masks;
  Targets y;
};

Setup make_setup(Model m, unsigned seed, LossKind kind, bool masks = false) {
  std::mt19937_64 rng(seed);
  Setup s;
  const int O = 2;
  m.readout_weight = test::random_matrix(rng, O, m.output_size(), 0.7);
  m.readout_bias = test::random_matrix(rng, O, 1, 0.7);
  s.model = std::move(m);
  s.X = test::random_matrix(rng, s.model.input_size, s.T * s.B, 1.0);
  if (masks)
    for (int l = 0; l + 1 < s.model.num_layers(); ++l) {
      MatrixXd mk = test::random_matrix(rng, s.model.stream_width(l + 1), s.T * s.B, 1.0);
      s.masks.push_back((mk.array() > -0.5).cast<double>() * 1.5);  // dropout-like: 0 or 1.5
    }
  s.y.kind = kind;
  if (kind == LossKind::Mse) {
    s.y.values = test::random_matrix(rng, O, s.T * s.B, 1.0);
  } else {
    std::uniform_int_distribution<int> k(0, O - 1);
    for (int j = 0; j < s.T * s.B; ++j) s.y.classes.push_back(k(rng));
  }
  return s;
}

// The objective's total at the current parameters (model and extra).
double total_of(const Setup& s, Objective& obj) {
  Bptt b(s.model);
  b.forward(s.X, s.B, s.T, {}, s.masks);
  const double E = loss_and_gradient(s.y, b.predictions(), s.B, s.T, nullptr);
  BackwardExtras g, l;
  return obj.evaluate(b, s.y, s.B, s.T, E, g, l).total;
}

// The model's and the extra parameters' gradients of the objective, by the toolkit (`b`
// keeps the forward pass).
std::pair<Model, std::vector<MatrixXd>> gradients_of(Setup& s, Objective& obj, Bptt& b) {
  b.forward(s.X, s.B, s.T, {}, s.masks);
  MatrixXd gPred;
  const double E = loss_and_gradient(s.y, b.predictions(), s.B, s.T, &gPred);
  BackwardExtras g, l;
  obj.evaluate(b, s.y, s.B, s.T, E, g, l);
  Model grad = zeros_like(s.model);
  obj.backward(b, gPred, grad, 0, g, l);
  std::vector<MatrixXd> extra;
  for (const auto& blk : obj.gradients()) extra.push_back(blk.map());
  return {grad, extra};
}

std::pair<Model, std::vector<MatrixXd>> gradients_of(Setup& s, Objective& obj) {
  Bptt b(s.model);
  return gradients_of(s, obj, b);
}

// Central differences of total_of in every entry of `blocks` against `analytic`.
void check_blocks(const Setup& s, Objective& obj, const std::vector<ParamBlock>& blocks, const std::vector<MatrixXd>& analytic) {
  REQUIRE(blocks.size() == analytic.size());
  for (std::size_t k = 0; k < blocks.size(); ++k) {
    INFO("parameter " << blocks[k].name);
    const MatrixXd fd = test::central_differences(blocks[k].data, blocks[k].rows, blocks[k].cols, [&] { return total_of(s, obj); });
    CHECK((analytic[k] - fd).cwiseAbs().maxCoeff() / std::max(1e-3, fd.cwiseAbs().maxCoeff()) < 1e-7);
  }
}

void check_all_gradients(Setup& s, const ObjectiveOptions& o) {
  Rng rng(5);
  Objective obj(s.model, o, s.model.prediction_size(), rng, "test");
  auto [grad, extra] = gradients_of(s, obj);
  std::vector<MatrixXd> model_grads;
  for (const auto& blk : parameter_blocks(grad)) model_grads.push_back(blk.map());
  check_blocks(s, obj, parameter_blocks(s.model), model_grads);
  check_blocks(s, obj, obj.parameters(), extra);
}

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

void write_text(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

std::string lstm_config(const test::ScratchDir& dir, const std::string& extra) {
  const std::string path = dir / "lstm.toml";
  write_text(path, "[model]\ninput_size = 3\nreadout = 3\nseed = 4\n"
                   "[[model.layers]]\ncell = \"lstm\"\nhidden_size = 6\n"
                   "[[model.layers]]\ncell = \"lstm\"\nhidden_size = 6\n"
                   "[[model.layers]]\ncell = \"lstm\"\nhidden_size = 6\n"
                   "[data]\ntask = \"flipflop\"\nsamples = 32\nsteps = 16\n"
                   "[train]\noptimizer = \"adam\"\nlr = 0.01\nbatch_size = 8\nsteps = 12\ncheckpoint_every = 4\n"
                   "clip_grad_norm = 1.0\nseed = 3\n" + extra);
  return path;
}

}  // namespace

TEST_CASE("auxiliary readouts and the gate penalty: gradients against finite differences", "[objective]") {
  SECTION("LSTM stack, auxiliary readouts of both lower layers, gate penalty, dropout masks, mse") {
    Setup s = make_setup(test::random_model(3, {{CellType::Lstm, 4}, {CellType::Lstm, 4}, {CellType::Lstm, 4}}, 21), 2,
                         LossKind::Mse, true);
    ObjectiveOptions o;
    o.aux_layers = {0, 1};
    o.aux_lambda = 0.7;
    o.gate_penalty = 1.3;
    check_all_gradients(s, o);
  }
  SECTION("GRU and tanh layers with skip and residual connections, auxiliary readout, cross-entropy") {
    // layer 1 residual (its stream adds the layer below's), layer 2 skips to layer 0's h
    Setup s = make_setup(test::random_model(3, {{CellType::Gru, 4}, {CellType::RnnTanh, 4, false, true}, {CellType::Gru, 3, true}}, 8),
                         4, LossKind::CrossEntropy);
    ObjectiveOptions o;
    o.aux_layers = {1};
    o.aux_lambda = 0.5;
    check_all_gradients(s, o);
  }
}

TEST_CASE("the gate penalty is the mean of o below times i above, gates recomputed from the weights", "[objective]") {
  Setup s = make_setup(test::random_model(2, {{CellType::Lstm, 3}, {CellType::Lstm, 3}}, 13), 6, LossKind::Mse);
  ObjectiveOptions o;
  o.gate_penalty = 1.0;
  Rng rng(1);
  Objective obj(s.model, o, s.model.prediction_size(), rng, "test");
  Bptt b(s.model);
  b.forward(s.X, s.B, s.T);
  BackwardExtras g, l;
  const double E = loss_and_gradient(s.y, b.predictions(), s.B, s.T, nullptr);
  const auto terms = obj.evaluate(b, s.y, s.B, s.T, E, g, l);
  // o^(0)_t from layer 0's weights, i^(1)_t from layer 1's; h_{-1} = 0.
  const int n = 3;
  double sum = 0.0;
  for (int t = 0; t < s.T; ++t)
    for (int k = 0; k < s.B; ++k) {
      const Eigen::Index c = static_cast<Eigen::Index>(t) * s.B + k, prev = c - s.B;
      const auto gate = [&](int layer, int row0, const VectorXd& u) {
        const CellParams& p = s.model.layers[static_cast<std::size_t>(layer)].fwd;
        const VectorXd h = t == 0 ? VectorXd::Zero(n) : VectorXd(b.hidden(layer).col(prev));
        VectorXd a = p.w_ih.middleRows(row0, n) * u + p.b_ih.segment(row0, n) + p.w_hh.middleRows(row0, n) * h +
                     p.b_hh.segment(row0, n);
        return VectorXd(a.unaryExpr([](double x) { return sigmoid(x); }));
      };
      const VectorXd o0 = gate(0, 3 * n, s.X.col(c));
      const VectorXd i1 = gate(1, 0, b.hidden(0).col(c));
      sum += o0.dot(i1);
    }
  CHECK(terms.gate == Approx(sum / (n * s.B * s.T)).epsilon(1e-13));
  CHECK(terms.total == Approx(E + sum / (n * s.B * s.T)).epsilon(1e-13));
}

TEST_CASE("a fixed gate is exactly 1 and its parameters get exactly zero gradient", "[objective]") {
  for (FixedGate which : {FixedGate::Output, FixedGate::Input}) {
    Setup s = make_setup(test::random_model(3, {{CellType::Lstm, 4}, {CellType::Lstm, 4}, {CellType::Lstm, 4}}, 3), 9,
                         LossKind::Mse);
    fix_lstm_gates(s.model, which, "test");
    Bptt b(s.model);
    b.forward(s.X, s.B, s.T);
    MatrixXd gPred;
    loss_and_gradient(s.y, b.predictions(), s.B, s.T, &gPred);
    Model grad = zeros_like(s.model);
    b.backward(gPred, grad);
    const int n = 4, r0 = which == FixedGate::Output ? 3 * n : 0;
    for (int l = 0; l < 3; ++l) {
      const bool fixed = which == FixedGate::Output ? l < 2 : l > 0;
      INFO("layer " << l);
      const MatrixXd gates = b.lstm_gates(l).middleRows(r0, n);
      if (fixed) {
        CHECK((gates.array() == 1.0).all());
        CHECK(grad.layers[static_cast<std::size_t>(l)].fwd.w_hh.middleRows(r0, n).cwiseAbs().maxCoeff() == 0.0);
        CHECK(grad.layers[static_cast<std::size_t>(l)].fwd.w_ih.middleRows(r0, n).cwiseAbs().maxCoeff() == 0.0);
        CHECK(grad.layers[static_cast<std::size_t>(l)].fwd.b_ih.segment(r0, n).cwiseAbs().maxCoeff() == 0.0);
      } else {
        CHECK((gates.array() < 1.0).all());
      }
    }
  }
  Model gru = test::random_model(2, {{CellType::Gru, 3}, {CellType::Gru, 3}}, 1);
  CHECK_THROWS_WITH(fix_lstm_gates(gru, FixedGate::Output, "cfg"), Catch::Contains("layer 0 is not an LSTM layer"));
}

TEST_CASE("predictive coding: predictor gradients by finite differences, local layer gradients by a second route",
          "[objective]") {
  Setup s = make_setup(test::random_model(2, {{CellType::Lstm, 3}, {CellType::Gru, 4}, {CellType::RnnTanh, 3}}, 17), 12,
                       LossKind::Mse);
  ObjectiveOptions o;
  o.pc = PredictiveCoding::Combined;
  o.pc_lambda = 0.8;
  Rng rng(2);
  Objective obj(s.model, o, s.model.prediction_size(), rng, "test");
  // The predictors: only the prediction errors depend on them, so the objective's finite
  // differences are their gradients.
  {
    auto [grad, extra] = gradients_of(s, obj);
    check_blocks(s, obj, obj.parameters(), extra);
  }
  // Local mode: each layer's gradient is pc_lambda P_l through its own step alone. Second
  // route: the layer alone as a one-layer model, one step from each recorded state s_t with
  // the recorded input u_{t+1}, against the recorded prediction (all held fixed).
  ObjectiveOptions lo = o;
  lo.pc = PredictiveCoding::Local;
  Rng rng2(2);
  Objective local(s.model, lo, s.model.prediction_size(), rng2, "test");
  Bptt b(s.model);
  const Model grad_local = gradients_of(s, local, b).first;
  const MatrixXd states = b.states();
  const auto slices = s.model.state_slices();
  const auto pblocks = local.parameters();
  const int cB = (s.T - 1) * s.B;
  for (int l = 0; l < 3; ++l) {
    INFO("layer " << l);
    const LayerSpec& spec = s.model.layers[static_cast<std::size_t>(l)];
    const int n = spec.hidden_size;
    Model one;
    one.input_size = s.model.stream_width(l);
    one.layers.push_back(spec);
    MatrixXd S0 = states.block(slices[static_cast<std::size_t>(l)].offset, 0, spec.state_size(), cB);
    MatrixXd U1 = b.stream_below(l).rightCols(cB);
    const auto A = pblocks[static_cast<std::size_t>(3 * l)].map(), C = pblocks[static_cast<std::size_t>(3 * l + 1)].map();
    const auto c = pblocks[static_cast<std::size_t>(3 * l + 2)].map();
    MatrixXd pred = A * b.hidden(l).leftCols(cB) + C * b.stream_below(l).leftCols(cB);
    pred.colwise() += c.col(0);
    const auto phi = [&](const Model& mm) {
      Bptt one_step(mm);
      one_step.forward(U1, cB, 1, {S0});
      return o.pc_lambda * (pred - one_step.hidden(0)).squaredNorm() / static_cast<double>(n * cB);
    };
    Model probe = one;
    const auto blocks = parameter_blocks(probe);
    Model gl = grad_local;
    const auto want_blocks = parameter_blocks(gl);
    for (const auto& blk : blocks) {
      INFO(blk.name);
      // the same block of the whole model's local gradient
      const std::string name = "layers/" + std::to_string(l) + blk.name.substr(blk.name.find('/', 7));
      const ParamBlock* g = nullptr;
      for (const auto& w : want_blocks)
        if (w.name == name) g = &w;
      REQUIRE(g != nullptr);
      const MatrixXd fd = test::central_differences(blk.data, blk.rows, blk.cols, [&] { return phi(probe); });
      CHECK((g->map() - fd).cwiseAbs().maxCoeff() / std::max(1e-3, fd.cwiseAbs().maxCoeff()) < 1e-7);
    }
  }
  // The readout still learns from the top-level loss; combined = BPTT of E + the local part.
  MatrixXd gPred;
  loss_and_gradient(s.y, b.predictions(), s.B, s.T, &gPred);
  Model grad_plain = zeros_like(s.model);
  b.backward(gPred, grad_plain);
  CHECK(grad_local.readout_weight == grad_plain.readout_weight);
  auto [grad_combined, extra] = gradients_of(s, obj);
  for (int l = 0; l < 3; ++l) {
    const auto& gc = grad_combined.layers[static_cast<std::size_t>(l)].fwd;
    const auto& gp = grad_plain.layers[static_cast<std::size_t>(l)].fwd;
    const auto& gl = grad_local.layers[static_cast<std::size_t>(l)].fwd;
    CHECK((gc.w_hh - gp.w_hh - gl.w_hh).norm() <= 1e-14 * gc.w_hh.norm());
    CHECK((gc.w_ih - gp.w_ih - gl.w_ih).norm() <= 1e-14 * gc.w_ih.norm());
  }
}

TEST_CASE("train with auxiliary objectives: history, extra parameters, bitwise resume", "[objective][train]") {
  test::ScratchDir tmp("objective_train");
  const std::string cfg = lstm_config(tmp, "aux_layers = [0, 1]\naux_lambda = 0.5\ngate_penalty = 0.1\n"
                                           "predictive_coding = \"combined\"\npc_lambda = 0.2\nfix_gate = \"input\"\n"
                                           "weight_decay = 0.01\n");
  const std::string a = tmp / "a.h5", b = tmp / "b.h5";
  const auto ra = test::run_cli({"train", cfg, "-o", a});
  INFO(ra.err);
  REQUIRE(ra.code == 0);
  const auto stop = test::run_cli({"train", cfg, "-o", b, "--interrupt-at", "6"});
  CHECK(stop.code == 128 + SIGTERM);
  const auto rb = test::run_cli({"train", cfg, "--resume", b});
  INFO(rb.err);
  REQUIRE(rb.code == 0);
  const h5::File fa = h5::File::open(a), fb = h5::File::open(b);
  CHECK(fa.shape("history/aux_loss") == h5::Shape{12, 2});
  CHECK(fa.shape("history/prediction_error") == h5::Shape{12, 3});
  CHECK(fa.shape("history/gate_penalty") == h5::Shape{12});
  for (const std::string name : {"history/loss", "history/total_loss", "history/aux_loss", "history/gate_penalty",
                                 "history/prediction_error", "extra_parameters/aux_readouts/1/weight",
                                 "extra_parameters/predictors/2/weight_state", "checkpoints/12/optimizer/m2/predictors/0/bias",
                                 "final_model/layers/2/weight_hh"}) {
    INFO(name);
    CHECK(fa.read(name).data == fb.read(name).data);
  }
  // total = loss + 0.5 (aux_0 + aux_1) + 0.1 gate + 0.2 sum_l P_l, at every step
  const Eigen::VectorXd loss = fa.read_vector("history/loss"), total = fa.read_vector("history/total_loss"),
                        gate = fa.read_vector("history/gate_penalty");
  const Eigen::MatrixXd aux = fa.read_matrix("history/aux_loss"), pc = fa.read_matrix("history/prediction_error");
  for (Eigen::Index k = 0; k < 12; ++k)
    CHECK(total(k) == Approx(loss(k) + 0.5 * aux.row(k).sum() + 0.1 * gate(k) + 0.2 * pc.row(k).sum()).epsilon(1e-13));
  // fix_gate = "input": layers 1 and 2 keep their input gates pinned through weight decay
  Model fm = read_model(fa.group("final_model"));
  for (int l = 1; l < 3; ++l) {
    CHECK(fm.layers[static_cast<std::size_t>(l)].fwd.w_hh.topRows(6).cwiseAbs().maxCoeff() == 0.0);
    CHECK((fm.layers[static_cast<std::size_t>(l)].fwd.b_ih.head(6).array() == fixed_gate_bias).all());
  }
  CHECK(fm.layers[0].fwd.w_hh.topRows(6).cwiseAbs().maxCoeff() > 0.0);
}

TEST_CASE("each auxiliary objective moves training where it says", "[objective][train]") {
  test::ScratchDir tmp("objective_effect");
  const auto last_vs_first = [&](const std::string& extra, const std::string& dataset) {
    const std::string cfg = lstm_config(tmp, extra), out = tmp / "run.h5";
    std::filesystem::remove(out);
    const auto r = test::run_cli({"train", cfg, "-o", out, "--set", "train.steps=60", "--set", "train.lr=0.03"});
    INFO(r.err);
    REQUIRE(r.code == 0);
    const h5::Array h = h5::File::open(out).read(dataset);  // (steps,) or (steps, K)
    const std::size_t per_step = h.data.size() / h.shape[0], n = 3 * per_step;
    const auto mean = [&](std::size_t first) {
      double sum = 0;
      for (std::size_t i = first; i < first + n; ++i) sum += h.data[i];
      return sum / static_cast<double>(n);
    };
    return std::pair{mean(0), mean(h.data.size() - n)};
  };
  // The gate penalty alone (the task weighted by nothing else) drives o^(l-1) i^(l) down.
  const auto [g0, g1] = last_vs_first("gate_penalty = 1.0\n", "history/gate_penalty");
  CHECK(g1 < 0.5 * g0);
  // An auxiliary readout of layer 0 learns the task from layer 0's stream.
  const auto [a0, a1] = last_vs_first("aux_layers = [0]\naux_lambda = 1.0\n", "history/aux_loss");
  CHECK(a1 < 0.7 * a0);
  // Local predictive coding lowers every layer's prediction error.
  const auto [p0, p1] = last_vs_first("predictive_coding = \"local\"\n", "history/prediction_error");
  CHECK(p1 < 0.5 * p0);
}

TEST_CASE("auxiliary objectives refuse what does not fit with one line", "[objective][errors]") {
  test::ScratchDir tmp("objective_bad");
  const std::string out = tmp / "run.h5";
  const auto bad = [&](const std::string& extra, const std::vector<std::string>& names) {
    const auto r = test::run_cli({"train", lstm_config(tmp, extra), "-o", out});
    test::expect_clean_failure(r, out, names);
  };
  bad("aux_layers = [2]\n", {"train.aux_layers", "below the top"});
  bad("aux_layers = [0, 0]\n", {"train.aux_layers", "twice"});
  bad("aux_lambda = 0.5\n", {"train.aux_lambda", "aux_layers"});
  bad("fix_gate = \"forget\"\n", {"train.fix_gate", "forget"});
  bad("predictive_coding = \"always\"\n", {"train.predictive_coding", "always"});
  bad("pc_lambda = 2\n", {"train.pc_lambda", "off"});
  bad("predictive_coding = \"local\"\naux_layers = [1]\n", {"combined"});
  // a GRU stack has no gates to penalise or fix
  const std::string gru = tmp / "gru.toml";
  write_text(gru, "[model]\ninput_size = 3\nreadout = 3\n[[model.layers]]\ncell = \"gru\"\nhidden_size = 4\n"
                  "[[model.layers]]\ncell = \"gru\"\nhidden_size = 4\n[data]\ntask = \"flipflop\"\nsamples = 8\n"
                  "[train]\nbatch_size = 4\nsteps = 2\ngate_penalty = 1.0\n");
  test::expect_clean_failure(test::run_cli({"train", gru, "-o", out}), out, {"train.gate_penalty", "LSTM"});
  test::expect_clean_failure(test::run_cli({"train", gru, "-o", out, "--set", "train.gate_penalty=0", "--set",
                                            "train.fix_gate=\"output\""}),
                             out, {"train.fix_gate", "LSTM"});
}
