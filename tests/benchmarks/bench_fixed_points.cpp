// Benchmarks of fixed points and eigen-analysis (not timed tests; figures depend on the machine's load).
//
//   bench_fixed_points finder MODEL.h5 STARTS.h5 [--threads T] [--q-tol Q] [--methods lm,hybrid,adam]
//                      [--repeat R] [--profile]
//       every finder method on the same starts ('states' (n, state_dim)), input zero:
//       time (the median of R runs of run_starts), fraction of starts with q < Q, unique
//       points, stable points and saddles. --profile: the cost of the pieces of one lm
//       iteration (linearisation, dense Jacobian, residual, the damped normal equations),
//       of starting the threads, and of the deduplication.
//   bench_fixed_points eigen [--layers L] [--units N] [--top-k K] [--ncv M] [--skip-full] [--seed S]
//       eigen-analysis at one state of an L x N vanilla tanh stack: the full dense solve,
//       the block-triangular shortcut and Spectra's top-K (per diagonal block, and through the
//       whole stack's Jacobian-vector product), with agreement checks.
//
// scripts/bench_fixed_points.py drives the first against the torch reference.
#include <stackdyn/analysis/eigen_analysis.hpp>
#include <stackdyn/analysis/fixed_points.hpp>
#include <stackdyn/core/h5.hpp>
#include <stackdyn/model/model_io.hpp>
#include <stackdyn/core/parallel.hpp>
#include <stackdyn/core/random.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

using namespace stackdyn;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::string arg(const std::vector<std::string>& a, const std::string& name, const std::string& fallback) {
  for (std::size_t i = 0; i + 1 < a.size(); ++i)
    if (a[i] == name) return a[i + 1];
  return fallback;
}
bool flag(const std::vector<std::string>& a, const std::string& name) {
  for (const auto& s : a)
    if (s == name) return true;
  return false;
}

// Median seconds per call of f over `reps` calls, after one warm-up call.
template <class F>
double per_call(int reps, F&& f) {
  f();
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < reps; ++i) f();
  return seconds_since(t0) / reps;
}

// Where one lm iteration's time goes, on one thread, at the starts themselves.
void profile_lm(const FixedPointSystem& sys, const MatrixXd& starts, int threads) {
  const int N = sys.dim(), n = static_cast<int>(starts.cols());
  FinderOptions o;
  o.threads = 1;
  std::vector<StartResult> one;
  const double t_serial = per_call(3, [&] { one = run_starts(sys, starts, o); });
  long long iters = 0;
  for (const auto& r : one) iters += r.iterations;
  int j = 0;
  auto next = [&] { return starts.col(j++ % n); };
  const int reps = 20000;
  // The general paths: a new Linearization (workspace and all) per call, the residual
  // through a fresh workspace, the dense Jacobian through Stack::jacobian_state.
  const double t_lin_new = per_call(reps, [&] { volatile double v = sys.linearize(next()).s_next[0]; (void)v; });
  FixedPointSystem::Linearization lin = sys.linearize(starts.col(0));
  const double t_jac_stack = per_call(reps, [&] { volatile double v = sys.stack().jacobian_state(lin)(0, 0); (void)v; });
  VectorXd r(N);
  const double t_res_fresh = per_call(reps, [&] {
    sys.residual(next(), r);
    volatile double v = r[0];
    (void)v;
  });
  // What the lm loop uses now: one reusable Linearization per thread, the Jacobian in place.
  const double t_lin_reuse = per_call(reps, [&] {
    sys.linearize(next(), lin);
    sys.residual(lin, r);
    volatile double v = r[0];
    (void)v;
  });
  MatrixXd J(N, N);
  const double t_jac_inplace = per_call(reps, [&] {
    sys.jacobian(lin, J);
    volatile double v = J(0, 0);
    (void)v;
  });
  MatrixXd A(N, N), M(N, N);
  VectorXd g(N), d(N);
  Eigen::LLT<MatrixXd> llt(N);
  const double t_solve = per_call(reps, [&] {
    A.setZero();
    A.selfadjointView<Eigen::Lower>().rankUpdate(J.transpose());
    g.noalias() = J.transpose() * r;
    M = A;
    M.diagonal().array() += 1e-6;
    llt.compute(M);
    d = llt.solve(g);
    volatile double v = d[0];
    (void)v;
  });
  const double t_threads = per_call(200, [&] { parallel_for(static_cast<std::size_t>(threads), threads, [](std::size_t) {}); });
  const double t_unique = per_call(20, [&] { volatile auto k = unique_points(one, UniqueOptions{}, MatrixXd()).points.size(); (void)k; });
  std::printf("lm profile (one thread, %d starts, %lld iterations in all, %.2f per start): %.4f s, %.2f us per iteration\n",
              n, iters, static_cast<double>(iters) / n, t_serial, 1e6 * t_serial / static_cast<double>(iters));
  std::printf("  general paths, per call: new linearisation %.2f us, residual with a fresh workspace %.2f us, "
              "Stack::jacobian_state %.2f us\n",
              1e6 * t_lin_new, 1e6 * t_res_fresh, 1e6 * t_jac_stack);
  std::printf("  reused buffers, per call: linearise + residual %.2f us, Jacobian in place %.2f us; "
              "J^T J, J^T r, Cholesky solve %.2f us\n",
              1e6 * t_lin_reuse, 1e6 * t_jac_inplace, 1e6 * t_solve);
  std::printf("  starting %d threads: %.1f us; unique_points: %.2f ms\n", threads, 1e6 * t_threads, 1e3 * t_unique);
}

int bench_finder(const std::vector<std::string>& a) {
  if (a.size() < 3) {
    std::cerr << "usage: bench_fixed_points finder MODEL.h5 STARTS.h5 [--threads T] [--q-tol Q]\n";
    return 2;
  }
  const Model model = read_model(a[1]);
  const h5::File f = h5::File::open(a[2]);
  const h5::Array st = f.read("states", 2);
  const int N = model.state_dim();
  const MatrixXd starts = Eigen::Map<const MatrixXd>(st.data.data(), N, static_cast<Eigen::Index>(st.shape[0]));
  const FixedPointSystem sys(model, VectorXd::Zero(model.input_size), TimeView::Discrete);
  const double q_tol = std::stod(arg(a, "--q-tol", "1e-12"));
  const int threads = std::stoi(arg(a, "--threads", "2"));
  const int repeat = std::max(1, std::stoi(arg(a, "--repeat", "1")));
  const std::string methods = "," + arg(a, "--methods", "lm,hybrid,adam") + ",";
  if (flag(a, "--profile")) profile_lm(sys, starts, threads);
  std::printf("%-8s %8s %10s %9s %7s %7s %8s %10s %10s %14s\n", "method", "starts", "seconds", "q<tol", "unique",
              "stable", "saddles", "median_q", "max_q_pts", "q<1e-20:u/st/sd");
  for (auto m : {FinderMethod::LevenbergMarquardt, FinderMethod::Hybrid, FinderMethod::Adam}) {
    if (methods.find("," + std::string(finder_method_name(m)) + ",") == std::string::npos) continue;
    FinderOptions o;
    o.method = m;
    o.q_tol = q_tol;
    o.threads = threads;
    o.max_iters = m == FinderMethod::Adam ? 5000 : 200;
    std::vector<StartResult> runs;
    std::vector<double> times;
    for (int k = 0; k < repeat; ++k) {
      const auto t0 = std::chrono::steady_clock::now();
      runs = run_starts(sys, starts, o);
      times.push_back(seconds_since(t0));
    }
    std::sort(times.begin(), times.end());
    const double secs = times[times.size() / 2];
    int ok = 0;
    std::vector<double> qs;
    for (const auto& r : runs) {
      ok += r.q < q_tol;
      qs.push_back(r.q);
    }
    std::sort(qs.begin(), qs.end());
    const auto u = unique_points(runs, UniqueOptions{}, MatrixXd());
    int stable = 0, saddles = 0, iso = 0, iso_stable = 0, iso_saddles = 0;
    double max_q = 0;
    for (const auto& p : u.points) {
      EigenOptions eo;
      eo.n_vectors = 0;
      const int nu = analyse_spectrum(sys, p.state, eo).n_unstable;
      stable += nu == 0;
      saddles += nu == 1;
      // isolated roots reached by quadratic convergence, not near-neutral slow regions
      if (p.q < 1e-20) {
        ++iso;
        iso_stable += nu == 0;
        iso_saddles += nu == 1;
      }
      max_q = std::max(max_q, p.q);
    }
    std::printf("%-8s %8zu %10.4f %8.1f%% %7zu %7d %8d %10.2e %10.2e %6d/%d/%d\n",
                std::string(finder_method_name(m)).c_str(), runs.size(), secs,
                100.0 * ok / static_cast<double>(runs.size()), u.points.size(), stable, saddles, qs[qs.size() / 2],
                max_q, iso, iso_stable, iso_saddles);
  }
  return 0;
}

Model wide_stack(int L, int n, std::uint64_t seed) {
  Rng rng(seed);
  Model m;
  m.input_size = 2;
  for (int l = 0; l < L; ++l) {
    LayerSpec s;
    s.cell = CellType::RnnTanh;
    s.hidden_size = n;
    const int in = l == 0 ? 2 : n;
    s.fwd.w_hh.resize(n, n);
    s.fwd.w_ih.resize(n, in);
    const double g = 1.3 / std::sqrt(static_cast<double>(n));
    for (Eigen::Index i = 0; i < s.fwd.w_hh.size(); ++i) s.fwd.w_hh.data()[i] = g * rng.normal();
    for (Eigen::Index i = 0; i < s.fwd.w_ih.size(); ++i) s.fwd.w_ih.data()[i] = g * rng.normal();
    s.fwd.b_ih = VectorXd::Zero(n);
    s.fwd.b_hh = VectorXd::Zero(n);
    m.layers.push_back(s);
  }
  m.validate("bench");
  return m;
}

int bench_eigen(const std::vector<std::string>& a) {
  const int L = std::stoi(arg(a, "--layers", "3")), n = std::stoi(arg(a, "--units", "2000"));
  const int k = std::stoi(arg(a, "--top-k", "20"));
  const Model m = wide_stack(L, n, static_cast<std::uint64_t>(std::stoll(arg(a, "--seed", "1"))));
  const FixedPointSystem sys(m, VectorXd::Constant(2, 0.1), TimeView::Discrete);
  Rng rng(2);
  VectorXd s(sys.dim());
  for (auto& v : s) v = rng.uniform(-0.5, 0.5);
  // a state on a trajectory of the map
  for (int t = 0; t < 20; ++t) {
    VectorXd next(sys.dim());
    sys.residual(s, next);
    s += next;
  }
  std::printf("eigen-analysis at one state of a %d x %d tanh stack (state_dim %d), eigenvalues only\n", L, n,
              sys.dim());
  EigenOptions eo;
  eo.n_vectors = 0;
  eo.block_spectra = false;
  eo.method = EigenMethod::Block;
  auto t0 = std::chrono::steady_clock::now();
  const Spectrum block = analyse_spectrum(sys, s, eo);
  const double t_block = seconds_since(t0);
  std::printf("  block shortcut   %8.3f s  (%d eigenvalues, |lambda_1| = %.6f, n_unstable %d)\n", t_block,
              static_cast<int>(block.eigenvalues.size()), std::abs(block.eigenvalues[0]), block.n_unstable);
  eo.n_vectors = 3;
  t0 = std::chrono::steady_clock::now();
  const Spectrum blockv = analyse_spectrum(sys, s, eo);
  std::printf("  block shortcut   %8.3f s  with right and left vectors of the top 3\n", seconds_since(t0));
  (void)blockv;
  eo.n_vectors = 0;
  eo.method = EigenMethod::Spectra;
  eo.top_k = k;
  eo.spectra_ncv = std::stoi(arg(a, "--ncv", "0"));
  t0 = std::chrono::steady_clock::now();
  const Spectrum top = analyse_spectrum(sys, s, eo);
  const double t_top = seconds_since(t0);
  double err = 0;
  for (int i = 0; i < top.converged && i < k - 1; ++i)
    err = std::max(err, std::abs(std::abs(top.eigenvalues[i]) - std::abs(block.eigenvalues[i])));
  std::printf("  spectra top-%-3d  %8.3f s  (%d converged; max ||lambda_i| - block's| over the top %d: %.1e)\n", k,
              t_top, top.converged, k - 1, err);
  eo.n_vectors = 3;
  t0 = std::chrono::steady_clock::now();
  const Spectrum topv = analyse_spectrum(sys, s, eo);
  std::printf("  spectra top-%-3d  %8.3f s  with right and left vectors of the top 3\n", k, seconds_since(t0));
  (void)topv;
  eo.n_vectors = 0;
  eo.spectra_per_block = false;
  t0 = std::chrono::steady_clock::now();
  const Spectrum whole = analyse_spectrum(sys, s, eo);
  std::printf("  spectra top-%-3d  %8.3f s  through the whole stack's Jacobian-vector product (%d converged)\n", k,
              seconds_since(t0), whole.converged);
  eo.spectra_per_block = true;
  if (!flag(a, "--skip-full")) {
    eo.method = EigenMethod::Full;
    eo.n_vectors = 0;
    t0 = std::chrono::steady_clock::now();
    const Spectrum full = analyse_spectrum(sys, s, eo);
    const double t_full = seconds_since(t0);
    double d = 0;
    for (Eigen::Index i = 0; i < full.eigenvalues.size(); ++i)
      d = std::max(d, std::abs(std::abs(full.eigenvalues[i]) - std::abs(block.eigenvalues[i])));
    std::printf("  full dense solve %8.3f s  (max ||lambda_i| - block's| over all: %.1e)\n", t_full, d);
    std::printf("  speed-ups over the full solve: block %.1fx, spectra top-%d %.1fx\n", t_full / t_block, k,
                t_full / t_top);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> a(argv + 1, argv + argc);
  try {
    if (!a.empty() && a[0] == "finder") return bench_finder(a);
    if (!a.empty() && a[0] == "eigen") return bench_eigen(a);
  } catch (const std::exception& e) {
    std::cerr << "bench_fixed_points: error: " << e.what() << "\n";
    return 2;
  }
  std::cerr << "usage: bench_fixed_points finder MODEL.h5 STARTS.h5 | eigen [--layers L] [--units N] [--top-k K]\n";
  return 2;
}
