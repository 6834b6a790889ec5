#include "core/features/sparse.h"
