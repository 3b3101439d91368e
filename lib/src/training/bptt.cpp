// Backpropagation through time (see bptt.hpp).
#include <stackdyn/core/gemm.hpp>
#include <stackdyn/core/error.hpp>
#include <stackdyn/model/stack.hpp>
#include <stackdyn/training/bptt.hpp>
#include <stackdyn/training/parameters.hpp>

#include <optional>
#include <type_traits>

namespace stackdyn {

Bptt::Bptt(const Model& model) : model_(&model), layers_(static_cast<std::size_t>(model.num_layers())) {}

void Bptt::forward(const ConstMatRef& X, int B, int T, const std::vector<MatrixXd>& init,
                   const std::vector<MatrixXd>& masks) {
  const Model& m = *model_;
  const int L = m.num_layers(), D = m.num_directions();
  const Eigen::Index cols = static_cast<Eigen::Index>(T) * B;
  if (X.rows() != m.input_size || X.cols() != cols)
    throw InputError("bptt: inputs of shape (" + std::to_string(X.rows()) + ", " + std::to_string(X.cols()) +
                     "), expected (" + std::to_string(m.input_size) + ", " + std::to_string(cols) + ")");
  if (!init.empty() && init.size() != static_cast<std::size_t>(L * D))
    throw InputError("bptt: " + std::to_string(init.size()) + " initial states, expected " + std::to_string(L * D));
  if (!masks.empty() && masks.size() != static_cast<std::size_t>(L - 1))
    throw InputError("bptt: " + std::to_string(masks.size()) + " dropout masks, expected " + std::to_string(L - 1));
  B_ = B;
  T_ = T;
  masks_ = masks;
  // Cells cache sums of biases: rebuilt for the current parameters.
  cells_.clear();
  for (int i = 0; i < L; ++i) {
    const LayerSpec& spec = m.layers[static_cast<std::size_t>(i)];
    for (int d = 0; d < D; ++d) cells_.push_back(make_cell(spec, d == 0 ? spec.fwd : spec.bwd, m.layer_input_size(i + 1)));
  }
  for (int i = 0; i < L; ++i) {
    const LayerSpec& spec = m.layers[static_cast<std::size_t>(i)];
    Layer& ly = layers_[static_cast<std::size_t>(i)];
    const int n = spec.hidden_size, ns = spec.state_size(), w_below = m.stream_width(i);
    ly.U.resize(m.layer_input_size(i + 1), cols);
    if (i == 0)
      ly.U.topRows(w_below) = X;
    else if (!masks_.empty())
      ly.U.topRows(w_below) = layers_[static_cast<std::size_t>(i - 1)].Y.cwiseProduct(masks_[static_cast<std::size_t>(i - 1)]);
    else
      ly.U.topRows(w_below) = layers_[static_cast<std::size_t>(i - 1)].Y;
    if (spec.skip && i >= 1) ly.U.bottomRows(ly.U.rows() - w_below) = i == 1 ? MatrixXd(X) : layers_[static_cast<std::size_t>(i - 2)].H;
    ly.H.resize(D * n, cols);
    for (int d = 0; d < D; ++d) {
      Direction& dr = ly.dir[d];
      dr.trace.resize(static_cast<std::size_t>(T));
      dr.S.resize(ns, static_cast<Eigen::Index>(T + 1) * B);
      if (init.empty())
        dr.S.leftCols(B).setZero();
      else
        dr.S.leftCols(B) = init[static_cast<std::size_t>(i * D + d)];
      std::visit(
          [&](const auto& c) {
            dr.P.resize(c.projection_rows(), cols);
            c.project_input(ly.U, dr.P);
            for (int j = 0; j < T; ++j) {
              const int t = d == 0 ? j : T - 1 - j;
              c.step(dr.P.middleCols(static_cast<Eigen::Index>(t) * B, B), dr.S.middleCols(static_cast<Eigen::Index>(j) * B, B),
                     dr.S.middleCols(static_cast<Eigen::Index>(j + 1) * B, B), dr.trace[static_cast<std::size_t>(j)]);
              ly.H.block(d * n, static_cast<Eigen::Index>(t) * B, n, B) = dr.S.block(0, static_cast<Eigen::Index>(j + 1) * B, n, B);
            }
          },
          cells_[static_cast<std::size_t>(i * D + d)]);
    }
    ly.Y = ly.H;
    if (spec.residual) {
      if (spec.residual_proj.size() > 0)
        ly.Y.noalias() += spec.residual_proj * ly.U.topRows(w_below);
      else
        ly.Y += ly.U.topRows(w_below);
    }
  }
  if (m.has_readout()) apply_readout(m, layers_.back().Y, pred_);
}

MatrixXd Bptt::states() const {
  const Model& m = *model_;
  if (m.bidirectional) throw InputError("bptt: full states exist for unidirectional models only");
  const auto slices = m.state_slices();
  MatrixXd out(m.state_dim(), static_cast<Eigen::Index>(T_) * B_);
  for (int i = 0; i < m.num_layers(); ++i) {
    const auto& S = layers_[static_cast<std::size_t>(i)].dir[0].S;
    out.middleRows(slices[static_cast<std::size_t>(i)].offset, slices[static_cast<std::size_t>(i)].size) = S.rightCols(out.cols());
  }
  return out;
}

MatrixXd Bptt::lstm_gates(int layer) const {
  const Model& m = *model_;
  const LayerSpec& spec = m.layers[static_cast<std::size_t>(layer)];
  if (spec.cell != CellType::Lstm || m.bidirectional)
    throw InputError("bptt: gates of layer " + std::to_string(layer) + " requested, but it is not a unidirectional LSTM layer");
  const auto& tr = layers_[static_cast<std::size_t>(layer)].dir[0].trace;
  MatrixXd G(4 * spec.hidden_size, static_cast<Eigen::Index>(T_) * B_);
  for (int t = 0; t < T_; ++t) G.middleCols(static_cast<Eigen::Index>(t) * B_, B_) = tr[static_cast<std::size_t>(t)].a;
  return G;
}

void Bptt::backward(const ConstMatRef& gPred, Model& grad, int truncate, const BackwardExtras* extras) {
  const auto extra = [&](const std::vector<MatrixXd>& v, int i) -> const MatrixXd* {
    return extras && static_cast<std::size_t>(i) < v.size() && v[static_cast<std::size_t>(i)].size() > 0 ? &v[static_cast<std::size_t>(i)]
                                                                                                          : nullptr;
  };
  const bool local = extras && extras->local;
  const Model& m = *model_;
  const int L = m.num_layers(), D = m.num_directions(), B = B_, T = T_;
  const Eigen::Index cols = static_cast<Eigen::Index>(T) * B;
  if (gPred.rows() != m.prediction_size() || gPred.cols() != cols)
    throw InputError("bptt: prediction cotangent of shape (" + std::to_string(gPred.rows()) + ", " +
                     std::to_string(gPred.cols()) + "), expected (" + std::to_string(m.prediction_size()) + ", " +
                     std::to_string(cols) + ")");
  if (m.has_readout()) {
    gemm(gPred, false, layers_.back().Y, true, grad.readout_weight, 1.0, 1.0);
    if (grad.readout_bias.size() > 0) grad.readout_bias += gPred.rowwise().sum();
    gOut_.resize(m.readout_weight.cols(), cols);
    gemm(m.readout_weight, true, gPred, false, gOut_);
  } else {
    gOut_ = gPred;
  }
  for (auto& ly : layers_) ly.gSkip.setZero(ly.H.rows(), cols);
  gX_.setZero(m.input_size, cols);
  if (local)
    layers_.back().gY.setZero(gOut_.rows(), cols);
  else
    layers_.back().gY = gOut_;
  for (int i = L - 1; i >= 0; --i) {
    const LayerSpec& spec = m.layers[static_cast<std::size_t>(i)];
    LayerSpec& gspec = grad.layers[static_cast<std::size_t>(i)];
    Layer& ly = layers_[static_cast<std::size_t>(i)];
    const int n = spec.hidden_size, ns = spec.state_size(), w_below = m.stream_width(i);
    if (const MatrixXd* e = extras ? extra(extras->stream, i) : nullptr) ly.gY += *e;
    ly.gSkip += ly.gY;  // gSkip now holds dL/dh^(l) over all steps
    if (const MatrixXd* e = extras ? extra(extras->hidden, i) : nullptr) ly.gSkip += *e;
    const MatrixXd* gGates = extras ? extra(extras->gates, i) : nullptr;
    if (gGates && (spec.cell != CellType::Lstm || D != 1 || gGates->rows() != 4 * n || gGates->cols() != cols))
      throw InputError("bptt: gate cotangents for layer " + std::to_string(i) + ", which is not a unidirectional LSTM layer of that size");
    for (int d = 0; d < D; ++d) {
      Direction& dr = ly.dir[d];
      CellParams& gp = d == 0 ? gspec.fwd : gspec.bwd;
      dr.gP.resize(dr.P.rows(), cols);
      carry_[0].setZero(ns, B);
      carry_[1].resize(ns, B);
      int cur = 0;
      std::visit(
          [&](const auto& c) {
            for (int j = T - 1; j >= 0; --j) {
              const int t = d == 0 ? j : T - 1 - j;
              const Eigen::Index tc = static_cast<Eigen::Index>(t) * B;
              G_ = carry_[cur];
              G_.topRows(n) += ly.gSkip.block(d * n, tc, n, B);
              const auto& tr = dr.trace[static_cast<std::size_t>(j)];
              const auto S0 = dr.S.middleCols(static_cast<Eigen::Index>(j) * B, B);
              const auto S1 = dr.S.middleCols(static_cast<Eigen::Index>(j + 1) * B, B);
              if constexpr (std::is_same_v<std::decay_t<decltype(c)>, LstmCell>) {
                std::optional<ConstMatRef> gg;  // this step's gate cotangents, if any
                if (gGates) gg.emplace(gGates->middleCols(tc, B));
                c.backward(tr, S0, S1, G_, dr.gP.middleCols(tc, B), carry_[1 - cur], gp, scratch_, gg ? &*gg : nullptr);
              } else {
                c.backward(tr, S0, S1, G_, dr.gP.middleCols(tc, B), carry_[1 - cur], gp, scratch_);
              }
              cur = 1 - cur;
              if (local || (truncate > 0 && j % truncate == 0)) carry_[cur].setZero();
            }
          },
          cells_[static_cast<std::size_t>(i * D + d)]);
      gemm(dr.gP, false, ly.U, true, gp.w_ih, 1.0, 1.0);
      if (gp.b_ih.size() > 0) gp.b_ih += dr.gP.rowwise().sum();
      const MatrixXd& W = d == 0 ? spec.fwd.w_ih : spec.bwd.w_ih;
      if (d == 0) ly.gU.resize(W.cols(), cols);
      gemm(W, true, dr.gP, false, ly.gU, 1.0, d == 0 ? 0.0 : 1.0);
    }
    if (spec.residual && spec.residual_proj.size() > 0)
      gspec.residual_proj.noalias() += ly.gY * ly.U.topRows(w_below).transpose();
    // The cotangent of the (masked) stream that this layer read: its input and its residual term.
    auto gIn = ly.gU.topRows(w_below);
    if (spec.residual) {
      if (spec.residual_proj.size() > 0)
        gIn.noalias() += spec.residual_proj.transpose() * ly.gY;
      else
        gIn += ly.gY;
    }
    if (i == 0) {
      gX_ += gIn;  // the input stream y^(0) = x, never masked
      break;
    }
    if (local) {  // nothing flows to the layers below
      layers_[static_cast<std::size_t>(i - 1)].gY.setZero(gIn.rows(), cols);
      continue;
    }
    if (spec.skip && i == 1) gX_ += ly.gU.bottomRows(ly.gU.rows() - w_below);  // layer 2 (1-based) skips to x
    Layer& below = layers_[static_cast<std::size_t>(i - 1)];
    if (!masks_.empty())
      below.gY = gIn.cwiseProduct(masks_[static_cast<std::size_t>(i - 1)]);
    else
      below.gY = gIn;
    if (spec.skip && i >= 2) layers_[static_cast<std::size_t>(i - 2)].gSkip += ly.gU.bottomRows(ly.gU.rows() - w_below);
  }
}

MatrixXd output_input_dependency(const Model& model, const ConstMatRef& X, const std::vector<VectorXd>& init) {
  Model m = model;  // y is the top stream: without the readout
  m.readout_weight.resize(0, 0);
  m.readout_bias.resize(0);
  const int O = m.output_size(), d = m.input_size;
  const auto T = static_cast<int>(X.cols());
  if (X.rows() != d)
    throw InputError("output_input_dependency: inputs of " + std::to_string(X.rows()) + " rows; expected input_size = " +
                     std::to_string(d));
  // Batch column t*O + k: sample k, a copy of the sequence whose cotangent is the k-th unit of y_t.
  MatrixXd Xr(d, static_cast<Eigen::Index>(T) * O);
  for (int t = 0; t < T; ++t) Xr.middleCols(static_cast<Eigen::Index>(t) * O, O) = X.col(t).replicate(1, O);
  std::vector<MatrixXd> init_r;
  for (const auto& v : init) init_r.push_back(v.replicate(1, O));
  Bptt bptt(m);
  bptt.forward(Xr, O, T, init_r);
  Model grad = zeros_like(m);
  MatrixXd gY = MatrixXd::Zero(O, Xr.cols()), dep(T, T);
  for (int t = 0; t < T; ++t) {
    gY.middleCols(static_cast<Eigen::Index>(t) * O, O).setIdentity();
    bptt.backward(gY, grad);
    gY.middleCols(static_cast<Eigen::Index>(t) * O, O).setZero();
    const MatrixXd& gX = bptt.input_cotangent();
    for (int s = 0; s < T; ++s) dep(t, s) = gX.middleCols(static_cast<Eigen::Index>(s) * O, O).norm();
  }
  return dep;
}

MatrixXd full_state_adjoint(const Model& model, const ConstMatRef& X, const ConstMatRef& states, const ConstMatRef& gOut,
                            int B, int T, int truncate) {
  const Stack stack(model);
  const int L = model.num_layers();
  const auto slices = model.state_slices();
  const Eigen::Index cols = static_cast<Eigen::Index>(T) * B;
  // dl_t/ds_t: the top stream is h^(L) plus, through residual layers, the streams below at
  // the same step; the other layers' states are held fixed, so nothing flows through inputs.
  MatrixXd g = MatrixXd::Zero(model.state_dim(), cols);
  MatrixXd gy = gOut;
  for (int i = L - 1; i >= 0; --i) {
    const LayerSpec& spec = model.layers[static_cast<std::size_t>(i)];
    g.middleRows(slices[static_cast<std::size_t>(i)].offset, spec.hidden_size) = gy;
    if (!spec.residual || i == 0) break;
    gy = spec.residual_proj.size() > 0 ? MatrixXd(spec.residual_proj.transpose() * gy) : gy;
  }
  Stack::Linearization lin = stack.linearize(X.col(0), states.col(0));
  VectorXd gx(model.input_size), gs(model.state_dim());
  for (int t = T - 2; t >= 0; --t) {
    if (truncate > 0 && (t + 1) % truncate == 0) continue;  // step t + 1 begins a window: nothing flows back
    for (int b = 0; b < B; ++b) {
      const Eigen::Index c = static_cast<Eigen::Index>(t) * B + b, next = c + B;
      stack.linearize(X.col(next), states.col(c), lin);
      stack.vjp(lin, g.col(next), gx, gs);
      g.col(c) += gs;
    }
  }
  return g;
}

}  // namespace stackdyn
