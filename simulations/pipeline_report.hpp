// The pipeline's summary.json (the headline numbers, read from the stages' own files) and its
// report (report.md, and report.html with the figures inline), written from the files in the
// pipeline's directory whatever ran this time.
#pragma once
#include <map>
#include <string>
#include <vector>

namespace stackdyn::cli {

struct PipelineStageInfo {
  std::string status;  ///< ok, skipped, partial, failed; empty when it never ran
  std::string reason;
  double wall = -1;    ///< seconds of its last run
};

struct PipelineReportInput {
  std::string dir;
  bool control = true;    ///< the _init files are expected
  bool diverged = false;  ///< the training diverged: the analyses did not run
  std::map<std::string, PipelineStageInfo> stages;
  double total_wall = 0;
  std::string config_toml;  ///< the whole configuration (pipeline.toml)
};

/// One headline number of summary.json as a column of a table of runs: a scalar (one value) or
/// a per-layer list; NaN where summary.json has null.
struct SummaryColumn {
  std::string key;
  std::vector<double> values;
  bool per_layer = false;
};
/// The headline numbers of the pipeline directory `dir` (summary.json's keys, wall_time_s,
/// control, status and stages left out), read from the stages' files as summary.json's are.
std::vector<SummaryColumn> pipeline_summary_columns(const std::string& dir);

/// The whole content of a file ("" when it cannot be read).
std::string read_text(const std::string& path);
/// The last non-empty line of a command's stderr, without the "stackdyn: error: " prefix.
std::string last_error(const std::string& err);

/// Writes `text` to `path` through `path.partial` and a rename: never a half-written file.
void write_text_atomic(const std::string& path, const std::string& text);

/// Writes DIR/summary.json, DIR/report.md and DIR/report.html (each atomically).
void write_pipeline_report(const PipelineReportInput& in);

}  // namespace stackdyn::cli
