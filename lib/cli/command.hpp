// How a command is declared: its positional arguments, its option table (flag,
// configuration key, type, default, help; core/options.hpp) and a runner. The dispatcher
// (cli.cpp) builds the command line from the declaration and hands the runner one resolved
// configuration, with one precedence everywhere: flag > --set > configuration file >
// default. It also refuses an output that names the same file as an input, for every command.
#pragma once
#include "cli.hpp"

#include <stackdyn/core/config.hpp>
#include <stackdyn/core/options.hpp>

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace stackdyn {
struct Model;
}

namespace stackdyn::cli {

struct Positional {
  enum class Kind {
    Model,   ///< a model spec (model/model_io.hpp read_model_spec); an input
    Input,   ///< an input file
    Config,  ///< the command's configuration file (TOML); an input
  };
  std::string name;  ///< "model", also the key of Invocation::args
  std::string help;
  Kind kind = Kind::Input;
  bool required = true;
};

/// The positional of every command that reads a model, named as every command names one.
inline Positional model_positional() {
  return {"model", "Model: a model file, a result file holding one, or FILE.h5:/group", Positional::Kind::Model};
}

struct Invocation {
  Context& ctx;
  Config config;                            ///< file < --set < flags, with the table's defaults
  std::map<std::string, std::string> args;  ///< positionals given, by name
  std::string output;                       ///< -o (empty for commands without one)
  bool force = false;                       ///< --force
  std::map<std::string, std::string> flags; ///< options without a key given, by long flag ("--resume")

  bool has(const std::string& positional) const { return args.count(positional) > 0; }
  const std::string& arg(const std::string& positional) const { return args.at(positional); }
  /// The positional "model", read through read_model_spec.
  Model model() const;
  /// Refuses `path` when it is the output file (or its .partial); the dispatcher already
  /// checks every positional and Path option, a command calls this for inputs it finds itself.
  void check_input(const std::string& path, const std::string& what) const;
};

// Declared with designated initializers; every member has a default, so a command names
// only what it needs.
struct CommandSpec {
  std::string name{}, summary{};
  std::vector<Positional> positionals{};
  OptionTable options{};              ///< flags and configuration keys
  bool output = true;                 ///< -o,--output is required ...
  std::string output_default{};       ///< ... unless this default is given
  bool output_required = true;        ///< false: -o may be left out (the command finds its output otherwise)
  bool set = false;                   ///< takes --set KEY=VALUE (repeatable)
  std::string set_prefix{};           ///< --set k=v sets `set_prefix + k`
  bool check_keys = true;             ///< refuse configuration keys not in `options`
  bool force = false;                 ///< takes --force
  std::string force_help = "Write an output larger than the limit (not beyond the free disk space)";  ///< --force's help
  std::string footer{};               ///< after --help: what the output holds
  std::function<int(Invocation&)> run{};
};

/// Adds a command to the registry; used as `static const bool r = register_command({...});`.
bool register_command(CommandSpec c);

/// Splits "a,b,c" into doubles; throws InputError naming `what` on a bad number.
std::vector<double> parse_list(const std::string& text, const std::string& what);

}  // namespace stackdyn::cli
