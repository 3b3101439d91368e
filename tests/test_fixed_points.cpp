// Fixed points against known answers: the tanh pitchfork, linear layers,
// a stack whose count is the product of its layers', slow points, and the three methods.
#include "fixed_point_models.hpp"
#include "random_model.hpp"

#include <catch2/catch.hpp>
#include <stackdyn/analysis/eigen_analysis.hpp>
#include <stackdyn/analysis/fixed_point_analysis.hpp>
#include <stackdyn/core/error.hpp>
#include <stackdyn/analysis/fixed_points.hpp>
#include <stackdyn/dynamics/integrate.hpp>
#include <stackdyn/core/random.hpp>

#include <algorithm>
#include <cmath>

using namespace stackdyn;

namespace {

MatrixXd uniform_starts(int dim, int n, double a, std::uint64_t seed) {
  Rng rng(seed);
  MatrixXd S(dim, n);
  for (Eigen::Index i = 0; i < S.size(); ++i) S.data()[i] = rng.uniform(-a, a);
  return S;
}

std::vector<double> sorted_first_coordinate(const std::vector<UniquePoint>& pts) {
  std::vector<double> v;
  for (const auto& p : pts) v.push_back(p.state[0]);
  std::sort(v.begin(), v.end());
  return v;
}

}  // namespace

TEST_CASE("1-unit tanh pitchfork: one point below w = 1, three beyond, with their stabilities", "[fixed-points]") {
  const auto method = GENERATE(FinderMethod::LevenbergMarquardt, FinderMethod::Hybrid);
  const auto view = GENERATE(TimeView::Discrete, TimeView::Continuous);
  const double tau = 2.5;
  for (double w : {0.5, 0.9, 1.5, 3.0}) {
    INFO("w = " << w << ", method " << finder_method_name(method) << ", " << time_view_name(view));
    const Model m = test::tanh_unit(w);
    const FixedPointSystem sys(m, VectorXd::Zero(1), view, {tau});
    FinderOptions fo;
    fo.method = method;
    fo.threads = 1;
    const auto runs = run_starts(sys, uniform_starts(1, 40, 1.2, 3), fo);
    const auto u = unique_points(runs, UniqueOptions{}, MatrixXd());
    const auto expected = test::tanh_roots(w, 0.0);
    REQUIRE(expected.size() == (w < 1 ? 1u : 3u));
    const auto found = sorted_first_coordinate(u.points);
    REQUIRE(found.size() == expected.size());
    for (std::size_t i = 0; i < found.size(); ++i) CHECK(found[i] == Approx(expected[i]).margin(1e-6));
    for (const auto& p : u.points) {
      CHECK(p.q < 1e-12);
      // the eigenvalue of the map is w (1 - h^2); of the flow, (w (1 - h^2) - 1) / tau
      const double h = p.state[0], mu = w * (1 - h * h);
      EigenOptions eo;
      eo.which = natural_order(view);
      const Spectrum sp = analyse_spectrum(sys, p.state, eo);
      const double expect = view == TimeView::Discrete ? mu : (mu - 1) / tau;
      CHECK(sp.eigenvalues[0].real() == Approx(expect).margin(1e-9));
      CHECK(sp.eigenvalues[0].imag() == 0.0);
      const int unstable = std::abs(h) < 1e-6 && w > 1 ? 1 : 0;
      CHECK(sp.n_unstable == unstable);
      if (!unstable) {
        const double timescale = view == TimeView::Discrete ? -1 / std::log(mu) : tau / (1 - mu);
        CHECK(sp.timescales[0] == Approx(timescale).epsilon(1e-7));
      }
    }
  }
}

TEST_CASE("linear layers: one fixed point, (I - W)^{-1} (U x + b), with the eigenvalues of W", "[fixed-points]") {
  // A relu layer is linear where every pre-activation is positive; with |W|_2 < 1 the map is
  // a contraction (relu is 1-Lipschitz), so the point is the only one.
  std::mt19937_64 g(11);
  const int n = 6;
  MatrixXd W = test::random_matrix(g, n, n, 1.0);
  W *= 0.8 / W.operatorNorm();
  const MatrixXd U = test::random_matrix(g, n, 2, 1.0);
  const VectorXd b = VectorXd::Constant(n, 3.0);
  Model m;
  m.input_size = 2;
  m.layers.push_back(test::vanilla_layer(CellType::RnnRelu, W, U, b));
  m.validate("linear");
  const VectorXd x = (VectorXd(2) << 0.3, -0.2).finished();
  const VectorXd expect = (MatrixXd::Identity(n, n) - W).lu().solve(U * x + b);
  REQUIRE(expect.minCoeff() > 0);  // inside the linear region
  const FixedPointSystem sys(m, x, TimeView::Discrete);
  FinderOptions fo;
  fo.threads = 1;
  const auto runs = run_starts(sys, uniform_starts(n, 20, 5.0, 4), fo);
  const auto u = unique_points(runs, UniqueOptions{}, MatrixXd());
  REQUIRE(u.points.size() == 1);
  CHECK(u.points[0].count == 20);
  CHECK((u.points[0].state - expect).norm() < 1e-8);
  EigenOptions eo;
  eo.n_vectors = n;
  const Spectrum sp = analyse_spectrum(sys, u.points[0].state, eo);
  Eigen::VectorXcd eigW = W.eigenvalues();
  REQUIRE(sp.eigenvalues.size() == n);
  // same multiset: each eigenvalue of W has a match
  for (const auto& l : eigW) CHECK((sp.eigenvalues.array() - l).abs().minCoeff() < 1e-10);
  CHECK(sp.n_unstable == 0);
}

TEST_CASE("a 2-layer stack has the product of its layers' fixed-point counts", "[fixed-points][threads]") {
  const Model m = test::bistable_stack();
  const auto view = GENERATE(TimeView::Discrete, TimeView::Continuous);
  const FixedPointSystem sys(m, VectorXd::Zero(1), view, {1.0, 3.0});
  FinderOptions fo;
  fo.threads = 2;
  const MatrixXd starts = uniform_starts(3, 600, 1.1, 5);

  SECTION("full search") {
    const auto u = unique_points(run_starts(sys, starts, fo), UniqueOptions{}, MatrixXd());
    CHECK(u.points.size() == 27);
    // stable exactly when every unit sits on an outer branch: 2^3 = 8 stable points
    int stable = 0;
    for (const auto& p : u.points) stable += analyse_spectrum(sys, p.state, EigenOptions{}).n_unstable == 0;
    CHECK(stable == 8);
  }
  SECTION("hierarchical: layer 1, then layer 2 for each of its points") {
    HierarchicalOptions ho;
    ho.finder = fo;
    ho.starts_per_layer = 60;
    const auto h = find_hierarchical(sys, starts, ho);
    CHECK(h.full_states.size() == 27);
    CHECK_FALSE(h.capped);
    for (const auto& s : h.full_states) CHECK(sys.q(s) < 1e-12);
    ho.max_combinations = 4;
    const auto capped = find_hierarchical(sys, starts, ho);
    CHECK(capped.capped);
    CHECK(capped.full_states.size() <= 4);
  }
}

TEST_CASE("past the fold the ghost of the saddle-node is a slow point, not a fixed point", "[fixed-points]") {
  // h = tanh(2 h + c): three roots for small c; beyond the fold (|c| = 0.7 > 0.533) only one,
  // and q keeps a positive local minimum near the vanished pair.
  const Model m = test::tanh_unit(2.0, -0.7);
  REQUIRE(test::tanh_roots(2.0, -0.7).size() == 1);
  const FixedPointSystem sys(m, VectorXd::Zero(1), TimeView::Discrete);
  const auto method = GENERATE(FinderMethod::LevenbergMarquardt, FinderMethod::Adam);
  FinderOptions fo;
  fo.method = method;
  fo.max_iters = 5000;
  const StartResult r = run_start(sys, VectorXd::Constant(1, 0.6), fo);
  INFO(finder_method_name(method) << " status " << start_status_name(r.status) << " q " << r.q);
  CHECK(r.status == StartStatus::SlowPoint);
  CHECK(r.q > 1e-4);
  // a stationary point of q: its gradient vanishes there
  CHECK(std::abs(sys.gradient(sys.linearize(r.state))[0]) < 1e-6);
}

TEST_CASE("Adam on q reaches the same points as Levenberg-Marquardt", "[fixed-points]") {
  const Model m = test::random_model(2, {{CellType::RnnTanh, 5}}, 21, 1.0);
  const FixedPointSystem sys(m, VectorXd::Zero(2), TimeView::Discrete);
  const MatrixXd starts = uniform_starts(5, 16, 1.0, 6);
  FinderOptions lm, ad;
  ad.method = FinderMethod::Adam;
  ad.max_iters = 20000;
  ad.q_tol = 1e-10;
  const auto a = unique_points(run_starts(sys, starts, ad), UniqueOptions{}, MatrixXd());
  const auto b = unique_points(run_starts(sys, starts, lm), UniqueOptions{}, MatrixXd());
  REQUIRE(!a.points.empty());
  for (const auto& p : a.points) {
    double best = 1e9;
    for (const auto& q : b.points) best = std::min(best, (p.state - q.state).norm());
    CHECK(best < 1e-3);
  }
}

TEST_CASE("every start ends with a status; divergence and the iteration cap are reported", "[fixed-points]") {
  const Model m = test::tanh_unit(3.0);
  const FixedPointSystem sys(m, VectorXd::Zero(1), TimeView::Discrete);
  FinderOptions fo;
  fo.max_iters = 1;
  CHECK(run_start(sys, VectorXd::Constant(1, 0.3), fo).status == StartStatus::CapReached);
  fo.max_iters = 100;
  fo.divergence_bound = 10;
  CHECK(run_start(sys, VectorXd::Constant(1, 50.0), fo).status == StartStatus::Diverged);
  FinderOptions bad;
  bad.q_tol = 0;
  CHECK_THROWS_AS(bad.validate("test"), InputError);
}

TEST_CASE("deduplication counts starts and drops outliers far from the seeds", "[fixed-points]") {
  std::vector<StartResult> runs(5);
  const double xs[] = {0.0, 1e-5, 1.0, 1.0 + 2e-4, 100.0};
  for (int i = 0; i < 5; ++i) {
    runs[i].state = VectorXd::Constant(1, xs[i]);
    runs[i].q = 1e-14 * (i + 1);
    runs[i].status = StartStatus::Converged;
  }
  const MatrixXd seeds = (MatrixXd(1, 3) << -1.0, 0.0, 2.0).finished();
  UniqueOptions o;
  auto u = unique_points(runs, o, seeds);
  REQUIRE(u.points.size() == 3);
  CHECK(u.points[0].count == 2);
  CHECK(u.points[1].count == 2);
  o.outlier_distance_scale = 10;
  u = unique_points(runs, o, seeds);
  CHECK(u.points.size() == 2);
  CHECK(u.outliers_removed == 1);
}

TEST_CASE("sampled starts are deterministic in the seed", "[fixed-points]") {
  const Model m = test::random_model(2, {{CellType::Gru, 4}, {CellType::Lstm, 3}}, 8);
  const Stack st(m);
  const VectorXd x = VectorXd::Constant(2, 0.1);
  const MatrixXd a = sample_initial_states(st, x, 10, 0.5, 42), b = sample_initial_states(st, x, 10, 0.5, 42);
  CHECK(a == b);
  CHECK(a != sample_initial_states(st, x, 10, 0.5, 43));
  CHECK(a.rows() == st.state_dim());
}

TEST_CASE("starts lie on simulated trajectories: the map stepped, or the continuous view integrated",
          "[fixed-points]") {
  const Model m = test::random_model(2, {{CellType::Gru, 4}, {CellType::RnnTanh, 3}}, 8);
  const VectorXd x = VectorXd::Constant(2, 0.3);
  const std::vector<double> tau = {0.5, 2.0};
  StartSampling o;
  o.n = 12;
  o.noise = 0;
  o.seed = 5;
  o.burn_in = 2;
  o.spread = 6;

  SECTION("discrete view: the random origin stepped times[j] times") {
    const TrajectoryStarts ts = sample_trajectory_starts(m, x, TimeView::Discrete, tau, o);
    const Stack st(m);
    auto ws = st.make_workspace();
    for (int j = 0; j < o.n; ++j) {
      VectorXd s = ts.origins.col(j), next(s.size());
      for (int t = 0; t < static_cast<int>(ts.times[j]); ++t) {
        st.step(x, s, next, ws);
        s.swap(next);
      }
      CHECK((s - ts.states.col(j)).lpNorm<Eigen::Infinity>() == 0.0);
    }
    CHECK(sample_initial_states(st, x, o.n, 0.0, o.seed, o.burn_in, o.spread) == ts.states);
  }

  SECTION("continuous view: equal to an independent rk4 integration at the same times") {
    const TrajectoryStarts ts = sample_trajectory_starts(m, x, TimeView::Continuous, tau, o);
    REQUIRE(ts.description.find("dopri5") != std::string::npos);
    InputSpec spec;
    spec.constant = x;
    const InputSignal input(spec, 2, 1);
    double worst = 0, moved = 0;
    for (int j = 0; j < o.n; ++j) {
      // sampled at (burn_in + k) max(tau), k in 0..spread
      const double k = ts.times[j] / 2.0 - o.burn_in;
      CHECK(k == Approx(std::round(k)).margin(1e-12));
      CHECK(k >= 0);
      CHECK(k <= o.spread);
      ContinuousSystem sys(m, tau, input);
      IntegratorOptions io;
      io.method = Method::Rk4;
      io.dt = 1e-3;
      io.t_end = ts.times[j];
      io.dt_out = ts.times[j];
      VectorXd s = ts.origins.col(j);
      integrate(sys, s, io, [](const VectorXd&, double) {});
      worst = std::max(worst, (s - ts.states.col(j)).lpNorm<Eigen::Infinity>());
      moved = std::max(moved, (s - ts.origins.col(j)).lpNorm<Eigen::Infinity>());
    }
    CHECK(worst < 1e-6);  // dopri5 at rtol 1e-8 against rk4 at dt = 1e-3
    CHECK(moved > 0.1);   // the trajectories went somewhere
    // not the discrete map's states
    const TrajectoryStarts d = sample_trajectory_starts(m, x, TimeView::Discrete, tau, o);
    CHECK(d.origins == ts.origins);
    CHECK((d.states - ts.states).lpNorm<Eigen::Infinity>() > 1e-3);
  }

  SECTION("noise is added on top, deterministic in the seed") {
    const TrajectoryStarts clean = sample_trajectory_starts(m, x, TimeView::Continuous, tau, o);
    o.noise = 0.5;
    const TrajectoryStarts a = sample_trajectory_starts(m, x, TimeView::Continuous, tau, o);
    const TrajectoryStarts b = sample_trajectory_starts(m, x, TimeView::Continuous, tau, o);
    CHECK(a.states == b.states);
    const MatrixXd noise = a.states - clean.states;
    const double sd = std::sqrt(noise.squaredNorm() / static_cast<double>(noise.size()));
    CHECK(sd > 0.3);
    CHECK(sd < 0.7);
  }

  SECTION("far-apart time constants: rosenbrock4, with few steps, on the same trajectories") {
    o.n = 32;
    o.spread = 30;
    const std::vector<double> stiff_tau = {0.02, 2.0};  // 100 x apart
    const TrajectoryStarts ts = sample_trajectory_starts(m, x, TimeView::Continuous, stiff_tau, o);
    CHECK(ts.method == "rosenbrock4");
    CHECK_THAT(ts.description, Catch::Matchers::Contains("rosenbrock4"));
    o.stiff_ratio = 1e9;  // the explicit method on the same problem, as the reference
    const TrajectoryStarts ref = sample_trajectory_starts(m, x, TimeView::Continuous, stiff_tau, o);
    REQUIRE(ref.method == "dopri5");
    CHECK(ts.times == ref.times);
    CHECK((ts.states - ref.states).lpNorm<Eigen::Infinity>() < 1e-4);
    // dopri5 is held to steps of a few min(tau) over up to 52 max(tau) = 5200 min(tau)
    CHECK(ref.steps > 500);
    CHECK(ts.steps < ref.steps / 4);
    CHECK(ts.rhs_evaluations < ref.rhs_evaluations / 5);
  }

  SECTION("time constants 3.3e7 apart (--tau 1e-7,3.3): bounded work, the fast layer on its slow manifold") {
    const std::vector<double> stiff_tau = {1e-7, 3.3};
    o.n = 64;
    o.burn_in = 20;
    o.spread = 80;
    int calls = 0;
    double last = 0;
    bool monotone = true;
    o.progress = [&](double f) {
      ++calls;
      monotone = monotone && f >= last;
      last = f;
    };
    const TrajectoryStarts ts = sample_trajectory_starts(m, x, TimeView::Continuous, stiff_tau, o);
    CHECK(ts.method == "rosenbrock4");
    // an explicit method would need ~ 100 * 3.3 / 1e-7 = 3e9 steps
    CHECK(ts.steps < 2000);
    CHECK(ts.rhs_evaluations < 20000);
    CHECK(calls > 10);
    CHECK(monotone);
    CHECK(last == Approx(1.0));
    // tau_0 ds0/dt = G_0 - s0 with tau_0 = 1e-7: layer 0 sits where G_0(s) = s0
    const FixedPointSystem sys(m, x, TimeView::Continuous, stiff_tau);
    const auto sl = m.state_slices()[0];
    MatrixXd R(ts.states.rows(), ts.states.cols());
    sys.residual(ts.states, R);
    const double fast = (stiff_tau[0] * R.middleRows(sl.offset, sl.size)).lpNorm<Eigen::Infinity>();
    CHECK(fast < 1e-5);
    // and the slow layer moved: not all at its origin
    CHECK((ts.states - ts.origins).lpNorm<Eigen::Infinity>() > 0.1);
  }

  SECTION("bad sampling options") {
    o.n = 0;
    CHECK_THROWS_AS(sample_trajectory_starts(m, x, TimeView::Continuous, tau, o), InputError);
    o.n = 4;
    CHECK_THROWS_AS(sample_trajectory_starts(m, x, TimeView::Continuous, {0.5, -1.0}, o), InputError);
  }
}

TEST_CASE("analyse_fixed_points and its summary", "[fixed-points][threads]") {
  const Model m = test::tanh_unit(2.0);
  FixedPointSearch s;
  s.n_init = 32;
  s.noise = 0.5;
  s.seed = 1;
  const auto rep = analyse_fixed_points(m, VectorXd::Zero(1), s);
  CHECK(rep.points.size() == 3);
  CHECK(rep.n_converged == 32);
  const std::string text = summarise(rep);
  CHECK(text.find("3 fixed points (2 stable") != std::string::npos);
  s.finder.max_iters = 1;
  s.finder.q_tol = 1e-300;
  const auto none = analyse_fixed_points(m, VectorXd::Constant(1, 0.0), s);
  CHECK(none.points.empty());
  CHECK(summarise(none).find("no start converged") != std::string::npos);
}
