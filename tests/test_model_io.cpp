// The model file: bitwise round trips of every cell type and connection, parameter counts
// against torch's numel, the state layout, and the messages for broken model files.
#include <stackdyn/core/error.hpp>
#include <stackdyn/core/h5.hpp>
#include <stackdyn/model/model.hpp>
#include <stackdyn/model/model_io.hpp>
#include <stackdyn/core/provenance.hpp>

#include "test_util.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <unistd.h>

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using namespace stackdyn;

namespace {



// Parameter values using the whole mantissa, so that a lossy round trip would show.
struct Filler {
  int k = 0;
  Eigen::MatrixXd matrix(int rows, int cols) {
    Eigen::MatrixXd m(rows, cols);
    for (int j = 0; j < cols; ++j)
      for (int i = 0; i < rows; ++i) m(i, j) = std::sin(1.2345678901 * ++k) / 3.0;
    return m;
  }
  Eigen::VectorXd vector(int n) { return matrix(n, 1).col(0); }
};

// One layer's architecture; build() gives it parameters of the shapes the format fixes,
// written out here by hand from docs/model-format.md.
LayerSpec spec(CellType cell, int n, bool bias = true) {
  LayerSpec s;
  s.cell = cell;
  s.hidden_size = n;
  s.bias = bias;
  return s;
}

CellParams params(Filler& f, const LayerSpec& s, int in) {
  CellParams p;
  const int n = s.hidden_size;
  const bool deep = s.cell == CellType::DeepTransition;
  const int m = deep && !s.transition_hidden.empty() ? s.transition_hidden[0] : n;
  const int g = (s.cell == CellType::Lstm ? 4 : s.cell == CellType::Gru || s.cell == CellType::GruResetBefore ? 3 : 1) * m;
  p.w_ih = f.matrix(g, in);
  p.w_hh = f.matrix(g, n);
  if (s.bias) p.b_ih = f.vector(g);
  if (s.bias && !deep) p.b_hh = f.vector(g);
  for (std::size_t k = 0; deep && k < s.transition_hidden.size(); ++k) {
    const int rows = k + 1 < s.transition_hidden.size() ? s.transition_hidden[k + 1] : n;
    p.mlp_w.push_back(f.matrix(rows, s.transition_hidden[k]));
    if (s.bias) p.mlp_b.push_back(f.vector(rows));
  }
  return p;
}

// `inputs[l]` is the width layer l+1 reads and `below[l]` the width of the stream below it,
// both given by hand so that the test does not lean on the code it tests.
Model build(int input_size, std::vector<LayerSpec> layers, const std::vector<int>& inputs, const std::vector<int>& below,
            bool bidirectional = false) {
  Filler f;
  Model m;
  m.input_size = input_size;
  m.bidirectional = bidirectional;
  for (std::size_t l = 0; l < layers.size(); ++l) {
    auto& s = layers[l];
    s.fwd = params(f, s, inputs[l]);
    if (bidirectional) s.bwd = params(f, s, inputs[l]);
    if (s.residual && s.hidden_size != below[l]) s.residual_proj = f.matrix(s.hidden_size, below[l]);
  }
  m.layers = std::move(layers);
  return m;
}

template <class M>
bool same_bits(const M& a, const M& b) {
  return a.rows() == b.rows() && a.cols() == b.cols() &&
         (a.size() == 0 || std::memcmp(a.data(), b.data(), sizeof(double) * static_cast<std::size_t>(a.size())) == 0);
}
void require_same_params(const CellParams& a, const CellParams& b) {
  CHECK(same_bits(a.w_ih, b.w_ih));
  CHECK(same_bits(a.w_hh, b.w_hh));
  CHECK(same_bits(a.b_ih, b.b_ih));
  CHECK(same_bits(a.b_hh, b.b_hh));
  REQUIRE(a.mlp_w.size() == b.mlp_w.size());
  REQUIRE(a.mlp_b.size() == b.mlp_b.size());
  for (std::size_t k = 0; k < a.mlp_w.size(); ++k) CHECK(same_bits(a.mlp_w[k], b.mlp_w[k]));
  for (std::size_t k = 0; k < a.mlp_b.size(); ++k) CHECK(same_bits(a.mlp_b[k], b.mlp_b[k]));
}
void require_same(const Model& a, const Model& b) {
  CHECK(a.input_size == b.input_size);
  CHECK(a.bidirectional == b.bidirectional);
  CHECK(a.dropout == b.dropout);
  REQUIRE(a.num_layers() == b.num_layers());
  for (int l = 0; l < a.num_layers(); ++l) {
    const auto &x = a.layers[static_cast<std::size_t>(l)], &y = b.layers[static_cast<std::size_t>(l)];
    CHECK(x.cell == y.cell);
    CHECK(x.hidden_size == y.hidden_size);
    CHECK(x.bias == y.bias);
    CHECK(x.skip == y.skip);
    CHECK(x.residual == y.residual);
    CHECK(x.transition_hidden == y.transition_hidden);
    CHECK(x.transition_residual == y.transition_residual);
    CHECK(x.activation == y.activation);
    CHECK(same_bits(x.residual_proj, y.residual_proj));
    require_same_params(x.fwd, y.fwd);
    require_same_params(x.bwd, y.bwd);
  }
}

// Models for every cell type and connection.
Model lstm_3_5_2() {  // torch.nn.LSTM(3, 5, num_layers=2)
  return build(3, {spec(CellType::Lstm, 5), spec(CellType::Lstm, 5)}, {3, 5}, {3, 5});
}
Model gru_bidirectional() {  // torch.nn.GRU(4, 6, num_layers=2, bidirectional=True)
  return build(4, {spec(CellType::Gru, 6), spec(CellType::Gru, 6)}, {4, 12}, {4, 12}, true);
}
Model deep_transition() {  // 2 hidden MLP layers, residual transition, relu
  auto s = spec(CellType::DeepTransition, 5);
  s.transition_hidden = {7, 4};
  s.transition_residual = true;
  s.activation = Activation::Relu;
  auto plain = spec(CellType::DeepTransition, 3, false);  // no hidden MLP layers, no bias
  return build(3, {s, plain}, {3, 5}, {3, 5});
}
Model skip_and_residual() {
  // x (4) -> rnn_tanh 6 -> gru_reset_before 6 (residual, identity) -> rnn_relu 5
  // (reads [y2 (6); h1 (6)] by skip, residual with a (5, 6) projection) -> lstm 5 (residual, identity)
  auto l2 = spec(CellType::GruResetBefore, 6);
  l2.residual = true;
  auto l3 = spec(CellType::RnnRelu, 5, false);
  l3.skip = true;
  l3.residual = true;
  auto l4 = spec(CellType::Lstm, 5);
  l4.residual = true;
  Model m = build(4, {spec(CellType::RnnTanh, 6), l2, l3, l4}, {4, 6, 12, 5}, {4, 6, 6, 5});
  m.dropout = 0.25;
  return m;
}

}  // namespace

TEST_CASE("model_io: models of every kind round trip bitwise", "[model_io]") {
  test::ScratchDir tmp("model_io");
  const std::string path = tmp / "model.h5";
  Model m;
  SECTION("lstm") { m = lstm_3_5_2(); }
  SECTION("bidirectional gru") { m = gru_bidirectional(); }
  SECTION("deep transition") { m = deep_transition(); }
  SECTION("skip and residual") { m = skip_and_residual(); }
  SECTION("awkward values") {
    m = lstm_3_5_2();
    m.layers[0].fwd.w_ih(0, 0) = -0.0;
    m.layers[0].fwd.w_ih(1, 2) = std::numeric_limits<double>::denorm_min();
    m.layers[1].fwd.b_hh(3) = std::numeric_limits<double>::max();
  }
  m.validate("built in the test");
  Provenance p;
  p.command_line = "stackdyn init --seed 7";
  p.seed = 7;
  p.source = "init";
  write_model(m, path, p);
  CHECK_FALSE(fs::exists(path + ".partial"));
  require_same(m, read_model(path));

  auto f = h5::File::open(path);
  CHECK(f.attr_string("format") == "stackdyn-model");
  CHECK(f.attr_int("format_version") == 1);
  CHECK(f.attr_string("producer").starts_with("stackdyn "));
  CHECK(f.attr_string("command_line") == p.command_line);
  CHECK(f.attr_int("seed") == 7);
  CHECK(f.attr_int("state_dim") == m.state_dim());
  CHECK(f.attr_string("created").size() == 20);  // 2024-05-01T12:00:00Z
  auto back = read_provenance(f);
  CHECK(back.producer == p.producer);
  CHECK(back.command_line == p.command_line);
  CHECK(back.seed == 7);
  CHECK(back.source == "init");

  // The same model embedded in a result file reads back from its group.
  h5::AtomicOutput out(tmp / "result.h5");
  auto g = out.file().create_group("model");
  write_model(m, g, p);
  out.commit();
  require_same(m, read_model(h5::File::open(tmp / "result.h5").group("model")));
}

TEST_CASE("model_io: parameter counts equal torch's numel", "[model_io]") {
  // torch.nn.LSTM(3, 5, num_layers=2): layer 0 4*5*3 + 4*5*5 + 2*4*5 = 200, layer 1
  // 4*5*5 + 4*5*5 + 2*4*5 = 240; sum(p.numel()) = 440.
  Model lstm = lstm_3_5_2();
  CHECK(lstm.parameter_counts() == std::vector<long>{200, 240});
  CHECK(lstm.parameter_count() == 440);
  // torch.nn.GRU(4, 6, num_layers=2, bidirectional=True): per direction 3*6*4 + 3*6*6 + 2*3*6
  // = 216 and 3*6*12 + 3*6*6 + 2*3*6 = 360; sum(p.numel()) = 2*(216 + 360) = 1152.
  Model gru = gru_bidirectional();
  CHECK(gru.parameter_counts() == std::vector<long>{432, 720});
  CHECK(gru.parameter_count() == 1152);
  // torch.nn.RNN(3, 4, bias=False): 4*3 + 4*4 = 28.
  Model rnn = build(3, {spec(CellType::RnnTanh, 4, false)}, {3}, {3});
  CHECK(rnn.parameter_count() == 28);
  // Deep transition 3 -> [7, 4] -> 5 with biases: 7*3 + 7*5 + 7 + (4*7 + 4) + (5*4 + 5) = 120;
  // without hidden layers or bias, 3 units reading 5: 3*5 + 3*3 = 24.
  CHECK(deep_transition().parameter_counts() == std::vector<long>{120, 24});
  // The residual projection counts: rnn_relu 5 reading 12, no bias: 5*12 + 5*5 + 5*6 = 115.
  CHECK(skip_and_residual().parameter_counts()[2] == 115);
}

TEST_CASE("model_io: widths and state slices", "[model_io]") {
  Model m = build(3, {spec(CellType::Lstm, 5), spec(CellType::Gru, 4), spec(CellType::Lstm, 3)}, {3, 5, 4}, {3, 5, 4});
  auto s = m.state_slices();
  REQUIRE(s.size() == 3);
  CHECK((s[0].offset == 0 && s[0].size == 10 && s[0].hidden_size == 5 && s[0].has_cell_state));
  CHECK((s[1].offset == 10 && s[1].size == 4 && s[1].hidden_size == 4 && !s[1].has_cell_state));
  CHECK((s[2].offset == 14 && s[2].size == 6 && s[2].hidden_size == 3 && s[2].has_cell_state));
  CHECK(m.state_dim() == 20);
  CHECK(m.output_size() == 3);

  Model sr = skip_and_residual();
  CHECK(sr.layer_input_size(3) == 12);  // y^(2) (6) and, by skip, h^(1) (6)
  CHECK(sr.stream_width(0) == 4);
  CHECK(sr.stream_width(3) == 5);

  // A bidirectional layer's h is [h_fwd; h_bwd]: its block is twice as wide.
  Model bi = gru_bidirectional();
  CHECK(bi.layer_input_size(2) == 12);
  CHECK(bi.output_size() == 12);
  CHECK(bi.state_slices()[1].offset == 12);
  CHECK(bi.state_dim() == 24);
}

TEST_CASE("model_io: validate names the layer and what is wrong", "[model_io]") {
  const std::string w = "m.h5";
  SECTION("shapes") {
    Model m = build(4, {spec(CellType::Gru, 10), spec(CellType::Gru, 10)}, {4, 10}, {4, 10});
    m.layers[1].fwd.w_hh = Eigen::MatrixXd::Zero(30, 9);
    CHECK_THAT(test::message_of<InputError>([&] { m.validate(w); }),
               Contains("m.h5: layer 1 (gru): weight_hh has shape (30, 9), expected (30, 10)"));
  }
  SECTION("non-finite values") {
    Model m = lstm_3_5_2();
    m.layers[0].fwd.w_ih(3, 0) = std::numeric_limits<double>::quiet_NaN();
    CHECK_THAT(test::message_of<InputError>([&] { m.validate(w); }), Contains("m.h5: layer 0 (lstm): weight_ih holds NaN at (3, 0)"));
    m = lstm_3_5_2();
    m.layers[1].fwd.b_hh(2) = -std::numeric_limits<double>::infinity();
    CHECK_THAT(test::message_of<InputError>([&] { m.validate(w); }), Contains("layer 1 (lstm): bias_hh holds Inf at (2,)"));
  }
  SECTION("architecture") {
    Model m = lstm_3_5_2();
    m.layers[0].skip = true;
    CHECK_THAT(test::message_of<InputError>([&] { m.validate(w); }), Contains("layer 0 (lstm)") && Contains("skip"));
    m = gru_bidirectional();
    m.layers[1].residual = true;
    CHECK_THAT(test::message_of<InputError>([&] { m.validate(w); }),
               Contains("layer 1 (") && Contains("residual") && Contains("torch-style"));
    m = lstm_3_5_2();
    m.dropout = 1.0;
    CHECK_THAT(test::message_of<InputError>([&] { m.validate(w); }), Contains("dropout"));
    m.layers.clear();
    CHECK_THAT(test::message_of<InputError>([&] { m.validate(w); }), Contains("no layers"));
  }
  SECTION("parameters that must be absent") {
    Model m = build(3, {spec(CellType::RnnTanh, 4, false)}, {3}, {3});
    m.layers[0].fwd.b_ih = Eigen::VectorXd::Zero(4);
    CHECK_THAT(test::message_of<InputError>([&] { m.validate(w); }), Contains("bias_ih is present") && Contains("bias = 0"));
    m = lstm_3_5_2();
    m.layers[1].bwd.w_ih = Eigen::MatrixXd::Zero(20, 5);
    CHECK_THAT(test::message_of<InputError>([&] { m.validate(w); }), Contains("weight_ih_reverse") && Contains("not bidirectional"));
    m = skip_and_residual();
    m.layers[1].residual_proj = Eigen::MatrixXd::Identity(6, 6);  // widths equal: identity implied
    CHECK_THAT(test::message_of<InputError>([&] { m.validate(w); }), Contains("layer 1 (") && Contains("residual_proj is present"));
    m = skip_and_residual();
    m.layers[2].residual_proj.resize(0, 0);  // widths differ: a projection is needed
    CHECK_THAT(test::message_of<InputError>([&] { m.validate(w); }),
               Contains("layer 2 (rnn_relu): residual_proj has shape (0, 0), expected (5, 6)"));
    m = deep_transition();
    m.layers[0].fwd.mlp_w.pop_back();
    CHECK_THAT(test::message_of<InputError>([&] { m.validate(w); }), Contains("layer 0 (deep_transition)") && Contains("mlp_weight"));
  }
  SECTION("names") {
    CHECK(parse_cell("gru_reset_before", w) == CellType::GruResetBefore);
    CHECK(cell_name(CellType::DeepTransition) == "deep_transition");
    CHECK(parse_activation("relu", w) == Activation::Relu);
    CHECK_THAT(test::message_of<InputError>([&] { parse_cell("LSTM", "cfg.toml: layers[0].cell"); }),
               Contains("cfg.toml: layers[0].cell: unknown cell type 'LSTM'") && Contains("rnn_tanh") &&
                   Contains("deep_transition"));
    CHECK_THAT(test::message_of<InputError>([&] { parse_activation("sigmoid", w); }), Contains("'sigmoid'") && Contains("tanh, relu"));
  }
}

TEST_CASE("model_io: broken model files are refused with the file and the object named", "[model_io]") {
  test::ScratchDir tmp("model_io");
  const std::string path = tmp / "model.h5";
  Model gru = build(4, {spec(CellType::Gru, 10), spec(CellType::Gru, 10)}, {4, 10}, {4, 10});
  write_model(gru, path, {});
  auto edit = [&](auto&& change) {
    auto f = h5::File::open_rw(path);
    change(f);
  };
  auto error = [&] { return test::message_of<InputError>([&] { read_model(path); }); };

  SECTION("missing file") {
    CHECK_THAT(test::message_of<InputError>([&] { read_model(tmp / "none.h5"); }),
               Contains("cannot open '" + (tmp / "none.h5") + "': no such file"));
  }
  SECTION("not an HDF5 file") {
    { std::ofstream(tmp / "model.txt") << "weight_ih = [1, 2]\n"; }
    CHECK_THAT(test::message_of<InputError>([&] { read_model(tmp / "model.txt"); }),
               Contains("'" + (tmp / "model.txt") + "' is not an HDF5 file"));
  }
  SECTION("an HDF5 file that is not a model") {
    { h5::File::create(tmp / "other.h5").set_attr("x", 1LL); }
    CHECK_THAT(test::message_of<InputError>([&] { read_model(tmp / "other.h5"); }),
               Contains(tmp / "other.h5") && Contains("not a stackdyn model"));
  }
  SECTION("wrong format or version") {
    edit([](h5::File& f) { f.set_attr("format", "pytorch"); });
    CHECK_THAT(error(), Contains(path + ": format is 'pytorch', expected 'stackdyn-model'"));
    edit([](h5::File& f) {
      f.set_attr("format", "stackdyn-model");
      f.set_attr("format_version", 2LL);
    });
    CHECK_THAT(error(), Contains(path) && Contains("format_version 2 is not supported"));
  }
  SECTION("missing dataset") {
    edit([](h5::File& f) { f.remove("layers/1/bias_hh"); });
    CHECK_THAT(error(), Contains(path + ": dataset '/layers/1/bias_hh' not found"));
  }
  SECTION("missing layer") {
    edit([](h5::File& f) { f.remove("layers/1"); });
    CHECK_THAT(error(), Contains(path + ": group '/layers/1' not found"));
  }
  SECTION("wrong shape") {
    edit([](h5::File& f) {
      f.remove("layers/1/weight_hh");
      f.write("layers/1/weight_hh", Eigen::MatrixXd(Eigen::MatrixXd::Zero(30, 9)));
    });
    CHECK_THAT(error(), Contains(path + ": layer 1 (gru): weight_hh has shape (30, 9), expected (30, 10)"));
  }
  SECTION("wrong rank") {
    edit([](h5::File& f) {
      f.remove("layers/0/bias_ih");
      f.write("layers/0/bias_ih", Eigen::MatrixXd(Eigen::MatrixXd::Zero(30, 1)));
    });
    CHECK_THAT(error(), Contains(path + ": dataset '/layers/0/bias_ih': expected rank 1, got shape (30, 1)"));
  }
  SECTION("NaN and Inf") {
    Eigen::MatrixXd w = gru.layers[0].fwd.w_ih;
    w(3, 0) = std::numeric_limits<double>::quiet_NaN();
    edit([&](h5::File& f) {
      f.remove("layers/0/weight_ih");
      f.write("layers/0/weight_ih", w);
    });
    CHECK_THAT(error(), Contains(path + ": layer 0 (gru): weight_ih holds NaN at (3, 0)"));
    w(3, 0) = 0;
    w(29, 3) = std::numeric_limits<double>::infinity();
    edit([&](h5::File& f) {
      f.remove("layers/0/weight_ih");
      f.write("layers/0/weight_ih", w);
    });
    CHECK_THAT(error(), Contains(path + ": layer 0 (gru): weight_ih holds Inf at (29, 3)"));
  }
  SECTION("unknown cell type") {
    edit([](h5::File& f) { f.group("layers/1").set_attr("cell", "gru2"); });
    CHECK_THAT(error(), Contains(path + ": '/layers/1': unknown cell type 'gru2', expected one of") && Contains("lstm"));
  }
  SECTION("unexpected dataset") {
    edit([](h5::File& f) { f.write("layers/0/weight_hr", Eigen::MatrixXd(Eigen::MatrixXd::Zero(2, 2))); });
    CHECK_THAT(error(), Contains(path + ": unexpected object '/layers/0/weight_hr'"));
  }
  SECTION("records that disagree with the architecture") {
    edit([](h5::File& f) { f.set_attr("state_dim", 21LL); });
    CHECK_THAT(error(), Contains(path + ": state_dim is 21, but the layers give 20"));
    edit([](h5::File& f) {
      f.set_attr("state_dim", 20LL);
      f.remove("state_slices");
      const long long s[] = {0, 10, 11, 10};
      f.write_int("state_slices", {2, 2}, s);
    });
    CHECK_THAT(error(), Contains(path + ": state_slices row 1 is [11, 10], but the layers give [10, 10]"));
    edit([](h5::File& f) {
      f.remove("state_slices");
      const long long s[] = {0, 10, 10, 10};
      f.write_int("state_slices", {2, 2}, s);
      f.group("layers/1").set_attr("input_size", 7LL);
    });
    CHECK_THAT(error(), Contains(path + ": '/layers/1' has input_size 7, but the architecture gives 10"));
  }
  SECTION("an invalid model is not written") {
    Model bad = gru;
    bad.layers[0].fwd.b_ih(0) = std::numeric_limits<double>::quiet_NaN();
    CHECK_THAT(test::message_of<InputError>([&] { write_model(bad, tmp / "bad.h5", {}); }), Contains("bias_ih holds NaN at (0,)"));
    CHECK_FALSE(fs::exists(tmp / "bad.h5"));
    CHECK_FALSE(fs::exists(tmp / "bad.h5.partial"));
  }
}

TEST_CASE("model_io: file_hash is FNV-1a 64 of the bytes", "[model_io]") {
  test::ScratchDir tmp("model_io");
  { std::ofstream(tmp / "empty"); }
  { std::ofstream(tmp / "a") << "a"; }
  // Reference values of the FNV-1a 64-bit hash (offset basis, and the string "a").
  CHECK(file_hash(tmp / "empty") == "fnv1a64:cbf29ce484222325");
  CHECK(file_hash(tmp / "a") == "fnv1a64:af63dc4c8601ec8c");
  CHECK_THAT(test::message_of<InputError>([&] { file_hash(tmp / "missing"); }), Contains("no such file"));
}
