// dkim_config.cpp — option table → DkimConfig, with every check done before listening.
#include "milters/dkim/dkim_config.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>

#include "common/cidr.hpp"
#include "common/config_error.hpp"
#include "common/dns_cache.hpp"
#include "common/option_list.hpp"

namespace postern::dkim {
namespace {

using Strings = std::vector<std::string>;

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

// --domain/--selector/--key-file: selectors and key files pair up in order; every domain
// signs with every pair.
void add_shortcut_keys(const po::variables_map& values, KeyStore& keys) {
  Strings domains = list_option(values, "domain");
  Strings selectors = list_option(values, "selector");
  Strings key_files = list_option(values, "key-file");
  if (domains.empty() && selectors.empty() && key_files.empty()) return;
  if (domains.empty())
    throw ConfigError("option --key-file/--selector: no --domain given to sign for");
  if (key_files.empty()) throw ConfigError("option --domain: no --key-file given to sign with");
  if (selectors.size() != key_files.size()) {
    throw ConfigError("options --selector and --key-file must pair up: got " +
                      std::to_string(selectors.size()) + " selector(s) and " +
                      std::to_string(key_files.size()) + " key file(s)");
  }
  for (size_t i = 0; i < key_files.size(); ++i) {
    auto key = PrivateKey::load_file(key_files[i]);
    for (const std::string& domain : domains) keys.add(lower(domain), selectors[i], key);
  }
}

SignerConfig build_signer_config(const po::variables_map& values) {
  SignerConfig signer;
  signer.canonicalization = Canonicalization::parse(values["canonicalization"].as<std::string>());
  Strings signed_fields = list_option(values, "signed-headers");
  signer.signed_header_fields =
      signed_fields.empty() ? default_signed_header_fields() : signed_fields;
  signer.oversigned_header_fields = list_option(values, "oversign-headers");
  bool oversigns_from =
      std::any_of(signer.oversigned_header_fields.begin(), signer.oversigned_header_fields.end(),
                  [](const std::string& name) { return lower(name) == "from"; });
  if (!oversigns_from) signer.oversigned_header_fields.push_back("from");
  int64_t expire = values["expire"].as<int64_t>();
  if (expire < 0) throw ConfigError("option --expire: must be 0 (no x=) or a number of seconds");
  if (expire > 0) signer.expire_seconds = expire;
  return signer;
}

// This host's name for the authserv-id fallback; "localhost" when it has none.
std::string host_name() {
  std::array<char, 256> buf{};
  if (::gethostname(buf.data(), buf.size() - 1) != 0 || buf[0] == '\0') return "localhost";
  return buf.data();
}

int64_t non_negative(const po::variables_map& values, const char* name) {
  int64_t value = values[name].as<int64_t>();
  if (value < 0) throw ConfigError(std::string("option --") + name + ": must be 0 or more");
  return value;
}

VerifierConfig build_verifier_config(const po::variables_map& values) {
  VerifierConfig verifier;
  int64_t max_signatures = non_negative(values, "max-signatures");
  if (max_signatures < 1 || max_signatures > 100) {
    throw ConfigError("option --max-signatures: must be 1..100");
  }
  verifier.max_signatures = static_cast<size_t>(max_signatures);
  verifier.clock_skew_seconds = non_negative(values, "clock-skew");
  std::string tail = values["unsigned-tail"].as<std::string>();
  if (tail != "fail" && tail != "accept") {
    throw ConfigError("option --unsigned-tail: '" + tail + "' is not fail or accept");
  }
  verifier.unsigned_tail_fails = tail == "fail";
  verifier.key_cache = std::make_shared<PublicKeyCache>();
  return verifier;
}

dns::ResolverConfig build_resolver_config(const po::variables_map& values) {
  dns::ResolverConfig resolver;
  resolver.dns_server = values["dns-server"].as<std::string>();
  resolver.timeout_seconds = values["dns-timeout"].as<double>();
  resolver.trust_anchor_file = values["dns-trust-anchor"].as<std::string>();
  if (!(resolver.timeout_seconds > 0) || resolver.timeout_seconds > 60) {
    throw ConfigError("option --dns-timeout: must be more than 0 and at most 60 seconds");
  }
  return resolver;
}

// An authserv-id goes into a header unquoted: it must be an RFC 2045 token.
std::string checked_authserv_id(std::string id) {
  bool token = std::all_of(id.begin(), id.end(), [](unsigned char c) {
    return c > 0x20 && c < 0x7F &&
           std::string_view("()<>@,;:\\\"/[]?=").find(static_cast<char>(c)) ==
               std::string_view::npos;
  });
  if (!token) throw ConfigError("option --authserv-id: '" + id + "' is not a host name");
  return id;
}

// --dmarc: yes or no (also true/false, on/off, 1/0).
bool parse_dmarc_switch(const std::string& text) {
  std::string word = lower(text);
  if (word == "yes" || word == "true" || word == "on" || word == "1") return true;
  if (word == "no" || word == "false" || word == "off" || word == "0") return false;
  throw ConfigError("option --dmarc: '" + text + "' is not yes or no");
}

// --dmarc and its companions; the evaluator is built only when the mode verifies.
void build_dmarc(const po::variables_map& values, DkimConfig& config) {
  bool dmarc = parse_dmarc_switch(values["dmarc"].as<std::string>());
  config.dmarc_enforcement.reject = values["dmarc-reject"].as<bool>();
  config.dmarc_enforcement.quarantine = values["dmarc-quarantine"].as<bool>();
  bool enforcing = config.dmarc_enforcement.reject || config.dmarc_enforcement.quarantine;
  if (enforcing && !dmarc) {
    throw ConfigError("options --dmarc-reject/--dmarc-quarantine need --dmarc yes");
  }
  if (enforcing && config.mode == Mode::Sign) {
    throw ConfigError(
        "options --dmarc-reject/--dmarc-quarantine need a verifying --mode (verify or both)");
  }
  if (!dmarc || config.mode == Mode::Sign) return;
  std::string path = values["public-suffix-list"].as<std::string>();
  if (path.empty()) throw ConfigError("option --public-suffix-list: empty file name");
  config.public_suffixes = std::make_unique<PublicSuffixList>(path);
  config.dmarc = std::make_unique<DmarcEvaluator>(*config.public_suffixes, *config.resolver);
}

// --temperror accept|tempfail; tempfail only means something when the mode verifies.
TemperrorAction build_temperror(const po::variables_map& values, Mode mode) {
  std::string word = values["temperror"].as<std::string>();
  if (word == "accept") return TemperrorAction::Accept;
  if (word != "tempfail") {
    throw ConfigError("option --temperror: '" + word + "' is not accept or tempfail");
  }
  if (mode == Mode::Sign) {
    throw ConfigError("option --temperror tempfail needs a verifying --mode (verify or both)");
  }
  return TemperrorAction::Tempfail;
}

}  // namespace

void add_dkim_options(po::options_description& options) {
  options.add_options()  //
      ("domain", po::value<Strings>()->value_name("DOMAIN"),
       "signing domain (d=) for the --key-file keys; repeatable or a comma list")  //
      ("selector", po::value<Strings>()->value_name("SELECTOR"),
       "selector (s=) of the matching --key-file; repeatable")  //
      ("key-file", po::value<Strings>()->value_name("FILE"),
       "PEM private key (RSA 1024-4096 bits or Ed25519), mode 0600; repeatable, pairs with "
       "--selector in order (one RSA + one Ed25519 key = dual signing)")  //
      ("key-table", po::value<std::string>()->value_name("FILE"),
       "OpenDKIM KeyTable file")  //
      ("signing-table", po::value<std::string>()->value_name("[refile:]FILE"),
       "OpenDKIM SigningTable file; prefix refile: for wildcard patterns")  //
      ("internal-hosts",
       po::value<std::string>()->default_value(default_internal_hosts())->value_name("CIDRS"),
       "clients whose mail is signed (CIDR list); SASL-authenticated clients always are")  //
      ("sign-subdomains", po::value<bool>()->default_value(false)->implicit_value(true),
       "a parent domain's key also signs mail from its subdomains (d= is the parent)")  //
      ("canonicalization",
       po::value<std::string>()->default_value("relaxed/relaxed")->value_name("HEADER/BODY"),
       "header/body canonicalization: simple or relaxed each (RFC 6376 3.4)")  //
      ("signed-headers", po::value<Strings>()->value_name("NAMES"),
       "header fields to sign when present (default: RFC 6376 5.4.1 set + Message-ID, "
       "MIME-Version, Content-Type, Content-Transfer-Encoding)")  //
      ("oversign-headers", po::value<Strings>()->value_name("NAMES"),
       "fields signed once more than present so none can be added (From always is)")  //
      ("expire", po::value<int64_t>()->default_value(0)->value_name("SECONDS"),
       "signature lifetime in seconds for x= (0: no x=)");
  add_verify_options(options);
}

void add_verify_options(po::options_description& options) {
  options.add_options()  //
      ("mode", po::value<std::string>()->default_value("both")->value_name("MODE"),
       "sign, verify or both: internal clients' mail is signed, all other mail verified")  //
      ("dns-server", po::value<std::string>()->default_value("")->value_name("HOST[@PORT]"),
       "forward DNS queries there (default: the servers of /etc/resolv.conf)")  //
      ("dns-timeout", po::value<double>()->default_value(5)->value_name("SECONDS"),
       "limit for one key lookup; past it the signature is a temperror")  //
      ("dns-trust-anchor", po::value<std::string>()->default_value("")->value_name("FILE"),
       "DNSSEC-validate DNS answers from these DS/DNSKEY trust anchors (e.g. Debian's "
       "/usr/share/dns/root.key); a bogus answer is a temperror; default off")  //
      ("dns-cache-size", po::value<int64_t>()->default_value(10000)->value_name("N"),
       "DNS answers kept in process for their TTL (at most 1 h), so repeated key and DMARC "
       "lookups skip libunbound's thread hand-off; 0: off")  //
      ("max-signatures", po::value<int64_t>()->default_value(5)->value_name("N"),
       "DKIM-Signature fields checked per message, from the top (1..100)")  //
      ("clock-skew", po::value<int64_t>()->default_value(300)->value_name("SECONDS"),
       "a signature may be this far past x= and still pass")  //
      ("unsigned-tail",
       po::value<std::string>()->default_value("accept")->value_name("fail|accept"),
       "body content after l= octets: fail gives dkim=policy, accept keeps pass")  //
      ("authserv-id", po::value<std::string>()->default_value("")->value_name("NAME"),
       "authserv-id of Authentication-Results (default: Postfix's {j} macro, $myhostname)")  //
      ("verify-internal", po::value<bool>()->default_value(false)->implicit_value(true),
       "also verify mail from internal clients (by default it is only signed)")  //
      ("spf-receiver", po::value<std::string>()->default_value("")->value_name("NAME"),
       "fold the top-most Received-SPF field into Authentication-Results as spf= when its "
       "receiver= is NAME (postern-spf's --receiver); default off")  //
      ("dmarc", po::value<std::string>()->default_value("yes")->value_name("yes|no"),
       "evaluate DMARC (RFC 7489) on verified mail and add dmarc= to Authentication-Results")  //
      ("public-suffix-list",
       po::value<std::string>()->default_value(kDebianPublicSuffixList)->value_name("FILE"),
       "Public Suffix List (libpsl DAFSA or text) for DMARC Organizational Domains")  //
      ("dmarc-reject", po::value<bool>()->default_value(false)->implicit_value(true),
       "honour p=reject (after pct=): 550 5.7.1 at end of message; default off")  //
      ("dmarc-quarantine", po::value<bool>()->default_value(false)->implicit_value(true),
       "honour p=quarantine (after pct=): Postfix hold queue; default off")  //
      ("temperror",
       po::value<std::string>()->default_value("accept")->value_name("accept|tempfail"),
       "a DKIM or DMARC temperror (DNS timeout, SERVFAIL): accept records it in "
       "Authentication-Results, tempfail answers 451 4.7.5 at end of message");
}

DkimConfig build_dkim_config(const po::variables_map& values) {
  KeyStore keys;
  add_shortcut_keys(values, keys);
  bool has_key_table = values.count("key-table") > 0;
  bool has_signing_table = values.count("signing-table") > 0;
  if (has_key_table != has_signing_table) {
    throw ConfigError("options --key-table and --signing-table go together: only " +
                      std::string(has_key_table ? "--key-table" : "--signing-table") + " given");
  }
  if (has_key_table) {
    keys.load_opendkim_tables(values["key-table"].as<std::string>(),
                              values["signing-table"].as<std::string>());
  }
  DkimConfig config;
  config.mode = parse_mode(values["mode"].as<std::string>());
  if (keys.empty() && config.mode != Mode::Verify) {
    throw ConfigError(
        "no signing keys: give --domain/--selector/--key-file or "
        "--key-table/--signing-table (or --mode verify)");
  }
  CidrList internal_hosts = CidrList::parse(values["internal-hosts"].as<std::string>());
  config.signer = build_signer_config(values);
  config.policy = std::make_unique<SigningPolicy>(std::move(keys), std::move(internal_hosts),
                                                  values["sign-subdomains"].as<bool>());
  config.verifier = build_verifier_config(values);
  dns::ResolverConfig resolver = build_resolver_config(values);
  if (config.mode != Mode::Sign) {
    dns::AnswerCacheConfig cache;
    cache.max_entries = static_cast<size_t>(non_negative(values, "dns-cache-size"));
    config.resolver = dns::make_caching_resolver(dns::make_resolver(resolver), cache);
  }
  config.verify_internal = values["verify-internal"].as<bool>();
  std::string authserv_id = values["authserv-id"].as<std::string>();
  if (!authserv_id.empty()) config.authserv_id = checked_authserv_id(std::move(authserv_id));
  config.host_name = host_name();
  config.spf_receiver = values["spf-receiver"].as<std::string>();
  build_dmarc(values, config);
  config.temperror = build_temperror(values, config.mode);
  return config;
}

}  // namespace postern::dkim

namespace postern::dkim {
namespace {

metrics::Counter& message_counter(metrics::Registry& registry, const char* result) {
  return registry.counter("postern_dkim_messages_total",
                          "Messages judged at end of header: signed, or why not.",
                          {{"result", result}});
}

metrics::Counter& signature_counter(metrics::Registry& registry, Algorithm algorithm) {
  return registry.counter("postern_dkim_signatures_total", "DKIM-Signature fields added.",
                          {{"algorithm", std::string(algorithm_name(algorithm))}});
}

metrics::Counter& verify_counter(metrics::Registry& registry, DkimResult result) {
  return registry.counter("postern_dkim_verify_total",
                          "DKIM signatures checked, by result (none: a message without any).",
                          {{"result", std::string(result_name(result))}});
}

metrics::Counter& dmarc_counter(metrics::Registry& registry, DmarcResult result) {
  return registry.counter("postern_dkim_dmarc_total", "DMARC evaluations, by result.",
                          {{"result", std::string(result_name(result))}});
}

metrics::Counter& error_counter(metrics::Registry& registry, const char* stage) {
  return registry.counter("postern_dkim_milter_errors_total",
                          "Faults in a milter step, answered with TEMPFAIL.", {{"stage", stage}});
}

}  // namespace

DkimMetrics::DkimMetrics(metrics::Registry& registry)
    : signed_messages(message_counter(registry, "signed")),
      external_client(message_counter(registry, "external_client")),
      no_from(message_counter(registry, "no_from")),
      multiple_from(message_counter(registry, "multiple_from")),
      from_without_domain(message_counter(registry, "from_without_domain")),
      unparsable_from(message_counter(registry, "unparsable_from")),
      no_key(message_counter(registry, "no_key")),
      rsa_sha256(signature_counter(registry, Algorithm::RsaSha256)),
      ed25519_sha256(signature_counter(registry, Algorithm::Ed25519Sha256)),
      eoh_errors(error_counter(registry, "eoh")),
      body_errors(error_counter(registry, "body")),
      eom_errors(error_counter(registry, "eom")),
      signing_seconds(registry.histogram(
          "postern_dkim_signing_seconds",
          "Time from end of message to DKIM-Signature fields inserted, in seconds.",
          metrics::default_seconds_buckets())),
      verify_seconds(registry.histogram(
          "postern_dkim_verify_seconds",
          "Time from end of message to Authentication-Results inserted (DNS included), in "
          "seconds.",
          metrics::default_seconds_buckets())) {
  for (DkimResult result :
       {DkimResult::None, DkimResult::Pass, DkimResult::Fail, DkimResult::Neutral,
        DkimResult::Policy, DkimResult::Temperror, DkimResult::Permerror}) {
    verify_results_.push_back(&verify_counter(registry, result));
  }
  for (DmarcResult result : {DmarcResult::None, DmarcResult::Pass, DmarcResult::Fail,
                             DmarcResult::Temperror, DmarcResult::Permerror}) {
    dmarc_results_.push_back(&dmarc_counter(registry, result));
  }
}

metrics::Counter& DkimMetrics::dmarc(DmarcResult result) const {
  return *dmarc_results_.at(static_cast<size_t>(result));
}

metrics::Counter& DkimMetrics::verify(DkimResult result) const {
  return *verify_results_.at(static_cast<size_t>(result));
}

metrics::Counter& DkimMetrics::messages(SkipReason reason) const {
  switch (reason) {
    case SkipReason::None:
      return signed_messages;
    case SkipReason::ExternalClient:
      return external_client;
    case SkipReason::NoFrom:
      return no_from;
    case SkipReason::MultipleFrom:
      return multiple_from;
    case SkipReason::FromWithoutDomain:
      return from_without_domain;
    case SkipReason::UnparsableFrom:
      return unparsable_from;
    case SkipReason::NoKey:
      return no_key;
  }
  return no_key;  // not reached: every enumerator is handled
}

metrics::Counter& DkimMetrics::signatures(Algorithm algorithm) const {
  return algorithm == Algorithm::RsaSha256 ? rsa_sha256 : ed25519_sha256;
}

}  // namespace postern::dkim
