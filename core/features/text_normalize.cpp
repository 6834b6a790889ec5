#include "core/features/text_normalize.h"
