// Escaping every text that reaches an output format of `deferbench report`. A swept value, a
// dataset name or a model label comes from a config or a run folder, i.e. possibly from someone
// else: none of them may end a table cell, add a row, inject HTML, break a LaTeX document or run
// a gnuplot command. (CSV fields: csv_field in core/data/csv_reader.h, RFC 4180 quoting.)
#pragma once

#include <string>

namespace deferbench::report {

// A GitHub-flavoured Markdown table cell: '\' '|' and '`' backslash-escaped; '<' '>' '&' as HTML
// entities (&lt; &gt; &amp;); line breaks and other control characters become a space.
std::string markdown_cell(const std::string& s);

// LaTeX text: _ & % # $ { } ~ ^ \ escaped (\_ … \textasciitilde{} \textasciicircum{}
// \textbackslash{}); < > | as \textless{} \textgreater{} \textbar{}; – ± δ as -- $\pm$ $\delta$;
// line breaks and other control characters become a space.
std::string latex_text(const std::string& s);

// A gnuplot string expression that evaluates to `s`: single-quoted ('' for a quote; nothing else
// is interpreted inside single quotes, backquotes included), with each control character (a line
// break would end the command) appended as a double-quoted octal escape: 'a'."\012".'b'.
std::string gnuplot_string(const std::string& s);

// Text on a `#` comment line of a gnuplot data file: control characters become a space, so the
// text cannot start a data line.
std::string dat_comment(const std::string& s);

// A double-quoted string column of a gnuplot data file ("..." has no escapes there): '"' becomes
// '\'', control characters a space.
std::string dat_string(const std::string& s);

// HTML (and inline SVG) text or attribute value: & < > " ' as entities; control characters
// other than tab and line break become a space; a byte sequence that is not valid UTF-8 becomes
// U+FFFD (the replacement character), one per invalid byte.
std::string html_text(const std::string& s);

}  // namespace deferbench::report
