// Config: TOML parsing errors, command-line overrides (set), typed getters and their
// messages, unknown keys, and the effective configuration written back as TOML.
#include "test_util.hpp"

#include <catch2/catch.hpp>

#include <stackdyn/core/config.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>

using stackdyn::Config;
using stackdyn::InputError;
using stackdyn::Range;
using Catch::Matchers::Contains;
using Catch::Matchers::Equals;
using Catch::Matchers::StartsWith;

namespace {

const char* model_text = R"(input_size = 2
dropout = 0.25
name = "demo"

[[layers]]
cell = "gru"
hidden_size = 32

[[layers]]
cell = "lstm"
hidden_size = -3
transition_hidden = [64, 0]
)";

/// The message of the InputError thrown by f (fails the test when none is thrown).

std::string temp_file(const std::string& name, const std::string& text) {
  const auto path = std::filesystem::temp_directory_path() / name;
  std::ofstream(path) << text;
  return path.string();
}

}  // namespace

TEST_CASE("parse errors name the file, the line and the column", "[config]") {
  SECTION("from a string") {
    const std::string msg = stackdyn::test::message_of([] { (void)Config::from_string("a = 1\n\nb = = 2\n", "bad.toml"); });
    CHECK_THAT(msg, StartsWith("bad.toml:3:"));
    CHECK_THAT(msg, Contains("invalid TOML"));
    CHECK(msg.find('\n') == std::string::npos);
  }
  SECTION("from a file") {
    const std::string path = temp_file("stackdyn_test_config_bad.toml", "input_size = 2\n[[layers]]\ncell = gru\n");
    const std::string msg = stackdyn::test::message_of([&] { (void)Config::from_file(path); });
    CHECK_THAT(msg, StartsWith(path + ":3:"));
    std::filesystem::remove(path);
  }
  SECTION("a duplicated key is a parse error at its line") {
    const std::string msg = stackdyn::test::message_of([] { (void)Config::from_string("a = 1\na = 2\n", "dup.toml"); });
    CHECK_THAT(msg, StartsWith("dup.toml:2:"));
  }
  SECTION("a missing file") {
    const std::string msg = stackdyn::test::message_of([] { (void)Config::from_file("/nonexistent/stackdyn/model.toml"); });
    CHECK_THAT(msg, Equals("/nonexistent/stackdyn/model.toml: no such file"));
  }
  SECTION("a good file is read and named by its path") {
    const std::string path = temp_file("stackdyn_test_config_good.toml", model_text);
    const Config cfg = Config::from_file(path);
    CHECK(cfg.name() == path);
    CHECK(cfg.get_int("input_size") == 2);
    std::filesystem::remove(path);
  }
}

TEST_CASE("set() writes TOML values at dotted and indexed keys", "[config]") {
  Config cfg = Config::from_string(model_text, "model.toml");

  SECTION("value types") {
    cfg.set("a", "64");
    cfg.set("b", "0.5");
    cfg.set("c", "true");
    cfg.set("d", "\"gru\"");
    cfg.set("e", "gru");
    cfg.set("f", "[1, 2]");
    cfg.set("g", "{ x = 1 }");
    cfg.set("h", "hello world");
    cfg.set("i", "");
    CHECK(cfg.get_int("a") == 64);
    CHECK(cfg.get_double("b") == 0.5);
    CHECK(cfg.get_bool("c"));
    CHECK(cfg.get_string("d") == "gru");
    CHECK(cfg.get_string("e") == "gru");
    CHECK(cfg.get_int_list("f") == std::vector<long long>{1, 2});
    CHECK(cfg.get_int("g.x") == 1);
    CHECK(cfg.get_string("h") == "hello world");
    CHECK(cfg.get_string("i").empty());
  }
  SECTION("replaces an existing value, whatever its type") {
    cfg.set("input_size", "3");
    cfg.set("dropout", "0");
    cfg.set("name", "[1]");
    CHECK(cfg.get_int("input_size") == 3);
    CHECK(cfg.get_double("dropout") == 0.0);
    CHECK(cfg.get_int_list("name") == std::vector<long long>{1});
  }
  SECTION("creates missing tables") {
    cfg.set("solver.newton.tol", "1e-12");
    CHECK(cfg.get_double("solver.newton.tol") == 1e-12);
    CHECK(cfg.has("solver.newton"));
  }
  SECTION("both spellings of an index reach the same element") {
    cfg.set("layers[1].hidden_size", "64");
    CHECK(cfg.get_int("layers.1.hidden_size") == 64);
    cfg.set("layers.0.hidden_size", "16");
    CHECK(cfg.get_int("layers[0].hidden_size") == 16);
    CHECK(cfg.get_string("layers[0].cell") == "gru");  // the rest of the table is kept
    cfg.set("layers[1].transition_hidden[1]", "8");
    CHECK(cfg.get_int_list("layers[1].transition_hidden") == std::vector<long long>{64, 8});
  }
  SECTION("an array of tables grows by exactly one element") {
    cfg.set("layers[2].cell", "rnn_tanh");
    CHECK(cfg.array_size("layers") == 3);
    CHECK(cfg.get_string("layers[2].cell") == "rnn_tanh");
    CHECK_FALSE(cfg.has("layers[2].hidden_size"));
    CHECK_THAT(stackdyn::test::message_of([&] { cfg.set("layers[4].cell", "gru"); }),
               Equals("model.toml: key 'layers[4].cell': 'layers' has 3 elements; an array can only grow by one, "
                      "to layers[3]"));
    cfg.set("new_list[0].x", "1");  // a missing array starts at element 0
    CHECK(cfg.array_size("new_list") == 1);
  }
  SECTION("errors") {
    CHECK_THAT(stackdyn::test::message_of([&] { cfg.set("input_size.x", "1"); }),
               Equals("model.toml: key 'input_size.x': 'input_size' is an integer, not a table"));
    CHECK_THAT(stackdyn::test::message_of([&] { cfg.set("layers.hidden_size", "1"); }),
               Contains("'layers' is an array, not a table"));
    CHECK_THAT(stackdyn::test::message_of([&] { cfg.set("dropout[0]", "1"); }), Contains("'dropout' is a float, not an array"));
    CHECK_THAT(stackdyn::test::message_of([&] { cfg.set("x", "[1, 2"); }), StartsWith("model.toml: key 'x': cannot read value '[1, 2'"));
    CHECK_THAT(stackdyn::test::message_of([&] { cfg.set("x", "1\ny = 2"); }), Contains("not a single TOML value"));
    CHECK_THAT(stackdyn::test::message_of([&] { cfg.set("a..b", "1"); }), StartsWith("model.toml: malformed key 'a..b'"));
    CHECK_THAT(stackdyn::test::message_of([&] { cfg.set("layers[x].cell", "1"); }), Contains("malformed key"));
    CHECK_THAT(stackdyn::test::message_of([&] { cfg.set("", "1"); }), Contains("malformed key"));
    CHECK_THAT(stackdyn::test::message_of([&] { cfg.set_assignment("no_equals_sign"); }), Contains("expected KEY=VALUE"));
  }
  SECTION("set_assignment splits at the first '='") {
    cfg.set_assignment("name=a=b");
    CHECK(cfg.get_string("name") == "a=b");
  }
}

TEST_CASE("typed getters: values, fallbacks and one-line errors", "[config]") {
  const Config cfg = Config::from_string(model_text, "model.toml");

  CHECK(cfg.canonical_key("layers.1.hidden_size") == "layers[1].hidden_size");
  CHECK(cfg.has("layers[1].cell"));
  CHECK_FALSE(cfg.has("layers[5].cell"));
  CHECK_FALSE(cfg.has("nothing.here"));
  CHECK(cfg.array_size("layers") == 2);
  CHECK(cfg.array_size("absent") == 0);
  CHECK_THAT(stackdyn::test::message_of([&] { (void)cfg.array_size("input_size"); }),
             Equals("model.toml: key 'input_size': expected an array, got 2"));

  SECTION("integers") {
    CHECK(cfg.get_int("layers[0].hidden_size", Range::positive()) == 32);
    CHECK(cfg.get_int("seed", 7) == 7);
    CHECK_THAT(stackdyn::test::message_of([&] { (void)cfg.get_int("layers[1].hidden_size", Range::positive()); }),
               Equals("model.toml: key 'layers[1].hidden_size': expected a positive integer, got -3"));
    CHECK_THAT(stackdyn::test::message_of([&] { (void)cfg.get_int("layers.1.hidden_size", 1, Range::non_negative()); }),
               Equals("model.toml: key 'layers[1].hidden_size': expected a non-negative integer, got -3"));
    CHECK_THAT(stackdyn::test::message_of([&] { (void)cfg.get_int("input_size", Range::half_open(3, 10)); }),
               Equals("model.toml: key 'input_size': expected an integer in [3, 10), got 2"));
    CHECK_THAT(stackdyn::test::message_of([&] { (void)cfg.get_int("dropout"); }),
               Equals("model.toml: key 'dropout': expected an integer, got 0.25"));
    CHECK_THAT(stackdyn::test::message_of([&] { (void)cfg.get_int("layers[0].cell"); }),
               Equals("model.toml: key 'layers[0].cell': expected an integer, got \"gru\""));
    CHECK_THAT(stackdyn::test::message_of([&] { (void)cfg.get_int("seed", Range::non_negative()); }),
               Equals("model.toml: key 'seed': missing required key; expected a non-negative integer"));
  }
  SECTION("doubles accept integers; ranges; non-finite values are refused") {
    CHECK(cfg.get_double("input_size") == 2.0);
    CHECK(cfg.get_double("dropout", Range::half_open(0, 1)) == 0.25);
    CHECK(cfg.get_double("absent", 1.5) == 1.5);
    CHECK_THAT(stackdyn::test::message_of([&] { (void)cfg.get_double("dropout", Range::closed(0.5, 1)); }),
               Equals("model.toml: key 'dropout': expected a number in [0.5, 1], got 0.25"));
    CHECK_THAT(stackdyn::test::message_of([&] { (void)cfg.get_double("dropout", Range::at_least(0.25, true)); }),
               Equals("model.toml: key 'dropout': expected a number > 0.25, got 0.25"));
    const Config nan = Config::from_string("x = nan\ny = inf\n", "n.toml");
    CHECK_THAT(stackdyn::test::message_of([&] { (void)nan.get_double("x"); }), Equals("n.toml: key 'x': expected a number, got nan"));
    CHECK_THAT(stackdyn::test::message_of([&] { (void)nan.get_double("y", 0.0); }), Contains("got inf"));
  }
  SECTION("booleans and strings") {
    const Config c = Config::from_string("flag = true\nnum = 1\ns = 'x'\n", "b.toml");
    CHECK(c.get_bool("flag"));
    CHECK_FALSE(c.get_bool("absent", false));
    CHECK_THAT(stackdyn::test::message_of([&] { (void)c.get_bool("num"); }), Equals("b.toml: key 'num': expected true or false, got 1"));
    CHECK(c.get_string("s") == "x");
    CHECK(c.get_string("absent", "dflt") == "dflt");
    CHECK_THAT(stackdyn::test::message_of([&] { (void)c.get_string("num"); }), Equals("b.toml: key 'num': expected a string, got 1"));
  }
  SECTION("lists: a scalar is a 1-list, elements are named in errors") {
    const Config c = Config::from_string("one = 3\nxs = [1, 2.5]\nmixed = [1, 'a']\ns = 'a'\n", "l.toml");
    CHECK(c.get_int_list("one") == std::vector<long long>{3});
    CHECK(c.get_double_list("one") == std::vector<double>{3.0});
    CHECK(c.get_double_list("xs") == std::vector<double>{1.0, 2.5});
    CHECK(c.get_int_list("absent", std::vector<long long>{4, 5}) == std::vector<long long>{4, 5});
    CHECK_THAT(stackdyn::test::message_of([&] { (void)c.get_int_list("xs"); }), Equals("l.toml: key 'xs[1]': expected an integer, got 2.5"));
    CHECK_THAT(stackdyn::test::message_of([&] { (void)c.get_double_list("mixed"); }),
               Equals("l.toml: key 'mixed[1]': expected a number, got \"a\""));
    CHECK_THAT(stackdyn::test::message_of([&] { (void)c.get_int_list("s"); }), Equals("l.toml: key 's': expected a list of integers, got \"a\""));
    CHECK_THAT(stackdyn::test::message_of([&] { (void)cfg.get_int_list("layers[1].transition_hidden", Range::positive()); }),
               Equals("model.toml: key 'layers[1].transition_hidden[1]': expected a positive integer, got 0"));
  }
  SECTION("stepping through a value is an error, not a missing key") {
    CHECK_THAT(stackdyn::test::message_of([&] { (void)cfg.has("input_size.x"); }), Contains("'input_size' is an integer, not a table"));
    CHECK_THAT(stackdyn::test::message_of([&] { (void)cfg.get_int("layers.hidden_size", 0); }),
               Contains("'layers' is an array, not a table (index it: layers[0].hidden_size)"));
  }
}

TEST_CASE("check_keys refuses keys outside the schema", "[config]") {
  const std::vector<std::string> allowed = {"input_size", "dropout", "name", "layers.*.cell", "layers.*.hidden_size",
                                            "layers.*.transition_hidden"};
  SECTION("an allowed file passes") { Config::from_string(model_text, "model.toml").check_keys(allowed); }
  SECTION("a misspelt key in a layer, with the keys expected at that level") {
    Config cfg = Config::from_string(model_text, "model.toml");
    cfg.set("layers[0].hiden_size", "3");
    CHECK_THAT(stackdyn::test::message_of([&] { cfg.check_keys(allowed); }),
               Equals("model.toml: unknown key 'layers[0].hiden_size' (expected one of: cell, hidden_size, "
                      "transition_hidden)"));
  }
  SECTION("a misspelt key at the top") {
    const Config cfg = Config::from_string("input_sise = 2\n", "m.toml");
    CHECK_THAT(stackdyn::test::message_of([&] { cfg.check_keys(allowed); }),
               Equals("m.toml: unknown key 'input_sise' (expected one of: input_size, dropout, name, layers)"));
  }
  SECTION("a table where a value's parent should be an array of tables") {
    const Config cfg = Config::from_string("[layers]\ncell = 'gru'\n", "m.toml");
    CHECK_THAT(stackdyn::test::message_of([&] { cfg.check_keys(allowed); }),
               Equals("m.toml: key 'layers': expected an array of tables, got { cell = \"gru\" }"));
    const Config cfg2 = Config::from_string("layers = [1]\n", "m.toml");
    CHECK_THAT(stackdyn::test::message_of([&] { cfg2.check_keys(allowed); }), Equals("m.toml: key 'layers[0]': expected a table, got 1"));
  }
  SECTION("an unknown nested table") {
    const Config cfg = Config::from_string("[solver]\ntol = 1\n", "m.toml");
    CHECK_THAT(stackdyn::test::message_of([&] { cfg.check_keys(allowed); }), StartsWith("m.toml: unknown key 'solver'"));
    CHECK_NOTHROW(cfg.check_keys({"solver.tol", "layers[*].cell"}));
  }
}

TEST_CASE("to_toml writes the effective configuration, and reads back equal", "[config]") {
  Config cfg = Config::from_string(model_text, "model.toml");
  cfg.set("layers[1].hidden_size", "16");
  cfg.set("layers[2].cell", "rnn_tanh");
  cfg.set("solver.newton.tol", "0.1");
  cfg.set("x.big", "1e300");
  cfg.set("x.tiny", "5e-324");
  cfg.set("x.neg_zero", "-0.0");
  cfg.set("x.third", std::to_string(1.0 / 3.0));
  cfg.set("x.whole", "3.0");
  cfg.set("x.text", R"("tab\tquote\" backslash\\ newline\n unicode é")");
  cfg.set("x.nested", "[[1, 2], [3.5], []]");
  cfg.set("x.inline", "[{ a = 1 }, 2]");
  cfg.set("x.empty", "{}");
  cfg.set("x.i64", "-9223372036854775808");

  const std::string text = cfg.to_toml();
  const Config back = Config::from_string(text, "back.toml");
  CHECK(back.to_toml() == text);

  CHECK(back.get_int("layers[1].hidden_size") == 16);
  CHECK(back.get_string("layers[2].cell") == "rnn_tanh");
  CHECK(back.array_size("layers") == 3);
  CHECK(back.get_double("solver.newton.tol") == 0.1);
  CHECK(back.get_double("x.big") == 1e300);
  CHECK(back.get_double("x.tiny") == std::numeric_limits<double>::denorm_min());
  CHECK(std::signbit(back.get_double("x.neg_zero")));
  CHECK(back.get_double("x.third") == cfg.get_double("x.third"));
  CHECK(back.get_int("x.i64") == std::numeric_limits<long long>::min());
  CHECK_THAT(stackdyn::test::message_of([&] { (void)back.get_int("x.whole"); }), Contains("got 3.0"));  // stays a float
  CHECK(back.get_string("x.text") == "tab\tquote\" backslash\\ newline\n unicode \xc3\xa9");
  CHECK(back.value_text("x.nested") == std::optional<std::string>("[[1, 2], [3.5], []]"));
  CHECK(back.value_text("x.inline") == std::optional<std::string>("[{ a = 1 }, 2]"));
  CHECK(back.has("x.empty"));
  CHECK(back.value_text("x.empty") == std::optional<std::string>("{}"));
  // Floats are written shortest-exact, for people reading provenance.
  CHECK_THAT(text, Contains("tol = 0.1\n"));
  CHECK_THAT(text, Contains("dropout = 0.25\n"));
}

TEST_CASE("to_toml quotes keys that are not bare", "[config]") {
  const Config cfg = Config::from_string("\"odd key\" = 1\n[\"a.b\"]\nc = 2\n", "q.toml");
  const Config back = Config::from_string(cfg.to_toml(), "back.toml");
  CHECK(back.to_toml() == cfg.to_toml());
  CHECK_THAT(cfg.to_toml(), Contains("\"odd key\" = 1"));
  CHECK_THAT(cfg.to_toml(), Contains("[\"a.b\"]"));
}

TEST_CASE("differences names each differing leaf key with its two values", "[config]") {
  const Config a = Config::from_string("seed = 1\n[train]\nlr = 0.01\nsteps = 10\n"
                                       "[[model.layers]]\ncell = \"gru\"\n[[model.layers]]\ncell = \"lstm\"\n", "a.toml");
  Config b = a;
  CHECK(a.differences(b).empty());
  b.set("train.lr", "0.02");
  b.set("model.layers[1].cell", "gru");
  b.set("data.task", "sine");
  const auto d = a.differences(b);
  REQUIRE(d.size() == 3);
  CHECK(d[0].key == "data.task");
  CHECK(d[0].here == "(absent)");
  CHECK(d[0].there == "\"sine\"");
  CHECK(d[1].key == "model.layers[1].cell");
  CHECK(d[1].here == "\"lstm\"");
  CHECK(d[1].there == "\"gru\"");
  CHECK(d[2].key == "train.lr");
  CHECK(d[2].here == "0.01");
  CHECK(d[2].there == "0.02");
  // symmetric: the other way round swaps the two values
  const auto r = b.differences(a);
  REQUIRE(r.size() == 3);
  CHECK(r[2].here == "0.02");
  CHECK(r[0].there == "(absent)");
  // a third layer in one of them: its keys are differences
  Config c = a;
  c.set("model.layers[2].cell", "gru");
  REQUIRE(a.differences(c).size() == 1);
  CHECK(a.differences(c)[0].key == "model.layers[2].cell");
}
