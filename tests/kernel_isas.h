#pragma once
// The kernel instruction sets this CPU runs: the core's tests check every one of them.
#include <vector>

#include "objectives/kernels/row_kernels.h"

namespace softrl::test {

inline std::vector<kernels::Isa> isas() {
  std::vector<kernels::Isa> v = {kernels::Isa::scalar};
  if (kernels::cpu_has_avx2_fma()) v.push_back(kernels::Isa::avx2);
  if (kernels::cpu_has_avx512()) v.push_back(kernels::Isa::avx512);
  return v;
}

}  // namespace softrl::test
