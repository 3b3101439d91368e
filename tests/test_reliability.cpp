// Defects found by review, each reproduced here: sizes that overflow an int in a model file,
// eigenvectors of defective eigenvalues, a sort comparator that is not a strict weak
// ordering, an input signal shared between threads, a thread that cannot be created, a
// non-finite Jacobian in the fixed-point search, and sweeps whose runs have different time
// axes. (Damaged HDF5 files: the fuzz corpus, tests/test_fuzz_corpus.cpp.)
#include "cli_helpers.hpp"
#include "random_model.hpp"

#include "../lib/src/analysis/levenberg_marquardt.hpp"

#include <catch2/catch.hpp>
#include <stackdyn/analysis/eigen_analysis.hpp>
#include <stackdyn/analysis/fixed_points.hpp>
#include <stackdyn/core/h5.hpp>
#include <stackdyn/core/parallel.hpp>
#include <stackdyn/dynamics/inputs.hpp>
#include <stackdyn/model/model_io.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <filesystem>
#include <fstream>
#include <system_error>
#include <thread>

using namespace stackdyn;
using Catch::Matchers::Contains;
using Eigen::MatrixXd;
using Eigen::VectorXcd;
using Eigen::VectorXd;

// --- sizes ---------------------------------------------------------------------------------

namespace {
// An LSTM model file whose hidden size is 2^30: 4 * 2^30 gate rows wrap to 0 in an int and
// 2 * 2^30 state components to INT_MIN, so the file is made to agree with those wrapped sizes.
void write_huge_lstm(const std::string& path) {
  write_model(test::random_model(2, {{CellType::Lstm, 3}}, 5), path, Provenance{});
  h5::File f = h5::File::open_rw(path);
  h5::Group l = f.group("layers/0");
  const std::size_t n = std::size_t{1} << 30;
  for (const char* name : {"weight_ih", "weight_hh", "bias_ih", "bias_hh"}) l.remove(name);
  l.write("weight_ih", {0, 2}, nullptr);
  l.write("weight_hh", {0, n}, nullptr);
  l.write("bias_ih", {0}, nullptr);
  l.write("bias_hh", {0}, nullptr);
  l.set_attr("hidden_size", static_cast<long long>(n));
  f.set_attr("state_dim", static_cast<long long>(INT_MIN));
  f.remove("state_slices");
  const long long slices[2] = {0, INT_MIN};
  f.write_int("state_slices", {1, 2}, slices);
}
}  // namespace

TEST_CASE("a model file with a width beyond the bound is refused, not wrapped around", "[reliability][model]") {
  test::ScratchDir dir("huge_lstm");
  write_huge_lstm(dir / "m.h5");
  const std::string msg = test::message_of([&] { read_model(dir / "m.h5"); });
  CHECK_THAT(msg, Contains("hidden_size") && Contains("1073741824") && Contains("16777216"));
  const auto r = test::run_cli({"info", dir / "m.h5"});
  test::expect_clean_failure(r, dir / "none.h5", {"hidden_size"});
}

TEST_CASE("validate bounds every width and sums the state dimension in 64 bits", "[reliability][model]") {
  Model m = test::random_model(2, {{CellType::Lstm, 3}}, 5);
  m.layers[0].hidden_size = 1 << 30;
  CHECK_THAT(test::message_of([&] { m.validate("m"); }), Contains("hidden_size is 1073741824"));
  // 130 bidirectional-free LSTM layers of the largest width: 130 * 2^25 > INT_MAX.
  Model wide;
  wide.input_size = 1;
  LayerSpec spec;
  spec.cell = CellType::Lstm;
  spec.hidden_size = max_width;
  wide.layers.assign(130, spec);
  CHECK_THAT(test::message_of([&] { wide.validate("wide"); }), Contains("state dimension"));
}

// --- defective eigenvalues and the sort order --------------------------------------------------

namespace {
// One rnn_relu layer whose Jacobian at states with positive pre-activations is W_hh itself:
// a 2 x 2 Jordan block at 0.9 and simple eigenvalues 0.5, 0.4, 0.3, 0.2.
Model jordan_model() {
  Model m = test::random_model(1, {{CellType::RnnRelu, 6}}, 3);
  MatrixXd W = MatrixXd::Zero(6, 6);
  W.diagonal() << 0.9, 0.9, 0.5, 0.4, 0.3, 0.2;
  W(0, 1) = 1.0;
  W(2, 3) = 0.1;
  m.layers[0].fwd.w_hh = W;
  m.layers[0].fwd.b_ih.setConstant(1.0);
  m.layers[0].fwd.b_hh.setZero();
  return m;
}
}  // namespace

TEST_CASE("a Jordan block's modes are flagged defective, with NaN vectors", "[reliability][eigen]") {
  const Model m = jordan_model();
  const FixedPointSystem sys(m, VectorXd::Zero(1), TimeView::Discrete);
  const VectorXd s = VectorXd::Constant(6, 0.1);
  const MatrixXd J = sys.dynamics_jacobian(sys.linearize(s));
  REQUIRE((J - m.layers[0].fwd.w_hh).norm() == 0.0);
  const auto method = GENERATE(EigenMethod::Full, EigenMethod::Block);
  EigenOptions o;
  o.method = method;
  o.n_vectors = 5;
  const Spectrum sp = analyse_spectrum(sys, s, o);
  REQUIRE(sp.defective.size() == 5);
  for (int i = 0; i < 5; ++i) {
    INFO("method " << eigen_method_name(method) << ", mode " << i << ", lambda " << sp.eigenvalues[i]);
    const bool jordan = std::abs(sp.eigenvalues[i] - 0.9) < 1e-6;
    CHECK(sp.defective[static_cast<std::size_t>(i)] == jordan);
    if (jordan) {
      CHECK(sp.right.col(i).array().isNaN().all());
      CHECK(sp.left.col(i).array().isNaN().all());
    } else {
      const VectorXcd v = sp.right.col(i), w = sp.left.col(i);
      const Eigen::MatrixXcd Jc = J.cast<std::complex<double>>();
      CHECK((Jc * v - sp.eigenvalues[i] * v).norm() < 1e-12);
      CHECK((Jc.transpose() * w - sp.eigenvalues[i] * w).norm() < 1e-12 * w.norm());
      CHECK(std::abs(std::complex<double>(w.transpose() * v) - 1.0) < 1e-12);
    }
  }
}

TEST_CASE("spectrum writes vectors_defective and NaN vectors for a Jordan block", "[reliability][eigen][cli]") {
  test::ScratchDir dir("jordan");
  write_model(jordan_model(), dir / "m.h5", Provenance{});
  {
    h5::AtomicOutput out(dir / "s.h5");
    const MatrixXd S = MatrixXd::Constant(1, 6, 0.1);
    out.file().write("states", S);
    out.commit();
  }
  const auto r = test::run_cli({"spectrum", dir / "m.h5", dir / "s.h5", "-o", dir / "out.h5", "--eig-method", "full",
                                "--n-vectors", "3"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  const h5::File f = h5::File::open(dir / "out.h5");
  const std::string g = f.has("fixed_points/vectors_defective") ? "fixed_points/" : "";
  CHECK(f.read_int(g + "vectors_defective") == std::vector<long long>{1, 1, 0});
  const h5::ComplexArray left = f.group(g.empty() ? "/" : "fixed_points").read_complex("left_eigenvectors");
  REQUIRE(left.shape == h5::Shape{1, 3, 6});
  for (std::size_t k = 0; k < 18; ++k) CHECK(std::isnan(left.data[k].real()) == (k < 12));
}

TEST_CASE("eigen_order is a strict weak ordering: the result does not depend on the input order",
          "[reliability][eigen]") {
  // Keys 1, 1 + 0.8e-12, 1 + 1.6e-12: a tolerance of 1e-12 on the key makes a and b, and b
  // and c, ties broken by the imaginary part, while c > a by key: a cycle.
  const std::vector<std::complex<double>> v = {{1.0, 2.0}, {1.0 + 0.8e-12, 1.0}, {1.0 + 1.6e-12, 0.0}};
  std::vector<int> perm = {0, 1, 2};
  do {
    VectorXcd lambda(3);
    for (int i = 0; i < 3; ++i) lambda[i] = v[static_cast<std::size_t>(perm[static_cast<std::size_t>(i)])];
    const auto idx = eigen_order(lambda, EigenOrder::LargestReal);
    INFO("input order " << perm[0] << perm[1] << perm[2]);
    CHECK(lambda[idx[0]] == v[2]);
    CHECK(lambda[idx[1]] == v[1]);
    CHECK(lambda[idx[2]] == v[0]);
  } while (std::next_permutation(perm.begin(), perm.end()));
  // A conjugate pair: the positive imaginary part first, in both orders.
  VectorXcd pair(3);
  pair << std::complex<double>(0.3, -0.4), std::complex<double>(0.1, 0), std::complex<double>(0.3, 0.4);
  const auto idx = eigen_order(pair, EigenOrder::LargestMagnitude);
  CHECK(pair[idx[0]].imag() == 0.4);
  CHECK(pair[idx[1]].imag() == -0.4);
}

// --- threads ----------------------------------------------------------------------------------

TEST_CASE("one input signal shared by threads gives each the values it gives alone", "[reliability][threads]") {
  InputSpec spec;
  spec.noise.std = 1.0;
  spec.noise.seed = 3;
  spec.flipflop.bits = 2;
  spec.flipflop.probability = 0.5;
  spec.flipflop.seed = 4;
  const int d = 3, B = 64, K = 64;
  const InputSignal shared(spec, d, B);
  std::vector<MatrixXd> expected(K, MatrixXd(d, B));
  for (int k = 0; k < K; ++k) InputSignal(spec, d, B).at_step(k, expected[static_cast<std::size_t>(k)]);
  std::atomic<int> wrong{0};
  auto worker = [&](int first) {
    MatrixXd X(d, B);
    InputSignal::Draws draws;
    for (int round = 0; round < 40; ++round)
      for (int k = first; k < K; k += 2) {
        shared.at_step(k, X);  // without a Draws of its own
        if (X != expected[static_cast<std::size_t>(k)]) ++wrong;
        shared.at(static_cast<double>(k) + 0.5, static_cast<double>(k), X, draws);  // with one
        if (X != expected[static_cast<std::size_t>(k)]) ++wrong;
      }
  };
  std::thread a(worker, 0), b(worker, 1);
  a.join();
  b.join();
  CHECK(wrong.load() == 0);
}

namespace {
// A thread whose creation fails the second time one is made (as std::thread fails when the
// system has no resources for another).
struct FailingThread {
  static inline std::atomic<int> made{0};
  std::thread t;
  template <class F>
    requires(!std::is_same_v<std::decay_t<F>, FailingThread>)
  explicit FailingThread(F&& f) {
    if (made.fetch_add(1) == 1) throw std::system_error(std::make_error_code(std::errc::resource_unavailable_try_again));
    t = std::thread(std::forward<F>(f));
  }
  void join() { t.join(); }
};
}  // namespace

TEST_CASE("parallel_for: a thread that cannot be created is an exception, not a termination",
          "[reliability][threads]") {
  FailingThread::made = 0;
  std::atomic<int> calls{0};
  CHECK_THROWS_AS(parallel_for<FailingThread>(20, 4,
                                              [&](std::size_t) {
                                                std::this_thread::sleep_for(std::chrono::milliseconds(2));
                                                ++calls;
                                              }),
                  std::system_error);
  CHECK(FailingThread::made.load() == 2);
  CHECK(calls.load() < 20);  // the started worker stopped handing out tasks
}

// --- fixed-point search -------------------------------------------------------------------------

TEST_CASE("a non-finite Jacobian ends the Levenberg-Marquardt search as diverged", "[reliability][fixed-points]") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  auto res = [](const VectorXd& s) { return VectorXd(s.array() - 1.0); };
  auto jac = [nan](const VectorXd& s) {
    MatrixXd J = MatrixXd::Identity(s.size(), s.size());
    J(0, 1) = nan;
    return J;
  };
  detail::FunctionProblem<decltype(res), decltype(jac)> p{res, jac, {}, {}};
  detail::LmBuffers buffers;
  const StartResult r = detail::levenberg_marquardt(VectorXd::Zero(2), FinderOptions{}, p, buffers);
  CHECK(r.status == StartStatus::Diverged);
}

// --- sweeps ------------------------------------------------------------------------------------------

TEST_CASE("a sweep whose runs have different time axes is refused with the runs named", "[reliability][sweep]") {
  test::ScratchDir dir("sweep_axes");
  write_model(test::random_model(1, {{CellType::RnnTanh, 3}}, 8), dir / "m.h5", Provenance{});
  std::ofstream(dir / "sweep.toml") << "model_file = '" << (dir / "m.h5") << "'\nthreads = 1\n"
                                    << "[simulate]\nmode = 'continuous'\ns0_scale = 0.3\n"
                                    << "[[runs]]\nt_end = 2.0\ndt_out = 1.0\n"
                                    << "[[runs]]\nt_end = 4.0\ndt_out = 2.0\n"
                                    << "[[runs]]\nt_end = 1.0\ndt_out = 1.0\n";
  const auto r = test::run_cli({"sweep", dir / "sweep.toml", "-o", dir / "out.h5"});
  test::expect_clean_failure(r, dir / "out.h5", {"run 1", "t_end = 4.0", "time axis", "run 0"});
  // The runs are kept for a corrected sweep.
  CHECK(std::filesystem::exists(dir / "out.h5.runs/run_000002.h5"));
}
