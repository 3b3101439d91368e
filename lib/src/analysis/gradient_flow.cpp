// Gradient flow across time and depth by vector-Jacobian products (see gradient_flow.hpp).
#include <stackdyn/analysis/gradient_flow.hpp>
#include <stackdyn/core/error.hpp>
#include <stackdyn/model/stack.hpp>

namespace stackdyn {

GradientFlowResult gradient_flow(const Model& model, const MatrixXd& X, const VectorXd& s0) {
  const Stack stack(model);
  const int N = stack.state_dim(), L = stack.num_layers(), d = stack.input_size();
  const auto T = X.cols();
  if (X.rows() != d || s0.size() != N)
    throw InputError("gradient flow: inputs of " + std::to_string(X.rows()) + " rows and a state of " +
                     std::to_string(s0.size()) + "; expected input_size = " + std::to_string(d) +
                     " and state_dim = " + std::to_string(N));
  const auto& slices = stack.slices();
  GradientFlowResult r;
  r.states.resize(N, T + 1);
  r.states.col(0) = s0;
  Stack::Linearization lin = stack.linearize(X.col(0), s0);
  for (Eigen::Index t = 0; t < T; ++t) {
    stack.linearize(X.col(t), r.states.col(t), lin);
    for (int l = 0; l < L; ++l)
      if (!lin.s_next.segment(slices[static_cast<std::size_t>(l)].offset, slices[static_cast<std::size_t>(l)].size).allFinite())
        throw RunError("the trajectory left the finite numbers at step " + std::to_string(t + 1) + " in layer " +
                       std::to_string(l));
    r.states.col(t + 1) = lin.s_next;
  }

  // G: the unit columns of every layer's hidden state, layer m's at columns [col[m], col[m+1]).
  std::vector<Eigen::Index> col(static_cast<std::size_t>(L) + 1, 0);
  for (int m = 0; m < L; ++m) col[static_cast<std::size_t>(m) + 1] = col[static_cast<std::size_t>(m)] + slices[static_cast<std::size_t>(m)].hidden_size;
  const Eigen::Index k = col.back();
  MatrixXd G = MatrixXd::Zero(N, k), G_prev(N, k), gX(d, k);
  for (int m = 0; m < L; ++m) {
    const auto& s = slices[static_cast<std::size_t>(m)];
    G.block(s.offset, col[static_cast<std::size_t>(m)], s.hidden_size, s.hidden_size).setIdentity();
  }
  r.norms.assign(static_cast<std::size_t>(L), MatrixXd(T, L));
  for (Eigen::Index t = T - 1; t >= 0; --t) {
    stack.linearize(X.col(t), r.states.col(t), lin);
    stack.vjp(lin, G, gX, G_prev);
    G.swap(G_prev);
    for (int m = 0; m < L; ++m)
      for (int l = 0; l < L; ++l) {
        const auto& s = slices[static_cast<std::size_t>(l)];
        r.norms[static_cast<std::size_t>(m)](t, l) =
            G.block(s.offset, col[static_cast<std::size_t>(m)], s.size, col[static_cast<std::size_t>(m) + 1] - col[static_cast<std::size_t>(m)]).norm();
      }
  }
  return r;
}

std::vector<long long> depth_path_counts(const Model& model) {
  const int L = model.num_layers();
  std::vector<long long> p(static_cast<std::size_t>(L) + 1), q(static_cast<std::size_t>(L) + 1);
  p[0] = q[0] = 1;
  for (int l = 1; l <= L; ++l) {
    const LayerSpec& s = model.layers[static_cast<std::size_t>(l) - 1];
    const auto i = static_cast<std::size_t>(l);
    p[i] = q[i - 1] + (s.skip && l >= 2 ? p[i - 2] : 0);
    q[i] = p[i] + (s.residual ? q[i - 1] : 0);
  }
  return {p.begin() + 1, p.end()};
}

}  // namespace stackdyn
