#pragma once
// Whole-file reads for dataset loaders.

#include <cstdint>
#include <string>
#include <vector>

namespace lowbit::data {

// The bytes of `path`, gunzipped when the file is gzip-compressed (zlib detects it from the
// content, so plain files read as they are). Throws core::Error naming the file when it cannot be
// opened, read, or when a gzip stream is truncated or corrupt.
std::vector<std::uint8_t> read_file_maybe_gz(const std::string& path);

// True when `path` names an existing regular file.
bool is_regular_file(const std::string& path);

// `dir` + "/" + `name`, without doubling a trailing slash; `dir` empty gives `name`.
std::string join_path(const std::string& dir, const std::string& name);

}  // namespace lowbit::data
