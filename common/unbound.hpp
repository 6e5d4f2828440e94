// unbound.hpp — owners for libunbound handles: the resolver context (ub_ctx_delete) and a query
// result (ub_resolve_free). Source: libunbound(3), unbound 1.17.
#pragma once

#include <unbound.h>

#include <memory>

#include "common/free.hpp"

namespace postern {

using UbCtx = std::unique_ptr<ub_ctx, Free<ub_ctx_delete>>;
using UbResult = std::unique_ptr<ub_result, Free<ub_resolve_free>>;

}  // namespace postern
