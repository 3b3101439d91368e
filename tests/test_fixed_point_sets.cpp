// Isolated fixed points versus continuous sets of them (line and plane attractors), on
// models whose sets are known exactly; and the hierarchical counts, which add up to the starts.
#include "cli_helpers.hpp"
#include "fixed_point_models.hpp"

#include <catch2/catch.hpp>
#include <stackdyn/analysis/fixed_point_analysis.hpp>
#include <stackdyn/core/h5.hpp>
#include <stackdyn/model/model_io.hpp>

#include <algorithm>
#include <numeric>

using namespace stackdyn;
using Catch::Matchers::Contains;

namespace {

// h' = relu(diag(1, ..., 1, 0.5) h): every h with h_i >= 0 in the first `dim` units and 0
// in the last is a fixed point, with eigenvalue 1 (dim times) along the set.
Model relu_attractor(int dim) {
  Model m;
  m.input_size = 1;
  VectorXd d = VectorXd::Ones(dim + 1);
  d[dim] = 0.5;
  m.layers.push_back(test::vanilla_layer(CellType::RnnRelu, d.asDiagonal(), MatrixXd::Zero(dim + 1, 1),
                                         VectorXd::Zero(dim + 1)));
  m.validate("relu_attractor");
  return m;
}

FixedPointSearch search(TimeView view) {
  FixedPointSearch s;
  s.view = view;
  s.tau = {2.0};
  s.finder.threads = 2;
  return s;
}

}  // namespace

TEST_CASE("a line attractor: its points form one set of dimension 1", "[fixed-points][sets]") {
  const Model m = relu_attractor(1);
  MatrixXd starts(2, 12);
  for (int j = 0; j < 12; ++j) starts.col(j) << 0.1 + 0.08 * j, 0.3 - 0.05 * j;
  const auto view = GENERATE(TimeView::Discrete, TimeView::Continuous);
  const FixedPointReport rep = analyse_fixed_points(m, VectorXd::Zero(1), search(view), &starts);
  REQUIRE(rep.points.size() == 12);
  REQUIRE(rep.sets.done);
  REQUIRE(rep.sets.sets.size() == 1);
  const auto& set = rep.sets.sets[0];
  CHECK(set.dimension == 1);
  CHECK(set.points.size() == 12);
  CHECK(set.starts == 12);
  CHECK(rep.sets.isolated() == 0);
  // the points lie on h2 = 0 over h1 in [0.1, 0.98]
  CHECK(set.extent == Approx(0.88).margin(1e-6));
  for (int d : rep.sets.neutral_dim) CHECK(d == 1);
  const std::string sum = summarise(rep);
  CHECK_THAT(sum, Contains("12 of them on 1 continuous set of fixed points, 0 isolated") &&
                      Contains("a line attractor (12 points"));
}

TEST_CASE("a plane attractor: one set of dimension 2", "[fixed-points][sets]") {
  const Model m = relu_attractor(2);
  MatrixXd starts(3, 16);
  for (int j = 0; j < 16; ++j) starts.col(j) << 0.2 + 0.2 * (j % 4), 0.1 + 0.25 * (j / 4), 0.4;
  const FixedPointReport rep = analyse_fixed_points(m, VectorXd::Zero(1), search(TimeView::Discrete), &starts);
  REQUIRE(rep.points.size() == 16);
  REQUIRE(rep.sets.sets.size() == 1);
  CHECK(rep.sets.sets[0].dimension == 2);
  CHECK(rep.sets.sets[0].points.size() == 16);
  CHECK_THAT(summarise(rep), Contains("plane attractor"));
}

TEST_CASE("three line attractors in a stack", "[fixed-points][sets]") {
  // layer 1: a bistable tanh unit h = tanh(2 h) (three roots); layer 2: the relu line, not
  // reading layer 1: three parallel lines of fixed points, over the two stable roots
  // (stable up to the neutral direction) and the unstable middle one.
  Model m;
  m.input_size = 1;
  m.layers.push_back(test::vanilla_layer(CellType::RnnTanh, test::scalar(2.0), MatrixXd::Zero(1, 1), VectorXd::Zero(1)));
  m.layers.push_back(relu_attractor(1).layers[0]);
  m.layers[1].fwd.w_ih = MatrixXd::Zero(2, 1);
  m.validate("three_lines");
  MatrixXd starts(3, 30);
  const double h0[3] = {-0.9, 0.02, 0.9};
  for (int j = 0; j < 30; ++j) starts.col(j) << h0[j % 3], 0.1 + 0.1 * (j / 3), 0.3;
  FixedPointSearch s = search(TimeView::Discrete);
  const FixedPointReport rep = analyse_fixed_points(m, VectorXd::Zero(1), s, &starts);
  INFO(summarise(rep, 40));
  REQUIRE(rep.points.size() == 30);
  REQUIRE(rep.sets.sets.size() == 3);
  int unstable_sets = 0;
  for (const auto& set : rep.sets.sets) {
    CHECK(set.dimension == 1);
    CHECK(set.points.size() == 10);
    // one root of layer 1 per set
    double lo = 1e9, hi = -1e9;
    for (int k : set.points) {
      lo = std::min(lo, rep.points[static_cast<std::size_t>(k)].state[0]);
      hi = std::max(hi, rep.points[static_cast<std::size_t>(k)].state[0]);
    }
    CHECK(hi - lo < 1e-9);
    unstable_sets += rep.spectra[static_cast<std::size_t>(set.points[0])].n_unstable > 0;
  }
  CHECK(unstable_sets == 1);
  CHECK(rep.sets.isolated() == 0);

  SECTION("a neutral_tol below the exact zero singular value: every point isolated") {
    s.sets.neutral_tol = 0;
    const FixedPointReport r2 = analyse_fixed_points(m, VectorXd::Zero(1), s, &starts);
    CHECK(r2.sets.sets.empty());
    CHECK(r2.sets.isolated() == 30);
  }
}

TEST_CASE("isolated points are not grouped", "[fixed-points][sets]") {
  // two bistable units: 9 hyperbolic points, no neutral direction
  Model m;
  m.input_size = 1;
  m.layers.push_back(test::vanilla_layer(CellType::RnnTanh, 2.0 * MatrixXd::Identity(2, 2), MatrixXd::Zero(2, 1),
                                         VectorXd::Zero(2)));
  m.validate("bistable");
  FixedPointSearch s = search(TimeView::Discrete);
  s.n_init = 200;
  s.seed = 2;
  const FixedPointReport rep = analyse_fixed_points(m, VectorXd::Zero(1), s);
  REQUIRE(rep.points.size() == 9);
  CHECK(rep.sets.sets.empty());
  CHECK(rep.sets.isolated() == 9);
  for (int d : rep.sets.neutral_dim) CHECK(d == 0);
  CHECK_THAT(summarise(rep), !Contains("continuous set"));
}

TEST_CASE("hierarchical: the points' counts and the unreached starts add up to the starts", "[fixed-points][sets]") {
  const Model m = test::bistable_stack();  // 27 points
  FixedPointSearch s = search(TimeView::Discrete);
  s.hierarchical = true;
  s.n_init = 90;
  s.seed = 4;
  const FixedPointReport rep = analyse_fixed_points(m, VectorXd::Zero(1), s);
  REQUIRE(rep.hierarchy);
  CHECK(rep.points.size() == 27);
  long long total = 0;
  for (const auto& p : rep.points) total += p.count;
  CHECK(total + rep.hierarchy->unreached == 90);
  CHECK(total > 45);  // most starts reach a point
  // a start's path, followed by hand for every start: the same counts
  const int n = rep.hierarchy->n_starts;
  CHECK(n == 90);
  CHECK(std::accumulate(rep.hierarchy->leaf_starts.begin(), rep.hierarchy->leaf_starts.end(), 0) +
            rep.hierarchy->unreached ==
        n);
  CHECK_THAT(summarise(rep), Contains("of 90 starts (" + std::to_string(total) + " reached a point"));
}

TEST_CASE("fixed-points writes the continuous sets", "[fixed-points][sets][cli]") {
  test::ScratchDir dir("sets_cli");
  const std::string model = dir / "m.h5", starts = dir / "starts.h5", out = dir / "fp.h5";
  write_model(relu_attractor(1), model, Provenance{});
  {
    h5::File g = h5::File::create(starts);
    std::vector<double> s;
    for (int j = 0; j < 8; ++j) {
      s.push_back(0.2 + 0.1 * j);
      s.push_back(0.5);
    }
    g.write("states", {8, 2}, s.data());
  }
  const auto r = test::run_cli({"fixed-points", model, "-o", out, "--initial-states", starts});
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK_THAT(r.out, Contains("8 of them on 1 continuous set"));
  const h5::File f = h5::File::open(out);
  CHECK(f.read_int("fixed_points/continuous_set") == std::vector<long long>(8, 0));
  CHECK(f.read_int("fixed_points/neutral_dim") == std::vector<long long>(8, 1));
  CHECK(f.read_int("continuous_sets/dimension") == std::vector<long long>{1});
  CHECK(f.read_int("continuous_sets/n_points") == std::vector<long long>{8});
  CHECK(f.read_int("continuous_sets/counts") == std::vector<long long>{8});
  CHECK(f.group("continuous_sets").attr_int("n_isolated") == 0);
}
