// Whole-sequence forward pass, as torch.nn.RNN/GRU/LSTM compute it: layer after layer, each
// layer's input projection for many steps in one matrix-matrix product, then the recurrence.
// Handles bidirectional layers. For unidirectional models it also returns the full state
// after each step (docs/design.md 2) and agrees with stepping Stack::step.
#pragma once
#include <stackdyn/model/model.hpp>

#include <vector>

namespace stackdyn {

/// Columns are ordered step-major: column t*batch + b holds sample b at step t.
struct SequenceOutput {
  Eigen::MatrixXd outputs;           ///< (num_directions*hidden of the top layer, T*B)
  Eigen::MatrixXd states;            ///< (state_dim, T*B), unidirectional models only
  std::vector<Eigen::MatrixXd> h_n;  ///< per layer*num_directions + direction, (hidden, B)
  std::vector<Eigen::MatrixXd> c_n;  ///< as h_n, LSTM layers only (empty otherwise)
};

/// h0/c0: empty, or one (hidden, B) matrix per layer*num_directions + direction, as torch.
SequenceOutput run_sequence(const Model& model, const Eigen::MatrixXd& X, int batch, int steps,
                            const std::vector<Eigen::MatrixXd>& h0 = {},
                            const std::vector<Eigen::MatrixXd>& c0 = {});

}  // namespace stackdyn
