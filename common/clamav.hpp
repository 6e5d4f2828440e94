// clamav.hpp — owners for libclamav handles (cl_engine, cl_fmap_t) and the once-per-process
// library initialisation. Include this instead of <clamav.h>.
// Source: libclamav API (clamav.h of ClamAV 1.x: cl_init, cl_engine_new/free, cl_fmap_*).
#pragma once

#include <clamav.h>

#include <memory>

#include "common/free.hpp"

namespace postern::clamav {

/// A compiled or compiling scan engine; cl_engine_free on destruction.
using EngineHandle = std::unique_ptr<cl_engine, Free<cl_engine_free>>;
/// A file map over memory or a descriptor; cl_fmap_close on destruction.
using FmapHandle = std::unique_ptr<cl_fmap_t, Free<cl_fmap_close>>;

}  // namespace postern::clamav
