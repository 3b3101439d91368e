// Deduplication of the converged starts into unique points with counts (see fixed_points.hpp).
#include <stackdyn/analysis/fixed_points.hpp>
#include <stackdyn/core/error.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>

namespace stackdyn {

UniqueResult unique_points(const std::vector<StartResult>& starts, const UniqueOptions& o, const ConstMatRef& seeds) {
  std::vector<int> order;
  for (std::size_t i = 0; i < starts.size(); ++i) {
    const auto st = starts[i].status;
    if (st == StartStatus::Converged || (o.include_slow && st == StartStatus::SlowPoint))
      order.push_back(static_cast<int>(i));
  }
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return starts[a].q < starts[b].q; });
  UniqueResult res;
  for (int i : order) {
    bool merged = false;
    for (auto& u : res.points)
      if ((u.state - starts[i].state).norm() < o.tol) {
        ++u.count;
        merged = true;
        break;
      }
    if (!merged) res.points.push_back({starts[i].state, starts[i].q, 1, i});
  }
  if (o.outlier_distance_scale > 0 && seeds.cols() > 0) {
    const VectorXd c = seeds.rowwise().mean();
    const double radius = (seeds.colwise() - c).colwise().norm().maxCoeff();
    const auto before = res.points.size();
    std::erase_if(res.points,
                  [&](const UniquePoint& u) { return (u.state - c).norm() > o.outlier_distance_scale * radius; });
    res.outliers_removed = static_cast<int>(before - res.points.size());
  }
  return res;
}

}  // namespace stackdyn
