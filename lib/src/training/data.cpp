// Reading sequence data and drawing batches (see data.hpp).
#include <stackdyn/core/error.hpp>
#include <stackdyn/training/data.hpp>

#include <cmath>

namespace stackdyn {

namespace {

std::string where(const h5::Group& g, const std::string& name) { return g.file_name() + ": dataset '" + name + "'"; }

// (B, T, K) C order -> (K, T*B), column t*B + b.
MatrixXd columns3(const h5::Array& a) {
  const std::size_t B = a.shape[0], T = a.shape[1], K = a.shape[2];
  MatrixXd m(static_cast<Eigen::Index>(K), static_cast<Eigen::Index>(T * B));
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t t = 0; t < T; ++t)
      for (std::size_t k = 0; k < K; ++k)
        m(static_cast<Eigen::Index>(k), static_cast<Eigen::Index>(t * B + b)) = a.data[(b * T + t) * K + k];
  return m;
}

void require_finite(const h5::Array& a, const h5::Group& g, const std::string& name) {
  for (std::size_t i = 0; i < a.data.size(); ++i)
    if (!std::isfinite(a.data[i]))
      throw InputError(where(g, name) + " holds " + (std::isnan(a.data[i]) ? "NaN" : "Inf") + " at flat index " +
                       std::to_string(i) + ", expected finite values");
}

bool is_integer(const h5::Group& g, const std::string& name) {
  try {
    (void)g.read_int(name);
    return true;
  } catch (const InputError&) {
    return false;
  }
}

std::string shape_text(const h5::Shape& s) { return h5::shape_string(s); }

}  // namespace

SequenceData read_sequence_data(const h5::Group& g, const Model& m, std::optional<LossKind> loss,
                                const std::string& prefix) {
  SequenceData d;
  const std::string in_name = prefix + "inputs", tg_name = prefix + "targets";
  if (!g.has(in_name)) throw InputError(g.file_name() + ": dataset '" + in_name + "' is missing, expected float64 (batch, time, " + std::to_string(m.input_size) + ")");
  if (!g.has(tg_name)) throw InputError(g.file_name() + ": dataset '" + tg_name + "' is missing, expected (batch, time, O) or (batch, O) floats, or (batch, time) or (batch,) class indices");
  const h5::Array in = g.read(in_name);
  if (in.shape.size() != 3 || in.shape[2] != static_cast<std::size_t>(m.input_size) || in.shape[0] == 0 || in.shape[1] == 0)
    throw InputError(where(g, in_name) + " has shape " + shape_text(in.shape) + ", expected (batch >= 1, time >= 1, " +
                     std::to_string(m.input_size) + ")");
  require_finite(in, g, in_name);
  d.N = static_cast<int>(in.shape[0]);
  d.T = static_cast<int>(in.shape[1]);
  d.X = columns3(in);
  const std::size_t N = in.shape[0], T = in.shape[1];

  const bool integer = is_integer(g, tg_name);
  const LossKind kind = loss ? *loss : integer ? LossKind::CrossEntropy : LossKind::Mse;
  if (kind == LossKind::CrossEntropy && !integer)
    throw InputError(where(g, tg_name) + " holds floats, but the loss cross_entropy needs int64 class indices (batch, time) or (batch,)");
  if (kind == LossKind::Mse && integer)
    throw InputError(where(g, tg_name) + " holds integers, but the loss mse needs float64 targets (batch, time, O) or (batch, O)");
  d.y.kind = kind;
  const h5::Shape ts = g.shape(tg_name);
  const int O = m.prediction_size();
  if (kind == LossKind::Mse) {
    const h5::Array t = g.read(tg_name);
    require_finite(t, g, tg_name);
    if (ts.size() == 3 && ts[0] == N && ts[1] == T && ts[2] == static_cast<std::size_t>(O)) {
      d.y.every_step = true;
      d.y.values = columns3(t);
    } else if (ts.size() == 2 && ts[0] == N && ts[1] == static_cast<std::size_t>(O)) {
      d.y.every_step = false;
      d.y.values = Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
                       t.data.data(), static_cast<Eigen::Index>(N), O)
                       .transpose();
    } else {
      throw InputError(where(g, tg_name) + " has shape " + shape_text(ts) + ", expected (" + std::to_string(N) + ", " +
                       std::to_string(T) + ", " + std::to_string(O) + ") or (" + std::to_string(N) + ", " +
                       std::to_string(O) + ") (O = the " + (m.has_readout() ? "readout's outputs" : "top stream's width") + ")");
    }
  } else {
    const std::vector<long long> c = g.read_int(tg_name);
    if (ts.size() == 2 && ts[0] == N && ts[1] == T) {
      d.y.every_step = true;
      d.y.classes.resize(N * T);
      for (std::size_t b = 0; b < N; ++b)
        for (std::size_t t = 0; t < T; ++t) d.y.classes[t * N + b] = c[b * T + t];
    } else if (ts.size() == 1 && ts[0] == N) {
      d.y.every_step = false;
      d.y.classes = c;
    } else {
      throw InputError(where(g, tg_name) + " has shape " + shape_text(ts) + ", expected class indices (" +
                       std::to_string(N) + ", " + std::to_string(T) + ") or (" + std::to_string(N) + ",)");
    }
    for (std::size_t i = 0; i < d.y.classes.size(); ++i)
      if (d.y.classes[i] < 0 || d.y.classes[i] >= O)
        throw InputError(where(g, tg_name) + " holds class " + std::to_string(d.y.classes[i]) + " at flat index " +
                         std::to_string(i) + ", expected 0 .. " + std::to_string(O - 1) + " (the prediction has " +
                         std::to_string(O) + " outputs)");
  }

  if (!prefix.empty()) return d;
  // Initial states, batched with their samples.
  const int L = m.num_layers(), D = m.num_directions();
  const auto slices = m.state_slices();
  auto read_torch = [&](const std::string& name, bool c_part) {
    for (const auto& l : m.layers)
      if (l.hidden_size != m.layers.front().hidden_size)
        throw InputError(where(g, name) + ": torch's layout needs layers of one hidden size; give 's0' (batch, state_dim) instead");
    const int n = m.layers.front().hidden_size;
    const h5::Array a = g.read(name);
    if (a.shape != h5::Shape{static_cast<std::size_t>(L * D), N, static_cast<std::size_t>(n)})
      throw InputError(where(g, name) + " has shape " + shape_text(a.shape) + ", expected (" + std::to_string(L * D) +
                       ", " + std::to_string(N) + ", " + std::to_string(n) + ")");
    require_finite(a, g, name);
    if (d.init.empty())
      for (int i = 0; i < L; ++i)
        for (int k = 0; k < D; ++k) d.init.push_back(MatrixXd::Zero(m.layers[static_cast<std::size_t>(i)].state_size(), N));
    for (int k = 0; k < L * D; ++k) {
      const Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> blk(
          a.data.data() + static_cast<std::size_t>(k) * N * static_cast<std::size_t>(n), static_cast<Eigen::Index>(N), n);
      d.init[static_cast<std::size_t>(k)].middleRows(c_part ? n : 0, n) = blk.transpose();
    }
  };
  if (g.has("h0")) read_torch("h0", false);
  if (g.has("c0")) {
    for (const auto& l : m.layers)
      if (l.cell != CellType::Lstm) throw InputError(where(g, "c0") + " is only for LSTM models; this model has a layer without a cell state");
    read_torch("c0", true);
  }
  if (g.has("s0")) {
    if (m.bidirectional) throw InputError(where(g, "s0") + " (full state) is for unidirectional models; use h0/c0");
    if (!d.init.empty()) throw InputError(g.file_name() + ": give either 's0' or 'h0'/'c0', not both");
    const h5::Array a = g.read("s0");
    if (a.shape != h5::Shape{N, static_cast<std::size_t>(m.state_dim())})
      throw InputError(where(g, "s0") + " has shape " + shape_text(a.shape) + ", expected (" + std::to_string(N) + ", " +
                       std::to_string(m.state_dim()) + ")");
    require_finite(a, g, "s0");
    const Eigen::Map<const MatrixXd> S0(a.data.data(), m.state_dim(), static_cast<Eigen::Index>(N));
    for (int i = 0; i < L; ++i) d.init.push_back(S0.middleRows(slices[static_cast<std::size_t>(i)].offset, slices[static_cast<std::size_t>(i)].size));
  }
  return d;
}

void gather(const SequenceData& d, const std::vector<int>& idx, SequenceData& out) {
  const int B = static_cast<int>(idx.size()), T = d.T;
  out.N = B;
  out.T = T;
  out.X.resize(d.X.rows(), static_cast<Eigen::Index>(T) * B);
  for (int t = 0; t < T; ++t)
    for (int b = 0; b < B; ++b)
      out.X.col(static_cast<Eigen::Index>(t) * B + b) = d.X.col(static_cast<Eigen::Index>(t) * d.N + idx[static_cast<std::size_t>(b)]);
  out.y.kind = d.y.kind;
  out.y.every_step = d.y.every_step;
  const int steps = d.y.every_step ? T : 1;
  if (d.y.kind == LossKind::Mse) {
    out.y.values.resize(d.y.values.rows(), static_cast<Eigen::Index>(steps) * B);
    for (int t = 0; t < steps; ++t)
      for (int b = 0; b < B; ++b)
        out.y.values.col(static_cast<Eigen::Index>(t) * B + b) =
            d.y.values.col(static_cast<Eigen::Index>(t) * d.N + idx[static_cast<std::size_t>(b)]);
  } else {
    out.y.classes.resize(static_cast<std::size_t>(steps) * B);
    for (int t = 0; t < steps; ++t)
      for (int b = 0; b < B; ++b)
        out.y.classes[static_cast<std::size_t>(t) * B + b] = d.y.classes[static_cast<std::size_t>(t) * d.N + idx[static_cast<std::size_t>(b)]];
  }
  out.init.resize(d.init.size());
  for (std::size_t k = 0; k < d.init.size(); ++k) {
    out.init[k].resize(d.init[k].rows(), B);
    for (int b = 0; b < B; ++b) out.init[k].col(b) = d.init[k].col(idx[static_cast<std::size_t>(b)]);
  }
}

}  // namespace stackdyn
