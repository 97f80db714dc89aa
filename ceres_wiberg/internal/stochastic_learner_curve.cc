#include "ceres_wiberg/internal/stochastic_learner_curve.h"

#include "ceres_wiberg/internal/string_util.h"

namespace ceres_wiberg {
namespace internal {

std::vector<std::string> CurveColumns(int num_w_columns) {
  std::vector<std::string> columns = {"iteration",     "epoch",     "loss",
                                      "gradient_norm", "step_norm", "learning_rate"};
  for (int i = 0; i < num_w_columns; ++i) columns.push_back("w_" + std::to_string(i));
  return columns;
}

std::string CurveToCsv(const std::vector<CurveRow>& rows, int num_w_columns) {
  std::string csv;
  const std::vector<std::string> columns = CurveColumns(num_w_columns);
  for (size_t i = 0; i < columns.size(); ++i) {
    if (i > 0) csv += ',';
    csv += columns[i];
  }
  csv += '\n';
  for (const CurveRow& row : rows) {
    csv += std::to_string(row.iteration) + ',' + std::to_string(row.epoch) + ',' +
           FormatDouble(row.loss) + ',' + FormatDouble(row.gradient_norm) + ',' +
           FormatDouble(row.step_norm) + ',' + FormatDouble(row.learning_rate);
    for (int i = 0; i < num_w_columns && i < row.w.size(); ++i) {
      csv += ',' + FormatDouble(row.w[i]);
    }
    csv += '\n';
  }
  return csv;
}

}  // namespace internal
}  // namespace ceres_wiberg
