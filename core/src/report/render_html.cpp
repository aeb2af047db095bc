// The report as one self-contained HTML page: tables written here, plots drawn in the browser by the embedded
// Chart.js from the same data as the JSON export. The page records what it drew (and any script error) in
// #mmsr-render-status, which the browser test reads.
#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "chartjs_asset.h"
#include "internal.h"
#include "mmsr/report.h"

namespace mmsr::report_detail {
namespace {

std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      default: o += c;
    }
  }
  return o;
}

// Text inside <script>: "</" would end the element early.
std::string script_safe(const std::string& s) {
  std::string o;
  o.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '<' && i + 1 < s.size() && s[i + 1] == '/') {
      o += "<\\/";
      ++i;
    } else {
      o += s[i];
    }
  }
  return o;
}

const char* kStyle = R"CSS(
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:18px 28px}header h1{margin:0;font-size:22px}header p{margin:4px 0 0;color:#c9d1e0}
nav{padding:10px 28px;background:#fff;border-bottom:1px solid #e3e6eb}nav a{margin-right:16px;color:#2458c6;text-decoration:none}
main{padding:8px 28px 40px}section.board{background:#fff;border:1px solid #e3e6eb;border-radius:8px;padding:16px 20px;margin:18px 0}
h2{margin:4px 0 8px;font-size:19px}h3{margin:22px 0 8px;font-size:15px;color:#39414f}
table{border-collapse:collapse;margin:6px 0;font-variant-numeric:tabular-nums}th,td{padding:4px 9px;border-bottom:1px solid #eceef2;text-align:right;white-space:nowrap}
th{background:#f1f3f6;font-weight:600}td:first-child,th:first-child{text-align:left}tr.reference td{background:#f5f9ff}
.best{font-weight:700}.second{text-decoration:underline}.sd{color:#7a8294;font-size:12px}.mark{color:#c0392b;font-weight:700}
.up{color:#1e7d32}.down{color:#b3261e}.legend{color:#4b5363;font-size:13px;max-width:1100px}
dl.card{display:grid;grid-template-columns:max-content auto;gap:2px 14px;margin:4px 0 8px;font-size:13px}dl.card dt{font-weight:600;color:#39414f}dl.card dd{margin:0}
.plots{display:flex;flex-wrap:wrap;gap:14px}.plot{width:520px;height:300px;border:1px solid #eceef2;border-radius:6px;padding:6px;background:#fff}
.plot.small{width:356px;height:290px}.plot.wide{width:1100px;height:380px}.plot.half{width:545px;height:360px}.scroll{overflow-x:auto}details{margin:6px 0}summary{cursor:pointer;color:#2458c6}
#mmsr-render-status{display:none}
)CSS";

// Draws every plot from the embedded report data and records what was drawn.
const char* kScript = R"JS(
(function () {
  const status = { errors: window.__mmsrErrors, charts: [], tables: {} };
  const palette = ['#2458c6', '#d9480f', '#2b8a3e', '#9c36b5', '#e8590c', '#0b7285', '#c2255c', '#5f3dc4',
                   '#74b816', '#495057', '#f59f00', '#1098ad'];
  const color = (i) => palette[i % palette.length];
  const data = JSON.parse(document.getElementById('mmsr-data').textContent);
  Chart.defaults.font.size = 11;
  Chart.defaults.plugins.legend.labels.boxWidth = 12;
  const sideLegend = { position: 'right', labels: { boxWidth: 10 } };
  const made = [];
  function chart(id, kind, config) {
    const canvas = document.getElementById(id);
    if (!canvas) return;
    try {
      config.options = Object.assign({ animation: false, responsive: true, maintainAspectRatio: false }, config.options || {});
      made.push({ id: id, kind: kind, chart: new Chart(canvas, config) });
    } catch (e) {
      status.errors.push(id + ': ' + e.message);
    }
  }
  function title(text) { return { display: true, text: text }; }
  data.forEach(function (board, b) {
    const sel = board.select;
    // Popularity groups (ODMT's Figure 4): the selection metric per group of the target's training popularity.
    const groups = new Set();
    board.rows.forEach(r => Object.keys(r.by_popularity_group || {}).forEach(g => groups.add(g)));
    const glist = Array.from(groups).sort((a, b) => a - b);
    if (glist.length) {
      chart('b' + b + '-popularity', 'popularity', {
        type: 'bar',
        data: { labels: glist.map(g => g === '0' ? '0 (unseen)' : g),
                datasets: board.rows.map((r, i) => ({ label: r.label, backgroundColor: color(i),
                  data: glist.map(g => r.by_popularity_group && r.by_popularity_group[g] ? r.by_popularity_group[g].mean : null) })) },
        options: { plugins: { title: title('test ' + sel + ' by popularity group of the target'), legend: sideLegend },
                   scales: { x: { title: title('popularity group (least popular first)') }, y: { title: title(sel) } } } });
    }
    // Training curves (ODMT's Figure 2): loss terms against the validation metric, per epoch.
    board.rows.forEach(function (r, i) {
      if (!r.curve || !r.curve.length) return;
      const epochs = r.curve.map(e => e.epoch);
      const termNames = Object.keys(r.curve[0].terms || {});
      const sets = [{ label: 'loss', data: r.curve.map(e => e.loss), borderColor: '#1d2330', yAxisID: 'y', pointRadius: 1 }];
      if (termNames.length > 1)
        termNames.forEach((t, k) => sets.push({ label: t, data: r.curve.map(e => e.terms[t]), borderColor: color(k + 1),
                                                borderDash: [4, 3], yAxisID: 'y', pointRadius: 1 }));
      sets.push({ label: 'valid ' + sel, data: r.curve.map(e => e.valid), borderColor: '#c0392b', yAxisID: 'y1',
                  pointRadius: 1, spanGaps: true });
      chart('b' + b + '-curve-' + i, 'curve', {
        type: 'line', data: { labels: epochs, datasets: sets },
        options: { plugins: { title: title(r.label), legend: { position: 'bottom', labels: { boxWidth: 10, font: { size: 10 } } } }, scales: { x: { title: title('epoch') },
                   y: { position: 'left', title: title('loss') },
                   y1: { position: 'right', title: title('valid ' + sel), grid: { drawOnChartArea: false } } } } });
    });
    // Accuracy against cost with the Pareto front (higher metric, lower cost).
    [['train_seconds', 'training time (s)', 'time'], ['peak_rss_mb', 'peak memory (MB)', 'memory']].forEach(function (c) {
      const pts = board.rows.map((r, i) => ({ x: r[c[0]], y: r.metrics[sel] ? r.metrics[sel].mean : null, label: r.label, i: i }))
                            .filter(p => p.y !== null && p.x > 0);
      if (!pts.length) return;
      const sorted = pts.slice().sort((p, q) => p.x - q.x || q.y - p.y);
      const front = [];
      sorted.forEach(p => { if (!front.length || p.y > front[front.length - 1].y) front.push(p); });
      chart('b' + b + '-cost-' + c[2], 'pareto', {
        type: 'scatter',
        data: { datasets: pts.map(p => ({ label: p.label, data: [{ x: p.x, y: p.y }], backgroundColor: color(p.i), pointRadius: 5 }))
                  .concat([{ label: 'Pareto front', data: front.map(p => ({ x: p.x, y: p.y })), showLine: true,
                             borderColor: '#888', borderDash: [5, 4], pointRadius: 0, fill: false }]) },
        options: { plugins: { title: title('test ' + sel + ' against ' + c[1]), legend: sideLegend },
                   scales: { x: { type: 'logarithmic', title: title(c[1]) }, y: { title: title(sel) } } } });
    });
    // Hyper-parameter sensitivity: one plot per parameter a model's configurations vary in.
    (board.axes || []).forEach(function (a, k) {
      const values = [];
      Object.values(a.lines).forEach(pts => pts.forEach(p => { if (!values.includes(p.value)) values.push(p.value); }));
      const sets = [];
      Object.keys(a.lines).forEach(function (line, li) {
        const byValue = {};
        a.lines[line].forEach(p => { byValue[p.value] = p; });
        const name = line ? ' (' + line + ')' : '';
        sets.push({ label: 'test' + name, data: values.map(v => byValue[v] ? byValue[v].test : null), borderColor: color(li), spanGaps: true });
        sets.push({ label: 'valid' + name, data: values.map(v => byValue[v] ? byValue[v].valid : null), borderColor: color(li),
                    borderDash: [4, 3], spanGaps: true });
      });
      chart('b' + b + '-axis-' + k, 'sensitivity', {
        type: 'line', data: { labels: values, datasets: sets },
        options: { plugins: { title: title(a.model + ': ' + sel + ' against ' + a.parameter) },
                   scales: { x: { title: title(a.parameter) }, y: { title: title(sel) } } } });
    });
  });
  made.forEach(function (m) {
    let points = 0;
    m.chart.data.datasets.forEach(function (d, i) {
      m.chart.getDatasetMeta(i).data.forEach(function (el, j) {
        const v = d.data[j];
        const y = v !== null && typeof v === 'object' ? v.y : v;
        if (y !== null && y !== undefined && Number.isFinite(el.x) && Number.isFinite(el.y)) points += 1;
      });
    });
    status.charts.push({ id: m.id, kind: m.kind, points: points });
  });
  document.querySelectorAll('table[data-table]').forEach(t => { status.tables[t.dataset.table] = t.tBodies[0].rows.length; });
  document.getElementById('mmsr-render-status').textContent = JSON.stringify(status);
  document.body.dataset.rendered = '1';
})();
)JS";

std::string metric_cell(const Leaderboard& b, const LeaderboardRow& r, size_t i) {
  const auto& s = r.summary[i];
  std::string cls = r.place[i] == 1 ? "best" : r.place[i] == 2 ? "second" : "";
  std::string mark, tip = fmt::format("95% CI [{:.4f}, {:.4f}] over {} seeds", s.ci_low, s.ci_high, s.n);
  if (!r.vs_reference.empty() && r.vs_reference[i].users > 0) {
    const auto& c = r.vs_reference[i];
    mark = significance_mark(c.wilcoxon_holm, b.alpha);
    tip += fmt::format("; vs reference {}: Wilcoxon p {:.3g} (Holm {:.3g}), paired t p {:.3g} (Holm {:.3g})",
                       signed_percent(c.improvement), c.wilcoxon.p_value, c.wilcoxon_holm, c.t.p_value, c.t_holm);
  }
  return fmt::format("<td title=\"{}\"><span class=\"{}\">{:.4f}</span> <span class=\"sd\">{}</span>{}</td>",
                     esc(tip), cls, s.mean, s.n > 1 ? fmt::format("± {:.4f}", s.sd) : std::string("(1 seed)"),
                     mark.empty() ? "" : "<span class=\"mark\">" + mark + "</span>");
}

void leaderboard_table(const Leaderboard& b, size_t bi, std::ostringstream& out) {
  const auto& labels = b.rows[0].metric_labels;
  const size_t col = select_column(labels, b.select);
  std::map<std::string, int> configs = configurations_per_model(b);
  bool several_configs = false;
  for (const auto& [m, n] : configs) several_configs = several_configs || n > 1;
  out << "<div class=\"scroll\"><table data-table=\"b" << bi << "-leaderboard\"><thead><tr><th>model</th><th>seeds</th>";
  for (const auto& l : labels) out << "<th>" << esc(l) << "</th>";
  if (b.reference >= 0) out << "<th>Δ " << esc(b.select) << "</th>";
  out << "<th>best epoch</th><th>train time</th><th>peak memory</th></tr></thead><tbody>";
  for (size_t ri = 0; ri < b.rows.size(); ++ri) {
    const auto& r = b.rows[ri];
    const bool ref = int(ri) == b.reference;
    out << "<tr" << (ref ? " class=\"reference\"" : "") << "><td>" << esc(r.label())
        << (configs[r.model] > 1 && r.selected ? " †" : "") << (ref ? " <em>(reference)</em>" : "") << "</td><td>"
        << r.seeds.size() << "</td>";
    for (size_t i = 0; i < labels.size(); ++i) out << metric_cell(b, r, i);
    if (b.reference >= 0) {
      if (ref || r.vs_reference.empty()) {
        out << "<td></td>";
      } else {
        double imp = r.vs_reference[col].improvement;
        out << "<td class=\"" << (imp >= 0 ? "up" : "down") << "\">" << signed_percent(imp) << "</td>";
      }
    }
    out << fmt::format("<td>{:.1f}{}</td><td>{}</td><td>{:.0f} MB</td></tr>", r.mean_best_epoch,
                       r.capped_seeds > 0 ? " ‡" : "", human_seconds(r.mean_train_seconds), r.mean_peak_rss_mb);
  }
  out << "</tbody></table></div>";
  out << "<p class=\"legend\">Cells: " << esc(b.split) << " mean <span class=\"sd\">± standard deviation</span> over "
      << "seeds (hover for the 95% interval and the tests); bold = best, underlined = second.";
  if (b.reference >= 0)
    out << fmt::format(" Δ: change of {} against the reference <b>{}</b> ({}); * / **: Holm-adjusted Wilcoxon "
                       "signed-rank p &lt; {} / {} over test targets.",
                       esc(b.select), esc(b.rows[size_t(b.reference)].label()), esc(b.reference_rule), b.alpha,
                       b.alpha / 5);
  if (several_configs) out << " †: the configuration of its model chosen on validation " << esc(b.select) << ".";
  for (const auto& r : b.rows)
    if (r.capped_seeds > 0)
      out << fmt::format(" ‡ {}: chosen at its last epoch ({}) in {} of {} seeds, still improving when its budget "
                         "ended: a budget's numbers, not a converged model's.",
                         esc(r.label()), r.epoch_budget, r.capped_seeds, r.seeds.size());
  out << "</p>";
}

void significance_header(size_t bi, const std::string& id, bool metric_column, std::ostringstream& out) {
  out << "<div class=\"scroll\"><table data-table=\"b" << bi << "-" << id << "\"><thead><tr><th>model</th>"
      << (metric_column ? "<th>metric</th>" : "<th>mean [95% CI]</th>")
      << "<th>Δ</th><th>Wilcoxon p</th><th>Holm</th><th>r</th><th>t p</th><th>Holm</th><th>d_z</th><th>targets</th>"
         "<th>seeds paired</th></tr></thead><tbody>";
}

std::string p_value(double v) { return v < 1e-300 ? std::string("&lt;1e-300") : fmt::format("{:.3g}", v); }

// One comparison with the reference: metric i of row r (the metric's name, or its mean and interval).
void significance_line(const Leaderboard& b, const LeaderboardRow& r, size_t i, bool metric_column,
                       std::ostringstream& out) {
  const auto& c = r.vs_reference[i];
  std::string seeds;
  for (auto s : c.seeds) seeds += (seeds.empty() ? "" : ", ") + std::to_string(s);
  const auto& s = r.summary[i];
  std::string second = metric_column ? esc(b.rows[0].metric_labels[i])
                       : s.n > 1     ? fmt::format("{:.4f} [{:.4f}, {:.4f}]", s.mean, s.ci_low, s.ci_high)
                                     : fmt::format("{:.4f} (1 seed)", s.mean);
  out << fmt::format("<tr><td>{}</td><td>{}</td><td class=\"{}\">{}</td><td>{}</td><td>{}{}</td>"
                     "<td>{:+.3f}</td><td>{}</td><td>{}</td><td>{:+.3f}</td><td>{}</td><td>{}</td></tr>",
                     esc(r.label()), second, c.improvement >= 0 ? "up" : "down", signed_percent(c.improvement),
                     p_value(c.wilcoxon.p_value), p_value(c.wilcoxon_holm),
                     c.wilcoxon_holm < b.alpha ? " <span class=\"mark\">*</span>" : "", c.wilcoxon.effect,
                     p_value(c.t.p_value), p_value(c.t_holm), std::isfinite(c.t.effect) ? c.t.effect : 0.0, c.users,
                     seeds.empty() ? "none: seed means" : seeds);
}

void significance_table(const Leaderboard& b, size_t bi, std::ostringstream& out) {
  if (b.reference < 0) return;
  size_t tests = 0;
  for (const auto& r : b.rows)
    for (const auto& c : r.vs_reference) tests += c.users > 0;
  if (tests == 0) return;
  out << fmt::format("<h3 id=\"b{}-sec-significance\">Significance against {} on {}</h3><p class=\"legend\">Each test target (one per user under "
                     "leave-one-out) is one pair: its metric over the seeds both rows share, averaged. Wilcoxon signed-rank (effect: rank-biserial r) and "
                     "paired t (effect: d_z); Holm's correction over the board's {} comparisons of each test.</p>",
                     bi, esc(b.rows[size_t(b.reference)].label()), esc(b.select), tests);
  const size_t col = select_column(b.rows[0].metric_labels, b.select);
  significance_header(bi, "significance", false, out);
  for (const auto& r : b.rows)
    if (!r.vs_reference.empty() && r.vs_reference[col].users > 0) significance_line(b, r, col, false, out);
  out << "</tbody></table></div><details><summary>every metric</summary>";
  significance_header(bi, "significance-all", true, out);
  for (const auto& r : b.rows)
    for (size_t i = 0; i < r.vs_reference.size(); ++i)
      if (r.vs_reference[i].users > 0) significance_line(b, r, i, true, out);
  out << "</tbody></table></div></details>";
}

// A table cell of a mean over seeds and its standard deviation.
std::string sd_cell(double mean, double sd) {
  return fmt::format("<td>{:.4f} <span class=\"sd\">± {:.4f}</span></td>", mean, sd);
}

void branch_table(const Leaderboard& b, size_t bi, std::ostringstream& out) {
  const std::vector<std::string> branches = side_branches(b);
  if (branches.empty()) return;
  out << "<h3 id=\"b" << bi << "-sec-branches\">By branch</h3><p class=\"legend\">Test " << esc(b.select)
      << " of each branch of the same trained model; fused (the mean of the branch scores) is what the board ranks.</p>"
      << "<table data-table=\"b" << bi << "-branches\"><thead><tr><th>model</th><th>fused</th>";
  for (const auto& br : branches) out << "<th>" << esc(br) << "</th>";
  out << "</tr></thead><tbody>";
  for (const auto& r : b.rows) {
    if (r.by_branch.empty()) continue;
    out << "<tr><td>" << esc(r.label()) << "</td>";
    auto cell = [&](const std::string& br) {
      auto it = r.by_branch.find(br);
      return it == r.by_branch.end() ? std::string("<td></td>")
                                     : sd_cell(it->second.first, it->second.second);
    };
    out << cell("fused");
    for (const auto& br : branches) out << cell(br);
    out << "</tr>";
  }
  out << "</tbody></table>";
}

void popularity_section(const Leaderboard& b, size_t bi, std::ostringstream& out) {
  const std::map<int64_t, int64_t> users = popularity_users(b);
  if (users.empty()) return;
  out << "<h3 id=\"b" << bi << "-sec-popularity\">By popularity of the test target</h3><p class=\"legend\">Group 0: items never seen in training; then the "
         "training items cut into equal-sized quantiles by count, least popular first. Test targets per group: ";
  for (auto it = users.begin(); it != users.end(); ++it)
    out << (it == users.begin() ? "" : ", ") << it->first << ": " << it->second;
  out << ".</p><div class=\"plots\"><div class=\"plot wide\"><canvas id=\"b" << bi << "-popularity\"></canvas></div></div>";
  out << "<details><summary>table</summary><table data-table=\"b" << bi << "-popularity\"><thead><tr><th>model</th>";
  for (const auto& [g, n] : users) out << "<th>group " << g << "</th>";
  out << "</tr></thead><tbody>";
  for (const auto& r : b.rows) {
    out << "<tr><td>" << esc(r.label()) << "</td>";
    for (const auto& [g, n] : users) {
      auto it = r.by_group.find(g);
      out << (it == r.by_group.end() ? std::string("<td></td>")
                                     : sd_cell(it->second.first, it->second.second));
    }
    out << "</tr>";
  }
  out << "</tbody></table></details>";
}

void beyond_section(const Leaderboard& b, size_t bi, std::ostringstream& out) {
  const auto labels = beyond_labels(b);
  if (labels.empty()) return;
  out << "<h3 id=\"b" << bi << "-sec-beyond\">Beyond accuracy</h3><p class=\"legend\">The test's top-K lists under "
         "full ranking: coverage = share of the catalogue recommended to anyone; popularity = mean training count of "
         "the recommended items (lower = less popularity bias); novelty = their mean self-information in bits; "
         "diversity = their mean pairwise cosine distance in the declared modality. Mean ± standard deviation over "
         "seeds; no per-target test.</p><table data-table=\"b" << bi << "-beyond\"><thead><tr><th>model</th>";
  for (const auto& l : labels) out << "<th>" << esc(l) << "</th>";
  out << "</tr></thead><tbody>";
  for (const auto& r : b.rows) {
    out << "<tr><td>" << esc(r.label()) << "</td>";
    for (const auto& l : labels) {
      auto it = r.beyond.find(l);
      out << (it == r.beyond.end() ? std::string("<td></td>")
                                   : sd_cell(it->second.mean, it->second.sd));
    }
    out << "</tr>";
  }
  out << "</tbody></table>";
}

void plots_section(const Leaderboard& b, size_t bi, std::ostringstream& out) {
  bool curves = false;
  for (const auto& r : b.rows) curves = curves || !r.curve.empty();
  if (curves) {
    out << "<h3 id=\"b" << bi << "-sec-curves\">Training curves</h3><p class=\"legend\">Mean over seeds per epoch: the loss and its terms (left axis) "
           "against the validation "
        << esc(b.select) << " (right axis).</p><div class=\"plots\">";
    for (size_t i = 0; i < b.rows.size(); ++i)
      if (!b.rows[i].curve.empty()) out << "<div class=\"plot small\"><canvas id=\"b" << bi << "-curve-" << i << "\"></canvas></div>";
    out << "</div>";
  }
  bool trained = false;
  for (const auto& r : b.rows) trained = trained || r.mean_train_seconds > 0;
  if (trained)
    out << "<h3 id=\"b" << bi << "-sec-cost\">Accuracy against cost</h3><p class=\"legend\">Test " << esc(b.select)
        << " against the mean training time and the peak memory of the run's process; the dashed line joins the "
           "configurations no other beats on both.</p><div class=\"plots\"><div class=\"plot half\"><canvas id=\"b"
        << bi << "-cost-time\"></canvas></div><div class=\"plot half\"><canvas id=\"b" << bi
        << "-cost-memory\"></canvas></div></div>";
  if (!b.axes.empty()) {
    out << "<h3 id=\"b" << bi << "-sec-axes\">Hyper-parameter sensitivity</h3><p class=\"legend\">For each parameter a model's configurations vary "
           "in: test (solid) and validation (dashed) "
        << esc(b.select) << ", one line per setting of the model's other varying parameters.</p><div class=\"plots\">";
    for (size_t k = 0; k < b.axes.size(); ++k)
      out << "<div class=\"plot\"><canvas id=\"b" << bi << "-axis-" << k << "\"></canvas></div>";
    out << "</div>";
  }
}

}  // namespace

std::string render_html(const std::vector<Leaderboard>& boards) {
  std::ostringstream out;
  out << "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>mmsr report</title><style>" << kStyle
      << "</style><script>window.__mmsrErrors=[];window.addEventListener('error',function(e){window.__mmsrErrors.push("
         "String(e.message));});</script></head><body><header><h1>mmsr leaderboard</h1><p>"
      << boards.size() << " board(s); one board per dataset and protocol, never mixed.</p></header><nav>";
  for (size_t bi = 0; bi < boards.size(); ++bi) {
    auto p = nlohmann::json::parse(boards[bi].protocol_json);
    out << "<a href=\"#board-" << bi << "\">" << esc(boards[bi].dataset_name) << " · "
        << (p.value("candidates", "full") == "sampled" ? fmt::format("{} negatives", p.value("negatives", 0)) : "full ranking")
        << "</a>";
  }
  out << "</nav><main>";
  if (boards.empty()) out << "<p>No finished runs in the store(s).</p>";
  for (size_t bi = 0; bi < boards.size(); ++bi) {
    const auto& b = boards[bi];
    auto p = nlohmann::json::parse(b.protocol_json);
    out << "<section class=\"board\" id=\"board-" << bi << "\"><h2>" << esc(b.dataset_name) << ": "
        << (p.value("candidates", "full") == "sampled" ? fmt::format("{} sampled negatives", p.value("negatives", 0))
                                                       : std::string("full ranking"))
        << " <span class=\"sd\">protocol " << esc(b.protocol_hash) << "</span></h2>";
    auto card = protocol_card(b);
    std::set<unsigned long long> seeds;
    double tied_min = 1, tied_max = 0;
    for (const auto& r : b.rows) {
      seeds.insert(r.seeds.begin(), r.seeds.end());
      tied_min = std::min(tied_min, r.tied_share.mean);
      tied_max = std::max(tied_max, r.tied_share.mean);
    }
    out << "<details open><summary>Protocol card</summary><dl class=\"card\"><dt>dataset</dt><dd>" << esc(b.dataset_name)
        << " (checksum " << esc(b.dataset_checksum) << ", " << esc(b.dataset_source) << ")</dd>";
    for (const auto& key : card_order())
      if (card.count(key)) out << "<dt>" << esc(key) << "</dt><dd>" << esc(card.at(key)) << "</dd>";
    std::string seed_text;
    for (auto s : seeds) seed_text += (seed_text.empty() ? "" : ", ") + std::to_string(s);
    out << "<dt>seeds</dt><dd>" << seed_text << "</dd><dt>tied targets</dt><dd>"
        << fmt::format("{:.1f}% to {:.1f}% of test targets across rows", 100 * tied_min, 100 * tied_max) << "</dd></dl></details>";
    if (!b.rows.empty()) {
      leaderboard_table(b, bi, out);
      significance_table(b, bi, out);
      branch_table(b, bi, out);
      popularity_section(b, bi, out);
      beyond_section(b, bi, out);
      plots_section(b, bi, out);
    }
    out << "</section>";
  }
  out << "</main><pre id=\"mmsr-render-status\">pending</pre>";
  out << "<script type=\"application/json\" id=\"mmsr-data\">" << script_safe(boards_json(boards).dump()) << "</script>";
  if (kChartJsAvailable) {
    out << "<script>" << script_safe(kChartJs) << "</script><script>" << kScript << "</script>";
  } else {
    out << "<script>document.getElementById('mmsr-render-status').textContent=JSON.stringify({errors:['this mmsr was "
           "built without Chart.js (libjs-chart.js): no plots'],charts:[],tables:{}});</script>";
  }
  out << "</body></html>\n";
  return out.str();
}

}  // namespace mmsr::report_detail
