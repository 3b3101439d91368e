// Test helper: small models with every parameter drawn from U(-scale, scale), built in code
// so that the dynamics tests do not depend on the TOML initialiser.
#pragma once
#include <stackdyn/model/model.hpp>

#include <random>

namespace stackdyn::test {

struct LayerDesc {
  CellType cell;
  int hidden;
  bool skip = false;
  bool residual = false;
  std::vector<int> transition_hidden = {};
  bool transition_residual = false;
  bool bias = true;
  Activation activation = Activation::Tanh;
};

inline Eigen::MatrixXd random_matrix(std::mt19937_64& rng, Eigen::Index r, Eigen::Index c, double scale) {
  std::uniform_real_distribution<double> u(-scale, scale);
  Eigen::MatrixXd m(r, c);
  for (Eigen::Index j = 0; j < c; ++j)
    for (Eigen::Index i = 0; i < r; ++i) m(i, j) = u(rng);
  return m;
}

inline CellParams random_params(std::mt19937_64& rng, const LayerSpec& s, int in, double scale) {
  CellParams p;
  const int n = s.hidden_size;
  if (s.cell == CellType::DeepTransition) {
    std::vector<int> widths = s.transition_hidden;
    widths.push_back(n);
    const int m1 = widths.front();
    p.w_ih = random_matrix(rng, m1, in, scale);
    p.w_hh = random_matrix(rng, m1, n, scale);
    if (s.bias) p.b_ih = random_matrix(rng, m1, 1, scale);
    for (std::size_t k = 1; k < widths.size(); ++k) {
      p.mlp_w.push_back(random_matrix(rng, widths[k], widths[k - 1], scale));
      if (s.bias) p.mlp_b.push_back(random_matrix(rng, widths[k], 1, scale));
    }
    return p;
  }
  const int G = gate_count(s.cell);
  p.w_ih = random_matrix(rng, G * n, in, scale);
  p.w_hh = random_matrix(rng, G * n, n, scale);
  if (s.bias) {
    p.b_ih = random_matrix(rng, G * n, 1, scale);
    p.b_hh = random_matrix(rng, G * n, 1, scale);
  }
  return p;
}

inline Model random_model(int input_size, const std::vector<LayerDesc>& layers, unsigned seed, double scale = 0.6,
                          bool bidirectional = false) {
  std::mt19937_64 rng(seed);
  Model m;
  m.input_size = input_size;
  m.bidirectional = bidirectional;
  for (const auto& d : layers) {
    LayerSpec s;
    s.cell = d.cell;
    s.hidden_size = d.hidden;
    s.bias = d.bias;
    s.skip = d.skip;
    s.residual = d.residual;
    s.transition_hidden = d.transition_hidden;
    s.transition_residual = d.transition_residual;
    s.activation = d.activation;
    m.layers.push_back(s);
  }
  for (int l = 1; l <= m.num_layers(); ++l) {
    LayerSpec& s = m.layers[l - 1];
    const int in = m.layer_input_size(l);
    s.fwd = random_params(rng, s, in, scale);
    if (bidirectional) s.bwd = random_params(rng, s, in, scale);
    const int below = m.stream_width(l - 1);
    if (s.residual && below != s.hidden_size) s.residual_proj = random_matrix(rng, s.hidden_size, below, scale);
  }
  m.validate("random_model");
  return m;
}

/// Central differences (step h) of f() in every entry of the parameter block at `data`
/// (rows x cols, column-major), the entry restored afterwards.
template <class F>
Eigen::MatrixXd central_differences(double* data, Eigen::Index rows, Eigen::Index cols, F&& f, double h = 1e-6) {
  Eigen::MatrixXd fd(rows, cols);
  for (Eigen::Index i = 0; i < rows * cols; ++i) {
    const double keep = data[i];
    data[i] = keep + h;
    const double lp = f();
    data[i] = keep - h;
    const double lm = f();
    data[i] = keep;
    fd.data()[i] = (lp - lm) / (2 * h);
  }
  return fd;
}

}  // namespace stackdyn::test
