// report.html of a sweep (`deferbench report DIR`): the sweep's tables and its plots inline as
// SVG in one self-contained page (see html.h), so a reader opens one file.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "experiments/report/sweep_reader.h"
#include "experiments/report/tables.h"

namespace deferbench::report {

// `svgs`: the plots gnuplot rendered (each file embedded as an image, see svg_image).
// `warning`: why plots are missing, if they are.
std::string sweep_page(const Sweep& s, const std::vector<Table>& tables,
                       const std::vector<std::filesystem::path>& svgs, const std::string& warning);

// A plot as an image of the page: <img src="data:image/svg+xml;base64,…" alt="…">. A browser
// runs no script and loads nothing for an SVG shown as an image, so a plot file from someone
// else's sweep folder cannot act on the page (the page's Content-Security-Policy allows data:
// images only). Empty when `text` holds no <svg element.
std::string svg_image(const std::string& text, const std::string& alt);

// RFC 4648 base64 (with padding).
std::string base64(const std::string& bytes);

}  // namespace deferbench::report
