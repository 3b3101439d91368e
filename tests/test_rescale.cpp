// Spectral radius per layer: dense and Arnoldi measurements agree; `stackdyn rescale` sets
// each gate block (or only the candidate block) to the radius asked for; a sweep over
// `radius.<l>` runs the rescaled models, equal to rescale followed by simulate.
#include "cli_helpers.hpp"
#include "random_model.hpp"

#include <catch2/catch.hpp>
#include <stackdyn/core/h5.hpp>
#include <stackdyn/model/model_io.hpp>
#include <stackdyn/model/spectral_radius.hpp>

#include <Eigen/Eigenvalues>

#include <fstream>

using namespace stackdyn;
using Eigen::MatrixXd;

namespace {
double dense_radius(const MatrixXd& A) { return Eigen::EigenSolver<MatrixXd>(A, false).eigenvalues().cwiseAbs().maxCoeff(); }
}  // namespace

TEST_CASE("spectral radius: Arnoldi above the dense limit agrees with the dense solve", "[rescale]") {
  std::mt19937_64 rng(3);
  const MatrixXd A = test::random_matrix(rng, 320, 320, 1.0);
  CHECK(spectral_radius(A, 1000) == Approx(spectral_radius(A, 100)).epsilon(1e-9));
  CHECK(spectral_radius(A) == Approx(dense_radius(A)).epsilon(1e-12));
}

TEST_CASE("rescale sets every gate block, or the candidate block, to the radius", "[rescale][cli]") {
  test::ScratchDir dir("rescale");
  const std::string in = dir / "m.h5", out = dir / "r.h5";
  const Model m0 = test::random_model(2, {{CellType::RnnTanh, 5}, {CellType::Gru, 4}, {CellType::Lstm, 3}}, 6);
  write_model(m0, in, Provenance{});
  auto r = test::run_cli({"rescale", in, "-o", out, "--radius", "0.5,0.9,0.99"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  Model m = read_model(out);
  const double want[] = {0.5, 0.9, 0.99};
  for (int l = 0; l < 3; ++l) {
    const auto& s = m.layers[static_cast<std::size_t>(l)];
    for (int g = 0; g < gate_count(s.cell); ++g)
      CHECK(dense_radius(s.fwd.w_hh.middleRows(g * s.hidden_size, s.hidden_size)) == Approx(want[l]).epsilon(1e-10));
    CHECK(s.fwd.w_ih == m0.layers[static_cast<std::size_t>(l)].fwd.w_ih);
  }

  r = test::run_cli({"rescale", in, "-o", out, "--radius", "0.7", "--blocks", "candidate"});
  REQUIRE(r.code == 0);
  m = read_model(out);
  const auto& lstm = m.layers[2];
  CHECK(dense_radius(lstm.fwd.w_hh.middleRows(6, 3)) == Approx(0.7).epsilon(1e-10));  // g
  CHECK(lstm.fwd.w_hh.topRows(6) == m0.layers[2].fwd.w_hh.topRows(6));                // i, f untouched
  CHECK(lstm.fwd.w_hh.bottomRows(3) == m0.layers[2].fwd.w_hh.bottomRows(3));          // o untouched
  CHECK(dense_radius(m.layers[0].fwd.w_hh) == Approx(0.7).epsilon(1e-10));

  const std::string bad = dir / "bad.h5";
  test::expect_clean_failure(test::run_cli({"rescale", in, "-o", bad, "--radius", "0.5,0.9"}), bad, {"--radius", "3 layers"});
  test::expect_clean_failure(test::run_cli({"rescale", in, "-o", bad, "--radius", "0"}), bad, {"radius", "positive"});
  test::expect_clean_failure(test::run_cli({"rescale", in, "-o", bad, "--radius", "1", "--blocks", "all"}), bad, {"blocks"});
  const std::string dt = dir / "dt.h5";
  write_model(test::random_model(1, {{CellType::DeepTransition, 3, false, false, {4}}}, 1), dt, Provenance{});
  test::expect_clean_failure(test::run_cli({"rescale", dt, "-o", bad, "--radius", "1"}), bad, {"deep_transition"});
}

TEST_CASE("a sweep over radius.<l> equals rescale then simulate", "[rescale][sweep]") {
  test::ScratchDir dir("rescale_sweep");
  write_model(test::random_model(1, {{CellType::RnnTanh, 3}, {CellType::RnnTanh, 3}}, 4), dir / "m.h5", Provenance{});
  std::ofstream(dir / "sweep.toml") << "model_file = '" << (dir / "m.h5") << "'\nthreads = 1\n"
                                    << "[simulate]\nt_end = 3.0\ns0_scale = 0.5\ninput.constant = [0.2]\n"
                                    << "[grid]\n'radius.1' = [0.5, 1.5]\n";
  const auto r = test::run_cli({"sweep", dir / "sweep.toml", "-o", dir / "out.h5"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  REQUIRE(test::run_cli({"rescale", dir / "m.h5", "-o", dir / "r.h5", "--radius", "0.5,1.5"}).code == 0);
  // Layer 0 keeps its weights in the sweep: rescale it to its own radius (a no-op up to rounding).
  const double rho0 = layer_radius(read_model(dir / "m.h5"), 0, RadiusBlocks::Gates);
  REQUIRE(test::run_cli({"rescale", dir / "m.h5", "-o", dir / "r.h5", "--radius",
                         std::to_string(rho0) + ",1.5"}).code == 0);
  REQUIRE(test::run_cli({"simulate", dir / "r.h5", "-o", dir / "one.h5", "--t-end", "3", "--set", "s0_scale=0.5",
                         "--set", "input.constant=[0.2]"}).code == 0);
  const h5::Array one = h5::File::open(dir / "one.h5").read("states");
  const h5::Array all = h5::File::open(dir / "out.h5").read("states");
  REQUIRE(all.data.size() == 2 * one.data.size());
  double gap = 0;
  for (std::size_t i = 0; i < one.data.size(); ++i) gap = std::max(gap, std::abs(one.data[i] - all.data[one.data.size() + i]));
  CHECK(gap < 1e-6);
  CHECK(h5::File::open(dir / "out.h5").attr_string("parameter_names") == "radius.1");
}
