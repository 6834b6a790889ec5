#include "core/data/npy.h"
