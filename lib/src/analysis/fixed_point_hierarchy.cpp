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
      const int n = std::min<int>(o.starts_per_layer, static_cast<int>(starts.cols()));
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
      for (const auto& p : u.points) {
        if (static_cast<int>(next.size()) >= o.max_combinations) {
          res.capped = true;
          break;
        }
        HierarchyNode node{l, b.node, p.state, p.q, p.count};
        res.nodes.push_back(node);
        VectorXd full = b.full;
        full.segment(sl.offset, sl.size) = p.state;
        next.push_back({static_cast<int>(res.nodes.size()) - 1, full});
      }
    }
    below = std::move(next);
  }
  for (const Branch& b : below) {
    res.leaves.push_back(b.node);
    res.full_states.push_back(b.full);
  }
  return res;
}

}  // namespace stackdyn
