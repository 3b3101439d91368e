// Layer-by-layer sequence forward pass (see sequence.hpp).
#include <stackdyn/model/cell.hpp>
#include <stackdyn/model/sequence.hpp>

#include <algorithm>

namespace stackdyn {

SequenceOutput run_sequence(const Model& model, const MatrixXd& X, int B, int T, const std::vector<MatrixXd>& h0,
                            const std::vector<MatrixXd>& c0) {
  const int L = model.num_layers(), D = model.num_directions();
  const auto slices = model.state_slices();
  const Eigen::Index cols = static_cast<Eigen::Index>(T) * B;
  SequenceOutput out;
  if (!model.bidirectional) out.states.resize(model.state_dim(), cols);
  std::vector<MatrixXd> H(L);  // each layer's output h over the sequence (D*n, T*B)
  MatrixXd stream = X, U, P, S[2];
  // Input projections are computed for this many steps at a time (bounded memory).
  const int chunk = std::max(1, std::min(T, 256));
  CellTrace trace;
  for (int i = 0; i < L; ++i) {
    const LayerSpec& spec = model.layers[i];
    const int n = spec.hidden_size, ns = spec.state_size(), in = model.layer_input_size(i + 1);
    const MatrixXd* input = &stream;
    if (spec.skip) {
      const MatrixXd& two_below = i == 1 ? X : H[i - 2];
      U.resize(in, cols);
      U.topRows(stream.rows()) = stream;
      U.bottomRows(two_below.rows()) = two_below;
      input = &U;
    }
    H[i].resize(D * n, cols);
    for (int dir = 0; dir < D; ++dir) {
      const Cell cell = make_cell(spec, dir == 0 ? spec.fwd : spec.bwd, in);
      const int k = i * D + dir;
      S[0] = MatrixXd::Zero(ns, B);
      if (!h0.empty()) S[0].topRows(n) = h0.at(k);
      if (spec.cell == CellType::Lstm && !c0.empty()) S[0].bottomRows(n) = c0.at(k);
      int cur = 0;
      std::visit(
          [&](const auto& c) {
            for (int t0 = 0; t0 < T; t0 += chunk) {
              const int len = std::min(chunk, T - t0);
              // Steps of this chunk in processing order (reversed for the backward direction).
              const int first = dir == 0 ? t0 : T - t0 - len;
              P.resize(c.projection_rows(), static_cast<Eigen::Index>(len) * B);
              c.project_input(input->middleCols(static_cast<Eigen::Index>(first) * B, static_cast<Eigen::Index>(len) * B), P);
              for (int j = 0; j < len; ++j) {
                const int t = dir == 0 ? t0 + j : T - 1 - (t0 + j);
                const Eigen::Index col = static_cast<Eigen::Index>(t) * B;
                S[1 - cur].resize(ns, B);
                c.step(P.middleCols(static_cast<Eigen::Index>(t - first) * B, B), S[cur], S[1 - cur], trace);
                cur = 1 - cur;
                H[i].block(dir * n, col, n, B) = S[cur].topRows(n);
                if (!model.bidirectional) out.states.block(slices[i].offset, col, ns, B) = S[cur];
              }
            }
          },
          cell);
      out.h_n.push_back(S[cur].topRows(n));
      if (spec.cell == CellType::Lstm) out.c_n.push_back(S[cur].bottomRows(n));
    }
    // The stream passed up: y = h (+ P y_below for residual layers).
    if (spec.residual) {
      if (spec.residual_proj.size() > 0)
        stream = H[i] + spec.residual_proj * stream;
      else
        stream = H[i] + stream;
    } else {
      stream = H[i];
    }
  }
  out.outputs = std::move(stream);
  return out;
}

}  // namespace stackdyn
