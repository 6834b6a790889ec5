// Config composition: see compose.h
