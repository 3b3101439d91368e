// `stackdyn train`: the same training as torch (SGD with momentum and Adam, weight decay,
// clip_grad_norm_, shuffle = false) on committed references made by
// scripts/make_torch_training.py; an interrupted (SIGTERM) and resumed run equals an
// uninterrupted one bitwise; the optimisers and clipping against hand-computed cases; bad input.
#include "cli_helpers.hpp"

#include <catch2/catch.hpp>
#include <stackdyn/core/h5.hpp>
#include <stackdyn/core/provenance.hpp>
#include <stackdyn/model/model_io.hpp>
#include <stackdyn/model/stack.hpp>
#include <stackdyn/training/optimizer.hpp>
#include <stackdyn/training/parameters.hpp>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iterator>

using namespace stackdyn;

namespace {

const std::string ref_dir = std::string(STACKDYN_TEST_DATA) + "/torch_training";

double rel(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) { return (a - b).norm() / std::max(b.norm(), 1e-300); }

void write_text(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

// A small configuration on the flip-flop task, in `dir`.
std::string flipflop_config(const test::ScratchDir& dir, const std::string& extra = "") {
  const std::string path = dir / "ff.toml";
  write_text(path, "[model]\ninput_size = 3\nreadout = 3\n[[model.layers]]\ncell = \"gru\"\nhidden_size = 6\n"
                   "[[model.layers]]\ncell = \"lstm\"\nhidden_size = 5\n"
                   "[data]\ntask = \"flipflop\"\nsamples = 24\nsteps = 12\nvalid_samples = 4\n"
                   "[train]\noptimizer = \"adam\"\nlr = 0.01\nbatch_size = 8\nsteps = 10\ncheckpoint_every = 3\n"
                   "dropout = 0.2\nclip_grad_norm = 1.0\nseed = 3\n" + extra);
  return path;
}

}  // namespace

TEST_CASE("stackdyn train equals torch's SGD and Adam with clipping", "[train][torch]") {
  for (const std::string opt : {"sgd", "adam"}) {
    INFO(opt);
    test::ScratchDir tmp("train_" + opt);
    const std::string run = tmp / "run.h5";
    const auto r = test::run_cli({"train", ref_dir + "/" + opt + ".toml", "-o", run});
    INFO(r.err);
    REQUIRE(r.code == 0);
    const h5::File want = h5::File::open(ref_dir + "/" + opt + ".expected.h5"), got = h5::File::open(run);
    const Eigen::VectorXd wl = want.read_vector("history/loss"), gl = got.read_vector("history/loss");
    REQUIRE(gl.size() == wl.size());
    for (Eigen::Index k = 0; k < wl.size(); ++k) CHECK(std::abs(gl(k) - wl(k)) <= 1e-9 * std::abs(wl(k)));
    Model final_model = read_model(got.group("final_model"));
    for (const ParamBlock& b : parameter_blocks(final_model)) {
      INFO(b.name);
      const h5::Array w = want.read("final/" + b.name);
      const Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> W(
          w.data.data(), b.rows, b.cols);
      CHECK(rel(b.map(), W) < 1e-9);
    }
    // the run file's layout
    CHECK(got.has("checkpoints/0/layers/0/weight_ih"));
    CHECK(got.has("checkpoints/5/states"));
    CHECK(got.has("checkpoints/12/optimizer/m1/readout/weight"));
    CHECK(got.shape("history/grad_norm_layers") == h5::Shape{12, 2, 2});
    CHECK(got.shape("checkpoints/10/states") == h5::Shape{4, 6, 8});
  }
}

TEST_CASE("a key of another task is refused like an unknown key", "[train]") {
  test::ScratchDir tmp("task_keys");
  const std::string cfg = tmp / "m.toml", out = tmp / "run.h5";
  write_text(cfg, "[model]\ninput_size = 1\nreadout = 2\n[[model.layers]]\ncell = \"gru\"\nhidden_size = 4\n"
                  "[data]\ntask = \"multiscale\"\nbits = 3\nsamples = 8\n[train]\nsteps = 2\n");
  const auto r = test::run_cli({"train", cfg, "-o", out});
  test::expect_clean_failure(r, out, {"data.bits", "does not apply to task multiscale", "period_slow"});
  // the task's own keys pass
  write_text(cfg, "[model]\ninput_size = 1\nreadout = 2\n[[model.layers]]\ncell = \"gru\"\nhidden_size = 4\n"
                  "[data]\ntask = \"multiscale\"\nperiod_slow = 20\nsamples = 8\n[train]\nsteps = 2\n");
  CHECK(test::run_cli({"train", cfg, "-o", out}).code == 0);
}

TEST_CASE("a resume refuses a data file that changed since the run began", "[train]") {
  test::ScratchDir tmp("resume_data");
  const std::string data = tmp / "d.h5", cfg = tmp / "d.toml", out = tmp / "run.h5";
  auto write_data = [&](double scale) {
    std::filesystem::remove(data);
    h5::File f = h5::File::create(data);
    std::vector<double> x(4 * 6 * 1), y(4 * 6 * 1);
    for (std::size_t i = 0; i < x.size(); ++i) {
      x[i] = std::sin(0.7 * static_cast<double>(i));
      y[i] = scale * std::cos(0.3 * static_cast<double>(i));
    }
    f.write("inputs", {4, 6, 1}, x.data());
    f.write("targets", {4, 6, 1}, y.data());
  };
  write_data(1.0);
  write_text(cfg, "[model]\ninput_size = 1\nreadout = 1\n[[model.layers]]\ncell = \"gru\"\nhidden_size = 4\n"
                  "[data]\nfile = \"d.h5\"\n[train]\nsteps = 6\nbatch_size = 2\ncheckpoint_every = 2\n");
  REQUIRE(test::run_cli({"train", cfg, "-o", out, "--interrupt-at", "3"}).code == 128 + SIGTERM);
  CHECK(h5::File::open(out + ".partial").attr_string("data_hash") == file_hash(data));
  write_data(10.0);  // the targets multiplied by 10
  const auto res = test::run_cli({"train", cfg, "--resume", out});
  CHECK(res.code == 2);
  CHECK(res.err.find(data + " has changed since the run began") != std::string::npos);
  CHECK(std::count(res.err.begin(), res.err.end(), '\n') == 1);
  write_data(1.0);  // the same bytes again: the resume goes on
  CHECK(test::run_cli({"train", cfg, "--resume", out}).code == 0);
}

TEST_CASE("a run stopped by SIGTERM and resumed equals an uninterrupted one bitwise", "[train]") {
  test::ScratchDir tmp("resume");
  const std::string cfg = flipflop_config(tmp);
  const std::string a = tmp / "a.h5", b = tmp / "b.h5";
  REQUIRE(test::run_cli({"train", cfg, "-o", a}).code == 0);
  const auto stop = test::run_cli({"train", cfg, "-o", b, "--interrupt-at", "5"});
  CHECK(stop.code == 128 + SIGTERM);
  CHECK(stop.err.find("at step 5") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(b));
  REQUIRE(std::filesystem::exists(b + ".partial"));
  {
    const h5::File part = h5::File::open(b + ".partial");
    CHECK(part.attr_int("last_checkpoint") == 5);
    CHECK(part.shape("history/loss") == h5::Shape{5});
  }
  // a command given the unfinished run says how to read a checkpoint or resume it
  {
    const auto fp = test::run_cli({"fixed-points", b + ".partial", "-o", tmp / "fp.h5"});
    CHECK(fp.code == 2);
    CHECK(fp.err.find(b + ".partial is an unfinished training run") != std::string::npos);
    CHECK(fp.err.find("checkpoints as " + b + ".partial:/checkpoints/5 ") != std::string::npos);
    CHECK(fp.err.find("--resume " + b + "`") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(tmp / "fp.h5"));
    CHECK(test::run_cli({"fixed-points", b + ".partial:/checkpoints/5", "-o", tmp / "fp.h5", "--n-init", "4"}).code == 0);
  }
  const auto res = test::run_cli({"train", cfg, "--resume", b});
  INFO(res.err);
  REQUIRE(res.code == 0);
  const h5::File fa = h5::File::open(a), fb = h5::File::open(b);
  Model ma = read_model(fa.group("final_model")), mb = read_model(fb.group("final_model"));
  const auto pa = parameter_blocks(ma), pb = parameter_blocks(mb);
  for (std::size_t i = 0; i < pa.size(); ++i) CHECK(pa[i].map() == pb[i].map());
  CHECK(fa.read_vector("history/loss") == fb.read_vector("history/loss"));
  CHECK(fa.read("history/valid_loss").data == fb.read("history/valid_loss").data);
  CHECK(fa.read("checkpoints/9/states").data == fb.read("checkpoints/9/states").data);
}

TEST_CASE("fixed_points_every: checkpoints hold the fixed points of their model", "[train][fixed_points]") {
  test::ScratchDir tmp("train_fp");
  const std::string cfg = flipflop_config(tmp, "fixed_points_every = 3\nfixed_points_starts = 16\n");
  const std::string out = tmp / "run.h5";
  const auto r = test::run_cli({"train", cfg, "-o", out});
  INFO(r.err);
  REQUIRE(r.code == 0);
  const h5::File f = h5::File::open(out);
  for (const long long step : {0LL, 3LL, 6LL, 9LL}) {
    const std::string g = "checkpoints/" + std::to_string(step);
    INFO(g);
    REQUIRE(f.has(g + "/fixed_point_search/fixed_points/states"));
    // q recorded against q recomputed here with the checkpoint's own model: 1/2 |F(s) - s|^2
    const Model m = read_model(f.group(g));
    const Stack stack(m);
    const MatrixXd S = f.read_matrix(g + "/fixed_point_search/fixed_points/states");
    const VectorXd q = f.read_vector(g + "/fixed_point_search/fixed_points/q");
    REQUIRE(S.rows() >= 1);
    for (Eigen::Index k = 0; k < S.rows(); ++k) {
      const VectorXd s = S.row(k).transpose();
      const double qk = 0.5 * (stack.linearize(VectorXd::Zero(3), s).s_next - s).squaredNorm();
      CHECK(qk == Approx(q(k)).epsilon(1e-6).margin(1e-20));
    }
  }
  CHECK_FALSE(f.has("checkpoints/10/fixed_point_search"));  // 10 is not a multiple of 3
  // not a multiple of checkpoint_every: the one-line error
  const std::string bad = flipflop_config(tmp, "fixed_points_every = 2\n"), out2 = tmp / "bad.h5";
  test::expect_clean_failure(test::run_cli({"train", bad, "-o", out2}), out2, {"train.fixed_points_every", "3"});
}

TEST_CASE("optimisers and clipping follow torch's formulas on a hand-computed case", "[train]") {
  Model m;
  m.input_size = 1;
  LayerSpec s;
  s.cell = CellType::RnnTanh;
  s.hidden_size = 1;
  s.bias = false;
  s.fwd.w_ih = Eigen::MatrixXd::Constant(1, 1, 1.0);
  s.fwd.w_hh = Eigen::MatrixXd::Constant(1, 1, 2.0);
  m.layers.push_back(s);
  Model g = zeros_like(m);
  g.layers[0].fwd.w_ih(0, 0) = 3.0;
  g.layers[0].fwd.w_hh(0, 0) = 4.0;
  CHECK(gradient_norm(g) == Approx(5.0));
  Model c = g;
  CHECK(clip_gradient(c, 1.0) == Approx(5.0));
  CHECK(c.layers[0].fwd.w_hh(0, 0) == Approx(4.0 / (5.0 + 1e-6)));
  c = g;
  clip_gradient(c, 10.0);
  CHECK(c.layers[0].fwd.w_hh(0, 0) == 4.0);
  // SGD, momentum 0.5, weight decay 0.1, lr 0.1: d = 4 + 0.2 = 4.2; p = 2 - 0.42; then
  // d2 = 4 + 0.1 * 1.58 = 4.158, buf = 0.5 * 4.2 + 4.158 = 6.258, p = 1.58 - 0.6258.
  OptimizerOptions o;
  o.momentum = 0.5;
  o.weight_decay = 0.1;
  Model p = m;
  auto st = make_optimizer_state(p, o);
  optimizer_step(p, g, 0.1, o, st);
  CHECK(p.layers[0].fwd.w_hh(0, 0) == Approx(1.58).epsilon(1e-14));
  optimizer_step(p, g, 0.1, o, st);
  CHECK(p.layers[0].fwd.w_hh(0, 0) == Approx(1.58 - 0.6258).epsilon(1e-14));
  // Adam's first step moves every parameter by lr * sign(g) (up to eps).
  OptimizerOptions a;
  a.kind = OptimizerKind::Adam;
  Model q = m;
  auto sa = make_optimizer_state(q, a);
  optimizer_step(q, g, 0.01, a, sa);
  CHECK(q.layers[0].fwd.w_hh(0, 0) == Approx(2.0 - 0.01).epsilon(1e-9));
  CHECK(q.layers[0].fwd.w_ih(0, 0) == Approx(1.0 - 0.01).epsilon(1e-9));
  // learning-rate schedules
  LrOptions lr;
  lr.lr = 1.0;
  lr.schedule = LrSchedule::Step;
  lr.step_size = 3;
  lr.gamma = 0.5;
  CHECK(learning_rate(lr, 2) == 1.0);
  CHECK(learning_rate(lr, 3) == 0.5);
  lr.schedule = LrSchedule::Cosine;
  lr.steps = 10;
  CHECK(learning_rate(lr, 5) == Approx(0.5));
  CHECK(learning_rate(lr, 10) == Approx(0.0).margin(1e-15));
}

TEST_CASE("stackdyn train refuses bad input with one line", "[train][errors]") {
  test::ScratchDir tmp("train_bad");
  const std::string out = tmp / "run.h5";
  auto bad = [&](const std::string& extra_or_set, const std::vector<std::string>& names, bool is_set = true) {
    const std::string cfg = flipflop_config(tmp, is_set ? "" : extra_or_set);
    std::vector<std::string> args{"train", cfg, "-o", out};
    if (is_set) {
      args.push_back("--set");
      args.push_back(extra_or_set);
    }
    const auto r = test::run_cli(args);
    test::expect_clean_failure(r, out, names);
  };
  bad("data.task=nosuchtask", {"nosuchtask", "flipflop"});
  bad("train.lr=-1", {"train.lr"});
  bad("train.batch_size=0", {"train.batch_size"});
  bad("train.batch_size=1000", {"train.batch_size", "24"});
  bad("train.dropout=1.5", {"train.dropout"});
  bad("train.optimiser=\"sgd\"", {"optimiser"});
  bad("model.readout=2", {"3 outputs"});
  bad("train.loss=\"cross_entropy\"", {"train.loss"});
  // a data file whose targets do not fit the readout
  {
    const std::string data = tmp / "d.h5";
    h5::File f = h5::File::create(data);
    std::vector<double> x(2 * 5 * 3, 0.1), y(2 * 5 * 2, 0.0);
    f.write("inputs", {2, 5, 3}, x.data());
    f.write("targets", {2, 5, 2}, y.data());
    f.close();
    const std::string cfg = tmp / "file.toml";
    write_text(cfg, "[model]\ninput_size = 3\nreadout = 3\n[[model.layers]]\ncell = \"gru\"\nhidden_size = 4\n"
                    "[data]\nfile = \"d.h5\"\n[train]\nbatch_size = 2\nsteps = 2\n");
    test::expect_clean_failure(test::run_cli({"train", cfg, "-o", out}), out, {"targets", "(2, 5, 3)"});
  }
  // a resume from a different configuration
  {
    const std::string cfg = flipflop_config(tmp);
    REQUIRE(test::run_cli({"train", cfg, "-o", out, "--interrupt-at", "2"}).code == 128 + SIGTERM);
    const auto r = test::run_cli({"train", cfg, "--resume", out, "--set", "train.lr=0.02", "--set", "data.seed=7"});
    CHECK(r.code == 2);
    CHECK(r.err.find("different configuration") != std::string::npos);
    // the message names each differing key with its two values (data.seed is absent from the run's file)
    CHECK(r.err.find("data.seed is (absent) in the run, 7 now; train.lr is 0.01 in the run, 0.02 now") !=
          std::string::npos);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    std::filesystem::remove(out + ".partial");
  }
  // a resume with another model file
  {
    const std::string model = tmp / "m.h5";
    std::filesystem::copy_file(ref_dir + "/model.h5", model);
    std::filesystem::copy_file(ref_dir + "/data.h5", tmp / "data.h5");
    const std::string cfg = tmp / "sgd.toml";
    std::filesystem::copy_file(ref_dir + "/sgd.toml", cfg);
    REQUIRE(test::run_cli({"train", cfg, "-o", out, "--interrupt-at", "2", "--set", "model.file=\"" + model + "\""}).code == 128 + SIGTERM);
    Model m = read_model(model);
    m.layers[0].fwd.w_hh(0, 0) += 0.5;
    std::filesystem::remove(model);
    write_model(m, model, Provenance{});
    const auto r = test::run_cli({"train", cfg, "--resume", out, "--set", "model.file=\"" + model + "\""});
    CHECK(r.code == 2);
    CHECK(r.err.find("different model file") != std::string::npos);
    std::filesystem::remove(out + ".partial");
  }
  // a loss that becomes non-finite: stops with the step and the gradient, exit 1
  {
    const std::string cfg = flipflop_config(tmp);
    const auto r = test::run_cli({"train", cfg, "-o", out, "--set", "train.lr=1e300", "--set", "train.optimizer=\"sgd\"",
                                  "--set", "train.clip_grad_norm=0"});
    INFO(r.err);
    CHECK(r.code == 1);
    CHECK(r.err.find("diverged at step") != std::string::npos);
    CHECK(r.err.find("first non-finite gradient in") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(out));
    std::filesystem::remove(out + ".partial");
  }
}

TEST_CASE("stackdyn gradients refuses targets that do not fit", "[gradients][errors]") {
  test::ScratchDir tmp("grad_bad");
  const std::string base = std::string(STACKDYN_TEST_DATA) + "/torch_training/";
  const std::string out = tmp / "g.h5";
  test::expect_clean_failure(test::run_cli({"gradients", base + "model.h5", base + "data.h5", "-o", out, "--loss", "cross_entropy"}),
                             out, {"targets", "cross_entropy"});
  const std::string data = tmp / "d.h5";
  h5::File f = h5::File::create(data);
  std::vector<double> x(2 * 5 * 2, 0.1), y(2 * 3, 0.0);
  f.write("inputs", {2, 5, 2}, x.data());
  f.write("targets", {2, 3}, y.data());
  f.close();
  test::expect_clean_failure(test::run_cli({"gradients", base + "model.h5", data, "-o", out}), out, {"targets", "(2, 2)"});
}

TEST_CASE("a readout round-trips through the model file and forward applies it", "[train][readout]") {
  test::ScratchDir tmp("readout");
  const std::string base = std::string(STACKDYN_TEST_DATA) + "/torch_training/";
  Model m = read_model(base + "model.h5");
  REQUIRE(m.has_readout());
  CHECK(m.prediction_size() == 2);
  const std::string copy = tmp / "m.h5";
  write_model(m, copy, Provenance{});
  const Model back = read_model(copy);
  CHECK(back.readout_weight == m.readout_weight);
  CHECK(back.readout_bias == m.readout_bias);
  const auto info = test::run_cli({"info", copy});
  CHECK(info.out.find("readout: linear, 2 outputs") != std::string::npos);
  const std::string out = tmp / "fwd.h5";
  REQUIRE(test::run_cli({"forward", copy, base + "data.h5", "-o", out}).code == 0);
  const h5::File f = h5::File::open(out);
  const h5::Array o = f.read("outputs"), p = f.read("predictions");
  REQUIRE(p.shape == h5::Shape{10, 6, 2});
  // predictions = weight outputs + bias, per (sample, step)
  double worst = 0;
  for (std::size_t r = 0; r < 60; ++r) {
    const Eigen::Map<const Eigen::VectorXd> y(o.data.data() + r * 4, 4);
    const Eigen::VectorXd want = m.readout_weight * y + m.readout_bias;
    for (int k = 0; k < 2; ++k) worst = std::max(worst, std::abs(p.data[r * 2 + static_cast<std::size_t>(k)] - want(k)));
  }
  CHECK(worst < 1e-14);
}

TEST_CASE("a run file names its final model wherever a model is read", "[train][cli][model]") {
  test::ScratchDir tmp("run_as_model");
  const std::string run = tmp / "run.h5";
  REQUIRE(test::run_cli({"train", ref_dir + "/sgd.toml", "-o", run}).code == 0);
  const std::string model = tmp / "final.h5";
  {
    const h5::File f = h5::File::open(run);
    write_model(read_model(f.group("final_model")), model, Provenance{});
  }
  // gradients of the run file, of its final_model group and of the copied model agree bitwise
  std::vector<std::string> outs;
  for (const std::string& spec : {run, run + ":/final_model", model}) {
    INFO(spec);
    outs.push_back(tmp / ("g" + std::to_string(outs.size()) + ".h5"));
    const auto r = test::run_cli({"gradients", spec, ref_dir + "/data.h5", "-o", outs.back()});
    INFO(r.err);
    REQUIRE(r.code == 0);
  }
  const h5::File g0 = h5::File::open(outs[0]), g1 = h5::File::open(outs[1]), g2 = h5::File::open(outs[2]);
  CHECK(g0.read("loss").data == g2.read("loss").data);
  CHECK(g1.read("loss").data == g2.read("loss").data);
  CHECK(g0.read("layers/0/weight_hh").data == g2.read("layers/0/weight_hh").data);
  // training continues from a run file named as model.file
  const std::string again = tmp / "again.h5";
  const auto t = test::run_cli({"train", ref_dir + "/sgd.toml", "-o", again, "--set", "model.file=\"" + run + "\""});
  INFO(t.err);
  CHECK(t.code == 0);
  // and the output may not be one of its inputs
  const auto same = test::run_cli({"train", ref_dir + "/sgd.toml", "-o", run, "--set", "model.file=\"" + run + "\""});
  CHECK(same.code == 2);
  CHECK(same.err.find("same file") != std::string::npos);
}

// --- data loss (issue 19) --------------------------------------------------------------------

namespace {
std::string bytes_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
}  // namespace

TEST_CASE("an interrupted run's .partial is never replaced by another command's output", "[train][safety]") {
  test::ScratchDir tmp("partial_kept");
  const std::string cfg = flipflop_config(tmp);
  const std::string run = tmp / "run.h5", partial = run + ".partial";
  REQUIRE(test::run_cli({"train", cfg, "-o", run, "--interrupt-at", "5"}).code == 128 + SIGTERM);
  const std::string before = bytes_of(partial);
  const std::string model_toml = tmp / "m.toml";
  write_text(model_toml, "input_size = 2\n[[layers]]\ncell = \"gru\"\nhidden_size = 3\n");
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"init", model_toml, "-o", run}, std::vector<std::string>{"demo", "-o", run}}) {
    INFO(args[0]);
    const auto r = test::run_cli(args);
    INFO(r.err);
    CHECK(r.code == 2);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK_THAT(r.err, Catch::Matchers::Contains(partial) && Catch::Matchers::Contains("interrupted training run") &&
                          Catch::Matchers::Contains("--resume " + run) && Catch::Matchers::Contains("remove it"));
    CHECK(bytes_of(partial) == before);
    CHECK_FALSE(std::filesystem::exists(run));
  }
  // the run is still there to resume
  const auto res = test::run_cli({"train", cfg, "--resume", run});
  INFO(res.err);
  CHECK(res.code == 0);
  // a stale .partial of another kind of output is replaced
  const std::string other = tmp / "model.h5";
  write_text(other + ".partial", "half a model file");
  CHECK(test::run_cli({"init", model_toml, "-o", other}).code == 0);
  CHECK_FALSE(std::filesystem::exists(other + ".partial"));
  CHECK_NOTHROW(read_model(other));
}

TEST_CASE("train does not replace a complete run without --force", "[train][safety]") {
  test::ScratchDir tmp("complete_kept");
  const std::string cfg = flipflop_config(tmp);
  const std::string run = tmp / "run.h5";
  REQUIRE(test::run_cli({"train", cfg, "-o", run}).code == 0);
  const std::string before = bytes_of(run);
  const auto r = test::run_cli({"train", cfg, "-o", run, "--set", "train.seed=4"});
  INFO(r.err);
  CHECK(r.code == 2);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  CHECK_THAT(r.err, Catch::Matchers::Contains(run + " holds a complete training run (10 steps trained)") &&
                        Catch::Matchers::Contains("--force"));
  CHECK(bytes_of(run) == before);
  CHECK_FALSE(std::filesystem::exists(run + ".partial"));
  const auto f = test::run_cli({"train", cfg, "-o", run, "--set", "train.seed=4", "--force"});
  INFO(f.err);
  CHECK(f.code == 0);
  CHECK(bytes_of(run) != before);
  // another kind of file at -o is replaced as before
  const std::string other = tmp / "other.h5";
  write_text(other, "not a run");
  CHECK(test::run_cli({"train", cfg, "-o", other}).code == 0);
}

TEST_CASE("parameters made non-finite by an update stop the run, which stays resumable", "[train][safety]") {
  test::ScratchDir tmp("nonfinite_params");
  // Input feature 0 is always 0: its weights' gradient is exactly 0, and Adam with eps = 0
  // divides 0 by 0 in the first update.
  const std::string data = tmp / "d.h5";
  {
    h5::File f = h5::File::create(data);
    std::vector<double> x(4 * 5 * 2, 0.0), y(4 * 5 * 1);
    for (std::size_t i = 0; i < 4 * 5; ++i) {
      x[2 * i + 1] = std::sin(0.7 * static_cast<double>(i));
      y[i] = std::cos(0.3 * static_cast<double>(i));
    }
    f.write("inputs", {4, 5, 2}, x.data());
    f.write("targets", {4, 5, 1}, y.data());
    f.close();
  }
  const std::string cfg = tmp / "eps0.toml";
  write_text(cfg, "[model]\ninput_size = 2\nreadout = 1\n[[model.layers]]\ncell = \"gru\"\nhidden_size = 3\n"
                  "[data]\nfile = \"d.h5\"\n[train]\noptimizer = \"adam\"\neps = 0\nbatch_size = 2\nsteps = 6\n"
                  "checkpoint_every = 2\n");
  const std::string run = tmp / "run.h5", partial = run + ".partial";
  const auto r = test::run_cli({"train", cfg, "-o", run});
  INFO(r.err);
  CHECK(r.code == 1);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  CHECK_THAT(r.err, Catch::Matchers::Contains("diverged at step 0") && Catch::Matchers::Contains("non-finite") &&
                        Catch::Matchers::Contains("layers/0/weight_ih") &&
                        Catch::Matchers::Contains("the last good parameters are checkpoint 0 of " + partial));
  CHECK_FALSE(std::filesystem::exists(run));
  {
    const h5::File f = h5::File::open(partial);
    CHECK(f.attr_int("last_checkpoint") == 0);
    CHECK(f.shape("history/loss") == h5::Shape{0});
    CHECK_NOTHROW(read_model(f.group("checkpoints/0")));
  }
  // the file resumes from checkpoint 0 (and diverges there again: exit 1, not a refusal)
  const auto res = test::run_cli({"train", cfg, "--resume", run});
  INFO(res.err);
  CHECK(res.code == 1);
  CHECK_THAT(res.err, Catch::Matchers::Contains("diverged at step 0"));
}

TEST_CASE("a diverged run names the checkpoint before the divergence as the last good one", "[train][safety]") {
  test::ScratchDir tmp("diverged_ckpt");
  const std::string cfg = flipflop_config(tmp, "");
  const std::string run = tmp / "run.h5", partial = run + ".partial";
  // SGD with a huge rate: the loss or the parameters become non-finite after a few steps
  const auto r = test::run_cli({"train", cfg, "-o", run, "--set", "train.lr=1e300", "--set", "train.optimizer=\"sgd\"",
                                "--set", "train.clip_grad_norm=0"});
  INFO(r.err);
  REQUIRE(r.code == 1);
  const auto at = r.err.find("diverged at step ");
  REQUIRE(at != std::string::npos);
  const long long k = std::stoll(r.err.substr(at + 17));
  const h5::File f = h5::File::open(partial);
  // checkpoint_every = 3: the file ends at the last checkpoint at or before step k, with the
  // history up to it
  const long long last = f.attr_int("last_checkpoint");
  CHECK(last == k / 3 * 3);
  CHECK(static_cast<long long>(f.shape("history/loss").at(0)) == last);
  // Non-finite parameters after update k: checkpoint `last` gave a finite loss. A non-finite
  // loss at step k: a checkpoint at step k holds the parameters that gave it, so the one before.
  const bool params = r.err.find("the update made the parameters non-finite") != std::string::npos;
  const long long good = params || last < k ? last : last - 3;
  INFO("step " << k << ", last checkpoint " << last);
  REQUIRE(good >= 0);
  CHECK_THAT(r.err, Catch::Matchers::Contains("the last good parameters are checkpoint " + std::to_string(good) + " of " + partial));
  CHECK(f.has("checkpoints/" + std::to_string(good)));
  if (good < last) CHECK(std::isfinite(f.read_vector("history/loss")(good)));
}
