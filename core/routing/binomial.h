// Exact binomial tails and Clopper–Pearson bounds for the guaranteed calibration.
#pragma once
