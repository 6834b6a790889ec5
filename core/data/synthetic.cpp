#include "core/data/synthetic.h"
