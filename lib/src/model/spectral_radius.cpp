// Measuring and setting recurrent spectral radii (see spectral_radius.hpp).
#include <stackdyn/model/spectral_radius.hpp>
#include <stackdyn/core/error.hpp>
#include <stackdyn/core/format.hpp>

#include <Spectra/GenEigsSolver.h>
#include <Spectra/MatOp/DenseGenMatProd.h>

#include <cmath>

namespace stackdyn {
namespace {

// The row offsets of the measured n x n blocks of weight_hh.
std::vector<int> blocks_of(const LayerSpec& s, RadiusBlocks b) {
  const int n = s.hidden_size, G = gate_count(s.cell);
  if (b == RadiusBlocks::Candidate && G > 1) {
    // torch's gate order: GRU r, z, n (candidate third); LSTM i, f, g, o (candidate third).
    return {2 * n};
  }
  std::vector<int> r;
  for (int g = 0; g < G; ++g) r.push_back(g * n);
  return r;
}

void check_layer(const Model& m, int layer, const std::string& where) {
  if (layer < 0 || layer >= m.num_layers())
    throw InputError(where + ": layer " + std::to_string(layer) + " of a model of " + std::to_string(m.num_layers()) +
                     " layers; expected 0 .. " + std::to_string(m.num_layers() - 1));
  if (m.layers[static_cast<std::size_t>(layer)].cell == CellType::DeepTransition)
    throw InputError(where + ": layer " + std::to_string(layer) +
                     " is a deep_transition cell: its recurrent map is an MLP, not a matrix with a spectral radius");
}

}  // namespace

std::string_view radius_blocks_name(RadiusBlocks b) { return b == RadiusBlocks::Gates ? "gates" : "candidate"; }

RadiusBlocks parse_radius_blocks(std::string_view name, std::string_view where) {
  if (name == "gates") return RadiusBlocks::Gates;
  if (name == "candidate") return RadiusBlocks::Candidate;
  throw InputError(std::string(where) + ": unknown blocks '" + std::string(name) + "'; expected gates or candidate");
}

double spectral_radius(const Eigen::Ref<const Eigen::MatrixXd>& A, int dense_limit) {
  const auto n = A.rows();
  if (n <= dense_limit) return spectral_radius(A);
  const Eigen::MatrixXd M = A;
  Spectra::DenseGenMatProd<double> op(M);
  // Several Ritz values: the largest-magnitude eigenvalue of a random matrix sits in a crowd.
  const Eigen::Index nev = 3, ncv = std::min<Eigen::Index>(n, 40);
  Spectra::GenEigsSolver<Spectra::DenseGenMatProd<double>> eigs(op, nev, ncv);
  eigs.init();
  eigs.compute(Spectra::SortRule::LargestMagn, 5000, 1e-12);
  if (eigs.info() != Spectra::CompInfo::Successful) throw RunError("Spectra's Arnoldi iteration did not converge");
  return eigs.eigenvalues().cwiseAbs().maxCoeff();
}

std::vector<double> block_radii(const Model& m, int layer, RadiusBlocks blocks) {
  check_layer(m, layer, "spectral radius");
  const LayerSpec& s = m.layers[static_cast<std::size_t>(layer)];
  std::vector<double> r;
  for (int off : blocks_of(s, blocks)) 
    r.push_back(spectral_radius(s.fwd.w_hh.middleRows(off, s.hidden_size), dense_radius_limit));
  return r;
}

double layer_radius(const Model& m, int layer, RadiusBlocks blocks) {
  double r = 0;
  for (double v : block_radii(m, layer, blocks)) r = std::max(r, v);
  return r;
}

void set_layer_radius(Model& m, int layer, double rho, RadiusBlocks blocks, const std::string& where) {
  check_layer(m, layer, where);
  if (!(rho > 0) || !std::isfinite(rho))
    throw InputError(where + ": radius " + format_number(rho) + " for layer " + std::to_string(layer) + "; expected a positive radius");
  LayerSpec& s = m.layers[static_cast<std::size_t>(layer)];
  for (CellParams* p : {&s.fwd, m.bidirectional ? &s.bwd : nullptr}) {
    if (p == nullptr) continue;
    for (int off : blocks_of(s, blocks)) {
      auto B = p->w_hh.middleRows(off, s.hidden_size);
      const double current = spectral_radius(B, dense_radius_limit);
      if (!(current > 0))
        throw RunError(where + ": a block of layer " + std::to_string(layer) +
                       "'s weight_hh has spectral radius 0; it cannot be scaled to " + format_number(rho));
      B *= rho / current;
    }
  }
}

}  // namespace stackdyn
