// option_list.hpp — list-valued daemon options ("--domain a.example,b.example"). A list option
// may be repeated and each value may itself hold several items separated by commas and/or
// white space, because an environment variable or a config-file line carries a whole list in
// one value (options.hpp: one environment variable gives one value).
// Bad input: none; empty items are dropped. Nothing here throws except std::bad_alloc.
#pragma once

#include <boost/program_options.hpp>
#include <cctype>
#include <string>
#include <vector>

namespace postern {

/// The items of `values` in order: {"a, b", "c"} → {"a", "b", "c"}; {" ,"} → {}.
inline std::vector<std::string> split_list(const std::vector<std::string>& values) {
  std::vector<std::string> out;
  for (const std::string& value : values) {
    std::string item;
    for (char c : value) {
      if (c == ',' || std::isspace(static_cast<unsigned char>(c))) {
        if (!item.empty()) out.push_back(std::move(item));
        item.clear();
      } else {
        item += c;
      }
    }
    if (!item.empty()) out.push_back(std::move(item));
  }
  return out;
}

/// The items of the multi-valued (std::vector<std::string>) option `name`; {} when not set.
inline std::vector<std::string> list_option(const boost::program_options::variables_map& values,
                                            const char* name) {
  if (!values.count(name)) return {};
  return split_list(values[name].as<std::vector<std::string>>());
}

}  // namespace postern
