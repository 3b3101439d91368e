// Test reference: odeint's own rosenbrock4 (ublas states, a dense LU of the whole system) on
// the continuous-time view, plugged into integrate() through IntegratorOptions::stepper. The
// library's rosenbrock4 (block_rosenbrock4.hpp) is the same method with block-triangular
// solves; the tests check the two step for step. Its .cpp is compiled as C++17, because
// Boost 1.74's ublas storage calls std::allocator<T>::construct, which C++20 removed.
#pragma once
#include <stackdyn/dynamics/integrate.hpp>

namespace stackdyn::test {

/// An IntegratorOptions::stepper: odeint's rosenbrock4_controller with the analytic Jacobian.
std::unique_ptr<AdaptiveStepper> odeint_rosenbrock4(ContinuousSystem& sys, double atol, double rtol,
                                                    const Eigen::VectorXd& s0);

}  // namespace stackdyn::test
