// One step of the whole stack and its derivatives (see stack.hpp).
#include <stackdyn/core/error.hpp>
#include <stackdyn/model/stack.hpp>

#include <algorithm>
#include <vector>

namespace stackdyn {

Stack::Stack(const Model& model, Coupling coupling) : m_(&model), coupling_(coupling) {
  if (model.bidirectional)
    throw InputError("a bidirectional model is a sequence model, not a causal dynamical system: "
                     "dynamics need a unidirectional model");
  slices_ = model.state_slices();
  state_dim_ = model.state_dim();
  stream_width_.push_back(model.input_size);
  for (int l = 1; l <= model.num_layers(); ++l) {
    const LayerSpec& spec = model.layers[l - 1];
    in_width_.push_back(model.layer_input_size(l));
    stream_width_.push_back(model.stream_width(l));
    cells_.push_back(make_cell(spec, spec.fwd, in_width_.back()));
  }
}

Stack::Workspace Stack::make_workspace() const {
  Workspace ws;
  const auto L = cells_.size();
  ws.trace.resize(L);
  ws.U.resize(L);
  ws.P.resize(L);
  ws.Y.resize(L);
  return ws;
}

template <class Below, class Skip>
void Stack::assemble_input(int i, const Below& below, const Skip& skip_part, MatrixXd& U) const {
  U.resize(in_width_[i], below.cols());
  U.topRows(below.rows()) = below;
  U.bottomRows(skip_part.rows()) = skip_part;
}

void Stack::step(const ConstMatRef& X, const ConstMatRef& S, MatRef S_new, Workspace& ws) const {
  const int B = static_cast<int>(X.cols());
  // The states that the layers above read: new (discrete map) or current (continuous view).
  const ConstMatRef src = coupling_ == Coupling::Sequential ? ConstMatRef(S_new) : S;
  for (int i = 0; i < num_layers(); ++i) {
    const LayerSpec& spec = m_->layers[i];
    const StateSlice& sl = slices_[i];
    const ConstMatRef below = i == 0 ? ConstMatRef(X) : ConstMatRef(ws.Y[i - 1]);
    const MatrixXd* U = nullptr;
    if (spec.skip) {
      if (i == 1)
        assemble_input(i, below, X, ws.U[i]);
      else
        assemble_input(i, below, src.middleRows(slices_[i - 2].offset, slices_[i - 2].hidden_size), ws.U[i]);
      U = &ws.U[i];
    }
    std::visit(
        [&](const auto& cell) {
          ws.P[i].resize(cell.projection_rows(), B);
          if (U)
            cell.project_input(*U, ws.P[i]);
          else
            cell.project_input(below, ws.P[i]);
          cell.step(ws.P[i], S.middleRows(sl.offset, sl.size), S_new.middleRows(sl.offset, sl.size), ws.trace[i]);
        },
        cells_[i]);
    ws.Y[i] = src.middleRows(sl.offset, sl.hidden_size);
    if (spec.residual) {
      if (spec.residual_proj.size() > 0)
        ws.Y[i].noalias() += spec.residual_proj * below;
      else
        ws.Y[i] += below;
    }
  }
}

void Stack::layer_input(int i, const ConstMatRef& X, const ConstMatRef& S_below, MatrixXd& U, Workspace& ws) const {
  const auto h = [&](int j) { return S_below.middleRows(slices_[j].offset, slices_[j].hidden_size); };
  if (i == 0) {
    U = X;
    return;
  }
  // The stream y^(i-1): h^(i-1), plus the residual chain below it.
  int first = i - 1;
  while (first > 0 && m_->layers[first].residual) --first;
  for (int j = first; j < i; ++j) {
    const LayerSpec& spec = m_->layers[j];
    ws.Y[j] = h(j);
    if (!spec.residual) continue;
    const ConstMatRef below = j == 0 ? X : ConstMatRef(ws.Y[j - 1]);
    if (spec.residual_proj.size() > 0)
      ws.Y[j].noalias() += spec.residual_proj * below;
    else
      ws.Y[j] += below;
  }
  if (!m_->layers[i].skip) {
    U = ws.Y[i - 1];
    return;
  }
  if (i == 1)
    assemble_input(i, ws.Y[0], X, U);
  else
    assemble_input(i, ws.Y[i - 1], h(i - 2), U);
}

std::vector<int> Stack::layers_read(int i) const {
  std::vector<int> r;
  if (i == 0) return r;
  if (m_->layers[i].skip && i >= 2) r.push_back(i - 2);
  for (int j = i - 1; j >= 0; --j) {
    if (std::find(r.begin(), r.end(), j) == r.end()) r.push_back(j);
    if (!m_->layers[j].residual) break;
  }
  std::sort(r.begin(), r.end());
  return r;
}

Stack::Linearization Stack::linearize(const Eigen::Ref<const VectorXd>& x,
                                      const Eigen::Ref<const VectorXd>& s) const {
  Linearization lin;
  lin.ws = make_workspace();
  linearize(x, s, lin);
  return lin;
}

void Stack::linearize(const Eigen::Ref<const VectorXd>& x, const Eigen::Ref<const VectorXd>& s,
                      Linearization& lin) const {
  if (x.size() != input_size() || s.size() != state_dim_)
    throw InputError("linearisation point has input width " + std::to_string(x.size()) + " and state width " +
                     std::to_string(s.size()) + ", expected " + std::to_string(input_size()) + " and " +
                     std::to_string(state_dim_));
  lin.x = x;
  lin.s = s;
  lin.s_next.resize(state_dim_);
  if (lin.ws.trace.size() != cells_.size()) lin.ws = make_workspace();
  step(lin.x, lin.s, lin.s_next, lin.ws);
  for (int i = 0; i < num_layers(); ++i) lin.ws.trace[i].s = s.segment(slices_[i].offset, slices_[i].size);
}

void Stack::jvp(const Linearization& lin, const ConstMatRef& dX, const ConstMatRef& dS, MatRef out) const {
  tangent(lin, dX, dS, out, -1, MatrixXd(), MatrixXd());
}

void Stack::weight_jvp(const Linearization& lin, int layer, const MatrixXd& dW_ih, const MatrixXd& dW_hh,
                       MatRef out) const {
  if (layer < 0 || layer >= num_layers()) throw InputError("weight_jvp: no layer " + std::to_string(layer));
  const CellParams& p = m_->layers[static_cast<std::size_t>(layer)].fwd;
  if ((dW_ih.size() > 0 && (dW_ih.rows() != p.w_ih.rows() || dW_ih.cols() != p.w_ih.cols())) ||
      (dW_hh.size() > 0 && (dW_hh.rows() != p.w_hh.rows() || dW_hh.cols() != p.w_hh.cols())))
    throw InputError("weight_jvp: the direction's shapes differ from layer " + std::to_string(layer) + "'s weights");
  tangent(lin, MatrixXd::Zero(input_size(), 1), MatrixXd::Zero(state_dim_, 1), out, layer, dW_ih, dW_hh);
}

void Stack::tangent(const Linearization& lin, const ConstMatRef& dX, const ConstMatRef& dS, MatRef out, int layer,
                    const MatrixXd& dW_ih, const MatrixXd& dW_hh) const {
  std::vector<MatrixXd> dY(cells_.size());
  MatrixXd dU;
  const ConstMatRef src = coupling_ == Coupling::Sequential ? ConstMatRef(out) : dS;
  for (int i = 0; i < num_layers(); ++i) {
    const LayerSpec& spec = m_->layers[i];
    const StateSlice& sl = slices_[i];
    const ConstMatRef below = i == 0 ? ConstMatRef(dX) : ConstMatRef(dY[i - 1]);
    if (spec.skip) {
      if (i == 1)
        assemble_input(i, below, dX, dU);
      else
        assemble_input(i, below, src.middleRows(slices_[i - 2].offset, slices_[i - 2].hidden_size), dU);
    }
    std::visit(
        [&](const auto& cell) {
          cell.jvp(lin.ws.trace[i], spec.skip ? ConstMatRef(dU) : below, dS.middleRows(sl.offset, sl.size),
                   out.middleRows(sl.offset, sl.size));
          if (i != layer) return;
          // the layer's input at the linearisation point, as step() assembled it
          const ConstMatRef u = spec.skip ? ConstMatRef(lin.ws.U[i])
                                          : i == 0 ? ConstMatRef(lin.x) : ConstMatRef(lin.ws.Y[i - 1]);
          MatrixXd w(sl.size, 1);
          cell.weight_jvp(lin.ws.trace[i], u, dW_ih, dW_hh, w);
          out.middleRows(sl.offset, sl.size) += w;
        },
        cells_[i]);
    dY[i] = src.middleRows(sl.offset, sl.hidden_size);
    if (spec.residual) {
      if (spec.residual_proj.size() > 0)
        dY[i].noalias() += spec.residual_proj * below;
      else
        dY[i] += below;
    }
  }
}

void Stack::vjp(const Linearization& lin, const ConstMatRef& G, MatRef gX, MatRef gS) const {
  const auto k = G.cols();
  const int L = num_layers();
  gX.setZero();
  // Cotangents on each stream y^(l) and on each h^(l) read by a skip connection.
  std::vector<MatrixXd> gY(L), gH(L);
  for (int i = 0; i < L; ++i) {
    gY[i] = MatrixXd::Zero(stream_width_[i + 1], k);
    gH[i] = MatrixXd::Zero(slices_[i].hidden_size, k);
  }
  MatrixXd Gi, gU;
  for (int i = L - 1; i >= 0; --i) {
    const LayerSpec& spec = m_->layers[i];
    const StateSlice& sl = slices_[i];
    MatRef gBelow = i == 0 ? gX : MatRef(gY[i - 1]);
    Gi = G.middleRows(sl.offset, sl.size);
    // y = h + ..., and h read by a skip: with Sequential coupling the layers above read the
    // new h (a cotangent on this layer's output); with Simultaneous, the current h.
    if (coupling_ == Coupling::Sequential) Gi.topRows(sl.hidden_size) += gY[i] + gH[i];
    if (spec.residual) {
      if (spec.residual_proj.size() > 0)
        gBelow.noalias() += spec.residual_proj.transpose() * gY[i];
      else
        gBelow += gY[i];
    }
    gU.resize(in_width_[i], k);
    std::visit([&](const auto& cell) { cell.vjp(lin.ws.trace[i], Gi, gU, gS.middleRows(sl.offset, sl.size)); },
               cells_[i]);
    if (coupling_ == Coupling::Simultaneous) gS.middleRows(sl.offset, sl.hidden_size) += gY[i] + gH[i];
    gBelow += gU.topRows(stream_width_[i]);
    if (spec.skip) {
      const auto rest = gU.bottomRows(in_width_[i] - stream_width_[i]);
      if (i == 1)
        gX += rest;
      else
        gH[i - 2] += rest;
    }
  }
}

MatrixXd Stack::diagonal_block(const Linearization& lin, int layer) const {
  const int ns = slices_.at(layer).size;
  MatrixXd A(ns, ns);
  std::visit([&](const auto& cell) { cell.jacobian_state(lin.ws.trace[layer], A); }, cells_[layer]);
  return A;
}

namespace {
// out = B U, where U is mostly made of zero columns and unit columns (in the continuous view
// dU^(l)/ds selects the hidden states below: a 128-unit 3-layer stack spent 1 ms a Jacobian
// multiplying by zeros and ones). Falls back to the product when many columns are general.
void times_selection(const MatrixXd& B, const Eigen::Ref<const MatrixXd>& U, Eigen::Ref<MatrixXd> out) {
  const Eigen::Index cols = U.cols();
  std::vector<Eigen::Index> unit(static_cast<std::size_t>(cols), -1);  // -1 zero, -2 general, else row
  Eigen::Index general = 0;
  for (Eigen::Index j = 0; j < cols; ++j) {
    Eigen::Index nz = 0, row = -1;
    for (Eigen::Index i = 0; i < U.rows() && nz < 2; ++i)
      if (U(i, j) != 0.0) {
        ++nz;
        row = i;
      }
    if (nz == 1 && U(row, j) == 1.0)
      unit[static_cast<std::size_t>(j)] = row;
    else if (nz > 0) {
      unit[static_cast<std::size_t>(j)] = -2;
      ++general;
    }
  }
  if (general * 4 > cols) {
    out.noalias() = B * U;
    return;
  }
  for (Eigen::Index j = 0; j < cols; ++j) {
    const Eigen::Index k = unit[static_cast<std::size_t>(j)];
    if (k == -1)
      out.col(j).setZero();
    else if (k >= 0)
      out.col(j) = B.col(k);
    else
      out.col(j).noalias() = B * U.col(j);
  }
}
}  // namespace

// Row block of layer l: A_ll at its own columns (wrt_state) plus B_l dU^(l), where dU^(l) is
// the derivative of the layer's input, built from the layers below. Columns of upper layers
// stay zero: information flows only up (docs/design.md 3).
void Stack::dense_jacobian(const Linearization& lin, bool wrt_state, MatRef J) const {
  const int N = state_dim_, d = input_size();
  const int cols = wrt_state ? N : d;
  if (J.rows() != N || J.cols() != cols)
    throw InputError("dense Jacobian: output of shape (" + std::to_string(J.rows()) + ", " + std::to_string(J.cols()) +
                     "), expected (" + std::to_string(N) + ", " + std::to_string(cols) + ")");
  J.setZero();
  // Scratch kept between calls (a stepper asks for a Jacobian every step: fresh megabyte
  // matrices cost more in page faults than the arithmetic).
  thread_local MatrixXd Dx, DU, Bl, E;
  thread_local std::vector<MatrixXd> DY;
  if (wrt_state)
    Dx.setZero(d, cols);
  else
    Dx.setIdentity(d, d);
  DY.resize(cells_.size());
  // Derivative of h^(j) as the layers above read it: the rows of J just computed
  // (Sequential) or the current state itself (Simultaneous: a selection of columns).
  auto read_h = [&](int j, MatrixXd& out) {
    const StateSlice& sj = slices_[j];
    if (coupling_ == Coupling::Sequential) {
      out = J.middleRows(sj.offset, sj.hidden_size);
      return;
    }
    out.setZero(sj.hidden_size, cols);
    if (wrt_state) out.middleCols(sj.offset, sj.hidden_size).setIdentity();
  };
  for (int i = 0; i < num_layers(); ++i) {
    const LayerSpec& spec = m_->layers[i];
    const StateSlice& sl = slices_[i];
    const MatrixXd& below = i == 0 ? Dx : DY[i - 1];
    const MatrixXd* U = &below;
    if (spec.skip) {
      if (i == 1)
        assemble_input(i, below, Dx, DU);
      else {
        read_h(i - 2, E);
        assemble_input(i, below, E, DU);
      }
      U = &DU;
    }
    // Only columns of lower layers (or every column of x) can be non-zero in dU^(l).
    const int used = wrt_state ? sl.offset : d;
    if (used > 0) {
      Bl.resize(sl.size, in_width_[i]);
      std::visit([&](const auto& cell) { cell.jacobian_input(lin.ws.trace[i], Bl); }, cells_[i]);
      times_selection(Bl, U->leftCols(used), J.block(sl.offset, 0, sl.size, used));
    }
    if (wrt_state)
      std::visit([&](const auto& cell) { cell.jacobian_state(lin.ws.trace[i], J.block(sl.offset, sl.offset, sl.size, sl.size)); },
                 cells_[i]);
    if (i + 1 == num_layers()) break;  // nothing reads the top layer's stream
    read_h(i, DY[i]);
    if (spec.residual) {
      if (spec.residual_proj.size() > 0)
        DY[i].noalias() += spec.residual_proj * below;
      else
        DY[i] += below;
    }
  }
}

void predictions_at_states(const Model& model, const ConstMatRef& S, const ConstMatRef& X, MatrixXd& P) {
  if (model.bidirectional) throw InputError("predictions at states: a bidirectional model has no state vector");
  const Eigen::Index B = S.cols();
  if (S.rows() != model.state_dim() || X.rows() != model.input_size || (X.cols() != B && X.cols() != 1))
    throw InputError("predictions at states: states (" + std::to_string(S.rows()) + ", " + std::to_string(B) +
                     ") and inputs (" + std::to_string(X.rows()) + ", " + std::to_string(X.cols()) +
                     "); expected (state_dim = " + std::to_string(model.state_dim()) + ", B) and (input_size = " +
                     std::to_string(model.input_size) + ", B or 1)");
  const auto slices = model.state_slices();
  MatrixXd y = X.cols() == B ? MatrixXd(X) : MatrixXd(X.col(0).replicate(1, B)), h;
  for (int l = 0; l < model.num_layers(); ++l) {
    const LayerSpec& spec = model.layers[static_cast<std::size_t>(l)];
    h = S.middleRows(slices[static_cast<std::size_t>(l)].offset, spec.hidden_size);
    if (spec.residual) {
      if (spec.residual_proj.size() > 0)
        h.noalias() += spec.residual_proj * y;
      else
        h += y;
    }
    y.swap(h);
  }
  apply_readout(model, y, P);
}

void apply_readout(const Model& model, const ConstMatRef& Y, MatrixXd& P) {
  if (!model.has_readout()) {
    P = Y;
    return;
  }
  P.noalias() = model.readout_weight * Y;
  if (model.readout_bias.size() > 0) P.colwise() += model.readout_bias;
}

}  // namespace stackdyn
