#include "core/features/hashed_ngrams.h"
