// Built-in tasks: each data set checked against the task's definition, recomputed from its
// inputs, and reproducible from its seed.
#include <catch2/catch.hpp>
#include <stackdyn/core/error.hpp>
#include <stackdyn/core/h5.hpp>
#include <stackdyn/training/tasks.hpp>

#include <algorithm>
#include <cmath>

using namespace stackdyn;

TEST_CASE("tasks follow their definitions", "[tasks]") {
  TaskOptions o;
  o.samples = 20;
  o.steps = 30;
  o.seed = 5;
  SECTION("flipflop: the target is the sign of each channel's last pulse") {
    o.name = "flipflop";
    const SequenceData d = make_task(o);
    REQUIRE(d.X.rows() == 3);
    for (int b = 0; b < d.N; ++b)
      for (int k = 0; k < 3; ++k) {
        double last = 0;
        for (int t = 0; t < d.T; ++t) {
          const double x = d.X(k, t * d.N + b);
          if (t == 0) CHECK(std::abs(x) == 1.0);
          if (x != 0) last = x;
          CHECK(d.y.values(k, t * d.N + b) == last);
        }
      }
    // same seed, same data; another seed, other data
    CHECK(make_task(o).X == d.X);
    o.seed = 6;
    CHECK(make_task(o).X != d.X);
  }
  SECTION("sine: the target is the next input") {
    o.name = "sine";
    const SequenceData d = make_task(o);
    for (int b = 0; b < d.N; ++b)
      for (int t = 0; t + 1 < d.T; ++t) CHECK(d.y.values(0, t * d.N + b) == Approx(d.X(0, (t + 1) * d.N + b)).margin(1e-12));
  }
  SECTION("multiscale: the input is the sum of the two targets, each of its own period") {
    o.name = "multiscale";
    const SequenceData d = make_task(o);
    REQUIRE(d.y.values.rows() == 2);
    for (int b = 0; b < d.N; ++b)
      for (int t = 0; t < d.T; ++t) {
        const Eigen::Index c = t * d.N + b;
        CHECK(d.X(0, c) == Approx(d.y.values(0, c) + d.y.values(1, c)).margin(1e-14));
        if (t + 5 < d.T) CHECK(d.y.values(1, c + 5 * d.N) == Approx(d.y.values(1, c)).margin(1e-12));
      }
  }
  SECTION("adding: the target is the sum of the two marked values") {
    o.name = "adding";
    const SequenceData d = make_task(o);
    CHECK_FALSE(d.y.every_step);
    for (int b = 0; b < d.N; ++b) {
      double sum = 0;
      int marks = 0;
      for (int t = 0; t < d.T; ++t)
        if (d.X(1, t * d.N + b) == 1.0) {
          sum += d.X(0, t * d.N + b);
          ++marks;
        }
      CHECK(marks == 2);
      CHECK(d.y.values(0, b) == Approx(sum));
    }
  }
  SECTION("copy: the symbols are the targets after the cue") {
    o.name = "copy";
    const SequenceData d = make_task(o);
    CHECK(d.T == 2 * o.length + o.delay + 1);
    for (int b = 0; b < d.N; ++b)
      for (int t = 0; t < o.length; ++t) {
        Eigen::Index s = 0;
        d.X.col(t * d.N + b).maxCoeff(&s);
        CHECK(d.y.classes[static_cast<std::size_t>((o.length + o.delay + 1 + t) * d.N + b)] == s);
        CHECK(d.y.classes[static_cast<std::size_t>(t * d.N + b)] == o.symbols);
      }
  }
  SECTION("an unknown task is refused") {
    o.name = "nosuch";
    CHECK_THROWS_AS(make_task(o), InputError);
  }
}

TEST_CASE("digits tasks: one pixel per step, the class at the end, disjoint validation images", "[tasks]") {
  // The committed data set, read here on its own: 1797 images of 8 x 8 pixels 0..16.
  const std::string path = std::string(STACKDYN_SOURCE_DIR) + "/data/digits.h5";
  const h5::File f = h5::File::open(path);
  const h5::Array images = f.read("images");
  const std::vector<long long> labels = f.read_int("labels");
  REQUIRE(images.shape == h5::Shape{1797, 64});
  REQUIRE(labels.size() == 1797);
  // Which image a sequence shows: the one whose pixels (in the task's order) match it.
  auto find_image = [&](const SequenceData& d, int b, const std::vector<int>& order) {
    std::vector<int> found;
    for (int i = 0; i < 1797; ++i) {
      bool same = true;
      for (int t = 0; t < 64 && same; ++t)
        same = d.X(0, t * d.N + b) == images.data[static_cast<std::size_t>(i) * 64 + static_cast<std::size_t>(order[t])] / 16.0;
      if (same) found.push_back(i);
    }
    return found;
  };
  std::vector<int> identity(64);
  for (int i = 0; i < 64; ++i) identity[static_cast<std::size_t>(i)] = i;

  TaskOptions o;
  o.name = "digits";
  o.samples = 30;
  o.seed = 3;
  REQUIRE(task_input_size(o) == 1);
  REQUIRE(task_output_size(o) == 10);
  REQUIRE(task_loss(o) == LossKind::CrossEntropy);
  const SequenceData d = make_task(o);
  REQUIRE(d.T == 64);
  REQUIRE(d.X.rows() == 1);
  REQUIRE_FALSE(d.y.every_step);
  REQUIRE(d.y.classes.size() == 30);
  for (int b = 0; b < d.N; ++b) {
    const auto img = find_image(d, b, identity);
    REQUIRE_FALSE(img.empty());
    // some digits repeat exactly; the label must fit one of the matching images
    bool label_ok = false;
    for (int i : img) label_ok = label_ok || labels[static_cast<std::size_t>(i)] == d.y.classes[static_cast<std::size_t>(b)];
    CHECK(label_ok);
  }
  // Validation: the last images of the same permutation, none shared with training.
  TaskOptions v = o;
  v.samples = 40;
  v.validation = true;
  const SequenceData dv = make_task(v);
  std::vector<int> train_images, valid_images;
  for (int b = 0; b < d.N; ++b) train_images.push_back(find_image(d, b, identity).front());
  for (int b = 0; b < dv.N; ++b) valid_images.push_back(find_image(dv, b, identity).front());
  for (int i : valid_images) CHECK(std::find(train_images.begin(), train_images.end(), i) == train_images.end());

  // Permuted: the same images (same seed), pixels in one fixed order whatever the seed.
  TaskOptions p = o;
  p.name = "permuted_digits";
  p.permutation_seed = 11;
  const SequenceData dp = make_task(p);
  for (int b = 0; b < d.N; ++b) {
    std::vector<double> a(64), c(64);
    for (int t = 0; t < 64; ++t) {
      a[static_cast<std::size_t>(t)] = d.X(0, t * d.N + b);
      c[static_cast<std::size_t>(t)] = dp.X(0, t * dp.N + b);
    }
    std::sort(a.begin(), a.end());
    std::sort(c.begin(), c.end());
    CHECK(a == c);
    CHECK(dp.y.classes[static_cast<std::size_t>(b)] == d.y.classes[static_cast<std::size_t>(b)]);
  }
  p.seed = 4;
  const SequenceData dq = make_task(p);
  // Recover the pixel order from one sample of each and compare: pixel t of the permuted
  // sequence is a fixed pixel of the image, so the images found must agree with one order.
  bool differs = false;
  for (int t = 0; t < 64; ++t) differs = differs || dp.X(0, t * dp.N) != d.X(0, t * d.N);
  CHECK(differs);  // the pixels are permuted
  CHECK(dq.X.cols() == dp.X.cols());

  // Too many samples: the one-line error naming the file.
  TaskOptions big = o;
  big.samples = 1798;
  CHECK_THROWS_WITH(make_task(big), Catch::Matchers::Contains("digits.h5") && Catch::Matchers::Contains("1797"));
}
