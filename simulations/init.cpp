// `stackdyn init CONFIG.toml -o MODEL.h5`: a model with random weights from a TOML
// description (schema in stackdyn/init.hpp and data/model_example.toml).
#include "command.hpp"

#include <stackdyn/model/init.hpp>
#include <stackdyn/model/model_io.hpp>
#include <stackdyn/core/provenance.hpp>

#include <ostream>
#include <string>

namespace stackdyn::cli {
namespace {

int run_init(Invocation& inv) {
  long long seed = 0;
  const Model model = model_from_config(inv.config, &seed);

  Provenance prov;
  prov.command_line = inv.ctx.command_line;
  prov.config_toml = inv.config.to_toml();
  prov.seed = seed;
  prov.source = "init";
  write_model(model, inv.output, prov);

  std::string layers;
  for (const auto& spec : model.layers)
    layers += (layers.empty() ? "" : ", ") + std::string(cell_name(spec.cell)) + " " + std::to_string(spec.hidden_size);
  inv.ctx.out << inv.output << ": " << model.num_layers() << (model.num_layers() == 1 ? " layer" : " layers") << " ("
              << layers << (model.bidirectional ? ", bidirectional" : "") << "), input " << model.input_size << ", "
              << model.parameter_count() << " parameters, seed " << seed << "\n";
  return 0;
}

const bool registered = register_command({
    .name = "init",
    .summary = "Create a model with random weights from a TOML description",
    .positionals = {{"config", "Model description (TOML; see data/model_example.toml)", Positional::Kind::Config}},
    .options = {{"--seed", "seed", ValueKind::Integer, "", "Seed of the random weights, an integer >= 0 (default 0)", ""}},
    .set = true,
    .check_keys = false,  // model_from_config knows the description's keys
    .run = run_init,
});

}  // namespace
}  // namespace stackdyn::cli
