// The cell concept and the closed set of cell types a stack is built from.
//
// A cell C (one direction of one layer) provides, with P the input projection, S the state
// (state_size x batch, one column per sample) and t a CellTrace:
//
//   | expression                               | meaning                                           |
//   |------------------------------------------|---------------------------------------------------|
//   | c.state_size(), c.input_size()           | widths of s (n, or 2n for LSTM) and of u           |
//   | c.projection_rows()                      | rows of P                                         |
//   | c.project_input(U, P)                    | P = W_ih U + biases, for any number of columns     |
//   | c.step(P, S, S_new, t)                   | S_new = F(S, u), batched; fills t                 |
//   | c.jvp(t, dU, dS, out)                    | out = dF/ds dS + dF/du dU at a 1-column trace      |
//   | c.vjp(t, G, gU, gS)                      | gU = (dF/du)^T G, gS = (dF/ds)^T G                 |
//   | c.jacobian_state(t, A), jacobian_input(t, B) | dense dF/ds, dF/du (direct formulas)           |
//
// Products with the weight matrices are matrix-matrix (all samples or tangents at once); a
// step allocates nothing once the trace has its size. Tests check jvp, vjp and the dense
// Jacobians against each other and against central finite differences.
#pragma once
#include <stackdyn/model/deep_transition_cell.hpp>
#include <stackdyn/model/gru_cell.hpp>
#include <stackdyn/model/lstm_cell.hpp>
#include <stackdyn/model/vanilla_cell.hpp>

#include <variant>

namespace stackdyn {

using Cell = std::variant<VanillaCell, GruCell, GruResetBeforeCell, LstmCell, DeepTransitionCell>;

/// The cell for one direction of a layer; `p` is spec.fwd or spec.bwd and must outlive it.
Cell make_cell(const LayerSpec& spec, const CellParams& p, int input_size);

}  // namespace stackdyn
