// GRU cells, gates in torch's order (r, z, n).
//   GruCell (torch.nn.GRU, "reset after"): n = tanh(W_in u + b_in + r * (W_hn h + b_hn))
//   GruResetBeforeCell (Cho et al. 2014):   n = tanh(W_in u + b_in + W_hn (r * h) + b_hn)
// both with r = sigma(W_ir u + b_ir + W_hr h + b_hr), z likewise, h' = (1 - z) * n + z * h.
#pragma once
#include <stackdyn/model/cell_trace.hpp>
#include <stackdyn/model/model.hpp>

namespace stackdyn {

class GruCell {
 public:
  GruCell(const CellParams& p, int hidden, int input);
  int state_size() const { return n_; }
  int input_size() const { return in_; }
  int projection_rows() const { return 3 * n_; }
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
  const CellParams* p_;
  int n_, in_;
};

class GruResetBeforeCell {
 public:
  GruResetBeforeCell(const CellParams& p, int hidden, int input);
  int state_size() const { return n_; }
  int input_size() const { return in_; }
  int projection_rows() const { return 3 * n_; }
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
  const CellParams* p_;
  int n_, in_;
};

}  // namespace stackdyn
