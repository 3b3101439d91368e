// Incremental trajectory output (see trajectory_writer.hpp).
#include <stackdyn/dynamics/trajectory_writer.hpp>

#include <algorithm>

namespace stackdyn {

TrajectoryWriter::Channel::Channel(h5::Group& g, const std::string& name, std::size_t batch, std::size_t w,
                                   std::size_t cap)
    : out(g, name, {batch, 0, w}, 1), width(w), buf(cap * w * batch), slab(cap * w * batch) {}

TrajectoryWriter::TrajectoryWriter(h5::Group& g, int state_dim, int batch, h5::File* flush_file,
                                   double flush_seconds)
    : B_(static_cast<std::size_t>(batch)),
      cap_(std::max<std::size_t>(1, 65536 / std::max<std::size_t>(1, static_cast<std::size_t>(state_dim) * B_))),
      time_(g, "time", {0}, 0, {std::max<std::size_t>(cap_, 1024)}),
      times_(cap_),
      file_(flush_file),
      flush_seconds_(flush_seconds),
      last_flush_(std::chrono::steady_clock::now()) {
  channels_.reserve(3);
  channels_.emplace_back(g, "states", B_, static_cast<std::size_t>(state_dim), cap_);
  g.set_dim_labels("states", {"batch", "time", "state"});
  g.set_dim_labels("time", {"time"});
}

TrajectoryWriter::TrajectoryWriter(h5::Group& g, int state_dim, int batch, int input_size, h5::File* flush_file,
                                   int prediction_size)
    : TrajectoryWriter(g, state_dim, batch, flush_file) {
  channels_.emplace_back(g, "inputs", B_, static_cast<std::size_t>(input_size), cap_);
  g.set_dim_labels("inputs", {"batch", "time", "input"});
  if (prediction_size > 0) {
    channels_.emplace_back(g, "predictions", B_, static_cast<std::size_t>(prediction_size), cap_);
    g.set_dim_labels("predictions", {"batch", "time", "output"});
  }
}

void TrajectoryWriter::write(const double* s, double t, const double* x, const double* p) {
  const double* src[3] = {s, x, p};
  for (std::size_t c = 0; c < channels_.size(); ++c) {
    Channel& ch = channels_[c];
    std::copy(src[c], src[c] + ch.width * B_, ch.buf.begin() + static_cast<std::ptrdiff_t>(k_ * ch.width * B_));
  }
  times_[k_++] = t;
  ++count_;
  last_t_ = t;
  if (k_ == cap_) flush();
}

void TrajectoryWriter::flush() {
  if (k_ > 0) {
    for (Channel& ch : channels_) {
      // [k][b][w] -> (b, k, w), C order
      const std::size_t W = ch.width;
      for (std::size_t b = 0; b < B_; ++b)
        for (std::size_t k = 0; k < k_; ++k)
          std::copy_n(ch.buf.begin() + static_cast<std::ptrdiff_t>((k * B_ + b) * W), W,
                      ch.slab.begin() + static_cast<std::ptrdiff_t>((b * k_ + k) * W));
      ch.out.append(ch.slab.data(), k_);
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
