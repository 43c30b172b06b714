// Memory use of this process, from /proc/self/status (Linux); 0 where unavailable.
#pragma once

#include <cstdint>

namespace rptq {

struct ProcessMemory {
  uint64_t peak_rss = 0;   // VmHWM: the most resident memory so far, file-backed pages included
  uint64_t rss_anon = 0;   // RssAnon now: heap and other private memory
  uint64_t rss_file = 0;   // RssFile now: mapped files (the checkpoint), reclaimable by the kernel
};

ProcessMemory process_memory();

}  // namespace rptq
