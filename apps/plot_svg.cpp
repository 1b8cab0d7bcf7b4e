#include "apps/plot_svg.hpp"

#include "core/error.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>

namespace lowbit::app {
namespace {

using Series = PlotSeries;

struct Panel {
  double x0, y0, width, height;  // pixel frame of the plot area
};

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string draw_panel(const Panel& p, const std::string& title, const std::vector<Series>& series,
                       double x_min, double x_max, const std::string& x_label = "epoch") {
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (const auto& s : series) {
    for (const auto& [x, y] : s.points) {
      if (!std::isfinite(y)) continue;
      lo = std::min(lo, y);
      hi = std::max(hi, y);
    }
  }
  if (!std::isfinite(lo)) lo = 0, hi = 1;
  if (hi - lo < 1e-9) hi = lo + 1e-3;
  const double pad = 0.05 * (hi - lo);
  lo -= pad;
  hi += pad;
  x_max = std::max(x_max, x_min + 1e-9);
  auto px = [&](double x) { return p.x0 + (x - x_min) / (x_max - x_min) * p.width; };
  auto py = [&](double y) { return p.y0 + p.height - (y - lo) / (hi - lo) * p.height; };

  std::string svg = fmt::format(
      "<rect x='{:.1f}' y='{:.1f}' width='{:.1f}' height='{:.1f}' fill='white' stroke='#888'/>\n"
      "<text x='{:.1f}' y='{:.1f}' font-size='14' text-anchor='middle'>{}</text>\n",
      p.x0, p.y0, p.width, p.height, p.x0 + p.width / 2, p.y0 - 8, escape(title));
  for (int i = 0; i <= 4; ++i) {  // y grid with labels
    const double v = lo + (hi - lo) * i / 4.0;
    svg += fmt::format(
        "<line x1='{:.1f}' y1='{:.1f}' x2='{:.1f}' y2='{:.1f}' stroke='#eee'/>"
        "<text x='{:.1f}' y='{:.1f}' font-size='10' text-anchor='end'>{:.4g}</text>\n",
        p.x0, py(v), p.x0 + p.width, py(v), p.x0 - 4, py(v) + 3, v);
  }
  for (int i = 0; i <= 4; ++i) {  // x labels
    const double x = x_min + (x_max - x_min) * i / 4.0;
    svg += fmt::format("<text x='{:.1f}' y='{:.1f}' font-size='10' text-anchor='middle'>{:.3g}</text>\n",
                       px(x), p.y0 + p.height + 14, x);
  }
  svg += fmt::format("<text x='{:.1f}' y='{:.1f}' font-size='11' text-anchor='middle'>{}</text>\n",
                     p.x0 + p.width / 2, p.y0 + p.height + 30, escape(x_label));
  double legend_y = p.y0 + 14;
  for (const auto& s : series) {
    if (s.points.empty()) continue;
    std::string path;
    for (const auto& [x, y] : s.points) {
      if (!std::isfinite(y)) continue;
      path += fmt::format("{}{:.1f},{:.1f} ", path.empty() ? "M" : "L", px(x), py(y));
    }
    svg += fmt::format("<path d='{}' fill='none' stroke='{}' stroke-width='1.5'/>\n", path, s.color);
    if (s.points.size() < 40) {
      for (const auto& [x, y] : s.points) {
        if (std::isfinite(y)) {
          svg += fmt::format("<circle cx='{:.1f}' cy='{:.1f}' r='2.5' fill='{}'/>\n", px(x), py(y), s.color);
        }
      }
    }
    svg += fmt::format(
        "<line x1='{:.1f}' y1='{:.1f}' x2='{:.1f}' y2='{:.1f}' stroke='{}' stroke-width='2'/>"
        "<text x='{:.1f}' y='{:.1f}' font-size='11'>{}</text>\n",
        p.x0 + p.width - 90, legend_y - 4, p.x0 + p.width - 70, legend_y - 4, s.color,
        p.x0 + p.width - 65, legend_y, escape(s.label));
    legend_y += 16;
  }
  return svg;
}

}  // namespace

std::string render_curves_svg(const std::vector<MetricRow>& history, const std::string& title) {
  // x position: fractional epoch. Train rows carry the step; map steps to epochs by the epoch field.
  std::int64_t steps_per_epoch = 0;
  for (const auto& r : history) {
    if (r.kind == "test" && r.epoch > 0) steps_per_epoch = std::max(steps_per_epoch, r.step / r.epoch);
  }
  auto x_of = [&](const MetricRow& r) {
    if (r.kind == "test" || steps_per_epoch == 0) return static_cast<double>(r.epoch);
    return static_cast<double>(r.step) / static_cast<double>(steps_per_epoch);
  };
  Series train_loss{"train", "#1f77b4", {}}, test_loss{"test", "#d62728", {}};
  Series train_acc{"train", "#1f77b4", {}}, test_acc{"test", "#d62728", {}};
  double x_max = 0;
  for (const auto& r : history) {
    const double x = x_of(r);
    x_max = std::max(x_max, x);
    if (r.kind == "train") {
      train_loss.points.emplace_back(x, r.loss);
      train_acc.points.emplace_back(x, 100.0 * r.accuracy);
    } else if (r.kind == "test") {
      test_loss.points.emplace_back(x, r.loss);
      test_acc.points.emplace_back(x, 100.0 * r.accuracy);
    }
  }
  std::string svg =
      "<svg xmlns='http://www.w3.org/2000/svg' width='960' height='400' font-family='sans-serif'>\n"
      "<rect width='100%' height='100%' fill='#fafafa'/>\n";
  svg += fmt::format("<text x='480' y='22' font-size='16' text-anchor='middle'>{}</text>\n", escape(title));
  svg += draw_panel({60, 60, 380, 280}, "loss", {train_loss, test_loss}, 0.0, x_max);
  svg += draw_panel({540, 60, 380, 280}, "accuracy (%)", {train_acc, test_acc}, 0.0, x_max);
  svg += "</svg>\n";
  return svg;
}

std::string render_xy_svg(const std::string& title, const std::string& y_label,
                          const std::string& x_label, const std::vector<PlotSeries>& series) {
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (const auto& s : series) {
    for (const auto& [x, y] : s.points) {
      lo = std::min(lo, x);
      hi = std::max(hi, x);
    }
  }
  if (!std::isfinite(lo)) lo = 0, hi = 1;
  const double pad = 0.05 * std::max(hi - lo, 1e-9);  // and 5 pads on the right: the legend
  std::string svg =
      "<svg xmlns='http://www.w3.org/2000/svg' width='640' height='420' font-family='sans-serif'>\n"
      "<rect width='100%' height='100%' fill='#fafafa'/>\n";
  svg += fmt::format("<text x='320' y='22' font-size='16' text-anchor='middle'>{}</text>\n",
                     escape(title));
  svg += draw_panel({70, 60, 540, 300}, y_label, series, lo - pad, hi + 5 * pad, x_label);
  svg += "</svg>\n";
  return svg;
}

void write_svg(const std::string& svg, const std::string& path) {
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "w");
  core::check(f != nullptr, "cannot write '{}'", tmp);
  std::fwrite(svg.data(), 1, svg.size(), f);
  std::fclose(f);
  std::filesystem::rename(tmp, path);
}

void write_curves_svg(const std::vector<MetricRow>& history, const std::string& title,
                      const std::string& path) {
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "w");
  core::check(f != nullptr, "cannot write '{}'", tmp);
  const std::string svg = render_curves_svg(history, title);
  std::fwrite(svg.data(), 1, svg.size(), f);
  std::fclose(f);
  std::filesystem::rename(tmp, path);
}

}  // namespace lowbit::app
