#include "core/data/splits.h"
