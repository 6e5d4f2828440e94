// key_table.cpp — KeyStore: the --domain shortcut and OpenDKIM KeyTable/SigningTable files.
// Lookup order follows opendkim.conf(5): plain SigningTable keys are tried as user@host, host,
// user@.parent (each parent domain in turn), .parent, user@*, *; refile patterns in file order.
#include "milters/dkim/key_table.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <vector>

#include "common/ascii.hpp"
#include "common/config_error.hpp"

namespace postern::dkim {
namespace {

constexpr size_t kMaxLineBytes = 64 * 1024;

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

// Drops a comment ('#' at the start or after whitespace) and surrounding whitespace.
std::string_view strip_line(std::string_view line) {
  for (size_t i = 0; i < line.size(); ++i) {
    if (line[i] == '#' && (i == 0 || is_space(line[i - 1]))) {
      line = line.substr(0, i);
      break;
    }
  }
  while (!line.empty() && is_space(line.back())) line.remove_suffix(1);
  while (!line.empty() && is_space(line.front())) line.remove_prefix(1);
  return line;
}

std::vector<std::string_view> split_fields(std::string_view line) {
  std::vector<std::string_view> fields;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && is_space(line[i])) ++i;
    size_t start = i;
    while (i < line.size() && !is_space(line[i])) ++i;
    if (i > start) fields.push_back(line.substr(start, i - start));
  }
  return fields;
}

bool is_path(std::string_view data) {
  return data.starts_with("/") || data.starts_with("./") || data.starts_with("../");
}

LineKind fail(std::string& error, std::string text) {
  error = std::move(text);
  return LineKind::Error;
}

}  // namespace

LineKind parse_key_table_line(std::string_view line, KeyTableLine& out, std::string& error) {
  if (line.size() > kMaxLineBytes) return fail(error, "line too long");
  line = strip_line(line);
  if (line.empty()) return LineKind::Blank;
  std::vector<std::string_view> fields = split_fields(line);
  if (fields.size() != 2) {
    return fail(error, "want 'keyname domain:selector:keyfile', got " +
                           std::to_string(fields.size()) + " fields");
  }
  std::string_view value = fields[1];
  size_t colon1 = value.find(':');
  size_t colon2 = colon1 == std::string_view::npos ? colon1 : value.find(':', colon1 + 1);
  if (colon2 == std::string_view::npos) {
    return fail(error, "want domain:selector:keyfile after the key name");
  }
  out.key_name = std::string(fields[0]);
  out.sdid = to_lower(value.substr(0, colon1));
  out.selector = std::string(value.substr(colon1 + 1, colon2 - colon1 - 1));
  out.key_data = std::string(value.substr(colon2 + 1));
  out.is_path = is_path(out.key_data);
  if (out.sdid.empty()) return fail(error, "empty domain");
  if (out.selector.empty()) return fail(error, "empty selector");
  if (out.key_data.empty()) return fail(error, "empty key file");
  if (out.is_path && out.key_data.find('%') != std::string::npos) {
    return fail(error, "'%' in a key file path is not supported");
  }
  return LineKind::Record;
}

LineKind parse_signing_table_line(std::string_view line, SigningTableLine& out,
                                  std::string& error) {
  if (line.size() > kMaxLineBytes) return fail(error, "line too long");
  line = strip_line(line);
  if (line.empty()) return LineKind::Blank;
  std::vector<std::string_view> fields = split_fields(line);
  if (fields.size() != 2 && fields.size() != 3) {
    return fail(
        error, "want 'pattern keyname [signer]', got " + std::to_string(fields.size()) + " fields");
  }
  out.pattern = to_lower(fields[0]);
  out.key_name = std::string(fields[1]);
  out.signer = fields.size() == 3 ? std::string(fields[2]) : std::string();
  return LineKind::Record;
}

bool wildcard_match(std::string_view pattern, std::string_view text) {
  // Iterative glob with backtracking to the last '*': O(pattern * text) worst case.
  size_t p = 0, t = 0, star = std::string_view::npos, resume = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = t;
    } else if (p < pattern.size() && ascii_lower(pattern[p]) == ascii_lower(text[t])) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

namespace {

struct NamedKey {
  std::string sdid;
  std::string selector;
  std::shared_ptr<const PrivateKey> key;
};

std::string where(const std::string& file, size_t line) {
  return file + ":" + std::to_string(line) + ": ";
}

// Calls `record(line_number, text)` for each line of `path`. Throws ConfigError.
template <class Fn>
void for_each_line(const std::string& path, Fn record) {
  std::ifstream in(path);
  if (!in) throw ConfigError(path + ": cannot open: " + std::strerror(errno));
  std::string text;
  for (size_t number = 1; std::getline(in, text); ++number) record(number, text);
  if (in.bad()) throw ConfigError(path + ": read error");
}

std::string strip_prefix(std::string path, std::string_view prefix, bool* had) {
  *had = path.starts_with(prefix);
  return *had ? path.substr(prefix.size()) : path;
}

std::shared_ptr<const PrivateKey> load_table_key(const KeyTableLine& line,
                                                 const std::string& origin) {
  try {
    if (line.is_path) return PrivateKey::load_file(line.key_data);
    return PrivateKey::load_base64(line.key_data, "inline key " + line.key_name);
  } catch (const ConfigError& e) {
    throw ConfigError(origin + e.what());
  }
}

std::map<std::string, NamedKey> load_key_table(const std::string& path) {
  std::map<std::string, NamedKey> keys;
  for_each_line(path, [&](size_t number, const std::string& text) {
    KeyTableLine line;
    std::string error;
    LineKind kind = parse_key_table_line(text, line, error);
    if (kind == LineKind::Blank) return;
    if (kind == LineKind::Error) throw ConfigError(where(path, number) + error);
    if (keys.count(line.key_name)) {
      throw ConfigError(where(path, number) + "key name '" + line.key_name + "' given twice");
    }
    auto key = load_table_key(line, where(path, number));
    keys.emplace(line.key_name, NamedKey{line.sdid, line.selector, std::move(key)});
  });
  return keys;
}

// Parent domains of `domain` with their leading dot: "a.b.c" → ".b.c", ".c".
std::vector<std::string_view> parent_suffixes(std::string_view domain) {
  std::vector<std::string_view> parents;
  for (size_t dot = domain.find('.'); dot != std::string_view::npos;
       dot = domain.find('.', dot + 1)) {
    parents.push_back(domain.substr(dot));
  }
  return parents;
}

// The plain SigningTable lookup keys, most specific first (opendkim.conf(5) SigningTable).
std::vector<std::string> lookup_candidates(std::string_view local, std::string_view domain) {
  std::string user(local);
  std::vector<std::string> candidates{user + "@" + std::string(domain), std::string(domain)};
  std::vector<std::string_view> parents = parent_suffixes(domain);
  for (std::string_view parent : parents) candidates.push_back(user + "@" + std::string(parent));
  for (std::string_view parent : parents) candidates.emplace_back(parent);
  candidates.push_back(user + "@*");
  candidates.emplace_back("*");
  return candidates;
}

bool domain_matches(const KeyStore::Entry& entry, std::string_view domain, bool sign_subdomains) {
  if (domain == entry.pattern) return true;
  return sign_subdomains && domain.size() > entry.pattern.size() &&
         domain.ends_with(entry.pattern) && domain[domain.size() - entry.pattern.size() - 1] == '.';
}

// Adds `entry` unless a key of the same algorithm is already chosen.
void take(const KeyStore::Entry& entry, std::string_view domain, std::vector<SigningKey>& out) {
  for (const SigningKey& chosen : out) {
    if (chosen.key->algorithm() == entry.key->algorithm()) return;
  }
  std::string sdid = entry.sdid == "%" ? std::string(domain) : entry.sdid;
  std::string auid = signing_identity(entry.signer, domain, sdid);
  out.push_back(SigningKey{std::move(sdid), entry.selector, entry.key, std::move(auid)});
}

}  // namespace

std::string signing_identity(std::string_view signer, std::string_view domain,
                             std::string_view sdid) {
  std::string auid;
  for (char c : signer) {
    if (c == '%') {
      auid += domain;
    } else {
      auid += c;
    }
  }
  size_t at = auid.rfind('@');
  if (at == std::string::npos) return "";
  std::string auid_domain = to_lower(std::string_view(auid).substr(at + 1));
  bool within =
      auid_domain == sdid || (auid_domain.size() > sdid.size() && auid_domain.ends_with(sdid) &&
                              auid_domain[auid_domain.size() - sdid.size() - 1] == '.');
  return within ? auid : "";
}

void KeyStore::add(std::string domain, std::string selector,
                   std::shared_ptr<const PrivateKey> key) {
  auto entry = std::make_shared<Entry>();
  entry->kind = MatchKind::Domain;
  entry->pattern = to_lower(domain);
  entry->sdid = entry->pattern;
  entry->selector = std::move(selector);
  entry->key = std::move(key);
  entries_.push_back(std::move(entry));
}

void KeyStore::load_opendkim_tables(const std::string& key_table,
                                    const std::string& signing_table) {
  bool had_file = false;
  std::map<std::string, NamedKey> keys =
      load_key_table(strip_prefix(key_table, "file:", &had_file));
  bool refile = false;
  std::string path = strip_prefix(signing_table, "refile:", &refile);
  if (!refile) path = strip_prefix(path, "file:", &had_file);
  std::vector<std::shared_ptr<Entry>> added;
  for_each_line(path, [&](size_t number, const std::string& text) {
    SigningTableLine line;
    std::string error;
    LineKind kind = parse_signing_table_line(text, line, error);
    if (kind == LineKind::Blank) return;
    if (kind == LineKind::Error) throw ConfigError(where(path, number) + error);
    auto found = keys.find(line.key_name);
    if (found == keys.end()) {
      throw ConfigError(where(path, number) + "key '" + line.key_name +
                        "' is not in the KeyTable " + key_table);
    }
    auto entry = std::make_shared<Entry>();
    entry->kind = refile ? MatchKind::Wildcard : MatchKind::Exact;
    entry->pattern = line.pattern;
    entry->sdid = found->second.sdid;
    entry->selector = found->second.selector;
    entry->key = found->second.key;
    entry->signer = line.signer;
    added.push_back(std::move(entry));
  });
  entries_.insert(entries_.end(), added.begin(), added.end());
}

std::vector<SigningKey> KeyStore::find(std::string_view from_address, bool sign_subdomains) const {
  std::vector<SigningKey> chosen;
  size_t at = from_address.rfind('@');
  if (at == std::string_view::npos) return chosen;
  std::string address = to_lower(from_address);
  std::string_view local = std::string_view(address).substr(0, at);
  std::string_view domain = std::string_view(address).substr(at + 1);
  if (domain.empty()) return chosen;
  for (const auto& entry : entries_) {
    if (entry->kind == MatchKind::Domain && domain_matches(*entry, domain, sign_subdomains)) {
      take(*entry, domain, chosen);
    }
  }
  for (const std::string& candidate : lookup_candidates(local, domain)) {
    for (const auto& entry : entries_) {
      if (entry->kind == MatchKind::Exact && entry->pattern == candidate)
        take(*entry, domain, chosen);
    }
  }
  for (const auto& entry : entries_) {
    if (entry->kind == MatchKind::Wildcard && wildcard_match(entry->pattern, address)) {
      take(*entry, domain, chosen);
    }
  }
  return chosen;
}

bool KeyStore::empty() const {
  return entries_.empty();
}

}  // namespace postern::dkim
