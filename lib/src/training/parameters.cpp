// Named parameter blocks of a model (see parameters.hpp).
#include <stackdyn/core/error.hpp>
#include <stackdyn/training/parameters.hpp>

#include <stdexcept>

namespace stackdyn {

namespace {
void add(std::vector<ParamBlock>& out, const std::string& name, Eigen::MatrixXd& m, int layer) {
  if (m.size() > 0) out.push_back({name, m.data(), m.rows(), m.cols(), false, layer});
}
void add(std::vector<ParamBlock>& out, const std::string& name, Eigen::VectorXd& v, int layer) {
  if (v.size() > 0) out.push_back({name, v.data(), v.size(), 1, true, layer});
}
void add_cell(std::vector<ParamBlock>& out, const std::string& prefix, CellParams& p, const std::string& suffix,
              int layer) {
  add(out, prefix + "weight_ih" + suffix, p.w_ih, layer);
  add(out, prefix + "weight_hh" + suffix, p.w_hh, layer);
  add(out, prefix + "bias_ih" + suffix, p.b_ih, layer);
  add(out, prefix + "bias_hh" + suffix, p.b_hh, layer);
  for (std::size_t k = 0; k < p.mlp_w.size(); ++k)
    add(out, prefix + "mlp_weight_" + std::to_string(k) + suffix, p.mlp_w[k], layer);
  for (std::size_t k = 0; k < p.mlp_b.size(); ++k)
    add(out, prefix + "mlp_bias_" + std::to_string(k) + suffix, p.mlp_b[k], layer);
}
}  // namespace

std::vector<ParamBlock> parameter_blocks(Model& m) {
  std::vector<ParamBlock> out;
  for (int l = 0; l < m.num_layers(); ++l) {
    LayerSpec& s = m.layers[static_cast<std::size_t>(l)];
    const std::string prefix = "layers/" + std::to_string(l) + "/";
    add_cell(out, prefix, s.fwd, "", l);
    if (m.bidirectional) add_cell(out, prefix, s.bwd, "_reverse", l);
    add(out, prefix + "residual_proj", s.residual_proj, l);
  }
  add(out, "readout/weight", m.readout_weight, -1);
  add(out, "readout/bias", m.readout_bias, -1);
  return out;
}

Model zeros_like(const Model& m) {
  Model z = m;
  for (const ParamBlock& b : parameter_blocks(z)) b.map().setZero();
  return z;
}

std::vector<ParamBlock> blocks_like(const std::vector<ParamBlock>& layout, std::vector<Eigen::MatrixXd>& storage) {
  storage.assign(layout.size(), Eigen::MatrixXd());
  for (std::size_t k = 0; k < layout.size(); ++k) storage[k].setZero(layout[k].rows, layout[k].cols);
  return blocks_over(layout, storage);
}

std::vector<ParamBlock> blocks_over(const std::vector<ParamBlock>& layout, std::vector<Eigen::MatrixXd>& storage) {
  if (storage.size() != layout.size()) throw std::logic_error("blocks_over: storage of another layout");
  std::vector<ParamBlock> out = layout;
  for (std::size_t k = 0; k < layout.size(); ++k) {
    if (storage[k].rows() != layout[k].rows || storage[k].cols() != layout[k].cols)
      throw std::logic_error("blocks_over: block " + layout[k].name + " of another shape");
    out[k].data = storage[k].data();
  }
  return out;
}

void write_blocks(h5::Group& g, Model& m) { write_blocks(g, parameter_blocks(m)); }
void read_blocks(const h5::Group& g, Model& m) { read_blocks(g, parameter_blocks(m)); }

void write_blocks(h5::Group& g, const std::vector<ParamBlock>& blocks) {
  for (const ParamBlock& b : blocks) {
    if (b.vector)
      g.write(b.name, Eigen::VectorXd(b.map().col(0)));
    else
      g.write(b.name, Eigen::MatrixXd(b.map()));
  }
}

void read_blocks(const h5::Group& g, const std::vector<ParamBlock>& blocks) {
  for (const ParamBlock& b : blocks) {
    const h5::Shape want = b.vector ? h5::Shape{static_cast<std::size_t>(b.rows)}
                                    : h5::Shape{static_cast<std::size_t>(b.rows), static_cast<std::size_t>(b.cols)};
    if (!g.has(b.name))
      throw InputError(g.file_name() + ": dataset '" + g.path() + "/" + b.name + "' is missing");
    if (g.shape(b.name) != want)
      throw InputError(g.file_name() + ": dataset '" + g.path() + "/" + b.name + "' has shape " +
                       h5::shape_string(g.shape(b.name)) + ", expected " + h5::shape_string(want));
    if (b.vector)
      b.map().col(0) = g.read_vector(b.name);
    else
      b.map() = g.read_matrix(b.name);
  }
}

}  // namespace stackdyn
