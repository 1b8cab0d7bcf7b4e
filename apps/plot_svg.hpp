#pragma once
// Loss and accuracy curves of a run as a self-contained SVG (two panels, train and test series).

#include "apps/metrics.hpp"

#include <string>
#include <vector>

namespace lowbit::app {

std::string render_curves_svg(const std::vector<MetricRow>& history, const std::string& title);
// Writes the SVG atomically (temp file + rename) so a viewer never sees half a file.
void write_curves_svg(const std::vector<MetricRow>& history, const std::string& title,
                      const std::string& path);

}  // namespace lowbit::app
