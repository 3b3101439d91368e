// `stackdyn info MODEL.h5`: architecture, parameters per layer, state slices.
#include "command.hpp"

#include <stackdyn/core/format.hpp>
#include <stackdyn/model/model_io.hpp>

#include <iomanip>
#include <ostream>

namespace stackdyn::cli {
namespace {

int run_info(Invocation& inv) {
  const std::string& path = inv.arg("model");
  const Model m = inv.model();
  auto& out = inv.ctx.out;
  const auto counts = m.parameter_counts();
  const auto slices = m.state_slices();
  out << path << ": " << m.num_layers() << " layer" << (m.num_layers() > 1 ? "s" : "") << ", input size "
      << m.input_size << (m.bidirectional ? ", bidirectional" : "") << ", dropout " << format_number(m.dropout) << "\n";
  out << "parameters: " << m.parameter_count() << "\n";
  out << "state_dim: " << (m.bidirectional ? std::string("n/a (bidirectional: not a dynamical system)")
                                           : std::to_string(m.state_dim()))
      << "\n";
  out << "layer  cell              hidden  input  parameters  state slice   connections\n";
  for (int l = 0; l < m.num_layers(); ++l) {
    const LayerSpec& s = m.layers[l];
    std::string conn;
    if (s.skip) conn += "skip ";
    if (s.residual) conn += s.residual_proj.size() > 0 ? "residual(proj) " : "residual ";
    if (!s.bias) conn += "no-bias ";
    if (s.cell == CellType::DeepTransition) {
      conn += "mlp[";
      for (std::size_t k = 0; k < s.transition_hidden.size(); ++k)
        conn += (k ? "," : "") + std::to_string(s.transition_hidden[k]);
      conn += std::string("] ") + std::string(activation_name(s.activation)) +
              (s.transition_residual ? " +h" : "");
    }
    std::string slice = "[" + std::to_string(slices[l].offset) + ", " +
                        std::to_string(slices[l].offset + slices[l].size) + ")" +
                        (slices[l].has_cell_state ? " h;c" : "");
    out << std::left << std::setw(7) << l << std::setw(18) << cell_name(s.cell) << std::setw(8) << s.hidden_size
        << std::setw(7) << m.layer_input_size(l + 1) << std::setw(12) << counts[l] << std::setw(14) << slice
        << conn << "\n";
  }
  if (m.has_readout())
    out << "readout: linear, " << m.readout_weight.rows() << " outputs from the top stream (" << m.readout_weight.cols()
        << ")" << (m.readout_bias.size() > 0 ? ", with bias" : ", no bias") << ", " << m.readout_weight.size() + m.readout_bias.size()
        << " parameters\n";
  return 0;
}

const bool registered = register_command({
    .name = "info",
    .summary = "Print a model's architecture, parameter counts and state slices",
    .positionals = {model_positional()},
    .output = false,
    .run = run_info,
});

}  // namespace
}  // namespace stackdyn::cli
