#include "core/data/jsonl_reader.h"
