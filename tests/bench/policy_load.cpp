// policy_load — a load generator for Postfix policy services (the policy delegation protocol).
//
// N persistent connections (one thread each) to a policy socket, each sending
// smtpd_access_policy RCPT requests back to back and timing send → reply. Client addresses
// come from a pool of random public-looking IPv4 addresses (see random_client()), senders
// from a pool of random local@domain over the sender domains given, helo_name=mail.DOMAIN,
// a fresh instance= per request (never repeated by another run: it holds the pid).
//
// usage: policy_load --socket unix:PATH|inet:HOST:PORT [--connections 20]
//                    [--duration SECONDS | --count N] --domains FILE [--clients 1000]
//                    [--senders 1000] [--seed N] [--unique] [--timeout SECONDS]
//                    [--recipients FILE [--unique-recipients] | --random-recipients N]
//
//   --domains FILE  one sender domain per line
//   --unique        each request uses the next domain of FILE (once each; stops when all are
//                   used): every check sees a cold cache
//   --count N       stop after N requests in all (default: run --duration, 10 s)
//   --recipients FILE  one recipient address per line, each request picks one at random
//                   (default: recipient=user@rcpt.example); with --unique-recipients each
//                   request uses the next one of FILE (once each; stops when all are used)
//   --random-recipients N  each request's recipient drawn from N random local@rcpt.example
//                   (greylisting triplets)
//
// Prints one line of key=value pairs: requests, errors, seconds, rps, p50_ms, p99_ms,
// max_ms, and a count per action verb (action_DUNNO=…, action_PREPEND=…). Exit status 0
// when there was no error, 1 otherwise, 2 on bad usage or when no connection could be made.
#include <arpa/inet.h>
#include <netinet/in.h>
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
  std::string socket;
  int connections = 20;
  double duration = 10.0;
  long count = -1;
  std::string domains_file;
  int clients = 1000;
  int senders = 1000;
  unsigned seed = 1;
  bool unique = false;
  double timeout = 30.0;
  std::string recipients_file;
  int random_recipients = 0;  // --random-recipients: 0 = none
  bool unique_recipients = false;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr, "policy_load: %s\n", why);
  std::fprintf(stderr,
               "usage: policy_load --socket unix:PATH|inet:HOST:PORT [--connections N]\n"
               "                   [--duration S | --count N] --domains FILE [--clients N]\n"
               "                   [--senders N] [--seed N] [--unique] [--timeout S]\n"
               "                   [--recipients FILE [--unique-recipients] |\n"
               "                    --random-recipients N]\n");
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(("missing value for " + a).c_str());
      return argv[++i];
    };
    if (a == "--socket")
      o.socket = value();
    else if (a == "--connections")
      o.connections = std::stoi(value());
    else if (a == "--duration")
      o.duration = std::stod(value());
    else if (a == "--count")
      o.count = std::stol(value());
    else if (a == "--domains")
      o.domains_file = value();
    else if (a == "--clients")
      o.clients = std::stoi(value());
    else if (a == "--senders")
      o.senders = std::stoi(value());
    else if (a == "--seed")
      o.seed = static_cast<unsigned>(std::stoul(value()));
    else if (a == "--unique")
      o.unique = true;
    else if (a == "--timeout")
      o.timeout = std::stod(value());
    else if (a == "--recipients")
      o.recipients_file = value();
    else if (a == "--unique-recipients")
      o.unique_recipients = true;
    else if (a == "--random-recipients")
      o.random_recipients = std::stoi(value());
    else
      usage(("unknown option " + a).c_str());
  }
  if (o.socket.empty() || o.domains_file.empty()) usage("--socket and --domains are required");
  if (o.unique_recipients && (o.recipients_file.empty() || o.unique))
    usage("--unique-recipients needs --recipients and not --unique");
  if (o.random_recipients < 0 || (o.random_recipients > 0 && !o.recipients_file.empty()))
    usage("--random-recipients must be 0 or more, and not with --recipients");
  if (o.connections < 1 || o.clients < 1 || o.senders < 1)
    usage("--connections, --clients and --senders must be at least 1");
  return o;
}

// A random public-looking IPv4 address: first octet 1..223, none of 10/8, 127/8, 0/8,
// 169.254/16, 172.16/12, 192.168/16, 192.0.2/24 (the benchmark's skip network).
std::string random_client(std::mt19937_64& rng) {
  for (;;) {
    uint32_t v = static_cast<uint32_t>(rng());
    unsigned a = v >> 24, b = (v >> 16) & 0xff;
    if (a == 0 || a == 10 || a == 127 || a >= 224 || (a == 169 && b == 254) ||
        (a == 172 && (b & 0xf0) == 16) || (a == 192 && b == 168) || (a == 192 && b == 0))
      continue;
    in_addr in{htonl(v)};
    char buf[INET_ADDRSTRLEN];
    ::inet_ntop(AF_INET, &in, buf, sizeof buf);
    return buf;
  }
}

std::string random_local(std::mt19937_64& rng) {
  static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string s;
  size_t n = 4 + rng() % 8;
  for (size_t i = 0; i < n; ++i) s += alphabet[rng() % (sizeof alphabet - 1)];
  return s;
}

struct Shared {
  const Options* opt = nullptr;
  std::vector<std::string> clients;
  std::vector<std::string> senders;     // local@domain (not --unique)
  std::vector<std::string> domains;     // --unique
  std::vector<std::string> recipients;  // --recipients
  std::atomic<long> next{0};            // requests started (--count / --unique)
  std::atomic<bool> stop{false};
  Clock::time_point deadline;
};

struct Result {
  std::vector<uint32_t> latency_us;
  long errors = 0;
  std::map<std::string, long> actions;
};

// Reads until the blank line ending a reply; returns false on EOF, error or timeout.
bool read_reply(int fd, std::string& buf, std::string& reply, double timeout) {
  for (;;) {
    auto end = buf.find("\n\n");
    if (end != std::string::npos) {
      reply = buf.substr(0, end);
      buf.erase(0, end + 2);
      return true;
    }
    timeval tv{static_cast<time_t>(timeout),
               static_cast<suseconds_t>((timeout - static_cast<long>(timeout)) * 1e6)};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char chunk[4096];
    ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buf.append(chunk, static_cast<size_t>(n));
  }
}

void worker(Shared& sh, int id, Result& res) {
  const Options& o = *sh.opt;
  std::mt19937_64 rng(o.seed * 1000003ULL + static_cast<unsigned>(id));
  int fd = load::connect_to(o.socket);
  if (fd < 0) {
    ++res.errors;
    return;
  }
  std::string buf, reply, req;
  long serial = 0;
  while (!sh.stop.load(std::memory_order_relaxed)) {
    std::string sender, recipient = "user@rcpt.example";
    bool once = o.unique || o.unique_recipients;
    if (once || o.count >= 0) {
      long n = sh.next.fetch_add(1);
      if ((o.count >= 0 && n >= o.count) || (o.unique && n >= static_cast<long>(sh.domains.size())))
        break;
      if (o.unique_recipients && n >= static_cast<long>(sh.recipients.size())) break;
      if (o.unique) sender = random_local(rng) + "@" + sh.domains[static_cast<size_t>(n)];
      if (o.unique_recipients) recipient = sh.recipients[static_cast<size_t>(n)];
    }
    if (!o.unique_recipients && !sh.recipients.empty())
      recipient = sh.recipients[rng() % sh.recipients.size()];
    if (Clock::now() >= sh.deadline && o.count < 0 && !once) break;
    if (sender.empty()) sender = sh.senders[rng() % sh.senders.size()];
    const std::string& client = sh.clients[rng() % sh.clients.size()];
    auto at = sender.find('@');
    std::string domain = sender.substr(at + 1);
    req.clear();
    req += "request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n";
    req += "client_address=" + client + "\nclient_name=unknown\n";
    req += "reverse_client_name=unknown\nhelo_name=mail." + domain + "\n";
    req += "sender=" + sender + "\nrecipient=" + recipient + "\nrecipient_count=0\n";
    // instance: unique across runs too (the pid), or a service's per-message cache would answer
    // a second run's requests from the first's
    req += "queue_id=\ninstance=" + std::to_string(::getpid()) + "." + std::to_string(id) + "." +
           std::to_string(++serial) + "\nsize=0\nsasl_method=\nsasl_username=\nsasl_sender=\n\n";
    auto t0 = Clock::now();
    if (!load::send_all(fd, req) || !read_reply(fd, buf, reply, o.timeout)) {
      ++res.errors;
      ::close(fd);
      buf.clear();
      fd = load::connect_to(o.socket);
      if (fd < 0) return;
      continue;
    }
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0);
    res.latency_us.push_back(static_cast<uint32_t>(us.count()));
    std::string verb = "none";
    auto pos = reply.find("action=");
    if (pos != std::string::npos) {
      auto e = reply.find_first_of(" \n", pos + 7);
      verb = reply.substr(pos + 7, e == std::string::npos ? e : e - pos - 7);
    } else {
      ++res.errors;
    }
    ++res.actions[verb];
  }
  ::close(fd);
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse(argc, argv);
  Shared sh;
  sh.opt = &o;
  {
    std::ifstream in(o.domains_file);
    if (!in) usage(("cannot read " + o.domains_file).c_str());
    for (std::string line; std::getline(in, line);)
      if (!line.empty() && line[0] != '#') sh.domains.push_back(line);
  }
  if (sh.domains.empty()) usage("no domains");
  if (!o.recipients_file.empty()) {
    std::ifstream in(o.recipients_file);
    if (!in) usage(("cannot read " + o.recipients_file).c_str());
    for (std::string line; std::getline(in, line);)
      if (!line.empty() && line[0] != '#') sh.recipients.push_back(line);
    if (sh.recipients.empty()) usage("no recipients");
  }
  std::mt19937_64 rng(o.seed);
  for (int i = 0; i < o.clients; ++i) sh.clients.push_back(random_client(rng));
  for (int i = 0; i < o.senders; ++i)
    sh.senders.push_back(random_local(rng) + "@" + sh.domains[rng() % sh.domains.size()]);
  for (int i = 0; i < o.random_recipients; ++i)
    sh.recipients.push_back(random_local(rng) + "@rcpt.example");

  std::vector<Result> results(static_cast<size_t>(o.connections));
  std::vector<std::thread> threads;
  auto t0 = Clock::now();
  sh.deadline =
      t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.duration));
  for (int i = 0; i < o.connections; ++i)
    threads.emplace_back(worker, std::ref(sh), i, std::ref(results[static_cast<size_t>(i)]));
  for (auto& t : threads) t.join();
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();

  std::vector<uint32_t> all;
  long errors = 0;
  std::map<std::string, long> actions;
  for (auto& r : results) {
    all.insert(all.end(), r.latency_us.begin(), r.latency_us.end());
    errors += r.errors;
    for (auto& [k, v] : r.actions) actions[k] += v;
  }
  load::print_summary(all, errors, secs);
  for (auto& [k, v] : actions) std::printf(" action_%s=%ld", k.c_str(), v);
  std::printf("\n");
  if (all.empty()) return 2;
  return errors == 0 ? 0 : 1;
}
