// recipient_source.hpp — where postern-rcpt learns whether a recipient exists (LDAP, Redis),
// and the cache in front of them. Outcomes are values (exists or not); faults throw
// SourceFault, which the policy turns into DEFER_IF_PERMIT 4.4.3 (never a 5xx).
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace postern::rcpt {

/// A backend fault (down, slow, bind refused): `source` names the backend ("ldap", "redis").
class SourceFault : public std::runtime_error {
 public:
  SourceFault(std::string source, const std::string& what)
      : std::runtime_error(what), source_(std::move(source)) {}
  const std::string& source() const noexcept { return source_; }

 private:
  std::string source_;
};

/// One directory of recipients. exists() may block (network) and runs on many worker threads
/// at once: implementations are thread-safe.
class RecipientSource {
 public:
  virtual ~RecipientSource() = default;
  /// Short name for logs and metric labels ("ldap", "redis").
  virtual const char* name() const = 0;
  /// Whether `address` (lower-case user@domain) is a recipient here. Throws SourceFault.
  virtual bool exists(const std::string& address) = 0;
};

/// Cached answers: known (positive) and unknown (negative) with their own lifetimes.
class RecipientCache {
 public:
  virtual ~RecipientCache() = default;
  /// The cached answer for `address`, nullopt when absent or expired. May throw SourceFault
  /// (a shared cache that is down); the policy then asks the sources.
  virtual std::optional<bool> get(const std::string& address) = 0;
  /// Remembers `known` for `address` (positive or negative TTL). May throw SourceFault.
  virtual void put(const std::string& address, bool known) = 0;
};

}  // namespace postern::rcpt
