// A data set of sequences for training and gradients (docs/training.md): inputs, targets and
// optional initial states, held with samples as columns (step-major, t*N + b), and the
// batches drawn from it.
#pragma once
#include <stackdyn/core/h5.hpp>
#include <stackdyn/model/model.hpp>
#include <stackdyn/training/loss.hpp>

#include <optional>
#include <string>
#include <vector>

namespace stackdyn {

struct SequenceData {
  int N = 0, T = 0;             ///< samples, steps
  MatrixXd X;                   ///< (input_size, T*N)
  Targets y;                    ///< over all N samples
  std::vector<MatrixXd> init;   ///< empty (zeros) or per layer*D + direction (state size, N)
};

/// Reads `<prefix>inputs`, `<prefix>targets` and (prefix "" only) h0/c0/s0 from `g` for
/// `model` (docs/training.md). The loss is `loss` when given (InputError when it does not
/// fit the targets' type), else mse for float targets and cross_entropy for integer ones.
/// Shapes, types, class ranges and finiteness are checked; messages name file and dataset.
SequenceData read_sequence_data(const h5::Group& g, const Model& model, std::optional<LossKind> loss,
                                const std::string& prefix = "");

/// The samples `idx` of `d`, in that order (a batch), into `out` (buffers reused).
void gather(const SequenceData& d, const std::vector<int>& idx, SequenceData& out);

}  // namespace stackdyn
