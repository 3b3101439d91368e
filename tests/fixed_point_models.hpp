// Test helper: small models whose fixed points are known in closed form or by bisection.
#pragma once
#include <stackdyn/model/model.hpp>

#include <cmath>
#include <vector>

namespace stackdyn::test {

/// One vanilla layer h' = act(W h + U x + b) with the given matrices (bias_hh = 0).
inline LayerSpec vanilla_layer(CellType cell, const Eigen::MatrixXd& W, const Eigen::MatrixXd& U,
                               const Eigen::VectorXd& b) {
  LayerSpec s;
  s.cell = cell;
  s.hidden_size = static_cast<int>(W.rows());
  s.fwd.w_hh = W;
  s.fwd.w_ih = U;
  s.fwd.b_ih = b;
  s.fwd.b_hh = Eigen::VectorXd::Zero(W.rows());
  return s;
}

inline Eigen::MatrixXd scalar(double v) { return Eigen::MatrixXd::Constant(1, 1, v); }

/// h' = tanh(w h + u x + b), one unit, one input.
inline Model tanh_unit(double w, double b = 0.0, double u = 0.0) {
  Model m;
  m.input_size = 1;
  m.layers.push_back(vanilla_layer(CellType::RnnTanh, scalar(w), scalar(u), Eigen::VectorXd::Constant(1, b)));
  m.validate("tanh_unit");
  return m;
}

/// Layer 1: two uncoupled bistable tanh units (3 x 3 = 9 points); layer 2: one bistable
/// unit that reads layer 1 weakly (3 points for each of layer 1's): 27 in all, 8 stable.
inline Model bistable_stack() {
  Model m;
  m.input_size = 1;
  m.layers.push_back(vanilla_layer(CellType::RnnTanh, 2.0 * Eigen::MatrixXd::Identity(2, 2),
                                   Eigen::MatrixXd::Zero(2, 1), Eigen::VectorXd::Zero(2)));
  m.layers.push_back(vanilla_layer(CellType::RnnTanh, scalar(2.0), (Eigen::MatrixXd(1, 2) << 0.05, -0.03).finished(),
                                   Eigen::VectorXd::Zero(1)));
  m.validate("bistable_stack");
  return m;
}

/// The roots of h = tanh(w h + c) in [-1, 1], by bisection on a fine grid (independent of
/// the finder).
inline std::vector<double> tanh_roots(double w, double c) {
  auto g = [&](double h) { return std::tanh(w * h + c) - h; };
  std::vector<double> roots;
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    double a = -1.0 + 2.0 * i / n, b = -1.0 + 2.0 * (i + 1) / n;
    if (g(a) == 0) roots.push_back(a);
    if (g(a) * g(b) >= 0) continue;
    for (int k = 0; k < 200; ++k) {
      const double mid = 0.5 * (a + b);
      (g(a) * g(mid) <= 0 ? b : a) = mid;
    }
    roots.push_back(0.5 * (a + b));
  }
  return roots;
}

}  // namespace stackdyn::test
