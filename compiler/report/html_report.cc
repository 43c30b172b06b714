#include "report/html_report.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace rptq::report {
namespace {

// ----- text and numbers --------------------------------------------------------------------------

std::string escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

// std::to_chars rather than printf/iostreams: it ignores the locale, so the bytes never depend on
// the machine that wrote the report.
std::string fixed(double v, int decimals) {
  if (!std::isfinite(v)) v = 0;
  char buf[512];
  const auto res = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, decimals);
  if (res.ec != std::errc()) return "0";  // more digits than any plot can use
  std::string s(buf, res.ptr);
  if (s[0] == '-' && s.find_first_not_of("-0.") == std::string::npos) s.erase(0, 1);  // no "-0.0"
  return s;
}

// "1.2e5", "3e-4": short enough for a bar label.
std::string scientific(double v, int significant) {
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific, significant - 1);
  const std::string s(buf, res.ptr);
  const size_t e = s.find('e');
  std::string mantissa = s.substr(0, e), exponent = s.substr(e + 1);
  if (mantissa.find('.') != std::string::npos) {
    while (mantissa.back() == '0') mantissa.pop_back();
    if (mantissa.back() == '.') mantissa.pop_back();
  }
  const bool negative = exponent[0] == '-';
  exponent.erase(0, 1);
  exponent.erase(0, std::min(exponent.find_first_not_of('0'), exponent.size() - 1));
  return mantissa + "e" + (negative ? "-" : "") + exponent;
}

// Three significant digits: 27.7, 1234, 0.0123, 4.5e-5.
std::string short_number(double v) {
  if (std::isnan(v)) return "n/a";
  if (std::isinf(v)) return v > 0 ? "∞" : "−∞";
  if (v == 0) return "0";
  const double a = std::fabs(v);
  if (a >= 1e5 || a < 1e-3) return scientific(v, 2);
  const int e = static_cast<int>(std::floor(std::log10(a)));
  std::string s = fixed(v, std::max(0, 2 - e));
  if (s.find('.') != std::string::npos) {  // "0.27", not "0.270"
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
  }
  return s;
}

// Perplexities in the table: two decimals are what papers quote.
std::string table_number(double v) {
  if (!std::isfinite(v)) return short_number(v);
  return std::fabs(v) < 1e5 ? fixed(v, 2) : scientific(v, 3);
}

std::string seconds(double s) { return fixed(s, s < 10 ? 2 : 1) + " s"; }

// SVG coordinates at 0.1 px: invisible on screen, and far fewer bytes than full precision (a large
// model's report holds millions of points).
std::string coord(double v) {
  std::string s = fixed(v, 1);
  if (s.size() > 2 && s.compare(s.size() - 2, 2, ".0") == 0) s.resize(s.size() - 2);
  return s;
}

// ----- colours -----------------------------------------------------------------------------------

// Tableau 20, saturated first: clusters k and k+1 usually have neighbouring ranges, so neighbouring
// indices get clearly different hues; past 20 clusters the palette cycles.
constexpr std::string_view kClusterPalette[] = {
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#9d7660", "#d37295", "#79706e", "#b6992d", "#499894",
    "#a0cbe8", "#ffbe7d", "#8cd17d", "#ff9d9a", "#d4a6c8", "#d7b5a6", "#fabfd2", "#bab0ac", "#f1ce63", "#86bcb6"};
constexpr size_t kClusterPaletteSize = sizeof kClusterPalette / sizeof kClusterPalette[0];

std::string_view cluster_colour(int64_t k) {
  if (k < 0) return "#9aa5b1";  // channel without a cluster (missing or bad index)
  return kClusterPalette[static_cast<size_t>(k) % kClusterPaletteSize];
}

struct MethodStyle {
  std::string_view key, label, colour;
};

// The three methods the driver evaluates; anything else it may add later still gets drawn.
constexpr MethodStyle kMethods[] = {{"rptq", "RPTQ (reorder)", "#4e79a7"},
                                    {"per_tensor", "per-tensor", "#e15759"},
                                    {"no_reorder", "no reorder", "#f28e2b"}};
constexpr std::string_view kExtraMethodColours[] = {"#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#9d7660"};

const MethodStyle* known_method(std::string_view key) {
  for (const MethodStyle& m : kMethods)
    if (m.key == key) return &m;
  return nullptr;
}

std::string method_label(std::string_view key) {
  const MethodStyle* m = known_method(key);
  return std::string(m ? m->label : key);
}

std::string_view method_colour(std::string_view key, size_t index) {
  const MethodStyle* m = known_method(key);
  return m ? m->colour : kExtraMethodColours[index % (sizeof kExtraMethodColours / sizeof kExtraMethodColours[0])];
}

// ----- SVG primitives ----------------------------------------------------------------------------

// Appends SVG elements to a string; styling lives in the page's CSS classes to keep elements short.
class SvgCanvas {
 public:
  enum class Anchor { kStart, kMiddle, kEnd };

  SvgCanvas(double width, double height, std::string_view css_class, std::string_view label,
            std::string_view extra_attributes = {}) {
    out_ += "<svg class=\"" + std::string(css_class) + "\" viewBox=\"0 0 " + coord(width) + " " + coord(height) +
            "\" width=\"" + coord(width) + "\" height=\"" + coord(height) + "\" role=\"img\"";
    if (!extra_attributes.empty()) out_ += " " + std::string(extra_attributes);
    out_ += "><title>" + escape(label) + "</title>";
  }

  void line(double x1, double y1, double x2, double y2, std::string_view css_class) {
    out_ += "<line class=\"" + std::string(css_class) + "\" x1=\"" + coord(x1) + "\" y1=\"" + coord(y1) + "\" x2=\"" +
            coord(x2) + "\" y2=\"" + coord(y2) + "\"/>";
  }

  // `tooltip` becomes a <title> child: browsers show it on hover, at no cost to the picture.
  void rect(double x, double y, double w, double h, std::string_view fill, std::string_view tooltip = {}) {
    out_ += "<rect x=\"" + coord(x) + "\" y=\"" + coord(y) + "\" width=\"" + coord(std::max(w, 0.0)) + "\" height=\"" +
            coord(std::max(h, 0.0)) + "\" fill=\"" + std::string(fill) + "\"";
    if (tooltip.empty())
      out_ += "/>";
    else
      out_ += "><title>" + escape(tooltip) + "</title></rect>";
  }

  void circle(double x, double y, std::string_view radius) {
    out_ += "<circle cx=\"" + coord(x) + "\" cy=\"" + coord(y) + "\" r=\"" + std::string(radius) + "\"/>";
  }

  void text(double x, double y, std::string_view s, std::string_view css_class, Anchor anchor = Anchor::kMiddle,
            bool vertical = false) {
    out_ += "<text class=\"" + std::string(css_class) + "\" x=\"" + coord(x) + "\" y=\"" + coord(y) + "\"";
    if (anchor != Anchor::kStart)
      out_ += anchor == Anchor::kMiddle ? " text-anchor=\"middle\"" : " text-anchor=\"end\"";
    if (vertical) out_ += " transform=\"rotate(-90 " + coord(x) + " " + coord(y) + ")\"";
    out_ += ">" + escape(s) + "</text>";
  }

  void open_group(std::string_view attributes) { out_ += "<g " + std::string(attributes) + ">"; }
  void close_group() { out_ += "</g>"; }
  void raw(std::string_view s) { out_ += s; }

  std::string finish() {
    out_ += "</svg>";
    return std::move(out_);
  }

 private:
  std::string out_;
};

struct PlotArea {
  double left, top, right, bottom;
  double width() const { return right - left; }
  double height() const { return bottom - top; }
};

// Maps data values onto pixels. Log axes (perplexity) and symmetric-log axes (activation ranges)
// are a linear map after a warp; symlog is linear for |v| < c and logarithmic beyond, so it also
// handles zero and negative values.
struct Scale {
  enum class Kind { kLinear, kLog, kSymlog };
  Kind kind = Kind::kLinear;
  double c = 1;
  double d0 = 0, d1 = 1, r0 = 0, r1 = 1;  // domain (data units) → range (pixels)

  double warp(double v) const {
    if (kind == Kind::kLog) return std::log10(v);
    if (kind == Kind::kSymlog) return std::copysign(std::log10(1 + std::fabs(v) / c), v);
    return v;
  }
  double unwarp(double w) const {
    if (kind == Kind::kLog) return std::pow(10.0, w);
    if (kind == Kind::kSymlog) return std::copysign(c * (std::pow(10.0, std::fabs(w)) - 1), w);
    return w;
  }
  double operator()(double v) const { return r0 + (warp(v) - warp(d0)) / (warp(d1) - warp(d0)) * (r1 - r0); }
};

struct Tick {
  double at;          // data units
  std::string label;  // empty: a minor grid line
};

struct Axis {
  Scale scale;
  std::vector<Tick> ticks;
};

std::string tick_label(double v, int decimals) {
  const double a = std::fabs(v);
  if (a >= 1e5 || (a > 0 && a < 1e-4)) return scientific(v, 2);
  return fixed(v, decimals);
}

// Round-number ticks; the domain is widened to whole steps so the data never touch the frame.
Axis linear_axis(double lo, double hi, int target, double r0, double r1) {
  if (!(hi > lo)) {  // a single value (or none): give it some room
    const double pad = lo == 0 ? 1 : std::fabs(lo) * 0.5;
    lo -= pad;
    hi += pad;
  }
  const double raw = (hi - lo) / target;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / magnitude;
  const double step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * magnitude;
  if (!(step > 0) || !std::isfinite(step)) return {{Scale::Kind::kLinear, 1, lo, hi, r0, r1}, {}};  // denormal-wide
  const auto k0 = static_cast<int64_t>(std::floor(lo / step + 1e-9));
  const auto k1 = static_cast<int64_t>(std::ceil(hi / step - 1e-9));
  const int decimals = std::max(0, -static_cast<int>(std::floor(std::log10(step) + 1e-9)));
  Axis a{{Scale::Kind::kLinear, 1, static_cast<double>(k0) * step, static_cast<double>(k1) * step, r0, r1}, {}};
  // Multiples of an integer k, not repeated additions: no drift, so labels stay round.
  for (int64_t k = k0; k <= k1; ++k) {
    const double v = static_cast<double>(k) * step;
    a.ticks.push_back({v, tick_label(v, decimals)});
  }
  return a;
}

std::string decade_label(int e) {
  if (e >= 0 && e <= 5) return fixed(std::pow(10.0, e), 0);
  if (e < 0 && e >= -3) return fixed(std::pow(10.0, e), -e);
  return "1e" + std::to_string(e);
}

// Decades 10^e0 … 10^e1, with minor lines at 2..9 when there is room to see them.
Axis log_axis(int e0, int e1, double r0, double r1) {
  Axis a{{Scale::Kind::kLog, 1, std::pow(10.0, e0), std::pow(10.0, e1), r0, r1}, {}};
  const bool minor = e1 - e0 <= 4, label_minor = e1 - e0 <= 1;
  const int label_every = std::max(1, (e1 - e0 + 7) / 8);  // at most ~8 labelled decades
  for (int e = e0; e <= e1; ++e) {
    const double decade = std::pow(10.0, e);
    a.ticks.push_back({decade, (e - e0) % label_every == 0 ? decade_label(e) : std::string()});
    if (!minor || e == e1) continue;
    for (int m = 2; m <= 9; ++m) {
      const bool labelled = label_minor && (m == 2 || m == 5);
      a.ticks.push_back({m * decade, labelled ? short_number(m * decade) : std::string()});
    }
  }
  return a;
}

// Ticks at 0 and ±c·10^k, and at ±2 and ±5 of each decade; labels thin out as decades add up, so
// they never collide. 4% padding.
Axis symlog_axis(double lo, double hi, double c, double r0, double r1) {
  Axis a{{Scale::Kind::kSymlog, c, lo, hi, r0, r1}, {}};
  const double w0 = a.scale.warp(lo), w1 = a.scale.warp(hi), pad = 0.04 * std::max(w1 - w0, 0.1);
  const bool label_minor = w1 - w0 <= 2.2;
  a.scale.d0 = a.scale.unwarp(w0 - pad);
  a.scale.d1 = a.scale.unwarp(w1 + pad);
  a.ticks.push_back({0, "0"});
  const double reach = std::max(-a.scale.d0, a.scale.d1);
  const int decades = static_cast<int>(std::ceil(std::log10(reach / c))), label_every = std::max(1, (decades + 3) / 4);
  int i = 0;
  for (double decade = c; decade <= reach; decade *= 10, ++i) {
    for (double sign : {-1.0, 1.0}) {
      for (double m : {1.0, 2.0, 5.0}) {
        const double v = sign * m * decade;
        if (v < a.scale.d0 || v > a.scale.d1) continue;
        const bool labelled = m == 1 ? i % label_every == 0 : label_minor;
        a.ticks.push_back({v, labelled ? short_number(v) : std::string()});
      }
    }
  }
  return a;
}

// A few outlier channels can dwarf the typical one (in OPT's LayerNorm outputs ~60 against ~2);
// on a linear axis the ordinary channels, and their clusters, collapse into a dot at the origin.
// Then the axis turns symmetric-log, with its linear part up to the typical magnitude.
constexpr double kSymlogRatio = 10;

Axis range_axis(const std::vector<double>& values, double r0, double r1) {
  double lo = 0, hi = 0;  // quantization ranges contain zero (the quantizer widens them), so axes do too
  std::vector<double> magnitude;
  for (double v : values) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
    magnitude.push_back(std::fabs(v));
  }
  if (magnitude.empty()) return linear_axis(lo, hi, 5, r0, r1);
  auto mid = magnitude.begin() + static_cast<std::ptrdiff_t>(magnitude.size() / 2);
  std::nth_element(magnitude.begin(), mid, magnitude.end());
  const double typical = *mid, peak = std::max(-lo, hi);
  if (!(typical > 0) || peak <= kSymlogRatio * typical) return linear_axis(lo, hi, 5, r0, r1);
  return symlog_axis(lo, hi, std::pow(10.0, std::floor(std::log10(typical))), r0, r1);
}

void draw_y_axis(SvgCanvas& c, const PlotArea& p, const Axis& y) {
  for (const Tick& tick : y.ticks) {
    const double py = y.scale(tick.at);
    c.line(p.left, py, p.right, py, tick.label.empty() ? "gm" : "g");
    if (!tick.label.empty()) c.text(p.left - 4, py + 3, tick.label, "tk", SvgCanvas::Anchor::kEnd);
  }
  c.line(p.left, p.top, p.left, p.bottom, "ax");
}

void draw_x_axis(SvgCanvas& c, const PlotArea& p, const Axis& x) {
  for (const Tick& tick : x.ticks) {
    const double px = x.scale(tick.at);
    c.line(px, p.top, px, p.bottom, tick.label.empty() ? "gm" : "g");
    if (!tick.label.empty()) c.text(px, p.bottom + 12, tick.label, "tk");
  }
  c.line(p.left, p.bottom, p.right, p.bottom, "ax");
}

// A zero line, darker than the grid: the side of zero is what asymmetric quantization cares about.
void draw_zero_lines(SvgCanvas& c, const PlotArea& p, const Scale& x, const Scale& y) {
  c.line(x(0), p.top, x(0), p.bottom, "z");
  c.line(p.left, y(0), p.right, y(0), "z");
}

std::string axis_title(std::string_view name, const Axis& a) {
  return std::string(name) + (a.scale.kind == Scale::Kind::kSymlog ? " (symmetric log)" : "");
}

// ----- per-activation plots ----------------------------------------------------------------------

size_t channel_count(const ActivationReport& a) { return std::min(a.min.size(), a.max.size()); }

int64_t cluster_of(const ActivationReport& a, size_t channel) {
  if (channel >= a.cluster.size()) return -1;
  const int32_t k = a.cluster[channel];
  return k < 0 || (a.clusters > 0 && k >= a.clusters) ? -1 : k;
}

bool finite_channel(const ActivationReport& a, size_t i) { return std::isfinite(a.min[i]) && std::isfinite(a.max[i]); }

// The channels drawn in the scatter plot, ascending. Above `limit` it keeps each cluster's extreme
// channels (they set the cluster's scale, and outliers are the point of the plot) and fills the
// rest with evenly spaced channels: deterministic, and faithful to the overall shape.
std::vector<size_t> select_channels(const ActivationReport& a, size_t limit) {
  std::vector<size_t> finite;
  for (size_t i = 0; i < channel_count(a); ++i)
    if (finite_channel(a, i)) finite.push_back(i);
  if (finite.size() <= limit) return finite;

  std::map<int64_t, std::pair<size_t, size_t>> extremes;  // cluster → (argmin of min, argmax of max)
  for (size_t i : finite) {
    auto [it, inserted] = extremes.try_emplace(cluster_of(a, i), i, i);
    if (a.min[i] < a.min[it->second.first]) it->second.first = i;
    if (a.max[i] > a.max[it->second.second]) it->second.second = i;
  }
  std::set<size_t> keep;
  for (const auto& [k, ex] : extremes) {
    if (keep.size() + 2 > limit / 2) break;  // thousands of clusters: leave room for the spread
    keep.insert(ex.first);
    keep.insert(ex.second);
  }
  std::vector<size_t> rest;
  for (size_t i : finite)
    if (!keep.count(i)) rest.push_back(i);
  const size_t budget = limit - keep.size();
  for (size_t j = 0; j < budget; ++j) keep.insert(rest[j * rest.size() / budget]);
  return {keep.begin(), keep.end()};
}

std::string bits_label(const ActivationReport& a) {
  if (a.bits >= 16) return std::to_string(a.bits) + "-bit, not quantized";
  return std::to_string(a.bits) + "-bit, " + std::to_string(a.clusters) + (a.clusters == 1 ? " cluster" : " clusters");
}

std::string plot_title(const ActivationReport& a) {
  return "layer " + std::to_string(a.layer) + " · " + a.point + " (" + bits_label(a) + ")";
}

// One circle per shown channel at (min, max), grouped by cluster so the colour is stated once.
void draw_points(SvgCanvas& c, const ActivationReport& a, const std::vector<size_t>& shown, const Scale& x,
                 const Scale& y) {
  std::map<int64_t, std::vector<size_t>> by_cluster;
  for (size_t i : shown) by_cluster[cluster_of(a, i)].push_back(i);
  const std::string_view radius = shown.size() > 1024 ? "1.4" : "2.2";
  for (const auto& [k, channels] : by_cluster) {
    c.open_group("class=\"pts\" fill=\"" + std::string(cluster_colour(k)) + "\" data-cluster=\"" + std::to_string(k) +
                 "\"");
    const std::string name = k < 0 ? std::string("no cluster") : "cluster " + std::to_string(k);
    c.raw("<title>" + name + " · " + std::to_string(channels.size()) + " channels shown</title>");
    for (size_t i : channels) c.circle(x(a.min[i]), y(a.max[i]), radius);
    c.close_group();
  }
}

std::string scatter_svg(const ActivationReport& a, const std::vector<size_t>& shown) {
  const double width = 330, height = 250;
  const PlotArea p{48, 28, width - 12, height - 36};
  std::vector<double> mins, maxs;
  for (size_t i : shown) {
    mins.push_back(a.min[i]);
    maxs.push_back(a.max[i]);
  }
  const Axis x = range_axis(mins, p.left, p.right), y = range_axis(maxs, p.bottom, p.top);

  SvgCanvas c(
      width, height, "scatter", plot_title(a),
      "data-channels=\"" + std::to_string(channel_count(a)) + "\" data-shown=\"" + std::to_string(shown.size()) + "\"");
  c.text(8, 15, plot_title(a), "tt", SvgCanvas::Anchor::kStart);  // long point names need the width
  draw_x_axis(c, p, x);
  draw_y_axis(c, p, y);
  draw_zero_lines(c, p, x.scale, y.scale);
  draw_points(c, a, shown, x.scale, y.scale);
  c.text((p.left + p.right) / 2, height - 6, axis_title("channel min", x), "al");
  c.text(12, (p.top + p.bottom) / 2, axis_title("channel max", y), "al", SvgCanvas::Anchor::kMiddle, true);
  if (shown.empty()) c.text((p.left + p.right) / 2, (p.top + p.bottom) / 2, "no channels", "na");
  return c.finish();
}

struct ErrorBar {
  std::string_view name, line1, line2;  // the label in two short lines fits under a narrow bar
  double value;
  std::string_view colour;
};

std::string error_svg(const ActivationReport& a) {
  const double width = 182, height = 250;
  const PlotArea p{48, 28, width - 8, height - 36};
  SvgCanvas c(width, height, "errors", "relative quantization error, " + plot_title(a));
  c.text(p.left - 36, 15, "quantization error", "tt", SvgCanvas::Anchor::kStart);
  c.text(10, (p.top + p.bottom) / 2, "‖x − x̂‖² / ‖x‖²", "al", SvgCanvas::Anchor::kMiddle, true);

  const ErrorBar bars[] = {{"no reorder", "no", "reorder", a.error_no_reorder, method_colour("no_reorder", 0)},
                           {"per-tensor", "per-", "tensor", a.error_per_tensor, method_colour("per_tensor", 0)},
                           {"reorder", "reorder", "", a.error_reorder, method_colour("rptq", 0)}};
  double top = 0;
  for (const ErrorBar& b : bars)
    if (std::isfinite(b.value)) top = std::max(top, b.value);
  const Axis axis = linear_axis(0, top > 0 ? top * 1.12 : 1, 4, p.bottom, p.top);  // 12%: room for labels
  const Scale& y = axis.scale;
  draw_y_axis(c, p, axis);
  c.line(p.left, p.bottom, p.right, p.bottom, "ax");

  const double slot = p.width() / 3, bar = slot * 0.62;
  for (size_t i = 0; i < 3; ++i) {
    const ErrorBar& b = bars[i];
    const double cx = p.left + slot * (static_cast<double>(i) + 0.5);
    c.text(cx, p.bottom + 12, b.line1, "tk");
    if (!b.line2.empty()) c.text(cx, p.bottom + 22, b.line2, "tk");
    if (a.bits >= 16) continue;
    if (!std::isfinite(b.value) || b.value < 0) {
      c.text(cx, p.bottom - 4, "n/a", "vl");
      continue;
    }
    const double y0 = y(b.value);
    c.rect(cx - bar / 2, y0, bar, p.bottom - y0, b.colour, std::string(b.name) + ": " + short_number(b.value));
    c.text(cx, y0 - 3, short_number(b.value), "vl");
  }
  if (a.bits >= 16) c.text((p.left + p.right) / 2, (p.top + p.bottom) / 2, "not quantized", "na");
  return c.finish();
}

std::string activation_caption(const ActivationReport& a, const std::vector<size_t>& shown) {
  const size_t n = channel_count(a);
  size_t finite = 0;
  for (size_t i = 0; i < n; ++i) finite += finite_channel(a, i) ? 1 : 0;
  std::string s;
  if (shown.size() < finite)
    s = "Showing " + std::to_string(shown.size()) + " of " + std::to_string(n) +
        " channels (deterministic subsample: every cluster's extreme channels plus evenly spaced ones).";
  else
    s = std::to_string(n) + " channels; colour = cluster.";
  if (finite < n) s += " " + std::to_string(n - finite) + " channels with non-finite ranges are not drawn.";
  if (a.bits >= 16) return s + " Not quantized.";
  if (a.error_reorder > 0 && a.error_no_reorder > 0 && std::isfinite(a.error_reorder) &&
      std::isfinite(a.error_no_reorder)) {
    const double ratio = a.error_no_reorder / a.error_reorder;
    s += ratio >= 1 ? " Reordering: " + short_number(ratio) + "× lower error than contiguous groups."
                    : " Reordering: " + short_number(1 / ratio) + "× higher error than contiguous groups.";
  }
  return s;
}

std::string activation_figure(const ActivationReport& a) {
  const std::vector<size_t> shown = select_channels(a, kMaxScatterPoints);
  return "<figure class=\"act\"><div class=\"plots\">" + scatter_svg(a, shown) + error_svg(a) + "</div><figcaption>" +
         escape(activation_caption(a, shown)) + "</figcaption></figure>\n";
}

// Layers in order of first appearance, activations in the order given.
std::vector<std::pair<int64_t, std::vector<const ActivationReport*>>> group_by_layer(
    const std::vector<ActivationReport>& acts) {
  std::vector<std::pair<int64_t, std::vector<const ActivationReport*>>> layers;
  std::map<int64_t, size_t> index;
  for (const ActivationReport& a : acts) {
    auto [it, inserted] = index.try_emplace(a.layer, layers.size());
    if (inserted) layers.push_back({a.layer, {}});
    layers[it->second].second.push_back(&a);
  }
  return layers;
}

std::string activations_section(const CompileReport& r) {
  std::string s = "<section id=\"activations\"><h2>Activation ranges and clusters</h2>\n";
  if (r.activations.empty()) return s + "<p class=\"muted\">No activation statistics in this report.</p></section>\n";
  const auto layers = group_by_layer(r.activations);
  s += "<nav class=\"layers\">Layer:";
  for (const auto& [layer, acts] : layers)
    s += " <a href=\"#layer-" + std::to_string(layer) + "\">" + std::to_string(layer) + "</a>";
  s += "</nav>\n";
  for (const auto& [layer, acts] : layers) {
    s += "<details open id=\"layer-" + std::to_string(layer) + "\"><summary>Layer " + std::to_string(layer) +
         "</summary><div class=\"grid\">\n";
    for (const ActivationReport* a : acts) s += activation_figure(*a);
    s += "</div></details>\n";
  }
  return s + "</section>\n";
}

// ----- perplexity --------------------------------------------------------------------------------

struct PerplexityGrid {
  std::vector<std::string> settings;                      // in order of first appearance
  std::vector<std::string> methods;                       // the known three in a fixed order, then others as they come
  std::vector<std::vector<std::optional<double>>> value;  // [setting][method]
};

PerplexityGrid perplexity_grid(const std::vector<PerplexityEntry>& entries) {
  PerplexityGrid g;
  for (const MethodStyle& m : kMethods)
    for (const PerplexityEntry& e : entries)
      if (e.method == m.key) {
        g.methods.emplace_back(m.key);
        break;
      }
  for (const PerplexityEntry& e : entries) {
    if (std::find(g.settings.begin(), g.settings.end(), e.setting) == g.settings.end()) g.settings.push_back(e.setting);
    if (std::find(g.methods.begin(), g.methods.end(), e.method) == g.methods.end()) g.methods.push_back(e.method);
  }
  g.value.assign(g.settings.size(), std::vector<std::optional<double>>(g.methods.size()));
  for (const PerplexityEntry& e : entries) {
    const auto si =
        static_cast<size_t>(std::find(g.settings.begin(), g.settings.end(), e.setting) - g.settings.begin());
    const auto mi = static_cast<size_t>(std::find(g.methods.begin(), g.methods.end(), e.method) - g.methods.begin());
    // The driver evaluates the compiled setting twice (alone and in the comparison); keep the first.
    if (!g.value[si][mi]) g.value[si][mi] = e.perplexity;
  }
  return g;
}

std::string perplexity_table(const PerplexityGrid& g, double float_ppl) {
  std::string s = "<table class=\"ppl\"><thead><tr><th>setting</th><th>float</th>";
  for (const std::string& m : g.methods) s += "<th>" + escape(method_label(m)) + "</th>";
  s += "</tr></thead><tbody>\n";
  const std::string float_cell = float_ppl > 0 ? table_number(float_ppl) : "—";
  for (size_t i = 0; i < g.settings.size(); ++i) {
    std::optional<double> best;  // bold the lowest perplexity of the row
    for (const auto& v : g.value[i])
      if (v && std::isfinite(*v) && *v > 0 && (!best || *v < *best)) best = *v;
    s += "<tr><th>" + escape(g.settings[i]) + "</th><td class=\"muted\">" + float_cell + "</td>";
    for (const auto& v : g.value[i]) {
      if (!v)
        s += "<td class=\"muted\">—</td>";
      else
        s += std::string(best && *v == *best ? "<td class=\"best\">" : "<td>") + escape(table_number(*v)) + "</td>";
    }
    s += "</tr>\n";
  }
  return s + "</tbody></table>\n";
}

// Decades spanned by every drawable perplexity (finite, positive) and the float reference.
std::pair<int, int> perplexity_decades(const PerplexityGrid& g, double float_ppl) {
  double lo = float_ppl > 0 && std::isfinite(float_ppl) ? float_ppl : 0, hi = lo;
  for (const auto& row : g.value)
    for (const auto& v : row)
      if (v && std::isfinite(*v) && *v > 0) {
        lo = lo > 0 ? std::min(lo, *v) : *v;
        hi = std::max(hi, *v);
      }
  if (lo <= 0) return {0, 1};
  const int e0 = static_cast<int>(std::floor(std::log10(lo))), e1 = static_cast<int>(std::ceil(std::log10(hi)));
  return {e0, std::max(e1, e0 + 1)};
}

void draw_method_legend(SvgCanvas& c, const PerplexityGrid& g, double x, double y, bool with_float) {
  for (size_t m = 0; m < g.methods.size(); ++m) {
    const std::string label = method_label(g.methods[m]);
    c.rect(x, y - 9, 10, 10, method_colour(g.methods[m], m));
    c.text(x + 14, y, label, "lg", SvgCanvas::Anchor::kStart);
    x += 24 + 6.2 * static_cast<double>(label.size());  // ~6.2 px per character at 11 px
  }
  if (!with_float) return;
  c.line(x, y - 4, x + 18, y - 4, "fl");
  c.text(x + 22, y, "float", "lg", SvgCanvas::Anchor::kStart);
}

// Grouped bars, one group per setting, on a log axis: quantized perplexities of a broken method
// can be 10⁴× the float one, which a linear axis would flatten into nothing.
std::string perplexity_chart(const PerplexityGrid& g, double float_ppl) {
  const double bar = 22, gap = 3, group_pad = 30;
  const double group_w = static_cast<double>(g.methods.size()) * (bar + gap) - gap + group_pad;
  const double width = std::max(560.0, 64 + static_cast<double>(g.settings.size()) * group_w + 16), height = 310;
  const PlotArea p{64, 44, width - 16, height - 40};
  const auto [e0, e1] = perplexity_decades(g, float_ppl);
  const Axis axis = log_axis(e0, e1, p.bottom, p.top);
  const Scale& y = axis.scale;
  const bool has_float = float_ppl > 0 && std::isfinite(float_ppl);

  SvgCanvas c(width, height, "pplchart", "perplexity by setting and method (log scale)");
  draw_method_legend(c, g, p.left, 18, has_float);
  draw_y_axis(c, p, axis);
  c.line(p.left, p.bottom, p.right, p.bottom, "ax");
  c.text(14, (p.top + p.bottom) / 2, "perplexity (log scale)", "al", SvgCanvas::Anchor::kMiddle, true);

  const double x0 = p.left + (p.width() - static_cast<double>(g.settings.size()) * group_w) / 2;
  for (size_t s = 0; s < g.settings.size(); ++s) {
    const double gx = x0 + static_cast<double>(s) * group_w + group_pad / 2;
    c.text(gx + (group_w - group_pad) / 2, p.bottom + 16, g.settings[s], "xl");
    for (size_t m = 0; m < g.methods.size(); ++m) {
      const auto& v = g.value[s][m];
      if (!v) continue;
      const double bx = gx + static_cast<double>(m) * (bar + gap), cx = bx + bar / 2;
      if (std::isnan(*v) || *v <= 0) {
        c.text(cx, p.bottom - 4, "n/a", "vl");
        continue;
      }
      // Infinite perplexity (the model broke) reaches the top of the axis, labelled ∞.
      const double top = std::isinf(*v) ? p.top : std::clamp(y(*v), p.top, p.bottom);
      c.rect(bx, top, bar, p.bottom - top, method_colour(g.methods[m], m),
             g.settings[s] + " · " + method_label(g.methods[m]) + ": " + table_number(*v));
      c.text(cx, top - 3, short_number(*v), "vl");
    }
  }
  if (has_float) {
    const double fy = y(float_ppl);
    c.line(p.left, fy, p.right, fy, "fl");
    c.text(p.right - 2, fy - 4, "float " + short_number(float_ppl), "lg", SvgCanvas::Anchor::kEnd);
  }
  return c.finish();
}

std::string perplexity_section(const CompileReport& r) {
  std::string s = "<section id=\"perplexity\"><h2>Perplexity</h2>\n";
  if (r.perplexities.empty())
    return s + "<p class=\"muted\">No perplexities were evaluated (compile with <code>--eval</code>).</p></section>\n";
  const PerplexityGrid g = perplexity_grid(r.perplexities);
  s += "<p class=\"muted\">Simulated quantized perplexity on the evaluation text; lower is better, the best method "
       "of each setting in bold.</p>\n";
  s += "<div class=\"pplwrap\">" + perplexity_table(g, r.float_perplexity) + "<div class=\"chart\">" +
       perplexity_chart(g, r.float_perplexity) + "</div></div>\n";
  return s + "</section>\n";
}

// ----- page --------------------------------------------------------------------------------------

std::string stage_table(const std::vector<std::pair<std::string, double>>& stages) {
  double total = 0;
  for (const auto& st : stages)
    if (std::isfinite(st.second) && st.second > 0) total += st.second;
  std::string s = "<table class=\"stages\"><thead><tr><th>stage</th><th>wall time</th><th></th></tr></thead><tbody>\n";
  for (const auto& [name, secs] : stages) {
    const double share = total > 0 && std::isfinite(secs) && secs > 0 ? 100 * secs / total : 0;
    s += "<tr><th>" + escape(name) + "</th><td>" + escape(seconds(secs)) +
         "</td><td class=\"share\"><span style=\"width:" + fixed(share, 1) + "%\"></span></td></tr>\n";
  }
  return s + "<tr class=\"total\"><th>total</th><td>" + escape(seconds(total)) +
         "</td><td></td></tr></tbody></table>\n";
}

std::string summary_card(std::string_view key, std::string_view value) {
  return "<div class=\"card\"><div class=\"k\">" + escape(key) + "</div><div class=\"v\">" + escape(value) +
         "</div></div>";
}

std::string header_section(const CompileReport& r) {
  double total = 0;
  for (const auto& st : r.stage_seconds)
    if (std::isfinite(st.second) && st.second > 0) total += st.second;
  std::string s = "<header><p class=\"kicker\">RPTQ compile report</p><h1>" + escape(r.model) + "</h1>\n";
  s += "<div class=\"cards\">" + summary_card("compiled setting", r.settings.empty() ? "—" : r.settings) +
       summary_card("float perplexity", r.float_perplexity > 0 ? table_number(r.float_perplexity) : "not evaluated") +
       summary_card("compile time", r.stage_seconds.empty() ? "—" : seconds(total)) + "</div>\n";
  if (!r.stage_seconds.empty()) s += stage_table(r.stage_seconds);
  return s + "</header>\n";
}

std::string explanation_section() {
  return "<section id=\"reordering\"><h2>What reordering does</h2><p>The channels of a transformer activation have "
         "very different ranges: a few outlier channels reach values tens of times larger than the rest, so a single "
         "scale for the whole tensor spends almost all of its quantization levels on the outliers and rounds the "
         "ordinary channels coarsely. RPTQ clusters the channels by their calibration range (min, max) and reorders "
         "them so that channels with similar ranges sit next to each other and share one scale and zero point. The "
         "permutation is folded into the neighbouring weights, so it costs nothing at run time.</p>"
         "<p>Below, every dot is one channel at its (min, max), coloured by its cluster: compact, single-coloured "
         "clouds mean each scale fits its channels. Where a few outliers dwarf the rest, an axis turns symmetric-log "
         "(linear near zero, logarithmic beyond) so that both stay visible. Beside each plot is the relative error "
         "‖x − x̂‖² / ‖x‖² on the calibration data with the same number of contiguous groups but no reordering, "
         "with one per-tensor scale, and with RPTQ's reordered clusters.</p></section>\n";
}

constexpr std::string_view kStyle = R"css(
:root{--ink:#1f2933;--muted:#616e7c;--line:#e4e7eb;--bg:#f5f7fa}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font-size:14px;line-height:1.5;
  font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1320px;margin:0 auto;padding:28px 32px 56px}
h1{font-size:26px;margin:0 0 14px;word-break:break-all}
h2{font-size:18px;margin:36px 0 10px;padding-bottom:6px;border-bottom:1px solid var(--line)}
.kicker{margin:0;color:var(--muted);text-transform:uppercase;letter-spacing:.08em;font-size:12px}
.muted{color:var(--muted)}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin-bottom:16px}
.card{background:#fff;border:1px solid var(--line);border-radius:8px;padding:10px 16px;min-width:170px}
.card .k{color:var(--muted);font-size:12px}.card .v{font-size:20px;font-weight:600}
table{border-collapse:collapse;background:#fff;border:1px solid var(--line);font-variant-numeric:tabular-nums}
th,td{padding:5px 12px;border-bottom:1px solid var(--line);text-align:right;white-space:nowrap}
thead th:first-child{text-align:left}
thead th{background:#eef1f5;font-weight:600}
tbody th{text-align:left;font-weight:500}
td.best{font-weight:700}
tr.total th,tr.total td{font-weight:600}
.stages td.share{width:160px}
.stages td.share span{display:block;height:8px;border-radius:4px;background:#9fb3c8}
.pplwrap{display:flex;flex-wrap:wrap;gap:20px;align-items:flex-start}
.chart,figure.act{background:#fff;border:1px solid var(--line);border-radius:8px;padding:8px}
nav.layers{margin:8px 0 12px;color:var(--muted)}
nav.layers a{color:#2f6fb0;text-decoration:none;padding:0 3px}
details{margin:10px 0}
summary{cursor:pointer;font-weight:600;font-size:15px;margin-bottom:8px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:14px}
figure.act{margin:0;max-width:760px}
.plots{display:grid;grid-template-columns:330fr 182fr}
.plots svg{width:100%}
figcaption{font-size:12px;color:var(--muted);padding:2px 6px}
svg{max-width:100%;height:auto;font-family:inherit}
svg .g{stroke:#edf0f3}svg .gm{stroke:#f5f6f8}svg .ax{stroke:#9aa5b1}svg .z{stroke:#cbd2d9}
svg .fl{stroke:#1f2933;stroke-dasharray:5 4}
svg line{stroke-width:1;shape-rendering:crispEdges}
svg .pts{fill-opacity:.78}
svg text{fill:var(--ink)}
svg .tk{font-size:9px;fill:var(--muted)}svg .vl{font-size:9px}svg .lg{font-size:11px}
svg .xl{font-size:11px;font-weight:600}svg .al{font-size:10px;fill:var(--muted)}
svg .tt{font-size:11px;font-weight:600}svg .na{font-size:12px;fill:var(--muted);text-anchor:middle}
)css";

}  // namespace

std::string render_html_report(const CompileReport& r) {
  std::string html =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
      "<title>RPTQ report · " +
      escape(r.model) + "</title><style>";
  html += kStyle;
  html += "</style></head>\n<body><main>\n";
  html += header_section(r);
  html += perplexity_section(r);
  html += explanation_section();
  html += activations_section(r);
  html += "</main></body></html>\n";
  return html;
}

}  // namespace rptq::report
