// A TOML configuration whose every key can also be set from the command line
// (docs/design.md section 6): `--set layers[1].hidden_size=64` is Config::set.
//
// Keys are dotted paths with array indices, written `layers[1].hidden_size` or
// `layers.1.hidden_size` (a segment of digits is always an array index). Errors are
// InputError with one line that names the configuration (its file name) and the key:
//   model.toml: key 'layers[1].hidden_size': expected a positive integer, got -3
// toml++ stays behind the implementation: nothing here needs its headers.
#pragma once
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <stackdyn/core/error.hpp>

namespace stackdyn {

/// A range check for the numeric getters, with the words used in error messages
/// ("a positive integer", "a number in [0, 1)").
class Range {
 public:
  /// No constraint.
  static Range any() { return Range{}; }
  /// x > 0.
  static Range positive();
  /// x >= 0.
  static Range non_negative();
  /// a <= x < b.
  static Range half_open(double a, double b);
  /// a <= x <= b.
  static Range closed(double a, double b);
  /// x >= a (or x > a with `open`).
  static Range at_least(double a, bool open = false);

  bool contains(double x) const;
  /// "a positive integer", "an integer in [1, 10)", "a number", ... for `noun` "integer"
  /// or "number".
  std::string describe(const std::string& noun) const;

 private:
  enum class Kind { Any, Positive, NonNegative, HalfOpen, Closed, AtLeast, Above };
  Kind kind_ = Kind::Any;
  double lo_ = 0, hi_ = 0;
};

class Config {
 public:
  /// Reads and parses a TOML file; name() is `path`. InputError on a missing or unreadable
  /// file, or `path:line:column: invalid TOML: <toml++'s description>`.
  static Config from_file(const std::string& path);
  /// Parses TOML text; `name` stands for the file in messages.
  static Config from_string(const std::string& text, const std::string& name);

  Config();  ///< empty, named "<config>"
  Config(const Config& other);
  Config(Config&& other) noexcept;
  Config& operator=(const Config& other);
  Config& operator=(Config&& other) noexcept;
  ~Config();

  const std::string& name() const { return name_; }

  /// Sets `key` to `value`, written as a TOML value (`64`, `0.5`, `true`, `"gru"`, `[1, 2]`,
  /// `{ a = 1 }`); text that is not a TOML value is taken as a string (`gru`), unless it
  /// starts like one (`[`, `{`, `"`, `'`). Creates missing tables; an array can grow by
  /// exactly one element (`layers[2].cell=gru` on a two-layer file adds a third table).
  /// Replaces whatever was at `key`.
  void set(const std::string& key, const std::string& value);
  /// `set`, remembering where the value came from (`--tau`, `--set 'tau=2'`): errors about
  /// this key (and keys below it) then name `origin` instead of the file.
  void set(const std::string& key, const std::string& value, const std::string& origin);
  /// `set` for a `key=value` argument as given on the command line; its errors name
  /// `--set '<assignment>'`.
  void set_assignment(const std::string& assignment);
  /// A string as a TOML basic string (quoted and escaped), for `set`.
  static std::string quote(const std::string& text);

  bool has(const std::string& key) const;
  /// Number of elements of the array at `key`; 0 when absent; InputError when not an array.
  std::size_t array_size(const std::string& key) const;

  // Typed getters. Without a fallback the key is required (InputError "missing required
  // key"). A present value of the wrong type or outside `range` is an InputError.
  long long get_int(const std::string& key, Range range = Range::any()) const;
  long long get_int(const std::string& key, long long fallback, Range range = Range::any()) const;
  /// Accepts integers too.
  double get_double(const std::string& key, Range range = Range::any()) const;
  double get_double(const std::string& key, double fallback, Range range = Range::any()) const;
  bool get_bool(const std::string& key) const;
  bool get_bool(const std::string& key, bool fallback) const;
  std::string get_string(const std::string& key) const;
  std::string get_string(const std::string& key, const std::string& fallback) const;
  /// Lists accept a scalar as a 1-list; `range` applies to every element (the message
  /// names the element, `key[i]`).
  std::vector<long long> get_int_list(const std::string& key, Range range = Range::any()) const;
  std::vector<long long> get_int_list(const std::string& key, const std::vector<long long>& fallback,
                                      Range range = Range::any()) const;
  std::vector<double> get_double_list(const std::string& key, Range range = Range::any()) const;
  std::vector<double> get_double_list(const std::string& key, const std::vector<double>& fallback,
                                      Range range = Range::any()) const;
  /// The value at `key` written as TOML (`-3`, `"gru"`, `[1, 2]`), or nullopt when absent.
  std::optional<std::string> value_text(const std::string& key) const;
  /// The entries of the table at `key` ("" for the root) in key order, as
  /// {name, value written as TOML}; names are raw (a quoted key such as
  /// 'input.sinusoids[0].amplitude' comes back as that text). InputError when not a table.
  std::vector<std::pair<std::string, std::string>> entries(const std::string& key) const;
  /// The table at `key` as a configuration of its own, named `name` (empty when absent).
  Config subtable(const std::string& key, const std::string& name) const;

  /// Refuses keys not matched by `allowed`: dotted patterns with `*` for array indices,
  /// e.g. {"input_size", "layers.*.hidden_size"}. An allowed key's value is not inspected
  /// further; a key that is a strict prefix of allowed patterns must be a table (or, before
  /// `*`, an array of tables). InputError:
  ///   model.toml: unknown key 'layers[0].hiden_size' (expected one of: cell, hidden_size, ...)
  void check_keys(const std::vector<std::string>& allowed) const;

  /// The effective configuration (after set()) as TOML text; parsing it gives back an
  /// equal configuration (floats are written with the shortest exact representation).
  std::string to_toml() const;

  /// One leaf key whose value differs between two configurations: its value (inline TOML)
  /// in this one and in the other, "(absent)" where it has none.
  struct Difference {
    std::string key, here, there;
  };
  /// The leaf keys (`train.lr`, `model.layers[1].cell`; tables and arrays of tables are
  /// descended into) whose values differ from `other`'s, in key order.
  std::vector<Difference> differences(const Config& other) const;

  /// An InputError `<name>: key '<key>': <message>` (the key in canonical form), for
  /// checks the getters cannot make.
  InputError error(const std::string& key, const std::string& message) const;

  /// `key` in canonical form: `layers.1.hidden_size` -> `layers[1].hidden_size`.
  /// InputError on a malformed key (empty segment, unbalanced bracket, ...).
  std::string canonical_key(const std::string& key) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string name_;
};

}  // namespace stackdyn
