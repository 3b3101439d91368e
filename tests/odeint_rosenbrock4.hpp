// odeint's rosenbrock4 on the continuous-time view, behind a small interface without ublas
// types. Private to the library: its .cpp is compiled as C++17, because Boost 1.74's ublas
// storage calls std::allocator<T>::construct, which C++20 removed (see CMakeLists.txt).
#pragma once
#include <stackdyn/dynamics/continuous_system.hpp>

#include <memory>

namespace stackdyn::detail {

class Rosenbrock4Stepper {
 public:
  Rosenbrock4Stepper(ContinuousSystem& sys, double atol, double rtol, const Eigen::VectorXd& s0);
  ~Rosenbrock4Stepper();
  /// One attempt from the current state at t with step dt (odeint's try_step: on success t
  /// and dt advance and the state moves on; on failure only dt shrinks).
  bool try_step(double& t, double& dt);
  /// The current state and, between the last two accepted times, the dense output.
  const double* state() const;
  void dense(double t, Eigen::VectorXd& out) const;
  void copy_state(Eigen::VectorXd& out) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace stackdyn::detail
