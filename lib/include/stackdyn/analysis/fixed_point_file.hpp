// The fixed-point result file (docs/fixed-points.md): the datasets of an eigen-analysis at
// K states, the whole report of a search, and the attributes that say which view they are in.
// Written by `stackdyn fixed-points`, `spectrum`, `continuation` and the demo.
#pragma once
#include <stackdyn/analysis/fixed_point_analysis.hpp>
#include <stackdyn/core/h5.hpp>

#include <vector>

namespace stackdyn {

/// Eigen-analysis datasets of K states in `g`: eigenvalues, n_unstable, timescales, periods,
/// right/left eigenvectors, block eigenvalues in both readings.
void write_spectra(h5::Group& g, const std::vector<Spectrum>& spectra, const FixedPointSystem& sys,
                   const EigenOptions& eo);
/// The whole fixed-point result below the provenance.
void write_fixed_point_report(h5::Group& root, const Model& model, const VectorXd& x, const FixedPointSearch& s,
                              const FixedPointReport& rep);
/// `predictions` (K, O) in g when the model has a readout: its value at each column of S
/// (state_dim x K), with the input X (one column, or one per state): predictions_at_states.
void write_predictions(h5::Group& g, const Model& model, const MatrixXd& S, const MatrixXd& X);
/// Attributes common to the fixed-point files: mode, units, q's definition, input, tau, state layout.
void write_view_description(h5::Group& root, const Model& model, const VectorXd& x, TimeView view,
                            const std::vector<double>& tau);

}  // namespace stackdyn
