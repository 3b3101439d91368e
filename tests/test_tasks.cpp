// Built-in tasks: each data set checked against the task's definition, recomputed from its
// inputs, and reproducible from its seed.
#include <catch2/catch.hpp>
#include <stackdyn/core/error.hpp>
#include <stackdyn/training/tasks.hpp>

#include <cmath>

using namespace stackdyn;

TEST_CASE("tasks follow their definitions", "[tasks]") {
  TaskOptions o;
  o.samples = 20;
  o.steps = 30;
  o.seed = 5;
  SECTION("flipflop: the target is the sign of each channel's last pulse") {
    o.name = "flipflop";
    const SequenceData d = make_task(o);
    REQUIRE(d.X.rows() == 3);
    for (int b = 0; b < d.N; ++b)
      for (int k = 0; k < 3; ++k) {
        double last = 0;
        for (int t = 0; t < d.T; ++t) {
          const double x = d.X(k, t * d.N + b);
          if (t == 0) CHECK(std::abs(x) == 1.0);
          if (x != 0) last = x;
          CHECK(d.y.values(k, t * d.N + b) == last);
        }
      }
    // same seed, same data; another seed, other data
    CHECK(make_task(o).X == d.X);
    o.seed = 6;
    CHECK(make_task(o).X != d.X);
  }
  SECTION("sine: the target is the next input") {
    o.name = "sine";
    const SequenceData d = make_task(o);
    for (int b = 0; b < d.N; ++b)
      for (int t = 0; t + 1 < d.T; ++t) CHECK(d.y.values(0, t * d.N + b) == Approx(d.X(0, (t + 1) * d.N + b)).margin(1e-12));
  }
  SECTION("multiscale: the input is the sum of the two targets, each of its own period") {
    o.name = "multiscale";
    const SequenceData d = make_task(o);
    REQUIRE(d.y.values.rows() == 2);
    for (int b = 0; b < d.N; ++b)
      for (int t = 0; t < d.T; ++t) {
        const Eigen::Index c = t * d.N + b;
        CHECK(d.X(0, c) == Approx(d.y.values(0, c) + d.y.values(1, c)).margin(1e-14));
        if (t + 5 < d.T) CHECK(d.y.values(1, c + 5 * d.N) == Approx(d.y.values(1, c)).margin(1e-12));
      }
  }
  SECTION("adding: the target is the sum of the two marked values") {
    o.name = "adding";
    const SequenceData d = make_task(o);
    CHECK_FALSE(d.y.every_step);
    for (int b = 0; b < d.N; ++b) {
      double sum = 0;
      int marks = 0;
      for (int t = 0; t < d.T; ++t)
        if (d.X(1, t * d.N + b) == 1.0) {
          sum += d.X(0, t * d.N + b);
          ++marks;
        }
      CHECK(marks == 2);
      CHECK(d.y.values(0, b) == Approx(sum));
    }
  }
  SECTION("copy: the symbols are the targets after the cue") {
    o.name = "copy";
    const SequenceData d = make_task(o);
    CHECK(d.T == 2 * o.length + o.delay + 1);
    for (int b = 0; b < d.N; ++b)
      for (int t = 0; t < o.length; ++t) {
        Eigen::Index s = 0;
        d.X.col(t * d.N + b).maxCoeff(&s);
        CHECK(d.y.classes[static_cast<std::size_t>((o.length + o.delay + 1 + t) * d.N + b)] == s);
        CHECK(d.y.classes[static_cast<std::size_t>(t * d.N + b)] == o.symbols);
      }
  }
  SECTION("an unknown task is refused") {
    o.name = "nosuch";
    CHECK_THROWS_AS(make_task(o), InputError);
  }
}
