// `stackdyn gradients MODEL.h5 DATA.h5 -o GRADS.h5`: the loss of a model on a data set and
// its gradient in every parameter by backpropagation through time (docs/training.md).
#include "command.hpp"
#include "command_util.hpp"

#include <stackdyn/core/error.hpp>
#include <stackdyn/core/format.hpp>
#include <stackdyn/model/model_io.hpp>
#include <stackdyn/training/bptt.hpp>
#include <stackdyn/training/data.hpp>
#include <stackdyn/training/parameters.hpp>

#include <optional>
#include <ostream>

namespace stackdyn::cli {
namespace {

int run_gradients(Invocation& inv) {
  const std::string& data = inv.arg("data");
  const Model model = inv.model();
  std::optional<LossKind> loss;
  if (inv.config.has("loss")) loss = parse_loss(inv.config.get_string("loss"), "--loss");
  // 0 is full BPTT; a window longer than the sequences is the same.
  const int truncate = static_cast<int>(inv.config.get_int("truncate", 0, Range::closed(0, 2147483647.0)));
  const h5::File in = h5::File::open(data);
  const SequenceData d = read_sequence_data(in, model, loss);

  Bptt bptt(model);
  bptt.forward(d.X, d.N, d.T, d.init);
  MatrixXd gPred;
  const double L = loss_and_gradient(d.y, bptt.predictions(), d.N, d.T, &gPred);
  Model grad = zeros_like(model);
  bptt.backward(gPred, grad, truncate);

  h5::AtomicOutput out(inv.output);
  h5::File& f = out.file();
  write_provenance(f, make_provenance(inv.ctx, inv.arg("model")));
  f.set_attr("data_path", data);
  f.set_attr("loss_function", std::string(loss_name(d.y.kind)));
  f.set_attr("truncate", truncate);
  f.write("loss", {}, &L);
  write_blocks(f, grad);
  if (!model.bidirectional) {
    write_state_layout(f, model);
    const MatrixXd g = full_state_adjoint(model, d.X, bptt.states(), bptt.output_cotangent(), d.N, d.T, truncate);
    const auto buf = from_columns(g, static_cast<std::size_t>(d.N), static_cast<std::size_t>(d.T));
    f.write("dloss_dstates", {static_cast<std::size_t>(d.N), static_cast<std::size_t>(d.T), static_cast<std::size_t>(model.state_dim())},
            buf.data());
    f.set_dim_labels("dloss_dstates", {"batch", "time", "state"});
  }
  out.commit();
  inv.ctx.out << inv.output << ": " << loss_name(d.y.kind) << " loss " << format_number(L) << " over " << d.N << " sequences of " << d.T
          << " steps; gradients of " << model.parameter_count() << " parameters\n";
  return 0;
}

const bool registered = register_command({
    .name = "gradients",
    .summary = "Loss and its gradient in every parameter by backpropagation through time",
    .positionals = {model_positional(),
                    {"data",
                     "Data file: 'inputs' (batch, time, input_size), 'targets' (float: (batch, time, O) or (batch, O); "
                     "int64 classes: (batch, time) or (batch,)), optional h0, c0 or s0",
                     Positional::Kind::Input}},
    .options = {{"--loss", "loss", ValueKind::Text, "",
                 "mse (default for float targets) or cross_entropy (default for integer targets)", ""},
                {"--truncate", "truncate", ValueKind::Integer, "0", "BPTT window in steps (0 = full)", ""}},
    .footer = "GRADS holds loss (scalar), the gradient of every parameter under the model file's names and shapes\n"
              "(layers/<l>/weight_ih, ..., readout/weight, readout/bias) and, for unidirectional models,\n"
              "dloss_dstates (batch, time, state_dim): the adjoint of the full-state map (docs/design.md 4),\n"
              "cut where each --truncate window begins as the weight gradients are.",
    .run = run_gradients,
});

}  // namespace
}  // namespace stackdyn::cli
