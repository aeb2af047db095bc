#include "mmsr/stats.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

#include <boost/math/distributions/students_t.hpp>

namespace mmsr::stats {
namespace {

double mean_of(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0 : s / double(v.size());
}

double sd_of(const std::vector<double>& v, double mean) {
  if (v.size() < 2) return 0;
  double s = 0;
  for (double x : v) s += (x - mean) * (x - mean);
  return std::sqrt(s / double(v.size() - 1));
}

double normal_two_sided(double z) { return std::erfc(std::fabs(z) / std::sqrt(2.0)); }

void check_pairs(const std::vector<double>& x, const std::vector<double>& y) {
  if (x.size() != y.size()) throw std::invalid_argument("paired test: the two samples differ in length");
}

// P(W+ <= w) and P(W+ >= w) under the null for n untied, non-zero differences: counts of subsets of {1..n}
// by their sum (at most n(n+1)/2 = 1275 sums for n = 50; counts below 2^50 are exact in a double).
std::pair<double, double> exact_tails(size_t n, double w) {
  const size_t max_sum = n * (n + 1) / 2;
  std::vector<double> count(max_sum + 1, 0.0);
  count[0] = 1;
  for (size_t r = 1; r <= n; ++r)
    for (size_t s = max_sum; s >= r; --s) count[s] += count[s - r];
  const double total = std::ldexp(1.0, int(n));
  double low = 0, high = 0;
  for (size_t s = 0; s <= max_sum; ++s) {
    if (double(s) <= w + 1e-9) low += count[s];
    if (double(s) >= w - 1e-9) high += count[s];
  }
  return {low / total, high / total};
}

}  // namespace

Summary summarize(const std::vector<double>& values) {
  Summary s;
  s.n = values.size();
  s.mean = mean_of(values);
  s.sd = sd_of(values, s.mean);
  s.ci_low = s.ci_high = s.mean;
  if (s.n >= 2) {
    double half = t_critical(double(s.n - 1)) * s.sd / std::sqrt(double(s.n));
    s.ci_low = s.mean - half;
    s.ci_high = s.mean + half;
  }
  return s;
}

double t_critical(double df, double confidence) {
  boost::math::students_t dist(df);
  return boost::math::quantile(dist, 1.0 - (1.0 - confidence) / 2.0);
}

PairedTest wilcoxon_signed_rank(const std::vector<double>& x, const std::vector<double>& y) {
  check_pairs(x, y);
  std::vector<double> d;
  for (size_t i = 0; i < x.size(); ++i)
    if (x[i] != y[i]) d.push_back(x[i] - y[i]);
  PairedTest out;
  out.n = d.size();
  if (d.empty()) {
    out.method = "wilcoxon";
    return out;  // no evidence either way: p = 1, effect 0
  }
  // Average ranks of |d|, with the tie-group sizes for the variance correction.
  std::vector<size_t> order(d.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return std::fabs(d[a]) < std::fabs(d[b]); });
  std::vector<double> rank(d.size());
  double tie_term = 0;
  bool ties = false;
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j + 1 < order.size() && std::fabs(d[order[j + 1]]) == std::fabs(d[order[i]])) ++j;
    const double avg = (double(i + 1) + double(j + 1)) / 2.0;
    for (size_t k = i; k <= j; ++k) rank[order[k]] = avg;
    const double t = double(j - i + 1);
    if (t > 1) {
      ties = true;
      tie_term += t * t * t - t;
    }
    i = j + 1;
  }
  double w_plus = 0, w_minus = 0;
  for (size_t i = 0; i < d.size(); ++i) (d[i] > 0 ? w_plus : w_minus) += rank[i];
  const double n = double(d.size());
  out.statistic = std::min(w_plus, w_minus);
  out.effect = (w_plus - w_minus) / (w_plus + w_minus);
  if (d.size() <= 50 && !ties) {
    out.method = "wilcoxon exact";
    auto [low, high] = exact_tails(d.size(), w_plus);
    out.p_value = std::min(1.0, 2.0 * std::min(low, high));
  } else {
    out.method = "wilcoxon normal";
    const double mean = n * (n + 1) / 4.0;
    const double var = n * (n + 1) * (2 * n + 1) / 24.0 - tie_term / 48.0;
    out.p_value = var > 0 ? normal_two_sided((w_plus - mean) / std::sqrt(var)) : 1.0;
  }
  return out;
}

PairedTest paired_t(const std::vector<double>& x, const std::vector<double>& y) {
  check_pairs(x, y);
  std::vector<double> d(x.size());
  for (size_t i = 0; i < x.size(); ++i) d[i] = x[i] - y[i];
  PairedTest out;
  out.method = "paired t";
  out.n = d.size();
  if (d.size() < 2) return out;
  const double m = mean_of(d), sd = sd_of(d, m);
  if (sd == 0) {
    // Every user moved by the same amount: no spread to test against.
    out.p_value = m == 0 ? 1.0 : 0.0;
    out.statistic = m == 0 ? 0.0 : std::copysign(INFINITY, m);
    out.effect = m == 0 ? 0.0 : std::copysign(INFINITY, m);
    return out;
  }
  out.statistic = m / (sd / std::sqrt(double(d.size())));
  out.effect = m / sd;
  boost::math::students_t dist(double(d.size() - 1));
  out.p_value = std::min(1.0, 2.0 * boost::math::cdf(boost::math::complement(dist, std::fabs(out.statistic))));
  return out;
}

std::vector<double> holm(const std::vector<double>& p) {
  const size_t m = p.size();
  std::vector<size_t> order(m);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return p[a] < p[b]; });
  std::vector<double> adjusted(m);
  double running = 0;
  for (size_t i = 0; i < m; ++i) {
    running = std::max(running, std::min(1.0, double(m - i) * p[order[i]]));
    adjusted[order[i]] = running;
  }
  return adjusted;
}

}  // namespace mmsr::stats
