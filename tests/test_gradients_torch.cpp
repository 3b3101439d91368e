// `stackdyn gradients` against torch autograd on the committed reference cases
// (scripts/make_torch_gradients.py): every parameter's gradient, the loss, and the
// full-state adjoint dloss_dstates, to 1e-9 relative (norm of the difference over the norm);
// four cases with truncated BPTT (--truncate 2) against torch with detached windows.
#include "cli_helpers.hpp"

#include <catch2/catch.hpp>
#include <stackdyn/core/h5.hpp>

#include <filesystem>

using namespace stackdyn;

namespace {

// Every dataset under `g`, as paths relative to the root ("layers/0/weight_ih").
void datasets(const h5::Group& g, const std::string& prefix, std::vector<std::string>& out) {
  for (const auto& c : g.children()) {
    const std::string name = prefix.empty() ? c : prefix + "/" + c;
    bool is_group = true;
    try {
      (void)g.group(c);
    } catch (const InputError&) {
      is_group = false;
    }
    if (is_group)
      datasets(g.group(c), name, out);
    else
      out.push_back(name);
  }
}

double rel_norm(const h5::Array& got, const h5::Array& want) {
  double d = 0, w = 0;
  for (std::size_t i = 0; i < want.data.size(); ++i) {
    d += (got.data[i] - want.data[i]) * (got.data[i] - want.data[i]);
    w += want.data[i] * want.data[i];
  }
  return w == 0 ? std::sqrt(d) : std::sqrt(d / w);
}

}  // namespace

TEST_CASE("stackdyn gradients equals torch autograd on the reference cases", "[gradients][torch]") {
  const std::filesystem::path dir = std::filesystem::path(STACKDYN_TEST_DATA) / "torch_gradients";
  test::ScratchDir tmp("grads");
  int cases = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    const std::string file = e.path().filename().string();
    if (file.size() < 9 || file.substr(file.size() - 9) != ".model.h5") continue;
    const std::string base = (dir / file.substr(0, file.size() - 9)).string();
    INFO(base);
    const std::string out = tmp / (file + ".grads.h5");
    // truncated cases: the torch module ran window by window, the state detached
    const h5::File data = h5::File::open(base + ".data.h5");
    const std::string truncate = data.has_attr("truncate") ? std::to_string(data.attr_int("truncate")) : "0";
    const auto r = test::run_cli({"gradients", base + ".model.h5", base + ".data.h5", "-o", out, "--truncate", truncate});
    INFO(r.err);
    REQUIRE(r.code == 0);
    const h5::File want = h5::File::open(base + ".grads.h5"), got = h5::File::open(out);
    std::vector<std::string> names;
    datasets(want, "", names);
    for (const auto& n : names) {
      INFO(n);
      REQUIRE(got.has(n));
      const h5::Array a = got.read(n), b = want.read(n);
      REQUIRE(a.shape == b.shape);
      CHECK(rel_norm(a, b) < 1e-9);
    }
    // and no parameter gradient that torch does not have
    std::vector<std::string> mine;
    datasets(got, "", mine);
    for (const auto& n : mine)
      if (n.rfind("layers/", 0) == 0 || n.rfind("readout/", 0) == 0) CHECK(want.has(n));
    ++cases;
  }
  CHECK(cases == 36);
}
