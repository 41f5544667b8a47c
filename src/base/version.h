#ifndef PGBE_VERSION_H
#define PGBE_VERSION_H
#define PGBE_VERSION "0.1.0"
#endif
