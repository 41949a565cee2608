# secrets-injector: the daemon as one static executable (scripts/build-release --portable: the
# Swift runtime, glibc, libstdc++, OpenSSL and a libcurl built from Debian's curl source, all
# linked in), built on the official Swift image, run FROM scratch with only what it reads: the
# binary, Debian's CA bundle, passwd and group entries, and the dpkg records of the Debian packages
# whose code or files are inside (a scanner's view; docs/SECURITY.md, "The image"). No shell, no
# package manager. `scripts/image-files IMAGE` lists every file and where it comes from. Nothing
# here is architecture-specific: build for both with
#   docker buildx build --platform linux/amd64,linux/arm64 -t secrets-injector:0.1.0 .
# A Debian security update reaches the image by rebuilding it without the cache
# (`docker build --no-cache .`): the apt step below then installs the newest packages.

FROM swift:6.3.1-bookworm AS build
# The static libraries the link takes (libc6-dev, libstdc++-12-dev, libgcc-12-dev, libssl-dev),
# and the CA bundle, named so that `install` brings each to the newest version the Debian mirrors
# (with bookworm-security) carry.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libssl-dev libc6-dev libstdc++-12-dev libgcc-12-dev \
        ca-certificates base-files dpkg-dev make \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN install -D -m 0755 "$(scripts/build-release --portable)" /rootfs/usr/local/bin/secrets-injector \
    && strip /rootfs/usr/local/bin/secrets-injector
# The runtime's whole file system, in /rootfs. `secrets-injector-portable` is the same file (a hard
# link: no bytes): the name `install DIR` looks for beside the binary and that app images
# `COPY --from=`. The output folder is owned by the injector and readable by the app's group 1000:
# a Fargate bind mount starts as a copy of it (ECS creates it root-owned, 0755, when the image lacks
# it, and the non-root injector could not write there; it refuses such a folder with exit 5).
RUN ln /rootfs/usr/local/bin/secrets-injector /rootfs/usr/local/bin/secrets-injector-portable \
    && install -D -m 0644 /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/ca-certificates.crt \
    && install -m 0644 /usr/lib/os-release /rootfs/etc/os-release \
    && printf '%s\n' 'root:x:0:0:root:/root:/usr/sbin/nologin' \
        'injector:x:10001:10001:secrets-injector:/nonexistent:/usr/sbin/nologin' >/rootfs/etc/passwd \
    && printf '%s\n' 'root:x:0:' 'app:x:1000:' 'injector:x:10001:' >/rootfs/etc/group \
    && chmod 0644 /rootfs/etc/passwd /rootfs/etc/group \
    && install -d -m 0750 -o 10001 -g 1000 /rootfs/run/secrets \
    && install -d -m 0755 /rootfs/var/lib/dpkg/status.d \
    && for package in libc6-dev libssl-dev libstdc++-12-dev libgcc-12-dev ca-certificates base-files; do \
        dpkg-query -s "$package" >"/rootfs/var/lib/dpkg/status.d/$package"; \
    done \
    && read -r _ curl_version <.build-libcurl/stamp \
    && printf '%s\n' 'Package: secrets-injector-libcurl' 'Status: install ok installed' 'Priority: optional' \
        'Section: libs' "Architecture: $(dpkg --print-architecture)" "Source: curl" "Version: $curl_version" \
        "Description: libcurl from Debian's curl $curl_version source package, linked statically" \
        ' built by scripts/build-release (HTTP and HTTPS over OpenSSL only) into' \
        ' /usr/local/bin/secrets-injector.' >/rootfs/var/lib/dpkg/status.d/secrets-injector-libcurl \
    && { echo "swift $(swift --version 2>&1 | sed -n 's/.*Swift version \([^ ]*\).*/\1/p' | head -1) static stdlib"; \
        awk -F'"' '/"identity"/ { id = $4 } /"version"/ && id != "yams" { print id, $4 }' Package.resolved; } \
        | install -D -m 0644 /dev/stdin /rootfs/usr/local/share/doc/secrets-injector/linked \
    && chmod 0644 /rootfs/var/lib/dpkg/status.d/*

# The operator's tools (`secrets-injector scan` and `migrate`, docs/migrating.md, "Migrating from environment
# variables"): their YAML reader, Yams, brings full Foundation and ICU (62 MB stripped), which the
# daemon's image never carries. `docker build --target tools .` builds them into an image of their
# own, on Debian with libssl3, beside the daemon.
FROM build AS tools-build
RUN install -D -m 0755 "$(scripts/build-release secrets-injector-tools)" /out/secrets-injector-tools \
    && strip /out/secrets-injector-tools

FROM scratch AS runtime
COPY --from=build /rootfs/ /
VOLUME ["/run/secrets"]
USER 10001:10001
ENTRYPOINT ["/usr/local/bin/secrets-injector"]
CMD ["run"]

FROM debian:bookworm-slim AS tools
RUN apt-get update \
    && apt-get install -y --no-install-recommends libssl3 ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 injector \
    && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin injector \
    && install -d -m 0750 -o 10001 -g 1000 /run/secrets
COPY --from=build /rootfs/usr/local/bin/ /usr/local/bin/
COPY --from=tools-build /out/secrets-injector-tools /usr/local/bin/secrets-injector-tools
VOLUME ["/run/secrets"]
USER 10001:10001
ENTRYPOINT ["/usr/local/bin/secrets-injector"]
CMD ["run"]

# The default target: the daemon alone.
FROM runtime
