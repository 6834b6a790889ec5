// MLP surrogates: see mlp.h
