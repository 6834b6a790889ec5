// NumPy .npy files (format versions 1.0–3.0): 2-D float32 or float64 arrays in C order.
#pragma once

#include <filesystem>

#include "core/data/matrix.h"

namespace deferbench {

// Reads a 2-D float32 or float64 (little-endian, C order) array; float64 is converted to float.
// Errors (deferbench::Error, naming the file): not an .npy file, unreadable header, a dtype
// other than <f4/<f8, Fortran order, not 2-D, truncated data, NaN or infinity (naming the row and
// column of the first one).
Matrix read_npy(const std::filesystem::path& path);

// Writes a float32 C-order 2-D array (format 1.0), atomically.
void write_npy(const std::filesystem::path& path, MatrixView m);

}  // namespace deferbench
