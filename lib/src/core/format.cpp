// Shortest round-trip number text (see format.hpp).
#include <stackdyn/core/format.hpp>

#include <charconv>
#include <cmath>

namespace stackdyn {

std::string format_number(double x) {
  if (std::isnan(x)) return "nan";
  if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof buf, x);
  return std::string(buf, res.ptr);
}

std::string toml_number(double x) {
  std::string s = format_number(x);
  // an integer-looking value would read back as a TOML integer
  if (std::isfinite(x) && s.find_first_of(".eE") == std::string::npos) s += ".0";
  return s;
}

}  // namespace stackdyn
