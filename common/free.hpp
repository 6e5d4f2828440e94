// free.hpp — the stateless deleter shared by every C-library owner header
// (openssl.hpp and, later, redis/ldap/lmdb wrappers): unique_ptr<T, Free<T_free>>.
#pragma once

namespace postern {

/// Deleter calling `Fn(p)`; stateless, so the unique_ptr stays one pointer wide.
template <auto Fn>
struct Free {
  template <class T>
  void operator()(T* p) const noexcept {
    Fn(p);
  }
};

}  // namespace postern
