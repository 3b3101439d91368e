// Each layer's recurrent spectral radius rho(W_hh^(l)), measured and set: a transformation of
// a model's weights (docs/probes.md). Gated cells have one n x n block of weight_hh per gate
// (GRU r, z, n; LSTM i, f, g, o); `RadiusBlocks` says which are measured and scaled:
//   gates      every gate's block is scaled to the radius on its own (what `stackdyn init`'s
//              spectral_radius does), and the layer's radius is the largest of the blocks';
//   candidate  only the candidate block (GRU n, LSTM g) is measured and scaled, the gates'
//              blocks keep their weights.
// A vanilla layer has one block: both are the same. Deep-transition layers have an MLP, not
// a matrix, and are refused.
#pragma once
#include <stackdyn/core/lapack.hpp>
#include <stackdyn/model/model.hpp>

#include <string_view>
#include <vector>

namespace stackdyn {

enum class RadiusBlocks { Gates, Candidate };
std::string_view radius_blocks_name(RadiusBlocks b);  ///< "gates", "candidate"
RadiusBlocks parse_radius_blocks(std::string_view name, std::string_view where);

/// Up to this many rows a block's radius is a dense eigenvalue solve; above, Arnoldi.
inline constexpr int dense_radius_limit = 300;

/// max |eig(A)|: dense (LAPACK dgeev, core/lapack.hpp's one-argument spectral_radius) up to
/// `dense_limit` rows, above by Spectra's Arnoldi (the one eigenvalue of largest magnitude).
/// RunError if neither converges.
double spectral_radius(const Eigen::Ref<const Eigen::MatrixXd>& A, int dense_limit);

/// The spectral radius of each measured block of layer `layer` (0-based), forward direction.
std::vector<double> block_radii(const Model& m, int layer, RadiusBlocks blocks);
/// The layer's radius: the largest of block_radii.
double layer_radius(const Model& m, int layer, RadiusBlocks blocks);

/// Scales the measured blocks of layer `layer` (both directions of a bidirectional layer,
/// each its own) so that each has spectral radius `rho` > 0. InputError naming `where` for a
/// deep-transition layer, a layer out of range or rho <= 0; RunError for a zero block.
void set_layer_radius(Model& m, int layer, double rho, RadiusBlocks blocks, const std::string& where);

}  // namespace stackdyn
