// Losses (see loss.hpp).
#include <stackdyn/core/error.hpp>
#include <stackdyn/training/loss.hpp>

#include <cmath>

namespace stackdyn {

std::string_view loss_name(LossKind k) { return k == LossKind::Mse ? "mse" : "cross_entropy"; }

LossKind parse_loss(std::string_view name, std::string_view where) {
  if (name == "mse") return LossKind::Mse;
  if (name == "cross_entropy") return LossKind::CrossEntropy;
  throw InputError(std::string(where) + ": unknown loss '" + std::string(name) + "', expected mse or cross_entropy");
}

namespace {
// The prediction columns that carry a target: all, or the last step's.
Eigen::Index first_column(const Targets& y, int B, int T) {
  return y.every_step ? 0 : static_cast<Eigen::Index>(T - 1) * B;
}
}  // namespace

double loss_and_gradient(const Targets& y, const ConstMatRef& pred, int B, int T, MatrixXd* gPred) {
  const Eigen::Index c0 = first_column(y, B, T), n = pred.cols() - c0;
  const auto P = pred.rightCols(n);
  if (gPred) gPred->setZero(pred.rows(), pred.cols());
  if (y.kind == LossKind::Mse) {
    if (y.values.rows() != pred.rows() || y.values.cols() != n)
      throw InputError("loss: targets of shape (" + std::to_string(y.values.rows()) + ", " + std::to_string(y.values.cols()) +
                       ") for predictions of (" + std::to_string(pred.rows()) + ", " + std::to_string(n) + ")");
    const double N = static_cast<double>(P.size());
    const MatrixXd diff = P - y.values;
    if (gPred) gPred->rightCols(n) = diff * (2.0 / N);
    return diff.squaredNorm() / N;
  }
  if (static_cast<Eigen::Index>(y.classes.size()) != n)
    throw InputError("loss: " + std::to_string(y.classes.size()) + " class targets for " + std::to_string(n) + " predictions");
  double total = 0.0;
  const double N = static_cast<double>(n);
  for (Eigen::Index j = 0; j < n; ++j) {
    const long long k = y.classes[static_cast<std::size_t>(j)];
    if (k < 0 || k >= P.rows())
      throw InputError("loss: class target " + std::to_string(k) + " out of range [0, " + std::to_string(P.rows()) + ")");
    const double mx = P.col(j).maxCoeff();
    const double lse = mx + std::log((P.col(j).array() - mx).exp().sum());
    total += lse - P(k, j);
    if (gPred) {
      auto g = gPred->col(c0 + j);
      g = ((P.col(j).array() - lse).exp() / N).matrix();
      g(k) -= 1.0 / N;
    }
  }
  return total / N;
}

double accuracy(const Targets& y, const ConstMatRef& pred, int B, int T) {
  if (y.kind != LossKind::CrossEntropy) return std::nan("");
  const Eigen::Index c0 = first_column(y, B, T), n = pred.cols() - c0;
  long hits = 0;
  for (Eigen::Index j = 0; j < n; ++j) {
    Eigen::Index arg = 0;
    pred.col(c0 + j).maxCoeff(&arg);
    hits += arg == y.classes[static_cast<std::size_t>(j)] ? 1 : 0;
  }
  return static_cast<double>(hits) / static_cast<double>(n);
}

}  // namespace stackdyn
