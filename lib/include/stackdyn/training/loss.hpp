// Losses over a batch of sequences, as torch computes them:
//   mse            torch.nn.functional.mse_loss(prediction, targets), the mean over every element;
//   cross_entropy  torch.nn.functional.cross_entropy over all (sample, step) pairs, mean.
// Targets are given at every step or at the last step only. Columns are step-major
// (t*B + b), as Bptt's.
#pragma once
#include <stackdyn/model/cell_trace.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace stackdyn {

enum class LossKind { Mse, CrossEntropy };
std::string_view loss_name(LossKind k);
/// "mse" or "cross_entropy"; InputError naming `where` otherwise.
LossKind parse_loss(std::string_view name, std::string_view where);

struct Targets {
  LossKind kind = LossKind::Mse;
  bool every_step = true;            ///< (B, T, O) / (B, T), or the last step only: (B, O) / (B,)
  MatrixXd values;                   ///< mse: (O, T*B) or (O, B)
  std::vector<long long> classes;    ///< cross-entropy: T*B (column order) or B
};

/// The loss of `pred` (O, T*B) against `y`, and (when gPred is given) dL/dpred, same shape.
double loss_and_gradient(const Targets& y, const ConstMatRef& pred, int batch, int steps, MatrixXd* gPred);

/// Fraction of (sample, step) pairs whose largest logit is the target class (cross-entropy).
double accuracy(const Targets& y, const ConstMatRef& pred, int batch, int steps);

}  // namespace stackdyn
