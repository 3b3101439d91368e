// Isolated fixed points versus points on continuous sets of fixed points (line and plane
// attractors). A search from many starts finds a continuum of fixed points as many distinct
// points along it; each has neutral directions (an eigenvalue 1 of the map, 0 of the flow)
// tangent to the set. Points are therefore grouped when each lies along the other's
// neutral directions; a group of two or more is one continuous set whose dimension is the
// number of neutral directions its points share.
//
// Neutral directions at s: the near-null space of D dr/ds, the singular vectors whose
// singular values are below `neutral_tol`, with D = I (discrete: J_F - I) or D = T
// (continuous: J_G - I), so that the tolerance reads the same in both views. Two points s_i,
// s_j are linked when d = s_j - s_i is within `follow_tol` (relative) of both points'
// neutral subspaces: a straight line or plane links all its points; a curved one links
// neighbours, and the sets are the connected components.
#pragma once
#include <stackdyn/analysis/fixed_points.hpp>

#include <vector>

namespace stackdyn {

struct ContinuousSetOptions {
  double neutral_tol = 1e-3;  ///< a direction is neutral when its singular value is below this
  double follow_tol = 0.1;    ///< |d - P d| <= follow_tol |d|: d lies along the neutral subspace P
  int max_dim = 3000;         ///< no classification above this state_dim (one dense SVD per point)
  int threads = 0;
};

struct ContinuousSet {
  int dimension = 0;        ///< neutral directions shared by its points (1: a line, 2: a plane)
  std::vector<int> points;  ///< indices of its points, increasing
  long long starts = 0;     ///< starts that reached any of its points (sum of their counts)
  double extent = 0;        ///< largest distance between two of its points
};

struct SetClassification {
  bool done = false;             ///< false: state_dim above max_dim, nothing classified
  std::vector<int> neutral_dim;  ///< per point: its neutral directions
  std::vector<int> set_of;       ///< per point: index into sets, or -1 for an isolated point
  std::vector<ContinuousSet> sets;
  int isolated() const;          ///< points on no set
};

/// `counts[k]`: starts that reached point k (for ContinuousSet::starts).
SetClassification classify_fixed_points(const FixedPointSystem& sys, const std::vector<VectorXd>& points,
                                        const std::vector<long long>& counts, const ContinuousSetOptions& o);

/// "line attractor", "plane attractor", or "continuous set of dimension d".
std::string continuous_set_name(int dimension);

}  // namespace stackdyn
