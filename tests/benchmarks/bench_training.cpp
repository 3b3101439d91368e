// Benchmark of the whole-sequence forward pass and of one training step, driven by
// scripts/bench_training.py, which builds the same torch module, exports it and times torch
// on the same inputs, alternating the two sides.
//
//   bench_training MODEL.h5 forward B T REPS   run_sequence (what `stackdyn forward` runs)
//   bench_training MODEL.h5 train B T REPS     Bptt forward + MSE loss against zero targets
//                                              + backward + one Adam step (lr 1e-3)
//
// Inputs ~ U(-1, 1), seeded; the model's input size as in the file. Prints the median
// seconds per call over REPS calls after one call not counted, then the loss of the last
// call (train) or the sum of the outputs (forward), so that the work cannot be skipped.
#include <stackdyn/core/gemm.hpp>
#include <stackdyn/core/random.hpp>
#include <stackdyn/model/model_io.hpp>
#include <stackdyn/model/sequence.hpp>
#include <stackdyn/training/bptt.hpp>
#include <stackdyn/training/loss.hpp>
#include <stackdyn/training/optimizer.hpp>
#include <stackdyn/training/parameters.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

using namespace stackdyn;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  if (argc == 2 && std::string(argv[1]) == "--gemm-backend") {  // where the large products go
    std::printf("%s\n", gemm_backend().c_str());
    return 0;
  }
  if (argc != 6) {
    std::fprintf(stderr, "usage: bench_training MODEL.h5 forward|train B T REPS | --gemm-backend\n");
    return 2;
  }
  Model model = read_model(argv[1]);
  const std::string mode = argv[2];
  const int B = std::atoi(argv[3]), T = std::atoi(argv[4]), reps = std::atoi(argv[5]);
  Rng rng(7);
  MatrixXd X(model.input_size, static_cast<Eigen::Index>(T) * B);
  for (Eigen::Index i = 0; i < X.size(); ++i) X.data()[i] = rng.uniform(-1, 1);

  std::vector<double> seconds;
  double check = 0;
  if (mode == "forward") {
    for (int r = 0; r <= reps; ++r) {
      const auto t0 = Clock::now();
      const SequenceOutput out = run_sequence(model, X, B, T);
      const double s = std::chrono::duration<double>(Clock::now() - t0).count();
      if (r > 0) seconds.push_back(s);
      check = out.outputs.sum();
    }
  } else if (mode == "train") {
    Bptt bptt(model);
    Targets y;
    y.values = MatrixXd::Zero(model.prediction_size(), X.cols());
    OptimizerOptions oo;
    oo.kind = OptimizerKind::Adam;
    OptimizerState st = make_optimizer_state(model, oo);
    const Model zero = zeros_like(model);
    Model grad = zero;
    MatrixXd gPred;
    for (int r = 0; r <= reps; ++r) {
      const auto t0 = Clock::now();
      grad = zero;  // same shapes: assigned in place
      bptt.forward(X, B, T);
      check = loss_and_gradient(y, bptt.predictions(), B, T, &gPred);
      bptt.backward(gPred, grad);
      optimizer_step(model, grad, 1e-3, oo, st);
      const double s = std::chrono::duration<double>(Clock::now() - t0).count();
      if (r > 0) seconds.push_back(s);
    }
  } else {
    std::fprintf(stderr, "bench_training: unknown mode '%s'; expected forward or train\n", mode.c_str());
    return 2;
  }
  std::nth_element(seconds.begin(), seconds.begin() + static_cast<std::ptrdiff_t>(seconds.size() / 2), seconds.end());
  std::printf("%.9g\n%.17g\n", seconds[seconds.size() / 2], check);
  return 0;
}
