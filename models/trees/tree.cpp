// The decision-tree learner: see tree.h
