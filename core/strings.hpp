#pragma once
// String helpers for error messages: edit distance and "did you mean" suggestions.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace lowbit::core {

// Levenshtein distance (insertions, deletions, substitutions each cost 1), case-sensitive.
std::size_t levenshtein(std::string_view a, std::string_view b);

// The candidate closest to `query` by case-insensitive Levenshtein distance, or "" when none is
// close enough to be a plausible typo. A candidate qualifies when its distance d satisfies
//   d <= max(2, |query| / 3)  and  d < max(|query|, |candidate|)
// (so "lr" never suggests "wd"). Ties go to the earliest candidate in `candidates`.
std::string closest_match(std::string_view query, const std::vector<std::string>& candidates);

}  // namespace lowbit::core
