#include "core/features/tfidf.h"
