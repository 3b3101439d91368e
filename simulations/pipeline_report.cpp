// summary.json and report.md / report.html of `stackdyn pipeline` (pipeline_report.hpp).
// Every number is read from the stage's own HDF5 file, so that the summary can be checked
// against the files (tests/e2e/pipeline_e2e.py does).
#include "pipeline_report.hpp"

#include <stackdyn/core/config.hpp>
#include <stackdyn/core/error.hpp>
#include <stackdyn/core/format.hpp>
#include <stackdyn/core/h5.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <vector>

namespace stackdyn::cli {
namespace {

namespace fs = std::filesystem;
using Opt = std::optional<double>;
using OptList = std::optional<std::vector<double>>;

// ---- reading the stages' files: nullopt when a file or dataset is absent ----------------
std::optional<h5::File> open_if(const fs::path& p) {
  if (!fs::exists(p)) return std::nullopt;
  return h5::File::open(p.string());
}

OptList read_list(const fs::path& file, const std::string& dataset) {
  auto f = open_if(file);
  if (!f || !f->has(dataset)) return std::nullopt;
  return f->read(dataset).data;
}

Opt read_scalar(const fs::path& file, const std::string& dataset) {
  const OptList v = read_list(file, dataset);
  if (!v || v->empty()) return std::nullopt;
  return v->front();
}

// The headline numbers of one model (trained or initial).
struct Numbers {
  Opt n_stable, n_saddles, n_points, slowest_timescale, lyapunov_max, kaplan_yorke, fold_input;
  OptList layer_timescale, layer_preferred_frequency, gradient_horizon, layer_lyapunov_max;
  std::optional<long long> horizon_T;
  std::vector<std::vector<double>> stable_predictions;  ///< the readout at each stable point
  std::vector<std::string> branch_stops;
};

Numbers read_numbers(const fs::path& dir, const std::string& suffix) {
  Numbers n;
  if (auto f = open_if(dir / ("fixed_points" + suffix + ".h5")); f && f->has("fixed_points/stable")) {
    const auto stable = f->read_int("fixed_points/stable");
    const auto unstable = f->read_int("fixed_points/n_unstable");
    n.n_points = static_cast<double>(stable.size());
    n.n_stable = static_cast<double>(std::count(stable.begin(), stable.end(), 1LL));
    n.n_saddles = static_cast<double>(std::count_if(unstable.begin(), unstable.end(), [](long long u) { return u > 0; }));
    if (f->has("fixed_points/timescales")) {
      const h5::Array ts = f->read("fixed_points/timescales");
      const std::size_t K = ts.shape.at(0), m = ts.shape.size() > 1 ? ts.shape[1] : 1;
      for (std::size_t k = 0; k < K; ++k) {
        if (stable[k] != 1) continue;
        for (std::size_t j = 0; j < m; ++j) {
          const double t = ts.data[k * m + j];
          if (std::isfinite(t) && (!n.slowest_timescale || t > *n.slowest_timescale)) n.slowest_timescale = t;
        }
      }
    }
    if (f->has("fixed_points/predictions")) {
      const h5::Array p = f->read("fixed_points/predictions");
      const std::size_t O = p.shape.size() > 1 ? p.shape[1] : 1;
      for (std::size_t k = 0; k < stable.size(); ++k)
        if (stable[k] == 1) n.stable_predictions.emplace_back(p.data.begin() + static_cast<long>(k * O), p.data.begin() + static_cast<long>((k + 1) * O));
    }
  }
  const fs::path ts = dir / ("timescales" + suffix + ".h5");
  n.layer_timescale = read_list(ts, "timescale");
  n.layer_preferred_frequency = read_list(ts, "preferred_frequency");
  const fs::path ly = dir / ("lyapunov" + suffix + ".h5");
  if (const OptList e = read_list(ly, "exponents"); e && !e->empty()) n.lyapunov_max = e->front();
  n.kaplan_yorke = read_scalar(ly, "kaplan_yorke_dimension");
  if (auto f = open_if(ly); f && f->has("layer_exponents")) {
    const h5::Array a = f->read("layer_exponents");
    const std::size_t L = a.shape.at(0), m = a.shape.at(1);
    std::vector<double> top(L, std::nan(""));
    for (std::size_t l = 0; l < L; ++l)
      for (std::size_t j = 0; j < m; ++j)
        if (std::isfinite(a.data[l * m + j]) && !(a.data[l * m + j] <= top[l])) top[l] = a.data[l * m + j];
    n.layer_lyapunov_max = top;
  }
  // gradient_horizon: per layer, the length k of the longest final stretch T-k .. T-1 whose norm
  // is at least 1e-3 of the norm at T-1 (k = T when it never falls below).
  if (auto f = open_if(dir / ("gradient_flow" + suffix + ".h5")); f && f->has("jacobian_norms")) {
    const h5::Array a = f->read("jacobian_norms");
    const std::size_t T = a.shape.at(0), L = a.shape.at(1);
    std::vector<double> h(L);
    for (std::size_t l = 0; l < L; ++l) {
      const double last = a.data[(T - 1) * L + l];
      std::size_t k = 0;
      while (k < T && a.data[(T - 1 - k) * L + l] >= 1e-3 * last) ++k;
      h[l] = static_cast<double>(k);
    }
    n.gradient_horizon = h;
    n.horizon_T = static_cast<long long>(T);
  }
  // fold_input: the parameter of the fold nearest the start, over the branches from it.
  if (auto f = open_if(dir / ("continuation" + suffix + ".h5")); f && f->has("branches")) {
    const double p0 = f->has_attr("p_start") ? f->attr_double("p_start") : 0.0;
    const h5::Group b = f->group("branches");
    for (const auto& name : b.children()) {
      const h5::Group g = b.group(name);
      if (g.has_attr("stop_reason")) n.branch_stops.push_back(name + ": " + g.attr_string("stop_reason"));
      if (!g.has("event_p") || !g.has_attr("event_kinds")) continue;
      const h5::Array ep = g.read("event_p");
      std::vector<std::string> kinds;
      std::istringstream in(g.attr_string("event_kinds"));
      for (std::string k; std::getline(in, k, ';');) kinds.push_back(k);
      for (std::size_t i = 0; i < kinds.size() && i < ep.data.size(); ++i)
        if (kinds[i] == "fold" && (!n.fold_input || std::abs(ep.data[i] - p0) < std::abs(*n.fold_input - p0)))
          n.fold_input = ep.data[i];
    }
  }
  return n;
}

// ---- JSON ----------------------------------------------------------------------------------
std::string jstr(const std::string& s) {
  std::string o = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') o += std::string("\\") + c;
    else if (c == '\n') o += "\\n";
    else if (static_cast<unsigned char>(c) < 0x20) o += " ";
    else o += c;
  }
  return o + "\"";
}
std::string jnum(const Opt& x) { return x && std::isfinite(*x) ? format_number(*x) : "null"; }
std::string jlist(const OptList& v) {
  if (!v) return "null";
  std::string s = "[";
  for (std::size_t i = 0; i < v->size(); ++i) s += (i ? ", " : "") + jnum((*v)[i]);
  return s + "]";
}

// ---- text ----------------------------------------------------------------------------------
std::string num(const Opt& x, int digits = 4) {
  if (!x) return "n/a";
  if (!std::isfinite(*x)) return format_number(*x);
  std::ostringstream s;
  s.precision(digits);
  s << *x;
  return s.str();
}
std::string list(const OptList& v, int digits = 4) {
  if (!v) return "n/a";
  std::string s;
  for (std::size_t i = 0; i < v->size(); ++i) s += (i ? ", " : "") + num((*v)[i], digits);
  return s;
}
// Increasing from bottom to top (strictly), for the timescale claim.
std::optional<bool> increasing(const OptList& v) {
  if (!v || v->size() < 2) return std::nullopt;
  for (std::size_t i = 1; i < v->size(); ++i)
    if (!((*v)[i] > (*v)[i - 1])) return false;
  return true;
}

// The report as blocks, rendered to Markdown and to HTML.
struct Block {
  enum Kind { H1, H2, P, Table, Image, Code } kind;
  std::string text;
  std::vector<std::vector<std::string>> rows;  ///< Table: the first row is the header
};

std::string html_escape(const std::string& s) {
  std::string o;
  for (const char c : s) {
    if (c == '<') o += "&lt;";
    else if (c == '>') o += "&gt;";
    else if (c == '&') o += "&amp;";
    else o += c;
  }
  return o;
}
// `code` spans to <code>.
std::string html_inline(const std::string& s) {
  std::string o;
  bool code = false;
  for (const char c : html_escape(s)) {
    if (c == '`') {
      o += code ? "</code>" : "<code>";
      code = !code;
    } else {
      o += c;
    }
  }
  if (code) o += "</code>";
  return o;
}

std::string base64(const std::string& bytes) {
  static const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string o;
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) | (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                       static_cast<unsigned char>(bytes[i + 2]);
    o += {a[v >> 18], a[(v >> 12) & 63], a[(v >> 6) & 63], a[v & 63]};
  }
  if (i + 1 == bytes.size()) {
    const unsigned v = static_cast<unsigned char>(bytes[i]) << 16;
    o += {a[v >> 18], a[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == bytes.size()) {
    const unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) | (static_cast<unsigned char>(bytes[i + 1]) << 8);
    o += {a[v >> 18], a[(v >> 12) & 63], a[(v >> 6) & 63], '='};
  }
  return o;
}

std::string markdown(const std::vector<Block>& blocks) {
  std::string o;
  for (const auto& b : blocks) {
    switch (b.kind) {
      case Block::H1: o += "# " + b.text + "\n\n"; break;
      case Block::H2: o += "## " + b.text + "\n\n"; break;
      case Block::P: o += b.text + "\n\n"; break;
      case Block::Code: o += "```\n" + b.text + (b.text.empty() || b.text.back() == '\n' ? "" : "\n") + "```\n\n"; break;
      case Block::Image: o += "![" + b.rows.at(0).at(0) + "](" + b.text + ")\n\n"; break;
      case Block::Table:
        for (std::size_t r = 0; r < b.rows.size(); ++r) {
          o += "|";
          for (const auto& c : b.rows[r]) o += " " + c + " |";
          o += "\n";
          if (r == 0) {
            o += "|";
            for (std::size_t c = 0; c < b.rows[r].size(); ++c) o += "---|";
            o += "\n";
          }
        }
        o += "\n";
        break;
    }
  }
  return o;
}

std::string html(const std::vector<Block>& blocks, const fs::path& dir) {
  std::string o =
      "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>stackdyn pipeline report</title>\n"
      "<style>body{font-family:sans-serif;max-width:72em;margin:2em auto;line-height:1.45}"
      "table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:2px 8px;text-align:left}"
      "img{max-width:100%}pre{background:#f4f4f4;padding:8px;overflow-x:auto}code{background:#f4f4f4}</style>\n"
      "</head><body>\n";
  for (const auto& b : blocks) {
    switch (b.kind) {
      case Block::H1: o += "<h1>" + html_inline(b.text) + "</h1>\n"; break;
      case Block::H2: o += "<h2>" + html_inline(b.text) + "</h2>\n"; break;
      case Block::P: o += "<p>" + html_inline(b.text) + "</p>\n"; break;
      case Block::Code: o += "<pre>" + html_escape(b.text) + "</pre>\n"; break;
      case Block::Image:
        o += "<figure><img alt=\"" + html_escape(b.rows.at(0).at(0)) + "\" src=\"data:image/png;base64," +
             base64(read_text((dir / b.text).string())) + "\"><figcaption>" + html_inline(b.rows.at(0).at(0)) +
             "</figcaption></figure>\n";
        break;
      case Block::Table:
        o += "<table>\n";
        for (std::size_t r = 0; r < b.rows.size(); ++r) {
          o += "<tr>";
          for (const auto& c : b.rows[r]) o += (r == 0 ? "<th>" : "<td>") + html_inline(c) + (r == 0 ? "</th>" : "</td>");
          o += "</tr>\n";
        }
        o += "</table>\n";
        break;
    }
  }
  return o + "</body></html>\n";
}

}  // namespace

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

std::string last_error(const std::string& err) {
  std::string line;
  std::istringstream in(err);
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) line = l;
  const std::string prefix = "stackdyn: error: ";
  if (line.rfind(prefix, 0) == 0) line = line.substr(prefix.size());
  return line;
}

void write_text_atomic(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".partial";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f << text;
    f.close();
    if (!f) throw RunError("cannot write " + path);
  }
  fs::rename(tmp, path);
}

namespace {

struct TrainingNumbers {
  Opt final_loss, final_valid, first_loss;
  long long steps_trained = -1;
};

TrainingNumbers read_training(const fs::path& dir) {
  TrainingNumbers t;
  if (auto f = fs::exists(dir / "run.h5") ? open_if(dir / "run.h5") : open_if(dir / "run.h5.partial")) {
    if (f->has("history/loss")) {
      const auto loss = f->read("history/loss").data;
      if (!loss.empty()) {
        t.final_loss = loss.back();
        t.first_loss = loss.front();
        t.steps_trained = static_cast<long long>(loss.size());
      }
    }
    if (f->has("history/valid_loss"))
      for (const double v : f->read("history/valid_loss").data)
        if (std::isfinite(v)) t.final_valid = v;
  }
  return t;
}

}  // namespace

std::vector<SummaryColumn> pipeline_summary_columns(const std::string& dir_text) {
  const fs::path dir = dir_text;
  const Numbers tr = read_numbers(dir, ""), init = read_numbers(dir, "_init");
  const TrainingNumbers t = read_training(dir);
  const double nan = std::nan("");
  auto scalar = [&](const std::string& k, const Opt& v) { return SummaryColumn{k, {v ? *v : nan}, false}; };
  auto list = [&](const std::string& k, const OptList& v) { return SummaryColumn{k, v ? *v : std::vector<double>{}, true}; };
  return {scalar("final_loss", t.final_loss),
          scalar("final_valid_loss", t.final_valid),
          scalar("n_stable", tr.n_stable),
          scalar("n_saddles", tr.n_saddles),
          scalar("slowest_timescale", tr.slowest_timescale),
          list("layer_timescale", tr.layer_timescale),
          list("layer_timescale_init", init.layer_timescale),
          list("layer_preferred_frequency", tr.layer_preferred_frequency),
          list("layer_preferred_frequency_init", init.layer_preferred_frequency),
          scalar("lyapunov_max", tr.lyapunov_max),
          scalar("kaplan_yorke_dimension", tr.kaplan_yorke),
          list("gradient_horizon", tr.gradient_horizon),
          scalar("fold_input", tr.fold_input)};
}

void write_pipeline_report(const PipelineReportInput& in) {
  const fs::path dir = in.dir;
  const Numbers tr = read_numbers(dir, ""), init = in.control ? read_numbers(dir, "_init") : Numbers{};
  // Training numbers from the run file.
  const TrainingNumbers tn = read_training(dir);
  const Opt final_loss = tn.final_loss, final_valid = tn.final_valid, first_loss = tn.first_loss;
  const long long steps_trained = tn.steps_trained;
  const Config cfg = Config::from_string(in.config_toml, "pipeline.toml");
  auto stage = [&](const std::string& s) {
    const auto it = in.stages.find(s);
    return it == in.stages.end() ? PipelineStageInfo{} : it->second;
  };
  const std::string status = in.diverged ? "diverged"
                             : [&] {
                                 for (const auto& [name, st] : in.stages)
                                   if (st.status == "failed") return "failed";
                                 return "complete";
                               }();

  // ---- summary.json ----
  std::string j = "{\n";
  auto field = [&](const std::string& k, const std::string& v, bool last = false) {
    j += "  " + jstr(k) + ": " + v + (last ? "\n" : ",\n");
  };
  field("final_loss", jnum(final_loss));
  field("final_valid_loss", jnum(final_valid));
  field("n_stable", jnum(tr.n_stable));
  field("n_saddles", jnum(tr.n_saddles));
  field("slowest_timescale", jnum(tr.slowest_timescale));
  field("layer_timescale", jlist(tr.layer_timescale));
  field("layer_timescale_init", jlist(init.layer_timescale));
  field("layer_preferred_frequency", jlist(tr.layer_preferred_frequency));
  field("layer_preferred_frequency_init", jlist(init.layer_preferred_frequency));
  field("lyapunov_max", jnum(tr.lyapunov_max));
  field("kaplan_yorke_dimension", jnum(tr.kaplan_yorke));
  field("gradient_horizon", jlist(tr.gradient_horizon));
  field("fold_input", jnum(tr.fold_input));
  {
    std::string w = "{";
    bool first = true;
    for (const auto& s : {"train", "fixed_points", "timescales", "lyapunov", "gradient_flow", "continuation", "figures",
                          "report"}) {
      const auto st = stage(s);
      w += std::string(first ? "" : ", ") + jstr(s) + ": " + (st.wall >= 0 ? format_number(std::round(st.wall * 1000) / 1000) : "null");
      first = false;
    }
    w += ", \"total\": " + format_number(std::round(in.total_wall * 1000) / 1000) + "}";
    field("wall_time_s", w);
  }
  {
    std::string c = "{\"n_stable\": " + jnum(init.n_stable) + ", \"n_saddles\": " + jnum(init.n_saddles) +
                    ", \"slowest_timescale\": " + jnum(init.slowest_timescale) + ", \"lyapunov_max\": " +
                    jnum(init.lyapunov_max) + ", \"kaplan_yorke_dimension\": " + jnum(init.kaplan_yorke) +
                    ", \"gradient_horizon\": " + jlist(init.gradient_horizon) + ", \"fold_input\": " +
                    jnum(init.fold_input) + "}";
    field("control", in.control ? c : "null");
  }
  field("status", jstr(status));
  {
    std::string s = "{";
    bool first = true;
    for (const auto& [name, st] : in.stages) {
      s += std::string(first ? "" : ", ") + jstr(name) + ": {\"status\": " + jstr(st.status) +
           ", \"reason\": " + jstr(st.reason) + "}";
      first = false;
    }
    field("stages", s + "}", true);
  }
  j += "}\n";
  write_text_atomic((dir / "summary.json").string(), j);

  // ---- the report ----
  std::vector<Block> b;
  auto P = [&](const std::string& t) { b.push_back({Block::P, t, {}}); };
  auto H2 = [&](const std::string& t) { b.push_back({Block::H2, t, {}}); };
  auto figure = [&](const std::string& name, const std::string& caption) {
    if (fs::exists(dir / "figures" / (name + ".png")))
      b.push_back({Block::Image, "figures/" + name + ".png", {{caption}}});
  };
  auto skipped = [&](const std::string& s) {
    const auto st = stage(s);
    if (st.status.empty()) P("This stage has not run" + std::string(in.diverged ? " (the training diverged)." : "."));
    else if (st.status != "ok") P("Stage " + st.status + (st.reason.empty() ? "." : ": " + st.reason + "."));
    return st.status.empty() || st.status == "skipped" || st.status == "failed";
  };

  b.push_back({Block::H1, "stackdyn pipeline report", {}});
  std::string arch;
  for (std::size_t l = 0; l < cfg.array_size("model.layers"); ++l) {
    const std::string k = "model.layers[" + std::to_string(l) + "].";
    arch += (l ? ", " : "") + cfg.get_string(k + "cell", "rnn_tanh") + " " + std::to_string(cfg.get_int(k + "hidden_size", 0));
  }
  const std::string task = cfg.get_string("data.task", cfg.has("data.file") ? "a data file" : "?");
  P("A stack of " + std::to_string(cfg.array_size("model.layers")) + " layers (" + (arch.empty() ? "from a model file" : arch) +
    ", bottom first) trained on the `" + task + "` task for " +
    (steps_trained >= 0 ? std::to_string(steps_trained) : std::string("?")) +
    " steps, then analysed as a dynamical system; the same architecture at its initialisation (checkpoint 0 of "
    "the run) is analysed as the control. Status: **" + status + "**. Every number below is read from the "
    "stage's own HDF5 file in this directory; `summary.json` holds them under stable keys (docs/pipeline.md).");
  if (in.diverged)
    P("**The training diverged** (" + stage("train").reason + "). The analyses were not run; `run.h5.partial` keeps "
      "every checkpoint written before the divergence.");

  H2("Headline numbers");
  auto row = [&](const std::string& what, const std::string& t, const std::string& i) {
    return std::vector<std::string>{what, t, in.control ? i : "-"};
  };
  std::vector<std::vector<std::string>> rows = {{"quantity", "trained", "initial (control)"}};
  rows.push_back(row("final training loss (`final_loss`)", num(final_loss), num(first_loss) + " (first step)"));
  rows.push_back(row("final validation loss (`final_valid_loss`)", num(final_valid), "-"));
  rows.push_back(row("stable fixed points at zero input (`n_stable`)", num(tr.n_stable), num(init.n_stable)));
  rows.push_back(row("saddles: points with an unstable direction (`n_saddles`)", num(tr.n_saddles), num(init.n_saddles)));
  rows.push_back(row("slowest timescale at a stable point, steps (`slowest_timescale`)", num(tr.slowest_timescale), num(init.slowest_timescale)));
  rows.push_back(row("each layer's slowest timescale, steps (`layer_timescale`)", list(tr.layer_timescale), list(init.layer_timescale)));
  rows.push_back(row("each layer's preferred frequency, cycles/step (`layer_preferred_frequency`)", list(tr.layer_preferred_frequency), list(init.layer_preferred_frequency)));
  rows.push_back(row("largest Lyapunov exponent, per step (`lyapunov_max`)", num(tr.lyapunov_max), num(init.lyapunov_max)));
  rows.push_back(row("Kaplan-Yorke dimension (`kaplan_yorke_dimension`)", num(tr.kaplan_yorke), num(init.kaplan_yorke)));
  rows.push_back(row("gradient horizon per layer, steps (`gradient_horizon`)", list(tr.gradient_horizon), list(init.gradient_horizon)));
  rows.push_back(row("input at the first fold (`fold_input`)", tr.fold_input ? num(tr.fold_input) : "none in range", init.fold_input ? num(init.fold_input) : "none in range"));
  b.push_back({Block::Table, "", rows});

  H2("Training");
  if (final_loss)
    P("The training loss (mean squared error of the readout) went from " + num(first_loss) + " at the first step to " +
      num(final_loss) + " at the last" + (final_valid ? "; the last validation loss is " + num(final_valid) + "." : "."));
  figure("training", "Training and validation loss against the step (log scale).");

  H2("Fixed points (zero input)");
  if (!skipped("fixed_points")) {
    P("The trained stack has " + num(tr.n_points) + " fixed point(s) at zero input: " + num(tr.n_stable) + " stable and " +
      num(tr.n_saddles) + " with at least one unstable direction. At initialisation: " + num(init.n_points) + " points, " +
      num(init.n_stable) + " stable and " + num(init.n_saddles) + " with unstable directions. The slowest timescale at a "
      "stable point is " + num(tr.slowest_timescale) + " steps (initial: " + num(init.slowest_timescale) + ").");
    if (!tr.stable_predictions.empty()) {
      std::string s = "The readout's prediction at each stable point (the task's outputs, slow then fast component): ";
      for (std::size_t k = 0; k < tr.stable_predictions.size() && k < 8; ++k) {
        s += (k ? "; " : "") + std::string("(");
        for (std::size_t o = 0; o < tr.stable_predictions[k].size(); ++o) s += (o ? ", " : "") + num(tr.stable_predictions[k][o], 3);
        s += ")";
      }
      P(s + ". A rest point predicts the output the network settles to when the input stops.");
    }
  }
  figure("fixed_points", "Eigenvalues at the fixed points against the unit circle, trained (left) and at initialisation (right); stable points blue.");

  H2("Timescales per layer");
  if (!skipped("timescales")) {
    const auto inc = increasing(tr.layer_timescale), inc0 = increasing(init.layer_timescale);
    P("Each layer's slowest timescale at the stable point (from its own diagonal block of the Jacobian), bottom to "
      "top: trained " + list(tr.layer_timescale) + " steps; initial " + list(init.layer_timescale) + " steps. " +
      (inc ? (*inc ? "In the trained stack the timescales grow with depth" : "In the trained stack the timescales do not grow with depth")
           : std::string("")) +
      (inc0 ? (*inc0 ? "; at initialisation they already grow with depth." : "; at initialisation they do not.") : ".") +
      " Preferred frequencies (peak of the gain from the network input), cycles per step: trained " +
      list(tr.layer_preferred_frequency) + "; initial " + list(init.layer_preferred_frequency) +
      ". The gain from the input multiplies the filtering of every layer below, so falling cutoffs with depth are "
      "expected even of equal layers; a claim about a layer's own timescale rests on its own block (docs/probes.md).");
  }
  figure("timescales", "Gain of each layer's state against the drive frequency, trained (left) and initial (right).");

  H2("Lyapunov spectrum (driven by the task's input)");
  if (!skipped("lyapunov")) {
    auto verdict = [](const Opt& l) {
      if (!l) return std::string("unknown");
      return *l > 1e-3 ? std::string("chaotic (positive)") : *l < -1e-3 ? std::string("stable: driven trajectories converge") : std::string("marginal");
    };
    P("The largest exponent of the trained stack is " + num(tr.lyapunov_max) + " per step, " + verdict(tr.lyapunov_max) +
      "; at initialisation " + num(init.lyapunov_max) + ", " + verdict(init.lyapunov_max) + ". Kaplan-Yorke dimension: " +
      num(tr.kaplan_yorke) + " (initial " + num(init.kaplan_yorke) + "). Each layer's own largest exponent, bottom to "
      "top: trained " + list(tr.layer_lyapunov_max) + "; initial " + list(init.layer_lyapunov_max) + ".");
  }
  figure("lyapunov", "Lyapunov exponents, one colour per layer, trained (left) and initial (right).");

  H2("Gradient flow across time and depth");
  if (!skipped("gradient_flow")) {
    P("For each layer, the gradient horizon is the number of final steps over which the norm of "
      "d h_T(top) / d s_t(layer) stays above 1e-3 of its value at the last step (out of " +
      (tr.horizon_T ? std::to_string(*tr.horizon_T) : std::string("?")) + " steps): trained " + list(tr.gradient_horizon) +
      "; initial " + list(init.gradient_horizon) + ". A horizon equal to the trajectory's length means the gradient "
      "never fell below that level.");
  }
  figure("gradient_flow", "log10 of |d h_T(top) / d s_t(layer)| across time (x) and depth (y), trained (left) and initial (right).");

  H2("Continuation of the stable point along the input");
  if (!skipped("continuation")) {
    P(tr.fold_input ? "Followed along the constant input x = p, the trained stable point disappears in a fold at p = " +
                          num(tr.fold_input) + "."
                    : "Followed along the constant input x = p over [" + num(cfg.get_double("continuation.p_min", -3)) +
                          ", " + num(cfg.get_double("continuation.p_max", 3)) + "], the trained stable point meets no fold.");
    if (in.control)
      P(init.fold_input ? "At initialisation the first fold is at p = " + num(init.fold_input) + "."
                        : "At initialisation there is no fold in the range.");
    if (!tr.branch_stops.empty()) {
      std::string s = "Branches of the trained model: ";
      for (std::size_t i = 0; i < tr.branch_stops.size(); ++i) s += (i ? "; " : "") + tr.branch_stops[i];
      P(s + ".");
    }
  }
  figure("continuation", "Bifurcation diagram: the branch's first principal coordinate against the input p, stable solid, unstable dashed.");

  H2("Stages");
  std::vector<std::vector<std::string>> st = {{"stage", "status", "wall time (s)", "note"}};
  for (const auto& s : {"train", "fixed_points", "timescales", "lyapunov", "gradient_flow", "continuation", "figures"}) {
    const auto x = stage(s);
    st.push_back({s, x.status.empty() ? "not run" : x.status, x.wall >= 0 ? num(x.wall, 3) : "-", x.reason});
  }
  b.push_back({Block::Table, "", st});
  if (stage("figures").status != "ok" && !stage("figures").status.empty())
    P("Figures were skipped: " + stage("figures").reason + ". Every HDF5 file and summary.json were written.");
  H2("How this was made");
  P("Files: `run.h5` (the training run: history, checkpoints with probe trajectories and fixed points, final model), "
    "one file per analysis and model (`fixed_points.h5`, `timescales.h5`, `lyapunov.h5`, `gradient_flow.h5`, "
    "`continuation.h5`, and `_init` for the control), `config/` (each stage's configuration as run), `logs/` (each "
    "command's output). The whole configuration (`pipeline.toml`):");
  b.push_back({Block::Code, in.config_toml, {}});

  write_text_atomic((dir / "report.md").string(), markdown(b));
  write_text_atomic((dir / "report.html").string(), html(b, dir));
}

}  // namespace stackdyn::cli
