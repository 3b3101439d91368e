// The fuzz corpus (tests/fuzz/corpus/<target>/: seeds from the committed test files, inputs
// the fuzzer found interesting, and any input that once crashed) replayed through the same
// loaders as the libFuzzer targets, in every build: each must end in a result or a
// stackdyn::Error.
#include "fuzz/fuzz_loaders.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

namespace {

namespace fs = std::filesystem;

// Relative paths in configurations and sweep files (data/default_model.toml) are relative to
// the source tree, where scripts/fuzz.sh runs the targets.
struct InSourceDir {
  fs::path before = fs::current_path();
  InSourceDir() { fs::current_path(STACKDYN_SOURCE_DIR); }
  ~InSourceDir() { fs::current_path(before); }
};

template <class Load>
void replay(const std::string& target, Load load) {
  const fs::path dir = fs::path(STACKDYN_SOURCE_DIR) / "tests/fuzz/corpus" / target;
  REQUIRE(fs::is_directory(dir));
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file()) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  CHECK(files.size() >= 3);
  InSourceDir here;
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    const std::vector<char> bytes{std::istreambuf_iterator<char>(in), {}};
    INFO(f.string());
    CHECK_NOTHROW(load(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
  }
}

}  // namespace

TEST_CASE("fuzz corpus: model files", "[fuzz-corpus]") { replay("model_file", stackdyn::fuzz::load_model_file); }
TEST_CASE("fuzz corpus: input files", "[fuzz-corpus]") { replay("input_file", stackdyn::fuzz::load_input_file); }
TEST_CASE("fuzz corpus: configurations", "[fuzz-corpus]") { replay("config", stackdyn::fuzz::load_config); }
TEST_CASE("fuzz corpus: sweep files", "[fuzz-corpus]") { replay("sweep_file", stackdyn::fuzz::load_sweep_file); }
