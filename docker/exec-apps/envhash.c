/* The app the exec layout's check starts in each app image (scripts/harness/real_stack.py): for
 * each name given, one line "NAME LENGTH FNV1A64" of its value in the environment ("NAME unset"
 * when absent), then its uid, gid and whether the injector's process is visible; never a value.
 * Linked with the image's glibc (dynamic) for the glibc-only image, static for the Debian ones. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    for (int index = 1; index < argc; index++) {
        const char *value = getenv(argv[index]);
        if (!value) {
            printf("%s unset\n", argv[index]);
            continue;
        }
        uint64_t hash = 14695981039346656037ULL;
        for (const unsigned char *byte = (const unsigned char *)value; *byte; byte++) {
            hash ^= *byte;
            hash *= 1099511628211ULL;
        }
        printf("%s %zu %016" PRIx64 "\n", argv[index], strlen(value), hash);
    }
    printf("uid %u gid %u parent %d\n", (unsigned)getuid(), (unsigned)getgid(), (int)getppid());
    return 0;
}
