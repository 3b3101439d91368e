// model_from_config: the TOML description of a stack, read and checked key by key, then
// random weights drawn in a fixed order (see init.hpp for the schema and distributions).
#include <stackdyn/core/format.hpp>
#include <stackdyn/model/init.hpp>

#include <stackdyn/core/error.hpp>
#include <stackdyn/core/lapack.hpp>
#include <stackdyn/core/random.hpp>

#include <Eigen/QR>

#include <cmath>
#include <optional>

namespace stackdyn {

const std::vector<std::string>& model_config_keys() {
  static const std::vector<std::string> keys = {
      "input_size",
      "seed",
      "bidirectional",
      "dropout",
      "layers.*.cell",
      "layers.*.hidden_size",
      "layers.*.bias",
      "layers.*.skip",
      "layers.*.residual",
      "layers.*.init",
      "layers.*.spectral_radius",
      "layers.*.transition_hidden",
      "layers.*.transition_residual",
      "layers.*.activation",
      "readout",
  };
  return keys;
}

namespace {

constexpr long long max_parameters = 1LL << 28;

enum class Init { Uniform, Orthogonal };

/// What the description says about one layer beyond LayerSpec's fields.
struct LayerInit {
  Init init = Init::Uniform;
  std::optional<double> spectral_radius;
};

int width_key(const Config& cfg, const std::string& key) {
  const long long v = cfg.get_int(key, Range::positive());
  if (v > max_width) throw cfg.error(key, "expected a width of at most " + std::to_string(max_width) + ", got " + std::to_string(v));
  return static_cast<int>(v);
}

void fill_uniform(Eigen::MatrixXd& m, Eigen::Index rows, Eigen::Index cols, double bound, Rng& rng) {
  m.resize(rows, cols);
  for (Eigen::Index r = 0; r < rows; ++r)
    for (Eigen::Index c = 0; c < cols; ++c) m(r, c) = rng.uniform(-bound, bound);
}

void fill_uniform(Eigen::VectorXd& v, Eigen::Index size, double bound, Rng& rng) {
  v.resize(size);
  for (Eigen::Index i = 0; i < size; ++i) v(i) = rng.uniform(-bound, bound);
}

/// A Haar-distributed orthogonal n x n matrix: Q of the QR factorisation of a standard
/// normal matrix, columns multiplied by the signs of diag(R) (torch.nn.init.orthogonal_).
Eigen::MatrixXd orthogonal(Eigen::Index n, Rng& rng) {
  Eigen::MatrixXd g(n, n);
  for (Eigen::Index r = 0; r < n; ++r)
    for (Eigen::Index c = 0; c < n; ++c) g(r, c) = rng.normal();
  const Eigen::HouseholderQR<Eigen::MatrixXd> qr(g);
  Eigen::MatrixXd q = qr.householderQ();
  const Eigen::MatrixXd& r = qr.matrixQR();
  for (Eigen::Index j = 0; j < n; ++j)
    if (r(j, j) < 0) q.col(j) = -q.col(j);
  return q;
}

/// Rescales every n x n gate block of w_hh to spectral radius `rho`.
void set_spectral_radius(Eigen::MatrixXd& w_hh, int n, double rho, const std::string& where) {
  for (Eigen::Index g = 0; g < w_hh.rows() / n; ++g) {
    auto block = w_hh.middleRows(g * n, n);
    const double current = spectral_radius(block);  // LAPACK dgeev; RunError if it fails
    if (!(current > 0) || !std::isfinite(current))
      throw RunError(where + ": gate block " + std::to_string(g) + " of weight_hh has spectral radius " +
                     format_number(current) + "; cannot rescale it to " + format_number(rho));
    block *= rho / current;
  }
}

/// Draws one direction of one layer.
CellParams draw_cell(const LayerSpec& spec, const LayerInit& how, int in, Rng& rng, const std::string& where) {
  CellParams p;
  const int n = spec.hidden_size;
  if (spec.cell == CellType::DeepTransition) {
    std::vector<int> widths(spec.transition_hidden.begin(), spec.transition_hidden.end());
    widths.push_back(n);  // the MLP's output layers: m_1, ..., n
    const int m1 = widths.front();
    const double k1 = 1.0 / std::sqrt(static_cast<double>(n + in));
    fill_uniform(p.w_ih, m1, in, k1, rng);
    fill_uniform(p.w_hh, m1, n, k1, rng);
    if (spec.bias) fill_uniform(p.b_ih, m1, k1, rng);
    for (std::size_t k = 0; k + 1 < widths.size(); ++k) {
      const double bound = 1.0 / std::sqrt(static_cast<double>(widths[k]));
      p.mlp_w.emplace_back();
      fill_uniform(p.mlp_w.back(), widths[k + 1], widths[k], bound, rng);
      if (spec.bias) {
        p.mlp_b.emplace_back();
        fill_uniform(p.mlp_b.back(), widths[k + 1], bound, rng);
      }
    }
    return p;
  }

  const int rows = gate_count(spec.cell) * n;
  const double k = 1.0 / std::sqrt(static_cast<double>(n));
  fill_uniform(p.w_ih, rows, in, k, rng);
  if (how.init == Init::Orthogonal) {
    p.w_hh.resize(rows, n);
    for (int g = 0; g < gate_count(spec.cell); ++g) p.w_hh.middleRows(g * n, n) = orthogonal(n, rng);
  } else {
    fill_uniform(p.w_hh, rows, n, k, rng);
  }
  if (spec.bias) {
    fill_uniform(p.b_ih, rows, k, rng);
    fill_uniform(p.b_hh, rows, k, rng);
  }
  if (how.spectral_radius) set_spectral_radius(p.w_hh, n, *how.spectral_radius, where);
  return p;
}

/// Reads layer `i`'s keys into `spec` and `how`; every check that needs only this layer.
void read_layer(const Config& cfg, std::size_t i, bool bidirectional, LayerSpec& spec, LayerInit& how) {
  const std::string at = "layers[" + std::to_string(i) + "].";
  const std::string cell_key = at + "cell";
  if (!cfg.has(cell_key))
    throw cfg.error(cell_key, "missing required key; expected one of rnn_tanh, rnn_relu, gru, gru_reset_before, "
                              "lstm, deep_transition");
  spec.cell = parse_cell(cfg.get_string(cell_key), cfg.name() + ": key '" + cell_key + "'");
  const bool deep = spec.cell == CellType::DeepTransition;
  const std::string cell_text = "\"" + std::string(cell_name(spec.cell)) + "\"";

  spec.hidden_size = width_key(cfg, at + "hidden_size");
  spec.bias = cfg.get_bool(at + "bias", true);
  spec.skip = cfg.get_bool(at + "skip", false);
  if (spec.skip && i == 0)
    throw cfg.error(at + "skip", "the first layer cannot skip: there is no h^(l-2) below the input "
                                 "(a skip connection on the second layer reads the input x)");
  spec.residual = cfg.get_bool(at + "residual", false);
  if (bidirectional && (deep || spec.skip || spec.residual)) {  // Model::validate's rule, said with the key
    const std::string what = deep ? "cell" : spec.skip ? "skip" : "residual";
    const std::string feature = deep ? "deep_transition cells" : spec.skip ? "skip connections" : "residual connections";
    throw cfg.error(at + what, feature + " are not supported in a bidirectional model (bidirectional models are "
                                         "torch-style stacks: torch.nn.RNN/GRU/LSTM with bidirectional=True)");
  }

  for (const char* only_deep : {"transition_hidden", "transition_residual", "activation"})
    if (!deep && cfg.has(at + only_deep))
      throw cfg.error(at + only_deep, std::string("only for cell = \"deep_transition\"; this layer's cell is ") +
                                          cell_text);
  if (deep) {
    for (const long long w : cfg.get_int_list(at + "transition_hidden", std::vector<long long>{}, Range::positive())) {
      if (w > max_width)
        throw cfg.error(at + "transition_hidden",
                        "expected widths of at most " + std::to_string(max_width) + ", got " + std::to_string(w));
      spec.transition_hidden.push_back(static_cast<int>(w));
    }
    spec.transition_residual = cfg.get_bool(at + "transition_residual", false);
    const std::string act_key = at + "activation";
    spec.activation = parse_activation(cfg.get_string(act_key, "tanh"), cfg.name() + ": key '" + act_key + "'");
  }

  const std::string init = cfg.get_string(at + "init", "uniform");
  if (init == "uniform") {
    how.init = Init::Uniform;
  } else if (init == "orthogonal") {
    if (deep)
      throw cfg.error(at + "init", "\"orthogonal\" does not apply to deep_transition cells: their recurrent map "
                                   "is an MLP; use \"uniform\" (fan-in scaled)");
    how.init = Init::Orthogonal;
  } else {
    throw cfg.error(at + "init", "expected \"uniform\" or \"orthogonal\", got \"" + init + "\"");
  }

  if (cfg.has(at + "spectral_radius")) {
    if (deep)
      throw cfg.error(at + "spectral_radius", "does not apply to deep_transition cells: their recurrent map is an "
                                              "MLP, not a matrix with a spectral radius");
    how.spectral_radius = cfg.get_double(at + "spectral_radius", Range::positive());
  }
}

}  // namespace

Model model_from_config(const Config& cfg, long long* seed_out) {
  cfg.check_keys(model_config_keys());

  Model model;
  model.input_size = width_key(cfg, "input_size");
  const long long seed = cfg.get_int("seed", 0, Range::non_negative());
  model.bidirectional = cfg.get_bool("bidirectional", false);
  model.dropout = cfg.get_double("dropout", 0.0, Range::half_open(0.0, 1.0));

  const std::size_t num_layers = cfg.array_size("layers");
  if (num_layers == 0) throw cfg.error("layers", "missing: expected at least one [[layers]] table");
  std::vector<LayerInit> how(num_layers);
  model.layers.resize(num_layers);
  for (std::size_t i = 0; i < num_layers; ++i) read_layer(cfg, i, model.bidirectional, model.layers[i], how[i]);

  // The weight matrices' sizes, counted in 64 bits before any is drawn: a description of a
  // few layers of the largest width would otherwise ask for petabytes.
  long long weights = 0;
  for (std::size_t i = 0; i < num_layers; ++i) {
    const LayerSpec& spec = model.layers[i];
    const long long n = spec.hidden_size, in = model.layer_input_size(static_cast<int>(i) + 1);
    const long long m = spec.transition_hidden.empty() ? n : spec.transition_hidden.front();
    long long layer = gate_count(spec.cell) * m * (in + n);
    for (std::size_t k = 0; k < spec.transition_hidden.size(); ++k)
      layer += spec.transition_hidden[k] * (k + 1 < spec.transition_hidden.size() ? spec.transition_hidden[k + 1] : n);
    weights += layer * model.num_directions() + (spec.residual ? n * model.stream_width(static_cast<int>(i)) : 0);
  }
  if (weights > max_parameters)
    throw cfg.error("layers", "the model would have " + std::to_string(weights) + " weights; expected at most " +
                                  std::to_string(max_parameters) + " (2 GiB of float64)");

  // Widths come from the model itself (stream_width, layer_input_size), so that the shapes
  // drawn here are the shapes validate() and the dynamics expect.
  Rng rng(static_cast<std::uint64_t>(seed));
  for (std::size_t i = 0; i < num_layers; ++i) {
    const int l = static_cast<int>(i) + 1;
    LayerSpec& spec = model.layers[i];
    const std::string where = cfg.name() + ": layers[" + std::to_string(i) + "]";
    const int in = model.layer_input_size(l);
    spec.fwd = draw_cell(spec, how[i], in, rng, where);
    if (model.bidirectional) spec.bwd = draw_cell(spec, how[i], in, rng, where);
    const int below = model.stream_width(l - 1);
    const int width = model.stream_width(l);
    if (spec.residual && below != width)
      fill_uniform(spec.residual_proj, width, below, 1.0 / std::sqrt(static_cast<double>(below)), rng);
  }
  if (cfg.has("readout")) {
    // A linear readout of the top stream with O outputs, drawn after the layers as torch's
    // nn.Linear draws its parameters: weight and bias ~ U(-1/sqrt(in), 1/sqrt(in)).
    linear_init(model.readout_weight, model.readout_bias, width_key(cfg, "readout"), model.output_size(), rng);
  }

  model.validate(cfg.name());
  if (seed_out != nullptr) *seed_out = seed;
  return model;
}

void linear_init(Eigen::MatrixXd& weight, Eigen::VectorXd& bias, int out, int in, Rng& rng) {
  const double k = 1.0 / std::sqrt(static_cast<double>(in));
  fill_uniform(weight, out, in, k, rng);
  fill_uniform(bias, out, k, rng);
}

}  // namespace stackdyn
