// Process calls Swift cannot make directly: variadic prctl(2), and glibc's GNU extensions
// (pipe2, posix_spawn_file_actions_addclosefrom_np, syncfs) that need _GNU_SOURCE. Linked
// statically, it also confines NSS to glibc's built-in sources at start (static_link.c).
#ifndef SECRETS_INJECTOR_CPROCESS_H
#define SECRETS_INJECTOR_CPROCESS_H

#include <spawn.h>

/// Makes the process non-dumpable (no core files, no ptrace by same-uid processes) and sets
/// RLIMIT_CORE's soft limit to 0, keeping the limit it had for the app `exec` starts. Returns 0, or
/// -1 with errno set when either call fails.
int cprocess_disable_core_dumps(void);

/// Gives process `pid` (0: this one) the RLIMIT_CORE this process had before
/// `cprocess_disable_core_dumps`; `cprocess_exec_path` and `cprocess_spawn_as` do it themselves.
/// Returns 0, or -1 with errno set.
int cprocess_restore_core_limit(int pid);

/// pipe2(fds, O_CLOEXEC): neither end leaks into processes started meanwhile.
int cprocess_pipe_cloexec(int fds[2]);

/// Closes every descriptor from `lowest` up in the spawned child.
int cprocess_spawn_close_from(posix_spawn_file_actions_t *actions, int lowest);

/// openat2(2) with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS: opens `path` below `dirfd` only, through
/// no symbolic link at all. -1 with errno ENOSYS where the kernel (or a seccomp filter) lacks it.
int cprocess_open_beneath(int dirfd, const char *path, int flags, unsigned int mode);

/// syncfs(2): flushes the filesystem that holds `fd`.
int cprocess_syncfs(int fd);

/// prctl(PR_SET_CHILD_SUBREAPER, 1): orphans of the processes we start become our children (and
/// ours to reap), as they would be of PID 1. Returns 0, or -1 with errno set.
int cprocess_become_subreaper(void);

/// The pid of a child that has exited, left unreaped (waitid with WNOWAIT); 0 when none has, -1
/// with errno set (ECHILD: no children at all).
int cprocess_exited_child(void);

/// Spawn attributes for a child that starts clean: its own process group, every signal at its
/// default action (the parent ignores SIGHUP and SIGPIPE) and none blocked.
int cprocess_spawn_clean_attributes(posix_spawnattr_t *attributes);

/// execvpe(3): runs `file` (looked up on this process's PATH as execvp does) in this process's
/// place with `envp`, every signal at its default action and none blocked, no descriptor from 3
/// up; first as `uid`:`gid` (no supplementary groups) when `change_ids`. Returns only on failure,
/// -1 with errno set.
int cprocess_exec_path(const char *file, char *const argv[], char *const envp[], int change_ids, unsigned int uid,
                       unsigned int gid);

/// Starts `file` (PATH lookup as execvp) as `uid`:`gid` (no supplementary groups) in a process
/// group of its own, every signal at its default action and none blocked, descriptors from 3 up
/// closed: fork, setpgid, setgroups/setgid/setuid, execvpe. posix_spawn cannot change ids, hence
/// this. Sets `*pid` and returns 0, or returns the errno of the step that failed (nothing runs).
int cprocess_spawn_as(int *pid, const char *file, char *const argv[], char *const envp[], unsigned int uid,
                      unsigned int gid);

/// From now on every signal this process receives is sent on to the process group `group`, except
/// SIGCHLD, SIGKILL and SIGSTOP (which cannot be caught), SIGPIPE (ours: a closed stream) and the
/// faults a program raises itself (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS). The calling
/// thread blocks none from then on, so at least one thread takes each. With `group` 0 each signal is
/// held (once) until `cprocess_forward_signals_to` names the group.
int cprocess_forward_signals(int group);

/// Sets the group `cprocess_forward_signals(0)` holds signals for, and sends it those held. With
/// `group` 0, signals are held again (the app is being restarted) until a group is named.
int cprocess_forward_signals_to(int group);

/// How many SIGTERM or SIGINT have been forwarded since `cprocess_forward_signals`.
int cprocess_forwarded_stops(void);


/// Writes a byte to a pipe on every SIGCHLD (SA_NOCLDSTOP) and returns its read end (nonblocking,
/// close-on-exec), or -1 with errno set; the same descriptor on later calls.
int cprocess_watch_children(void);

/// Writes a byte to that pipe, so that its reader wakes for another reason than a child.
int cprocess_wake_children_watcher(void);

#endif
