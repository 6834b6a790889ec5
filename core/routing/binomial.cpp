#include "core/routing/binomial.h"
