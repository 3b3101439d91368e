// Input signals: each part's formula, the zero-order hold of a file in both views, and
// seeded randomness that is a function of the seed and the time only.
#include <catch2/catch.hpp>
#include <stackdyn/core/error.hpp>
#include <stackdyn/dynamics/inputs.hpp>

#include <cmath>
#include <numbers>

using namespace stackdyn;

TEST_CASE("constant, sinusoids and pulses add up", "[inputs]") {
  InputSpec s;
  s.constant = Eigen::VectorXd::Constant(2, 0.5);
  s.sinusoids = {{0, 2.0, 0.25, 0.1}, {0, 1.0, 1.0, 0.0}};
  s.pulses = {{1, 1.0, 2.0, 3.0}, {1, 4.0, std::numeric_limits<double>::infinity(), -1.0}};
  const InputSignal x(s, 2, 3);
  Eigen::MatrixXd X(2, 3), dX(2, 3);
  const double t = 1.7;
  x.at(t, X);
  const double w = 2 * std::numbers::pi;
  CHECK(X(0, 2) == Approx(0.5 + 2 * std::sin(w * 0.25 * t + 0.1) + std::sin(w * t)));
  CHECK(X(1, 0) == Approx(3.5));
  x.at(3.0, X);  // the pulse ends at 3 (half-open)
  CHECK(X(1, 1) == Approx(0.5));
  x.at(10.0, X);  // the step from 4 on
  CHECK(X(1, 1) == Approx(-0.5));
  x.derivative(t, dX);
  CHECK(dX(0, 1) == Approx(2 * w * 0.25 * std::cos(w * 0.25 * t + 0.1) + w * std::cos(w * t)));
  CHECK(dX(1, 1) == 0.0);
  CHECK(x.next_break(0.0) == 1.0);
  CHECK(x.next_break(1.0) == 3.0);
  CHECK(x.next_break(3.5) == 4.0);
  CHECK(std::isinf(x.next_break(4.0)));
}

TEST_CASE("a file is held over each interval; the discrete view takes one sample per step", "[inputs]") {
  InputSpec s;
  auto f = std::make_shared<InputSamples>();
  f->batch = 2;
  f->steps = 3;
  f->width = 1;
  f->dt = 0.1;
  f->data = {1, 2, 3, 10, 20, 30};  // (batch, time, 1)
  s.samples = f;
  const InputSignal x(s, 1, 2);
  Eigen::MatrixXd X(1, 2);
  x.at(0.0, X);
  CHECK(X(0, 1) == 10);
  x.at(0.1, X);  // exactly on a boundary: the new sample (0.1 is not exact in binary)
  CHECK(X(0, 0) == 2);
  x.at(0.3 - 1e-12, X);
  CHECK(X(0, 1) == 30);
  x.at_step(1, X);
  CHECK(X(0, 0) == 2);
  CHECK(x.next_break(0.1) == Approx(0.2));
  CHECK(x.horizon() == Approx(0.3));
  // held over a step that ends on a jump: the value at the step's start
  x.at(0.2, 0.1, X);
  CHECK(X(0, 1) == 20);
}

TEST_CASE("noise and flip-flop pulses depend on the seed and the time only", "[inputs]") {
  InputSpec s;
  s.noise = {0.5, 0.25, 7};
  s.flipflop = {3, 1.0, 0.3, 1.0, 9};
  const InputSignal a(s, 3, 4), b(s, 3, 4);
  Eigen::MatrixXd A(3, 4), B(3, 4), C(3, 4);
  a.at(2.3, A);
  b.at(0.1, B);  // another interval first: the value must not depend on the history
  b.at(2.3, B);
  CHECK(A == B);
  a.at(2.3 + 0.01, C);  // the same noise interval [2.25, 2.5)
  CHECK(A == C);
  a.at(2.6, C);
  CHECK(A != C);
  s.noise.seed = 8;
  const InputSignal c(s, 3, 4);
  c.at(2.3, C);
  CHECK(A != C);

  // Statistics: noise of std 0.5 over many intervals, flip-flop pulses of +-1 with p = 0.3.
  InputSpec n;
  n.noise = {0.5, 1.0, 3};
  const InputSignal noise(n, 1, 100);
  InputSpec ff;
  ff.flipflop = {2, 1.0, 0.3, 1.0, 4};
  const InputSignal flip(ff, 2, 100);
  Eigen::MatrixXd N(1, 100), F(2, 100);
  double sum = 0, sq = 0, pulses = 0, positive = 0;
  const int K = 200;
  for (int k = 0; k < K; ++k) {
    noise.at_step(k, N);
    sum += N.sum();
    sq += N.squaredNorm();
    flip.at_step(k, F);
    pulses += (F.array() != 0).count();
    positive += (F.array() > 0).count();
    CHECK((F.array().abs() == 0 || F.array().abs() == 1).all());
  }
  const double count = 100.0 * K;
  CHECK(std::abs(sum / count) < 0.02);
  CHECK(std::sqrt(sq / count) == Approx(0.5).epsilon(0.02));
  CHECK(pulses / (2 * count) == Approx(0.3).epsilon(0.03));
  CHECK(positive / pulses == Approx(0.5).epsilon(0.05));
}

TEST_CASE("inputs that do not fit the model are refused", "[inputs]") {
  InputSpec s;
  s.sinusoids = {{2, 1, 1, 0}};
  CHECK_THROWS_AS(InputSignal(s, 2, 1), InputError);
  InputSpec c;
  c.constant = Eigen::VectorXd::Zero(3);
  CHECK_THROWS_AS(InputSignal(c, 2, 1), InputError);
  InputSpec f;
  f.flipflop.bits = 3;
  CHECK_THROWS_AS(InputSignal(f, 2, 1), InputError);
}
