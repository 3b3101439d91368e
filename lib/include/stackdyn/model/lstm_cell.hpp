// LSTM cell exactly as torch.nn.LSTM (gates i, f, g, o; two bias vectors). State s = [h; c]:
//   c' = f * c + i * g,  h' = o * tanh(c').
#pragma once
#include <stackdyn/model/cell_trace.hpp>
#include <stackdyn/model/model.hpp>

namespace stackdyn {

class LstmCell {
 public:
  LstmCell(const CellParams& p, int hidden, int input);
  int state_size() const { return 2 * n_; }
  int input_size() const { return in_; }
  int projection_rows() const { return 4 * n_; }
  void project_input(const ConstMatRef& U, MatRef P) const;
  void step(const ConstMatRef& P, const ConstMatRef& S, MatRef S_new, CellTrace& t) const;
  void jvp(const CellTrace& t, const ConstMatRef& dU, const ConstMatRef& dS, MatRef out) const;
  /// Derivative in the weights at a 1-column trace: out = dF/dW_ih [dW_ih] + dF/dW_hh [dW_hh]
  /// (torch shapes; an empty matrix is zero), `u` the layer input at the trace.
  void weight_jvp(const CellTrace& t, const ConstMatRef& u, const MatrixXd& dW_ih, const MatrixXd& dW_hh,
                  MatRef out) const;
  void vjp(const CellTrace& t, const ConstMatRef& G, MatRef gU, MatRef gS) const;
  /// Reverse mode through one batched step (every column a sample): from G = dL/dS_new,
  /// writes gP = dL/dP (P the input projection, so the caller forms the weight_ih and bias_ih
  /// gradients and dL/du = W_ih^T gP over many steps at once) and gS = dL/dS, and adds the
  /// gradients of the recurrent parameters (weight_hh, bias_hh, MLP) into `grad` (shaped as
  /// the parameters). `t` is the step's trace, S its old and S_new its new state; `scratch`
  /// holds temporaries: nothing is allocated once it has its sizes.
  /// `gGates`, if given: an added cotangent of the gate values (4n rows: i, f, g, o after
  /// their nonlinearities), e.g. from a penalty on the gates.
  void backward(const CellTrace& t, const ConstMatRef& S, const ConstMatRef& S_new, const ConstMatRef& G, MatRef gP,
                MatRef gS, CellParams& grad, CellTrace& scratch, const ConstMatRef* gGates = nullptr) const;
  void jacobian_state(const CellTrace& t, MatRef A) const;
  void jacobian_input(const CellTrace& t, MatRef B) const;

 private:
  void gate_tangent(const CellTrace& t, const MatrixXd& pre, const ConstMatRef& dC, MatRef out) const;
  // Shared by jacobian_state (W = W_hh) and jacobian_input (W = W_ih): rows of dh', dc'
  // with respect to whatever W multiplies.
  void gate_jacobian(const CellTrace& t, const MatrixXd& W, MatRef dh, MatRef dc) const;
  const CellParams* p_;
  int n_, in_;
  VectorXd bias_;  // b_ih + b_hh
};

}  // namespace stackdyn
