// The 3-bit flip-flop GRU trained in torch (scripts/train_flipflop.py, exported with
// scripts/torch_export.py): 8 stable fixed points, one per memory (the corners of the cube
// of output signs), and index-1 saddles on the cube's 12 edges: the two sides of a saddle's
// unstable direction flow to memories that differ in exactly one bit.
#include <catch2/catch.hpp>
#include <stackdyn/analysis/continuation.hpp>
#include <stackdyn/analysis/fixed_point_analysis.hpp>
#include <stackdyn/core/h5.hpp>
#include <stackdyn/model/model_io.hpp>

#include <bit>
#include <map>
#include <set>

using namespace stackdyn;

namespace {

const std::string dir = std::string(STACKDYN_TEST_DATA) + "/flipflop/";

// The memory a state encodes: the signs of the readout, as 3 bits.
int memory(const MatrixXd& W, const VectorXd& b, const VectorXd& h) {
  const VectorXd y = W * h + b;
  return (y[0] > 0) | (y[1] > 0) << 1 | (y[2] > 0) << 2;
}

}  // namespace

TEST_CASE("flip-flop GRU: 8 stable points, one per memory, and the saddles between them", "[fixed-points][flipflop]") {
  const Model model = read_model(dir + "gru16.model.h5");
  const h5::File ro = h5::File::open(dir + "readout.h5");
  const MatrixXd W = ro.read_matrix("weight");
  const VectorXd b = ro.read_vector("bias");
  REQUIRE(model.state_dim() == 16);

  FixedPointSearch s;
  s.n_init = 512;
  s.noise = 0.5;
  s.seed = 4;
  s.eigen.n_vectors = 1;
  // Fixed points here converge quadratically to q ~ 1e-30; a tolerance of 1e-20 keeps out the
  // near-neutral states of saturated gates (z -> 1 gives F(s) ~ s) that creep below 1e-12.
  s.finder.q_tol = 1e-20;
  // A GRU's state never leaves [-1, 1]^n; far outside it, saturated gates make every state
  // nearly fixed. A start that wanders beyond 3 is reported as diverged.
  s.finder.divergence_bound = 3;
  const VectorXd x = VectorXd::Zero(3);
  const FixedPointReport rep = analyse_fixed_points(model, x, s);
  INFO(summarise(rep, 100));
  // the second-order finder takes almost every start to q < 1e-12
  CHECK(rep.n_converged >= static_cast<int>(0.8 * s.n_init));

  std::set<int> memories;
  std::vector<std::size_t> saddles;
  for (std::size_t k = 0; k < rep.points.size(); ++k) {
    CHECK(rep.points[k].q < 1e-12);
    if (rep.spectra[k].n_unstable == 0) memories.insert(memory(W, b, rep.points[k].state));
    if (rep.spectra[k].n_unstable == 1) saddles.push_back(k);
  }
  int stable = 0;
  for (const auto& sp : rep.spectra) stable += sp.n_unstable == 0;
  CHECK(stable == 8);
  CHECK(memories.size() == 8);
  // at least one saddle on each of the 12 edges of the cube of memories
  REQUIRE(saddles.size() >= 12);

  // The saddle graph: both sides of each index-1 saddle's unstable direction flow to stable
  // points holding memories that differ in exactly one bit: the saddles sit on the edges of
  // the cube of memories, and every edge has one.
  const FixedPointSystem sys(model, x, TimeView::Discrete);
  std::vector<VectorXd> states;
  for (const auto& p : rep.points) states.push_back(p.state);
  const auto edges = saddle_graph(sys, states, rep.spectra);
  std::map<int, std::vector<int>> ends;  // saddle -> memories reached
  for (const auto& e : edges) {
    if (rep.spectra[static_cast<std::size_t>(e.saddle)].n_unstable != 1) continue;
    REQUIRE(e.target >= 0);
    ends[e.saddle].push_back(memory(W, b, states[static_cast<std::size_t>(e.target)]));
  }
  CHECK(ends.size() == saddles.size());
  std::set<std::pair<int, int>> cube_edges;
  for (const auto& [saddle, m] : ends) {
    REQUIRE(m.size() == 2);
    CHECK(std::popcount(static_cast<unsigned>(m[0] ^ m[1])) == 1);
    cube_edges.insert({std::min(m[0], m[1]), std::max(m[0], m[1])});
  }
  CHECK(cube_edges.size() == 12);
}
