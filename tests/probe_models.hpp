// Test helper for the probe tests: stacks with known linearisations.
#pragma once
#include "random_model.hpp"

#include <Eigen/Eigenvalues>

#include <algorithm>
#include <cmath>
#include <functional>

namespace stackdyn::test {

/// Rescales each layer's weight_hh (vanilla cells) to the given spectral radius.
inline void set_radii(Model& m, const std::vector<double>& radii) {
  for (std::size_t l = 0; l < radii.size(); ++l) {
    auto& W = m.layers[l].fwd.w_hh;
    const double rho = Eigen::EigenSolver<Eigen::MatrixXd>(W, false).eigenvalues().cwiseAbs().maxCoeff();
    W *= radii[l] / rho;
  }
}

/// A tanh stack without biases whose weight_hh blocks have the given spectral radii.
inline Model contracting_tanh_stack(const std::vector<int>& widths, const std::vector<double>& radii, unsigned seed,
                                    int input_size = 1) {
  std::vector<LayerDesc> d;
  for (int n : widths) d.push_back({CellType::RnnTanh, n, false, false, {}, false, /*bias=*/false});
  Model m = random_model(input_size, d, seed, 0.8);
  set_radii(m, radii);
  return m;
}

/// Eigenvalues of a square matrix.
inline Eigen::VectorXcd eigenvalues(const Eigen::MatrixXd& A) {
  return Eigen::EigenSolver<Eigen::MatrixXd>(A, false).eigenvalues();
}

/// Descending copy.
inline Eigen::VectorXd descending(Eigen::VectorXd v) {
  std::sort(v.data(), v.data() + v.size(), std::greater<>());
  return v;
}

}  // namespace stackdyn::test
