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

inline double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

}  // namespace stackdyn
