// Built-in tasks (see tasks.hpp). Draws come from stackdyn::Rng in a fixed order (sample by
// sample, step by step), so a seed fixes the data set.
#include <stackdyn/core/error.hpp>
#include <stackdyn/core/random.hpp>
#include <stackdyn/training/tasks.hpp>

#include <algorithm>
#include <cmath>
#include <numbers>

namespace stackdyn {

const std::vector<std::string>& task_names() {
  static const std::vector<std::string> names{"flipflop", "sine", "multiscale", "adding", "copy"};
  return names;
}

namespace {
void check_name(const std::string& name) {
  const auto& n = task_names();
  if (std::find(n.begin(), n.end(), name) != n.end()) return;
  std::string all;
  for (const auto& s : n) all += (all.empty() ? "" : ", ") + s;
  throw InputError("unknown task '" + name + "', expected one of " + all);
}
}  // namespace

int task_input_size(const TaskOptions& o) {
  check_name(o.name);
  if (o.name == "flipflop") return o.bits;
  if (o.name == "sine" || o.name == "multiscale") return 1;
  if (o.name == "adding") return 2;
  return o.symbols + 2;
}

int task_output_size(const TaskOptions& o) {
  check_name(o.name);
  if (o.name == "flipflop") return o.bits;
  if (o.name == "sine" || o.name == "adding") return 1;
  if (o.name == "multiscale") return 2;
  return o.symbols + 1;
}

LossKind task_loss(const TaskOptions& o) {
  check_name(o.name);
  return o.name == "copy" ? LossKind::CrossEntropy : LossKind::Mse;
}

SequenceData make_task(const TaskOptions& o) {
  check_name(o.name);
  Rng rng(o.seed);
  SequenceData d;
  const int N = o.samples;
  const int T = o.name == "copy" ? 2 * o.length + o.delay + 1 : o.steps;
  d.N = N;
  d.T = T;
  d.X = MatrixXd::Zero(task_input_size(o), static_cast<Eigen::Index>(T) * N);
  d.y.kind = task_loss(o);
  auto col = [&](int t, int b) { return static_cast<Eigen::Index>(t) * N + b; };
  if (o.name == "flipflop") {
    d.y.values.resize(o.bits, static_cast<Eigen::Index>(T) * N);
    for (int b = 0; b < N; ++b)
      for (int k = 0; k < o.bits; ++k) {
        double last = 0;
        for (int t = 0; t < T; ++t) {
          const bool pulse = t == 0 || rng.uniform() < o.p;
          if (pulse) {
            last = rng.uniform() < 0.5 ? -1.0 : 1.0;
            d.X(k, col(t, b)) = last;
          }
          d.y.values(k, col(t, b)) = last;
        }
      }
  } else if (o.name == "sine") {
    d.y.values.resize(1, static_cast<Eigen::Index>(T) * N);
    for (int b = 0; b < N; ++b) {
      const double P = rng.uniform(o.period_min, o.period_max), phase = rng.uniform(0.0, 2 * std::numbers::pi);
      for (int t = 0; t < T; ++t) {
        d.X(0, col(t, b)) = std::sin(2 * std::numbers::pi * t / P + phase);
        d.y.values(0, col(t, b)) = std::sin(2 * std::numbers::pi * (t + 1) / P + phase);
      }
    }
  } else if (o.name == "multiscale") {
    d.y.values.resize(2, static_cast<Eigen::Index>(T) * N);
    for (int b = 0; b < N; ++b) {
      const double a = rng.uniform(0.0, 2 * std::numbers::pi), c = rng.uniform(0.0, 2 * std::numbers::pi);
      for (int t = 0; t < T; ++t) {
        const double slow = std::sin(2 * std::numbers::pi * t / o.period_slow + a);
        const double fast = std::sin(2 * std::numbers::pi * t / o.period_fast + c);
        d.X(0, col(t, b)) = slow + fast;
        d.y.values(0, col(t, b)) = slow;
        d.y.values(1, col(t, b)) = fast;
      }
    }
  } else if (o.name == "adding") {
    d.y.every_step = false;
    d.y.values.resize(1, N);
    const int half = std::max(1, T / 2);
    for (int b = 0; b < N; ++b) {
      for (int t = 0; t < T; ++t) d.X(0, col(t, b)) = rng.uniform();
      const int i = static_cast<int>(rng.below(static_cast<std::uint64_t>(half)));
      const int j = half + static_cast<int>(rng.below(static_cast<std::uint64_t>(std::max(1, T - half))));
      d.X(1, col(i, b)) = 1.0;
      d.X(1, col(std::min(j, T - 1), b)) = 1.0;
      d.y.values(0, b) = d.X(0, col(i, b)) + (std::min(j, T - 1) != i ? d.X(0, col(std::min(j, T - 1), b)) : 0.0);
    }
  } else {
    const int K = o.symbols, blank = K, cue = K + 1;
    d.y.classes.assign(static_cast<std::size_t>(T) * N, K);
    for (int b = 0; b < N; ++b) {
      for (int t = 0; t < o.length; ++t) {
        const int s = static_cast<int>(rng.below(static_cast<std::uint64_t>(K)));
        d.X(s, col(t, b)) = 1.0;
        d.y.classes[static_cast<std::size_t>(col(o.length + o.delay + 1 + t, b))] = s;
      }
      for (int t = o.length; t < T; ++t) d.X(t == o.length + o.delay ? cue : blank, col(t, b)) = 1.0;
    }
  }
  return d;
}

}  // namespace stackdyn
