// The one source of randomness in stackdyn: a seeded std::mt19937_64 with our own
// conversions to doubles, so that a seed gives the same numbers with any standard library.
//
// std::mt19937_64 is fully specified by the C++ standard (its 10000th output for the
// default seed is fixed by [rand.predef]); the std::*_distribution classes are not, which
// is why they are not used here. uniform() needs only integer arithmetic and exact
// floating-point scaling, uniform(a, b) one correctly rounded std::fma; normal() (Marsaglia's
// polar method) adds std::log and std::sqrt: sqrt is correctly rounded by IEEE 754, log is
// not guaranteed to be, so normals are reproducible wherever libm's log agrees (glibc's
// is the same on every x86-64 build).
#pragma once
#include <cmath>
#include <cstdint>
#include <random>

namespace stackdyn {

class Rng {
 public:
  explicit Rng(std::uint64_t seed) : engine_(seed) {}

  /// The next raw 64-bit output of the engine.
  std::uint64_t next_u64() { return engine_(); }

  /// Uniform in [0, 1): the top 53 bits of one engine output times 2^-53 (exact).
  double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }

  /// a + (b - a) * uniform(), in [a, b] (b only by rounding). Written as one std::fma so
  /// that the compiler cannot choose between a fused and an unfused form (GCC contracts
  /// a*b+c into an FMA by default in C++ when the target has one): same bits on every build.
  double uniform(double a, double b) { return std::fma(b - a, uniform(), a); }

  /// Uniform integer in [0, n) without modulo bias (rejection of the top partial range).
  /// n must be positive.
  std::uint64_t below(std::uint64_t n) {
    const std::uint64_t limit = UINT64_MAX - UINT64_MAX % n;  // a multiple of n
    std::uint64_t x = engine_();
    while (x >= limit) x = engine_();
    return x % n;
  }

  /// Standard normal by Marsaglia's polar method. Each accepted pair (u, v) gives two
  /// normals; the second is kept for the next call, so the sequence depends only on the
  /// seed and the number of earlier calls.
  double normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    double u = 0, v = 0, s = 0;
    do {
      u = 2.0 * uniform() - 1.0;
      v = 2.0 * uniform() - 1.0;
      s = std::fma(u, u, v * v);  // explicit FMA: see uniform(a, b)
    } while (s >= 1.0 || s == 0.0);
    const double m = std::sqrt(-2.0 * std::log(s) / s);
    spare_ = v * m;
    has_spare_ = true;
    return u * m;
  }

  double normal(double mean, double stddev) { return std::fma(stddev, normal(), mean); }

  /// The engine itself, for std algorithms that take a URBG (e.g. std::shuffle; note that
  /// std::shuffle's use of the engine is implementation-defined, so prefer below()).
  std::mt19937_64& engine() { return engine_; }

 private:
  std::mt19937_64 engine_;
  double spare_ = 0.0;
  bool has_spare_ = false;
};

}  // namespace stackdyn
