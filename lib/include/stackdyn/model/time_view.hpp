// The two views of one stack (docs/design.md 3): the discrete map s_t = F(s_{t-1}, x_t), and
// the continuous-time system tau_l ds^(l)/dt = G_l(s, x) - s^(l).
#pragma once
#include <optional>
#include <string_view>

namespace stackdyn {

enum class TimeView { Discrete, Continuous };

/// "discrete" or "continuous", as in configurations and result files.
constexpr std::string_view time_view_name(TimeView v) { return v == TimeView::Discrete ? "discrete" : "continuous"; }
/// The view of that name; nothing for any other name.
constexpr std::optional<TimeView> parse_time_view(std::string_view name) {
  if (name == "discrete") return TimeView::Discrete;
  if (name == "continuous") return TimeView::Continuous;
  return std::nullopt;
}

}  // namespace stackdyn
