// socketmap_load — a load generator for socketmap servers (Postfix socketmap_table(5)).
//
// N persistent connections (one thread each), each sending requests back to back — one
// netstring "name key", wait for the one netstring reply — and timing send → reply, as
// Postfix's socketmap client does (one request at a time per connection). Requests are the
// lines of --requests FILE ("name key" each), taken in random order per connection.
//
// usage: socketmap_load --socket unix:PATH|inet:HOST:PORT --requests FILE
//                       [--connections 8] [--duration SECONDS | --count N] [--seed N]
//
// Prints one line of key=value pairs: requests, errors, seconds, rps, p50_ms, p99_ms,
// max_ms, and a count per reply status (status_OK=…, status_NOTFOUND=…, status_TEMP=…).
// Exit status 0 when there was no error (a TEMP/PERM reply is not an error here; a broken
// connection or reply is), 1 otherwise, 2 on bad usage or when no connection could be made.
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string socket, requests_file;
  int connections = 8;
  double duration = 10.0;
  long count = -1;
  unsigned seed = 1;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "socketmap_load: %s\nusage: socketmap_load --socket unix:PATH|inet:HOST:PORT "
               "--requests FILE [--connections N] [--duration S | --count N] [--seed N]\n",
               why);
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) usage(("missing value for " + a).c_str());
    std::string v = argv[++i];
    if (a == "--socket") {
      o.socket = v;
    } else if (a == "--requests") {
      o.requests_file = v;
    } else if (a == "--connections") {
      o.connections = std::atoi(v.c_str());
    } else if (a == "--duration") {
      o.duration = std::atof(v.c_str());
    } else if (a == "--count") {
      o.count = std::atol(v.c_str());
    } else if (a == "--seed") {
      o.seed = static_cast<unsigned>(std::atol(v.c_str()));
    } else {
      usage(("unknown option " + a).c_str());
    }
  }
  if (o.socket.empty() || o.requests_file.empty()) usage("--socket and --requests are needed");
  if (o.connections < 1) usage("--connections must be at least 1");
  return o;
}

int connect_to(const std::string& spec) {
  if (spec.rfind("unix:", 0) == 0) {
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::string path = spec.substr(5);
    if (path.size() >= sizeof sa.sun_path) return -1;
    std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
      ::close(fd);
      return -1;
    }
    return fd;
  }
  if (spec.rfind("inet:", 0) != 0) return -1;
  std::string hp = spec.substr(5);
  size_t colon = hp.rfind(':');
  if (colon == std::string::npos) return -1;
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (::getaddrinfo(hp.substr(0, colon).c_str(), hp.substr(colon + 1).c_str(), &hints, &res) != 0)
    return -1;
  int fd = -1;
  for (addrinfo* ai = res; ai != nullptr && fd < 0; ai = ai->ai_next) {
    fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd >= 0 && ::connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
      ::close(fd);
      fd = -1;
    }
  }
  ::freeaddrinfo(res);
  if (fd >= 0) {
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  return fd;
}

// Reads one netstring reply into `reply`; `buf` keeps bytes read past it. False on a broken
// connection or reply.
bool read_reply(int fd, std::string& buf, std::string& reply) {
  for (;;) {
    size_t colon = buf.find(':');
    if (colon != std::string::npos) {
      size_t length = std::strtoul(buf.substr(0, colon).c_str(), nullptr, 10);
      if (buf.size() >= colon + 1 + length + 1) {
        if (buf[colon + 1 + length] != ',') return false;
        reply = buf.substr(colon + 1, length);
        buf.erase(0, colon + 2 + length);
        return true;
      }
    } else if (buf.size() > 12) {
      return false;
    }
    char chunk[65536];
    ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buf.append(chunk, static_cast<size_t>(n));
  }
}

struct Result {
  std::vector<double> latencies_ms;
  std::map<std::string, long> statuses;
  long errors = 0;
};

void worker(const Options& o, const std::vector<std::string>& requests, std::atomic<long>& left,
            Clock::time_point end, int id, Result& res) {
  int fd = connect_to(o.socket);
  if (fd < 0) {
    ++res.errors;
    return;
  }
  std::mt19937_64 rng(o.seed * 1000003u + static_cast<unsigned>(id));
  std::uniform_int_distribution<size_t> pick(0, requests.size() - 1);
  std::string buf, reply;
  while (Clock::now() < end && (o.count < 0 || left.fetch_sub(1) > 0)) {
    const std::string& request = requests[pick(rng)];
    std::string framed = std::to_string(request.size()) + ":" + request + ",";
    auto start = Clock::now();
    if (::send(fd, framed.data(), framed.size(), MSG_NOSIGNAL) !=
            static_cast<ssize_t>(framed.size()) ||
        !read_reply(fd, buf, reply)) {
      ++res.errors;
      break;
    }
    res.latencies_ms.push_back(
        std::chrono::duration<double, std::milli>(Clock::now() - start).count());
    ++res.statuses[reply.substr(0, reply.find(' '))];
  }
  ::close(fd);
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse(argc, argv);
  std::vector<std::string> requests;
  std::ifstream in(o.requests_file);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) requests.push_back(line);
  }
  if (requests.empty()) usage("no requests in --requests FILE");
  std::atomic<long> left(o.count);
  auto start = Clock::now();
  auto end = o.count < 0 ? start + std::chrono::duration_cast<Clock::duration>(
                                       std::chrono::duration<double>(o.duration))
                         : Clock::time_point::max();
  std::vector<Result> results(static_cast<size_t>(o.connections));
  std::vector<std::thread> threads;
  for (int i = 0; i < o.connections; ++i) {
    threads.emplace_back(worker, std::cref(o), std::cref(requests), std::ref(left), end, i,
                         std::ref(results[static_cast<size_t>(i)]));
  }
  for (auto& t : threads) t.join();
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  Result all;
  for (const Result& r : results) {
    all.latencies_ms.insert(all.latencies_ms.end(), r.latencies_ms.begin(), r.latencies_ms.end());
    for (const auto& [status, n] : r.statuses) all.statuses[status] += n;
    all.errors += r.errors;
  }
  if (all.latencies_ms.empty()) {
    std::printf("requests=0 errors=%ld\n", all.errors);
    return 2;
  }
  std::sort(all.latencies_ms.begin(), all.latencies_ms.end());
  auto pct = [&all](double p) {
    return all.latencies_ms[std::min(all.latencies_ms.size() - 1,
                                     static_cast<size_t>(p * all.latencies_ms.size()))];
  };
  std::printf("requests=%zu errors=%ld seconds=%.3f rps=%.1f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f",
              all.latencies_ms.size(), all.errors, seconds, all.latencies_ms.size() / seconds,
              pct(0.50), pct(0.99), all.latencies_ms.back());
  for (const auto& [status, n] : all.statuses) std::printf(" status_%s=%ld", status.c_str(), n);
  std::printf("\n");
  return all.errors == 0 ? 0 : 1;
}
