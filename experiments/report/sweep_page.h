// report.html of a sweep (`deferbench report DIR`): the sweep's tables and its plots inline as
// SVG in one self-contained page (see html.h), so a reader opens one file.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "experiments/report/sweep_reader.h"
#include "experiments/report/tables.h"

namespace deferbench::report {

// `svgs`: the plots gnuplot rendered (their files are read and inlined without their XML
// prolog; one holding script or foreign content is left out with a note). `warning`: why plots
// are missing, if they are.
std::string sweep_page(const Sweep& s, const std::vector<Table>& tables,
                       const std::vector<std::filesystem::path>& svgs, const std::string& warning);

// The SVG document `text` as an inline <svg> element: the XML prolog, DOCTYPE and comments
// before the root dropped. Empty when it holds a script, foreign content, an event handler
// attribute or an external reference (a page must not run or load anything).
std::string inline_svg(const std::string& text);

}  // namespace deferbench::report
