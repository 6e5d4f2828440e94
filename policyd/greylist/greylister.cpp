// greylister.cpp — the triplet state machine (see greylister.hpp; postgrey 1.37
// smtpd_access_policy line by line, with expiry made explicit).
#include "policyd/greylist/greylister.hpp"

#include <algorithm>

namespace postern::greylist {

std::string_view outcome_name(Outcome outcome) {
  switch (outcome) {
    case Outcome::Greylisted:
      return "greylisted";
    case Outcome::Passed:
      return "passed";
    case Outcome::ClientWhitelisted:
      return "client-whitelist";
    case Outcome::RecipientWhitelisted:
      return "recipient-whitelist";
    case Outcome::AutoWhitelisted:
      return "client-awl";
    case Outcome::BadClientAddress:
      return "bad-client-address";
  }
  return "unknown";
}

Greylister::Greylister(GreylistSettings settings, Store& store, Clock clock,
                       std::shared_ptr<const Whitelists> whitelists)
    : settings_(settings),
      store_(store),
      clock_(std::move(clock)),
      whitelists_(std::move(whitelists)) {
  if (!whitelists_) whitelists_ = std::make_shared<Whitelists>();
}

void Greylister::set_whitelists(std::shared_ptr<const Whitelists> whitelists) {
  std::lock_guard lock(mutex_);
  whitelists_ = std::move(whitelists);
}

std::shared_ptr<const Whitelists> Greylister::whitelists() const {
  std::lock_guard lock(mutex_);
  return whitelists_;
}

// postgrey is_new_instance: the last 10 instances seen on a first pass.
bool Greylister::is_new_instance(std::string_view instance) {
  if (instance.empty()) return true;
  std::lock_guard lock(mutex_);
  if (std::find(instances_.begin(), instances_.end(), instance) != instances_.end()) return false;
  instances_.emplace_front(instance);
  if (instances_.size() > 10) instances_.pop_back();
  return true;
}

Verdict Greylister::decide(const TripletRequest& request) {
  Verdict v;
  auto lists = whitelists();
  if (lists->clients.matches(request.client_name, request.client_address)) {
    v.outcome = Outcome::ClientWhitelisted;
    return v;
  }
  if (lists->recipients.matches(request.recipient)) {
    v.outcome = Outcome::RecipientWhitelisted;
    return v;
  }
  auto network = client_network(request.client_address, settings_.network);
  if (!network) {
    v.outcome = Outcome::BadClientAddress;
    return v;
  }
  const int64_t now = request.now != 0 ? request.now : clock_();
  const bool awl = settings_.auto_whitelist_clients > 0;
  // The auto-whitelist is keyed by the exact address (postgrey: $ip->addr()).
  std::string client_key = awl ? *client_network(request.client_address, {0, 0, true}) : "";
  v.triplet_key =
      triplet_key(*network, normalize_sender(request.sender, settings_.replace_sender_digits),
                  request.recipient);
  StoreSnapshot seen = store_.load(v.triplet_key, client_key, now);
  StoreUpdate update;

  auto client_record = [&](int64_t count) {
    return std::make_pair(client_key, ClientRecord{count, now, now + settings_.max_age_seconds});
  };
  if (awl && seen.client && seen.client->count >= settings_.auto_whitelist_clients) {
    if (now >= seen.client->last_seen + settings_.auto_whitelist_interval_seconds ||
        seen.client->last_seen > now) {
      update.client = client_record(seen.client->count + 1);  // statistics, and keeps it alive
      store_.save(update);
    }
    v.outcome = Outcome::AutoWhitelisted;
    return v;
  }

  int64_t first = now;
  bool last_was_successful = false;
  if (seen.triplet) {
    first = seen.triplet->first_seen;
    if (seen.triplet->last_seen - first >= settings_.delay_seconds) {
      last_was_successful = true;
    } else if (now - first > settings_.retry_window_seconds) {
      first = now;  // the first retry came after the retry window: start again
    }
    if (first > now) first = now;  // first seen in the future (clock went back)
  }
  const int64_t last = now;
  const bool passed_once = last - first >= settings_.delay_seconds;
  const int64_t keep = passed_once
                           ? settings_.max_age_seconds
                           : std::min(settings_.retry_window_seconds, settings_.max_age_seconds);
  // postgrey starts a triplet again only when now - first > retry window (and forgets one that
  // passed when now - last > max-age): strictly, so a retry at exactly the end still counts. The
  // stores treat a record as gone when expire_at <= now, hence the + 1.
  update.triplet = std::make_pair(v.triplet_key, TripletRecord{first, last, last + keep + 1});

  const int64_t diff = settings_.delay_seconds - (now - first);
  if (awl && diff <= 0 && !last_was_successful) {
    int64_t count = seen.client ? seen.client->count : 0;
    if (!seen.client || now >= seen.client->last_seen + settings_.auto_whitelist_interval_seconds) {
      update.client = client_record(count + 1);
      v.newly_auto_whitelisted = count + 1 == settings_.auto_whitelist_clients;
    }
  }
  store_.save(update);

  if (diff > 0) {
    v.outcome = Outcome::Greylisted;
    v.seconds_left = diff;
    v.early_retry = now != first;
    return v;
  }
  v.outcome = Outcome::Passed;
  v.delayed_seconds = now - first;
  v.first_pass = !last_was_successful && is_new_instance(request.instance);
  return v;
}

}  // namespace postern::greylist
