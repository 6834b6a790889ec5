#include "core/stats/intervals.h"
