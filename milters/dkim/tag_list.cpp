// tag_list.cpp — see tag_list.hpp.
#include "milters/dkim/tag_list.hpp"

namespace postern::dkim {
namespace {

bool is_fws(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

bool is_alpha(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

bool is_name_char(char c) {
  return is_alpha(c) || (c >= '0' && c <= '9') || c == '_';
}

// VALCHAR (%x21-3A / %x3C-7E) plus 8-bit octets; ';' ends the value before we get here.
bool is_value_char(char c) {
  auto u = static_cast<unsigned char>(c);
  return u > 0x20 && u != 0x7F;
}

size_t skip_fws(std::string_view text, size_t at) {
  while (at < text.size() && is_fws(text[at])) ++at;
  return at;
}

std::string quoted(std::string_view name) {
  return "\"" + std::string(name.substr(0, 32)) + "\"";
}

// Reads one tag-spec starting at a letter; returns the offset of its ';' (or the end).
size_t read_tag(std::string_view text, size_t at, TagList& list) {
  size_t name_begin = at;
  while (at < text.size() && is_name_char(text[at])) ++at;
  std::string_view name = text.substr(name_begin, at - name_begin);
  at = skip_fws(text, at);
  if (at >= text.size() || text[at] != '=') {
    list.error = "missing '=' after tag " + quoted(name);
    return text.size();
  }
  Tag tag{name, {}, at + 1, at + 1};
  size_t value_begin = skip_fws(text, at + 1);
  for (at = value_begin; at < text.size() && text[at] != ';'; ++at) {
    if (is_fws(text[at])) continue;
    if (!is_value_char(text[at])) {
      list.error = "control character in value of tag " + quoted(name);
      return text.size();
    }
    tag.value_end = at + 1;
  }
  if (tag.value_end < value_begin) tag.value_end = value_begin;
  tag.value = text.substr(value_begin, tag.value_end - value_begin);
  if (list.find(name) != nullptr) {
    list.error = "duplicate tag " + quoted(name);
  } else if (list.tags.size() >= kMaxTags) {
    list.error = "too many tags";
  } else {
    list.tags.push_back(tag);
  }
  return at;
}

}  // namespace

const Tag* TagList::find(std::string_view name) const {
  for (const Tag& tag : tags) {
    if (tag.name == name) return &tag;
  }
  return nullptr;
}

TagList parse_tag_list(std::string_view text) {
  TagList list;
  if (text.size() > kMaxTagListBytes) {
    list.error = "tag-list too large";
    return list;
  }
  size_t at = 0;
  while (list.ok()) {
    at = skip_fws(text, at);
    if (at >= text.size()) break;
    if (text[at] == ';') {  // empty tag-spec: tolerated
      ++at;
      continue;
    }
    if (!is_alpha(text[at])) {
      list.error = "tag name must start with a letter";
      break;
    }
    at = read_tag(text, at, list);
    if (at < text.size()) ++at;  // the ';'
  }
  if (list.ok() && list.tags.empty()) list.error = "empty tag-list";
  return list;
}

std::vector<std::string_view> split_colon_list(std::string_view value) {
  std::vector<std::string_view> items;
  for (;;) {
    size_t colon = value.find(':');
    std::string_view item = value.substr(0, colon);
    size_t begin = 0;
    while (begin < item.size() && is_fws(item[begin])) ++begin;
    size_t end = item.size();
    while (end > begin && is_fws(item[end - 1])) --end;
    items.push_back(item.substr(begin, end - begin));
    if (colon == std::string_view::npos) break;
    value.remove_prefix(colon + 1);
  }
  return items;
}

}  // namespace postern::dkim
