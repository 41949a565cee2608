# secrets-injector: a static-stdlib release build on the official Swift image, with a libcurl
# built from Debian's curl source for HTTP(S) over OpenSSL only (scripts/build-release), run on
# debian:bookworm-slim with only libssl3 and ca-certificates, beside its portable (static) twin for
# app containers (scripts/build-release --portable). Nothing here is
# architecture-specific: build for both with
#   docker buildx build --platform linux/amd64,linux/arm64 -t secrets-injector:0.1.0 .

FROM swift:6.3.1-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends libssl-dev dpkg-dev make \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN install -D -m 0755 "$(scripts/build-release secrets-injector)" /out/secrets-injector \
    && strip /out/secrets-injector \
    && install -D -m 0755 "$(scripts/build-release --portable)" /out/secrets-injector-portable \
    && strip /out/secrets-injector-portable

# The operator's tools (`secrets-injector scan` and `migrate`, README "Migrating from environment
# variables"): their YAML reader, Yams, brings full Foundation and ICU (62 MB stripped), which the
# daemon's image never carries. `docker build --target tools .` adds them to the runtime image.
FROM build AS tools-build
RUN install -D -m 0755 "$(scripts/build-release secrets-injector-tools)" /out/secrets-injector-tools \
    && strip /out/secrets-injector-tools

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends libssl3 ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 injector \
    && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin injector \
    && install -d -m 0750 -o 10001 -g 1000 /run/secrets
COPY --from=build /out/secrets-injector /usr/local/bin/secrets-injector
# The same daemon as one static executable (glibc, OpenSSL, libcurl inside): what `install DIR`
# copies into an app's container for `exec`, and what `COPY --from=` takes into an app's image.
COPY --from=build /out/secrets-injector-portable /usr/local/bin/secrets-injector-portable
# The output folder, owned by the injector and readable by the app's group 1000. A Fargate bind
# mount starts as a copy of this folder (ECS creates it root-owned, 0755, when the image lacks it,
# and the non-root injector could not write there; it refuses such a folder with exit 5).
VOLUME ["/run/secrets"]
USER 10001:10001
ENTRYPOINT ["/usr/local/bin/secrets-injector"]
CMD ["run"]

FROM runtime AS tools
COPY --from=tools-build /out/secrets-injector-tools /usr/local/bin/secrets-injector-tools

# The default target: the daemon alone.
FROM runtime
