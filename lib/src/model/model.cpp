// The model's derived quantities (widths, state layout, parameter counts) and its
// validation against the architecture of docs/model-format.md.
#include <stackdyn/core/format.hpp>
#include <stackdyn/model/model.hpp>

#include <stackdyn/core/error.hpp>

#include <array>
#include <climits>
#include <cmath>
#include <stdexcept>
#include <utility>

namespace stackdyn {

namespace {
constexpr std::array<std::pair<CellType, std::string_view>, 6> cell_names{{
    {CellType::RnnTanh, "rnn_tanh"},
    {CellType::RnnRelu, "rnn_relu"},
    {CellType::Gru, "gru"},
    {CellType::GruResetBefore, "gru_reset_before"},
    {CellType::Lstm, "lstm"},
    {CellType::DeepTransition, "deep_transition"},
}};
constexpr std::array<std::pair<Activation, std::string_view>, 2> activation_names{{
    {Activation::Tanh, "tanh"},
    {Activation::Relu, "relu"},
}};

template <class E, std::size_t N>
E parse_name(const std::array<std::pair<E, std::string_view>, N>& names, std::string_view name,
             std::string_view where, std::string_view what) {
  std::string accepted;
  for (const auto& [e, n] : names) {
    if (n == name) return e;
    accepted += (accepted.empty() ? "" : ", ") + std::string(n);
  }
  throw InputError(std::string(where) + ": unknown " + std::string(what) + " '" + std::string(name) +
                   "', expected one of " + accepted);
}
}  // namespace

std::string_view cell_name(CellType c) {
  for (const auto& [e, n] : cell_names)
    if (e == c) return n;
  return "?";
}
CellType parse_cell(std::string_view name, std::string_view where) {
  return parse_name(cell_names, name, where, "cell type");
}
std::string_view activation_name(Activation a) {
  for (const auto& [e, n] : activation_names)
    if (e == a) return n;
  return "?";
}
Activation parse_activation(std::string_view name, std::string_view where) {
  return parse_name(activation_names, name, where, "activation");
}

int gate_count(CellType c) {
  switch (c) {
    case CellType::Gru:
    case CellType::GruResetBefore: return 3;
    case CellType::Lstm: return 4;
    default: return 1;
  }
}

// --- widths and the state layout -------------------------------------------------------

int Model::stream_width(int l) const {
  if (l < 0 || l > num_layers()) throw std::out_of_range("stream_width: no layer " + std::to_string(l));
  return l == 0 ? input_size : layers[static_cast<std::size_t>(l - 1)].hidden_size * num_directions();
}

int Model::layer_input_size(int l) const {
  if (l < 1 || l > num_layers()) throw std::out_of_range("layer_input_size: no layer " + std::to_string(l));
  const bool skip = layers[static_cast<std::size_t>(l - 1)].skip && l >= 2;
  return stream_width(l - 1) + (skip ? stream_width(l - 2) : 0);
}

int Model::state_dim() const {
  int d = 0;
  for (const auto& s : state_slices()) d += s.size;
  return d;
}

// A bidirectional layer's h^(l) is [h_fwd; h_bwd] (docs/design.md section 1), so its block is
// [h_fwd; h_bwd] or, for LSTM, [h_fwd; h_bwd; c_fwd; c_bwd]: hidden_size is then the width
// of the h part.
std::vector<StateSlice> Model::state_slices() const {
  std::vector<StateSlice> out;
  int offset = 0;
  for (const auto& layer : layers) {
    StateSlice s;
    s.offset = offset;
    s.size = layer.state_size() * num_directions();
    s.hidden_size = layer.hidden_size * num_directions();
    s.has_cell_state = layer.cell == CellType::Lstm;
    offset += s.size;
    out.push_back(s);
  }
  return out;
}

// --- parameter counts ------------------------------------------------------------------

namespace {
long count(const CellParams& p) {
  long n = static_cast<long>(p.w_ih.size() + p.w_hh.size() + p.b_ih.size() + p.b_hh.size());
  for (const auto& w : p.mlp_w) n += static_cast<long>(w.size());
  for (const auto& b : p.mlp_b) n += static_cast<long>(b.size());
  return n;
}
}  // namespace

std::vector<long> Model::parameter_counts() const {
  std::vector<long> out;
  for (const auto& layer : layers)
    out.push_back(count(layer.fwd) + count(layer.bwd) + static_cast<long>(layer.residual_proj.size()));
  return out;
}

long Model::parameter_count() const {
  long n = static_cast<long>(readout_weight.size() + readout_bias.size());
  for (long c : parameter_counts()) n += c;
  return n;
}

// --- validation ------------------------------------------------------------------------

namespace {
std::string shape_of(const Eigen::MatrixXd& m) {
  return "(" + std::to_string(m.rows()) + ", " + std::to_string(m.cols()) + ")";
}
std::string shape_of(const Eigen::VectorXd& v) { return "(" + std::to_string(v.size()) + ",)"; }

// Checks of one layer; every message starts with "<where>: layer <l> (<cell>): ", l 0-based as in the files.
struct LayerCheck {
  std::string prefix;

  [[noreturn]] void fail(const std::string& what) const { throw InputError(prefix + what); }

  void matrix(const Eigen::MatrixXd& m, const std::string& name, Eigen::Index rows, Eigen::Index cols) const {
    if (m.rows() != rows || m.cols() != cols)
      fail(name + " has shape " + shape_of(m) + ", expected (" + std::to_string(rows) + ", " + std::to_string(cols) + ")");
    for (Eigen::Index j = 0; j < m.cols(); ++j)
      for (Eigen::Index i = 0; i < m.rows(); ++i)
        if (!std::isfinite(m(i, j)))
          fail(name + " holds " + (std::isnan(m(i, j)) ? "NaN" : "Inf") + " at (" + std::to_string(i) + ", " +
               std::to_string(j) + ")");
  }
  void vector(const Eigen::VectorXd& v, const std::string& name, Eigen::Index n) const {
    if (v.size() != n) fail(name + " has shape " + shape_of(v) + ", expected (" + std::to_string(n) + ",)");
    for (Eigen::Index i = 0; i < v.size(); ++i)
      if (!std::isfinite(v(i))) fail(name + " holds " + (std::isnan(v(i)) ? "NaN" : "Inf") + " at (" + std::to_string(i) + ",)");
  }
  void absent(const Eigen::MatrixXd& m, const std::string& name, const std::string& why) const {
    if (m.size() != 0) fail(name + " is present (shape " + shape_of(m) + ") but " + why);
  }
  void absent(const Eigen::VectorXd& v, const std::string& name, const std::string& why) const {
    if (v.size() != 0) fail(name + " is present (shape " + shape_of(v) + ") but " + why);
  }

  // One direction's parameters; `suffix` is "" or "_reverse", as the file names them.
  void params(const LayerSpec& layer, const CellParams& p, Eigen::Index in, const std::string& suffix) const {
    const Eigen::Index n = layer.hidden_size;
    const bool deep = layer.cell == CellType::DeepTransition;
    const auto& th = layer.transition_hidden;
    const Eigen::Index m = deep && !th.empty() ? th.front() : n;  // units of the first (gate) layer
    const Eigen::Index g = gate_count(layer.cell) * m;  // 64 bits: 4 m overflows an int for large m
    matrix(p.w_ih, "weight_ih" + suffix, g, in);
    matrix(p.w_hh, "weight_hh" + suffix, g, n);
    if (layer.bias) {
      vector(p.b_ih, "bias_ih" + suffix, g);
      if (deep) absent(p.b_hh, "bias_hh" + suffix, "a deep-transition layer has no bias_hh");
      else vector(p.b_hh, "bias_hh" + suffix, g);
    } else {
      absent(p.b_ih, "bias_ih" + suffix, "bias = 0");
      absent(p.b_hh, "bias_hh" + suffix, "bias = 0");
    }
    // The further MLP layers map th[0] -> th[1] -> ... -> n.
    const std::size_t k_count = deep ? th.size() : 0;
    if (p.mlp_w.size() != k_count)
      fail(std::to_string(p.mlp_w.size()) + " mlp_weight" + suffix + " matrices, expected " + std::to_string(k_count) +
           (deep ? " (one per entry of transition_hidden)" : " (not a deep-transition layer)"));
    const std::size_t b_count = layer.bias ? k_count : 0;
    if (p.mlp_b.size() != b_count)
      fail(std::to_string(p.mlp_b.size()) + " mlp_bias" + suffix + " vectors, expected " + std::to_string(b_count));
    for (std::size_t k = 0; k < k_count; ++k) {
      const Eigen::Index rows = k + 1 < th.size() ? th[k + 1] : n;
      matrix(p.mlp_w[k], "mlp_weight_" + std::to_string(k) + suffix, rows, th[k]);
      if (layer.bias) vector(p.mlp_b[k], "mlp_bias_" + std::to_string(k) + suffix, rows);
    }
  }
};
}  // namespace

void Model::validate(std::string_view where_view) const {
  const std::string where(where_view);
  if (layers.empty()) throw InputError(where + ": the model has no layers");
  if (input_size <= 0) throw InputError(where + ": input_size is " + std::to_string(input_size) + ", expected > 0");
  if (!(dropout >= 0.0 && dropout < 1.0))
    throw InputError(where + ": dropout is " + format_number(dropout) + ", expected a value in [0, 1)");
  if (input_size > max_width)
    throw InputError(where + ": input_size is " + std::to_string(input_size) + ", expected at most " +
                     std::to_string(max_width));
  // Every width is bounded, so that a layer's sizes fit an int; the state dimension, their
  // sum over the layers, is summed in 64 bits and must fit too. Both before any size is used.
  long long total_state = 0;
  for (int l = 1; l <= num_layers(); ++l) {
    const LayerSpec& layer = layers[static_cast<std::size_t>(l - 1)];
    if (layer.hidden_size <= 0 || layer.hidden_size > max_width)
      throw InputError(where + ": layer " + std::to_string(l - 1) + " (" + std::string(cell_name(layer.cell)) +
                       "): hidden_size is " + std::to_string(layer.hidden_size) + ", expected a width in [1, " +
                       std::to_string(max_width) + "]");
    total_state += static_cast<long long>(layer.hidden_size) * (layer.cell == CellType::Lstm ? 2 : 1) * num_directions();
  }
  if (total_state > INT_MAX)
    throw InputError(where + ": the state dimension is " + std::to_string(total_state) + ", expected at most " +
                     std::to_string(INT_MAX));
  for (int l = 1; l <= num_layers(); ++l) {
    const LayerSpec& layer = layers[static_cast<std::size_t>(l - 1)];
    LayerCheck check{where + ": layer " + std::to_string(l - 1) + " (" + std::string(cell_name(layer.cell)) + "): "};
    if (layer.skip && l == 1)
      check.fail("the bottom layer cannot have a skip connection (it would read h^(-1)); skips start at layer 1");
    const bool deep = layer.cell == CellType::DeepTransition;
    if (bidirectional && (layer.skip || layer.residual || deep))
      check.fail(std::string(layer.skip ? "skip connections" : layer.residual ? "residual connections" : "deep-transition cells") +
                 " are not supported in a bidirectional model: bidirectional models are torch-style stacks only "
                 "(torch.nn.RNN/GRU/LSTM with bidirectional=True)");
    if (!deep && (!layer.transition_hidden.empty() || layer.transition_residual))
      check.fail("transition_hidden/transition_residual are set, but only deep_transition layers have them");
    for (int w : layer.transition_hidden)
      if (w <= 0 || w > max_width)
        check.fail("transition_hidden holds " + std::to_string(w) + ", expected widths in [1, " +
                   std::to_string(max_width) + "]");

    const int in = layer_input_size(l);
    check.params(layer, layer.fwd, in, "");
    if (bidirectional) {
      check.params(layer, layer.bwd, in, "_reverse");
    } else {
      const std::string why = "the model is not bidirectional";
      check.absent(layer.bwd.w_ih, "weight_ih_reverse", why);
      check.absent(layer.bwd.w_hh, "weight_hh_reverse", why);
      check.absent(layer.bwd.b_ih, "bias_ih_reverse", why);
      check.absent(layer.bwd.b_hh, "bias_hh_reverse", why);
      if (!layer.bwd.mlp_w.empty() || !layer.bwd.mlp_b.empty()) check.fail("reverse MLP parameters are present but " + why);
    }

    const int below = stream_width(l - 1);
    const int width = stream_width(l);
    if (layer.residual && width != below)
      check.matrix(layer.residual_proj, "residual_proj", layer.hidden_size, below);
    else
      check.absent(layer.residual_proj, "residual_proj",
                   layer.residual ? "the layer's width equals the stream below (" + std::to_string(below) + "): the identity is used"
                                  : "the layer is not residual");
  }
  if (has_readout() || readout_bias.size() > 0) {
    LayerCheck check{where + ": readout: "};
    check.matrix(readout_weight, "weight", readout_weight.rows() > 0 ? readout_weight.rows() : 1, output_size());
    if (readout_bias.size() > 0) check.vector(readout_bias, "bias", readout_weight.rows());
  }
}

}  // namespace stackdyn
