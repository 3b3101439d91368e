// How derivatives travel through time and depth along one driven trajectory of the map
// (docs/design.md 4, docs/probes.md). With s_t the state after t steps and J_t = dF/ds at
// (s_t, x_t), d s_T / d s_t = J_{T-1} ... J_t. Its block with the rows of layer m's hidden
// state h^(m) (not an LSTM's c) and the columns of layer l's whole state has the Frobenius
// norm norms[m](t, l). It is computed backwards by vector-Jacobian products,
// G_T = E_m (the unit columns of h^(m)), G_t = J_t^T G_{t+1}, all layers m at once, so no
// product of Jacobians is ever formed.
#pragma once
#include <stackdyn/model/stack.hpp>

#include <vector>

namespace stackdyn {

struct GradientFlowResult {
  /// norms[m] (T x L): entry (t, l) = |d h_T^(m) / d s_t^(l)|_F, t = 0 .. T-1.
  std::vector<MatrixXd> norms;
  MatrixXd states;  ///< (N, T + 1): s_0 .. s_T
};

/// Along the trajectory from s0 driven by the columns of X (input_size x T). InputError for
/// a bidirectional model; RunError naming the step and layer when the state leaves the
/// finite numbers.
GradientFlowResult gradient_flow(const Model& model, const MatrixXd& X, const VectorXd& s0);

/// The number of distinct paths in depth from the input to each layer's hidden state:
/// p(0) = 1 (the input), p(l) = q(l - 1) + [skip_l] p(l - 2), where q(l) = p(l) +
/// [residual_l] q(l - 1) counts the paths to the stream y^(l) passed up (q(0) = 1).
/// 1 for every layer of a plain stack; Fibonacci when every layer from the second skips.
std::vector<long long> depth_path_counts(const Model& model);

}  // namespace stackdyn
