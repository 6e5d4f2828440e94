// access_table.cpp — the access(5)-syntax override table (access_table.hpp).
#include "policyd/rcpt/access_table.hpp"

#include <array>
#include <fstream>
#include <iterator>
#include <vector>

#include "common/ascii.hpp"
#include "common/config_error.hpp"

namespace postern::rcpt {
namespace {

constexpr size_t max_line_bytes = 4096;

std::string lower(std::string_view text) {
  return to_lower(text);
}

bool is_space(char c) {
  return c == ' ' || c == '\t';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (is_space(s.front()) || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (is_space(s.back()) || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// A domain in a key: labels of letters, digits, '-', '_' (and an address literal's "[...]"
// is not supported), no empty label.
bool valid_domain(std::string_view d) {
  if (d.empty() || d.size() > 253) return false;
  size_t label = 0;
  for (char c : d) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!ok || ++label > 63) return false;
  }
  return label > 0;
}

// A local part in a key: printable ASCII without spaces (quoted forms are taken as written).
bool valid_local(std::string_view l) {
  if (l.empty() || l.size() > 64) return false;
  for (char c : l) {
    if (c <= ' ' || c > '~') return false;
  }
  return true;
}

// Why `key` (lower-case) is not a table key; "" when it is one.
std::string key_problem(std::string_view key) {
  size_t at = key.rfind('@');
  if (at == std::string_view::npos) {
    std::string_view d = key.front() == '.' ? key.substr(1) : key;
    return valid_domain(d) ? "" : "'" + std::string(key) + "' is not a domain name";
  }
  std::string_view local = key.substr(0, at), domain = key.substr(at + 1);
  if (local.empty() && domain.empty()) return "'@' alone is not a key";
  if (!local.empty() && !valid_local(local)) {
    return "'" + std::string(local) + "' is not a local part";
  }
  if (!domain.empty() && !valid_domain(domain)) {
    return "'" + std::string(domain) + "' is not a domain name";
  }
  return "";
}

void add_line(std::unordered_map<std::string, std::string>& entries, std::string_view line,
              const std::string& where) {
  size_t end_of_key = 0;
  while (end_of_key < line.size() && !is_space(line[end_of_key])) ++end_of_key;
  std::string key = lower(line.substr(0, end_of_key));
  std::string_view action = trim(line.substr(end_of_key));
  if (action.empty()) throw ConfigError(where + ": key '" + key + "' has no action");
  if (std::string why = key_problem(key); !why.empty()) throw ConfigError(where + ": " + why);
  if (!is_access_action(action)) {
    std::string_view word = action.substr(0, action.find_first_of(" \t"));
    throw ConfigError(where + ": '" + std::string(word) +
                      "' is not an access(5) action (OK, DUNNO, REJECT, DEFER, "
                      "DEFER_IF_PERMIT, 4NN/5NN text, ...)");
  }
  if (!entries.emplace(key, std::string(action)).second) {
    throw ConfigError(where + ": key '" + key + "' repeated");
  }
}

}  // namespace

bool is_access_action(std::string_view action) {
  std::string word = lower(action.substr(0, action.find_first_of(" \t")));
  static constexpr std::array<std::string_view, 17> words = {"ok",
                                                             "dunno",
                                                             "reject",
                                                             "defer",
                                                             "defer_if_permit",
                                                             "defer_if_reject",
                                                             "discard",
                                                             "hold",
                                                             "redirect",
                                                             "filter",
                                                             "info",
                                                             "warn",
                                                             "bcc",
                                                             "prepend",
                                                             "permit",
                                                             "reject_unauth_destination",
                                                             "defer_unauth_destination"};
  for (std::string_view w : words) {
    if (word == w) return true;
  }
  // 4NN or 5NN, optionally followed by text.
  return word.size() == 3 && (word[0] == '4' || word[0] == '5') && word[1] >= '0' &&
         word[1] <= '9' && word[2] >= '0' && word[2] <= '9';
}

AccessTable AccessTable::parse(std::string_view text, const std::string& source) {
  AccessTable table;
  std::string logical;
  size_t logical_line = 0, number = 0;
  auto flush = [&] {
    if (!logical.empty()) {
      add_line(table.entries_, logical, source + ":" + std::to_string(logical_line));
    }
    logical.clear();
  };
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    ++number;
    std::string where = source + ":" + std::to_string(number);
    if (line.size() > max_line_bytes) {
      throw ConfigError(where + ": line longer than " + std::to_string(max_line_bytes) + " bytes");
    }
    if (line.find('\0') != std::string_view::npos) throw ConfigError(where + ": NUL byte");
    std::string_view trimmed = trim(line);
    if (trimmed.empty() || trimmed.front() == '#') continue;
    if (is_space(line.front())) {
      if (logical.empty()) throw ConfigError(where + ": continuation line without a key");
      logical += ' ';
      logical += trimmed;
      if (logical.size() > max_line_bytes) {
        throw ConfigError(where + ": logical line longer than " + std::to_string(max_line_bytes) +
                          " bytes");
      }
      continue;
    }
    flush();
    logical = std::string(trimmed);
    logical_line = number;
  }
  flush();
  return table;
}

AccessTable AccessTable::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(path + ": cannot read the access table");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw ConfigError(path + ": read error");
  return parse(text, path);
}

std::optional<TableVerdict> AccessTable::find(const std::string& key) const {
  auto it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  TableVerdict v;
  v.key = key;
  std::string word = lower(it->second.substr(0, it->second.find_first_of(" \t")));
  if (word == "ok") {
    v.kind = TableVerdict::Kind::Known;
  } else if (word == "dunno") {
    v.kind = TableVerdict::Kind::Dunno;
  } else {
    v.kind = TableVerdict::Kind::Action;
    v.action = it->second;
  }
  return v;
}

std::optional<TableVerdict> AccessTable::lookup(std::string_view address) const {
  std::string a = lower(address);
  size_t at = a.rfind('@');
  if (at == std::string::npos) return find(a);
  std::string local = a.substr(0, at), domain = a.substr(at + 1);
  std::vector<std::string> keys = {a};
  if (!domain.empty()) {
    keys.push_back(domain);
    keys.push_back("@" + domain);
    for (size_t dot = domain.find('.'); dot != std::string::npos; dot = domain.find('.', dot + 1)) {
      keys.push_back(domain.substr(dot));
    }
  }
  if (!local.empty()) keys.push_back(local + "@");
  for (const std::string& key : keys) {
    if (auto v = find(key)) return v;
  }
  return std::nullopt;
}

}  // namespace postern::rcpt
