// One description of a configurable value, from which everything about it follows: the
// command-line flag, the configuration key, its type, its default and its help. A command's
// options are a table of these; the library reads its configuration with the same table, so
// that a default is written in exactly one place (docs/design.md section 6).
#pragma once
#include <stackdyn/core/config.hpp>

#include <string>
#include <vector>

namespace stackdyn {

enum class ValueKind {
  Integer,  ///< an integer
  Number,   ///< a number (integers accepted)
  Numbers,  ///< a list of numbers; on the command line `v1,v2,...`
  Text,     ///< a string
  Path,     ///< a file name; in a configuration file, relative to that file's directory
  Switch,   ///< true or false; on the command line a flag without a value
  Table,    ///< a table or array of tables with keys of its own (checked by its reader)
};

struct OptionSpec {
  std::string flag;           ///< "--t-end" (several names: "-o,--output"); empty: a key without a flag
  std::string key;            ///< configuration key, patterns with `*` for array indices; empty: a flag only
  ValueKind kind = ValueKind::Text;
  std::string default_value;  ///< TOML text; empty: no default, or one computed (the help says how)
  std::string help;
  std::string only_mode;      ///< a value of the key `mode`: the option applies only in that mode
};

using OptionTable = std::vector<OptionSpec>;

/// The configuration keys of `table`, as Config::check_keys patterns.
std::vector<std::string> option_keys(const OptionTable& table);

/// The entries of `table` whose key is one of `keys`, in the order of `keys`.
OptionTable select_options(const OptionTable& table, const std::vector<std::string>& keys);

/// The mode `cfg` selects: its key `mode`, else the table's default for it ("" if none).
std::string option_mode(const Config& cfg, const OptionTable& table);

/// Writes the default of every key of `table` that `cfg` lacks and that applies in the
/// chosen mode, so that the configuration holds (and records) every value used.
void fill_defaults(Config& cfg, const OptionTable& table);

/// Paths in a configuration file are relative to the file: a relative Path value present
/// in `cfg` becomes `base_dir/value`.
void resolve_paths(Config& cfg, const OptionTable& table, const std::string& base_dir);

}  // namespace stackdyn
