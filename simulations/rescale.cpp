// `stackdyn rescale MODEL.h5 -o OUT.h5 --radius r1,r2,...`: a copy of the model with each
// layer's recurrent weights scaled to a spectral radius (docs/probes.md).
#include "cli.hpp"
#include "command_util.hpp"

#include <stackdyn/core/error.hpp>
#include <stackdyn/model/model_io.hpp>
#include <stackdyn/model/spectral_radius.hpp>

#include <ostream>

namespace stackdyn::cli {
namespace {

struct RescaleOptions {
  std::string model, output, radius, blocks = "gates";
};

int run_rescale(const RescaleOptions& o, Context& ctx) {
  Model m = read_model(o.model);
  const std::vector<double> radii = parse_list(o.radius, "--radius");
  const int L = m.num_layers();
  if (radii.size() != 1 && static_cast<int>(radii.size()) != L)
    throw InputError("--radius: " + std::to_string(radii.size()) + " values for a model of " + std::to_string(L) +
                     " layers; expected one value or one per layer");
  const RadiusBlocks blocks = parse_radius_blocks(o.blocks, "--blocks");
  std::vector<double> before;
  for (int l = 0; l < L; ++l) {
    const std::string where = "--radius (layer " + std::to_string(l) + " of " + o.model + ")";
    if (m.layers[static_cast<std::size_t>(l)].cell == CellType::DeepTransition)
      throw InputError(where + ": a deep_transition cell's recurrent map is an MLP, not a matrix with a spectral radius");
    before.push_back(layer_radius(m, l, blocks));
    set_layer_radius(m, l, radii[radii.size() == 1 ? 0 : static_cast<std::size_t>(l)], blocks, where);
  }
  Provenance prov;
  prov.command_line = ctx.command_line;
  prov.model_path = o.model;
  prov.model_hash = file_hash(o.model);
  prov.source = "rescale of " + o.model + " (blocks: " + std::string(radius_blocks_name(blocks)) + ")";
  write_model(m, o.output, prov);
  ctx.out << o.output << ": spectral radius per layer (" << radius_blocks_name(blocks) << ")";
  for (int l = 0; l < L; ++l) ctx.out << (l ? "," : "") << " " << before[static_cast<std::size_t>(l)] << " -> " << layer_radius(m, l, blocks);
  ctx.out << "\n";
  return 0;
}

const bool registered = register_command(
    {"rescale", "A copy of a model with each layer's recurrent spectral radius set",
     [](CLI::App& sub) -> Runner {
       auto o = std::make_shared<RescaleOptions>();
       sub.add_option("model", o->model, "Model file (HDF5)")->required();
       sub.add_option("-o,--output", o->output, "The rescaled model (HDF5)")->required();
       sub.add_option("--radius", o->radius, "Spectral radius: one value, or one per layer separated by commas")
           ->required();
       sub.add_option("--blocks", o->blocks,
                      "Gated cells: 'gates' (each gate's n x n block of weight_hh, default) or 'candidate' (GRU n, LSTM g)");
       sub.footer("Dense eigenvalues up to 300 units, Spectra's Arnoldi above. See docs/probes.md.");
       return [o](Context& ctx) { return run_rescale(*o, ctx); };
     }});

}  // namespace
}  // namespace stackdyn::cli
