#include "agents/core/learner.h"

namespace softrl::agents {

bool Learner::finite() { return all_finite(trained_parameters()); }

}  // namespace softrl::agents
