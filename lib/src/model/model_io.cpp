// The model file (docs/model-format.md): the layout on disk, both ways. The reader checks
// what the file says about itself; the model's own validate() checks the architecture.
#include <stackdyn/model/model_io.hpp>

#include <stackdyn/core/error.hpp>

#include <algorithm>
#include <climits>

namespace stackdyn {

namespace {

std::string quoted(const std::string& s) { return "'" + s + "'"; }

// A file (or, for a model embedded in a group, "file (/group)"), for messages.
std::string where_of(const h5::Group& g) {
  return g.path() == "/" ? g.file_name() : g.file_name() + " (" + g.path() + ")";
}

// Sizes and counts: whole numbers up to `max`, 0 allowed (validate() says when 0 is wrong).
// Widths are bounded as init bounds them, so that the sizes derived from them fit an int.
int size_attr(const h5::Group& g, const std::string& name, long long max = max_width) {
  long long v = g.attr_int(name);
  if (v < 0 || v > max)
    throw InputError(g.file_name() + ": attribute " + quoted(name) + " of " + quoted(g.path()) + " is " +
                     std::to_string(v) + ", expected a size in [0, " + std::to_string(max) + "]");
  return static_cast<int>(v);
}

bool flag_attr(const h5::Group& g, const std::string& name) {
  long long v = g.attr_int(name);
  if (v != 0 && v != 1)
    throw InputError(g.file_name() + ": attribute " + quoted(name) + " of " + quoted(g.path()) + " is " +
                     std::to_string(v) + ", expected 0 or 1");
  return v == 1;
}

// Reads one layer group. `names` collects the datasets read, so that anything else in the
// group can be refused afterwards (a parameter the model does not know would be ignored).
struct LayerReader {
  const h5::Group& g;
  std::vector<std::string> names;

  Eigen::MatrixXd matrix(const std::string& name) {
    names.push_back(name);
    return g.read_matrix(name);
  }
  Eigen::VectorXd vector(const std::string& name) {
    names.push_back(name);
    return g.read_vector(name);
  }

  CellParams params(const LayerSpec& layer, const std::string& suffix) {
    CellParams p;
    p.w_ih = matrix("weight_ih" + suffix);
    p.w_hh = matrix("weight_hh" + suffix);
    const bool deep = layer.cell == CellType::DeepTransition;
    if (layer.bias) {
      p.b_ih = vector("bias_ih" + suffix);
      if (!deep) p.b_hh = vector("bias_hh" + suffix);
    }
    for (std::size_t k = 0; deep && k < layer.transition_hidden.size(); ++k) {
      p.mlp_w.push_back(matrix("mlp_weight_" + std::to_string(k) + suffix));
      if (layer.bias) p.mlp_b.push_back(vector("mlp_bias_" + std::to_string(k) + suffix));
    }
    return p;
  }

  void refuse_others(const std::string& why) const {
    for (const auto& child : g.children())
      if (std::find(names.begin(), names.end(), child) == names.end())
        throw InputError(g.file_name() + ": unexpected object " + quoted(g.path() + "/" + child) + " (" + why + ")");
  }
};

LayerSpec read_layer(const h5::Group& g, bool bidirectional) {
  LayerSpec layer;
  layer.cell = parse_cell(g.attr_string("cell"), g.file_name() + ": " + quoted(g.path()));
  layer.hidden_size = size_attr(g, "hidden_size");
  layer.bias = flag_attr(g, "bias");
  layer.skip = flag_attr(g, "skip");
  layer.residual = flag_attr(g, "residual");
  if (layer.cell == CellType::DeepTransition) {
    for (long long w : g.attr_int_array("transition_hidden")) {
      if (w <= 0 || w > max_width)
        throw InputError(g.file_name() + ": attribute 'transition_hidden' of " + quoted(g.path()) + " holds " +
                         std::to_string(w) + ", expected widths in [1, " + std::to_string(max_width) + "]");
      layer.transition_hidden.push_back(static_cast<int>(w));
    }
    layer.transition_residual = flag_attr(g, "transition_residual");
    layer.activation = parse_activation(g.attr_string("activation"), g.file_name() + ": " + quoted(g.path()));
  }
  LayerReader r{g, {}};
  layer.fwd = r.params(layer, "");
  if (bidirectional) layer.bwd = r.params(layer, "_reverse");
  if (g.has("residual_proj")) layer.residual_proj = r.matrix("residual_proj");
  r.refuse_others(std::string("a ") + std::string(cell_name(layer.cell)) + " layer with bias = " +
                  (layer.bias ? "1" : "0") + (bidirectional ? " of a bidirectional model" : ""));
  return layer;
}

std::string slice_string(long long offset, long long size) {
  return "[" + std::to_string(offset) + ", " + std::to_string(size) + "]";
}

}  // namespace

Model read_model(const h5::Group& g) {
  const std::string where = where_of(g);
  if (!g.has_attr("format"))
    throw InputError(where + ": not a stackdyn model (no 'format' attribute on " + quoted(g.path()) + ")");
  if (auto f = g.attr_string("format"); f != model_format)
    throw InputError(where + ": format is " + quoted(f) + ", expected " + quoted(model_format));
  if (auto v = g.attr_int("format_version"); v != model_format_version)
    throw InputError(where + ": model format_version " + std::to_string(v) + " is not supported (this stackdyn reads version " +
                     std::to_string(model_format_version) + ")");

  Model m;
  m.input_size = size_attr(g, "input_size");
  const int num_layers = size_attr(g, "num_layers", INT_MAX);
  m.bidirectional = flag_attr(g, "bidirectional");
  m.dropout = g.attr_double("dropout");
  const h5::Group layers = g.group("layers");
  std::vector<int> recorded_inputs;
  for (int l = 0; l < num_layers; ++l) {
    const h5::Group lg = layers.group(std::to_string(l));
    m.layers.push_back(read_layer(lg, m.bidirectional));
    recorded_inputs.push_back(size_attr(lg, "input_size", INT_MAX));
  }
  if (auto n = layers.children().size(); n != static_cast<std::size_t>(num_layers))
    throw InputError(where + ": num_layers is " + std::to_string(num_layers) + " but " + quoted(layers.path()) + " holds " +
                     std::to_string(n) + " objects");
  if (g.has("readout")) {
    const h5::Group rg = g.group("readout");
    LayerReader r{rg, {}};
    m.readout_weight = r.matrix("weight");
    if (rg.has("bias")) m.readout_bias = r.vector("bias");
    r.refuse_others("a readout holds weight and optionally bias");
  }
  m.validate(where);

  // What the file records for convenience must agree with the architecture.
  for (int l = 1; l <= num_layers; ++l)
    if (recorded_inputs[static_cast<std::size_t>(l - 1)] != m.layer_input_size(l))
      throw InputError(where + ": " + quoted(layers.path() + "/" + std::to_string(l - 1)) + " has input_size " +
                       std::to_string(recorded_inputs[static_cast<std::size_t>(l - 1)]) + ", but the architecture gives " +
                       std::to_string(m.layer_input_size(l)));
  if (auto d = g.attr_int("state_dim"); d != m.state_dim())
    throw InputError(where + ": state_dim is " + std::to_string(d) + ", but the layers give " + std::to_string(m.state_dim()));
  const h5::Shape want{static_cast<std::size_t>(num_layers), 2};
  if (auto s = g.shape("state_slices"); s != want)
    throw InputError(where + ": dataset " + quoted(g.path() == "/" ? "/state_slices" : g.path() + "/state_slices") +
                     ": expected shape " + h5::shape_string(want) + ", got " + h5::shape_string(s));
  const auto recorded = g.read_int("state_slices");
  const auto slices = m.state_slices();
  for (std::size_t l = 0; l < slices.size(); ++l)
    if (recorded[2 * l] != slices[l].offset || recorded[2 * l + 1] != slices[l].size)
      throw InputError(where + ": state_slices row " + std::to_string(l) + " is " +
                       slice_string(recorded[2 * l], recorded[2 * l + 1]) + ", but the layers give " +
                       slice_string(slices[l].offset, slices[l].size));
  return m;
}

Model read_model(const std::string& path) { return read_model(h5::File::open(path)); }

void write_model(const Model& m, h5::Group& g, const Provenance& p) {
  m.validate(where_of(g) + " (model to write)");
  write_provenance(g, p);
  g.set_attr("format", model_format);
  g.set_attr("format_version", model_format_version);
  g.set_attr("input_size", m.input_size);
  g.set_attr("num_layers", m.num_layers());
  g.set_attr("bidirectional", m.bidirectional ? 1 : 0);
  g.set_attr("dropout", m.dropout);
  g.set_attr("state_dim", m.state_dim());

  std::vector<long long> slices;
  for (const auto& s : m.state_slices()) slices.insert(slices.end(), {s.offset, s.size});
  g.write_int("state_slices", {static_cast<std::size_t>(m.num_layers()), 2}, slices.data());

  for (int l = 1; l <= m.num_layers(); ++l) {
    const LayerSpec& layer = m.layers[static_cast<std::size_t>(l - 1)];
    h5::Group lg = g.create_group("layers/" + std::to_string(l - 1));
    lg.set_attr("cell", std::string(cell_name(layer.cell)));
    lg.set_attr("hidden_size", layer.hidden_size);
    lg.set_attr("input_size", m.layer_input_size(l));
    lg.set_attr("bias", layer.bias ? 1 : 0);
    lg.set_attr("skip", layer.skip ? 1 : 0);
    lg.set_attr("residual", layer.residual ? 1 : 0);
    if (layer.cell == CellType::DeepTransition) {
      lg.set_attr("transition_hidden", std::vector<long long>(layer.transition_hidden.begin(), layer.transition_hidden.end()));
      lg.set_attr("transition_residual", layer.transition_residual ? 1 : 0);
      lg.set_attr("activation", std::string(activation_name(layer.activation)));
    }
    // validate() has checked which parameters exist: write exactly the non-empty ones.
    auto write_params = [&](const CellParams& c, const std::string& suffix) {
      lg.write("weight_ih" + suffix, c.w_ih);
      lg.write("weight_hh" + suffix, c.w_hh);
      if (c.b_ih.size()) lg.write("bias_ih" + suffix, c.b_ih);
      if (c.b_hh.size()) lg.write("bias_hh" + suffix, c.b_hh);
      for (std::size_t k = 0; k < c.mlp_w.size(); ++k) lg.write("mlp_weight_" + std::to_string(k) + suffix, c.mlp_w[k]);
      for (std::size_t k = 0; k < c.mlp_b.size(); ++k) lg.write("mlp_bias_" + std::to_string(k) + suffix, c.mlp_b[k]);
    };
    write_params(layer.fwd, "");
    if (m.bidirectional) write_params(layer.bwd, "_reverse");
    if (layer.residual_proj.size()) lg.write("residual_proj", layer.residual_proj);
  }
  if (m.has_readout()) {
    h5::Group rg = g.create_group("readout");
    rg.write("weight", m.readout_weight);
    if (m.readout_bias.size()) rg.write("bias", m.readout_bias);
  }
}

void write_model(const Model& m, const std::string& path, const Provenance& p) {
  m.validate(path + " (model to write)");
  h5::AtomicOutput out(path);
  write_model(m, out.file(), p);
  out.commit();
}

namespace {

// FILE.h5:/group splits at the last ':' followed by '/'; a plain path has none.
std::pair<std::string, std::string> split_spec(const std::string& spec) {
  const auto colon = spec.rfind(":/");
  if (colon == std::string::npos || colon == 0) return {spec, ""};
  return {spec.substr(0, colon), spec.substr(colon + 1)};
}

}  // namespace

std::string model_spec_file(const std::string& spec) { return split_spec(spec).first; }

Model read_model_spec(const std::string& spec) {
  const auto [path, group] = split_spec(spec);
  if (!group.empty()) {
    const h5::File f = h5::File::open(path);
    if (!f.has(group)) throw InputError(spec + ": " + path + " has no group '" + group + "'");
    return read_model(f.group(group));
  }
  const h5::File f = h5::File::open(path);
  if (f.has_attr("format") && f.attr_string("format") == model_format) return read_model(f);
  for (const char* g : {"final_model", "model"})
    if (f.has(g)) return read_model(f.group(g));
  if (f.has_attr("format") && f.attr_string("format") == run_format) {
    // `stackdyn train` writes RUN.h5.partial and adds /final_model when the run completes.
    const long long last = f.has_attr("last_checkpoint") ? f.attr_int("last_checkpoint") : -1;
    const bool suffix = path.size() > 8 && path.compare(path.size() - 8, 8, ".partial") == 0;
    const std::string run = suffix ? path.substr(0, path.size() - 8) : path;
    throw InputError(path + " is an unfinished training run (format 'stackdyn-run', no /final_model): read one of its "
                     "checkpoints as " + path + ":/checkpoints/" + (last >= 0 ? std::to_string(last) : "<step>") +
                     " or finish it with `stackdyn train CONFIG --resume " + run + "`");
  }
  return read_model(f);  // its message says why the root is not a model
}

void write_state_layout(h5::Group& root, const Model& m) {
  const auto slices = m.state_slices();
  std::vector<long long> table;
  for (const auto& s : slices) {
    table.push_back(s.offset);
    table.push_back(s.size);
  }
  root.write_int("state_slices", {slices.size(), 2}, table.data());
  root.set_dim_labels("state_slices", {"layer", "offset_size"});
  root.set_attr("state_dim", static_cast<long long>(m.state_dim()));
  std::string layout;
  for (std::size_t l = 0; l < slices.size(); ++l) {
    layout += (l ? "; " : "") + std::string("layer ") + std::to_string(l) + " " +
              std::string(cell_name(m.layers[l].cell)) + " [" + std::to_string(slices[l].offset) + ", " +
              std::to_string(slices[l].offset + slices[l].size) + ")" + (slices[l].has_cell_state ? " = [h; c]" : " = h");
  }
  root.set_attr("state_layout", layout);
  // one name per coordinate of the state, a dimension scale for the state axis of the results
  std::vector<std::string> names;
  for (std::size_t l = 0; l < slices.size(); ++l) {
    const int n = slices[l].hidden_size;
    for (int i = 0; i < slices[l].size; ++i)
      names.push_back("layer" + std::to_string(l) + (i < n ? ".h[" + std::to_string(i) : ".c[" + std::to_string(i - n)) +
                      "]");
  }
  root.write_strings("state_names", names);
  root.set_dim_labels("state_names", {"state"});
}

void attach_state_axis(h5::Group& root, const std::string& dataset, std::size_t axis) {
  root.attach_scale(dataset, axis, "state_names", "state");
}

}  // namespace stackdyn
