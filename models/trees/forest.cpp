// dt, rf, et classifiers: see forest.h
