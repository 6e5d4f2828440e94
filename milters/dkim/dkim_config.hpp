// dkim_config.hpp — postern-dkim's own option table and the typed, validated configuration
// built from it before anything listens: keys loaded and checked, tables parsed, lists parsed.
// Errors throw postern::ConfigError (what, which option or file, why).
#pragma once

#include <memory>

#include "common/options.hpp"
#include "milters/dkim/signer.hpp"
#include "milters/dkim/signing_policy.hpp"

namespace postern::dkim {

/// Everything a session needs; built once, shared read-only by all sessions (threads).
struct DkimConfig {
  SignerConfig signer;
  std::unique_ptr<SigningPolicy> policy;
};

/// Declare postern-dkim's options (keys, tables, internal hosts, canonicalization, headers).
void add_dkim_options(po::options_description& options);

/// Build and validate the configuration from parsed options. Throws ConfigError.
DkimConfig build_dkim_config(const po::variables_map& values);

}  // namespace postern::dkim
