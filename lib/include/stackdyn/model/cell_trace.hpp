// What a cell step leaves behind: its gate values. After a single-sample step the trace is
// the linearisation point that the Jacobian routines read.
#pragma once
#include <Eigen/Dense>
#include <vector>

namespace stackdyn {

using Eigen::MatrixXd;
using Eigen::VectorXd;
using MatRef = Eigen::Ref<MatrixXd>;
using ConstMatRef = Eigen::Ref<const MatrixXd>;

struct CellTrace {
  MatrixXd a;                 ///< cell-specific: gates / pre-activations, one column per sample
  MatrixXd b;                 ///< cell-specific second buffer
  std::vector<MatrixXd> mlp;  ///< deep transition: each MLP layer's activations
  MatrixXd s;                 ///< old state (set by linearisation, single column)
};

/// The pre-activation tangent of a weight direction: dW_hh h + dW_ih u (`rows` rows, empty
/// matrices are zero); `h` the part of the old state that W_hh multiplies.
inline MatrixXd weight_tangent(const ConstMatRef& h, const ConstMatRef& u, const MatrixXd& dW_ih,
                               const MatrixXd& dW_hh, Eigen::Index rows) {
  MatrixXd z = MatrixXd::Zero(rows, 1);
  if (dW_hh.size() > 0) z.noalias() += dW_hh * h;
  if (dW_ih.size() > 0) z.noalias() += dW_ih * u;
  return z;
}

}  // namespace stackdyn
