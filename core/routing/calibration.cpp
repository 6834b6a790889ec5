// Threshold calibration: see calibration.h
