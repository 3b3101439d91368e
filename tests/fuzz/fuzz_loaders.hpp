// The loaders the fuzz targets drive (tests/fuzz/fuzz_*.cpp, built with clang's libFuzzer)
// and the corpus replay drives in every build (tests/test_fuzz_corpus.cpp): a model file, an
// input file, a TOML configuration and a sweep file, each from raw bytes. Every input must
// end in a result or a stackdyn::Error (the one-line error of the program); anything else
// escapes: a crash for the fuzzer, a failure for the replay.
#pragma once
#include <stackdyn/core/config.hpp>
#include <stackdyn/core/error.hpp>
#include <stackdyn/dynamics/simulation.hpp>
#include <stackdyn/model/init.hpp>
#include <stackdyn/model/model_io.hpp>
#include <stackdyn/model/stack.hpp>

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

namespace stackdyn::cli {
// simulations/sweep.cpp: a sweep file's plan and its first runs' setup, without running.
std::size_t check_sweep_file(const std::string& path);
}  // namespace stackdyn::cli

namespace stackdyn::fuzz {

/// The bytes as a file of this process (HDF5 and the sweep read files, not memory).
inline std::string as_file(const std::uint8_t* data, std::size_t size, const std::string& name) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("stackdyn_fuzz_" + std::to_string(::getpid()) + "_" + name);
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data),
                                                                 static_cast<std::streamsize>(size));
  return path.string();
}

/// A small model of input width 3 (as the committed input files), for the input-file and
/// configuration targets.
inline const Model& small_model() {
  static const Model m = [] {
    return model_from_config(Config::from_string("input_size = 3\nseed = 1\n[[layers]]\ncell = \"gru\"\nhidden_size = 5\n"
                                                 "[[layers]]\ncell = \"lstm\"\nhidden_size = 4\n",
                                                 "fuzz model"));
  }();
  return m;
}

/// A model file: read, checked, and one step of its stack taken (batch 1, zero input).
inline void load_model_file(const std::uint8_t* data, std::size_t size) {
  const std::string path = as_file(data, size, "model.h5");
  try {
    const Model m = read_model(path);
    (void)m.parameter_count();
    if (m.bidirectional) return;  // not a dynamical system: nothing to step
    const Stack st(m);
    auto ws = st.make_workspace();
    Eigen::MatrixXd S = Eigen::MatrixXd::Zero(m.state_dim(), 1), S1(m.state_dim(), 1);
    st.step(Eigen::MatrixXd::Zero(m.input_size, 1), S, S1, ws);
  } catch (const Error&) {
  }
}

/// An input file (`inputs`, `dt`, `s0`) as `simulate` reads it, for the small model.
inline void load_input_file(const std::uint8_t* data, std::size_t size) {
  const std::string path = as_file(data, size, "input.h5");
  try {
    const Config cfg = Config::from_string("mode = \"discrete\"\nsteps = 3\ninput_file = \"" + path + "\"\n", "fuzz");
    simulation_config(cfg, small_model());
  } catch (const Error&) {
  }
}

/// A TOML configuration: parsed, written back and parsed again, then read as a model
/// description (init) and as a simulation configuration.
inline void load_config(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::optional<Config> cfg;
  try {
    cfg.emplace(Config::from_string(text, "fuzz.toml"));
  } catch (const Error&) {
    return;
  }
  // What a configuration writes (provenance, --set) must read back.
  Config::from_string(cfg->to_toml(), "fuzz.toml written back");
  try {
    model_from_config(*cfg);
  } catch (const Error&) {
  }
  try {
    simulation_config(*cfg, small_model());
  } catch (const Error&) {
  }
}

/// A sweep file: its plan and the setup of its first runs.
inline void load_sweep_file(const std::uint8_t* data, std::size_t size) {
  const std::string path = as_file(data, size, "sweep.toml");
  try {
    cli::check_sweep_file(path);
  } catch (const Error&) {
  }
}

}  // namespace stackdyn::fuzz
