#pragma once
// Loss and accuracy curves of a run as a self-contained SVG (two panels, train and test series),
// and a generic one-panel x-y plot.

#include "apps/metrics.hpp"

#include <string>
#include <utility>
#include <vector>

namespace lowbit::app {

std::string render_curves_svg(const std::vector<MetricRow>& history, const std::string& title);
// Writes the SVG atomically (temp file + rename) so a viewer never sees half a file.
void write_curves_svg(const std::vector<MetricRow>& history, const std::string& title,
                      const std::string& path);

// One panel of y against x for any data (e.g. accuracy against term-pair multiplies). Series with
// fewer than 40 points also get a dot per point, so one-point series show as markers.
struct PlotSeries {
  std::string label;
  std::string color;  // an SVG colour, e.g. "#1f77b4"
  std::vector<std::pair<double, double>> points;  // (x, y)
};
std::string render_xy_svg(const std::string& title, const std::string& y_label,
                          const std::string& x_label, const std::vector<PlotSeries>& series);
// Writes `svg` to `path` atomically (temp file + rename).
void write_svg(const std::string& svg, const std::string& path);

}  // namespace lowbit::app
