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
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "load_common.hpp"

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
  std::vector<uint32_t> latency_us;
  std::map<std::string, long> statuses;
  long errors = 0;
};

void worker(const Options& o, const std::vector<std::string>& requests, std::atomic<long>& left,
            Clock::time_point end, int id, Result& res) {
  int fd = load::connect_to(o.socket);
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
    if (!load::send_all(fd, framed) || !read_reply(fd, buf, reply)) {
      ++res.errors;
      break;
    }
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start);
    res.latency_us.push_back(static_cast<uint32_t>(us.count()));
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
    all.latency_us.insert(all.latency_us.end(), r.latency_us.begin(), r.latency_us.end());
    for (const auto& [status, n] : r.statuses) all.statuses[status] += n;
    all.errors += r.errors;
  }
  load::print_summary(all.latency_us, all.errors, seconds);
  for (const auto& [status, n] : all.statuses) std::printf(" status_%s=%ld", status.c_str(), n);
  std::printf("\n");
  if (all.latency_us.empty()) return 2;
  return all.errors == 0 ? 0 : 1;
}
