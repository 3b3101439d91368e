// Continuation of fixed points in the input (issue 4 item 6) against closed forms: the folds
// of h = tanh(2 h + x) at x = +-(atanh(h_f) - 2 h_f), h_f = sqrt(1/2), and the period
// doubling of h = tanh(-3 h + x) where 3 (1 - h^2) = 1.
#include "fixed_point_models.hpp"

#include <catch2/catch.hpp>
#include <stackdyn/continuation.hpp>

#include <cmath>

using namespace stackdyn;

TEST_CASE("continuation turns through both folds of the S-shaped branch", "[fixed-points][continuation]") {
  const auto view = GENERATE(TimeView::Discrete, TimeView::Continuous);
  const Model m = test::tanh_unit(2.0, 0.0, 1.0);  // h' = tanh(2 h + x)
  const auto roots = test::tanh_roots(2.0, -1.0);
  REQUIRE(roots.size() == 1);
  ContinuationOptions o;
  o.p_min = -1.05;
  o.p_max = 1.0;
  const Branch br = continue_branch(m, VectorXd::Zero(1), VectorXd::Ones(1), view, {2.0},
                                    VectorXd::Constant(1, roots[0]), -1.0, o);
  INFO("stop: " << br.stop_reason << ", points " << br.points.size());
  CHECK(br.stop_reason == "left the parameter range");
  CHECK(br.points.back().p > 1.0);
  const double hf = std::sqrt(0.5), pf = std::atanh(hf) - 2 * hf;  // -0.5328
  REQUIRE(br.events.size() == 2);
  CHECK(br.events[0].kind == "fold");
  CHECK(br.events[1].kind == "fold");
  CHECK(br.events[0].p == Approx(-pf).margin(5e-3));
  CHECK(br.events[1].p == Approx(pf).margin(5e-3));
  CHECK(br.events[0].n_unstable_before == 0);
  CHECK(br.events[0].n_unstable_after == 1);
  CHECK(br.events[1].n_unstable_after == 0);
  // every point on the branch is a fixed point of its own input
  for (const auto& bp : br.points) CHECK(std::abs(std::tanh(2 * bp.state[0] + bp.p) - bp.state[0]) < 1e-9);
}

TEST_CASE("continuation finds the period doubling of a negative self-coupling", "[fixed-points][continuation]") {
  const Model m = test::tanh_unit(-3.0, 0.0, 1.0);  // h' = tanh(-3 h + x): lambda = -3 (1 - h^2)
  ContinuationOptions o;
  o.p_min = -1;
  o.p_max = 5;
  const Branch br =
      continue_branch(m, VectorXd::Zero(1), VectorXd::Ones(1), TimeView::Discrete, {1.0}, VectorXd::Zero(1), 0.0, o);
  const double h = std::sqrt(2.0 / 3.0), p = std::atanh(h) + 3 * h;  // 3.596
  REQUIRE(br.events.size() == 1);
  CHECK(br.events[0].kind == "period_doubling");
  CHECK(br.events[0].p == Approx(p).margin(5e-3));
  CHECK(br.events[0].n_unstable_before == 1);
  CHECK(br.events[0].n_unstable_after == 0);
}
