// Confidence intervals over seeds and the Student-t quantile (filled by the report split).
#pragma once
