// Input signals (see inputs.hpp).
#include <stackdyn/core/error.hpp>
#include <stackdyn/dynamics/inputs.hpp>
#include <stackdyn/core/random.hpp>

#include <algorithm>
#include <cmath>
#include <numbers>

namespace stackdyn {
namespace {

// A well-mixed seed for interval k of a stream (splitmix64's finaliser), so that
// neighbouring intervals get unrelated mt19937_64 states.
std::uint64_t interval_seed(std::uint64_t seed, long long k) {
  std::uint64_t z = seed * 0x9E3779B97F4A7C15ull + static_cast<std::uint64_t>(k) + 0x632BE59BD9B4E019ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// k with k*interval <= t < (k+1)*interval, the products computed as next_multiple does, so
// that landing on a break computed there puts t in the new interval.
long long interval_index(double t, double interval) {
  double k = std::floor(t / interval);
  if ((k + 1.0) * interval <= t) k += 1.0;
  else if (k * interval > t) k -= 1.0;
  return static_cast<long long>(k);
}

// Smallest multiple of `interval` strictly after t.
double next_multiple(double t, double interval) {
  return (static_cast<double>(interval_index(t, interval)) + 1.0) * interval;
}

}  // namespace

InputSignal::InputSignal(InputSpec spec, int input_size, int batch, const std::string& where)
    : spec_(std::move(spec)), d_(input_size), B_(batch) {
  auto fail = [&](const std::string& key, const std::string& msg) {
    return InputError(where + ": key '" + key + "': " + msg);
  };
  auto check_channel = [&](int c, const std::string& key) {
    if (c < 0 || c >= d_)
      throw fail(key, "channel " + std::to_string(c) + " out of range; expected an integer in [0, " +
                          std::to_string(d_) + ") (the model's input_size is " + std::to_string(d_) + ")");
  };
  if (spec_.constant.size() != 0 && spec_.constant.size() != d_)
    throw fail("input.constant", "has " + std::to_string(spec_.constant.size()) + " values; expected " +
                                     std::to_string(d_) + " (the model's input_size)");
  for (std::size_t i = 0; i < spec_.sinusoids.size(); ++i)
    check_channel(spec_.sinusoids[i].channel, "input.sinusoids[" + std::to_string(i) + "].channel");
  for (std::size_t i = 0; i < spec_.pulses.size(); ++i) {
    check_channel(spec_.pulses[i].channel, "input.pulses[" + std::to_string(i) + "].channel");
    if (!(spec_.pulses[i].duration > 0))
      throw fail("input.pulses[" + std::to_string(i) + "].duration", "expected a positive number");
  }
  if (spec_.noise.std < 0 || !(spec_.noise.interval > 0))
    throw fail("input.noise", "expected std >= 0 and interval > 0");
  if (spec_.flipflop.bits < 0 || spec_.flipflop.bits > d_)
    throw fail("input.flipflop.bits", "expected an integer in [0, " + std::to_string(d_) +
                                          "] (the model's input_size is " + std::to_string(d_) + ")");
  if (!(spec_.flipflop.interval > 0) || spec_.flipflop.probability < 0 || spec_.flipflop.probability > 1)
    throw fail("input.flipflop", "expected interval > 0 and probability in [0, 1]");
  if (spec_.samples) {
    const auto& s = *spec_.samples;
    if (static_cast<int>(s.width) != d_)
      throw InputError(where + ": input file: 'inputs' has input width " + std::to_string(s.width) +
                       ", expected " + std::to_string(d_) + " (the model's input_size)");
    if (static_cast<int>(s.batch) != B_)
      throw InputError(where + ": input file: 'inputs' has batch " + std::to_string(s.batch) + ", expected " +
                       std::to_string(B_));
    if (s.steps == 0 || !(s.dt > 0))
      throw InputError(where + ": input file: expected at least one sample and a positive 'dt'");
  }
}

// The draws are sized on first use, so that a Draws a caller keeps allocates once.
const Eigen::MatrixXd& InputSignal::noise_at(long long k, Draws& d) const {
  if (k != d.noise_k || d.noise.rows() != d_ || d.noise.cols() != B_) {
    d.noise.resize(d_, B_);
    Rng rng(interval_seed(spec_.noise.seed, k));
    for (Eigen::Index j = 0; j < d.noise.size(); ++j) d.noise.data()[j] = spec_.noise.std * rng.normal();
    d.noise_k = k;
  }
  return d.noise;
}

const Eigen::MatrixXd& InputSignal::flipflop_at(long long k, Draws& d) const {
  if (k != d.flip_k || d.flip.rows() != d_ || d.flip.cols() != B_) {
    d.flip.resize(d_, B_);
    // A second stream, so that noise and flip-flop with the same seed are unrelated.
    Rng rng(interval_seed(spec_.flipflop.seed ^ 0xF11BF10Bull, k));
    d.flip.setZero();
    for (int b = 0; b < B_; ++b)
      for (int c = 0; c < spec_.flipflop.bits; ++c) {
        const double u = rng.uniform(), sign = rng.uniform() < 0.5 ? -1.0 : 1.0;
        if (u < spec_.flipflop.probability) d.flip(c, b) = sign * spec_.flipflop.amplitude;
      }
    d.flip_k = k;
  }
  return d.flip;
}

void InputSignal::add_parts(double t, double hold, long long file_index, Eigen::Ref<Eigen::MatrixXd> X,
                            Draws& d) const {
  if (spec_.constant.size()) X.colwise() += spec_.constant;
  for (const auto& s : spec_.sinusoids)
    X.row(s.channel).array() += s.amplitude * std::sin(2 * std::numbers::pi * s.frequency * t + s.phase);
  for (const auto& p : spec_.pulses)
    if (hold >= p.start && hold < p.start + p.duration) X.row(p.channel).array() += p.amplitude;
  if (spec_.noise.std > 0) X += noise_at(interval_index(hold, spec_.noise.interval), d);
  if (spec_.flipflop.bits > 0) X += flipflop_at(interval_index(hold, spec_.flipflop.interval), d);
  if (spec_.samples) {
    const auto& s = *spec_.samples;
    const auto k = static_cast<std::size_t>(std::clamp<long long>(file_index, 0, static_cast<long long>(s.steps) - 1));
    for (int b = 0; b < B_; ++b)
      for (int c = 0; c < d_; ++c) X(c, b) += s.value(static_cast<std::size_t>(b), k, static_cast<std::size_t>(c));
  }
}

void InputSignal::at(double t, double hold, Eigen::Ref<Eigen::MatrixXd> X, Draws& d) const {
  X.setZero();
  add_parts(t, hold, spec_.samples ? interval_index(hold, spec_.samples->dt) : 0, X, d);
}

void InputSignal::at_step(long long k, Eigen::Ref<Eigen::MatrixXd> X, Draws& d) const {
  X.setZero();
  add_parts(static_cast<double>(k), static_cast<double>(k), k, X, d);
}

void InputSignal::derivative(double t, Eigen::Ref<Eigen::MatrixXd> dX) const {
  dX.setZero();
  for (const auto& s : spec_.sinusoids) {
    const double w = 2 * std::numbers::pi * s.frequency;
    dX.row(s.channel).array() += s.amplitude * w * std::cos(w * t + s.phase);
  }
}

double InputSignal::next_break(double t) const {
  double b = std::numeric_limits<double>::infinity();
  for (const auto& p : spec_.pulses) {
    if (p.start > t) b = std::min(b, p.start);
    if (p.start + p.duration > t) b = std::min(b, p.start + p.duration);
  }
  if (spec_.noise.std > 0) b = std::min(b, next_multiple(t, spec_.noise.interval));
  if (spec_.flipflop.bits > 0) b = std::min(b, next_multiple(t, spec_.flipflop.interval));
  if (spec_.samples) b = std::min(b, next_multiple(t, spec_.samples->dt));
  return b;
}

double InputSignal::horizon() const {
  return spec_.samples ? static_cast<double>(spec_.samples->steps) * spec_.samples->dt
                       : std::numeric_limits<double>::infinity();
}

long long InputSignal::step_horizon() const {
  return spec_.samples ? static_cast<long long>(spec_.samples->steps) : std::numeric_limits<long long>::max();
}

}  // namespace stackdyn
