// Dispatcher of `stackdyn <command>`: finds the command, builds its CLI11 options from the
// declaration, resolves the configuration (flag > --set > file > default), checks that no
// output overwrites an input, runs, and turns every error into one line and an exit code
// (docs/design.md section 6). The only unit that includes CLI11.
#include "command.hpp"

#include <stackdyn/core/error.hpp>
#include <stackdyn/core/format.hpp>
#include <stackdyn/model/model_io.hpp>
#include <stackdyn/version.hpp>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <memory>
#include <ostream>
#include <sstream>
#include <unistd.h>

namespace stackdyn::cli {
namespace {

namespace fs = std::filesystem;

std::vector<CommandSpec>& registry() {
  static std::vector<CommandSpec> commands;
  return commands;
}

std::string quote_arg(const std::string& a) {
  if (!a.empty() && a.find_first_of(" \t\n'\"\\$`") == std::string::npos) return a;
  std::string q = "'";
  for (char c : a) q += (c == '\'') ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// CLI11's messages already name the option; make them one line.
std::string one_line(std::string s) {
  std::replace(s.begin(), s.end(), '\n', ' ');
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

std::string command_list() {
  std::string names;
  for (const auto& c : registry()) names += (names.empty() ? "" : ", ") + c.name;
  return names;
}

std::string upper(std::string s) {
  for (auto& c : s) c = c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::string usage(const CommandSpec& c) {
  std::string u = "stackdyn " + c.name;
  for (const auto& p : c.positionals) u += " " + std::string(p.required ? "" : "[") + upper(p.name) + (p.required ? "" : "]");
  if (c.output) u += c.output_default.empty() && c.output_required ? " -o OUT.h5" : " [-o OUT.h5]";
  return u + " [options]";
}

// Flag names of a declaration: "-o,--output" -> {"-o", "--output"}.
std::vector<std::string> names_of(const std::string& flags) {
  std::vector<std::string> out;
  std::stringstream ss(flags);
  std::string n;
  while (std::getline(ss, n, ',')) out.push_back(n);
  return out;
}

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

bool looks_like_number(const std::string& a) {
  return a.size() > 1 && a[0] == '-' && (std::isdigit(static_cast<unsigned char>(a[1])) || a[1] == '.');
}

// An option the command does not have: its usage and the nearest flag it does have.
void check_flags(const CommandSpec& c, const std::vector<std::string>& args, const std::vector<std::string>& known) {
  for (const auto& a : args) {
    if (a == "--") return;
    if (a.size() < 2 || a[0] != '-' || looks_like_number(a)) continue;
    const std::string name = a.substr(0, a.find('='));
    if (std::find(known.begin(), known.end(), name) != known.end()) continue;
    if (name.rfind("--", 0) != 0 && name.size() > 2 &&
        std::find(known.begin(), known.end(), name.substr(0, 2)) != known.end())
      continue;  // -ofile
    std::string best;
    std::size_t best_d = 4;
    for (const auto& k : known) {
      const std::size_t d = edit_distance(name, k);
      if (d < best_d) best_d = d, best = k;
    }
    throw InputError(c.name + ": unknown option '" + name + "'" + (best.empty() ? "" : " (did you mean '" + best + "'?)") +
                     "; usage: " + usage(c) + "; see 'stackdyn " + c.name + " --help'");
  }
}

// A flag's text as a TOML value of the option's kind; the flag names the error.
std::string flag_value(const OptionSpec& o, const std::string& flag, const std::string& raw) {
  switch (o.kind) {
    case ValueKind::Integer: {
      long long v = 0;
      const auto [ptr, ec] = std::from_chars(raw.data(), raw.data() + raw.size(), v);
      if (raw.empty() || ec != std::errc() || ptr != raw.data() + raw.size())
        throw InputError(flag + ": expected an integer, got '" + raw + "'");
      return std::to_string(v);
    }
    case ValueKind::Number: {
      double v = 0;
      const auto [ptr, ec] = std::from_chars(raw.data(), raw.data() + raw.size(), v);
      if (raw.empty() || ec != std::errc() || ptr != raw.data() + raw.size() || !std::isfinite(v))
        throw InputError(flag + ": expected a finite number, got '" + raw + "'");
      return toml_number(v);
    }
    case ValueKind::Numbers: {
      std::string text = "[";
      for (double v : parse_list(raw, flag)) text += (text.size() > 1 ? ", " : "") + toml_number(v);
      return text + "]";
    }
    case ValueKind::Switch: return "true";
    case ValueKind::Text:
    case ValueKind::Path:
    case ValueKind::Table: break;
  }
  return Config::quote(raw);
}

std::string type_name(ValueKind k) {
  switch (k) {
    case ValueKind::Integer: return "INT";
    case ValueKind::Number: return "NUMBER";
    case ValueKind::Numbers: return "V1,V2,...";
    case ValueKind::Path: return "FILE";
    default: return "TEXT";
  }
}

std::string help_of(const OptionSpec& o) {
  std::string h = o.help;
  if (!o.default_value.empty() && o.kind != ValueKind::Switch) {
    std::string d = o.default_value;
    if (d.size() >= 2 && d.front() == '"') d = d.substr(1, d.size() - 2);
    h += " (default " + d + ")";
  }
  if (!o.only_mode.empty()) h += " [" + o.only_mode + " mode only]";
  if (!o.key.empty()) h += " {key " + o.key + "}";
  return h;
}

bool same_file(const std::string& a, const std::string& b) {
  std::error_code ec1, ec2;
  if (!fs::exists(a, ec1) || !fs::exists(b, ec2)) return false;
  std::error_code ec;
  return fs::equivalent(a, b, ec);
}

struct Parsed {
  const CommandSpec* spec = nullptr;
  std::map<std::string, std::string> positionals;
  std::map<std::string, std::string> values;  // by the option's first flag name
  std::map<std::string, bool> switches;
  std::vector<std::pair<const OptionSpec*, CLI::Option*>> options;
  std::vector<std::string> sets;
  std::string output;
  bool force = false, quiet = false;
};

Invocation resolve(Parsed& p, Context& ctx) {
  const CommandSpec& c = *p.spec;
  Invocation inv{ctx, Config::from_string("", c.name + " options"), p.positionals, p.output, p.force, {}};
  for (const auto& pos : c.positionals) {
    if (pos.kind != Positional::Kind::Config || !p.positionals.count(pos.name)) continue;
    const std::string& path = p.positionals.at(pos.name);
    inv.config = Config::from_file(path);
    resolve_paths(inv.config, c.options, fs::path(path).parent_path().string());
  }
  for (const auto& a : p.sets) {
    const auto eq = a.find('=');
    if (eq == std::string::npos || eq == 0)
      throw InputError("--set '" + a + "': expected KEY=VALUE, e.g. " +
                       (c.options.empty() ? std::string("key=1") : c.options.front().key + "=...") );
    std::string key = a.substr(0, eq);
    while (!key.empty() && (key.back() == ' ' || key.back() == '\t')) key.pop_back();
    inv.config.set(c.set_prefix + key, a.substr(eq + 1), "--set '" + a + "'");
  }
  for (const auto& [o, opt] : p.options) {
    if (opt->count() == 0) continue;
    const std::string flag = names_of(o->flag).back();
    if (o->key.empty()) {  // a flag only: the command reads it, it is no configuration key
      inv.flags[flag] = o->kind == ValueKind::Switch ? "true" : p.values.at(o->flag);
      continue;
    }
    const std::string text = o->kind == ValueKind::Switch ? "true" : flag_value(*o, flag, p.values.at(o->flag));
    inv.config.set(o->key, text, flag);
  }
  if (c.check_keys) inv.config.check_keys(option_keys(c.options));
  // A mode the table does not know is left to the command's own message.
  const std::string mode = option_mode(inv.config, c.options);
  bool known_mode = false;
  for (const auto& o : c.options)
    known_mode = known_mode || o.only_mode == mode || (o.key == "mode" && o.default_value == Config::quote(mode));
  for (const auto& [o, opt] : p.options)
    if (known_mode && opt->count() > 0 && !o->only_mode.empty() && o->only_mode != mode)
      throw InputError(names_of(o->flag).back() + ": applies only in " + o->only_mode + " mode, but the mode is '" +
                       mode + "'");
  fill_defaults(inv.config, c.options);

  // No output may name an input: checked by file identity, not by spelling.
  for (const auto& pos : c.positionals)
    if (p.positionals.count(pos.name)) {
      const std::string& v = p.positionals.at(pos.name);
      inv.check_input(pos.kind == Positional::Kind::Model ? model_spec_file(v) : v, upper(pos.name));
    }
  for (const auto& o : c.options)
    if (o.kind == ValueKind::Path && !o.key.empty() && inv.config.has(o.key))
      inv.check_input(inv.config.get_string(o.key), o.key);
  return inv;
}

}  // namespace

Model Invocation::model() const { return read_model_spec(arg("model")); }

void Invocation::check_input(const std::string& path, const std::string& what) const {
  if (output.empty() || path.empty()) return;
  for (const std::string& o : {output, output + ".partial"})
    if (same_file(path, o))
      throw InputError("-o " + output + ": the output is the same file as the input " + what + " (" + path +
                       "); it would be overwritten; choose another output name");
}

bool register_command(CommandSpec c) {
  registry().push_back(std::move(c));
  return true;
}

std::vector<double> parse_list(const std::string& text, const std::string& what) {
  std::vector<double> values;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    const auto first = item.find_first_not_of(" \t");
    const auto last = item.find_last_not_of(" \t");
    const std::string tok = first == std::string::npos ? "" : item.substr(first, last - first + 1);
    double v = 0;
    const auto [ptr, ec] = std::from_chars(tok.data(), tok.data() + tok.size(), v);
    if (tok.empty() || ec != std::errc() || ptr != tok.data() + tok.size() || !std::isfinite(v))
      throw InputError(what + ": '" + tok + "' in '" + text +
                       "' is not a finite number; expected comma-separated numbers");
    values.push_back(v);
  }
  if (values.empty()) throw InputError(what + ": empty list; expected comma-separated numbers");
  return values;
}

int run(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  auto& commands = registry();
  std::sort(commands.begin(), commands.end(), [](const CommandSpec& a, const CommandSpec& b) { return a.name < b.name; });
  std::string command_line = "stackdyn";
  for (const auto& a : args) command_line += " " + quote_arg(a);
  Context ctx{out, err, command_line, false, isatty(STDERR_FILENO) != 0};

  // The options before the command, and the command.
  std::size_t at = 0;
  for (; at < args.size() && !args[at].empty() && args[at][0] == '-'; ++at) {
    const std::string& a = args[at];
    if (a == "-q" || a == "--quiet") {
      ctx.quiet = true;
    } else if (a == "--version") {
      out << "stackdyn " << version << "\n";
      return 0;
    } else if (a == "-h" || a == "--help") {
      out << "stackdyn: dynamics of stacked recurrent neural networks\n"
          << "Usage: stackdyn [-q] COMMAND [ARGS...]; 'stackdyn COMMAND --help' for a command's options\n\nCommands:\n";
      for (const auto& c : commands) out << "  " << c.name << std::string(c.name.size() < 14 ? 14 - c.name.size() : 1, ' ') << c.summary << "\n";
      return 0;
    } else {
      err << "stackdyn: error: unknown option '" << a << "' before the command; see 'stackdyn --help'\n";
      return 2;
    }
  }
  if (at == args.size()) {
    err << "stackdyn: error: a command is required, one of: " << command_list() << "; see 'stackdyn --help'\n";
    return 2;
  }
  const auto found = std::find_if(commands.begin(), commands.end(), [&](const CommandSpec& c) { return c.name == args[at]; });
  if (found == commands.end()) {
    err << "stackdyn: error: unknown command '" << args[at] << "'; the commands are: " << command_list() << "\n";
    return 2;
  }
  const CommandSpec& c = *found;
  const std::vector<std::string> rest(args.begin() + static_cast<std::ptrdiff_t>(at) + 1, args.end());

  CLI::App app{c.summary, "stackdyn " + c.name};
  app.footer(c.footer);
  Parsed p;
  p.spec = &c;
  std::vector<std::string> known = {"-h", "--help", "-q", "--quiet"};
  app.add_flag("-q,--quiet", p.quiet, "No progress output on stderr");
  for (const auto& pos : c.positionals) {
    auto* o = app.add_option(pos.name, p.positionals[pos.name], pos.help);
    if (pos.required) o->required();
  }
  if (c.output) {
    p.output = c.output_default;
    auto* o = app.add_option("-o,--output", p.output, "Result file (HDF5)");
    if (!c.output_default.empty())
      o->capture_default_str();
    else if (c.output_required)
      o->required();
    known.insert(known.end(), {"-o", "--output"});
  }
  for (const auto& o : c.options) {
    if (o.flag.empty()) continue;
    CLI::Option* opt = o.kind == ValueKind::Switch ? app.add_flag(o.flag, p.switches[o.flag], help_of(o))
                                                   : app.add_option(o.flag, p.values[o.flag], help_of(o))
                                                         ->type_name(type_name(o.kind));
    p.options.emplace_back(&o, opt);
    for (const auto& n : names_of(o.flag)) known.push_back(n);
  }
  if (c.set) {
    app.add_option("--set", p.sets, "KEY=VALUE: set any key of the configuration (repeatable)");
    known.push_back("--set");
  }
  if (c.force) {
    app.add_flag("--force", p.force, c.force_help);
    known.push_back("--force");
  }

  try {
    check_flags(c, rest, known);
    std::vector<std::string> reversed(rest.rbegin(), rest.rend());  // CLI11 parses a reversed vector
    app.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    out << app.help();
    return 0;
  } catch (const CLI::CallForAllHelp&) {
    out << app.help();
    return 0;
  } catch (const CLI::ParseError& e) {
    err << "stackdyn: error: " << c.name << ": " << one_line(e.what()) << "; usage: " << usage(c) << "; see 'stackdyn "
        << c.name << " --help'\n";
    return 2;
  } catch (const Error& e) {
    err << "stackdyn: error: " << e.what() << "\n";
    return 2;
  }
  // Only the positionals given.
  for (auto it = p.positionals.begin(); it != p.positionals.end();)
    it = app.count(it->first) == 0 ? p.positionals.erase(it) : std::next(it);
  ctx.quiet = ctx.quiet || p.quiet;
  try {
    Invocation inv = resolve(p, ctx);
    return c.run(inv);
  } catch (const InputError& e) {
    err << "stackdyn: error: " << e.what() << "\n";
    return 2;
  } catch (const Error& e) {
    err << "stackdyn: error: " << e.what() << "\n";
    return 1;
  } catch (const std::bad_alloc&) {
    err << "stackdyn: error: out of memory in '" << c.name << "'\n";
    return 1;
  } catch (const std::exception& e) {
    err << "stackdyn: error: " << c.name << ": " << e.what() << "\n";
    return 1;
  }
}

}  // namespace stackdyn::cli
