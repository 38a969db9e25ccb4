#ifndef PLTRACKD_CSYSTEMD_SHIM_H
#define PLTRACKD_CSYSTEMD_SHIM_H

// libsystemd's daemon and journal APIs, as pltrackd uses them (Debian: libsystemd-dev).
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>
#include <sys/uio.h>

#endif
