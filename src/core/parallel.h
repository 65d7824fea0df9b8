// parallel_for: runs one function over an index range on a few threads.
#pragma once

#include <cstddef>
#include <functional>

#include "core/status.h"

namespace vmail {

// Called from the calling thread about every 100 ms while work runs, and once
// with done == total when every call succeeded.
using ParallelProgress = std::function<void(size_t done, size_t total)>;

// Runs fn(i) for every i in [0, n) on up to `threads` threads (at least one)
// and reports progress from the calling thread. The first failure stops the
// others from starting new indices and is returned; indices already running
// finish. `fn` must be safe to call from several threads at once. Returns
// after every thread is joined.
Status parallel_for(size_t n, unsigned threads, const std::function<Status(size_t)>& fn,
                    const ParallelProgress& progress = {});

}  // namespace vmail
