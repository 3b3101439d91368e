// The stack as a dynamical system (docs/design.md sections 1-3): one map of all layers, batched
// over columns, and its derivatives at a point: Jacobian-vector and vector-Jacobian products
// and the dense, block lower-triangular Jacobians.
//
// Two couplings between layers:
//   Sequential   — the discrete map s_t = F(s_{t-1}, x_t): layer l reads the layer below's
//                  *new* state (one full step of the stack);
//   Simultaneous — G(s, x) = [F_l(s^(l), u^(l)(s, x))]_l with u^(l) built from the lower
//                  layers' *current* states: the map inside the continuous-time view
//                  tau_l ds^(l)/dt = G_l(s, x) - s^(l).
// Both share the diagonal blocks A_ll; they differ below the diagonal.
#pragma once
#include <stackdyn/model/cell.hpp>
#include <stackdyn/model/model.hpp>

#include <vector>

namespace stackdyn {

enum class Coupling { Sequential, Simultaneous };

class Stack {
 public:
  /// `model` must outlive the stack. Bidirectional models are refused (InputError): they
  /// are sequence models, not causal dynamical systems.
  explicit Stack(const Model& model, Coupling coupling = Coupling::Sequential);
  Coupling coupling() const { return coupling_; }

  const Model& model() const { return *m_; }
  int num_layers() const { return static_cast<int>(cells_.size()); }
  int state_dim() const { return state_dim_; }
  int input_size() const { return m_->input_size; }
  int output_size() const { return m_->output_size(); }
  const std::vector<StateSlice>& slices() const { return slices_; }
  const Cell& cell(int layer) const { return cells_[layer]; }

  /// Per-step buffers; sized on the first step, reused without allocation afterwards.
  struct Workspace {
    std::vector<CellTrace> trace;  ///< per layer
    std::vector<MatrixXd> U;       ///< layer input when it must be assembled (skip)
    std::vector<MatrixXd> P;       ///< input projections
    std::vector<MatrixXd> Y;       ///< streams y^(l) passed up
  };
  Workspace make_workspace() const;

  /// S_new = F(S, X) (or G(S, X), Simultaneous) for every column (sample). S and S_new
  /// must not overlap.
  void step(const ConstMatRef& X, const ConstMatRef& S, MatRef S_new, Workspace& ws) const;
  /// u^(l) (layer_input_size(layer) x B), the input of one layer as the continuous view
  /// builds it: from X and the current states of the layers below, S_below (the rows above
  /// the layer's offset of a state; only the rows the layer reads are used). Linear in
  /// (X, S_below), so the same call maps their time derivatives to du/dt. For integrating
  /// the layers one at a time (dynamics/cascade).
  void layer_input(int layer, const ConstMatRef& X, const ConstMatRef& S_below, MatrixXd& U, Workspace& ws) const;
  int layer_input_size(int layer) const { return in_width_[layer]; }
  /// The layers whose states u^(l) reads: l-1, l-2 with a skip, and further down through
  /// residual streams.
  std::vector<int> layers_read(int layer) const;
  /// The top stream y^(L) after the last step (what forward returns per step; with
  /// Simultaneous coupling, the stream of the current states).
  const MatrixXd& output(const Workspace& ws) const { return ws.Y.back(); }

  /// Everything the derivatives need at one point (x, s).
  struct Linearization {
    VectorXd x, s, s_next;
    Workspace ws;
  };
  Linearization linearize(const Eigen::Ref<const VectorXd>& x, const Eigen::Ref<const VectorXd>& s) const;
  /// The same into `lin`, reusing its buffers: no allocation once they have their sizes
  /// (for loops that linearise many times, one Linearization per thread).
  void linearize(const Eigen::Ref<const VectorXd>& x, const Eigen::Ref<const VectorXd>& s, Linearization& lin) const;

  /// out = dF/ds dS + dF/dx dX, k tangent columns at once (dX is input_size x k).
  void jvp(const Linearization& lin, const ConstMatRef& dX, const ConstMatRef& dS, MatRef out) const;
  /// out = dF/dtheta [dW]: the derivative of the map (one column) in the direction dW_ih,
  /// dW_hh of layer `layer`'s weight_ih and weight_hh (torch shapes; empty = zero), carried
  /// to the layers above as F carries a change of that layer (Sequential: through its new
  /// state; Simultaneous: not at all, the layers above read the current state).
  void weight_jvp(const Linearization& lin, int layer, const MatrixXd& dW_ih, const MatrixXd& dW_hh, MatRef out) const;
  /// gS = (dF/ds)^T G, gX = (dF/dx)^T G.
  void vjp(const Linearization& lin, const ConstMatRef& G, MatRef gX, MatRef gS) const;
  /// Dense dF/ds (state_dim x state_dim), block lower-triangular in layers.
  MatrixXd jacobian_state(const Linearization& lin) const {
    MatrixXd J(state_dim_, state_dim_);
    dense_jacobian(lin, true, J);
    return J;
  }
  /// The same into J (state_dim x state_dim), allocating nothing: for loops that need it often.
  void jacobian_state(const Linearization& lin, MatRef J) const { dense_jacobian(lin, true, J); }
  /// Dense dF/dx (state_dim x input_size).
  MatrixXd jacobian_input(const Linearization& lin) const {
    MatrixXd J(state_dim_, input_size());
    dense_jacobian(lin, false, J);
    return J;
  }
  /// The layer's own block A_ll = dF_l/ds^(l) (docs/design.md 3).
  MatrixXd diagonal_block(const Linearization& lin, int layer) const;

 private:
  // jvp, plus (layer >= 0) the weight derivative of that layer added to its own tangent.
  void tangent(const Linearization& lin, const ConstMatRef& dX, const ConstMatRef& dS, MatRef out, int layer,
               const MatrixXd& dW_ih, const MatrixXd& dW_hh) const;
  void dense_jacobian(const Linearization& lin, bool wrt_state, MatRef J) const;
  // Rows of a layer's input u^(l) assembled from the stream below and (skip) h^(l-2).
  template <class Below, class Skip>
  void assemble_input(int layer, const Below& below, const Skip& skip_part, MatrixXd& U) const;

  const Model* m_;
  Coupling coupling_;
  std::vector<Cell> cells_;
  std::vector<StateSlice> slices_;
  std::vector<int> in_width_;      // width of u^(l)
  std::vector<int> stream_width_;  // width of y^(l), index 0 = x
  int state_dim_ = 0;
};

/// The model's prediction at states: its readout (the top stream itself without one) of the
/// top stream y^(L) built from the states' hidden parts and the input, y^(0) = x, y^(l) =
/// h^(l) + [residual] (proj) y^(l-1): what `forward` predicts at the step that produced the
/// state, and the task output at a fixed point. S (state_dim x B); X (input_size x B, or one
/// column for every state); P (prediction_size x B). Unidirectional models only.
void predictions_at_states(const Model& model, const ConstMatRef& S, const ConstMatRef& X, MatrixXd& P);
/// P = the model's readout of top-stream columns Y (weight Y + bias), or Y itself without one.
void apply_readout(const Model& model, const ConstMatRef& Y, MatrixXd& P);

}  // namespace stackdyn
