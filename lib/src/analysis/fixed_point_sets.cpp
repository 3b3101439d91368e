// Isolated fixed points versus points on continuous sets (see fixed_point_sets.hpp).
#include <stackdyn/analysis/fixed_point_sets.hpp>
#include <stackdyn/core/parallel.hpp>

#include <Eigen/SVD>

#include <algorithm>
#include <numeric>
#include <string>

namespace stackdyn {
namespace {

int find_root(std::vector<int>& parent, int i) {
  while (parent[static_cast<std::size_t>(i)] != i) {
    parent[static_cast<std::size_t>(i)] = parent[static_cast<std::size_t>(parent[static_cast<std::size_t>(i)])];
    i = parent[static_cast<std::size_t>(i)];
  }
  return i;
}

// |d - V V^T d| / |d| for orthonormal columns V
double off_subspace(const MatrixXd& V, const VectorXd& d) {
  return (d - V * (V.transpose() * d)).norm() / d.norm();
}

}  // namespace

int SetClassification::isolated() const {
  return static_cast<int>(std::count(set_of.begin(), set_of.end(), -1));
}

std::string continuous_set_name(int dimension) {
  if (dimension == 1) return "line attractor";
  if (dimension == 2) return "plane attractor";
  return "continuous set of dimension " + std::to_string(dimension);
}

SetClassification classify_fixed_points(const FixedPointSystem& sys, const std::vector<VectorXd>& points,
                                        const std::vector<long long>& counts, const ContinuousSetOptions& o) {
  SetClassification c;
  const std::size_t K = points.size();
  c.set_of.assign(K, -1);
  c.neutral_dim.assign(K, 0);
  if (sys.dim() > o.max_dim) return c;
  c.done = true;
  // each point's neutral subspace (orthonormal columns)
  std::vector<MatrixXd> neutral(K);
  parallel_for(K, o.threads, [&](std::size_t k) {
    MatrixXd M = sys.jacobian(sys.linearize(points[k]));
    if (sys.view() == TimeView::Continuous) M = sys.tau_per_state().asDiagonal() * M;
    const Eigen::BDCSVD<MatrixXd> svd(M, Eigen::ComputeFullV);
    const auto& sv = svd.singularValues();  // descending
    Eigen::Index d = 0;
    while (d < sv.size() && sv[sv.size() - 1 - d] < o.neutral_tol) ++d;
    neutral[k] = svd.matrixV().rightCols(d);
    c.neutral_dim[k] = static_cast<int>(d);
  });
  std::vector<int> parent(K);
  std::iota(parent.begin(), parent.end(), 0);
  for (std::size_t i = 0; i < K; ++i) {
    if (c.neutral_dim[i] == 0) continue;
    for (std::size_t j = i + 1; j < K; ++j) {
      if (c.neutral_dim[j] == 0) continue;
      const VectorXd d = points[j] - points[i];
      if (d.norm() == 0) continue;
      if (off_subspace(neutral[i], d) <= o.follow_tol && off_subspace(neutral[j], d) <= o.follow_tol)
        parent[static_cast<std::size_t>(find_root(parent, static_cast<int>(j)))] = find_root(parent, static_cast<int>(i));
    }
  }
  std::vector<int> members(K, 0);
  for (std::size_t k = 0; k < K; ++k) ++members[static_cast<std::size_t>(find_root(parent, static_cast<int>(k)))];
  std::vector<int> set_of_root(K, -1);
  for (std::size_t k = 0; k < K; ++k) {
    const auto r = static_cast<std::size_t>(find_root(parent, static_cast<int>(k)));
    if (members[r] < 2) continue;
    if (set_of_root[r] < 0) {
      set_of_root[r] = static_cast<int>(c.sets.size());
      c.sets.emplace_back();
      c.sets.back().dimension = c.neutral_dim[k];
    }
    ContinuousSet& s = c.sets[static_cast<std::size_t>(set_of_root[r])];
    for (int p : s.points) s.extent = std::max(s.extent, (points[k] - points[static_cast<std::size_t>(p)]).norm());
    s.points.push_back(static_cast<int>(k));
    s.dimension = std::min(s.dimension, c.neutral_dim[k]);
    s.starts += k < counts.size() ? counts[k] : 0;
    c.set_of[k] = set_of_root[r];
  }
  return c;
}

}  // namespace stackdyn
