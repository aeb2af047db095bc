// Chart.js (Debian's libjs-chart.js, MIT licence), embedded at build time by cmake/EmbedFile.cmake so that HTML
// reports work offline from a single file. Unavailable when the package was missing when mmsr was configured.
#pragma once

namespace mmsr::report_detail {
extern const bool kChartJsAvailable;
extern const char* const kChartJs;
}  // namespace mmsr::report_detail
