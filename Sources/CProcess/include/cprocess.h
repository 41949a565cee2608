// Process hardening that needs variadic prctl(2), which Swift cannot call.
#ifndef SECRETS_INJECTOR_CPROCESS_H
#define SECRETS_INJECTOR_CPROCESS_H

/// Makes the process non-dumpable (no core files, no ptrace by same-uid processes) and sets
/// RLIMIT_CORE to 0. Returns 0, or -1 with errno set when either call fails.
int cprocess_disable_core_dumps(void);

#endif
