// The HDF5 wrapper: round trips of every kind of data, the on-disk C order, appending,
// atomic output, and the one-line errors a user sees for bad files.
#include <stackdyn/core/error.hpp>
#include <stackdyn/core/h5.hpp>

#include "test_util.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <limits>
#include <stdexcept>
#include <thread>
#include <unistd.h>

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using namespace stackdyn;

namespace {

// A fresh directory per test case, removed afterwards.

// The message of the E that `f` throws (a test failure if it throws nothing or another type).

}  // namespace

TEST_CASE("h5: matrices are C order on disk and read back exactly", "[h5]") {
  test::ScratchDir tmp("h5");
  const std::string path = tmp / "m.h5";
  {
    auto f = h5::File::create(path);
    const double raw[] = {1, 2, 3, 4, 5, 6};  // [[1,2,3],[4,5,6]] as numpy writes it
    f.write("raw", {2, 3}, raw);
    Eigen::MatrixXd m(2, 3);
    m << 1, 2, 3, 4, 5, 6;
    f.write("eigen", m);
    Eigen::VectorXd v(4);
    v << 0.1, -2.5e-300, std::numeric_limits<double>::max(), -0.0;
    f.write("vec", v);
  }
  auto f = h5::File::open(path);
  Eigen::MatrixXd m = f.read_matrix("raw");
  REQUIRE(m.rows() == 2);
  REQUIRE(m.cols() == 3);
  CHECK(m(0, 2) == 3);
  CHECK(m(1, 0) == 4);
  CHECK(f.read_matrix("eigen") == m);
  // An Eigen matrix lands on disk in the same C order as the raw buffer.
  CHECK(f.read("eigen").data == std::vector<double>{1, 2, 3, 4, 5, 6});
  CHECK(f.shape("eigen") == h5::Shape{2, 3});
  Eigen::VectorXd v = f.read_vector("vec");
  REQUIRE(v.size() == 4);
  CHECK(v(1) == -2.5e-300);
  CHECK(v(2) == std::numeric_limits<double>::max());
  CHECK(std::signbit(v(3)));
}

TEST_CASE("h5: arrays, integers and complex numbers round trip", "[h5]") {
  test::ScratchDir tmp("h5");
  const std::string path = tmp / "a.h5";
  std::vector<double> a3(2 * 3 * 4);
  for (std::size_t k = 0; k < a3.size(); ++k) a3[k] = 0.5 * static_cast<double>(k) - 3;
  const std::vector<long long> ints{-1, 0, 1LL << 40, 7};
  const std::vector<std::complex<double>> z{{1, -1}, {0.25, 3}, {-2, 0}};
  {
    auto f = h5::File::create(path);
    f.write("deep/inside/a3", {2, 3, 4}, a3.data(), {{1, 3, 4}, 4});  // chunked, compressed
    f.write("scalar", {}, a3.data() + 5);
    f.write("empty", {0, 3}, nullptr);
    f.write_int("ints", {2, 2}, ints.data());
    f.write_complex("z", {3}, z.data());
  }
  auto f = h5::File::open(path);
  CHECK(f.has("deep/inside/a3"));
  CHECK(f.has("/deep/inside"));
  CHECK_FALSE(f.has("deep/outside/a3"));
  CHECK_FALSE(f.has("scalar/x"));
  auto a = f.read("deep/inside/a3");
  CHECK(a.shape == h5::Shape{2, 3, 4});
  CHECK(a.data == a3);
  CHECK(f.group("deep").read("inside/a3").data == a3);
  CHECK(f.group("deep/inside").path() == "/deep/inside");
  auto s = f.read("scalar");
  CHECK(s.shape.empty());
  CHECK(s.data == std::vector<double>{a3[5]});
  CHECK(f.read_matrix("empty").rows() == 0);
  CHECK(f.read_matrix("empty").cols() == 3);
  CHECK(f.read_int("ints") == ints);
  CHECK(f.shape("ints") == h5::Shape{2, 2});
  auto ints_as_double = f.read("ints");
  CHECK(ints_as_double.data[2] == static_cast<double>(1LL << 40));
  auto zc = f.read_complex("z");
  CHECK(zc.shape == h5::Shape{3});
  CHECK(zc.data == z);
  CHECK(h5::shape_string({4, 5}) == "(4, 5)");
  CHECK(h5::shape_string({4}) == "(4,)");
  CHECK(h5::shape_string({}) == "()");
  CHECK(f.children() == std::vector<std::string>{"deep", "empty", "ints", "scalar", "z"});
}

TEST_CASE("h5: attributes round trip and accept what h5py writes", "[h5]") {
  test::ScratchDir tmp("h5");
  const std::string path = tmp / "attrs.h5";
  {
    auto f = h5::File::create(path);
    f.set_attr("text", std::string("stackdyn \xce\xbb model"));  // UTF-8
    f.set_attr("empty_text", std::string());
    f.set_attr("n", 42LL);
    f.set_attr("x", 0.1);
    f.set_attr("list", std::vector<long long>{3, -4, 5});
    f.set_attr("none", std::vector<long long>{});
    f.set_attr("n", -7LL);  // replaces
    auto g = f.create_group("g");
    g.set_attr("whole", 3.0);
    g.set_attr("half", 2.5);
  }
  auto f = h5::File::open(path);
  CHECK(f.attr_string("text") == "stackdyn \xce\xbb model");
  CHECK(f.attr_string("empty_text").empty());
  CHECK(f.attr_int("n") == -7);
  CHECK(f.attr_double("n") == -7.0);
  CHECK(f.attr_double("x") == 0.1);
  CHECK(f.attr_int_array("list") == std::vector<long long>{3, -4, 5});
  CHECK(f.attr_int_array("none").empty());
  CHECK(f.attr_int_array("n") == std::vector<long long>{-7});  // a scalar is a list of one
  CHECK(f.has_attr("x"));
  CHECK_FALSE(f.has_attr("y"));
  auto g = f.group("g");
  CHECK(g.attr_int("whole") == 3);
  CHECK_THAT(test::message_of<InputError>([&] { g.attr_int("half"); }), Contains("attrs.h5") && Contains("'half'") &&
                                                                      Contains("expected an integer"));
  CHECK_THAT(test::message_of<InputError>([&] { f.attr_string("n"); }), Contains("'n'") && Contains("expected a string"));
  CHECK_THAT(test::message_of<InputError>([&] { f.attr_int("list"); }), Contains("'list'") && Contains("expected one integer"));
  CHECK_THAT(test::message_of<InputError>([&] { g.attr_int("missing"); }),
             Contains("attrs.h5") && Contains("'missing'") && Contains("'/g'") && Contains("not found"));
}

TEST_CASE("h5: dimension labels", "[h5]") {
  test::ScratchDir tmp("h5");
  auto f = h5::File::create(tmp / "labels.h5");
  const double d[6] = {};
  f.write("traj", {1, 2, 3}, d);
  CHECK(f.dim_labels("traj") == std::vector<std::string>{"", "", ""});
  f.set_dim_labels("traj", {"batch", "time", "state"});
  CHECK(f.dim_labels("traj") == std::vector<std::string>{"batch", "time", "state"});
  CHECK_THROWS_AS(f.set_dim_labels("traj", {"batch"}), RunError);
}

TEST_CASE("h5: the Appender grows a dataset slab by slab", "[h5]") {
  test::ScratchDir tmp("h5");
  const std::string path = tmp / "grow.h5";
  // (batch 2, time, state 3) grown along time in slabs of 1, 4 and 2 steps.
  auto value = [](std::size_t b, std::size_t t, std::size_t s) { return 100.0 * b + 10.0 * t + s; };
  auto slab = [&](std::size_t t0, std::size_t count) {
    std::vector<double> v;
    for (std::size_t b = 0; b < 2; ++b)
      for (std::size_t t = t0; t < t0 + count; ++t)
        for (std::size_t s = 0; s < 3; ++s) v.push_back(value(b, t, s));
    return v;
  };
  {
    auto f = h5::File::create(path);
    h5::Appender app(f, "traj", {2, 0, 3}, 1, {2, 2, 3});
    CHECK(app.length() == 0);
    std::size_t t = 0;
    for (std::size_t count : {1, 4, 2}) {
      app.append(slab(t, count).data(), count);
      t += count;
      CHECK(app.length() == t);
    }
    // Along axis 0, with the default chunk.
    h5::Appender rows(f, "rows", {0, 2}, 0);
    const double r[] = {1, 2, 3, 4, 5, 6};
    rows.append(r, 1);
    rows.append(r + 2, 2);
    f.flush();
  }
  {
    auto f = h5::File::open(path);
    auto a = f.read("traj");
    CHECK(a.shape == h5::Shape{2, 7, 3});
    for (std::size_t b = 0; b < 2; ++b)
      for (std::size_t t = 0; t < 7; ++t)
        for (std::size_t s = 0; s < 3; ++s) CHECK(a.data[(b * 7 + t) * 3 + s] == value(b, t, s));
    CHECK(f.read("rows").data == std::vector<double>{1, 2, 3, 4, 5, 6});
  }
  // A resumed run continues the dataset.
  auto f = h5::File::open_rw(path);
  h5::Appender again(f, "traj", {2, 0, 3}, 1);
  CHECK(again.length() == 7);
  again.append(slab(7, 1).data(), 1);
  CHECK(f.read("traj").shape == h5::Shape{2, 8, 3});
  CHECK(f.read("traj").data.back() == value(1, 7, 2));
  CHECK_THAT(test::message_of<InputError>([&] { h5::Appender(f, "traj", {3, 0, 3}, 1); }),
             Contains("grow.h5") && Contains("'/traj'") && Contains("cannot be continued"));
}

TEST_CASE("h5: AtomicOutput publishes only committed files", "[h5]") {
  test::ScratchDir tmp("h5");
  const std::string path = tmp / "out.h5";
  SECTION("an exception leaves no file") {
    try {
      h5::AtomicOutput out(path);
      const double d[2] = {1, 2};
      out.file().write("x", {2}, d);
      CHECK(fs::exists(path + ".partial"));
      throw std::runtime_error("the run failed");
    } catch (const std::runtime_error&) {
    }
    CHECK_FALSE(fs::exists(path));
    CHECK_FALSE(fs::exists(path + ".partial"));
  }
  SECTION("an old file survives a failed run") {
    { std::ofstream(path) << "old"; }
    { h5::AtomicOutput out(path); }
    std::ifstream in(path);
    std::string s;
    in >> s;
    CHECK(s == "old");
  }
  SECTION("commit renames, and groups held open do not matter") {
    h5::AtomicOutput out(path);
    auto g = out.file().create_group("results");
    h5::Appender app(g, "series", {0}, 0);
    const double d[3] = {1, 2, 3};
    app.append(d, 3);
    CHECK_FALSE(fs::exists(path));
    out.commit();
    CHECK(fs::exists(path));
    CHECK_FALSE(fs::exists(path + ".partial"));
    CHECK(h5::File::open(path).read("results/series").data == std::vector<double>{1, 2, 3});
  }
  SECTION("a missing directory is a RunError naming it") {
    CHECK_THAT(test::message_of<RunError>([&] { h5::AtomicOutput out(tmp / "nowhere/out.h5"); }),
               Contains("nowhere") && Contains("does not exist"));
  }
}

TEST_CASE("h5: bad input gives one line naming the file and the object", "[h5]") {
  test::ScratchDir tmp("h5");
  const std::string good = tmp / "in.h5";
  {
    auto f = h5::File::create(good);
    const double d[20] = {};
    f.write("inputs", {4, 5}, d);
    f.write_int("count", {1}, std::vector<long long>{1}.data());
    f.create_group("grp");
  }
  auto f = h5::File::open(good);
  const std::string missing = tmp / "x.h5";
  CHECK_THAT(test::message_of<InputError>([&] { h5::File::open(missing); }),
             Contains("cannot open '" + missing + "': no such file"));
  const std::string text = tmp / "notes.txt";
  { std::ofstream(text) << "just some notes\n"; }
  CHECK_THAT(test::message_of<InputError>([&] { h5::File::open(text); }), Contains("'" + text + "' is not an HDF5 file"));
  CHECK_THAT(test::message_of<InputError>([&] { h5::File::open(tmp.path.string()); }), Contains("is a directory"));
  CHECK_THAT(test::message_of<InputError>([&] { f.read("missing"); }), Contains(good + ": dataset '/missing' not found"));
  CHECK_THAT(test::message_of<InputError>([&] { f.group("grp").read_vector("w"); }),
             Contains(good + ": dataset '/grp/w' not found"));
  CHECK_THAT(test::message_of<InputError>([&] { f.read("grp"); }), Contains("'/grp' is not a dataset"));
  CHECK_THAT(test::message_of<InputError>([&] { f.group("inputs"); }), Contains("'/inputs' is not a group"));
  CHECK_THAT(test::message_of<InputError>([&] { f.group("nope"); }), Contains(good + ": group '/nope' not found"));
  CHECK_THAT(test::message_of<InputError>([&] { f.read("inputs", 3); }),
             Contains(good + ": dataset '/inputs': expected rank 3, got shape (4, 5)"));
  CHECK_THAT(test::message_of<InputError>([&] { f.read_vector("inputs"); }),
             Contains(good + ": dataset '/inputs': expected rank 1, got shape (4, 5)"));
  CHECK_THAT(test::message_of<InputError>([&] { f.read_matrix("count"); }),
             Contains(good + ": dataset '/count': expected rank 2, got shape (1,)"));
  CHECK_THAT(test::message_of<InputError>([&] { f.read_int("inputs"); }), Contains("expected integers, got float"));
  if (::geteuid() != 0) {  // root reads anything
    const std::string locked = tmp / "locked.h5";
    fs::copy_file(good, locked);
    fs::permissions(locked, fs::perms::none);
    CHECK_THAT(test::message_of<InputError>([&] { h5::File::open(locked); }), Contains("permission denied"));
  }
}

TEST_CASE("h5: writing over an existing dataset is refused", "[h5]") {
  test::ScratchDir tmp("h5");
  auto f = h5::File::create(tmp / "w.h5");
  const double d[2] = {1, 2};
  f.write("x", {2}, d);
  CHECK_THAT(test::message_of<RunError>([&] { f.write("x", {2}, d); }), Contains("'/x'") && Contains("exists"));
}

TEST_CASE("h5: the wrapper is safe to use from several threads", "[h5][threads]") {
  test::ScratchDir tmp("h5");
  std::vector<std::thread> threads;
  std::vector<int> ok(4, 0);
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      const std::string path = tmp / ("t" + std::to_string(t) + ".h5");
      h5::AtomicOutput out(path);
      h5::Appender app(out.file(), "x", {0, 2}, 0);
      for (int k = 0; k < 50; ++k) {
        const double row[2] = {double(t), double(k)};
        app.append(row, 1);
      }
      out.commit();
      ok[static_cast<std::size_t>(t)] = h5::File::open(path).read("x").data.size() == 100;
    });
  for (auto& th : threads) th.join();
  CHECK(ok == std::vector<int>{1, 1, 1, 1});
}
