// Elementwise nonlinearities on blocks of a batch, the inner loop of every step.
//
// Eigen vectorises exp for double (so the logistic function is fast as an expression) but
// not tanh: std::tanh one number at a time cost three times the matrix-vector products of a
// 32-unit step. tanh_into calls glibc's vector math library (libmvec, AVX2: four doubles a
// call, within 4 ulp of the correctly rounded value) when the build found it, and
// std::tanh otherwise. Every element goes through the same routine whatever its position
// (a tail shorter than four is padded), so a value never depends on the batch layout.
#pragma once
#include <stackdyn/model/cell_trace.hpp>

namespace stackdyn {

/// out = tanh(in), elementwise; out may be in itself. Blocks may have any column stride.
void tanh_into(const ConstMatRef& in, MatRef out);
/// In place.
inline void tanh_inplace(MatRef x) { tanh_into(x, x); }

}  // namespace stackdyn
