// odeint's rosenbrock4 with the analytic Jacobian of the continuous-time view (see
// odeint_rosenbrock4.hpp). Compiled as C++17: Boost 1.74's ublas does not build as C++20.
#include "odeint_rosenbrock4.hpp"

#include "rodas_coefficients.hpp"  // lib/src/dynamics: the coefficients the library's rosenbrock4 uses

#include <boost/numeric/odeint/stepper/rosenbrock4.hpp>
#include <boost/numeric/odeint/stepper/rosenbrock4_controller.hpp>

#include <algorithm>

namespace stackdyn::test {
namespace {
namespace odeint = boost::numeric::odeint;
using Vec = boost::numeric::ublas::vector<double>;
using Mat = boost::numeric::ublas::matrix<double>;

struct Rhs {
  ContinuousSystem* sys;
  void operator()(const Vec& s, Vec& dsdt, double t) const { sys->rhs(&s.data()[0], &dsdt.data()[0], t); }
};

// J is block-diagonal over the samples of the batch: one state_dim x state_dim block each.
struct Jacobian {
  ContinuousSystem* sys;
  void operator()(const Vec& s, Mat& J, double t, Vec& dfdt) const {
    const int N = sys->state_dim();
    const Eigen::Map<const Eigen::MatrixXd> S(&s.data()[0], N, sys->batch());
    J.resize(s.size(), s.size(), false);
    J.clear();
    Eigen::MatrixXd Jb;
    Eigen::VectorXd db;
    for (int b = 0; b < sys->batch(); ++b) {
      sys->jacobian(S.col(b), t, b, Jb, &db, false);
      const std::size_t o = static_cast<std::size_t>(b) * static_cast<std::size_t>(N);
      for (int i = 0; i < N; ++i) {
        dfdt(o + static_cast<std::size_t>(i)) = db(i);
        for (int j = 0; j < N; ++j) J(o + static_cast<std::size_t>(i), o + static_cast<std::size_t>(j)) = Jb(i, j);
      }
    }
    sys->count_jacobian_evaluation();
  }
};
class OdeintRosenbrock4 final : public AdaptiveStepper {
 public:
  OdeintRosenbrock4(ContinuousSystem& sys, double atol, double rtol, const Eigen::VectorXd& s0)
      : impl_(std::make_unique<Impl>(sys, atol, rtol)) {
    const auto n = static_cast<std::size_t>(s0.size());
    impl_->x.resize(n);
    impl_->x_old.resize(n);
    std::copy(s0.data(), s0.data() + s0.size(), impl_->x.begin());
  }
  bool try_step(double& t, double& dt) override;
  const double* state() const override { return &impl_->x.data()[0]; }
  void dense(double t, Eigen::VectorXd& out) const override;
  void copy_state(Eigen::VectorXd& out) const override;

 private:
  struct Impl {
    ContinuousSystem* sys;
    odeint::rosenbrock4_controller<odeint::rosenbrock4<double, detail::RodasCoefficients>> ctl;
    Vec x, x_old;
    double t_old = 0, t_new = 0;
    Impl(ContinuousSystem& s, double atol, double rtol) : sys(&s), ctl(atol, rtol) {}
  };
  std::unique_ptr<Impl> impl_;
};

bool OdeintRosenbrock4::try_step(double& t, double& dt) {
  Impl& m = *impl_;
  const double t0 = t;
  m.x_old.swap(m.x);
  const auto system = std::make_pair(Rhs{m.sys}, Jacobian{m.sys});
  if (m.ctl.try_step(system, m.x_old, t, m.x, dt) == odeint::fail) {
    m.x_old.swap(m.x);
    return false;
  }
  m.ctl.stepper().prepare_dense_output();
  m.t_old = t0;
  m.t_new = t;
  return true;
}

void OdeintRosenbrock4::dense(double t, Eigen::VectorXd& out) const {
  Impl& m = *impl_;
  Vec v(m.x.size());
  m.ctl.stepper().calc_state(t, v, m.x_old, m.t_old, m.x, m.t_new);
  out.resize(static_cast<Eigen::Index>(v.size()));
  std::copy(v.begin(), v.end(), out.data());
}

void OdeintRosenbrock4::copy_state(Eigen::VectorXd& out) const {
  out.resize(static_cast<Eigen::Index>(impl_->x.size()));
  std::copy(impl_->x.begin(), impl_->x.end(), out.data());
}

}  // namespace

std::unique_ptr<AdaptiveStepper> odeint_rosenbrock4(ContinuousSystem& sys, double atol, double rtol,
                                                    const Eigen::VectorXd& s0) {
  return std::make_unique<OdeintRosenbrock4>(sys, atol, rtol, s0);
}

}  // namespace stackdyn::test
