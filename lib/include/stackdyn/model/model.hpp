// The stacked-RNN model: architecture and parameters (docs/design.md section 1) and the
// state-vector layout (section 2). Pure data plus derived quantities; the dynamics live
// in cell*.hpp and stack.hpp.
#pragma once
#include <Eigen/Dense>
#include <string>
#include <string_view>
#include <vector>

namespace stackdyn {

enum class CellType { RnnTanh, RnnRelu, Gru, GruResetBefore, Lstm, DeepTransition };
enum class Activation { Tanh, Relu };

/// File/TOML name of a cell type: rnn_tanh, rnn_relu, gru, gru_reset_before, lstm,
/// deep_transition.
std::string_view cell_name(CellType c);
/// Parses a cell name; throws InputError naming `where` and the accepted names.
CellType parse_cell(std::string_view name, std::string_view where);
std::string_view activation_name(Activation a);
Activation parse_activation(std::string_view name, std::string_view where);

/// Number of stacked gate blocks in weight_ih/weight_hh (torch convention):
/// 1 vanilla, 3 GRU (r,z,n), 4 LSTM (i,f,g,o). Deep transition: 1 (its first MLP layer).
int gate_count(CellType c);

/// Parameters of one direction of one layer. Shapes follow torch:
///   w_ih (G*m, in), w_hh (G*m, n), b_ih (G*m), b_hh (G*m)   [biases empty when bias=false]
/// where m = n (hidden size) except for a deep-transition cell, where the first MLP layer
/// has m = transition_hidden[0] units (or n when there are no hidden MLP layers), and
/// mlp_w[k] (rows_k, cols_k), mlp_b[k] are the remaining MLP layers, the last mapping to n.
struct CellParams {
  Eigen::MatrixXd w_ih, w_hh;
  Eigen::VectorXd b_ih, b_hh;
  std::vector<Eigen::MatrixXd> mlp_w;
  std::vector<Eigen::VectorXd> mlp_b;
};

/// The largest width (input_size, hidden_size, transition_hidden) a model may have: far
/// beyond any model that fits in memory, and small enough that sizes derived from it (gate
/// rows, state slices) fit an int. Both init and the model-file reader enforce it.
inline constexpr int max_width = 1 << 24;

struct LayerSpec {
  CellType cell = CellType::RnnTanh;
  int hidden_size = 0;
  bool bias = true;
  bool skip = false;      ///< also reads h^(l-2) (h^(0) = x), concatenated after y^(l-1)
  bool residual = false;  ///< stream passed up: y^(l) = h^(l) + P y^(l-1)
  // deep-transition only
  std::vector<int> transition_hidden;  ///< widths of the MLP's hidden layers
  bool transition_residual = false;    ///< h_t = MLP(h_{t-1}, u_t) + h_{t-1}
  Activation activation = Activation::Tanh;

  CellParams fwd;  ///< forward direction (the only one unless the model is bidirectional)
  CellParams bwd;  ///< reverse direction (bidirectional models only)
  /// Residual projection P (n, width of y^(l-1)) when the widths differ; empty = identity.
  Eigen::MatrixXd residual_proj;

  /// Width of the cell's recurrent state: n, or 2n for LSTM ([h; c]).
  int state_size() const { return cell == CellType::Lstm ? 2 * hidden_size : hidden_size; }
};

/// Contiguous slice [offset, offset+size) of the full state vector belonging to a layer
/// (and, within it, [h; c] for LSTM).
struct StateSlice {
  int offset = 0;
  int size = 0;
  int hidden_size = 0;
  bool has_cell_state = false;
};

struct Model {
  int input_size = 0;
  bool bidirectional = false;
  double dropout = 0.0;  ///< between layers, training only
  std::vector<LayerSpec> layers;
  /// Optional linear readout of the top stream (torch nn.Linear shapes): weight
  /// (O, output_size()), bias (O,) or empty. No readout: the prediction is the top stream.
  Eigen::MatrixXd readout_weight;
  Eigen::VectorXd readout_bias;

  bool has_readout() const { return readout_weight.size() > 0; }
  /// Width of the prediction: O with a readout, output_size() without.
  int prediction_size() const { return has_readout() ? static_cast<int>(readout_weight.rows()) : output_size(); }

  int num_layers() const { return static_cast<int>(layers.size()); }
  int num_directions() const { return bidirectional ? 2 : 1; }
  /// Width of the stream y^(l) passed up from layer l (l = 0 is the input x), which is also
  /// the width of h^(l) times num_directions (a residual projection maps y^(l-1) onto h^(l)).
  int stream_width(int l) const;
  /// Width of the input u^(l) that layer l (1-based) reads.
  int layer_input_size(int l) const;
  int state_dim() const;
  std::vector<StateSlice> state_slices() const;
  /// Width of what forward returns per step: top stream (num_directions*hidden for torch models).
  int output_size() const { return stream_width(num_layers()); }
  /// Number of parameters per layer (equals torch's sum of numel for torch-shaped models).
  std::vector<long> parameter_counts() const;
  long parameter_count() const;
  /// Checks architecture and every parameter shape and value; throws InputError naming
  /// `where` (a file name, say) and the offending layer and parameter.
  void validate(std::string_view where) const;
};

}  // namespace stackdyn
