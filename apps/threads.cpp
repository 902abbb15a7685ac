#include "apps/threads.h"

#include <dlfcn.h>

#include <torch/torch.h>

namespace softrl::apps {

void set_compute_threads(int threads) {
  torch::set_num_threads(threads);
  using SetFn = void (*)(int);
  if (auto fn = reinterpret_cast<SetFn>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) fn(threads);
}

}  // namespace softrl::apps
