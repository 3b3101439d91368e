// Training objectives beside the top-level loss, and the parameters they train beside the
// model (docs/training.md, "Auxiliary objectives"). With y^(l) layer l's output stream,
// h^(l) its hidden state, u^(l)_t the stream it read at step t (x for l = 0), and E the
// top-level loss of the task (mse or cross_entropy):
//
//   auxiliary readouts   for each l in aux_layers: p^(l) = R_l y^(l) + r_l, a readout of its
//                        own; the objective gains aux_lambda * E(p^(l), targets).
//   gate penalty         stacked LSTM layers: the objective gains
//                        gate_penalty * sum_{l>=1} mean_{b,t,j} o^(l-1)_{t,j} i^(l)_{t,j},
//                        redundant gating of the same signal by the output gate below and
//                        the input gate above (equal widths).
//   predictive coding    each layer l has a linear predictor of its next state,
//                        hhat^(l)_{t+1} = A_l h^(l)_t + C_l u^(l)_t + c_l  (t = 0 .. T-2),
//                        with e = hhat - h^(l)_{t+1} and the prediction error
//                        P_l = mean over (unit, sample, step) of e^2. The predictors learn
//                        from pc_lambda * sum_l P_l. The layers learn from their own P_l
//                        locally (one step, holding h_t, u, and the prediction fixed: no
//                        gradient through time or to other layers):
//                          local     from pc_lambda * P_l alone (the readout from E);
//                          combined  from E by BPTT plus pc_lambda * P_l locally.
//
// All of these parameters are named as blocks (aux_readouts/<l>/weight, aux_readouts/<l>/bias,
// predictors/<l>/weight_state, predictors/<l>/weight_below, predictors/<l>/bias) that the
// optimiser updates with the model's in one list, as torch would with the modules in one
// optimiser. Layers are 0-based, as in the model file.
#pragma once
#include <stackdyn/core/random.hpp>
#include <stackdyn/model/model.hpp>
#include <stackdyn/training/bptt.hpp>
#include <stackdyn/training/loss.hpp>
#include <stackdyn/training/parameters.hpp>

#include <string>
#include <vector>

namespace stackdyn {

enum class PredictiveCoding { Off, Local, Combined };

struct ObjectiveOptions {
  std::vector<int> aux_layers;  ///< 0-based layers below the top with an auxiliary readout
  double aux_lambda = 1.0;
  double gate_penalty = 0.0;
  PredictiveCoding pc = PredictiveCoding::Off;
  double pc_lambda = 1.0;
};

/// Which LSTM gate train.fix_gate pins at 1: the output gates of every layer below the top,
/// or the input gates of every layer above the bottom (the two factors of the gate penalty).
enum class FixedGate { None, Output, Input };

/// The bias that makes a sigmoid gate exactly 1.0 in float64 (1 + exp(-40) rounds to 1).
inline constexpr double fixed_gate_bias = 40.0;

/// Pins the gate: its rows of weight_ih and weight_hh are 0, of bias_ih fixed_gate_bias, of
/// bias_hh 0, so the gate is exactly 1 in this toolkit and in torch alike, and its gradient
/// is exactly 0. InputError naming `where` when the layers concerned are not LSTM layers with
/// biases.
void fix_lstm_gates(Model& m, FixedGate which, const std::string& where);

class Objective {
 public:
  /// Checks the options against the model (InputError naming `where` and the option) and draws
  /// the extra parameters as torch's nn.Linear would, from `rng`. `prediction_size` is the
  /// width of the task's prediction (the auxiliary readouts' outputs).
  Objective(const Model& m, const ObjectiveOptions& o, int prediction_size, Rng& rng, const std::string& where);
  Objective(const Objective&) = delete;  // the blocks point into its own storage
  Objective& operator=(const Objective&) = delete;

  const ObjectiveOptions& options() const { return o_; }
  /// Whether anything beside the top-level loss is trained.
  bool active() const;
  /// The extra parameters and their gradients, as named blocks (empty when inactive).
  std::vector<ParamBlock> parameters();
  std::vector<ParamBlock> gradients();

  /// The terms of one evaluation: aux[k] = E of the k-th auxiliary readout, gate = the gate
  /// penalty's sum of means (before gate_penalty), pc[l] = P_l; total = the objective the
  /// layers descend (E plus the weighted terms; in local predictive coding the weighted P_l).
  struct Terms {
    std::vector<double> aux, pc;
    double gate = 0.0, total = 0.0;
  };

  /// After bptt.forward() and the top-level loss E = `loss`: evaluates the terms, writes the
  /// extra parameters' gradients (overwriting) and the cotangents that Bptt::backward adds
  /// into the model's gradient: `global` (auxiliary readouts and the gate penalty, with the
  /// prediction's cotangent) and `local` (predictive coding's one-step cotangents, local =
  /// true). Either is left empty when it has nothing.
  Terms evaluate(const Bptt& bptt, const Targets& y, int batch, int steps, double loss, BackwardExtras& global,
                 BackwardExtras& local);

  /// The model's gradient for this objective: Bptt::backward with the cotangents of evaluate().
  void backward(Bptt& bptt, const ConstMatRef& gPred, Model& grad, int truncate, const BackwardExtras& global,
                const BackwardExtras& local);

 private:
  const Model* model_;
  ObjectiveOptions o_;
  std::vector<MatrixXd> aux_w_, pc_a_, pc_c_;
  std::vector<VectorXd> aux_b_, pc_b_;
  std::vector<MatrixXd> grads_;  // in parameters() order
  std::vector<ParamBlock> layout_;
  MatrixXd gp_, zero_;
};

}  // namespace stackdyn
