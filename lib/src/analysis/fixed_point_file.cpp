// The fixed-point result file (see fixed_point_file.hpp).
#include <stackdyn/analysis/fixed_point_file.hpp>
#include <stackdyn/model/model_io.hpp>
#include <stackdyn/model/stack.hpp>

#include <cmath>
#include <complex>
#include <limits>

namespace stackdyn {

using Eigen::MatrixXcd;
using Eigen::VectorXcd;

namespace {

using RowMajor = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using RowMajorC = Eigen::Matrix<std::complex<double>, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
const double nan = std::numeric_limits<double>::quiet_NaN();

void write_rows(h5::Group& g, const std::string& name, const std::vector<VectorXd>& rows, std::size_t width,
                const std::vector<std::string>& labels) {
  std::vector<double> buf;
  buf.reserve(rows.size() * width);
  for (const auto& r : rows) buf.insert(buf.end(), r.data(), r.data() + r.size());
  g.write(name, {rows.size(), width}, buf.data());
  g.set_dim_labels(name, labels);
}

void write_ints(h5::Group& g, const std::string& name, const std::vector<long long>& v, const std::string& label) {
  g.write_int(name, {v.size()}, v.data());
  g.set_dim_labels(name, {label});
}

void write_doubles(h5::Group& g, const std::string& name, const std::vector<double>& v, const std::string& label) {
  g.write(name, {v.size()}, v.data());
  g.set_dim_labels(name, {label});
}

// Which points lie on continuous sets of fixed points (fixed_point_sets.hpp).
void write_continuous_sets(h5::Group& root, h5::Group& fp, const SetClassification& c, const ContinuousSetOptions& o) {
  fp.set_attr("continuous_sets_classified", c.done ? 1 : 0);
  if (!c.done) return;
  write_ints(fp, "neutral_dim", {c.neutral_dim.begin(), c.neutral_dim.end()}, "point");
  fp.set_attr("neutral_dim_definition",
              "number of singular values of D dr/ds below neutral_tol (D = I discrete, T continuous): directions "
              "along which the point can move and stay a fixed point (eigenvalue 1 of the map, 0 of the flow)");
  write_ints(fp, "continuous_set", {c.set_of.begin(), c.set_of.end()}, "point");
  fp.set_attr("continuous_set_definition",
              "index into /continuous_sets of the set of fixed points the point lies on, -1 for an isolated point");
  h5::Group g = root.create_group("continuous_sets");
  std::vector<long long> dim, n, starts;
  std::vector<double> extent;
  for (const auto& cs : c.sets) {
    dim.push_back(cs.dimension);
    n.push_back(static_cast<long long>(cs.points.size()));
    starts.push_back(cs.starts);
    extent.push_back(cs.extent);
  }
  write_ints(g, "dimension", dim, "set");
  write_ints(g, "n_points", n, "set");
  write_ints(g, "counts", starts, "set");
  write_doubles(g, "extent", extent, "set");
  g.set_attr("n_sets", static_cast<long long>(c.sets.size()));
  g.set_attr("n_isolated", static_cast<long long>(c.isolated()));
  g.set_attr("neutral_tol", o.neutral_tol);
  g.set_attr("follow_tol", o.follow_tol);
  g.set_attr("description",
             "groups of two or more fixed points, each lying within follow_tol (relative) of the other's neutral "
             "directions, linked into connected components: line (dimension 1) or plane (2) attractors and the like; "
             "dimension = neutral directions shared by the set's points, counts = starts that reached any of its "
             "points, extent = largest distance between two of its points");
}

}  // namespace

void write_predictions(h5::Group& g, const Model& model, const MatrixXd& S, const MatrixXd& X) {
  if (!model.has_readout()) return;
  MatrixXd P;
  predictions_at_states(model, S, X, P);
  g.write("predictions", MatrixXd(P.transpose()));
  g.set_dim_labels("predictions", {"point", "output"});
}

void write_view_description(h5::Group& root, const Model& model, const VectorXd& x, TimeView view,
                            const std::vector<double>& tau) {
  root.set_attr("mode", std::string(time_view_name(view)));
  if (view == TimeView::Discrete) {
    root.set_attr("units", std::string("steps (timescales and periods in steps of the discrete map)"));
    root.set_attr("q_definition",
                  std::string("q(s) = 1/2 |F(s, x*) - s|^2, one half of the sum of squares (as FixedPointFinder), "
                              "F = one full step of the stack; eigenvalues of dF/ds, stable iff |lambda| < 1"));
  } else {
    root.set_attr("units", std::string("time units of tau (timescales -1/Re lambda, periods 2 pi/|Im lambda|)"));
    root.set_attr("q_definition",
                  std::string("q(s) = 1/2 |f(s, x*)|^2, one half of the sum of squares, f = T^{-1}(G(s, x*) - s), "
                              "T = diag(tau_l); eigenvalues of df/ds, stable iff Re lambda < 0"));
  }
  write_state_layout(root, model);
  root.write("input_constant", x);
  root.set_dim_labels("input_constant", {"input"});
  std::vector<double> t = tau;
  if (t.size() == 1) t.assign(static_cast<std::size_t>(model.num_layers()), t.front());
  write_doubles(root, "tau", t, "layer");
}

void write_spectra(h5::Group& g, const std::vector<Spectrum>& spectra, const FixedPointSystem& sys,
                   const EigenOptions& eo) {
  const std::size_t K = spectra.size(), N = static_cast<std::size_t>(sys.dim());
  bool complete = true;
  std::size_t M = 0, V = 0;
  for (const auto& sp : spectra) {
    complete = complete && sp.complete;
    M = std::max(M, static_cast<std::size_t>(sp.eigenvalues.size()));
    V = std::max(V, static_cast<std::size_t>(sp.right.cols()));
  }
  if (K == 0) M = complete && eo.method != EigenMethod::Spectra ? N : static_cast<std::size_t>(eo.top_k);
  const std::complex<double> cnan(nan, nan);
  std::vector<std::complex<double>> lam(K * M, cnan), right(K * V * N, cnan), left(K * V * N, cnan);
  std::vector<double> ts(K * M, nan), per(K * M, nan);
  std::vector<long long> nu(K), conv(K), stab(K);
  for (std::size_t k = 0; k < K; ++k) {
    const auto& sp = spectra[k];
    for (Eigen::Index i = 0; i < sp.eigenvalues.size(); ++i) {
      lam[k * M + static_cast<std::size_t>(i)] = sp.eigenvalues[i];
      ts[k * M + static_cast<std::size_t>(i)] = sp.timescales[i];
      per[k * M + static_cast<std::size_t>(i)] = sp.periods[i];
    }
    for (Eigen::Index j = 0; j < sp.right.cols(); ++j)
      for (std::size_t n = 0; n < N; ++n) {
        right[(k * V + static_cast<std::size_t>(j)) * N + n] = sp.right(static_cast<Eigen::Index>(n), j);
        left[(k * V + static_cast<std::size_t>(j)) * N + n] = sp.left(static_cast<Eigen::Index>(n), j);
      }
    nu[k] = sp.n_unstable;
    const Stability st = stability(sp, sys.view());
    stab[k] = st == Stability::Stable ? 1 : st == Stability::Unstable ? 0 : -1;
    conv[k] = sp.complete ? sp.eigenvalues.size() : sp.converged;
  }
  g.write_complex("eigenvalues", {K, M}, lam.data());
  g.set_dim_labels("eigenvalues", {"point", complete ? "eigenvalue" : "top_k"});
  g.set_attr("eigenvalues_complete", complete ? 1 : 0);
  g.set_attr("eigenvalue_order", std::string("largest first by ") + std::string(eigen_order_name(eo.which)) +
                                     (eo.which == EigenOrder::LargestMagnitude ? " |lambda|" : " Re lambda"));
  g.set_attr("eigen_method", std::string(eigen_method_name(spectra.empty() ? eo.method : spectra.front().method)));
  g.write("timescales", {K, M}, ts.data());
  g.set_dim_labels("timescales", {"point", "eigenvalue"});
  g.write("periods", {K, M}, per.data());
  g.set_dim_labels("periods", {"point", "eigenvalue"});
  write_ints(g, "n_unstable", nu, "point");
  g.set_attr("n_unstable_definition",
             std::string(sys.view() == TimeView::Discrete ? "number of eigenvalues with |lambda| > 1"
                                                          : "number of eigenvalues with Re lambda > 0") +
                 (complete ? "" : " among the top k (exact when the order is the view's own and a converged "
                                  "stable eigenvalue is among them, else a lower bound)"));
  write_ints(g, "stable", stab, "point");
  g.set_attr("stable_definition",
             std::string("1: every eigenvalue stable (a top-k spectrum decides when ordered by the view's own "
                         "criterion, its leading eigenvalue converged); 0: an unstable direction; -1: undecided (top k "
                         "ordered otherwise)"));
  write_ints(g, "n_eigenvalues_converged", conv, "point");
  g.write_complex("right_eigenvectors", {K, V, N}, right.data());
  g.set_dim_labels("right_eigenvectors", {"point", "mode", "state"});
  g.write_complex("left_eigenvectors", {K, V, N}, left.data());
  g.set_dim_labels("left_eigenvectors", {"point", "mode", "state"});
  g.set_attr("eigenvector_convention",
             std::string("mode j of point k: J v = lambda_j v with |v| = 1; left w: w^T J = lambda_j w^T, "
                         "w^T v = 1 (no conjugation); NaN where not computed"));
  // A per-mode flag of every spectrum as a (point, mode) dataset with its meaning.
  auto mode_flags = [&](const std::string& name, std::vector<bool> Spectrum::*flags, const std::string& meaning) {
    std::vector<long long> v(K * V, 0);
    for (std::size_t k = 0; k < K; ++k)
      for (std::size_t j = 0; j < (spectra[k].*flags).size(); ++j) v[k * V + j] = (spectra[k].*flags)[j] ? 1 : 0;
    g.write_int(name, {K, V}, v.data());
    g.set_dim_labels(name, {"point", "mode"});
    g.set_attr(name + "_meaning", meaning);
  };
  if (V > 0)
    mode_flags("vectors_defective", &Spectrum::defective,
               "1 where the mode's eigenvalue is numerically defective (a Jordan block: unit right and left vectors "
               "orthogonal to within 1e-6, so no w with w^T v = 1 exists); its vectors are NaN (docs/fixed-points.md)");
  if (!spectra.empty() && spectra.front().method == EigenMethod::Block && V > 0)
    mode_flags("vectors_repeated", &Spectrum::repeated,
               "block method: 1 where lambda is also an eigenvalue of another layer's block on the substitution "
               "path; a least-squares solve was used, exact only if that system was consistent (docs/fixed-points.md)");
  // Per-layer blocks in both readings, related by lambda_c = (lambda_d - 1) / tau_l.
  const bool have_blocks = !spectra.empty() && !spectra.front().block_eigenvalues.empty();
  if (!have_blocks && K > 0) return;
  h5::Group bd = g.create_group("block_eigenvalues_discrete"), bc = g.create_group("block_eigenvalues_continuous");
  g.set_attr("block_eigenvalues",
             std::string("eigenvalues of each layer's diagonal block A_ll (discrete) and (A_ll - I)/tau_l "
                         "(continuous); their union is the whole spectrum (block lower-triangular Jacobian)"));
  for (int l = 0; l < sys.stack().num_layers(); ++l) {
    const std::size_t n = static_cast<std::size_t>(sys.stack().slices()[static_cast<std::size_t>(l)].size);
    std::vector<std::complex<double>> d(K * n), c(K * n);
    for (std::size_t k = 0; k < K; ++k) {
      const auto& b = spectra[k].block_eigenvalues[static_cast<std::size_t>(l)];
      for (std::size_t i = 0; i < n; ++i) {
        const auto mu = b[static_cast<Eigen::Index>(i)];
        d[k * n + i] = sys.view() == TimeView::Discrete ? mu : discrete_from_continuous(mu, sys.tau(l));
        c[k * n + i] = sys.view() == TimeView::Continuous ? mu : continuous_from_discrete(mu, sys.tau(l));
      }
    }
    const std::string name = "layer_" + std::to_string(l);
    bd.write_complex(name, {K, n}, d.data());
    bc.write_complex(name, {K, n}, c.data());
  }
}

void write_fixed_point_report(h5::Group& root, const Model& model, const VectorXd& x, const FixedPointSearch& s,
                              const FixedPointReport& rep) {
  write_view_description(root, model, x, s.view, s.tau);
  root.set_attr("method", std::string(finder_method_name(s.finder.method)));
  root.set_attr("q_tol", s.finder.q_tol);
  root.set_attr("max_iters", static_cast<long long>(s.finder.max_iters));
  root.set_attr("n_starts", static_cast<long long>(rep.starts.cols()));
  if (!rep.starts_description.empty()) root.set_attr("starts_sampling", rep.starts_description);
  root.set_attr("n_converged", static_cast<long long>(rep.n_converged));
  root.set_attr("best_q", rep.best_q);
  root.set_attr("unique_tol", s.unique.tol);
  root.set_attr("outliers_removed", static_cast<long long>(rep.outliers_removed));
  root.set_attr("summary", summarise(rep, 1000));
  const std::size_t N = static_cast<std::size_t>(model.state_dim()), K = rep.points.size();

  h5::Group fp = root.create_group("fixed_points");
  std::vector<VectorXd> states;
  std::vector<double> q;
  std::vector<long long> counts;
  for (const auto& p : rep.points) {
    states.push_back(p.state);
    q.push_back(p.q);
    counts.push_back(p.count);
  }
  write_rows(fp, "states", states, N, {"point", "state"});
  attach_state_axis(root, "fixed_points/states", 1);
  write_doubles(fp, "q", q, "point");
  {
    MatrixXd S(static_cast<Eigen::Index>(N), static_cast<Eigen::Index>(K));
    for (std::size_t k = 0; k < K; ++k) S.col(static_cast<Eigen::Index>(k)) = states[k];
    write_predictions(fp, model, S, x);
  }
  write_ints(fp, "counts", counts, "point");
  fp.set_attr("counts_definition", std::string("number of starts (hierarchical: of layer-top starts) that reached the point"));
  fp.set_attr("n_points", static_cast<long long>(K));
  const FixedPointSystem sys(model, x, s.view, s.tau);
  write_spectra(fp, rep.spectra, sys, s.eigen);
  write_continuous_sets(root, fp, rep.sets, s.sets);

  h5::Group st = root.create_group("starts");
  std::vector<VectorXd> init, fin;
  std::vector<double> sq;
  std::vector<long long> iters, status, point;
  for (Eigen::Index j = 0; j < rep.starts.cols(); ++j) init.push_back(rep.starts.col(j));
  for (std::size_t i = 0; i < rep.runs.size(); ++i) {
    fin.push_back(rep.runs[i].state);
    sq.push_back(rep.runs[i].q);
    iters.push_back(rep.runs[i].iterations);
    status.push_back(static_cast<long long>(rep.runs[i].status));
    point.push_back(rep.start_point[i]);
  }
  write_rows(st, "initial", init, N, {"start", "state"});
  attach_state_axis(root, "starts/initial", 1);
  if (!rep.hierarchy) {
    write_rows(st, "final", fin, N, {"start", "state"});
    attach_state_axis(root, "starts/final", 1);
    write_doubles(st, "q", sq, "start");
    write_ints(st, "iterations", iters, "start");
    write_ints(st, "status", status, "start");
    st.set_attr("status_names", std::string("0 converged (q < q_tol), 1 slow_point (stalled with q >= q_tol: a local "
                                            "minimum of q), 2 diverged, 3 cap_reached"));
    write_ints(st, "point", point, "start");
    st.set_attr("point_definition", std::string("index into fixed_points of the point reached, -1 for none"));
  }
  if (s.saddle_graph) {
    h5::Group sg = root.create_group("saddle_graph");
    std::vector<long long> saddle, mode, side, target;
    for (const auto& e : rep.edges) {
      saddle.push_back(e.saddle);
      mode.push_back(e.mode);
      side.push_back(e.side);
      target.push_back(e.target);
    }
    for (const auto& [name, v] : {std::pair{"saddle", &saddle}, {"mode", &mode}, {"side", &side}, {"target", &target}})
      write_ints(sg, name, *v, "edge");
    sg.set_attr("description", std::string("from fixed point 'saddle', the state s* -/+ 1e-3 v (side 0/1; v the real part "
                                           "of unstable mode 'mode'), run for 3000 steps (continuous: RK4, dt = min tau/10), "
                                           "reaches stable fixed point 'target' (-1: none within 1e-3); needs n_vectors >= "
                                           "the saddle's index"));
  }
  if (rep.hierarchy) {
    h5::Group hg = root.create_group("hierarchy");
    hg.set_attr("capped", rep.hierarchy->capped ? 1 : 0);
    hg.set_attr("max_combinations", static_cast<long long>(s.max_combinations));
    hg.set_attr("description", std::string("layer l's points for each point of the layers below; parent indexes the "
                                           "rows of layer l-1; leaves give the full fixed points"));
    hg.set_attr("n_starts", static_cast<long long>(rep.hierarchy->n_starts));
    hg.set_attr("counts_definition",
                std::string("per branch: every start is run again in the branch of each parent, and counts[k] is the "
                            "number of the n_starts starts that converged to node k in its parent's branch; the counts "
                            "of the nodes of one parent add up to at most n_starts (starts that reached no point are "
                            "not counted), so a layer's counts add up to at most n_starts times its number of parents"));
    for (int l = 0; l < model.num_layers(); ++l) {
      std::vector<VectorXd> ls;
      std::vector<long long> parent, cnt;
      std::vector<double> ql;
      std::vector<long long> row_of(rep.hierarchy->nodes.size(), -1);
      long long rows_below = 0;
      for (std::size_t i = 0; i < rep.hierarchy->nodes.size(); ++i) {
        const auto& nd = rep.hierarchy->nodes[i];
        if (nd.layer == l - 1) row_of[i] = rows_below++;
      }
      for (const auto& nd : rep.hierarchy->nodes) {
        if (nd.layer != l) continue;
        ls.push_back(nd.layer_state);
        parent.push_back(nd.parent < 0 ? -1 : row_of[static_cast<std::size_t>(nd.parent)]);
        cnt.push_back(nd.count);
        ql.push_back(nd.q_layer);
      }
      h5::Group lg = hg.create_group("layer_" + std::to_string(l));
      write_rows(lg, "states", ls, static_cast<std::size_t>(model.state_slices()[static_cast<std::size_t>(l)].size),
                 {"node", "layer_state"});
      write_ints(lg, "parent", parent, "node");
      write_ints(lg, "counts", cnt, "node");
      write_doubles(lg, "q", ql, "node");
    }
  }
}

}  // namespace stackdyn
