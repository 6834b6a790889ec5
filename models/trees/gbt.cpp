#include "models/registry.h"

namespace deferbench {

void register_gbt_model(ModelRegistry&) {}

}  // namespace deferbench
