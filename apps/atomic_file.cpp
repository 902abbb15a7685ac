#include "apps/atomic_file.h"

#include <fstream>

#include "apps/config.h"

namespace softrl::apps {

void write_text_atomic(const std::filesystem::path& path, const std::string& text) {
  const std::filesystem::path tmp = path.string() + ".tmp";
  {
    std::ofstream o(tmp, std::ios::trunc);
    o << text;
    if (!o) throw InputError(path.string() + ": cannot write");
  }
  std::filesystem::rename(tmp, path);
}

}  // namespace softrl::apps
