// libspf2_engine.cpp — libspf2's SPF_dns_server_t over dns::Resolver, a pool of SPF_server_t,
// and the libspf2 response → SpfOutcome mapping.
#include "policyd/spf/libspf2_engine.hpp"

#include <cstring>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/log.hpp"
#include "common/spf2.hpp"

namespace postern::spf {
namespace {

// libspf2's message handlers print to stdout/stderr; ours log at debug level. The error
// handler (libspf2's internal faults, noreturn) keeps the library's default: print and abort.
void log_libspf2(const char* file, int line, const char* message) {
  log::debug("libspf2")
      .kv("file", file ? file : "-")
      .kv("line", line)
      .kv("message", message ? message : "");
}

void route_libspf2_messages() {
  static std::once_flag once;
  std::call_once(once, [] {
    SPF_warning_handler = log_libspf2;
    SPF_info_handler = log_libspf2;
    SPF_debug_handler = log_libspf2;
  });
}

std::optional<dns::RrType> our_type(ns_type type) {
  switch (type) {
    case ns_t_a:
      return dns::RrType::A;
    case ns_t_aaaa:
      return dns::RrType::AAAA;
    case ns_t_mx:
      return dns::RrType::MX;
    case ns_t_ptr:
      return dns::RrType::PTR;
    case ns_t_txt:
      return dns::RrType::TXT;
    default:
      return std::nullopt;  // type SPF (99), obsolete since RFC 7208 §3.1: no data
  }
}

// A name DNS can carry: at most 253 octets (one trailing dot aside), labels of 1..63. libspf2's
// own resolver layer never sends other names (res_query refuses them: no such host).
bool dns_name(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  if (name.empty() || name.size() > 253) return false;
  size_t start = 0;
  for (;;) {
    size_t dot = name.find('.', start);
    size_t length = (dot == std::string_view::npos ? name.size() : dot) - start;
    if (length == 0 || length > 63) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

SpfDnsRr new_rr(SPF_dns_server_t* layer, const char* domain, ns_type type, SPF_dns_stat_t herrno) {
  SpfDnsRr rr(SPF_dns_rr_new_init(layer, domain, type, 0, herrno));
  if (!rr) throw std::bad_alloc();
  return rr;
}

// Room for record `index` of `size` bytes; its data pointer.
SPF_dns_rr_data_t* slot(SPF_dns_rr_t& rr, size_t index, size_t size) {
  if (SPF_dns_rr_buf_realloc(&rr, static_cast<int>(index), size) != SPF_E_SUCCESS) {
    throw std::bad_alloc();
  }
  rr.num_rr = static_cast<int>(index + 1);
  return rr.rr[index];
}

// A C string copy of `text` into record `index` (a NUL inside truncates it for libspf2).
void add_text(SPF_dns_rr_t& rr, size_t index, const std::string& text) {
  char* out = slot(rr, index, text.size() + 1)->txt;  // txt, ptr and mx share the union
  std::memcpy(out, text.data(), text.size());
  out[text.size()] = '\0';
}

void fill(SPF_dns_rr_t& rr, dns::RrType type, const dns::Answer& answer) {
  size_t n = 0;
  switch (type) {
    case dns::RrType::A:
    case dns::RrType::AAAA:
      for (const IpAddress& address : answer.addresses) {
        if (address.v6 != (type == dns::RrType::AAAA)) continue;
        SPF_dns_rr_data_t* data = slot(rr, n++, sizeof(SPF_dns_rr_data_t));
        if (address.v6) {
          std::memcpy(&data->aaaa, address.bytes.data(), sizeof data->aaaa);
        } else {
          std::memcpy(&data->a, address.bytes.data(), sizeof data->a);
        }
      }
      break;
    case dns::RrType::MX:
      for (const dns::MxRecord& mx : answer.mx) add_text(rr, n++, mx.exchange);
      break;
    case dns::RrType::PTR:
      for (const std::string& name : answer.names) add_text(rr, n++, name);
      break;
    case dns::RrType::TXT:
      for (const std::string& txt : answer.txt) add_text(rr, n++, txt);
      break;
    case dns::RrType::CNAME:
      break;
  }
}

// Our Status → libspf2's h_errno words: a name DNS cannot carry → HOST_NOT_FOUND, NXDOMAIN →
// HOST_NOT_FOUND, NOERROR without records → NO_DATA, SERVFAIL/timeout/other → TRY_AGAIN (libspf2:
// SPF_E_DNS_ERROR, temperror).
SpfDnsRr answer_rr(SPF_dns_server_t* layer, const char* domain, ns_type type) {
  std::optional<dns::RrType> ours = our_type(type);
  if (!ours) return new_rr(layer, domain, type, NO_DATA);
  if (domain == nullptr || !dns_name(domain)) return new_rr(layer, domain, type, HOST_NOT_FOUND);
  dns::Answer answer = static_cast<dns::Resolver*>(layer->hook)->query(domain, *ours);
  switch (answer.status) {
    case dns::Status::NoError:
      break;
    case dns::Status::NxDomain:
      return new_rr(layer, domain, type, HOST_NOT_FOUND);
    case dns::Status::ServFail:
    case dns::Status::Timeout:
    case dns::Status::Error:
      return new_rr(layer, domain, type, TRY_AGAIN);
  }
  SpfDnsRr rr = new_rr(layer, domain, type, NETDB_SUCCESS);
  fill(*rr, *ours, answer);
  if (rr->num_rr == 0) rr->herrno = NO_DATA;
  return rr;
}

// SPF_dns_server_t::lookup. A C callback: nothing may escape it; a fault becomes TRY_AGAIN.
// libspf2 dereferences the answer unchecked, so when even that cannot be allocated we abort.
SPF_dns_rr_t* resolver_lookup(SPF_dns_server_t* layer, const char* domain, ns_type type,
                              int /*should_cache*/) noexcept {
  try {
    return answer_rr(layer, domain, type).release();
  } catch (const std::exception& e) {
    log::warning("libspf2-dns")
        .kv("domain", domain ? domain : "")
        .kv("type", static_cast<int>(type))
        .kv("error", e.what());
  }
  try {
    return new_rr(layer, domain, type, TRY_AGAIN).release();
  } catch (const std::exception&) {
    std::abort();
  }
}

SpfResult result_of(SPF_response_t* response) {
  switch (SPF_response_result(response)) {
    case SPF_RESULT_NEUTRAL:
      return SpfResult::Neutral;
    case SPF_RESULT_PASS:
      return SpfResult::Pass;
    case SPF_RESULT_FAIL:
      return SpfResult::Fail;
    case SPF_RESULT_SOFTFAIL:
      return SpfResult::Softfail;
    case SPF_RESULT_NONE:
      return SpfResult::None;
    case SPF_RESULT_TEMPERROR:
      return SpfResult::Temperror;
    case SPF_RESULT_PERMERROR:
      return SpfResult::Permerror;
    case SPF_RESULT_INVALID:
      break;
  }
  // "(invalid)": a syntax error or a DNS failure, told apart only by the error codes.
  if (SPF_response_errcode(response) == SPF_E_DNS_ERROR) return SpfResult::Temperror;
  for (int i = 0; i < SPF_response_messages(response); ++i) {
    if (SPF_error_code(SPF_response_message(response, i)) == SPF_E_DNS_ERROR) {
      return SpfResult::Temperror;
    }
  }
  return SpfResult::Permerror;
}

std::string messages_of(SPF_response_t* response) {
  std::string out;
  for (int i = 0; i < SPF_response_messages(response); ++i) {
    const char* text = SPF_error_message(SPF_response_message(response, i));
    if (!text) continue;
    if (!out.empty()) out += "; ";
    out += text;
  }
  return out;
}

void set_client(SPF_request_t* request, const IpAddress& client) {
  if (client.v6) {
    in6_addr address{};
    std::memcpy(&address, client.bytes.data(), sizeof address);
    SPF_request_set_ipv6(request, address);
  } else {
    in_addr address{};
    std::memcpy(&address, client.bytes.data(), sizeof address);
    SPF_request_set_ipv4(request, address);
  }
}

}  // namespace

// The DNS layer shared by every server (it only reads `hook`, the thread-safe resolver) and
// the idle servers. destroy == nullptr tells libspf2 the layer is not its to free.
struct Libspf2Engine::Pool {
  explicit Pool(dns::Resolver& resolver) {
    layer.lookup = resolver_lookup;
    layer.name = "postern";
    layer.hook = &resolver;
  }

  SpfServer take() {
    {
      std::lock_guard lock(mutex);
      if (!idle.empty()) {
        SpfServer server = std::move(idle.back());
        idle.pop_back();
        return server;
      }
    }
    SpfServer server(SPF_server_new_dns(&layer, 0));
    if (!server) throw std::bad_alloc();
    // No default explanation: fail carries exp= text only when the record has one (§6.2).
    SPF_response_t* errors = nullptr;
    SPF_server_set_explanation(server.get(), "", &errors);
    SpfResponse owned(errors);
    return server;
  }

  void give_back(SpfServer server) {
    std::lock_guard lock(mutex);
    idle.push_back(std::move(server));
  }

  SPF_dns_server_t layer{};
  std::mutex mutex;
  std::vector<SpfServer> idle;  // each used by one thread at a time
};

Libspf2Engine::Libspf2Engine(dns::Resolver& resolver) : pool_(std::make_unique<Pool>(resolver)) {
  route_libspf2_messages();
  pool_->give_back(pool_->take());  // fail now, not at the first request
}

Libspf2Engine::~Libspf2Engine() = default;

SpfOutcome Libspf2Engine::check_host(const CheckHostRequest& request) {
  struct Lease {
    Pool& pool;
    SpfServer server;
    ~Lease() { pool.give_back(std::move(server)); }
  } lease{*pool_, pool_->take()};
  SPF_server_set_rec_dom(lease.server.get(), request.receiver.c_str());

  SpfRequest spf_request(SPF_request_new(lease.server.get()));
  if (!spf_request) throw std::bad_alloc();
  set_client(spf_request.get(), request.client);
  size_t at = request.sender.rfind('@');
  std::string local_part = at == std::string::npos ? "" : request.sender.substr(0, at);
  std::string env_from = (local_part.empty() ? "postmaster" : local_part) + "@" + request.domain;
  if (SPF_request_set_env_from(spf_request.get(), env_from.c_str()) != 0) throw std::bad_alloc();
  SPF_request_set_helo_dom(spf_request.get(), request.helo.c_str());

  SPF_response_t* raw = nullptr;
  SPF_request_query_mailfrom(spf_request.get(), &raw);
  SpfResponse response(raw);
  if (!response) throw std::bad_alloc();

  SpfOutcome out;
  out.result = result_of(response.get());
  out.mechanism = "libspf2";
  out.domain = request.domain;
  if (out.result == SpfResult::None || out.result == SpfResult::Temperror ||
      out.result == SpfResult::Permerror) {
    out.problem = messages_of(response.get());
  }
  const char* explanation = SPF_response_get_explanation(response.get());
  if (out.result == SpfResult::Fail && explanation) out.explanation = explanation;
  return out;
}

}  // namespace postern::spf
