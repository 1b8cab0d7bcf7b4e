#include "core/strings.hpp"

#include <algorithm>
#include <cctype>
#include <numeric>

namespace lowbit::core {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

std::size_t levenshtein(std::string_view a, std::string_view b) {
  // One row of the dynamic-programming table: row[j] = distance(a[0..i), b[0..j)).
  std::vector<std::size_t> row(b.size() + 1);
  std::iota(row.begin(), row.end(), std::size_t{0});
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];  // distance(a[0..i-1), b[0..j-1))
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      const std::size_t subst = diag + (a[i - 1] == b[j - 1] ? 0 : 1);
      row[j] = std::min({up + 1, row[j - 1] + 1, subst});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string closest_match(std::string_view query, const std::vector<std::string>& candidates) {
  const std::string q = lower(query);
  const std::size_t limit = std::max<std::size_t>(2, q.size() / 3);
  const std::string* best = nullptr;
  std::size_t best_d = 0;
  for (const std::string& c : candidates) {
    const std::size_t d = levenshtein(q, lower(c));
    if (d > limit || d >= std::max(q.size(), c.size())) continue;
    if (best == nullptr || d < best_d) {
      best = &c;
      best_d = d;
    }
  }
  return best ? *best : std::string();
}

}  // namespace lowbit::core
