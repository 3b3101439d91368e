// Numbers as text, one way everywhere: the shortest decimal that reads back as the same
// double, so that a value survives configuration files, attributes and messages unchanged.
#pragma once
#include <string>

namespace stackdyn {

/// Shortest round-trip text of `x` (std::to_chars): 0.1 -> "0.1", 1e-7 -> "1e-07",
/// 2 -> "2"; "nan", "inf", "-inf" for the non-finite values.
std::string format_number(double x);

/// format_number as a TOML float: "2.0" rather than "2", "nan", "inf", "-inf".
std::string toml_number(double x);

}  // namespace stackdyn
