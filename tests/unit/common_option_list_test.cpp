// common_option_list_test.cpp — list-valued options (common/option_list.hpp): repeated values,
// commas and white space as separators, empty items dropped, an unset option.
#include "common/option_list.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace postern {
namespace {

using Strings = std::vector<std::string>;

TEST(SplitList, SplitsEveryValueAtCommasAndWhiteSpace) {
  struct Case {
    Strings values;
    Strings want;
  };
  const std::vector<Case> cases = {
      {{}, {}},
      {{""}, {}},
      {{" , ,\t"}, {}},
      {{"a"}, {"a"}},
      {{"a,b"}, {"a", "b"}},
      {{"a, b", "c"}, {"a", "b", "c"}},
      {{" a\tb\nc ,, d "}, {"a", "b", "c", "d"}},
      {{"x.example", "x.example"}, {"x.example", "x.example"}},  // no de-duplication
  };
  for (const Case& c : cases) {
    EXPECT_EQ(split_list(c.values), c.want)
        << "values[0]=" << (c.values.empty() ? "" : c.values[0]);
  }
}

TEST(ListOption, ReadsAMultiValuedOptionOrNothing) {
  namespace po = boost::program_options;
  po::options_description desc;
  desc.add_options()("domain", po::value<Strings>());
  const char* argv[] = {"prog", "--domain", "a.example,b.example", "--domain", "c.example"};
  po::variables_map vm;
  po::store(po::parse_command_line(5, argv, desc), vm);
  EXPECT_EQ(list_option(vm, "domain"), (Strings{"a.example", "b.example", "c.example"}));
  EXPECT_EQ(list_option(vm, "selector"), Strings{});
}

}  // namespace
}  // namespace postern
