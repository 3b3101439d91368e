// `stackdyn gradients MODEL.h5 DATA.h5 -o GRADS.h5`: the loss of a model on a data set and
// its gradient in every parameter by backpropagation through time (docs/training.md).
#include "cli.hpp"
#include "command_util.hpp"

#include <stackdyn/core/error.hpp>
#include <stackdyn/model/model_io.hpp>
#include <stackdyn/training/bptt.hpp>
#include <stackdyn/training/data.hpp>
#include <stackdyn/training/parameters.hpp>

#include <optional>
#include <ostream>

namespace stackdyn::cli {
namespace {

struct GradientsOptions {
  std::string model, data, output, loss;
  int truncate = 0;
};

int run_gradients(const GradientsOptions& o, Context& ctx) {
  const Model model = read_model(o.model);
  std::optional<LossKind> loss;
  if (!o.loss.empty()) loss = parse_loss(o.loss, "--loss");
  if (o.truncate < 0) throw InputError("--truncate is " + std::to_string(o.truncate) + ", expected >= 0 (0 = full BPTT)");
  const h5::File in = h5::File::open(o.data);
  const SequenceData d = read_sequence_data(in, model, loss);

  Bptt bptt(model);
  bptt.forward(d.X, d.N, d.T, d.init);
  MatrixXd gPred;
  const double L = loss_and_gradient(d.y, bptt.predictions(), d.N, d.T, &gPred);
  Model grad = zeros_like(model);
  bptt.backward(gPred, grad, o.truncate);

  h5::AtomicOutput out(o.output);
  h5::File& f = out.file();
  write_provenance(f, make_provenance(ctx, o.model));
  f.set_attr("data_path", o.data);
  f.set_attr("loss_function", std::string(loss_name(d.y.kind)));
  f.set_attr("truncate", o.truncate);
  f.write("loss", {}, &L);
  write_blocks(f, grad);
  if (!model.bidirectional) {
    write_state_layout(f, model);
    const MatrixXd g = full_state_adjoint(model, d.X, bptt.states(), bptt.output_cotangent(), d.N, d.T);
    const auto buf = from_columns(g, static_cast<std::size_t>(d.N), static_cast<std::size_t>(d.T));
    f.write("dloss_dstates", {static_cast<std::size_t>(d.N), static_cast<std::size_t>(d.T), static_cast<std::size_t>(model.state_dim())},
            buf.data());
    f.set_dim_labels("dloss_dstates", {"batch", "time", "state"});
  }
  out.commit();
  ctx.out << o.output << ": " << loss_name(d.y.kind) << " loss " << L << " over " << d.N << " sequences of " << d.T
          << " steps; gradients of " << model.parameter_count() << " parameters\n";
  return 0;
}

const bool registered = register_command(
    {"gradients", "Loss and its gradient in every parameter by backpropagation through time",
     [](CLI::App& sub) -> Runner {
       auto o = std::make_shared<GradientsOptions>();
       sub.add_option("model", o->model, "Model file (HDF5)")->required();
       sub.add_option("data", o->data,
                      "Data file: 'inputs' (batch, time, input_size), 'targets' (float: (batch, time, O) or (batch, O); "
                      "int64 classes: (batch, time) or (batch,)), optional h0, c0 or s0")
           ->required();
       sub.add_option("-o,--output", o->output, "Result file (HDF5)")->required();
       sub.add_option("--loss", o->loss, "mse (default for float targets) or cross_entropy (default for integer targets)");
       sub.add_option("--truncate", o->truncate, "BPTT window in steps (0 = full)");
       sub.footer(
           "GRADS holds loss (scalar), the gradient of every parameter under the model file's names and shapes\n"
           "(layers/<l>/weight_ih, ..., readout/weight, readout/bias) and, for unidirectional models,\n"
           "dloss_dstates (batch, time, state_dim): the adjoint of the full-state map (docs/design.md 4).");
       return [o](Context& ctx) { return run_gradients(*o, ctx); };
     }});

}  // namespace
}  // namespace stackdyn::cli
