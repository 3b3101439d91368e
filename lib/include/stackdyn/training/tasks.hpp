// Built-in tasks, generated from a seed (docs/training.md):
//   flipflop  N-bit flip-flop (Sussillo & Barak 2013): each of `bits` channels carries a pulse
//             of +1 or -1 with probability p per step (every channel at t = 0); the target of
//             each channel is the sign of its last pulse. mse, targets at every step.
//   sine      next-step prediction of x_t = sin(2 pi t / P + phase), P ~ U[period_min,
//             period_max], phase ~ U[0, 2 pi): input x_t, target x_{t+1}. mse, every step.
//   multiscale  x_t = sin(2 pi t / period_slow + a) + sin(2 pi t / period_fast + b) with random
//             phases; the targets are the two components at step t, one channel per
//             timescale (slow first). mse, every step.
//   adding    the adding problem (Hochreiter & Schmidhuber 1997): channel 0 ~ U[0, 1], channel
//             1 marks two steps (one in each half); the target at the last step is the sum of
//             the two marked values. mse, last step.
//   copy      delayed recall: `length` symbols of `symbols` classes (one-hot), `delay` blank
//             steps, a cue, then `length` steps in which the targets are the symbols in order;
//             class `symbols` (blank) elsewhere. Inputs symbols + 2 wide (symbols, blank, cue),
//             cross-entropy over symbols + 1 classes at every step.
#pragma once
#include <stackdyn/training/data.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace stackdyn {

struct TaskOptions {
  std::string name;
  int samples = 256, steps = 64;
  int bits = 3;
  double p = 0.05;
  double period_min = 10, period_max = 40;
  double period_slow = 50, period_fast = 5;
  int symbols = 4, length = 5, delay = 10;
  std::uint64_t seed = 0;
};

/// The names above.
const std::vector<std::string>& task_names();
/// Input width, output width and loss of a task.
int task_input_size(const TaskOptions& o);
int task_output_size(const TaskOptions& o);
LossKind task_loss(const TaskOptions& o);
/// `o.samples` sequences of the task (copy: 2*length + delay + 1 steps). InputError for an
/// unknown name.
SequenceData make_task(const TaskOptions& o);

}  // namespace stackdyn
