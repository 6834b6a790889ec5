// NumPy .npy files (format versions 1.0–3.0): 2-D float32 or float64 arrays in C order.
#pragma once

#include <filesystem>

#include "core/data/matrix.h"

namespace deferbench {

// Reads a 2-D float32 or float64 (little-endian, C order) array; float64 is converted to float.
// Arrays with 0 rows are valid. Errors (deferbench::Error, naming the file): empty file, not an
// .npy file, unreadable header, a dtype other than <f4/<f8, Fortran order, not 2-D, truncated
// data, NaN or infinity or a float64 outside the float32 range (naming the 1-based row and
// column of the first one).
Matrix read_npy(const std::filesystem::path& path);

// Writes a float32 C-order 2-D array (format 1.0, header padded so the data starts at a multiple
// of 64 bytes), atomically.
void write_npy(const std::filesystem::path& path, MatrixView m);

}  // namespace deferbench
