// Option tables (see options.hpp).
#include <stackdyn/core/options.hpp>

#include <filesystem>

namespace stackdyn {

std::vector<std::string> option_keys(const OptionTable& table) {
  std::vector<std::string> keys;
  for (const auto& o : table)
    if (!o.key.empty()) keys.push_back(o.key);
  return keys;
}

OptionTable select_options(const OptionTable& table, const std::vector<std::string>& keys) {
  OptionTable out;
  for (const auto& k : keys)
    for (const auto& o : table)
      if (o.key == k) out.push_back(o);
  return out;
}

std::string option_mode(const Config& cfg, const OptionTable& table) {
  for (const auto& o : table)
    if (o.key == "mode") {
      const std::string fallback = o.default_value.size() >= 2 ? o.default_value.substr(1, o.default_value.size() - 2) : "";
      return cfg.get_string("mode", fallback);
    }
  return cfg.get_string("mode", "");
}

void fill_defaults(Config& cfg, const OptionTable& table) {
  const std::string mode = option_mode(cfg, table);
  for (const auto& o : table) {
    if (o.key.empty() || o.default_value.empty() || o.key.find('*') != std::string::npos) continue;
    if (!o.only_mode.empty() && o.only_mode != mode) continue;
    if (!cfg.has(o.key)) cfg.set(o.key, o.default_value);
  }
}

void resolve_paths(Config& cfg, const OptionTable& table, const std::string& base_dir) {
  for (const auto& o : table) {
    if (o.kind != ValueKind::Path || o.key.empty() || !cfg.has(o.key)) continue;
    const std::string value = cfg.get_string(o.key);
    if (value.empty() || std::filesystem::path(value).is_absolute()) continue;
    cfg.set(o.key, Config::quote((std::filesystem::path(base_dir) / value).lexically_normal().string()));
  }
}

}  // namespace stackdyn
