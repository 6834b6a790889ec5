#include "core/features/text_featurizer.h"
