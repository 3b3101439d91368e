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
//   digits    sequential 8 x 8 handwritten digits (data/digits.h5, 1797 images): one pixel per
//             step (value / 16, row by row, 64 steps), the class at the last step.
//             cross-entropy over 10 classes, last step. The images are taken in the order of
//             a permutation drawn from `seed`: the first `samples` for training, the last
//             `samples` of the same permutation for validation (`validation`), so the two
//             never share an image.
//   permuted_digits  the same with the pixels in the order of one fixed permutation drawn
//             from `permutation_seed` (the same for every seed).
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
  std::string digits_file;             ///< digits tasks: empty = the source tree's data/digits.h5
  std::uint64_t permutation_seed = 0;  ///< permuted_digits: the pixel order
  bool validation = false;             ///< digits tasks: the last `samples` images of the permutation
};

/// The digits tasks' images: images (1797, 64) and labels, from `path` (empty: the default).
/// InputError naming the file for a missing or malformed one.
struct DigitsData {
  MatrixXd images;  ///< (64, n): one image per column, pixels 0..16, row-major
  std::vector<long long> labels;
  std::string path;
};
const DigitsData& digits_data(const std::string& path);

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
