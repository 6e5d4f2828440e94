// ldap_probe.cpp — test driver for common/ldap.hpp against a real slapd
// (tests/integration/test_ldap_client.py). One Client lives for the whole run, so a test can
// restart or pause slapd between commands and watch failover, reconnect and the outage log.
// Usage: ldap_probe --uri URI [--uri URI2 ...] [--start-tls] [--ca-file F] [--no-verify]
//        [--bind-dn DN --bind-password-file F] --base DN [--scope base|one|sub]
//        [--filter PATTERN] [--attr NAME ...] [--network-timeout S] [--timeout S] [--pool N]
// Commands on stdin, one per line; one answer line on stdout each:
//   find KEY          → "OK <count> <dn>|<dn>..." or "SUPPRESSED" or "ERR <kind> <message>"
//   values KEY ATTR   → "OK <value>|<value>..." (ATTR of every entry) or "ERR ..."
//   parallel N KEY    → N threads each searching KEY once: "OK <successes> <faults>"
//   check             → "OK" or "ERR <kind> <message>"
// The client's log lines (ldap-outage, ldap-recovered) go to stderr.
#include <cstdio>
#include <cstring>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/config_error.hpp"
#include "common/ldap.hpp"
#include "common/log.hpp"

using namespace postern;

namespace {

struct Probe {
  ldap::ClientConfig config;
  std::string base;
  ldap::Scope scope = ldap::Scope::Subtree;
  std::string filter = "(mail=%s)";
  std::vector<std::string> attributes;
};

Probe parse(int argc, char** argv) {
  Probe p;
  p.config.name = "probe";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw ConfigError(a + ": needs a value");
      return argv[++i];
    };
    if (a == "--uri") {
      p.config.uris.push_back(next());
    } else if (a == "--start-tls") {
      p.config.start_tls = true;
    } else if (a == "--ca-file") {
      p.config.ca_file = next();
    } else if (a == "--no-verify") {
      p.config.tls_verify = false;
    } else if (a == "--bind-dn") {
      p.config.bind_dn = next();
    } else if (a == "--bind-password-file") {
      p.config.bind_password = ldap::read_password_file(next());
    } else if (a == "--base") {
      p.base = next();
    } else if (a == "--scope") {
      p.scope = ldap::parse_scope(next());
    } else if (a == "--filter") {
      p.filter = next();
    } else if (a == "--attr") {
      p.attributes.push_back(next());
    } else if (a == "--network-timeout") {
      p.config.network_timeout_seconds = std::stod(next());
    } else if (a == "--timeout") {
      p.config.operation_timeout_seconds = std::stod(next());
    } else if (a == "--pool") {
      p.config.pool_size = std::stoul(next());
    } else {
      throw ConfigError("unknown argument " + a);
    }
  }
  ldap::check_filter_pattern(p.filter);
  return p;
}

std::string find(ldap::Client& client, const Probe& p, const std::string& key,
                 const std::string& attribute) {
  auto filter = ldap::expand_filter(p.filter, key);
  if (!filter) return "SUPPRESSED";
  try {
    ldap::SearchRequest request{p.base, p.scope, *filter, p.attributes};
    if (!attribute.empty()) request.attributes = {attribute};
    if (request.attributes.empty()) request.attributes = {"1.1"};  // no attributes, DNs only
    auto entries = client.search(request);
    std::string out;
    if (attribute.empty()) {
      out = "OK " + std::to_string(entries.size()) + " ";
      for (size_t i = 0; i < entries.size(); ++i) out += (i ? "|" : "") + entries[i].dn;
    } else {
      out = "OK ";
      bool first = true;
      for (const auto& e : entries) {
        if (const auto* values = e.values(attribute)) {
          for (const auto& v : *values) {
            out += (first ? "" : "|") + v;
            first = false;
          }
        }
      }
    }
    return out;
  } catch (const ldap::LdapError& e) {
    return std::string("ERR ") + ldap::kind_name(e.kind()) + " " + e.what();
  }
}

}  // namespace

int main(int argc, char** argv) {
  try {
    log::init("ldap_probe", log::Target::Stderr, log::Level::Info);
    Probe p = parse(argc, argv);
    ldap::Client client(p.config);
    std::string line;
    while (std::getline(std::cin, line)) {
      std::istringstream in(line);
      std::string command, key, attribute;
      in >> command;
      std::string answer;
      if (command == "find") {
        in >> key;
        answer = find(client, p, key, "");
      } else if (command == "values") {
        in >> key >> attribute;
        answer = find(client, p, key, attribute);
      } else if (command == "parallel") {
        size_t n = 0;
        in >> n >> key;
        std::vector<std::string> results(n);
        std::vector<std::thread> threads;
        for (size_t i = 0; i < n; ++i) {
          threads.emplace_back([&, i] { results[i] = find(client, p, key, ""); });
        }
        for (auto& t : threads) t.join();
        size_t ok = 0;
        for (const auto& r : results) ok += r.rfind("OK", 0) == 0;
        answer = "OK " + std::to_string(ok) + " " + std::to_string(n - ok);
      } else if (command == "check") {
        try {
          client.check();
          answer = "OK";
        } catch (const ldap::LdapError& e) {
          answer = std::string("ERR ") + ldap::kind_name(e.kind()) + " " + e.what();
        }
      } else {
        answer = "ERR usage unknown command '" + command + "'";
      }
      std::cout << answer << std::endl;
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ldap_probe: %s\n", e.what());
    return 2;
  }
}
