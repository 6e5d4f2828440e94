// redis_store.cpp — see redis_store.hpp.
#include "policyd/greylist/redis_store.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <optional>

namespace postern::greylist {

std::optional<std::array<int64_t, 3>> parse_record(std::string_view value) {
  std::array<int64_t, 3> out{};
  const char* p = value.data();
  const char* end = value.data() + value.size();
  for (size_t i = 0; i < 3; ++i) {
    auto [next, ec] = std::from_chars(p, end, out[i]);
    if (ec != std::errc() || next == p) return std::nullopt;
    p = next;
    if (i < 2) {
      if (p == end || *p != ',') return std::nullopt;
      ++p;
    }
  }
  if (p != end) return std::nullopt;
  return out;
}

namespace {

std::string format_record(int64_t a, int64_t b, int64_t c) {
  return std::to_string(a) + "," + std::to_string(b) + "," + std::to_string(c);
}

}  // namespace

RedisStore::RedisStore(redis::Client& client, std::string prefix)
    : client_(client), prefix_(std::move(prefix)) {}

StoreSnapshot RedisStore::load(std::string_view triplet_key, std::string_view client_key,
                               int64_t now) {
  std::string tkey = prefix_ + "t:" + std::string(triplet_key);
  std::string ckey = prefix_ + "c:" + std::string(client_key);
  std::vector<std::vector<std::string_view>> commands = {{"GET", tkey}};
  if (!client_key.empty()) commands.push_back({"GET", ckey});
  std::vector<redis::Reply> replies;
  try {
    replies = client_.pipeline(commands);
  } catch (const redis::RedisError& e) {
    throw StoreError(std::string("redis: ") + e.what());
  }
  StoreSnapshot out;
  if (replies[0].type == redis::Reply::Type::String) {
    if (auto r = parse_record(replies[0].str); r && (*r)[2] > now) {
      out.triplet = TripletRecord{(*r)[0], (*r)[1], (*r)[2]};
    }
  }
  if (replies.size() > 1 && replies[1].type == redis::Reply::Type::String) {
    if (auto r = parse_record(replies[1].str); r && (*r)[2] > now) {
      out.client = ClientRecord{(*r)[0], (*r)[1], (*r)[2]};
    }
  }
  return out;
}

void RedisStore::save(const StoreUpdate& update) {
  std::vector<std::string> owned;  // keys, values and TTLs the commands point into
  owned.reserve(6);
  std::vector<std::vector<std::string_view>> commands;
  auto add = [&](std::string key, std::string value, int64_t ttl) {
    owned.push_back(std::move(key));
    owned.push_back(std::move(value));
    owned.push_back(std::to_string(std::max<int64_t>(ttl, 1)));
    size_t n = owned.size();
    commands.push_back({"SET", owned[n - 3], owned[n - 2], "EX", owned[n - 1]});
  };
  if (update.triplet) {
    const auto& r = update.triplet->second;
    add(prefix_ + "t:" + update.triplet->first,
        format_record(r.first_seen, r.last_seen, r.expire_at), r.expire_at - r.last_seen);
  }
  if (update.client) {
    const auto& r = update.client->second;
    add(prefix_ + "c:" + update.client->first, format_record(r.count, r.last_seen, r.expire_at),
        r.expire_at - r.last_seen);
  }
  if (commands.empty()) return;
  try {
    client_.pipeline(commands);
  } catch (const redis::RedisError& e) {
    throw StoreError(std::string("redis: ") + e.what());
  }
}

}  // namespace postern::greylist
