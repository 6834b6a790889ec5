#include "models/torch/linalg.h"
