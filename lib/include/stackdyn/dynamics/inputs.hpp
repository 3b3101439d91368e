// Input signals x(t) that drive a simulation: a sum of a constant,
// sinusoids, steps and pulses, seeded noise, an N-bit flip-flop pulse train and samples
// from a file. One signal serves both views of docs/design.md 3:
//   continuous  at(t): the value at time t; a file's samples are held over each interval
//               [k dt, (k+1) dt) (zero-order hold);
//   discrete    at_step(k): the input of the step from time k to k+1 (x_{k+1} in
//               s_{k+1} = F(s_k, x_{k+1})): at(k), except that a file gives its sample k.
// So forward Euler with dt = tau reads the same inputs as the discrete map when dt = 1 or
// the file's spacing equals the step.
//
// Random parts (noise, flip-flop) are drawn per interval from an Rng seeded by (seed,
// interval index): the value at any t is a pure function of the seed and t, whatever order
// an adaptive stepper asks in, and memory does not grow with the length of a run.
#pragma once
#include <Eigen/Dense>

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

namespace stackdyn {

/// amplitude * sin(2 pi frequency t + phase) on one channel.
struct Sinusoid {
  int channel = 0;
  double amplitude = 1.0, frequency = 1.0, phase = 0.0;
};

/// amplitude on one channel for start <= t < start + duration (a step when duration is infinite).
struct Pulse {
  int channel = 0;
  double start = 0.0, duration = std::numeric_limits<double>::infinity(), amplitude = 1.0;
};

/// Gaussian noise, independent per channel, sample and interval, held over each interval
/// (one draw per step in the discrete view when interval = 1). std = 0: off.
struct NoiseSpec {
  double std = 0.0;
  double interval = 1.0;
  std::uint64_t seed = 0;
};

/// The N-bit flip-flop task (Sussillo & Barak 2013): on each of `bits` channels, in each
/// interval, a pulse of +-amplitude (random sign) with the given probability, lasting the
/// interval. bits = 0: off.
struct FlipFlopSpec {
  int bits = 0;
  double interval = 1.0, probability = 0.05, amplitude = 1.0;
  std::uint64_t seed = 0;
};

/// Samples (batch, time, width), C order, spaced dt apart: an input file's `inputs`.
struct InputSamples {
  std::size_t batch = 0, steps = 0, width = 0;
  double dt = 1.0;
  std::vector<double> data;
  double value(std::size_t b, std::size_t k, std::size_t c) const { return data[(b * steps + k) * width + c]; }
};

struct InputSpec {
  Eigen::VectorXd constant;  ///< per channel; empty = zero
  std::vector<Sinusoid> sinusoids;
  std::vector<Pulse> pulses;
  NoiseSpec noise;
  FlipFlopSpec flipflop;
  std::shared_ptr<const InputSamples> samples;  ///< null = no file
};

class InputSignal {
 public:
  /// Checks the spec against the model's input width and the batch: InputError naming
  /// `where` (a configuration name) and the offending key.
  InputSignal(InputSpec spec, int input_size, int batch, const std::string& where = "input");

  int input_size() const { return d_; }
  int batch() const { return B_; }
  const InputSpec& spec() const { return spec_; }

  /// The random parts' draws for the last interval asked for. Adaptive steppers ask around
  /// one time, so a caller keeps one Draws and passes it to every call: the signal itself
  /// stays immutable and can be shared between threads, each thread with its own Draws.
  struct Draws {
    long long noise_k = -1, flip_k = -1;
    Eigen::MatrixXd noise, flip;
  };

  /// X (input_size x batch) = x(t), continuous view.
  void at(double t, Eigen::Ref<Eigen::MatrixXd> X, Draws& d) const { at(t, t, X, d); }
  /// x(t) with the piecewise-constant parts (pulses, noise, flip-flop, file) taken at time
  /// `hold` instead: their value on a whole step [hold, hold + h] that starts at or after
  /// their last jump, even at the step's end where they may already have jumped.
  void at(double t, double hold, Eigen::Ref<Eigen::MatrixXd> X, Draws& d) const;
  /// X = the input of discrete step k (from time k to k+1).
  void at_step(long long k, Eigen::Ref<Eigen::MatrixXd> X, Draws& d) const;
  /// The same without a caller's Draws: the random parts are drawn afresh on every call.
  void at(double t, Eigen::Ref<Eigen::MatrixXd> X) const { Draws d; at(t, t, X, d); }
  void at(double t, double hold, Eigen::Ref<Eigen::MatrixXd> X) const { Draws d; at(t, hold, X, d); }
  void at_step(long long k, Eigen::Ref<Eigen::MatrixXd> X) const { Draws d; at_step(k, X, d); }
  /// dX = dx/dt at t: the sinusoids' derivative; the other parts are piecewise constant.
  void derivative(double t, Eigen::Ref<Eigen::MatrixXd> dX) const;
  /// Whether derivative() can be non-zero.
  bool time_varying() const { return !spec_.sinusoids.empty(); }
  /// The first time > t where the signal jumps (a pulse edge, a noise, flip-flop or file
  /// interval boundary), or +infinity. Adaptive integrators stop there.
  double next_break(double t) const;
  /// Time up to which the signal is defined (the end of the file's samples, or infinity).
  double horizon() const;
  /// Steps of the discrete view the signal covers (the file's length, or no limit).
  long long step_horizon() const;

 private:
  void add_parts(double t, double hold, long long file_index, Eigen::Ref<Eigen::MatrixXd> X, Draws& d) const;
  const Eigen::MatrixXd& noise_at(long long interval, Draws& d) const;
  const Eigen::MatrixXd& flipflop_at(long long interval, Draws& d) const;

  InputSpec spec_;
  int d_, B_;
};

}  // namespace stackdyn
