// Built-in tasks (see tasks.hpp). Draws come from stackdyn::Rng in a fixed order (sample by
// sample, step by step), so a seed fixes the data set.
#include <stackdyn/core/error.hpp>
#include <stackdyn/core/h5.hpp>
#include <stackdyn/core/random.hpp>
#include <stackdyn/training/tasks.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <numbers>
#include <numeric>

namespace stackdyn {

const std::vector<std::string>& task_names() {
  static const std::vector<std::string> names{"flipflop", "sine", "multiscale", "adding", "copy", "digits",
                                              "permuted_digits"};
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
bool is_digits(const std::string& name) { return name == "digits" || name == "permuted_digits"; }

// A permutation of 0 .. n-1 by Fisher-Yates from `seed`.
std::vector<int> permutation(int n, std::uint64_t seed) {
  std::vector<int> p(static_cast<std::size_t>(n));
  std::iota(p.begin(), p.end(), 0);
  Rng rng(seed);
  for (int i = n - 1; i > 0; --i)
    std::swap(p[static_cast<std::size_t>(i)], p[rng.below(static_cast<std::uint64_t>(i) + 1)]);
  return p;
}
}  // namespace

const DigitsData& digits_data(const std::string& path_in) {
  static std::mutex mutex;
  static std::map<std::string, DigitsData> cache;
  const std::string path = path_in.empty() ? std::string(STACKDYN_DATA_DIR) + "/digits.h5" : path_in;
  const std::lock_guard<std::mutex> lock(mutex);
  if (const auto it = cache.find(path); it != cache.end()) return it->second;
  const h5::File f = h5::File::open(path);
  for (const char* name : {"images", "labels"})
    if (!f.has(name)) throw InputError(path + ": no dataset '" + name + "'; expected images (n, 64) and labels (n,)");
  const h5::Array a = f.read("images");
  DigitsData d;
  d.path = path;
  d.labels = f.read_int("labels");
  if (a.shape.size() != 2 || a.shape[1] != 64 || a.shape[0] != d.labels.size() || a.shape[0] == 0)
    throw InputError(path + ": dataset 'images' has shape " + h5::shape_string(a.shape) + " and 'labels' " +
                     std::to_string(d.labels.size()) + " entries; expected (n, 64) and (n,)");
  for (long long c : d.labels)
    if (c < 0 || c > 9) throw InputError(path + ": dataset 'labels' holds " + std::to_string(c) + "; expected 0..9");
  d.images = Eigen::Map<const MatrixXd>(a.data.data(), 64, static_cast<Eigen::Index>(a.shape[0]));
  if (!d.images.allFinite() || d.images.minCoeff() < 0 || d.images.maxCoeff() > 16)
    throw InputError(path + ": dataset 'images' holds values outside 0..16");
  return cache.emplace(path, std::move(d)).first->second;
}

int task_input_size(const TaskOptions& o) {
  check_name(o.name);
  if (o.name == "flipflop") return o.bits;
  if (o.name == "sine" || o.name == "multiscale" || is_digits(o.name)) return 1;
  if (o.name == "adding") return 2;
  return o.symbols + 2;
}

int task_output_size(const TaskOptions& o) {
  check_name(o.name);
  if (o.name == "flipflop") return o.bits;
  if (o.name == "sine" || o.name == "adding") return 1;
  if (o.name == "multiscale") return 2;
  if (is_digits(o.name)) return 10;
  return o.symbols + 1;
}

LossKind task_loss(const TaskOptions& o) {
  check_name(o.name);
  return o.name == "copy" || is_digits(o.name) ? LossKind::CrossEntropy : LossKind::Mse;
}

SequenceData make_task(const TaskOptions& o) {
  check_name(o.name);
  Rng rng(o.seed);
  SequenceData d;
  const int N = o.samples;
  const int T = o.name == "copy" ? 2 * o.length + o.delay + 1 : is_digits(o.name) ? 64 : o.steps;
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
  } else if (is_digits(o.name)) {
    const DigitsData& digits = digits_data(o.digits_file);
    const int n = static_cast<int>(digits.labels.size());
    if (N > n)
      throw InputError("task " + o.name + ": " + std::to_string(N) + " samples, but " + digits.path + " holds " +
                       std::to_string(n) + " images; expected at most " + std::to_string(n));
    const std::vector<int> images = permutation(n, o.seed);
    std::vector<int> pixels(64);
    std::iota(pixels.begin(), pixels.end(), 0);
    if (o.name == "permuted_digits") pixels = permutation(64, o.permutation_seed);
    d.y.every_step = false;
    d.y.classes.resize(static_cast<std::size_t>(N));
    for (int b = 0; b < N; ++b) {
      const int img = images[static_cast<std::size_t>(o.validation ? n - N + b : b)];
      for (int t = 0; t < T; ++t) d.X(0, col(t, b)) = digits.images(pixels[static_cast<std::size_t>(t)], img) / 16.0;
      d.y.classes[static_cast<std::size_t>(b)] = digits.labels[static_cast<std::size_t>(img)];
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
