// Uses the installed library: one step of a 1-unit linear-ish layer, checked by hand.
#include <stackdyn/model/stack.hpp>
#include <stackdyn/version.hpp>

#include <cmath>
#include <iostream>

int main() {
  stackdyn::Model m;
  m.input_size = 1;
  stackdyn::LayerSpec s;
  s.cell = stackdyn::CellType::RnnTanh;
  s.hidden_size = 1;
  s.bias = false;
  s.fwd.w_ih = Eigen::MatrixXd::Constant(1, 1, 0.5);
  s.fwd.w_hh = Eigen::MatrixXd::Constant(1, 1, 0.25);
  m.layers.push_back(s);
  m.validate("consumer");
  const stackdyn::Stack st(m);
  auto ws = st.make_workspace();
  Eigen::VectorXd x(1), h(1), h1(1);
  x << 1.0;
  h << 2.0;
  st.step(x, h, h1, ws);
  const double expected = std::tanh(0.5 * 1.0 + 0.25 * 2.0);
  std::cout << "stackdyn " << stackdyn::version << ": h1 = " << h1(0) << "\n";
  return std::abs(h1(0) - expected) < 1e-15 ? 0 : 1;
}
