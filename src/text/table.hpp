// The one terminal table printer (internal, not installed): every column as wide as its widest
// cell (header included), two spaces between columns, the columns marked in `left` left-aligned
// (names, text), the others right-aligned (numbers). Long names widen their column instead of
// running into the next one ("Main->Render*same-host" once did).
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace mpipe {

class text_table {
 public:
  // left[c]: column c is text; missing entries are numbers.
  text_table(std::vector<std::string> header, std::vector<bool> left);
  void add(std::vector<std::string> row);  // as many cells as the header (padded or cut)
  void print(std::ostream& out, const std::string& indent = "  ") const;

 private:
  std::vector<std::vector<std::string>> rows_;
  std::vector<bool> left_;
};

}  // namespace mpipe
