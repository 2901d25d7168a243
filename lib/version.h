/* breakwater's version, the one source of it. */
#ifndef BW_VERSION_H
#define BW_VERSION_H

#define BW_VERSION "0.1.0-dev"

#endif
