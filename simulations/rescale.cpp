// `stackdyn rescale MODEL.h5 -o OUT.h5 --radius r1,r2,...`: a copy of the model with each
// layer's recurrent weights scaled to a spectral radius (docs/probes.md).
#include "command.hpp"
#include "command_util.hpp"

#include <stackdyn/core/error.hpp>
#include <stackdyn/model/model_io.hpp>
#include <stackdyn/model/spectral_radius.hpp>

#include <ostream>

namespace stackdyn::cli {
namespace {

int run_rescale(Invocation& inv) {
  const std::string& spec = inv.arg("model");
  Model m = inv.model();
  if (!inv.config.has("radius")) throw InputError("rescale: --radius is required; e.g. --radius 0.5,0.9,0.99");
  const std::vector<double> radii = inv.config.get_double_list("radius");
  const int L = m.num_layers();
  if (radii.size() != 1 && static_cast<int>(radii.size()) != L)
    throw InputError("--radius: " + std::to_string(radii.size()) + " values for a model of " + std::to_string(L) +
                     " layers; expected one value or one per layer");
  const RadiusBlocks blocks = parse_radius_blocks(inv.config.get_string("blocks"), "--blocks");
  std::vector<double> before;
  for (int l = 0; l < L; ++l) {
    const std::string where = "--radius (layer " + std::to_string(l) + " of " + spec + ")";
    if (m.layers[static_cast<std::size_t>(l)].cell == CellType::DeepTransition)
      throw InputError(where + ": a deep_transition cell's recurrent map is an MLP, not a matrix with a spectral radius");
    before.push_back(layer_radius(m, l, blocks));
    set_layer_radius(m, l, radii[radii.size() == 1 ? 0 : static_cast<std::size_t>(l)], blocks, where);
  }
  Provenance prov = make_provenance(inv.ctx, spec, inv.config.to_toml());
  prov.source = "rescale of " + spec + " (blocks: " + std::string(radius_blocks_name(blocks)) + ")";
  write_model(m, inv.output, prov);
  inv.ctx.out << inv.output << ": spectral radius per layer (" << radius_blocks_name(blocks) << ")";
  for (int l = 0; l < L; ++l)
    inv.ctx.out << (l ? "," : "") << " " << before[static_cast<std::size_t>(l)] << " -> " << layer_radius(m, l, blocks);
  inv.ctx.out << "\n";
  return 0;
}

const bool registered = register_command({
    .name = "rescale",
    .summary = "A copy of a model with each layer's recurrent spectral radius set",
    .positionals = {model_positional()},
    .options = {{"--radius", "radius", ValueKind::Numbers, "", "Spectral radius: one value, or one per layer (required)", ""},
                {"--blocks", "blocks", ValueKind::Text, "\"gates\"",
                 "Gated cells: 'gates' (each gate's n x n block of weight_hh) or 'candidate' (GRU n, LSTM g)", ""}},
    .footer = "OUT.h5 is a model file. Dense eigenvalues (LAPACK) up to 300 units, Spectra's Arnoldi above.\n"
              "See docs/probes.md.",
    .run = run_rescale,
});

}  // namespace
}  // namespace stackdyn::cli
