// Pseudo-arclength continuation of fixed points and the saddle graph (see continuation.hpp).
#include <stackdyn/analysis/continuation.hpp>
#include <stackdyn/core/error.hpp>

#include <Eigen/LU>

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <string_view>

namespace stackdyn {

using Eigen::VectorXcd;

namespace {

// The matrix a weight scale multiplies, in model m.
MatrixXd& scaled_matrix(Model& m, const ContinuationParameter& par) {
  CellParams& c = m.layers.at(static_cast<std::size_t>(par.layer)).fwd;
  return par.recurrent ? c.w_hh : c.w_ih;
}

struct Point {
  VectorXd s;
  double p;
};

// r(s, p), dr/ds and dr/dp along the parameter. Holds the model at the current p and the one
// system built on it: the cells of a system copy what they derive from the model (summed
// biases, ...), so the model is rewritten only after that system is gone, and a new one is
// built on the rewritten model. A reference from at() is valid until the next call.
class ParametrisedResidual {
 public:
  ParametrisedResidual(const Model& model, const VectorXd& x0, const ContinuationParameter& par, TimeView view,
                       std::vector<double> tau)
      : model_(model), at_p_(par.kind == ContinuationParameter::Kind::WeightScale ? model : Model()), x0_(x0),
        par_(par), view_(view), tau_(std::move(tau)) {
    if (par.kind == ContinuationParameter::Kind::WeightScale) W_ = scaled_matrix(at_p_, par_);
  }

  const FixedPointSystem& at(double p) {
    if (sys_ && p == p_) return *sys_;
    sys_.reset();
    p_ = p;
    if (par_.kind == ContinuationParameter::Kind::Input) {
      sys_.emplace(model_, x0_ + p * par_.direction, view_, tau_);
    } else {
      scaled_matrix(at_p_, par_) = p * W_;
      sys_.emplace(at_p_, x0_, view_, tau_);
    }
    return *sys_;
  }

  // dr/dp at a linearisation of at(p)
  VectorXd dp(const FixedPointSystem& sys, const FixedPointSystem::Linearization& lin) const {
    VectorXd rp(sys.dim());
    if (par_.kind == ContinuationParameter::Kind::Input)
      sys.stack().jvp(lin, par_.direction, VectorXd::Zero(sys.dim()), rp);
    else if (par_.recurrent)
      sys.stack().weight_jvp(lin, par_.layer, MatrixXd(), W_, rp);
    else
      sys.stack().weight_jvp(lin, par_.layer, W_, MatrixXd(), rp);
    if (view_ == TimeView::Continuous) rp.array() /= sys.tau_per_state().array();
    return rp;
  }

  // [dr/ds | dr/dp] and r at (s, p)
  void linear(const VectorXd& s, double p, MatrixXd& A, VectorXd& r) {
    const FixedPointSystem& sys = at(p);
    const auto lin = sys.linearize(s);
    const int N = sys.dim();
    A.resize(N, N + 1);
    A.leftCols(N) = sys.jacobian(lin);
    A.col(N) = dp(sys, lin);
    r = sys.residual(lin);
  }

 private:
  const Model& model_;
  Model at_p_;
  MatrixXd W_;  // the unscaled matrix
  VectorXd x0_;
  ContinuationParameter par_;
  TimeView view_;
  std::vector<double> tau_;
  std::optional<FixedPointSystem> sys_;  // built on at_p_ (or model_) at p_
  double p_ = 0;
};

// Unit null vector of the N x (N+1) matrix A, oriented along `previous` (or with dp > 0).
VectorXd tangent(const MatrixXd& A, const VectorXd* previous, double direction) {
  Eigen::ColPivHouseholderQR<MatrixXd> qr(A.transpose());
  const MatrixXd Q = qr.householderQ();
  VectorXd t = Q.col(A.cols() - 1);
  t.normalize();
  if (previous ? t.dot(*previous) < 0 : t[t.size() - 1] * direction < 0) t = -t;
  return t;
}

std::complex<double> critical(const VectorXcd& lambda, TimeView view, double& margin) {
  std::complex<double> best = 0;
  margin = 1e300;
  for (const auto& l : lambda) {
    const double m = view == TimeView::Discrete ? std::abs(l) - 1 : l.real();
    if (std::abs(m) < std::abs(margin)) {
      margin = m;
      best = l;
    }
  }
  return best;
}

}  // namespace

std::string ContinuationParameter::name() const {
  if (kind == Kind::Input) return "input";
  return "layers/" + std::to_string(layer) + (recurrent ? "/weight_hh" : "/weight_ih");
}

ContinuationParameter parse_weight_scale(const Model& model, std::string_view name, std::string_view where) {
  const std::string quoted = std::string(where) + ": '" + std::string(name) + "': ";
  const std::string expected = "expected layers/<l>/weight_hh or layers/<l>/weight_ih (the model file's dataset names)";
  const std::string_view prefix = "layers/";
  const auto slash = name.find('/', prefix.size());
  if (name.substr(0, prefix.size()) != prefix || slash == std::string_view::npos || slash == prefix.size())
    throw InputError(quoted + expected);
  const std::string_view index = name.substr(prefix.size(), slash - prefix.size()), dataset = name.substr(slash + 1);
  if (index.find_first_not_of("0123456789") != std::string_view::npos || index.size() > 6)
    throw InputError(quoted + expected);
  const int l = std::stoi(std::string(index));
  if (l >= model.num_layers())
    throw InputError(quoted + "no such layer: the model's layers are layers/0 .. layers/" +
                     std::to_string(model.num_layers() - 1));
  ContinuationParameter par;
  par.kind = ContinuationParameter::Kind::WeightScale;
  par.layer = l;
  if (dataset == "weight_hh" || dataset == "weight_ih") {
    par.recurrent = dataset == "weight_hh";
    return par;
  }
  // what the layer does hold (docs/model-format.md), to tell "not there" from "not scalable"
  const LayerSpec& spec = model.layers[static_cast<std::size_t>(l)];
  std::vector<std::string> held;
  if (spec.bias) held.push_back("bias_ih");
  if (spec.bias && spec.cell != CellType::DeepTransition) held.push_back("bias_hh");
  for (std::size_t k = 0; k < spec.fwd.mlp_w.size(); ++k) {
    held.push_back("mlp_weight_" + std::to_string(k));
    if (spec.bias) held.push_back("mlp_bias_" + std::to_string(k));
  }
  if (spec.residual_proj.size() > 0) held.push_back("residual_proj");
  if (std::find(held.begin(), held.end(), dataset) != held.end())
    throw InputError(quoted + "only a layer's weight_hh or weight_ih can be scaled; " + expected);
  throw InputError(quoted + "layer " + std::to_string(l) + " has no matrix '" + std::string(dataset) + "'; " + expected);
}

Model model_at(const Model& model, const ContinuationParameter& par, double p) {
  Model m = model;
  if (par.kind == ContinuationParameter::Kind::WeightScale) scaled_matrix(m, par) *= p;
  return m;
}

VectorXd residual_dp(const Model& model, const Eigen::Ref<const VectorXd>& x0, const ContinuationParameter& par,
                     TimeView view, const std::vector<double>& tau, const Eigen::Ref<const VectorXd>& s, double p) {
  ParametrisedResidual R(model, x0, par, view, tau);
  const FixedPointSystem& sys = R.at(p);
  return R.dp(sys, sys.linearize(s));
}

Branch continue_branch(const Model& model, const Eigen::Ref<const VectorXd>& x0, const Eigen::Ref<const VectorXd>& dx,
                       TimeView view, const std::vector<double>& tau, const Eigen::Ref<const VectorXd>& s0, double p0,
                       const ContinuationOptions& o) {
  if (dx.size() != model.input_size)
    throw InputError("continuation: the input and its direction need input_size = " +
                     std::to_string(model.input_size) + " values");
  ContinuationParameter par;
  par.direction = dx;
  return continue_branch(model, x0, par, view, tau, s0, p0, o);
}

Branch continue_branch(const Model& model, const Eigen::Ref<const VectorXd>& x0, const ContinuationParameter& par,
                       TimeView view, const std::vector<double>& tau, const Eigen::Ref<const VectorXd>& s0, double p0,
                       const ContinuationOptions& o) {
  if (x0.size() != model.input_size ||
      (par.kind == ContinuationParameter::Kind::Input && par.direction.size() != model.input_size))
    throw InputError("continuation: the input and its direction need input_size = " +
                     std::to_string(model.input_size) + " values");
  if (par.kind == ContinuationParameter::Kind::WeightScale && (par.layer < 0 || par.layer >= model.num_layers()))
    throw InputError("continuation: the scaled matrix's layer " + std::to_string(par.layer) + " is not in the model");
  if (!(o.ds > 0) || !(o.ds_min > 0) || o.ds_max < o.ds || !(o.p_max > o.p_min) || o.max_steps < 1)
    throw InputError("continuation: need 0 < ds_min, 0 < ds <= ds_max, p_min < p_max and max_steps >= 1");
  ParametrisedResidual R(model, x0, par, view, tau);
  const int N = static_cast<int>(s0.size());
  if (N != model.state_dim()) throw InputError("continuation: the start has the wrong width");
  EigenOptions eo;
  eo.method = EigenMethod::Full;
  eo.n_vectors = 0;
  eo.block_spectra = false;
  eo.which = natural_order(view);

  Branch br;
  MatrixXd A;
  VectorXd r;
  // refine the start at fixed p
  VectorXd s = s0;
  for (int it = 0; it < 50; ++it) {
    R.linear(s, p0, A, r);
    if (r.norm() < o.newton_tol) break;
    s -= A.leftCols(N).partialPivLu().solve(r);
  }
  if (!(r.norm() < o.newton_tol)) {
    br.stop_reason = "the start is not a fixed point (Newton did not converge)";
    return br;
  }
  auto record = [&](const VectorXd& state, double p, const VectorXd& t) {
    BranchPoint bp;
    bp.p = p;
    bp.state = state;
    bp.dp_ds = t[N];
    const Spectrum sp = analyse_spectrum(R.at(p), state, eo);
    bp.n_unstable = sp.n_unstable;
    double m = 0;
    bp.critical = critical(sp.eigenvalues, view, m);
    br.points.push_back(bp);
  };
  VectorXd t = tangent(A, nullptr, o.direction >= 0 ? 1.0 : -1.0);
  record(s, p0, t);
  VectorXd y(N + 1);
  y << s, p0;
  double ds = o.ds;
  const VectorXd y_start = y, t_start = t;
  br.stop_reason = "step cap reached";
  for (int step = 0; step < o.max_steps; ++step) {
    // predictor along the tangent, corrector on [r; t . (y - y0) - ds] = 0
    VectorXd z = y + ds * t;
    bool ok = false;
    MatrixXd M(N + 1, N + 1);
    VectorXd g(N + 1);
    for (int it = 0; it < o.newton_max_iters; ++it) {
      R.linear(z.head(N), z[N], A, r);
      if (!r.allFinite()) break;
      g << r, t.dot(z - y) - ds;
      if (r.norm() < o.newton_tol && std::abs(g[N]) < 1e-8 * std::max(1.0, ds)) {
        ok = true;
        break;
      }
      M.topRows(N) = A;
      M.row(N) = t.transpose();
      z -= M.partialPivLu().solve(g);
    }
    if (!ok) {
      ds *= 0.5;
      if (ds < o.ds_min) {
        br.stop_reason = "the corrector failed with the smallest step";
        break;
      }
      --step;
      continue;
    }
    const VectorXd t_new = tangent(A, &t, 1.0);
    y = z;
    t = t_new;
    record(y.head(N), y[N], t);
    ds = std::min(ds * 1.3, o.ds_max);
    // events between the last two points
    const auto& a = br.points[br.points.size() - 2];
    const auto& b = br.points.back();
    if (a.n_unstable != b.n_unstable) {
      BranchEvent e;
      e.after = static_cast<int>(br.points.size()) - 2;
      e.n_unstable_before = a.n_unstable;
      e.n_unstable_after = b.n_unstable;
      const double ma = view == TimeView::Discrete ? std::abs(a.critical) - 1 : a.critical.real();
      const double mb = view == TimeView::Discrete ? std::abs(b.critical) - 1 : b.critical.real();
      const auto c = std::abs(ma) < std::abs(mb) ? a.critical : b.critical;
      if ((a.dp_ds > 0) != (b.dp_ds > 0)) {
        // p is quadratic in the arclength sigma near a fold: p(sigma) = p_a + p'_a sigma + c sigma^2
        // with p'_b = p'_a + 2 c dsigma; the fold is its extremum.
        e.kind = "fold";
        const double dsig = std::hypot((b.state - a.state).norm(), b.p - a.p);
        const double curv = (b.dp_ds - a.dp_ds) / (2 * dsig);
        e.p = a.p - a.dp_ds * a.dp_ds / (4 * curv);
      } else {
        e.p = ma == mb ? b.p : a.p + (b.p - a.p) * ma / (ma - mb);
        if (std::abs(c.imag()) > 1e-6)
          e.kind = view == TimeView::Discrete ? "neimark_sacker" : "hopf";
        else if (view == TimeView::Discrete && c.real() < 0)
          e.kind = "period_doubling";
        else
          e.kind = view == TimeView::Discrete ? "stability_change (lambda = +1)" : "stability_change (lambda = 0)";
      }
      br.events.push_back(e);
    }
    if (y[N] < o.p_min || y[N] > o.p_max) {
      br.stop_reason = "left the parameter range";
      break;
    }
    // back at the start, moving the same way: the branch is a closed curve
    if (step > 3 && (y - y_start).norm() < 0.5 * std::max(ds, o.ds) && t.dot(t_start) > 0) {
      br.stop_reason = "closed loop";
      break;
    }
  }
  return br;
}

std::vector<SaddleEdge> saddle_graph(const FixedPointSystem& sys, const std::vector<VectorXd>& points,
                                     const std::vector<Spectrum>& spectra, double eps, int steps, double tol) {
  std::vector<int> stable;
  for (std::size_t k = 0; k < spectra.size(); ++k)
    if (stability(spectra[k], sys.view()) == Stability::Stable) stable.push_back(static_cast<int>(k));
  const int N = sys.dim();
  double tau_min = 1e300;
  for (int l = 0; l < sys.stack().num_layers(); ++l) tau_min = std::min(tau_min, sys.tau(l));
  const double dt = tau_min / 10;
  std::vector<SaddleEdge> edges;
  VectorXd k1(N), k2(N), k3(N), k4(N), next(N);
  for (std::size_t k = 0; k < spectra.size(); ++k) {
    const Spectrum& sp = spectra[k];
    const int modes = std::min<int>(sp.n_unstable, static_cast<int>(sp.right.cols()));
    for (int m = 0; m < modes; ++m) {
      const VectorXd v = sp.right.col(m).real().normalized();
      for (int side = 0; side < 2; ++side) {
        VectorXd s = points[k] + (side ? eps : -eps) * v;
        for (int t = 0; t < steps && s.allFinite(); ++t) {
          sys.residual(s, k1);
          if (sys.view() == TimeView::Discrete) {
            s += k1;  // r = F(s) - s
            continue;
          }
          sys.residual(s + 0.5 * dt * k1, k2);
          sys.residual(s + 0.5 * dt * k2, k3);
          sys.residual(s + dt * k3, k4);
          s += dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4);
        }
        SaddleEdge e{static_cast<int>(k), m, side, -1};
        double best = tol;
        for (int j : stable) {
          const double d = (points[static_cast<std::size_t>(j)] - s).norm();
          if (d < best) {
            best = d;
            e.target = j;
          }
        }
        edges.push_back(e);
      }
    }
  }
  return edges;
}

}  // namespace stackdyn
