// whitelist.cpp — postgrey whitelist files (see whitelist.hpp).
#include "policyd/greylist/whitelist.hpp"

#include <fstream>
#include <optional>
#include <sstream>

#include "common/ascii.hpp"
#include "common/config_error.hpp"

namespace postern::greylist {
namespace {

constexpr size_t max_input = 1024;

bool all_digits(std::string_view s) {
  if (s.empty() || s.size() > 3) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// Number of dot-separated fields when `s` is 1-3 digit groups only (postgrey's \d{1,3}), else 0.
size_t dotted_digit_groups(std::string_view s) {
  size_t n = 0;
  while (true) {
    size_t dot = s.find('.');
    if (!all_digits(s.substr(0, dot))) return 0;
    ++n;
    if (dot == std::string_view::npos) return n;
    s = s.substr(dot + 1);
  }
}

std::string trim(std::string_view line) {
  size_t hash = line.find('#');
  line = line.substr(0, hash);
  size_t b = line.find_first_not_of(" \t\r\n\f\v");
  if (b == std::string_view::npos) return "";
  size_t e = line.find_last_not_of(" \t\r\n\f\v");
  return std::string(line.substr(b, e - b + 1));
}

bool has_space(std::string_view s) {
  return s.find_first_of(" \t") != std::string_view::npos;
}

// "/regex/" → the regex; throws ConfigError on a bad one.
std::optional<std::regex> slash_regex(const std::string& entry, const std::string& where) {
  if (entry.size() < 3 || entry.front() != '/' || entry.back() != '/' || has_space(entry)) {
    return std::nullopt;
  }
  try {
    return std::regex(entry.substr(1, entry.size() - 2),
                      std::regex::ECMAScript | std::regex::icase | std::regex::optimize);
  } catch (const std::regex_error& e) {
    throw ConfigError(where + ": bad regular expression " + entry + ": " + e.what());
  }
}

// The client_name Postfix sends when the client has no verified name (SMTPD_POLICY_README).
constexpr std::string_view kUnknownName = "unknown";

bool regex_search_safe(const std::regex& re, std::string_view text) {
  try {
    return std::regex_search(text.begin(), text.end(), re);
  } catch (const std::regex_error&) {
    return false;  // too complex for this input: not a match
  }
}

template <class AddLine>
void for_each_entry(std::string_view text, const std::string& source, AddLine add_line) {
  size_t line_no = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;
    std::string entry = trim(line);
    if (entry.empty()) continue;
    add_line(entry, source + ":" + std::to_string(line_no));
  }
}

std::string read_file(const std::string& path, bool& missing) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    missing = true;
    return "";
  }
  std::ostringstream out;
  out << in.rdbuf();
  if (in.bad()) throw ConfigError(path + ": read error");
  return out.str();
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

void ClientWhitelist::add(std::string_view text, const std::string& source) {
  for_each_entry(text, source, [this](const std::string& entry, const std::string& where) {
    if (auto re = slash_regex(entry, where)) {
      unknown_matches_ = unknown_matches_ || regex_search_safe(*re, kUnknownName);
      regexes_.push_back(std::move(*re));
      return;
    }
    size_t slash = entry.find('/');
    std::string address = entry.substr(0, slash);
    size_t groups = dotted_digit_groups(address);
    try {
      if (groups == 4 || entry.find(':') != std::string::npos) {
        networks_.push_back(Cidr::parse(entry));
        return;
      }
      if ((groups == 3 || groups == 2) && slash == std::string::npos) {
        networks_.push_back(Cidr::parse(groups == 3 ? entry + ".0/24" : entry + ".0.0/16"));
        return;
      }
    } catch (const ConfigError& e) {
      throw ConfigError(where + ": " + e.what());
    }
    if (has_space(entry) || slash != std::string::npos) {
      throw ConfigError(where + ": \"" + entry + "\" is not a host name, address or /regex/");
    }
    names_.push_back(to_lower(entry));
  });
}

void ClientWhitelist::add_file(const std::string& path) {
  bool missing = false;
  std::string text = read_file(path, missing);
  if (missing) {
    if (ends_with(path, ".local")) return;
    throw ConfigError(path + ": cannot open whitelist file");
  }
  add(text, path);
}

bool ClientWhitelist::matches_name(std::string_view client_name) const {
  if (client_name.size() > max_input) return false;
  std::string name = to_lower(client_name);
  for (const auto& n : names_) {
    // postgrey: qr{(?:^|\.)\Q$name\E$}i
    if (name.size() >= n.size() && name.compare(name.size() - n.size(), n.size(), n) == 0 &&
        (name.size() == n.size() || name[name.size() - n.size() - 1] == '.')) {
      return true;
    }
  }
  if (client_name == kUnknownName) return unknown_matches_;
  for (const auto& re : regexes_) {
    if (regex_search_safe(re, client_name)) return true;
  }
  return false;
}

bool ClientWhitelist::matches(std::string_view client_name, std::string_view client_address) const {
  // The address first: a CIDR test is cheaper than the name's regexes; either one matches.
  if (client_address.size() <= max_input) {
    if (auto address = IpAddress::parse(client_address)) {
      for (const auto& net : networks_) {
        if (net.contains(*address)) return true;
      }
    }
  }
  return matches_name(client_name);
}

void RecipientWhitelist::add(std::string_view text, const std::string& source) {
  for_each_entry(text, source, [this](const std::string& entry, const std::string& where) {
    if (auto re = slash_regex(entry, where)) {
      regexes_.push_back(std::move(*re));
      return;
    }
    if (has_space(entry)) throw ConfigError(where + ": \"" + entry + "\" is not an address");
    size_t at = entry.find('@');
    Entry e;
    if (at == std::string::npos) {
      e.domain = to_lower(entry);
    } else {
      e.user = to_lower(entry.substr(0, at));
      e.domain = to_lower(entry.substr(at + 1));
      if (e.user.empty()) throw ConfigError(where + ": \"" + entry + "\" has no user before '@'");
    }
    entries_.push_back(std::move(e));
  });
}

void RecipientWhitelist::add_file(const std::string& path) {
  bool missing = false;
  std::string text = read_file(path, missing);
  if (missing) {
    if (ends_with(path, ".local")) return;
    throw ConfigError(path + ": cannot open whitelist file");
  }
  add(text, path);
}

bool RecipientWhitelist::matches(std::string_view recipient) const {
  if (recipient.size() > max_input) return false;
  std::string rcpt = to_lower(recipient);
  size_t at = rcpt.find('@');
  for (const auto& e : entries_) {
    if (e.user.empty()) {
      // postgrey: qr{(?:\@|\.)\Q$domain\E$}i
      if (rcpt.size() > e.domain.size() &&
          rcpt.compare(rcpt.size() - e.domain.size(), e.domain.size(), e.domain) == 0) {
        char before = rcpt[rcpt.size() - e.domain.size() - 1];
        if (before == '@' || before == '.') return true;
      }
      continue;
    }
    // postgrey: qr{^\Q$user\E(?:\+[^@]+)?\@\Q$domain\E$}i (domain part omitted for "user@")
    if (at == std::string::npos) continue;
    std::string_view local(rcpt.data(), at);
    if (local.substr(0, e.user.size()) != e.user) continue;
    std::string_view ext = local.substr(e.user.size());
    if (!ext.empty() && (ext.front() != '+' || ext.size() < 2)) continue;
    if (e.domain.empty() || std::string_view(rcpt).substr(at + 1) == e.domain) return true;
  }
  for (const auto& re : regexes_) {
    if (regex_search_safe(re, recipient)) return true;
  }
  return false;
}

}  // namespace postern::greylist
