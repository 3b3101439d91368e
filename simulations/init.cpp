// `stackdyn init CONFIG.toml -o MODEL.h5`: a model with random weights from a TOML
// description (schema in stackdyn/init.hpp and data/model_example.toml).
#include "cli.hpp"

#include <stackdyn/core/config.hpp>
#include <stackdyn/core/error.hpp>
#include <stackdyn/model/init.hpp>
#include <stackdyn/model/model_io.hpp>
#include <stackdyn/core/provenance.hpp>

#include <charconv>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace {

struct InitOptions {
  std::string config_path;
  std::string output;
  std::optional<std::string> seed;  // text: checked here, so that 1e30 is an error, not a clamp
  std::vector<std::string> sets;
};

long long parse_seed(const std::string& text) {
  long long seed = -1;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), seed);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || seed < 0)
    throw stackdyn::InputError("--seed: expected an integer in [0, 2^63), got '" + text + "'");
  return seed;
}

int run_init(const InitOptions& opt, stackdyn::cli::Context& ctx) {
  const std::optional<long long> seed_override = opt.seed ? std::optional(parse_seed(*opt.seed)) : std::nullopt;
  stackdyn::Config cfg = stackdyn::Config::from_file(opt.config_path);
  if (seed_override) cfg.set("seed", std::to_string(*seed_override));
  for (const auto& assignment : opt.sets) cfg.set_assignment(assignment);

  long long seed = 0;
  const stackdyn::Model model = stackdyn::model_from_config(cfg, &seed);

  stackdyn::Provenance prov;
  prov.command_line = ctx.command_line;
  prov.config_toml = cfg.to_toml();
  prov.seed = seed;
  prov.source = "init";
  stackdyn::write_model(model, opt.output, prov);

  std::string layers;
  for (const auto& spec : model.layers)
    layers += (layers.empty() ? "" : ", ") + std::string(stackdyn::cell_name(spec.cell)) + " " +
              std::to_string(spec.hidden_size);
  ctx.out << opt.output << ": " << model.num_layers() << (model.num_layers() == 1 ? " layer" : " layers") << " ("
          << layers << (model.bidirectional ? ", bidirectional" : "") << "), input " << model.input_size << ", "
          << model.parameter_count() << " parameters, seed " << seed << "\n";
  return 0;
}

const bool registered = stackdyn::cli::register_command({
    "init",
    "Create a model with random weights from a TOML description",
    [](CLI::App& sub) -> stackdyn::cli::Runner {
      auto opt = std::make_shared<InitOptions>();
      sub.add_option("config", opt->config_path, "Model description (TOML; see data/model_example.toml)")
          ->required();
      sub.add_option("-o,--output", opt->output, "Model file to write (HDF5)")->required();
      sub.add_option("--seed", opt->seed, "Seed of the random weights, an integer >= 0 (overrides the file's 'seed')")
          ->type_name("N");
      sub.add_option("--set", opt->sets,
                     "Override a key of the description: KEY=VALUE, e.g. layers[0].hidden_size=64 (repeatable)")
          ->allow_extra_args(false);
      return [opt](stackdyn::cli::Context& ctx) { return run_init(*opt, ctx); };
    },
});

}  // namespace
