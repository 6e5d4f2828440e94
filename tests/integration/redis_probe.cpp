// redis_probe.cpp — test-only driver of common/redis.hpp for the integration tests
// (test_redis_client.py): `redis_probe URL` reads one command per stdin line (words split at
// spaces), runs it through one long-lived postern::redis::Client and prints one line per
// command: "reply TEXT" (arrays as space-joined elements, nil as "(nil)") or "error WHY".
// The special line "server" prints the server the client uses now.
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "common/config_error.hpp"
#include "common/log.hpp"
#include "common/redis.hpp"

namespace {

std::string show(const postern::redis::Reply& r) {
  using Type = postern::redis::Reply::Type;
  switch (r.type) {
    case Type::Nil:
      return "(nil)";
    case Type::Integer:
      return std::to_string(r.integer);
    case Type::Array: {
      std::string out;
      for (const auto& e : r.elements) out += (out.empty() ? "" : " ") + show(e);
      return out;
    }
    default:
      return r.str;
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: redis_probe URL\n";
    return 2;
  }
  postern::log::init("redis_probe", postern::log::Target::Stderr, postern::log::Level::Info);
  try {
    postern::redis::Options options;
    options.connect_timeout_seconds = 0.5;
    options.command_timeout_seconds = 1.0;
    options.retry_interval_seconds = 0.2;
    options.name = "probe";
    postern::redis::OutageTracker tracker("probe");
    postern::redis::Client client(postern::redis::parse_url(argv[1]), options, &tracker);
    std::string line;
    while (std::getline(std::cin, line)) {
      if (line == "server") {
        std::cout << "reply " << client.current_server() << std::endl;
        continue;
      }
      std::istringstream words(line);
      std::vector<std::string> args;
      for (std::string w; words >> w;) args.push_back(w);
      std::vector<std::string_view> views(args.begin(), args.end());
      try {
        std::string reply = show(client.command(views));  // before any output: it may throw
        std::cout << "reply " << reply << std::endl;
      } catch (const postern::redis::RedisError& e) {
        std::cout << "error " << e.what() << std::endl;
      }
    }
  } catch (const postern::ConfigError& e) {
    std::cerr << e.what() << "\n";
    return 2;
  }
  return 0;
}
