// libFuzzer target: the config loader (fuzz_loaders.hpp).
#include "fuzz_loaders.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  stackdyn::fuzz::load_config(data, size);
  return 0;
}
