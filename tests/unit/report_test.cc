// The HTML report: self-contained, well-formed, escaped, faithful to the data (one point per
// channel, one colour per cluster) and byte-for-byte deterministic.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <map>
#include <random>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "report/html_report.h"
#include "test_util.h"

using rptq::report::ActivationReport;
using rptq::report::CompileReport;
using rptq::report::render_html_report;

namespace {

// Channel ranges shaped like OPT activations: most channels in a narrow band around zero, every
// 37th an outlier tens of times larger. Clusters split the channels sorted by range into equal
// groups, as k-means on (min, max) roughly does. mt19937's raw output is specified by the
// standard, so the data (and the expected page) are the same everywhere.
ActivationReport make_activation(int64_t layer, const std::string& point, int bits, size_t channels, int64_t clusters,
                                 uint32_t seed) {
  std::mt19937 gen(seed);
  auto uniform = [&] { return static_cast<float>(gen() >> 8) / 16777216.0f; };
  ActivationReport a;
  a.layer = layer;
  a.point = point;
  a.bits = bits;
  for (size_t c = 0; c < channels; ++c) {
    const float scale = c % 37 == 5 ? 25.0f : 1.0f;
    a.min.push_back(-(0.3f + 1.5f * uniform()) * scale);
    a.max.push_back((0.3f + 2.0f * uniform()) * scale);
  }
  a.cluster.assign(channels, 0);
  a.clusters = bits >= 16 ? 0 : clusters;
  if (a.clusters > 0) {
    std::vector<size_t> order(channels);
    for (size_t c = 0; c < channels; ++c) order[c] = c;
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t x, size_t y) { return a.max[x] - a.min[x] < a.max[y] - a.min[y]; });
    for (size_t j = 0; j < channels; ++j)
      a.cluster[order[j]] = static_cast<int32_t>(j * static_cast<size_t>(clusters) / channels);
    a.error_reorder = 0.0031 * (layer + 1);
    a.error_no_reorder = 0.041 * (layer + 1);
    a.error_per_tensor = 0.27 + 0.01 * static_cast<double>(layer);
  }
  return a;
}

struct PointSpec {
  std::string point;
  int bits;
  size_t channels;
  int64_t clusters;
};
const PointSpec kPoints[] = {{"attn_norm_out", 4, 128, 4}, {"query", 16, 128, 0}, {"fc1_out", 4, 512, 8}};

CompileReport make_report() {
  CompileReport r;
  r.model = "opt-tiny <test> & \"friends\"";
  r.settings = "W4A8";
  r.float_perplexity = 27.65;
  const double ppl[3][3] = {{27.9, 28.4, 28.1}, {28.7, 41.3, 35.2}, {39.8, 3512.0, 812.5}};
  const char* settings[] = {"W4A16", "W4A8", "W4A4"};
  const char* methods[] = {"rptq", "per_tensor", "no_reorder"};
  for (int s = 0; s < 3; ++s)
    for (int m = 0; m < 3; ++m) r.perplexities.push_back({settings[s], methods[m], ppl[s][m]});
  uint32_t seed = 1;
  for (int64_t layer = 0; layer < 2; ++layer)
    for (const PointSpec& p : kPoints)
      r.activations.push_back(make_activation(layer, p.point, p.bits, p.channels, p.clusters, seed++));
  r.stage_seconds = {{"import", 0.42},
                     {"load calibration", 1.3},
                     {"quantize (calibrate, cluster, fold, GPTQ)", 17.8},
                     {"evaluate", 64.2}};
  return r;
}

size_t count(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t pos = haystack.find(needle); pos != std::string::npos; pos = haystack.find(needle, pos + needle.size()))
    ++n;
  return n;
}

// Each <svg class="..."> element of the page, in order.
std::vector<std::string> svgs(const std::string& html, const std::string& css_class) {
  std::vector<std::string> out;
  const std::string open = "<svg class=\"" + css_class + "\"";
  for (size_t pos = html.find(open); pos != std::string::npos; pos = html.find(open, pos + 1))
    out.push_back(html.substr(pos, html.find("</svg>", pos) + 6 - pos));
  return out;
}

struct ClusterGroup {
  std::string fill;
  size_t circles;
};

// The cluster groups of a scatter plot: cluster → its fill colour and number of points.
std::map<int64_t, ClusterGroup> cluster_groups(const std::string& svg) {
  std::map<int64_t, ClusterGroup> groups;
  const std::regex open("<g class=\"pts\" fill=\"(#[0-9a-f]{6})\" data-cluster=\"(-?[0-9]+)\">");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), open); it != std::sregex_iterator(); ++it) {
    const size_t begin = static_cast<size_t>(it->position(0));
    const std::string body = svg.substr(begin, svg.find("</g>", begin) - begin);
    groups[std::stoll((*it)[2].str())] = {(*it)[1].str(), count(body, "<circle")};
  }
  return groups;
}

std::string exe_dir() { return std::filesystem::read_symlink("/proc/self/exe").parent_path().string(); }

}  // namespace

TEST_CASE("report: one self-contained, balanced HTML document", "[report]") {
  const std::string html = render_html_report(make_report());
  CHECK(html.rfind("<!DOCTYPE html>", 0) == 0);
  CHECK(count(html, "<html") == 1);
  CHECK(count(html, "</html>") == 1);
  // Every <svg> closed before the next opens (they never nest).
  CHECK(count(html, "<svg") == count(html, "</svg>"));
  size_t depth_errors = 0;
  for (size_t pos = html.find("<svg"); pos != std::string::npos; pos = html.find("<svg", pos + 1)) {
    const size_t close = html.find("</svg>", pos), next = html.find("<svg", pos + 1);
    if (close == std::string::npos || (next != std::string::npos && next < close)) ++depth_errors;
  }
  CHECK(depth_errors == 0);
  // Nothing fetched: no scripts, links to other hosts, fonts or imports.
  for (const char* external : {"<script", "http://", "https://", "src=", "url(", "@import", "<link"})
    CHECK(count(html, external) == 0);
  CHECK(count(html, "<figure class=\"act\"") == 6);
  CHECK(count(html, "What reordering does") == 1);
}

TEST_CASE("report: the model name and every label are escaped", "[report]") {
  const std::string html = render_html_report(make_report());
  CHECK(count(html, "opt-tiny &lt;test&gt; &amp; &quot;friends&quot;") >= 2);  // <title> and <h1>
  CHECK(count(html, "<test>") == 0);
  CHECK(count(html, "& \"") == 0);
}

TEST_CASE("report: header, perplexity table and log-scale chart", "[report]") {
  const std::string html = render_html_report(make_report());
  CHECK(count(html, "W4A8") >= 3);   // header card, table row, chart label
  CHECK(count(html, "27.65") >= 2);  // float perplexity: header and table column
  CHECK(count(html, "quantize (calibrate, cluster, fold, GPTQ)") == 1);
  CHECK(count(html, "<th>float</th>") == 1);
  for (const char* method : {"<th>RPTQ (reorder)</th>", "<th>per-tensor</th>", "<th>no reorder</th>"})
    CHECK(count(html, method) == 1);
  CHECK(count(html, "<td class=\"best\">39.80</td>") == 1);  // W4A4: RPTQ is the lowest
  CHECK(count(html, "perplexity (log scale)") >= 1);
  const auto chart = svgs(html, "pplchart");
  REQUIRE(chart.size() == 1);
  CHECK(count(chart[0], "<rect") == 9 + 3);  // 3 settings × 3 methods, and 3 legend swatches
  // Decades 10 … 10⁴ (27.65 … 3512) on the log axis.
  for (const char* decade : {">10<", ">100<", ">1000<", ">10000<"}) CHECK(count(chart[0], decade) == 1);
}

TEST_CASE("report: one circle per channel, coloured by cluster", "[report]") {
  const CompileReport r = make_report();
  const std::string html = render_html_report(r);
  const auto plots = svgs(html, "scatter");
  REQUIRE(plots.size() == r.activations.size());
  CHECK(svgs(html, "errors").size() == r.activations.size());
  for (size_t i = 0; i < plots.size(); ++i) {
    const ActivationReport& a = r.activations[i];
    INFO("layer " << a.layer << " " << a.point);
    CHECK(count(plots[i], "<circle") == a.min.size());
    CHECK(count(plots[i], "layer " + std::to_string(a.layer) + " · " + a.point) >= 1);
    if (a.bits >= 16) {
      CHECK(count(plots[i], "not quantized") >= 1);
      continue;
    }
    CHECK(count(plots[i], std::to_string(a.clusters) + " clusters") >= 1);
    const auto groups = cluster_groups(plots[i]);
    REQUIRE(groups.size() == static_cast<size_t>(a.clusters));
    std::set<std::string> fills;
    for (const auto& [k, g] : groups) {
      fills.insert(g.fill);
      CHECK(g.circles == static_cast<size_t>(std::count(a.cluster.begin(), a.cluster.end(), static_cast<int32_t>(k))));
    }
    CHECK(fills.size() == groups.size());  // ≤ 20 clusters: all colours differ
  }
  // The error charts of unquantized activations say so instead of drawing zero bars.
  CHECK(count(html, "not quantized") >= 2 * 2);
}

TEST_CASE("report: the same report gives the same bytes", "[report]") {
  const CompileReport r = make_report();
  const std::string first = render_html_report(r);
  CHECK(render_html_report(r) == first);
  CHECK(render_html_report(make_report()) == first);
}

TEST_CASE("report: large activations are subsampled deterministically, and say so", "[report]") {
  CompileReport r;
  r.model = "big";
  r.activations.push_back(make_activation(0, "fc1_out", 4, 10000, 64, 7));
  const std::string html = render_html_report(r);
  const auto plots = svgs(html, "scatter");
  REQUIRE(plots.size() == 1);
  CHECK(count(plots[0], "<circle") == rptq::report::kMaxScatterPoints);
  CHECK(count(plots[0], "data-channels=\"10000\" data-shown=\"4096\"") == 1);
  CHECK(count(html, "Showing 4096 of 10000 channels") == 1);
  // 64 clusters cycle through the palette but every cluster is still drawn.
  CHECK(cluster_groups(plots[0]).size() == 64);
  CHECK(render_html_report(r) == html);
}

TEST_CASE("report: empty and non-finite data still give a valid page", "[report]") {
  CompileReport empty;
  const std::string e = render_html_report(empty);
  CHECK(count(e, "<html") == 1);
  CHECK(count(e, "No perplexities were evaluated") == 1);
  CHECK(count(e, "No activation statistics") == 1);

  CompileReport r = make_report();
  r.perplexities.push_back({"W2A2", "rptq", std::numeric_limits<double>::infinity()});
  r.perplexities.push_back({"W2A2", "per_tensor", std::numeric_limits<double>::quiet_NaN()});
  r.activations[0].min[3] = std::numeric_limits<float>::quiet_NaN();
  r.activations[0].max[4] = std::numeric_limits<float>::infinity();
  r.activations[0].error_reorder = std::numeric_limits<double>::quiet_NaN();
  const std::string html = render_html_report(r);
  CHECK_FALSE(std::regex_search(html, std::regex("=\"-?(nan|inf)", std::regex::icase)));
  CHECK(count(html, "2 channels with non-finite ranges are not drawn") == 1);
  CHECK(count(svgs(html, "scatter")[0], "<circle") == r.activations[0].min.size() - 2);
  CHECK(count(html, "<svg") == count(html, "</svg>"));
}

TEST_CASE("report: Python's html.parser finds every element closed", "[report]") {
  const std::string python = RPTQ_PYTHON;
  if (!std::filesystem::exists(python)) {
    WARN("no Python at " << python << ": skipping the html.parser check");
    return;
  }
  rptq::test::TempDir dir;
  rptq::test::write_file(dir.file("report.html"), render_html_report(make_report()));
  rptq::test::write_file(dir.file("check.py"), R"py(
import sys
from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

class Checker(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.errors, self.html = [], [], 0

    def handle_starttag(self, tag, attrs):
        self.html += tag == "html"
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.html += tag == "html"

    def handle_endtag(self, tag):
        if self.stack and self.stack[-1] == tag:
            self.stack.pop()
        else:
            self.errors.append(f"</{tag}> at {self.getpos()} closes <{self.stack[-1] if self.stack else ''}>")

c = Checker()
c.feed(open(sys.argv[1], encoding="utf-8").read())
c.close()
if c.stack:
    c.errors.append("unclosed: " + " ".join(c.stack))
if c.html != 1:
    c.errors.append(f"{c.html} <html> elements")
print("\n".join(c.errors[:20]))
sys.exit(1 if c.errors else 0)
)py");
  const std::string cmd = "\"" + python + "\" \"" + dir.file("check.py") + "\" \"" + dir.file("report.html") +
                          "\" > \"" + dir.file("out.txt") + "\" 2>&1";
  const int rc = std::system(cmd.c_str());
  INFO(rptq::test::read_file(dir.file("out.txt")));
  CHECK(rc == 0);
}

TEST_CASE("report: example page for a human to open", "[report]") {
  // Next to the test binary, in the build tree: open it in a browser to judge the layout.
  const std::string path = exe_dir() + "/report_example.html";
  const std::string html = render_html_report(make_report());
  rptq::test::write_file(path, html);
  CHECK(rptq::test::read_file(path) == html);
}
