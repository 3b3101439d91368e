// A model with random initial weights, built from a TOML description (`stackdyn init`).
//
// Schema (data/model_example.toml shows every key with a comment):
//
//   input_size = 2        # required: width d of the input x_t
//   seed = 1              # default 0; a non-negative integer; same seed, bitwise the same model
//   bidirectional = false # torch's bidirectional (sequence models only; no dynamics analyses)
//   dropout = 0.0         # between layers, training only; in [0, 1)
//   [[layers]]            # one table per layer, bottom to top; at least one
//   cell = "gru"          # required: rnn_tanh | rnn_relu | gru | gru_reset_before | lstm | deep_transition
//   hidden_size = 32      # required: n
//   bias = true           # bias vectors present
//   skip = false          # also read h^(l-2) (h^(0) = x); not on the first layer
//   residual = false      # stream passed up y = h + P y_below (P only when widths differ)
//   init = "uniform"      # uniform | orthogonal (not for deep_transition)
//   spectral_radius = 1.2 # optional, > 0: rescale each n x n gate block of weight_hh (not deep_transition)
//   transition_hidden = [64]     # deep_transition only: hidden widths of the MLP (default [])
//   transition_residual = false  # deep_transition only: h' = MLP(h, u) + h
//   activation = "tanh"          # deep_transition only: tanh | relu
//
// Distributions:
//   uniform     every weight and bias of a torch-style cell ~ U(-k, k), k = 1/sqrt(n)
//               (torch.nn.RNN/GRU/LSTM's reset_parameters).
//   orthogonal  each n x n gate block of weight_hh is an orthogonal matrix, Haar-distributed
//               (QR of a standard normal matrix with the signs of diag(R), as
//               torch.nn.init.orthogonal_); everything else as for uniform.
//   deep_transition  every MLP layer and its bias ~ U(-k, k), k = 1/sqrt(fan_in), fan_in = the
//               layer's number of columns (n + in for the first layer, which reads [h; u]).
//   residual_proj    (when present) ~ U(-k, k), k = 1/sqrt(width of the stream below).
//   spectral_radius  applied after drawing: block *= rho / max|eig(block)| (Eigen::EigenSolver).
//
// Order of draws (fixed, so the seed alone determines the model): layer by layer, bottom
// first; within a layer the forward direction, then the reverse one; within a direction the
// datasets in file order (weight_ih, weight_hh, bias_ih, bias_hh; deep transition: weight_ih,
// weight_hh, bias_ih, then mlp_weight_k, mlp_bias_k for k = 0, 1, ...); residual_proj last.
// Each matrix is filled in C (row-major) order; orthogonal blocks draw their n*n normals in
// the same order, block by block. All draws come from stackdyn::Rng (random.hpp).
#pragma once
#include <string>
#include <vector>

#include <stackdyn/core/config.hpp>
#include <stackdyn/core/random.hpp>
#include <stackdyn/model/model.hpp>

namespace stackdyn {

/// The keys model_from_config accepts, as Config::check_keys patterns.
const std::vector<std::string>& model_config_keys();

/// Builds and validates a model from `cfg` (schema above). Unknown keys, bad values and
/// keys that do not fit the layer's cell are InputErrors naming cfg.name() and the key.
/// `seed_out`, when given, receives the seed used.
Model model_from_config(const Config& cfg, long long* seed_out = nullptr);

/// torch nn.Linear's initialisation of a layer with `in` inputs and `out` outputs: weight
/// (out, in), then bias (out,), every entry ~ U(-1/sqrt(in), 1/sqrt(in)), drawn row by row.
void linear_init(Eigen::MatrixXd& weight, Eigen::VectorXd& bias, int out, int in, Rng& rng);

}  // namespace stackdyn
