// Optimisers, clipping and schedules (see optimizer.hpp).
#include <stackdyn/training/optimizer.hpp>
#include <stackdyn/training/parameters.hpp>

#include <cmath>
#include <stdexcept>
#include <numbers>

namespace stackdyn {

OptimizerState make_optimizer_state(const std::vector<ParamBlock>& params, const OptimizerOptions& o) {
  OptimizerState st;
  blocks_like(params, st.m1);
  if (o.kind == OptimizerKind::Adam) blocks_like(params, st.m2);
  return st;
}

OptimizerState make_optimizer_state(const Model& model, const OptimizerOptions& o) {
  Model m = model;  // parameter_blocks needs a mutable model; only shapes are read
  return make_optimizer_state(parameter_blocks(m), o);
}

void optimizer_step(Model& model, const Model& grad_in, double lr, const OptimizerOptions& o, OptimizerState& st) {
  Model& grad = const_cast<Model&>(grad_in);  // parameter_blocks needs a mutable model; nothing is written
  optimizer_step(parameter_blocks(model), parameter_blocks(grad), lr, o, st);
}

void optimizer_step(const std::vector<ParamBlock>& P, const std::vector<ParamBlock>& G, double lr,
                    const OptimizerOptions& o, OptimizerState& st) {
  if (G.size() != P.size() || st.m1.size() != P.size() || (o.kind == OptimizerKind::Adam && st.m2.size() != P.size()))
    throw std::logic_error("optimizer_step: parameters, gradients and state of different layouts");
  const auto M1 = blocks_over(P, st.m1);
  const std::vector<ParamBlock> M2 = o.kind == OptimizerKind::Adam ? blocks_over(P, st.m2) : std::vector<ParamBlock>{};
  ++st.step;
  const double bc1 = 1.0 - std::pow(o.beta1, static_cast<double>(st.step));
  const double bc2 = 1.0 - std::pow(o.beta2, static_cast<double>(st.step));
  for (std::size_t k = 0; k < P.size(); ++k) {
    auto p = P[k].map().array();
    Eigen::ArrayXXd d = G[k].map().array();
    if (o.weight_decay != 0.0) d += o.weight_decay * p;
    auto m = M1[k].map().array();
    if (o.kind == OptimizerKind::Sgd) {
      if (o.momentum != 0.0) {
        if (st.step == 1)
          m = d;
        else
          m = o.momentum * m + d;
        d = m;
      }
      p -= lr * d;
    } else {
      auto v = M2[k].map().array();
      m = m * o.beta1 + (1.0 - o.beta1) * d;
      v = v * o.beta2 + (1.0 - o.beta2) * d * d;
      const double step_size = lr / bc1;
      p -= step_size * m / (v.sqrt() / std::sqrt(bc2) + o.eps);
    }
  }
}

double gradient_norm(Model& grad) { return gradient_norm(parameter_blocks(grad)); }
double clip_gradient(Model& grad, double max_norm) { return clip_gradient(parameter_blocks(grad), max_norm); }

double gradient_norm(const std::vector<ParamBlock>& grads) {
  double total = 0.0;
  for (const ParamBlock& b : grads) {
    const double n = b.map().norm();
    total += n * n;
  }
  return std::sqrt(total);
}

double clip_gradient(const std::vector<ParamBlock>& grads, double max_norm) {
  const double total = gradient_norm(grads);
  const double coef = max_norm / (total + 1e-6);
  if (coef < 1.0)
    for (const ParamBlock& b : grads) b.map() *= coef;
  return total;
}

double learning_rate(const LrOptions& o, long long k) {
  switch (o.schedule) {
    case LrSchedule::Constant: return o.lr;
    case LrSchedule::Step: return o.lr * std::pow(o.gamma, static_cast<double>(k / o.step_size));
    case LrSchedule::Cosine:
      return o.lr_min + (o.lr - o.lr_min) * (1.0 + std::cos(std::numbers::pi * static_cast<double>(k) /
                                                            static_cast<double>(o.steps))) / 2.0;
  }
  return o.lr;
}

}  // namespace stackdyn
