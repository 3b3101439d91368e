// The hierarchical search: layer l's fixed points for each combination of the points below
// (docs/design.md 3), with a capped tree (see fixed_points.hpp).
#include "levenberg_marquardt.hpp"
#include <stackdyn/analysis/fixed_points.hpp>
#include <stackdyn/core/error.hpp>
#include <stackdyn/core/parallel.hpp>
#include <stackdyn/core/random.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>

namespace stackdyn {

using detail::FunctionProblem;
using detail::levenberg_marquardt;
using detail::LmBuffers;

HierarchicalResult find_hierarchical(const FixedPointSystem& sys, const ConstMatRef& starts,
                                     const HierarchicalOptions& o) {
  o.finder.validate("hierarchical fixed-point search");
  const Stack& st = sys.stack();
  const int L = st.num_layers(), N = st.state_dim();
  HierarchicalResult res;
  // Branches of the level below: node index and the full state with the layers so far set.
  struct Branch {
    int node;
    VectorXd full;
  };
  std::vector<Branch> below{{-1, VectorXd::Zero(N)}};
  const int n = std::min<int>(o.starts_per_layer, static_cast<int>(starts.cols()));
  res.n_starts = n;
  // reached[node + 1][i]: the node that start i reached in the branch below `node` (-1: none)
  std::vector<std::vector<int>> reached;
  for (int l = 0; l < L; ++l) {
    const auto& sl = st.slices()[static_cast<std::size_t>(l)];
    std::vector<Branch> next;
    for (const Branch& b : below) {
      // The layer's own residual with the layers below held at their fixed point: it
      // depends only on s^(<=l), and its Jacobian is the diagonal block minus I (scaled).
      auto layer_residual = [&](const VectorXd& sl_state) {
        VectorXd full = b.full;
        full.segment(sl.offset, sl.size) = sl_state;
        VectorXd r(N);
        sys.residual(full, r);
        return VectorXd(r.segment(sl.offset, sl.size));
      };
      auto layer_jacobian = [&](const VectorXd& sl_state) {
        VectorXd full = b.full;
        full.segment(sl.offset, sl.size) = sl_state;
        MatrixXd A = sys.dynamics_block(sys.linearize(full), l);
        if (sys.view() == TimeView::Discrete) A.diagonal().array() -= 1.0;
        return A;
      };
      std::vector<StartResult> runs(static_cast<std::size_t>(n));
      FinderOptions fo = o.finder;
      if (fo.method != FinderMethod::LevenbergMarquardt) fo.method = FinderMethod::LevenbergMarquardt;
      parallel_for(runs.size(), fo.threads, [&](std::size_t i) {
        FunctionProblem<decltype(layer_residual), decltype(layer_jacobian)> p{layer_residual, layer_jacobian, {}, {}};
        LmBuffers buffers;
        runs[i] = levenberg_marquardt(starts.col(static_cast<Eigen::Index>(i)).segment(sl.offset, sl.size), fo, p,
                                      buffers);
      });
      UniqueOptions uo = o.unique;
      uo.outlier_distance_scale = 0;
      const UniqueResult u = unique_points(runs, uo, MatrixXd());
      std::vector<int> node_of_point(u.points.size(), -1);
      for (std::size_t k = 0; k < u.points.size(); ++k) {
        const auto& p = u.points[k];
        if (static_cast<int>(next.size()) >= o.max_combinations) {
          res.capped = true;
          break;
        }
        HierarchyNode node{l, b.node, p.state, p.q, p.count};
        res.nodes.push_back(node);
        node_of_point[k] = static_cast<int>(res.nodes.size()) - 1;
        VectorXd full = b.full;
        full.segment(sl.offset, sl.size) = p.state;
        next.push_back({static_cast<int>(res.nodes.size()) - 1, full});
      }
      // which node each start reached (the first unique point within the merging distance)
      if (reached.size() < static_cast<std::size_t>(b.node + 2)) reached.resize(static_cast<std::size_t>(b.node + 2));
      auto& to = reached[static_cast<std::size_t>(b.node + 1)];
      to.assign(static_cast<std::size_t>(n), -1);
      for (std::size_t i = 0; i < runs.size(); ++i) {
        const auto status = runs[i].status;
        if (status != StartStatus::Converged && !(uo.include_slow && status == StartStatus::SlowPoint)) continue;
        for (std::size_t k = 0; k < u.points.size(); ++k)
          if ((u.points[k].state - runs[i].state).norm() < uo.tol) {
            to[i] = node_of_point[k];
            break;
          }
      }
    }
    below = std::move(next);
  }
  std::vector<int> leaf_index(res.nodes.size(), -1);
  for (const Branch& b : below) {
    leaf_index[static_cast<std::size_t>(b.node)] = static_cast<int>(res.leaves.size());
    res.leaves.push_back(b.node);
    res.full_states.push_back(b.full);
  }
  res.leaf_starts.assign(res.leaves.size(), 0);
  for (int i = 0; i < n; ++i) {
    int node = reached.empty() ? -1 : reached[0][static_cast<std::size_t>(i)];
    while (node >= 0 && res.nodes[static_cast<std::size_t>(node)].layer < L - 1)
      node = static_cast<std::size_t>(node + 1) < reached.size() && !reached[static_cast<std::size_t>(node + 1)].empty()
                 ? reached[static_cast<std::size_t>(node + 1)][static_cast<std::size_t>(i)]
                 : -1;
    if (node >= 0 && leaf_index[static_cast<std::size_t>(node)] >= 0)
      ++res.leaf_starts[static_cast<std::size_t>(leaf_index[static_cast<std::size_t>(node)])];
    else
      ++res.unreached;
  }
  return res;
}

}  // namespace stackdyn
