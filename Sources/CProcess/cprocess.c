#define _GNU_SOURCE
#include "cprocess.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <linux/openat2.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

int cprocess_disable_core_dumps(void) {
    struct rlimit none = {0, 0};
    int result = 0;
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) result = -1;
    if (setrlimit(RLIMIT_CORE, &none) != 0) result = -1;
    return result;
}

int cprocess_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

int cprocess_spawn_close_from(posix_spawn_file_actions_t *actions, int lowest) {
    return posix_spawn_file_actions_addclosefrom_np(actions, lowest);
}

int cprocess_open_beneath(int dirfd, const char *path, int flags, unsigned int mode) {
#ifdef SYS_openat2
    struct open_how how = {0};
    how.flags = (unsigned long long)flags;
    how.mode = (flags & O_CREAT) ? mode : 0;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
#else
    errno = ENOSYS;
    return -1;
#endif
}

int cprocess_syncfs(int fd) { return syncfs(fd); }

int cprocess_become_subreaper(void) { return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); }

int cprocess_spawn_clean_attributes(posix_spawnattr_t *attributes) {
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    if (posix_spawnattr_setflags(attributes, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK) != 0)
        return -1;
    if (posix_spawnattr_setpgroup(attributes, 0) != 0) return -1;
    if (posix_spawnattr_setsigdefault(attributes, &all) != 0) return -1;
    return posix_spawnattr_setsigmask(attributes, &none);
}

int cprocess_exited_child(void) {
    siginfo_t info;
    memset(&info, 0, sizeof info);
    if (waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) != 0) return -1;
    return info.si_pid;
}
