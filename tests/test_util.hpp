// Test helpers shared by the test files: a scratch directory per test, and the message of
// an expected exception.
#pragma once
#include <catch2/catch.hpp>
#include <stackdyn/core/error.hpp>

#include <filesystem>
#include <string>
#include <unistd.h>

namespace stackdyn::test {

/// A new empty directory under the system's temporary directory, removed at scope exit.
struct ScratchDir {
  std::filesystem::path path;
  explicit ScratchDir(const std::string& name = "tmp") {
    static int counter = 0;
    path = std::filesystem::temp_directory_path() /
           ("stackdyn_test_" + name + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  std::string operator/(const std::string& f) const { return (path / f).string(); }
};

/// The message of the E that `f` throws; a test failure if it throws nothing.
template <class E = InputError, class F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  FAIL("no exception of the expected type was thrown");
  return {};
}

}  // namespace stackdyn::test
