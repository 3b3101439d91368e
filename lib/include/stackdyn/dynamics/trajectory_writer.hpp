// An Odeint observer obs(s, t) that writes trajectories into an HDF5 group as they come
// (docs/design.md 5): `time` (n_out,) and `states` (batch, n_out, state_dim), and with an
// input width `inputs` (batch, n_out, input_size) and `predictions` (batch, n_out, O), all
// chunked, compressed and extended a slab at a time, so memory does not grow with the run.
#pragma once
#include <stackdyn/core/h5.hpp>

#include <chrono>
#include <string>
#include <vector>

namespace stackdyn {

class TrajectoryWriter {
 public:
  /// `flush_file`, when given, is flushed at most every `flush_seconds`, so that a killed
  /// run leaves a readable file.
  TrajectoryWriter(h5::Group& g, int state_dim, int batch, h5::File* flush_file = nullptr,
                   double flush_seconds = 10.0);
  /// Also writes `inputs` (batch, n_out, input_size): write() then takes x (input_size x
  /// batch); and with prediction_size > 0 `predictions` (batch, n_out, prediction_size), the
  /// model's readout at each output: write() then takes p (prediction_size x batch) too.
  TrajectoryWriter(h5::Group& g, int state_dim, int batch, int input_size, h5::File* flush_file,
                   int prediction_size = 0);
  TrajectoryWriter(const TrajectoryWriter&) = delete;
  TrajectoryWriter& operator=(const TrajectoryWriter&) = delete;

  /// s holds the (state_dim x batch) matrix column by column.
  void operator()(const Eigen::VectorXd& s, double t) { write(s.data(), t); }
  void write(const double* s, double t, const double* x = nullptr, const double* p = nullptr);
  /// Writes the buffered samples out.
  void flush();
  long long count() const { return count_; }
  double last_time() const { return last_t_; }

 private:
  // One (batch, time, width) dataset: samples buffered as [k][b][w], written as (b, k, w).
  struct Channel {
    Channel(h5::Group& g, const std::string& name, std::size_t batch, std::size_t width, std::size_t cap);
    h5::Appender out;
    std::size_t width;
    std::vector<double> buf, slab;
  };
  std::size_t B_, cap_;
  h5::Appender time_;
  std::vector<Channel> channels_;  // states, then inputs and predictions when written
  std::vector<double> times_;
  std::size_t k_ = 0;
  long long count_ = 0;
  double last_t_ = 0;
  h5::File* file_;
  double flush_seconds_;
  std::chrono::steady_clock::time_point last_flush_;
};

}  // namespace stackdyn
