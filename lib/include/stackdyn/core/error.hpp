// Error types. Broken input throws InputError (exit 2); a failure during an otherwise
// valid run throws RunError (exit 1). Expected outcomes (no convergence, ...) are statuses.
#pragma once
#include <stdexcept>
#include <string>

namespace stackdyn {

/// Base of every stackdyn exception; what() is one line meant for the user.
struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Bad usage or bad input: a file, dataset, shape, key or value that is not as expected.
struct InputError : Error {
  using Error::Error;
};

/// A failure during a run whose input was valid (I/O failure, divergence, ...).
struct RunError : Error {
  using Error::Error;
};

}  // namespace stackdyn
