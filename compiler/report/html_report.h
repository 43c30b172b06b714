// `rptq-compile --report`: one self-contained HTML page (inline CSS, inline SVG, no scripts and
// nothing fetched), so it can be mailed, archived next to the bundle, or opened on a device with no
// network. The output depends only on the report: the same input gives the same bytes.
#pragma once

#include <string>

#include "report/report_data.h"

namespace rptq::report {

// Scatter plots above this many channels show a deterministic subsample (and say so), to keep
// the page of a large model openable.
inline constexpr size_t kMaxScatterPoints = 4096;

std::string render_html_report(const CompileReport& r);

}  // namespace rptq::report
