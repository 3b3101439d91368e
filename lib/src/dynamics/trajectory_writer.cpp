// Incremental trajectory output (see trajectory_writer.hpp).
#include <stackdyn/dynamics/trajectory_writer.hpp>

#include <algorithm>

namespace stackdyn {

TrajectoryWriter::TrajectoryWriter(h5::Group& g, int state_dim, int batch, h5::File* flush_file,
                                   double flush_seconds)
    : N_(static_cast<std::size_t>(state_dim)),
      B_(static_cast<std::size_t>(batch)),
      cap_(std::max<std::size_t>(1, 65536 / std::max<std::size_t>(1, N_ * B_))),
      time_(g, "time", {0}, 0, {std::max<std::size_t>(cap_, 1024)}),
      states_(g, "states", {B_, 0, N_}, 1),
      buf_(cap_ * N_ * B_),
      times_(cap_),
      slab_(cap_ * N_ * B_),
      file_(flush_file),
      flush_seconds_(flush_seconds),
      last_flush_(std::chrono::steady_clock::now()) {
  g.set_dim_labels("states", {"batch", "time", "state"});
  g.set_dim_labels("time", {"time"});
}

TrajectoryWriter::TrajectoryWriter(h5::Group& g, int state_dim, int batch, int input_size, h5::File* flush_file)
    : TrajectoryWriter(g, state_dim, batch, flush_file) {
  D_ = static_cast<std::size_t>(input_size);
  inputs_.emplace(g, "inputs", h5::Shape{B_, 0, D_}, 1);
  xbuf_.resize(cap_ * D_ * B_);
  xslab_.resize(cap_ * D_ * B_);
  g.set_dim_labels("inputs", {"batch", "time", "input"});
}

void TrajectoryWriter::write(const double* s, double t, const double* x) {
  std::copy(s, s + N_ * B_, buf_.begin() + static_cast<std::ptrdiff_t>(k_ * N_ * B_));
  if (inputs_) std::copy(x, x + D_ * B_, xbuf_.begin() + static_cast<std::ptrdiff_t>(k_ * D_ * B_));
  times_[k_++] = t;
  ++count_;
  last_t_ = t;
  if (k_ == cap_) flush();
}

void TrajectoryWriter::flush() {
  if (k_ > 0) {
    // [k][b][n] -> (b, k, n), C order
    for (std::size_t b = 0; b < B_; ++b)
      for (std::size_t k = 0; k < k_; ++k)
        std::copy_n(buf_.begin() + static_cast<std::ptrdiff_t>((k * B_ + b) * N_), N_,
                    slab_.begin() + static_cast<std::ptrdiff_t>((b * k_ + k) * N_));
    states_.append(slab_.data(), k_);
    if (inputs_) {
      for (std::size_t b = 0; b < B_; ++b)
        for (std::size_t k = 0; k < k_; ++k)
          std::copy_n(xbuf_.begin() + static_cast<std::ptrdiff_t>((k * B_ + b) * D_), D_,
                      xslab_.begin() + static_cast<std::ptrdiff_t>((b * k_ + k) * D_));
      inputs_->append(xslab_.data(), k_);
    }
    time_.append(times_.data(), k_);
    k_ = 0;
  }
  const auto now = std::chrono::steady_clock::now();
  if (file_ && std::chrono::duration<double>(now - last_flush_).count() >= flush_seconds_) {
    file_->flush();
    last_flush_ = now;
  }
}

}  // namespace stackdyn
