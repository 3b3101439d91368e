// `stackdyn forward MODEL.h5 INPUT.h5 -o OUT.h5`: run a model over input sequences, with the
// file contract of torch (outputs, h_n, c_n) plus the full state after each step.
#include "command_util.hpp"

#include <stackdyn/core/error.hpp>
#include <stackdyn/model/model_io.hpp>
#include <stackdyn/model/stack.hpp>
#include <stackdyn/model/sequence.hpp>

#include <ostream>

namespace stackdyn::cli {
namespace {

// torch's layout (num_layers*num_directions, batch, hidden) needs one hidden size.
int uniform_hidden(const Model& m) {
  for (const auto& l : m.layers)
    if (l.hidden_size != m.layers.front().hidden_size) return -1;
  return m.layers.front().hidden_size;
}

bool all_lstm(const Model& m) {
  for (const auto& l : m.layers)
    if (l.cell != CellType::Lstm) return false;
  return true;
}

// Reads h0 or c0 (num_layers*num_directions, batch, hidden) into one (hidden, batch) matrix each.
std::vector<Eigen::MatrixXd> read_initial(const h5::File& f, const std::string& name, const Model& m, int B) {
  if (!f.has(name)) return {};
  const int n = uniform_hidden(m);
  if (n < 0)
    throw InputError(f.file_name() + ": dataset '" + name +
                     "' needs layers of one hidden size (torch's layout); give the initial full state as 's0' "
                     "(batch, state_dim) instead");
  const long long K = m.num_layers() * m.num_directions();
  const h5::Array a = read_checked(f, name, {K, B, n}, {"num_layers*num_directions", "batch", "hidden_size"});
  std::vector<Eigen::MatrixXd> out;
  for (long long k = 0; k < K; ++k)
    out.push_back(Eigen::Map<const Eigen::MatrixXd>(a.data.data() + k * B * n, n, B));
  return out;
}

int run_forward(Invocation& inv) {
  const std::string& input = inv.arg("input");
  const Model model = inv.model();
  const h5::File in = h5::File::open(input);
  const h5::Array inputs = read_checked(in, "inputs", {-1, -1, model.input_size}, {"batch", "time", "input_size"});
  const int B = static_cast<int>(inputs.shape[0]), T = static_cast<int>(inputs.shape[1]);
  if (B == 0 || T == 0)
    throw InputError(input + ": dataset 'inputs' has shape " + h5::shape_string(inputs.shape) +
                     ", expected at least one sample and one step");
  std::vector<Eigen::MatrixXd> h0 = read_initial(in, "h0", model, B);
  std::vector<Eigen::MatrixXd> c0;
  if (in.has("c0")) {
    if (!all_lstm(model))
      throw InputError(input + ": dataset 'c0' is only for LSTM models; this model has no cell state in every layer");
    c0 = read_initial(in, "c0", model, B);
  }
  if (in.has("s0")) {
    if (model.bidirectional)
      throw InputError(input + ": dataset 's0' (full state) is for unidirectional models; use h0/c0");
    if (!h0.empty() || !c0.empty())
      throw InputError(input + ": give either 's0' or 'h0'/'c0', not both");
    const h5::Array s0 = read_checked(in, "s0", {B, model.state_dim()}, {"batch", "state_dim"});
    const Eigen::Map<const Eigen::MatrixXd> S0(s0.data.data(), model.state_dim(), B);
    for (const auto& sl : model.state_slices()) {
      h0.push_back(S0.middleRows(sl.offset, sl.hidden_size));
      c0.push_back(sl.has_cell_state ? Eigen::MatrixXd(S0.middleRows(sl.offset + sl.hidden_size, sl.hidden_size))
                                     : Eigen::MatrixXd());
    }
  }

  const SequenceOutput r = run_sequence(model, to_columns(inputs), B, T, h0, c0);

  h5::AtomicOutput out(inv.output);
  h5::File& f = out.file();
  write_provenance(f, make_provenance(inv.ctx, inv.arg("model")));
  f.set_attr("input_path", input);
  f.set_attr("units", std::string("steps"));
  write_state_layout(f, model);
  const auto Bz = static_cast<std::size_t>(B), Tz = static_cast<std::size_t>(T);
  const auto outs = from_columns(r.outputs, Bz, Tz);
  f.write("outputs", {Bz, Tz, static_cast<std::size_t>(r.outputs.rows())}, outs.data());
  f.set_dim_labels("outputs", {"batch", "time", "output"});
  if (model.has_readout()) {
    Eigen::MatrixXd pred;
    apply_readout(model, r.outputs, pred);
    const auto p = from_columns(pred, Bz, Tz);
    f.write("predictions", {Bz, Tz, static_cast<std::size_t>(pred.rows())}, p.data());
    f.set_dim_labels("predictions", {"batch", "time", "output"});
  }
  if (!model.bidirectional) {
    const auto st = from_columns(r.states, Bz, Tz);
    f.write("states", {Bz, Tz, static_cast<std::size_t>(model.state_dim())}, st.data());
    f.set_dim_labels("states", {"batch", "time", "state"});
    attach_state_axis(f, "states", 2);
  }
  // torch's (num_layers*num_directions, batch, hidden) layout when it exists for this model
  const int n = uniform_hidden(model);
  auto write_final = [&](const std::string& name, const std::vector<Eigen::MatrixXd>& per_layer) {
    std::vector<double> buf;
    for (const auto& m : per_layer) buf.insert(buf.end(), m.data(), m.data() + m.size());
    f.write(name, {per_layer.size(), Bz, static_cast<std::size_t>(n)}, buf.data());
    f.set_dim_labels(name, {"layer_direction", "batch", "hidden"});
  };
  if (n > 0) write_final("h_n", r.h_n);
  if (n > 0 && all_lstm(model)) write_final("c_n", r.c_n);
  out.commit();
  inv.ctx.out << inv.output << ": " << B << " sequences of " << T << " steps through " << model.num_layers()
          << " layers\n";
  return 0;
}

const bool registered = register_command({
    .name = "forward",
    .summary = "Run a model over input sequences (torch's outputs, h_n, c_n, and the full states)",
    .positionals = {model_positional(),
                    {"input", "Input file: 'inputs' (batch, time, input_size), optional h0, c0 or s0", Positional::Kind::Input}},
    .footer = "OUT holds outputs (batch, time, num_directions*hidden), predictions (the readout applied to outputs,\n"
              "when the model has one), h_n and c_n as torch returns them (when the\n"
              "layers share one hidden size; c_n for LSTM models), and for unidirectional models states\n"
              "(batch, time, state_dim), the full state vector after each step.",
    .run = run_forward,
});

}  // namespace
}  // namespace stackdyn::cli
