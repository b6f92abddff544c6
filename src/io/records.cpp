#include "mpipe/records.hpp"

#include <algorithm>

namespace mpipe {

namespace {

auto find(std::vector<attribute>& attributes, const std::string& name) {
  return std::find_if(attributes.begin(), attributes.end(),
                      [&](const attribute& a) { return a.first == name; });
}

}  // namespace

// Replacing in place keeps the order attributes were first set in, which is the order they are
// written in and read back in.
void run_record::set(const std::string& name, attribute_value value) {
  if (auto it = find(attributes, name); it != attributes.end()) {
    it->second = std::move(value);
  } else {
    attributes.emplace_back(name, std::move(value));
  }
}

const attribute_value* run_record::get(const std::string& name) const {
  for (const auto& [key, value] : attributes) {
    if (key == name) return &value;
  }
  return nullptr;
}

}  // namespace mpipe
