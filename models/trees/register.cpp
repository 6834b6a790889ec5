#include "models/registry.h"

namespace deferbench {

void register_tree_models(ModelRegistry&) {}

}  // namespace deferbench
