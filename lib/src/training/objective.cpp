// Auxiliary training objectives (see objective.hpp).
#include <stackdyn/core/error.hpp>
#include <stackdyn/model/init.hpp>
#include <stackdyn/training/objective.hpp>

#include <algorithm>

namespace stackdyn {

namespace {

std::string layer_name(int l) { return "layer " + std::to_string(l); }

// Layers whose gate `which` train.fix_gate pins, and the gate's first row (i: 0, o: 3n).
std::vector<int> fixed_gate_layers(const Model& m, FixedGate which) {
  std::vector<int> out;
  const int L = m.num_layers();
  if (which == FixedGate::Output)
    for (int l = 0; l + 1 < L; ++l) out.push_back(l);
  if (which == FixedGate::Input)
    for (int l = 1; l < L; ++l) out.push_back(l);
  return out;
}

}  // namespace

void fix_lstm_gates(Model& m, FixedGate which, const std::string& where) {
  if (which == FixedGate::None) return;
  const auto layers = fixed_gate_layers(m, which);
  if (layers.empty()) throw InputError(where + ": the model has one layer; there is no gate between layers to fix");
  for (int l : layers) {
    LayerSpec& s = m.layers[static_cast<std::size_t>(l)];
    if (s.cell != CellType::Lstm || !s.bias)
      throw InputError(where + ": " + layer_name(l) + " is not an LSTM layer with biases; expected LSTM layers with biases");
    const int n = s.hidden_size, r0 = which == FixedGate::Output ? 3 * n : 0;
    for (CellParams* p : {&s.fwd, &s.bwd}) {
      if (p->w_ih.size() == 0) continue;  // the reverse direction of a unidirectional layer
      p->w_ih.middleRows(r0, n).setZero();
      p->w_hh.middleRows(r0, n).setZero();
      p->b_ih.segment(r0, n).setConstant(fixed_gate_bias);
      p->b_hh.segment(r0, n).setZero();
    }
  }
}

Objective::Objective(const Model& m, const ObjectiveOptions& o, int prediction_size, Rng& rng, const std::string& where)
    : model_(&m), o_(o) {
  const int L = m.num_layers();
  std::sort(o_.aux_layers.begin(), o_.aux_layers.end());
  if (std::adjacent_find(o_.aux_layers.begin(), o_.aux_layers.end()) != o_.aux_layers.end())
    throw InputError(where + ": train.aux_layers names a layer twice");
  for (int l : o_.aux_layers)
    if (l < 0 || l >= L - 1)
      throw InputError(where + ": train.aux_layers has layer " + std::to_string(l) + "; expected layers below the top, 0 .. " +
                       std::to_string(L - 2) + " (0-based)");
  if (o_.gate_penalty > 0) {
    if (L < 2) throw InputError(where + ": train.gate_penalty needs at least two LSTM layers");
    if (m.bidirectional) throw InputError(where + ": train.gate_penalty needs a unidirectional model");
    for (int l = 0; l < L; ++l) {
      const LayerSpec& s = m.layers[static_cast<std::size_t>(l)];
      if (s.cell != CellType::Lstm)
        throw InputError(where + ": train.gate_penalty needs LSTM layers; " + layer_name(l) + " is not one");
      if (s.hidden_size != m.layers[0].hidden_size)
        throw InputError(where + ": train.gate_penalty multiplies the gates of adjacent layers elementwise; " +
                         layer_name(l) + " has " + std::to_string(s.hidden_size) + " units, " + layer_name(0) + " " +
                         std::to_string(m.layers[0].hidden_size) + "; expected equal widths");
    }
  }
  if (o_.pc != PredictiveCoding::Off) {
    if (m.bidirectional) throw InputError(where + ": train.predictive_coding needs a unidirectional model");
    if (o_.pc == PredictiveCoding::Local && (!o_.aux_layers.empty() || o_.gate_penalty > 0))
      throw InputError(where + ": train.predictive_coding = \"local\" trains the layers from their own prediction errors "
                               "alone; auxiliary readouts and the gate penalty need \"combined\"");
  }
  for (int l : o_.aux_layers) {
    aux_w_.emplace_back();
    aux_b_.emplace_back();
    linear_init(aux_w_.back(), aux_b_.back(), prediction_size, m.stream_width(l + 1), rng);
  }
  if (o_.pc != PredictiveCoding::Off)
    for (int l = 0; l < L; ++l) {
      const int n = m.layers[static_cast<std::size_t>(l)].hidden_size, w = m.stream_width(l);
      MatrixXd W;
      pc_b_.emplace_back();
      linear_init(W, pc_b_.back(), n, n + w, rng);  // one nn.Linear of [h_t; u_t]
      pc_a_.push_back(W.leftCols(n));
      pc_c_.push_back(W.rightCols(w));
    }
  for (std::size_t k = 0; k < aux_w_.size(); ++k) {
    const std::string p = "aux_readouts/" + std::to_string(o_.aux_layers[k]) + "/";
    layout_.push_back({p + "weight", aux_w_[k].data(), aux_w_[k].rows(), aux_w_[k].cols(), false, o_.aux_layers[k]});
    layout_.push_back({p + "bias", aux_b_[k].data(), aux_b_[k].size(), 1, true, o_.aux_layers[k]});
  }
  for (std::size_t l = 0; l < pc_a_.size(); ++l) {
    const std::string p = "predictors/" + std::to_string(l) + "/";
    const int li = static_cast<int>(l);
    layout_.push_back({p + "weight_state", pc_a_[l].data(), pc_a_[l].rows(), pc_a_[l].cols(), false, li});
    layout_.push_back({p + "weight_below", pc_c_[l].data(), pc_c_[l].rows(), pc_c_[l].cols(), false, li});
    layout_.push_back({p + "bias", pc_b_[l].data(), pc_b_[l].size(), 1, true, li});
  }
  blocks_like(layout_, grads_);
}

bool Objective::active() const { return !o_.aux_layers.empty() || o_.gate_penalty > 0 || o_.pc != PredictiveCoding::Off; }

std::vector<ParamBlock> Objective::parameters() { return layout_; }
std::vector<ParamBlock> Objective::gradients() { return blocks_over(layout_, grads_); }

Objective::Terms Objective::evaluate(const Bptt& bptt, const Targets& y, int B, int T, double loss, BackwardExtras& global,
                                     BackwardExtras& local) {
  const Model& m = *model_;
  const int L = m.num_layers();
  const Eigen::Index cols = static_cast<Eigen::Index>(T) * B;
  Terms terms;
  terms.total = o_.pc == PredictiveCoding::Local ? 0.0 : loss;
  global.stream.clear();
  global.gates.clear();
  local.hidden.clear();
  local.local = true;
  std::size_t g = 0;  // the next gradient block
  // Auxiliary readouts: p = R y^(l) + r, weighted by aux_lambda.
  if (!o_.aux_layers.empty()) global.stream.assign(static_cast<std::size_t>(L), MatrixXd());
  for (std::size_t k = 0; k < o_.aux_layers.size(); ++k) {
    const int l = o_.aux_layers[k];
    const MatrixXd& Y = bptt.stream(l);
    MatrixXd P = aux_w_[k] * Y;
    P.colwise() += aux_b_[k];
    const double e = loss_and_gradient(y, P, B, T, &gp_);
    terms.aux.push_back(e);
    terms.total += o_.aux_lambda * e;
    gp_ *= o_.aux_lambda;
    grads_[g++].noalias() = gp_ * Y.transpose();
    grads_[g++] = gp_.rowwise().sum();
    global.stream[static_cast<std::size_t>(l)].noalias() = aux_w_[k].transpose() * gp_;
  }
  // Gate penalty: mean over (unit, sample, step) of o^(l-1) i^(l), for each pair of layers.
  if (o_.gate_penalty > 0) {
    const int n = m.layers[0].hidden_size;
    const double scale = o_.gate_penalty / static_cast<double>(static_cast<Eigen::Index>(n) * cols);
    global.gates.assign(static_cast<std::size_t>(L), MatrixXd());
    std::vector<MatrixXd> gates;
    for (int l = 0; l < L; ++l) {
      gates.push_back(bptt.lstm_gates(l));
      global.gates[static_cast<std::size_t>(l)].setZero(4 * n, cols);
    }
    double sum = 0.0;
    for (int l = 1; l < L; ++l) {
      const auto o_below = gates[static_cast<std::size_t>(l - 1)].bottomRows(n);
      const auto i_here = gates[static_cast<std::size_t>(l)].topRows(n);
      sum += o_below.cwiseProduct(i_here).sum() / static_cast<double>(static_cast<Eigen::Index>(n) * cols);
      global.gates[static_cast<std::size_t>(l - 1)].bottomRows(n) += scale * i_here;
      global.gates[static_cast<std::size_t>(l)].topRows(n) += scale * o_below;
    }
    terms.gate = sum;
    terms.total += o_.gate_penalty * sum;
  }
  // Predictive coding: e_t = A h_t + C u_t + c - h_{t+1}, t = 0 .. T-2.
  if (o_.pc != PredictiveCoding::Off) {
    local.hidden.assign(static_cast<std::size_t>(L), MatrixXd());
    const Eigen::Index c = cols - B;  // columns of the predicted steps
    for (int l = 0; l < L; ++l) {
      const MatrixXd& H = bptt.hidden(l);
      const auto U = bptt.stream_below(l);
      const auto& A = pc_a_[static_cast<std::size_t>(l)];
      const auto& C = pc_c_[static_cast<std::size_t>(l)];
      MatrixXd E = A * H.leftCols(c);
      E.noalias() += C * U.leftCols(c);
      E.colwise() += pc_b_[static_cast<std::size_t>(l)];
      E -= H.rightCols(c);
      const double N = static_cast<double>(E.size());
      const double err = N > 0 ? E.squaredNorm() / N : 0.0;
      terms.pc.push_back(err);
      terms.total += o_.pc_lambda * err;
      if (N == 0) {  // one step: nothing to predict
        for (int k = 0; k < 3; ++k) grads_[g++].setZero();
        continue;
      }
      E *= 2.0 * o_.pc_lambda / N;  // the cotangent of the prediction
      grads_[g++].noalias() = E * H.leftCols(c).transpose();
      grads_[g++].noalias() = E * U.leftCols(c).transpose();
      grads_[g++] = E.rowwise().sum();
      MatrixXd& gh = local.hidden[static_cast<std::size_t>(l)];
      gh.setZero(H.rows(), cols);
      gh.rightCols(c) = -E;  // the target side: h_{t+1} through the layer's own step
    }
  }
  return terms;
}

void Objective::backward(Bptt& bptt, const ConstMatRef& gPred, Model& grad, int truncate, const BackwardExtras& global,
                         const BackwardExtras& local) {
  switch (o_.pc) {
    case PredictiveCoding::Local:
      bptt.backward(gPred, grad, truncate, &local);  // the readout from E; the layers from their own errors
      return;
    case PredictiveCoding::Combined:
      bptt.backward(gPred, grad, truncate, &global);
      zero_.setZero(gPred.rows(), gPred.cols());
      bptt.backward(zero_, grad, truncate, &local);
      return;
    case PredictiveCoding::Off:
      bptt.backward(gPred, grad, truncate, active() ? &global : nullptr);
      return;
  }
}

}  // namespace stackdyn
