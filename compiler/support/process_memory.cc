#include "support/process_memory.h"

#include <fstream>
#include <string>

namespace rptq {

ProcessMemory process_memory() {
  ProcessMemory m;
  std::ifstream in("/proc/self/status");
  std::string key;
  uint64_t kib = 0;
  while (in >> key) {
    if (key == "VmHWM:" || key == "RssAnon:" || key == "RssFile:") {
      in >> kib;
      (key == "VmHWM:" ? m.peak_rss : key == "RssAnon:" ? m.rss_anon : m.rss_file) = kib * 1024;
    }
    in.ignore(1 << 12, '\n');
  }
  return m;
}

}  // namespace rptq
