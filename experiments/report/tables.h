// The report's three tables, each built once as (columns, rows of cells) and rendered as
// Markdown, LaTeX and CSV; every text from the sweep goes through the escape unit (escape.h) or
// csv_field.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "experiments/report/aggregate.h"
#include "experiments/report/sweep_reader.h"

namespace deferbench::report {

struct Column {
  std::string title;
  std::vector<std::string> csv;  // the CSV columns it expands to
  bool numeric = true;
};

struct Cell {
  std::string text;              // Markdown / LaTeX
  std::string pm;                // "± pm" after the text when not empty
  std::vector<std::string> csv;  // one value per CSV column
};

struct Table {
  std::string name, title, note;
  std::vector<Column> columns;
  std::vector<std::vector<Cell>> rows;
};

std::string markdown(const Table& t);
std::string latex(const Table& t);
std::string csv(const Table& t);

// Table 1: the deployed policy per dataset, calibration mode, setting and target.
Table selection_table(const Sweep& s, const std::map<GroupKey, TargetStats>& stats);
// Table 2: L2D and RSB per zoo model at one target.
Table zoo_table(const Sweep& s, double target);
// Table 3: guarantee violations per calibration mode.
Table modes_table(const Sweep& s, const std::map<GroupKey, TargetStats>& stats);

}  // namespace deferbench::report
