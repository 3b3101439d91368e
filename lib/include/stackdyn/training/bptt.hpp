// Backpropagation through time for the whole stack, batched (columns are samples).
//
// The forward pass runs layer after layer as run_sequence does (each layer's input
// projection for all steps in one matrix-matrix product, then the recurrence), keeping
// every step's trace; backward() runs the recurrences in reverse with the cells' batched
// backward steps and forms weight_ih's gradient and the cotangent of each layer's input
// with one product over all steps. Buffers are kept between calls: once the sizes are
// set, a step allocates nothing.
//
// Dropout between layers: `masks[l]` multiplies the stream y^(l) passed from layer l to
// layer l+1 (0-based) elementwise, at every step; that masked stream is what layer l+1
// reads and what its residual connection adds. Skip connections read h^(l-2) unmasked, and
// the top stream is never masked (torch's nn.RNN/GRU/LSTM dropout).
//
// Truncated BPTT (`truncate` = k > 0): the forward pass is not changed, but the state's
// cotangent is cut where a window of k steps begins (every k-th step of each direction's
// processing order): the gradient torch gives when the state is detached every k steps.
#pragma once
#include <stackdyn/model/cell.hpp>
#include <stackdyn/model/model.hpp>

#include <vector>

namespace stackdyn {

/// What backward() adds beside the cotangent of the predictions (auxiliary objectives).
/// Every matrix has the columns of the last forward() (t*B + b); an empty vector or an empty
/// entry adds nothing.
struct BackwardExtras {
  /// Per layer l: dL/dy^(l), the layer's output stream (unmasked, residual included), e.g.
  /// from an auxiliary readout of an intermediate layer.
  std::vector<MatrixXd> stream;
  /// Per layer l: dL/dh^(l), the layer's own hidden state (D*n rows).
  std::vector<MatrixXd> hidden;
  /// Per layer l of LSTM cells, unidirectional models: dL/d(gate values) (4n rows, i f g o
  /// after their nonlinearities), e.g. from a penalty on the gates.
  std::vector<MatrixXd> gates;
  /// Local (one-step) gradients: each layer's parameters receive only what flows from the
  /// cotangents given at its own steps through that step alone (no carry through time, none
  /// to the layer below, none from the predictions into the layers); the readout's gradient
  /// from gPred is still formed. The learning rule of predictive coding.
  bool local = false;
};

class Bptt {
 public:
  /// `model` must outlive this object; its parameters may change between calls.
  explicit Bptt(const Model& model);

  /// X (input_size, T*B), column t*B + b. `init`: empty (zeros) or one (cell state size, B)
  /// matrix per layer*num_directions + direction ([h; c] for LSTM). `masks`: empty, or one
  /// (stream width of layer l, T*B) matrix per gap l = 0 .. L-2.
  void forward(const ConstMatRef& X, int batch, int steps, const std::vector<MatrixXd>& init = {},
               const std::vector<MatrixXd>& masks = {});
  /// The top stream (output_size, T*B) of the last forward().
  const MatrixXd& outputs() const { return layers_.back().Y; }
  /// The readout applied to it (prediction_size, T*B); the top stream without a readout.
  const MatrixXd& predictions() const { return model_->has_readout() ? pred_ : layers_.back().Y; }
  /// Layer l's own h (D*n, T*B) of the last forward().
  const MatrixXd& hidden(int layer) const { return layers_[static_cast<std::size_t>(layer)].H; }
  /// Layer l's output stream y^(l) (stream width, T*B): h^(l), plus the residual term.
  const MatrixXd& stream(int layer) const { return layers_[static_cast<std::size_t>(layer)].Y; }
  /// The stream that layer l read at each step (stream width of the layer below, T*B): x for
  /// l = 0, else y^(l-1) with its dropout mask applied.
  auto stream_below(int layer) const {
    const auto& ly = layers_[static_cast<std::size_t>(layer)];
    return ly.U.topRows(model_->stream_width(layer));
  }
  /// An LSTM layer's gate values (4n, T*B: i, f, g, o after their nonlinearities) of the last
  /// forward(), unidirectional models.
  MatrixXd lstm_gates(int layer) const;
  /// Full state after each step (state_dim, T*B), unidirectional models only.
  MatrixXd states() const;

  /// Adds dL/dtheta into `grad` (a model of the same shape, e.g. zeros_like) given
  /// gPred = dL/dpredictions (prediction_size, T*B) of the last forward().
  void backward(const ConstMatRef& gPred, Model& grad, int truncate = 0, const BackwardExtras* extras = nullptr);
  /// dL/d(top stream) (output_size, T*B) of the last backward().
  const MatrixXd& output_cotangent() const { return gOut_; }
  /// dL/dX (input_size, T*B) of the last backward(): through the first layer, its residual
  /// connection and the second layer's skip connection.
  const MatrixXd& input_cotangent() const { return gX_; }

 private:
  struct Direction {
    std::vector<CellTrace> trace;  // per processing step
    MatrixXd P, S, gP;             // projections and their cotangent (rows, T*B); states (ns, (T+1)*B)
  };
  struct Layer {
    MatrixXd U;  // the layer's input (in, T*B): masked stream below, then the skip part
    MatrixXd H, Y, gY, gSkip, gU;
    Direction dir[2];
  };
  const Model* model_;
  std::vector<Cell> cells_;  // per layer*D + direction, rebuilt by forward()
  std::vector<Layer> layers_;
  std::vector<MatrixXd> masks_;
  MatrixXd pred_, gOut_, gX_, G_, carry_[2];
  CellTrace scratch_;
  int B_ = 0, T_ = 0;
};

/// How much the top stream at each step depends on the input at each step, through the whole
/// sequence (for bidirectional stacks, whose outputs read the future): (T, T), entry (t, s) =
/// |d y_t^(L) / d x_s|_F for the sequence X (input_size, T) from the initial states `init`
/// (as Bptt::forward's, one column each; empty: zeros). One forward pass over a batch of
/// output_size copies and one backward pass per output step t, the unit cotangents of y_t as
/// the batch's columns; the readout, if any, is not part of y.
MatrixXd output_input_dependency(const Model& model, const ConstMatRef& X, const std::vector<VectorXd>& init = {});

/// The full-state adjoint of docs/design.md 4 for a unidirectional model:
/// g_{T-1} = dl_{T-1}/ds_{T-1}, g_t = dl_t/ds_t + (dF/ds(s_t, x_{t+1}))^T g_{t+1}, where l_t
/// depends on s_t through the top stream at step t (gOut: dL/d(top stream), (output_size,
/// T*B)). X and states as Bptt's; returns (state_dim, T*B). With `truncate` = k > 0 the
/// adjoint is cut as backward()'s state cotangent is: where a window begins (t + 1 a multiple
/// of k) g_t = dl_t/ds_t alone, the gradient of the loss with the state detached every k steps.
MatrixXd full_state_adjoint(const Model& model, const ConstMatRef& X, const ConstMatRef& states,
                            const ConstMatRef& gOut, int batch, int steps, int truncate = 0);

}  // namespace stackdyn
