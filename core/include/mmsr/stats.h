// The statistics a leaderboard prints: spread over seeds and paired significance tests over users.
// Conventions follow SciPy's defaults so that numbers can be checked against it (tests/unit/stats_test.cpp):
// Wilcoxon drops zero differences, uses the exact null distribution for n <= 50 without tied magnitudes and the
// normal approximation with the tie correction (no continuity correction) otherwise; p-values are two-sided.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace mmsr::stats {

struct Summary {
  size_t n = 0;
  double mean = 0;
  double sd = 0;       // sample standard deviation (n - 1); 0 for n < 2
  double ci_low = 0;   // 95% confidence interval of the mean (Student t); equal to the mean for n < 2
  double ci_high = 0;
};
Summary summarize(const std::vector<double>& values);

// Two-sided critical value of Student's t with df degrees of freedom (e.g. 4.303 for df = 2 at 95%).
double t_critical(double df, double confidence = 0.95);

struct PairedTest {
  std::string method;      // "wilcoxon exact", "wilcoxon normal", "paired t"
  size_t n = 0;            // pairs used (Wilcoxon: non-zero differences)
  double statistic = 0;    // Wilcoxon: min(W+, W-), as SciPy reports it; t: the t statistic
  double p_value = 1;
  // Wilcoxon: matched-pairs rank-biserial correlation (W+ - W-) / (W+ + W-), in [-1, 1];
  // t: Cohen's d_z = mean(x - y) / sd(x - y). Positive when x is larger.
  double effect = 0;
};
PairedTest wilcoxon_signed_rank(const std::vector<double>& x, const std::vector<double>& y);
PairedTest paired_t(const std::vector<double>& x, const std::vector<double>& y);

// Holm's step-down adjustment: adjusted p-values in the input order, monotone in the sorted order, capped at 1.
std::vector<double> holm(const std::vector<double>& p_values);

}  // namespace mmsr::stats
