#include "core/features/lsa.h"
