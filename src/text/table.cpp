#include "table.hpp"

#include <algorithm>
#include <ostream>

namespace mpipe {

text_table::text_table(std::vector<std::string> header, std::vector<bool> left)
    : left_(std::move(left)) {
  left_.resize(header.size(), false);
  rows_.push_back(std::move(header));
}

void text_table::add(std::vector<std::string> row) {
  row.resize(rows_[0].size());
  rows_.push_back(std::move(row));
}

void text_table::print(std::ostream& out, const std::string& indent) const {
  std::vector<std::size_t> width(rows_[0].size(), 0);
  for (const auto& r : rows_)
    for (std::size_t c = 0; c < r.size(); ++c) width[c] = std::max(width[c], r[c].size());
  for (const auto& r : rows_) {
    std::string line = indent;
    for (std::size_t c = 0; c < r.size(); ++c) {
      const std::string pad(width[c] - r[c].size(), ' ');
      line += left_[c] ? r[c] + pad : pad + r[c];
      if (c + 1 < r.size()) line += "  ";
    }
    while (line.size() > indent.size() && line.back() == ' ') line.pop_back();
    out << line << '\n';
  }
}

}  // namespace mpipe
