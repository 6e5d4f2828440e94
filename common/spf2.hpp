// spf2.hpp — owners for libspf2 handles (one unique_ptr type per handle, stateless deleters).
// <spf2/spf.h> forgets its own prerequisites (in_addr, ns_type, HOST_NOT_FOUND) and has no
// extern "C", so include libspf2 only through this header. Source: libspf2 1.2.10 API
// (SPF_server_free, SPF_request_free, SPF_response_free, SPF_dns_rr_free).
#pragma once

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

extern "C" {
#include <spf2/spf.h>
}

#include <memory>

#include "common/free.hpp"

namespace postern {

using SpfServer = std::unique_ptr<SPF_server_t, Free<SPF_server_free>>;
using SpfRequest = std::unique_ptr<SPF_request_t, Free<SPF_request_free>>;
using SpfResponse = std::unique_ptr<SPF_response_t, Free<SPF_response_free>>;
/// A DNS answer built for libspf2; release() it when handing it to libspf2, which frees it.
using SpfDnsRr = std::unique_ptr<SPF_dns_rr_t, Free<SPF_dns_rr_free>>;

}  // namespace postern
