// Continuation of fixed points against closed forms. In the input: the
// folds of h = tanh(2 h + x) at x = +-(atanh(h_f) - 2 h_f), h_f = sqrt(1/2), and the period
// doubling of h = tanh(-3 h + x) where 3 (1 - h^2) = 1. In a scale p on a weight matrix:
// dr/dp against central differences, the pitchfork of h = tanh(p w h) at p w = 1, the fold
// of h = tanh(p w h + b) where also p w (1 - h^2) = 1, and the command's errors.
#include "cli_helpers.hpp"
#include "fixed_point_models.hpp"
#include "random_model.hpp"

#include <catch2/catch.hpp>
#include <stackdyn/analysis/continuation.hpp>
#include <stackdyn/core/h5.hpp>
#include <stackdyn/model/model_io.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>

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

// --- a scale on a weight matrix as the parameter ------------------------

namespace {

// h(p) on the nonzero branch of h = tanh(p w h): p = atanh(h) / (w h).
double pitchfork_p(double h, double w) { return std::atanh(h) / (w * h); }

}  // namespace

TEST_CASE("weight scale: analytic dr/dp against central differences in p, every cell type",
          "[fixed-points][continuation][scale]") {
  const Model m = test::random_model(2,
                                     {{CellType::RnnTanh, 5},
                                      {CellType::Gru, 4, false, true},
                                      {CellType::GruResetBefore, 3, true, false},
                                      {CellType::Lstm, 3},
                                      {CellType::DeepTransition, 4, false, false, {5}, true}},
                                     21, 0.7);
  const auto view = GENERATE(TimeView::Discrete, TimeView::Continuous);
  const std::vector<double> tau = {1.0, 2.0, 0.5, 3.0, 1.5};
  const VectorXd x0 = VectorXd::Constant(2, 0.3);
  std::mt19937_64 g(4);
  std::uniform_real_distribution<double> U(-0.8, 0.8);
  VectorXd s(m.state_dim());
  for (auto& v : s) v = U(g);
  const double p = 0.8, h = 1e-5;
  for (int l = 0; l < m.num_layers(); ++l)
    for (const char* which : {"weight_hh", "weight_ih"}) {
      const std::string name = "layers/" + std::to_string(l) + "/" + which;
      const ContinuationParameter par = parse_weight_scale(m, name, "test");
      CHECK(par.name() == name);
      const VectorXd analytic = residual_dp(m, x0, par, view, tau, s, p);
      const Model mp = model_at(m, par, p + h), mm = model_at(m, par, p - h);
      const FixedPointSystem sp(mp, x0, view, tau), sm(mm, x0, view, tau);
      VectorXd rp(s.size()), rm(s.size());
      sp.residual(s, rp);
      sm.residual(s, rm);
      const VectorXd fd = (rp - rm) / (2 * h);
      INFO(name << (view == TimeView::Discrete ? " discrete" : " continuous"));
      CHECK(analytic.norm() > 1e-3);
      CHECK((analytic - fd).norm() < 1e-8 * std::max(1.0, fd.norm()));
      // the layers below the scaled one do not move
      const int below = m.state_slices()[static_cast<std::size_t>(l)].offset;
      CHECK(analytic.head(below).norm() == 0.0);
    }
}

TEST_CASE("weight scale: the pitchfork of h = tanh(p w h) at p w = 1", "[fixed-points][continuation][scale]") {
  const auto view = GENERATE(TimeView::Discrete, TimeView::Continuous);
  const double w = 0.5;  // pitchfork at p = 2
  const Model m = test::tanh_unit(w);
  const ContinuationParameter par = parse_weight_scale(m, "layers/0/weight_hh", "test");
  ContinuationOptions o;
  o.p_min = 0;
  o.p_max = 4;
  SECTION("the origin loses stability exactly at p w = 1") {
    const Branch br = continue_branch(m, VectorXd::Zero(1), par, view, {2.0}, VectorXd::Zero(1), 0.3, o);
    INFO("stop: " << br.stop_reason);
    CHECK(br.stop_reason == "left the parameter range");
    REQUIRE(br.events.size() == 1);
    CHECK(br.events[0].kind ==
          (view == TimeView::Discrete ? "stability_change (lambda = +1)" : "stability_change (lambda = 0)"));
    CHECK(br.events[0].p == Approx(2.0).margin(1e-9));  // lambda is linear in p on the origin
    CHECK(br.events[0].n_unstable_before == 0);
    CHECK(br.events[0].n_unstable_after == 1);
    for (const auto& bp : br.points) CHECK(std::abs(bp.state[0]) < 1e-12);
  }
  SECTION("the nonzero branch comes down to the pitchfork and goes back up as its mirror image") {
    const auto roots = test::tanh_roots(3.6 * w, 0.0);  // p0 = 3.6
    REQUIRE(roots.size() == 3);
    o.direction = -1;  // down towards the pitchfork first
    const Branch br =
        continue_branch(m, VectorXd::Zero(1), par, view, {2.0}, VectorXd::Constant(1, roots[2]), 3.6, o);
    INFO("stop: " << br.stop_reason);
    CHECK(br.stop_reason == "left the parameter range");
    double p_low = 1e300;
    bool crossed = false;
    for (std::size_t k = 0; k < br.points.size(); ++k) {
      const auto& bp = br.points[k];
      const double hk = bp.state[0];
      CHECK(std::abs(std::tanh(bp.p * w * hk) - hk) < 1e-9);
      if (std::abs(hk) > 1e-2) CHECK(bp.p == Approx(pitchfork_p(hk, w)).epsilon(1e-6));
      p_low = std::min(p_low, bp.p);
      if (k > 0 && (br.points[k - 1].state[0] > 0) != (hk > 0)) crossed = true;
      CHECK(bp.n_unstable == 0);  // both halves are stable
    }
    CHECK(crossed);
    CHECK(p_low > 2.0 - 1e-9);
    CHECK(p_low < 2.0 + 5e-3);
    CHECK(br.points.back().state[0] < -0.5);  // ends on the mirror image -h
  }
}

TEST_CASE("weight scale: the fold of h = tanh(p w h + b)", "[fixed-points][continuation][scale]") {
  const auto view = GENERATE(TimeView::Discrete, TimeView::Continuous);
  const double w = 1.0, b = 0.1;
  const Model m = test::tanh_unit(w, b);
  // the fold: h = tanh(p w h + b) and p w (1 - h^2) = 1, i.e. atanh(h) - h / (1 - h^2) = b,
  // decreasing in h, so one root h_f < 0 (bisection), p_f = 1 / (w (1 - h_f^2))
  double lo = -0.99, hi = 0.0;
  for (int k = 0; k < 200; ++k) {
    const double mid = 0.5 * (lo + hi);
    (std::atanh(mid) - mid / (1 - mid * mid) - b > 0 ? lo : hi) = mid;
  }
  const double hf = 0.5 * (lo + hi), pf = 1 / (w * (1 - hf * hf));
  const double p0 = 3.0;
  const auto roots = test::tanh_roots(p0 * w, b);
  REQUIRE(roots.size() == 3);
  ContinuationOptions o;
  o.p_min = 0.5;
  o.p_max = 3.05;
  o.direction = -1;
  const Branch br = continue_branch(m, VectorXd::Zero(1), parse_weight_scale(m, "layers/0/weight_hh", "test"), view,
                                    {1.0}, VectorXd::Constant(1, roots[0]), p0, o);
  INFO("stop: " << br.stop_reason << ", fold expected at p = " << pf << ", h = " << hf);
  CHECK(br.stop_reason == "left the parameter range");
  REQUIRE(br.events.size() == 1);
  CHECK(br.events[0].kind == "fold");
  CHECK(br.events[0].p == Approx(pf).margin(2e-3));
  CHECK(br.events[0].n_unstable_before == 0);
  CHECK(br.events[0].n_unstable_after == 1);
  double p_low = 1e300;
  for (const auto& bp : br.points) {
    CHECK(std::abs(std::tanh(bp.p * w * bp.state[0] + b) - bp.state[0]) < 1e-9);
    p_low = std::min(p_low, bp.p);
  }
  CHECK(p_low > pf - 1e-9);  // no fixed point of this branch below the fold
  CHECK(p_low < pf + 5e-3);
}

TEST_CASE("weight scale: bad dataset names are refused, naming what was wrong", "[fixed-points][continuation][scale]") {
  const Model m = test::random_model(1, {{CellType::RnnTanh, 3}, {CellType::DeepTransition, 2, false, false, {4}}}, 3);
  CHECK(parse_weight_scale(m, "layers/1/weight_ih", "--scale").layer == 1);
  CHECK_FALSE(parse_weight_scale(m, "layers/1/weight_ih", "--scale").recurrent);
  using Catch::Matchers::Contains;
  CHECK_THAT(test::message_of([&] { parse_weight_scale(m, "weight_hh", "--scale"); }),
             Contains("--scale: 'weight_hh': expected layers/<l>/weight_hh"));
  CHECK_THAT(test::message_of([&] { parse_weight_scale(m, "layers/x/weight_hh", "--scale"); }),
             Contains("expected layers/<l>/weight_hh"));
  CHECK_THAT(test::message_of([&] { parse_weight_scale(m, "layers/2/weight_hh", "--scale"); }),
             Contains("no such layer: the model's layers are layers/0 .. layers/1"));
  CHECK_THAT(test::message_of([&] { parse_weight_scale(m, "layers/0/mlp_weight_0", "--scale"); }),
             Contains("layer 0 has no matrix 'mlp_weight_0'"));
  CHECK_THAT(test::message_of([&] { parse_weight_scale(m, "layers/1/mlp_weight_0", "--scale"); }),
             Contains("only a layer's weight_hh or weight_ih can be scaled"));
  CHECK_THAT(test::message_of([&] { parse_weight_scale(m, "layers/0/bias_ih", "--scale"); }),
             Contains("only a layer's weight_hh or weight_ih"));
}

TEST_CASE("stackdyn continuation --scale: the pitchfork in the file, and one-line errors",
          "[fixed-points][continuation][scale][cli]") {
  test::ScratchDir dir("continuation_scale");
  const std::string model = dir / "unit.h5", out = dir / "out.h5";
  write_model(test::tanh_unit(0.5), model, Provenance{});
  SECTION("the origin's branch changes stability at p = 2") {
    const auto r = test::run_cli({"continuation", model, "-o", out, "--scale", "layers/0/weight_hh", "--p-min", "0",
                                  "--p-max", "4", "--p-start", "0.5", "--n-init", "16", "--threads", "1"});
    INFO(r.err);
    REQUIRE(r.code == 0);
    CHECK_THAT(r.out, Catch::Matchers::Contains("stability_change"));
    const h5::File f = h5::File::open(out);
    CHECK(f.attr_string("parameter_kind") == "weight_scale");
    CHECK(f.attr_string("scaled_dataset") == "layers/0/weight_hh");
    CHECK(f.attr_string("parameter").find("p * layers/0/weight_hh") != std::string::npos);
    const VectorXd ep = f.read_vector("branches/branch_0/event_p");
    REQUIRE(ep.size() == 1);
    CHECK(ep[0] == Approx(2.0).margin(1e-9));
  }
  SECTION("bad names") {
    for (const auto& [arg, what] : std::vector<std::pair<std::string, std::string>>{
             {"layers/0/weight_xx", "layer 0 has no matrix 'weight_xx'"},
             {"layers/1/weight_hh", "no such layer: the model's layers are layers/0 .. layers/0"},
             {"layer/0/weight_hh", "expected layers/<l>/weight_hh or layers/<l>/weight_ih"},
             {"layers/0/bias_hh", "only a layer's weight_hh or weight_ih can be scaled"}}) {
      const auto r = test::run_cli({"continuation", model, "-o", out, "--scale", arg});
      test::expect_clean_failure(r, out, {"--scale", what});
    }
    const auto both = test::run_cli({"continuation", model, "-o", out, "--scale", "layers/0/weight_hh", "--direction", "1"});
    test::expect_clean_failure(both, out, {"--direction and --scale"});
    const auto none = test::run_cli({"continuation", model, "-o", out});
    test::expect_clean_failure(none, out, {"--direction or --scale"});
  }
}

TEST_CASE("stackdyn continuation starts at the model as it is and goes both ways; given starts; finder options",
          "[fixed-points][continuation][cli]") {
  // h = tanh(p w h), w = 1.5: at p = 1 three points (0, +-h*), the origin stable for p w < 1
  test::ScratchDir dir("continuation_defaults");
  const std::string model = dir / "unit.h5", out = dir / "out.h5";
  write_model(test::tanh_unit(1.5), model, Provenance{});
  auto events_at = [](const h5::File& f) {
    std::vector<double> p;
    for (const auto& b : f.group("branches").children()) {
      const VectorXd e = f.read_vector("branches/" + b + "/event_p");
      for (Eigen::Index i = 0; i < e.size(); ++i) p.push_back(e[i]);
    }
    return p;
  };
  const std::string three = dir / "three.h5";  // near each of the three points at p = 1
  {
    h5::File g = h5::File::create(three);
    const double s3[3] = {-0.9, 0.01, 0.9};
    g.write("states", {3, 1}, s3);
  }
  SECTION("--scale: p = 1 in [0, 2], the origin's branch changes stability at p = 1/w on the way down") {
    const auto r = test::run_cli({"continuation", model, "-o", out, "--scale", "layers/0/weight_hh", "--initial-states",
                                  three, "--threads", "1", "--q-tol", "1e-14", "--noise", "0.3"});
    INFO(r.err);
    REQUIRE(r.code == 0);
    CHECK_THAT(r.out, Catch::Matchers::Contains("from 3 fixed points at p = 1"));
    const h5::File f = h5::File::open(out);
    CHECK(f.attr_double("p_start") == 1.0);
    CHECK(f.attr_double("p_min") == 0.0);
    CHECK(f.attr_double("p_max") == 2.0);
    CHECK(f.attr_string("config").find("q_tol = 1e-14") != std::string::npos);
    CHECK(f.attr_string("config").find("noise = 0.3") != std::string::npos);
    // every branch starts at p = 1 and moves away from it: j = 0 up, j = 1 down
    for (int i = 0; i < 6; ++i) {
      const VectorXd p = f.read_vector("branches/branch_" + std::to_string(i) + "/p");
      REQUIRE(p.size() > 2);
      CHECK(p[0] == Approx(1.0));
      CHECK((i % 2 ? p[1] < p[0] : p[1] > p[0]));
    }
    const auto ev = events_at(f);
    CHECK(std::any_of(ev.begin(), ev.end(), [](double p) { return std::abs(p - 1 / 1.5) < 1e-8; }));
  }
  SECTION("--direction: p = 0 (the input x0) in [-1, 1]; a zero direction is refused") {
    const auto r = test::run_cli({"continuation", model, "-o", out, "--direction", "1", "--n-init", "16",
                                  "--threads", "1"});
    INFO(r.err);
    REQUIRE(r.code == 0);
    CHECK(h5::File::open(out).attr_double("p_start") == 0.0);
    std::filesystem::remove(out);
    test::expect_clean_failure(test::run_cli({"continuation", model, "-o", out, "--direction", "0"}), out,
                               {"--direction", "zero"});
  }
  SECTION("from the points of a fixed-points file") {
    const std::string fp = dir / "fp.h5";
    REQUIRE(test::run_cli({"fixed-points", model, "-o", fp, "--n-init", "32"}).code == 0);
    const auto r = test::run_cli({"continuation", model, "-o", out, "--scale", "layers/0/weight_hh",
                                  "--initial-states", fp, "--threads", "1"});
    INFO(r.err);
    REQUIRE(r.code == 0);
    const h5::File f = h5::File::open(out);
    const auto n = h5::File::open(fp).read("fixed_points/q").data.size();
    CHECK(f.attr_string("starts_sampling") == "starts: given (" + std::to_string(n) + " states)");
    CHECK(f.attr_string("initial_states_dataset") == "fixed_points/states");
    CHECK(f.group("branches").children().size() == 2 * n);
  }
}
