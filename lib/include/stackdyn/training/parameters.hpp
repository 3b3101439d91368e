// The trainable parameters of a model as a flat list of named blocks, in the model file's
// names and order (layers/<l>/weight_ih, ..., readout/weight, readout/bias). Gradients and
// optimiser states are models of the same shape, so one list walks all of them in step.
#pragma once
#include <stackdyn/core/h5.hpp>
#include <stackdyn/model/model.hpp>

#include <string>
#include <vector>

namespace stackdyn {

struct ParamBlock {
  std::string name;                ///< as in the model file, without a leading '/'
  double* data = nullptr;          ///< column-major storage of the Eigen object
  Eigen::Index rows = 0, cols = 0; ///< cols = 1 for a vector
  bool vector = false;
  int layer = -1;                  ///< 0-based layer, -1 for the readout
  Eigen::Map<Eigen::MatrixXd> map() const { return Eigen::Map<Eigen::MatrixXd>(data, rows, cols); }
};

/// Every non-empty parameter of `m`, in file order. The pointers live as long as `m`
/// keeps its shapes.
std::vector<ParamBlock> parameter_blocks(Model& m);

/// A model of the same architecture with every parameter zero (gradients, optimiser moments).
Model zeros_like(const Model& m);

/// Owned storage shaped as `layout` (every entry zero) and blocks of the same names over it:
/// gradients and optimiser moments of parameters that do not all live in one model.
std::vector<ParamBlock> blocks_like(const std::vector<ParamBlock>& layout, std::vector<Eigen::MatrixXd>& storage);
/// Blocks of `layout`'s names over existing storage of the same shapes (what blocks_like made).
std::vector<ParamBlock> blocks_over(const std::vector<ParamBlock>& layout, std::vector<Eigen::MatrixXd>& storage);

/// Writes every block as a dataset `<name>` under `g` (matrices (rows, cols), vectors (n,)):
/// gradients, optimiser moments, parameters trained beside the model.
void write_blocks(h5::Group& g, const std::vector<ParamBlock>& blocks);
void write_blocks(h5::Group& g, Model& m);
/// Reads what write_blocks wrote into the blocks (whose shapes must match); InputError naming
/// the file and dataset otherwise.
void read_blocks(const h5::Group& g, const std::vector<ParamBlock>& blocks);
void read_blocks(const h5::Group& g, Model& m);

}  // namespace stackdyn
