#include "core/data/csv_reader.h"
