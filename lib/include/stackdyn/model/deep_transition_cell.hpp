// Deep-transition cell: the transition is an MLP on [h; u] (Pascanu et al. 2014),
//   z_1 = act(W_hh h + W_ih u + b_ih),  z_{k+1} = act(M_k z_k + c_k),  h' = z_last (+ h),
// the "+ h" with transition_residual. docs/model-format.md names the parameters.
#pragma once
#include <stackdyn/model/cell_trace.hpp>
#include <stackdyn/model/model.hpp>

namespace stackdyn {

class DeepTransitionCell {
 public:
  DeepTransitionCell(const CellParams& p, int hidden, int input, bool residual, bool relu);
  int state_size() const { return n_; }
  int input_size() const { return in_; }
  int projection_rows() const { return static_cast<int>(p_->w_ih.rows()); }
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
  void backward(const CellTrace& t, const ConstMatRef& S, const ConstMatRef& S_new, const ConstMatRef& G, MatRef gP,
                MatRef gS, CellParams& grad, CellTrace& scratch) const;
  void jacobian_state(const CellTrace& t, MatRef A) const;
  void jacobian_input(const CellTrace& t, MatRef B) const;

 private:
  // Pushes a first-layer tangent Z1 = W_hh dS + W_ih dU through the MLP (without the
  // residual term, which the callers add).
  void propagate(const CellTrace& t, MatrixXd Z1, MatRef out) const;
  MatrixXd act_derivative(const MatrixXd& z) const;  // from the activations: tanh' = 1 - z^2, relu' = [z > 0]
  const CellParams* p_;
  int n_, in_;
  bool residual_, relu_;
};

}  // namespace stackdyn
