// An Odeint observer obs(s, t) that writes trajectories into an HDF5 group as they come
// (docs/design.md 5): `time` (n_out,) and `states` (batch, n_out, state_dim), and with an
// input width `inputs` (batch, n_out, input_size), all chunked, compressed and extended a
// slab at a time, so memory does not grow with the run.
#pragma once
#include <stackdyn/core/h5.hpp>

#include <chrono>
#include <optional>
#include <vector>

namespace stackdyn {

class TrajectoryWriter {
 public:
  /// `flush_file`, when given, is flushed at most every `flush_seconds`, so that a killed
  /// run leaves a readable file.
  TrajectoryWriter(h5::Group& g, int state_dim, int batch, h5::File* flush_file = nullptr,
                   double flush_seconds = 10.0);
  /// Also writes `inputs` (batch, n_out, input_size): write() then takes x (input_size x batch).
  TrajectoryWriter(h5::Group& g, int state_dim, int batch, int input_size, h5::File* flush_file);
  TrajectoryWriter(const TrajectoryWriter&) = delete;
  TrajectoryWriter& operator=(const TrajectoryWriter&) = delete;

  /// s holds the (state_dim x batch) matrix column by column.
  void operator()(const Eigen::VectorXd& s, double t) { write(s.data(), t); }
  void write(const double* s, double t, const double* x = nullptr);
  /// Writes the buffered samples out.
  void flush();
  long long count() const { return count_; }
  double last_time() const { return last_t_; }

 private:
  std::size_t N_, B_, D_ = 0, cap_;
  h5::Appender time_, states_;
  std::optional<h5::Appender> inputs_;
  std::vector<double> buf_, times_, slab_, xbuf_, xslab_;  // buf_: [k][b][n], xbuf_: [k][b][d]
  std::size_t k_ = 0;
  long long count_ = 0;
  double last_t_ = 0;
  h5::File* file_;
  double flush_seconds_;
  std::chrono::steady_clock::time_point last_flush_;
};

}  // namespace stackdyn
