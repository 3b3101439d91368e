// Config: a toml++ table behind dotted keys with array indices, typed getters that speak
// the user's language in errors, command-line overrides, and a TOML writer whose floats
// are the shortest exact ones (for provenance that people read).
#include <stackdyn/core/config.hpp>
#include <stackdyn/core/format.hpp>

#include <toml++/toml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <system_error>

namespace stackdyn {

// ---------------------------------------------------------------------------------------
// Range

namespace {

std::string with_article(const std::string& noun) {
  const bool vowel = !noun.empty() && std::strchr("aeiou", noun[0]) != nullptr;
  return (vowel ? "an " : "a ") + noun;
}

}  // namespace

Range Range::positive() {
  Range r;
  r.kind_ = Kind::Positive;
  return r;
}
Range Range::non_negative() {
  Range r;
  r.kind_ = Kind::NonNegative;
  return r;
}
Range Range::half_open(double a, double b) {
  Range r;
  r.kind_ = Kind::HalfOpen;
  r.lo_ = a;
  r.hi_ = b;
  return r;
}
Range Range::closed(double a, double b) {
  Range r;
  r.kind_ = Kind::Closed;
  r.lo_ = a;
  r.hi_ = b;
  return r;
}
Range Range::at_least(double a, bool open) {
  Range r;
  r.kind_ = open ? Kind::Above : Kind::AtLeast;
  r.lo_ = a;
  return r;
}

bool Range::contains(double x) const {
  if (!std::isfinite(x)) return false;
  switch (kind_) {
    case Kind::Any: return true;
    case Kind::Positive: return x > 0;
    case Kind::NonNegative: return x >= 0;
    case Kind::HalfOpen: return x >= lo_ && x < hi_;
    case Kind::Closed: return x >= lo_ && x <= hi_;
    case Kind::AtLeast: return x >= lo_;
    case Kind::Above: return x > lo_;
  }
  return false;
}

std::string Range::describe(const std::string& noun) const {
  switch (kind_) {
    case Kind::Any: return with_article(noun);
    case Kind::Positive: return "a positive " + noun;
    case Kind::NonNegative: return "a non-negative " + noun;
    case Kind::HalfOpen:
      return with_article(noun) + " in [" + format_number(lo_) + ", " + format_number(hi_) + ")";
    case Kind::Closed:
      return with_article(noun) + " in [" + format_number(lo_) + ", " + format_number(hi_) + "]";
    case Kind::AtLeast: return with_article(noun) + " >= " + format_number(lo_);
    case Kind::Above: return with_article(noun) + " > " + format_number(lo_);
  }
  return with_article(noun);
}

// ---------------------------------------------------------------------------------------
// Keys, and TOML text of values

namespace {

/// One step of a key path: a table key, or an array index.
struct Segment {
  std::string name;
  long long index = -1;
  bool is_index() const { return index >= 0; }
};

bool is_bare_key_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

bool all_digits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

long long to_index(const std::string& digits) {
  long long v = 0;
  const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (ec != std::errc() || ptr != digits.data() + digits.size()) return -1;
  return v;
}

std::string join(const std::vector<Segment>& segs, std::size_t count) {
  std::string out;
  for (std::size_t i = 0; i < count && i < segs.size(); ++i) {
    if (segs[i].is_index()) {
      out += '[';  // appended piecewise: GCC 12 warns falsely on "[" + to_string(...)
      out += std::to_string(segs[i].index);
      out += ']';
    } else {
      if (!out.empty()) out += ".";
      out += segs[i].name;
    }
  }
  return out;
}
std::string join(const std::vector<Segment>& segs) { return join(segs, segs.size()); }

std::string quote_basic(std::string_view s) {
  std::string out = "\"";
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (ch) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\t': out += "\\t"; break;
      case '\n': out += "\\n"; break;
      case '\f': out += "\\f"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
          out += buf;
        } else {
          out += ch;
        }
    }
  }
  return out + "\"";
}

std::string toml_key(std::string_view k) {
  if (!k.empty() && std::all_of(k.begin(), k.end(), is_bare_key_char)) return std::string(k);
  return quote_basic(k);
}

std::string toml_float(double x) { return toml_number(x); }

template <typename T>
std::string streamed(const T& v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

/// A value as inline TOML: `-3`, `0.5`, `"gru"`, `[1, 2]`, `{ a = 1 }`.
std::string inline_text(const toml::node& n) {
  if (const auto* s = n.as_string()) return quote_basic(s->get());
  if (const auto* i = n.as_integer()) return std::to_string(i->get());
  if (const auto* f = n.as_floating_point()) return toml_float(f->get());
  if (const auto* b = n.as_boolean()) return b->get() ? "true" : "false";
  if (const auto* a = n.as_array()) {
    std::string out = "[";
    for (std::size_t i = 0; i < a->size(); ++i) out += (i ? ", " : "") + inline_text(*a->get(i));
    return out + "]";
  }
  if (const auto* t = n.as_table()) {
    if (t->empty()) return "{}";
    std::string out = "{ ";
    bool first = true;
    for (auto&& [k, v] : *t) {
      out += (first ? "" : ", ") + toml_key(k.str()) + " = " + inline_text(v);
      first = false;
    }
    return out + " }";
  }
  if (const auto* d = n.as_date()) return streamed(*d);
  if (const auto* tm = n.as_time()) return streamed(*tm);
  if (const auto* dt = n.as_date_time()) return streamed(*dt);
  return "?";
}

/// The value for a message: inline TOML, shortened when long.
std::string got_text(const toml::node& n) {
  std::string s = inline_text(n);
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

std::string type_words(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    default: return "nothing";
  }
}

bool is_array_of_tables(const toml::node& n) {
  const auto* a = n.as_array();
  return a != nullptr && a->is_array_of_tables();
}

/// Writes the body of table `t` whose header path is `path` (empty for the root): its
/// plain values, then its sub-tables as [path.k], then its arrays of tables as [[path.k]].
void write_table(std::string& out, const toml::table& t, const std::string& path) {
  for (auto&& [k, v] : t)
    if (!v.is_table() && !is_array_of_tables(v)) out += toml_key(k.str()) + " = " + inline_text(v) + "\n";
  const auto sub = [&](const toml::key& k) { return path.empty() ? toml_key(k.str()) : path + "." + toml_key(k.str()); };
  for (auto&& [k, v] : t) {
    if (!v.is_table()) continue;
    // A table holding only tables is implied by their headers; an empty one must be written.
    const auto& child = *v.as_table();
    const bool implied = !child.empty() && std::all_of(child.begin(), child.end(), [](auto&& kv) {
      return kv.second.is_table() || is_array_of_tables(kv.second);
    });
    if (!implied) out += "\n[" + sub(k) + "]\n";
    write_table(out, child, sub(k));
  }
  for (auto&& [k, v] : t) {
    if (!is_array_of_tables(v)) continue;
    for (auto&& elem : *v.as_array()) {
      out += "\n[[" + sub(k) + "]]\n";
      write_table(out, *elem.as_table(), sub(k));
    }
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Config

namespace {

/// A looked-up key: its node (nullptr when absent) and its canonical spelling.
struct Found {
  const toml::node* node;
  std::string key;
};

}  // namespace

struct Config::Impl {
  toml::table table;
  std::vector<std::pair<std::string, std::string>> origins;  // canonical key, where it was set

  /// Where the value at canonical `key` (or a table above it) came from; empty: the file.
  std::string origin_of(const std::string& key) const {
    for (auto it = origins.rbegin(); it != origins.rend(); ++it) {
      const std::string& k = it->first;
      if (key.compare(0, k.size(), k) == 0 && (key.size() == k.size() || key[k.size()] == '.' || key[k.size()] == '['))
        return it->second;
    }
    return {};
  }

  /// Parses a key into segments; `owner` builds the error.
  static std::vector<Segment> parse_key(const Config& owner, const std::string& key) {
    const auto bad = [&](const std::string& why) {
      return InputError(owner.name() + ": malformed key '" + key + "': " + why +
                        " (expected names separated by '.', array indices as [i] or .i)");
    };
    std::vector<Segment> segs;
    std::size_t i = 0;
    const std::size_t n = key.size();
    if (n == 0) throw bad("empty");
    while (i < n) {
      if (key[i] == '[') {
        const std::size_t close = key.find(']', i);
        if (close == std::string::npos) throw bad("unbalanced '['");
        const std::string digits = key.substr(i + 1, close - i - 1);
        if (!all_digits(digits) || to_index(digits) < 0) throw bad("'[" + digits + "]' is not an array index");
        if (segs.empty()) throw bad("starts with an index");
        segs.push_back({"", to_index(digits)});
        i = close + 1;
        if (i < n && key[i] != '.' && key[i] != '[') throw bad("expected '.' or '[' after ']'");
        if (i < n && key[i] == '.') {
          ++i;
          if (i == n) throw bad("ends with '.'");
        }
        continue;
      }
      std::size_t j = i;
      while (j < n && is_bare_key_char(key[j])) ++j;
      if (j == i) throw bad(key[i] == '.' ? "empty segment" : std::string("unexpected character '") + key[i] + "'");
      const std::string name = key.substr(i, j - i);
      if (all_digits(name)) {
        if (segs.empty()) throw bad("starts with an index");
        if (to_index(name) < 0) throw bad("index '" + name + "' is too large");
        segs.push_back({"", to_index(name)});
      } else {
        segs.push_back({name, -1});
      }
      i = j;
      if (i < n && key[i] == '.') {
        ++i;
        if (i == n) throw bad("ends with '.'");
      } else if (i < n && key[i] != '[') {
        throw bad(std::string("unexpected character '") + key[i] + "'");
      }
    }
    return segs;
  }

  /// The node at `segs`, or nullptr when some step is absent. A step through something
  /// that is not a table (or not an array, for an index) is an InputError.
  const toml::node* find(const Config& owner, const std::vector<Segment>& segs) const {
    const toml::node* node = &table;
    for (std::size_t i = 0; i < segs.size(); ++i) {
      const Segment& s = segs[i];
      if (s.is_index()) {
        const auto* a = node->as_array();
        if (a == nullptr)
          throw owner.error(join(segs), "'" + join(segs, i) + "' is " + type_words(*node) + ", not an array");
        if (static_cast<std::size_t>(s.index) >= a->size()) return nullptr;
        node = a->get(static_cast<std::size_t>(s.index));
      } else {
        const auto* t = node->as_table();
        if (t == nullptr) {
          std::string hint = node->is_array() ? " (index it: " + join(segs, i) + "[0]." + s.name + ")" : "";
          throw owner.error(join(segs), "'" + join(segs, i) + "' is " + type_words(*node) + ", not a table" + hint);
        }
        node = t->get(s.name);
        if (node == nullptr) return nullptr;
      }
    }
    return node;
  }

  Found lookup(const Config& owner, const std::string& key) const {
    const auto segs = parse_key(owner, key);
    return {find(owner, segs), join(segs)};
  }
};

Config::Config() : impl_(std::make_unique<Impl>()), name_("<config>") {}
Config::Config(const Config& other) : impl_(std::make_unique<Impl>(*other.impl_)), name_(other.name_) {}
Config::Config(Config&& other) noexcept = default;
Config& Config::operator=(const Config& other) {
  if (this != &other) {
    impl_ = std::make_unique<Impl>(*other.impl_);
    name_ = other.name_;
  }
  return *this;
}
Config& Config::operator=(Config&& other) noexcept = default;
Config::~Config() = default;

Config Config::from_string(const std::string& text, const std::string& name) {
  Config cfg;
  cfg.name_ = name;
  try {
    cfg.impl_->table = toml::parse(std::string_view(text), std::string_view(name));
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    throw InputError(name + ":" + std::to_string(where.line) + ":" + std::to_string(where.column) +
                     ": invalid TOML: " + std::string(e.description()));
  }
  return cfg;
}

Config Config::from_file(const std::string& path) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (!std::filesystem::exists(status)) throw InputError(path + ": no such file");
  if (std::filesystem::is_directory(status)) throw InputError(path + ": is a directory, expected a TOML file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path + ": cannot open: " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw InputError(path + ": cannot read: " + std::strerror(errno));
  return from_string(text.str(), path);
}

InputError Config::error(const std::string& key, const std::string& message) const {
  const std::string origin = impl_->origin_of(key);
  return InputError((origin.empty() ? name_ : origin) + ": key '" + key + "': " + message);
}

void Config::set(const std::string& key, const std::string& value, const std::string& origin) {
  std::string ckey;
  try {
    ckey = canonical_key(key);
  } catch (const InputError& e) {
    throw InputError(origin + ": " + e.what());
  }
  impl_->origins.emplace_back(ckey, origin);
  set(key, value);
}

std::string Config::quote(const std::string& text) { return quote_basic(text); }

std::vector<std::pair<std::string, std::string>> Config::entries(const std::string& key) const {
  const toml::node* n = &impl_->table;
  if (!key.empty()) {
    const auto segs = Impl::parse_key(*this, key);
    n = impl_->find(*this, segs);
    if (n == nullptr) return {};
    if (!n->is_table()) throw error(join(segs), "expected a table, got " + got_text(*n));
  }
  std::vector<std::pair<std::string, std::string>> out;
  for (auto&& [k, v] : *n->as_table()) out.emplace_back(std::string(k.str()), inline_text(v));
  return out;
}

Config Config::subtable(const std::string& key, const std::string& name) const {
  Config sub;
  sub.name_ = name;
  const auto segs = Impl::parse_key(*this, key);
  const toml::node* n = impl_->find(*this, segs);
  if (n == nullptr) return sub;
  if (!n->is_table()) throw error(join(segs), "expected a table, got " + got_text(*n));
  sub.impl_->table = *n->as_table();
  return sub;
}

std::string Config::canonical_key(const std::string& key) const { return join(Impl::parse_key(*this, key)); }

void Config::set(const std::string& key, const std::string& value) {
  const auto segs = Impl::parse_key(*this, key);
  const std::string ckey = join(segs);

  // The value: TOML if it parses as exactly one value, else a bare string.
  toml::table parsed;
  try {
    parsed = toml::parse(std::string_view("v = " + value), std::string_view(name_));
  } catch (const toml::parse_error& e) {
    const auto first = value.find_first_not_of(" \t");
    if (first != std::string::npos && std::strchr("[{\"'", value[first]) != nullptr)
      throw error(ckey, "cannot read value '" + value + "' as TOML: " + std::string(e.description()));
    parsed.clear();
    parsed.insert_or_assign("v", value);
  }
  if (parsed.size() != 1 || parsed.get("v") == nullptr)
    throw error(ckey, "value '" + value + "' is not a single TOML value");
  toml::node& new_value = *parsed.get("v");

  toml::node* node = &impl_->table;
  for (std::size_t i = 0; i < segs.size(); ++i) {
    const Segment& s = segs[i];
    const bool last = i + 1 == segs.size();
    const bool next_is_index = !last && segs[i + 1].is_index();
    if (s.is_index()) {
      auto* a = node->as_array();
      if (a == nullptr) throw error(ckey, "'" + join(segs, i) + "' is " + type_words(*node) + ", not an array");
      const auto idx = static_cast<std::size_t>(s.index);
      if (idx > a->size())
        throw error(ckey, "'" + join(segs, i) + "' has " + std::to_string(a->size()) +
                              " elements; an array can only grow by one, to " + join(segs, i) + "[" +
                              std::to_string(a->size()) + "]");
      if (last) {
        if (idx == a->size())
          a->push_back(std::move(new_value));
        else
          a->replace(a->cbegin() + static_cast<std::ptrdiff_t>(idx), std::move(new_value));
        return;
      }
      if (idx == a->size()) {
        if (next_is_index)
          a->push_back(toml::array{});
        else
          a->push_back(toml::table{});
      }
      node = a->get(idx);
    } else {
      auto* t = node->as_table();
      if (t == nullptr) {
        std::string hint = node->is_array() ? " (index it: " + join(segs, i) + "[0]." + s.name + ")" : "";
        throw error(ckey, "'" + join(segs, i) + "' is " + type_words(*node) + ", not a table" + hint);
      }
      if (last) {
        t->insert_or_assign(s.name, std::move(new_value));
        return;
      }
      toml::node* child = t->get(s.name);
      if (child == nullptr) {
        if (next_is_index)
          t->insert_or_assign(s.name, toml::array{});
        else
          t->insert_or_assign(s.name, toml::table{});
        child = t->get(s.name);
      }
      node = child;
    }
  }
}

void Config::set_assignment(const std::string& assignment) {
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw InputError("--set '" + assignment + "': expected KEY=VALUE, e.g. layers[0].hidden_size=64");
  std::string key = assignment.substr(0, eq);
  while (!key.empty() && (key.back() == ' ' || key.back() == '\t')) key.pop_back();
  set(key, assignment.substr(eq + 1), "--set '" + assignment + "'");
}

bool Config::has(const std::string& key) const {
  return impl_->find(*this, Impl::parse_key(*this, key)) != nullptr;
}

std::optional<std::string> Config::value_text(const std::string& key) const {
  const auto* n = impl_->find(*this, Impl::parse_key(*this, key));
  if (n == nullptr) return std::nullopt;
  return inline_text(*n);
}

std::size_t Config::array_size(const std::string& key) const {
  const auto segs = Impl::parse_key(*this, key);
  const auto* n = impl_->find(*this, segs);
  if (n == nullptr) return 0;
  const auto* a = n->as_array();
  if (a == nullptr) throw error(join(segs), "expected an array, got " + got_text(*n));
  return a->size();
}

long long Config::get_int(const std::string& key, Range range) const {
  const Found found = impl_->lookup(*this, key);
  if (found.node == nullptr) throw error(found.key, "missing required key; expected " + range.describe("integer"));
  return get_int(key, 0, range);
}

long long Config::get_int(const std::string& key, long long fallback, Range range) const {
  const Found found = impl_->lookup(*this, key);
  if (found.node == nullptr) return fallback;
  const auto* v = found.node->as_integer();
  if (v == nullptr || !range.contains(static_cast<double>(v->get())))
    throw error(found.key, "expected " + range.describe("integer") + ", got " + got_text(*found.node));
  return v->get();
}

double Config::get_double(const std::string& key, Range range) const {
  const Found found = impl_->lookup(*this, key);
  if (found.node == nullptr) throw error(found.key, "missing required key; expected " + range.describe("number"));
  return get_double(key, 0.0, range);
}

double Config::get_double(const std::string& key, double fallback, Range range) const {
  const Found found = impl_->lookup(*this, key);
  if (found.node == nullptr) return fallback;
  double x = 0;
  bool ok = true;
  if (const auto* f = found.node->as_floating_point())
    x = f->get();
  else if (const auto* i = found.node->as_integer())
    x = static_cast<double>(i->get());
  else
    ok = false;
  if (!ok || !range.contains(x))
    throw error(found.key, "expected " + range.describe("number") + ", got " + got_text(*found.node));
  return x;
}

bool Config::get_bool(const std::string& key) const {
  const Found found = impl_->lookup(*this, key);
  if (found.node == nullptr) throw error(found.key, "missing required key; expected true or false");
  return get_bool(key, false);
}

bool Config::get_bool(const std::string& key, bool fallback) const {
  const Found found = impl_->lookup(*this, key);
  if (found.node == nullptr) return fallback;
  const auto* b = found.node->as_boolean();
  if (b == nullptr) throw error(found.key, "expected true or false, got " + got_text(*found.node));
  return b->get();
}

std::string Config::get_string(const std::string& key) const {
  const Found found = impl_->lookup(*this, key);
  if (found.node == nullptr) throw error(found.key, "missing required key; expected a string");
  return get_string(key, "");
}

std::string Config::get_string(const std::string& key, const std::string& fallback) const {
  const Found found = impl_->lookup(*this, key);
  if (found.node == nullptr) return fallback;
  const auto* s = found.node->as_string();
  if (s == nullptr) throw error(found.key, "expected a string, got " + got_text(*found.node));
  return s->get();
}

namespace {

/// Elements of a list (or a scalar as a 1-list) converted by `convert`, which returns
/// false for an element of the wrong type or out of range.
template <typename T, typename Convert>
std::vector<T> get_list(const Config& cfg, const Found& found, const std::string& noun, Range range,
                        Convert convert) {
  std::vector<T> out;
  T x{};
  if (const auto* a = found.node->as_array()) {
    for (std::size_t i = 0; i < a->size(); ++i) {
      const toml::node& elem = *a->get(i);
      if (!convert(elem, x) || !range.contains(static_cast<double>(x)))
        throw cfg.error(found.key + "[" + std::to_string(i) + "]",
                        "expected " + range.describe(noun) + ", got " + got_text(elem));
      out.push_back(x);
    }
    return out;
  }
  if (convert(*found.node, x)) {
    if (!range.contains(static_cast<double>(x)))
      throw cfg.error(found.key, "expected " + range.describe(noun) + ", got " + got_text(*found.node));
    out.push_back(x);
    return out;
  }
  throw cfg.error(found.key, "expected a list of " + noun + "s, got " + got_text(*found.node));
}

bool convert_int(const toml::node& n, long long& x) {
  const auto* v = n.as_integer();
  if (v == nullptr) return false;
  x = v->get();
  return true;
}

bool convert_double(const toml::node& n, double& x) {
  if (const auto* f = n.as_floating_point()) {
    x = f->get();
    return true;
  }
  if (const auto* i = n.as_integer()) {
    x = static_cast<double>(i->get());
    return true;
  }
  return false;
}

}  // namespace

std::vector<long long> Config::get_int_list(const std::string& key, Range range) const {
  const Found found = impl_->lookup(*this, key);
  if (found.node == nullptr) throw error(found.key, "missing required key; expected a list of integers");
  return get_list<long long>(*this, found, "integer", range, convert_int);
}

std::vector<long long> Config::get_int_list(const std::string& key, const std::vector<long long>& fallback,
                                            Range range) const {
  const Found found = impl_->lookup(*this, key);
  if (found.node == nullptr) return fallback;
  return get_list<long long>(*this, found, "integer", range, convert_int);
}

std::vector<double> Config::get_double_list(const std::string& key, Range range) const {
  const Found found = impl_->lookup(*this, key);
  if (found.node == nullptr) throw error(found.key, "missing required key; expected a list of numbers");
  return get_list<double>(*this, found, "number", range, convert_double);
}

std::vector<double> Config::get_double_list(const std::string& key, const std::vector<double>& fallback,
                                            Range range) const {
  const Found found = impl_->lookup(*this, key);
  if (found.node == nullptr) return fallback;
  return get_list<double>(*this, found, "number", range, convert_double);
}

// ---------------------------------------------------------------------------------------
// check_keys

namespace {

using Pattern = std::vector<std::string>;

Pattern split_pattern(const std::string& p) {
  std::string s;
  for (std::size_t i = 0; i < p.size(); ++i) {  // layers[*].x -> layers.*.x
    if (p.compare(i, 3, "[*]") == 0) {
      s += ".*";
      i += 2;
    } else {
      s += p[i];
    }
  }
  Pattern out;
  std::stringstream ss(s);
  std::string seg;
  while (std::getline(ss, seg, '.')) out.push_back(seg);
  return out;
}

bool starts_with(const Pattern& p, const Pattern& prefix) {
  return p.size() >= prefix.size() && std::equal(prefix.begin(), prefix.end(), p.begin());
}

class KeyChecker {
 public:
  KeyChecker(const Config& cfg, const std::vector<std::string>& allowed) : cfg_(cfg) {
    for (const auto& a : allowed) allowed_.push_back(split_pattern(a));
  }

  void table(const toml::table& t, Pattern& pat, const std::string& shown) {
    for (auto&& [k, v] : t) {
      pat.push_back(std::string(k.str()));
      const std::string key = shown.empty() ? toml_key(k.str()) : shown + "." + toml_key(k.str());
      node(v, pat, key);
      pat.pop_back();
    }
  }

 private:
  void node(const toml::node& n, Pattern& pat, const std::string& shown) {
    bool exact = false, under_star = false, under_name = false;
    for (const auto& a : allowed_) {
      if (!starts_with(a, pat)) continue;
      if (a.size() == pat.size()) {
        exact = true;
      } else if (a[pat.size()] == "*") {
        under_star = true;
      } else {
        under_name = true;
      }
    }
    if (exact) return;
    if (!under_star && !under_name) throw unknown(pat, shown);
    if (under_name && n.is_table()) {
      table(*n.as_table(), pat, shown);
      return;
    }
    if (under_star && n.is_array()) {
      const auto& a = *n.as_array();
      pat.push_back("*");
      for (std::size_t i = 0; i < a.size(); ++i) node(*a.get(i), pat, shown + "[" + std::to_string(i) + "]");
      pat.pop_back();
      return;
    }
    const bool tables = under_star && !under_name;
    throw cfg_.error(shown, std::string(tables ? "expected an array of tables" : "expected a table") + ", got " +
                                got_text(n));
  }

  InputError unknown(const Pattern& pat, const std::string& shown) const {
    Pattern parent(pat.begin(), pat.end() - 1);
    std::vector<std::string> options;
    for (const auto& a : allowed_) {
      if (a.size() < pat.size() || !starts_with(a, parent)) continue;
      const std::string& o = a[parent.size()];
      if (std::find(options.begin(), options.end(), o) == options.end()) options.push_back(o);
    }
    std::string msg = cfg_.error(shown, "").what();  // names the file, or the flag that set the key
    msg = msg.substr(0, msg.find(": key '")) + ": unknown key '" + shown + "'";
    if (!options.empty()) {
      msg += " (expected one of: ";
      for (std::size_t i = 0; i < options.size(); ++i) msg += (i ? ", " : "") + options[i];
      msg += ")";
    }
    return InputError(msg);
  }

  const Config& cfg_;
  std::vector<Pattern> allowed_;
};

}  // namespace

void Config::check_keys(const std::vector<std::string>& allowed) const {
  KeyChecker checker(*this, allowed);
  Pattern pat;
  checker.table(impl_->table, pat, "");
}

namespace {

/// Every leaf of `n` as {key, inline TOML}, descending tables and arrays of tables.
void flatten(const toml::node& n, const std::string& key, std::map<std::string, std::string>& out) {
  if (const auto* t = n.as_table(); t != nullptr && (!t->empty() || key.empty())) {
    for (auto&& [k, v] : *t) flatten(v, key.empty() ? std::string(k.str()) : key + "." + std::string(k.str()), out);
  } else if (is_array_of_tables(n) && !n.as_array()->empty()) {
    const auto& a = *n.as_array();
    for (std::size_t i = 0; i < a.size(); ++i) flatten(*a.get(i), key + "[" + std::to_string(i) + "]", out);
  } else {
    out[key] = inline_text(n);
  }
}

}  // namespace

std::vector<Config::Difference> Config::differences(const Config& other) const {
  std::map<std::string, std::string> here, there;
  flatten(impl_->table, "", here);
  flatten(other.impl_->table, "", there);
  std::vector<Difference> out;
  const std::string absent = "(absent)";
  for (const auto& [k, v] : here) {
    const auto it = there.find(k);
    if (it == there.end() || it->second != v) out.push_back({k, v, it == there.end() ? absent : it->second});
  }
  for (const auto& [k, v] : there)
    if (here.find(k) == here.end()) out.push_back({k, absent, v});
  std::sort(out.begin(), out.end(), [](const Difference& a, const Difference& b) { return a.key < b.key; });
  return out;
}

std::string Config::to_toml() const {
  std::string out;
  write_table(out, impl_->table, "");
  if (!out.empty() && out.front() == '\n') out.erase(0, 1);
  return out;
}

}  // namespace stackdyn
