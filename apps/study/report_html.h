#pragma once
// report.html: one self-contained file (inline SVG and CSS, no scripts, no network) with the
// study's settings, learning curves with interval bands, interval plots of the aggregate metrics,
// performance profiles, the probability-of-improvement matrix and a table linking every run.
#include <filesystem>
#include <string>

namespace softrl::apps {

struct Report;
// `dir`: where the file goes (run links are relative to it).
std::string report_html(const Report& r, const std::filesystem::path& dir, const std::string& title,
                        const std::string& settings_text);
// The report's files in `dir`, each written atomically: summary.csv and summary.json
// (study_report.h), then report.html.
void write_report(const Report& r, const std::filesystem::path& dir, const std::string& title,
                  const std::string& settings_text);

}  // namespace softrl::apps
