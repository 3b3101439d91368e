// The coefficients of the 4th-order Rosenbrock method with embedded 3rd-order error estimate
// and 3rd-order dense output that Boost.Odeint's rosenbrock4 implements (Hairer & Wanner's
// RODAS in Shampine's form, gamma = 0.25), shared by odeint's own stepper and by the block
// stepper (block_rosenbrock4.hpp), so that the two are the same method.
//
// One change from odeint's default_rosenbrock_coefficients: d4, which weighs df/dt in stage
// 4, is -0.0362 as in rodas.f (Hairer & Wanner's code); Boost 1.74 has +0.0362. The wrong
// sign only shows on non-autonomous systems: with a sinusoidal input the step count
// exploded (10^5 steps where dopri5 needed 365) and 1e-6 errors were left.
#pragma once

namespace stackdyn::detail {

struct RodasCoefficients {
  using value_type = double;
  using order_type = unsigned short;
  static const order_type stepper_order = 4;
  static const order_type error_order = 3;

  const double gamma = 0.25;
  const double d1 = 0.25, d2 = -0.1043, d3 = 0.1035, d4 = -0.3620000000000023e-01;
  const double c2 = 0.386, c3 = 0.21, c4 = 0.63;
  const double c21 = -0.5668800000000000e+01;
  const double a21 = 0.1544000000000000e+01;
  const double c31 = -0.2430093356833875e+01, c32 = -0.2063599157091915e+00;
  const double a31 = 0.9466785280815826e+00, a32 = 0.2557011698983284e+00;
  const double c41 = -0.1073529058151375e+00, c42 = -0.9594562251023355e+01, c43 = -0.2047028614809616e+02;
  const double a41 = 0.3314825187068521e+01, a42 = 0.2896124015972201e+01, a43 = 0.9986419139977817e+00;
  const double c51 = 0.7496443313967647e+01, c52 = -0.1024680431464352e+02, c53 = -0.3399990352819905e+02,
               c54 = 0.1170890893206160e+02;
  const double a51 = 0.1221224509226641e+01, a52 = 0.6019134481288629e+01, a53 = 0.1253708332932087e+02,
               a54 = -0.6878860361058950e+00;
  const double c61 = 0.8083246795921522e+01, c62 = -0.7981132988064893e+01, c63 = -0.3152159432874371e+02,
               c64 = 0.1631930543123136e+02, c65 = -0.6058818238834054e+01;
  const double d21 = 0.1012623508344586e+02, d22 = -0.7487995877610167e+01, d23 = -0.3480091861555747e+02,
               d24 = -0.7992771707568823e+01, d25 = 0.1025137723295662e+01;
  const double d31 = -0.6762803392801253e+00, d32 = 0.6087714651680015e+01, d33 = 0.1643084320892478e+02,
               d34 = 0.2476722511418386e+02, d35 = -0.6594389125716872e+01;
};

}  // namespace stackdyn::detail
