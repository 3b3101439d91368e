// What every stackdyn file records about how it was made (docs/design.md section 5): producer,
// command line, configuration, seed, and where the model came from.
#pragma once
#include <stackdyn/core/h5.hpp>

#include <string>

namespace stackdyn {

/// "stackdyn <version>".
std::string default_producer();

struct Provenance {
  std::string producer = default_producer();
  std::string command_line;
  std::string config_toml;  ///< the full configuration, as TOML text
  long long seed = -1;      ///< -1 when nothing was random
  std::string source;       ///< free text on where the data or weights came from
  std::string model_path;
  std::string model_hash;  ///< file_hash(model_path)
};

/// Root attributes producer, producer_version, command_line, config, seed, source,
/// model_path, model_hash and created (UTC, ISO 8601). `created` honours SOURCE_DATE_EPOCH,
/// so that a run can be made to write the same bytes twice.
void write_provenance(h5::Group& root, const Provenance& p);
/// What write_provenance wrote (attributes that are missing keep their defaults; producer
/// is then empty).
Provenance read_provenance(const h5::Group& root);

/// "fnv1a64:<16 hex digits>" of the file's bytes. InputError if it cannot be read.
std::string file_hash(const std::string& path);

}  // namespace stackdyn
