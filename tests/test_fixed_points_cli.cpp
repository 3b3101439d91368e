// `stackdyn fixed-points` and `stackdyn spectrum` end to end: the documented datasets,
// and bad input (one line, exit 2, no output file).
#include "cli_helpers.hpp"
#include "fixed_point_models.hpp"
#include "random_model.hpp"

#include <catch2/catch.hpp>
#include <stackdyn/core/h5.hpp>
#include <stackdyn/model/model_io.hpp>

#include <fstream>
#include <map>

using namespace stackdyn;
using Eigen::MatrixXd;
using Eigen::VectorXd;
using Catch::Matchers::Contains;

namespace {

struct Fixture {
  test::ScratchDir dir{"fixed_points_cli"};
  std::string model = dir / "model.h5";
  std::string out = dir / "fp.h5";
  Fixture() {
    // layer 1: two bistable units (9 points); layer 2: a weakly driven GRU
    Model m;
    m.input_size = 2;
    m.layers.push_back(test::vanilla_layer(CellType::RnnTanh, 2.0 * MatrixXd::Identity(2, 2),
                                           0.1 * MatrixXd::Identity(2, 2), VectorXd::Zero(2)));
    std::mt19937_64 g(3);
    LayerSpec gru;
    gru.cell = CellType::Gru;
    gru.hidden_size = 3;
    gru.fwd = test::random_params(g, gru, 2, 0.3);
    m.layers.push_back(gru);
    m.validate("fixture");
    write_model(m, model, Provenance{});
  }
  test::CliResult run(std::vector<std::string> extra) const {
    std::vector<std::string> args = {"fixed-points", model, "-o", out, "--n-init", "200", "--seed", "3"};
    args.insert(args.end(), extra.begin(), extra.end());
    return test::run_cli(args);
  }
};

void write_states(const std::string& path, std::size_t n, std::size_t width, double fill = 0.1) {
  h5::File f = h5::File::create(path);
  std::vector<double> d(n * width, fill);
  for (std::size_t i = 0; i < d.size(); ++i) d[i] = fill * static_cast<double>(i % 7) - 0.3;
  f.write("states", {n, width}, d.data());
}

}  // namespace

TEST_CASE("fixed-points writes the datasets of the issue", "[fixed-points][cli]") {
  Fixture fx;
  const auto r = fx.run({"--input-constant", "0,0", "--q-tol", "1e-12", "--max-iters", "100", "--method", "lm"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK_THAT(r.out, Contains("9 fixed points"));
  const h5::File f = h5::File::open(fx.out);
  const h5::Shape s = f.shape("fixed_points/states");
  REQUIRE(s == h5::Shape{9, 5});
  CHECK(f.shape("fixed_points/q") == h5::Shape{9});
  CHECK(f.shape("fixed_points/n_unstable") == h5::Shape{9});
  CHECK(f.shape("fixed_points/eigenvalues") == h5::Shape{9, 5});
  CHECK(f.shape("starts/status") == h5::Shape{200});
  CHECK(f.shape("starts/final") == h5::Shape{200, 5});
  CHECK(f.attr_string("q_definition").find("1/2 |F(s, x*) - s|^2") != std::string::npos);
  CHECK(f.attr_string("units").find("steps") == 0);
  CHECK(f.has("state_slices"));
  CHECK(f.attr_string("producer").find("stackdyn") == 0);
  // the stable ones: layer 1 on its outer branches (4) and a stable GRU
  const auto nu = f.read_int("fixed_points/n_unstable");
  CHECK(std::count(nu.begin(), nu.end(), 0LL) == 4);
  const auto eig = f.read_complex("fixed_points/eigenvalues");
  const auto q = f.read("fixed_points/q");
  for (double v : q.data) CHECK(v < 1e-12);
  for (std::size_t k = 0; k < 9; ++k) {
    int unstable = 0;
    for (std::size_t i = 0; i < 5; ++i) unstable += std::abs(eig.data[k * 5 + i]) > 1 + 1e-12;
    CHECK(unstable == nu[k]);
  }

  SECTION("the same points from given initial states, in the continuous view, hierarchically") {
    // the final states of the first run as the starts of a second
    const auto fin = f.read("starts/final");
    const std::string starts = fx.dir / "starts.h5";
    {
      h5::File g = h5::File::create(starts);
      g.write("states", fin.shape, fin.data.data());
    }
    const std::string out2 = fx.dir / "fp2.h5";
    const auto r2 = test::run_cli({"fixed-points", fx.model, "-o", out2, "--initial-states", starts, "--mode",
                                   "continuous", "--tau", "2,5", "--hierarchical"});
    INFO(r2.err);
    REQUIRE(r2.code == 0);
    const h5::File f2 = h5::File::open(out2);
    CHECK(f2.shape("fixed_points/states") == h5::Shape{9, 5});
    CHECK(f2.has("hierarchy/layer_1/parent"));
    // counts are per branch: the nodes of one parent share the starts run in its branch
    const long long n_starts = f2.group("hierarchy").attr_int("n_starts");
    for (const std::string layer : {"layer_0", "layer_1"}) {
      const auto parent = f2.read_int("hierarchy/" + layer + "/parent"), counts = f2.read_int("hierarchy/" + layer + "/counts");
      std::map<long long, long long> per_parent;
      for (std::size_t k = 0; k < counts.size(); ++k) per_parent[parent[k]] += counts[k];
      for (const auto& [p, c] : per_parent) {
        INFO(layer << " parent " << p);
        CHECK(c <= n_starts);
        CHECK(c > 0);
      }
    }
    auto nu2 = f2.read_int("fixed_points/n_unstable"), nu1 = nu;
    std::sort(nu1.begin(), nu1.end());
    std::sort(nu2.begin(), nu2.end());
    CHECK(nu2 == nu1);
  }
  SECTION("continuous view: starts sampled from its own integrated trajectories, said in the file") {
    CHECK(f.attr_string("starts_sampling").find("discrete map") != std::string::npos);
    const std::string out2 = fx.dir / "fp_cont.h5";
    const auto r2 = test::run_cli({"fixed-points", fx.model, "-o", out2, "--n-init", "200", "--seed", "3", "--mode",
                                   "continuous", "--tau", "2,5"});
    INFO(r2.err);
    REQUIRE(r2.code == 0);
    const h5::File f2 = h5::File::open(out2);
    CHECK(f2.shape("fixed_points/states") == h5::Shape{9, 5});
    const std::string how = f2.attr_string("starts_sampling");
    CHECK_THAT(how, Contains("continuous-time view") && Contains("dopri5") && Contains("seed 3"));
    CHECK(f2.attr_string("source") == how);  // the provenance's source
    CHECK(f2.read("starts/initial").data != f.read("starts/initial").data);
  }
  SECTION("spectrum at the fixed points") {
    const std::string out2 = fx.dir / "spec.h5";
    const auto r2 = test::run_cli({"spectrum", fx.model, fx.out, "-o", out2, "--eig-method", "block"});
    INFO(r2.err);
    REQUIRE(r2.code == 0);
    const h5::File f2 = h5::File::open(out2);
    CHECK(f2.read_int("n_unstable") == nu);
    CHECK(f2.shape("eigenvalues") == h5::Shape{9, 5});
  }
}

TEST_CASE("a search in which no start converges is reported, not an error", "[fixed-points][cli]") {
  Fixture fx;
  const auto r = fx.run({"--max-iters", "1", "--q-tol", "1e-30"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK_THAT(r.out, Contains("no start converged"));
  CHECK_THAT(r.out, Contains("best q"));
  const h5::File f = h5::File::open(fx.out);
  CHECK(f.shape("fixed_points/states") == h5::Shape{0, 5});
}

TEST_CASE("fixed-points: bad input gives one clear line and no output", "[fixed-points][cli][errors]") {
  Fixture fx;
  SECTION("constant input of the wrong width") {
    test::expect_clean_failure(fx.run({"--input-constant", "0.1,0.2,0.3"}), fx.out, {"input.constant", "expected 2"});
  }
  SECTION("non-finite constant input") {
    test::expect_clean_failure(fx.run({"--input-constant", "0.1,nan"}), fx.out, {"--input-constant", "finite"});
  }
  SECTION("q-tol <= 0") {
    test::expect_clean_failure(fx.run({"--q-tol", "0"}), fx.out, {"q_tol"});
    test::expect_clean_failure(fx.run({"--q-tol", "-1e-9"}), fx.out, {"q_tol"});
  }
  SECTION("unknown method") { test::expect_clean_failure(fx.run({"--method", "newton"}), fx.out, {"newton", "lm"}); }
  SECTION("unknown mode") { test::expect_clean_failure(fx.run({"--mode", "sometimes"}), fx.out, {"mode", "discrete"}); }
  SECTION("a bidirectional model") {
    const Model m = test::random_model(2, {{CellType::Gru, 3}}, 1, 0.5, true);
    write_model(m, fx.model, Provenance{});
    test::expect_clean_failure(fx.run({}), fx.out, {"model.h5", "bidirectional"});
  }
  SECTION("initial states of the wrong width") {
    const std::string st = fx.dir / "starts.h5";
    write_states(st, 4, 6);
    test::expect_clean_failure(fx.run({"--initial-states", st}), fx.out, {"starts.h5", "states", "state_dim = 5"});
  }
  SECTION("non-finite initial states") {
    const std::string st = fx.dir / "starts.h5";
    {
      h5::File g = h5::File::create(st);
      std::vector<double> d(20, 0.1);
      d[7] = std::numeric_limits<double>::infinity();
      g.write("states", {4, 5}, d.data());
    }
    test::expect_clean_failure(fx.run({"--initial-states", st}), fx.out, {"starts.h5", "Inf", "(1, 2)"});
  }
  SECTION("an unknown key in the configuration file") {
    const std::string cfg = fx.dir / "fp.toml";
    std::ofstream(cfg) << "q_tol = 1e-10\nn_inti = 5\n";
    test::expect_clean_failure(test::run_cli({"fixed-points", fx.model, cfg, "-o", fx.out}), fx.out,
                          {"fp.toml", "n_inti"});
  }
  SECTION("tau of the wrong length or <= 0") {
    test::expect_clean_failure(fx.run({"--mode", "continuous", "--tau", "1,2,3"}), fx.out, {"tau", "one per layer"});
    test::expect_clean_failure(fx.run({"--mode", "continuous", "--tau", "0"}), fx.out, {"tau"});
  }
}

TEST_CASE("spectrum: bad input gives one clear line and no output", "[fixed-points][cli][errors]") {
  Fixture fx;
  const std::string st = fx.dir / "states.h5";
  write_states(st, 3, 4);
  test::expect_clean_failure(test::run_cli({"spectrum", fx.model, st, "-o", fx.out}), fx.out,
                        {"states.h5", "state_dim = 5"});
  write_states(st, 3, 5);
  test::expect_clean_failure(test::run_cli({"spectrum", fx.model, st, "-o", fx.out, "--which", "smallest"}), fx.out,
                        {"which", "magnitude"});
}

TEST_CASE("top-k spectra count stable points as the full spectrum does", "[fixed-points][cli][eigen]") {
  // layer 1: three bistable units (27 points; stable iff every unit is on an outer branch: 8);
  // layer 2: ten contracting units (|lambda| <= 0.6), so that spectra runs Arnoldi on it and
  // a stable point's top 5 hold no unstable eigenvalue.
  test::ScratchDir dir("topk_stability");
  const std::string model = dir / "model.h5";
  Model m;
  m.input_size = 1;
  m.layers.push_back(test::vanilla_layer(CellType::RnnTanh, 2.0 * MatrixXd::Identity(3, 3), MatrixXd::Zero(3, 1),
                                         VectorXd::Zero(3)));
  VectorXd d = VectorXd::LinSpaced(10, 0.3, 0.6);
  MatrixXd U = MatrixXd::Zero(10, 3);
  for (int i = 0; i < 10; ++i) U(i, i % 3) = 0.05 * (i + 1);
  m.layers.push_back(test::vanilla_layer(CellType::RnnTanh, d.asDiagonal(), MatrixXd::Zero(10, 1), VectorXd::Zero(10)));
  m.layers.back().fwd.w_ih = U;  // reads layer 1
  m.validate("topk");
  write_model(m, model, Provenance{});
  const std::string starts = dir / "starts.h5";
  {
    // starts near each of the 27 layer-1 points, layer 2 anywhere
    h5::File g = h5::File::create(starts);
    std::vector<double> s;
    const double v[3] = {-0.95, 0.0, 0.95};
    for (int a = 0; a < 27; ++a) {
      s.push_back(v[a % 3] + 0.01);
      s.push_back(v[(a / 3) % 3] - 0.01);
      s.push_back(v[a / 9] + 0.02);
      for (int i = 0; i < 10; ++i) s.push_back(0.1 * i - 0.5);
    }
    g.write("states", {27, 13}, s.data());
  }
  auto run = [&](const std::string& out, std::vector<std::string> extra) {
    std::vector<std::string> args = {"fixed-points", model, "-o", out, "--initial-states", starts};
    args.insert(args.end(), extra.begin(), extra.end());
    const auto r = test::run_cli(args);
    INFO(r.err);
    REQUIRE(r.code == 0);
    return r;
  };
  const std::string full = dir / "full.h5", topk = dir / "topk.h5";
  const auto rf = run(full, {"--eig-method", "full"});
  const auto rk = run(topk, {"--eig-method", "spectra", "--top-k", "5"});
  CHECK_THAT(rf.out, Contains("27 fixed points (8 stable, 19 with unstable directions)"));
  CHECK_THAT(rk.out, Contains("27 fixed points (8 stable, 19 with unstable directions)"));
  CHECK_THAT(rk.out, !Contains("+ direction"));  // a stable eigenvalue is among every point's top 5
  const h5::File ff = h5::File::open(full), fk = h5::File::open(topk);
  REQUIRE(fk.shape("fixed_points/eigenvalues") == h5::Shape{27, 5});
  CHECK(fk.group("fixed_points").attr_string("eigen_method") == "spectra");
  // the same points in the same order (increasing q; both runs are identical up to the eigen-solve)
  CHECK(fk.read("fixed_points/states").data == ff.read("fixed_points/states").data);
  const auto nu_full = ff.read_int("fixed_points/n_unstable");
  CHECK(fk.read_int("fixed_points/n_unstable") == nu_full);
  const auto stable = fk.read_int("fixed_points/stable");
  for (std::size_t k = 0; k < 27; ++k) CHECK(stable[k] == (nu_full[k] == 0 ? 1 : 0));
  CHECK(ff.read_int("fixed_points/stable") == stable);

  SECTION("spectrum at the points says the same") {
    const std::string sp = dir / "spec.h5";
    const auto r = test::run_cli({"spectrum", model, topk, "-o", sp, "--eig-method", "spectra", "--top-k", "5"});
    INFO(r.err);
    REQUIRE(r.code == 0);
    CHECK_THAT(r.out, Contains("8 with no unstable direction"));
    CHECK(h5::File::open(sp).read_int("stable") == stable);
  }
  SECTION("ordered by real part, a discrete top k cannot show stability: undecided, not unstable") {
    const auto r = run(dir / "real.h5", {"--eig-method", "spectra", "--top-k", "5", "--which", "real"});
    CHECK_THAT(r.out, Contains("(0 stable, 19 with unstable directions, 8 undecided"));
    const auto st = h5::File::open(dir / "real.h5").read_int("fixed_points/stable");
    CHECK(std::count(st.begin(), st.end(), -1LL) == 8);
  }
}
