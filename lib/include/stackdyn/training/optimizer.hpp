// Optimisers as torch defines them (torch/optim/sgd.py and adam.py, single-tensor path),
// gradient clipping as torch.nn.utils.clip_grad_norm_, and learning-rate schedules.
//
//   SGD:  d = g + wd p;  buf = d (first step) or momentum buf + d;  d = buf (momentum > 0);
//         p -= lr d                               (no dampening, no Nesterov)
//   Adam: d = g + wd p;  m = beta1 m + (1 - beta1) d;  v = beta2 v + (1 - beta2) d^2;
//         p -= lr / (1 - beta1^k) * m / (sqrt(v) / sqrt(1 - beta2^k) + eps)
//   clip: total = || (||g_1||, ||g_2||, ...) ||;  when max_norm / (total + 1e-6) < 1 every
//         gradient is scaled by that factor.
#pragma once
#include <stackdyn/model/model.hpp>
#include <stackdyn/training/parameters.hpp>

#include <string>

namespace stackdyn {

enum class OptimizerKind { Sgd, Adam };

struct OptimizerOptions {
  OptimizerKind kind = OptimizerKind::Sgd;
  double momentum = 0.0, weight_decay = 0.0;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
};

/// The optimiser's state: moments shaped as the parameter blocks, and the step count.
/// (blocks_over(params, m1) names them as the parameters, for files.)
struct OptimizerState {
  long long step = 0;
  std::vector<Eigen::MatrixXd> m1, m2;  ///< SGD: m1 the momentum buffer; Adam: first and second moments
};

/// Zero state for the parameter blocks `params` (or a model's).
OptimizerState make_optimizer_state(const std::vector<ParamBlock>& params, const OptimizerOptions& o);
OptimizerState make_optimizer_state(const Model& model, const OptimizerOptions& o);

/// One update of the parameters from `grads` (blocks of the same shapes, in the same order)
/// with learning rate lr: all parameters are one list, as torch's param_groups.
void optimizer_step(const std::vector<ParamBlock>& params, const std::vector<ParamBlock>& grads, double lr,
                    const OptimizerOptions& o, OptimizerState& st);
void optimizer_step(Model& model, const Model& grad, double lr, const OptimizerOptions& o, OptimizerState& st);

/// The global 2-norm of the gradient, computed as torch's clip_grad_norm_ does.
double gradient_norm(const std::vector<ParamBlock>& grads);
double gradient_norm(Model& grad);
/// Scales the gradient as clip_grad_norm_(max_norm) does; returns the total norm before clipping.
double clip_gradient(const std::vector<ParamBlock>& grads, double max_norm);
double clip_gradient(Model& grad, double max_norm);

enum class LrSchedule { Constant, Step, Cosine };
struct LrOptions {
  double lr = 0.01;
  LrSchedule schedule = LrSchedule::Constant;
  int step_size = 1;     ///< step: StepLR's step_size
  double gamma = 0.1;    ///< step: StepLR's gamma
  double lr_min = 0.0;   ///< cosine: CosineAnnealingLR's eta_min
  long long steps = 1;   ///< cosine: T_max
};
/// The learning rate of (0-based) step k: lr, lr gamma^floor(k / step_size), or
/// lr_min + (lr - lr_min) (1 + cos(pi k / steps)) / 2.
double learning_rate(const LrOptions& o, long long k);

}  // namespace stackdyn
