#include "core/stream/monitor.h"

#include <cmath>

#include "core/util/error.h"

namespace deferbench {

AgreementMonitor::AgreementMonitor(double target, double delta) : target_(target), delta_(delta) {
  DB_CHECK(target > 0 && target <= 1, "stream monitor: expected a target in (0, 1], got {}",
           target);
  DB_CHECK(delta > 0 && delta < 1, "stream monitor: expected δ in (0, 1), got {}", delta);
  restart();
}

double AgreementMonitor::epoch_delta() const {
  const double k = epoch_;
  return delta_ / (k * (k + 1.0));
}

void AgreementMonitor::restart() {
  ++epoch_;
  cs_.emplace(epoch_delta(), CsSides::two_sided);
}

void AgreementMonitor::observe(bool agrees) {
  cs_->observe(agrees ? 1.0 : 0.0);
}

}  // namespace deferbench
