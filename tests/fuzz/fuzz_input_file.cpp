// libFuzzer target: the input_file loader (fuzz_loaders.hpp).
#include "fuzz_loaders.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  stackdyn::fuzz::load_input_file(data, size);
  return 0;
}
