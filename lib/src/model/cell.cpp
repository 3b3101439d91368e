// Construction of the cell variant from a layer's specification.
#include <stackdyn/model/cell.hpp>

namespace stackdyn {

Cell make_cell(const LayerSpec& spec, const CellParams& p, int input_size) {
  const int n = spec.hidden_size;
  switch (spec.cell) {
    case CellType::RnnTanh: return VanillaCell(p, n, input_size, false);
    case CellType::RnnRelu: return VanillaCell(p, n, input_size, true);
    case CellType::Gru: return GruCell(p, n, input_size);
    case CellType::GruResetBefore: return GruResetBeforeCell(p, n, input_size);
    case CellType::Lstm: return LstmCell(p, n, input_size);
    case CellType::DeepTransition:
      return DeepTransitionCell(p, n, input_size, spec.transition_residual, spec.activation == Activation::Relu);
  }
  return VanillaCell(p, n, input_size, false);  // unreachable: the switch is exhaustive
}

}  // namespace stackdyn
