// What the portable binary (scripts/build-release --portable: glibc, libgcc and libstdc++ linked
// statically) needs at start; in the dynamically linked build, none of it does anything.
#include <nss.h>
#include <stddef.h>

// Static glibc has NSS's "files" and "dns" sources built in, but would load any other source the
// image's nsswitch.conf names (myhostname, mdns, systemd...) with dlopen, together with the
// image's own libc.so.6, which crashes the process (SIGSEGV, seen with Debian 11's
// libnss-myhostname). So a static binary looks names and ids up in the built-in sources only,
// whatever nsswitch.conf says. A dynamically linked one (it has a _DYNAMIC, which a static link
// leaves undefined) keeps the system's NSS untouched.
extern const char _DYNAMIC[] __attribute__((weak));

__attribute__((constructor)) static void cprocess_builtin_nss_when_static(void) {
    if (_DYNAMIC != NULL) return;
    __nss_configure_lookup("hosts", "files dns");
    __nss_configure_lookup("passwd", "files");
    __nss_configure_lookup("group", "files");
}

// A static link starts with crtbeginT.o, which registers the executable's whole .eh_frame with
// libgcc's unwinder; the first unwind (every start has one: the async main's dispatch_main ends
// the main thread with pthread_exit) then sorts all its FDEs, 40 ms of CPU. The portable link
// sends those two calls here (-Xlinker --wrap=...), so nothing is registered and the unwinder
// finds FDEs as in a dynamic binary: through dl_iterate_phdr and the .eh_frame_hdr search table.
void __wrap___register_frame_info(const void *begin, void *object) {
    (void)begin;
    (void)object;
}

void *__wrap___deregister_frame_info(const void *begin) {
    (void)begin;
    return NULL;
}
