# vmail: Postfix + Dovecot with a SQLite user store, supervised by vmail-launch.
# Every step runs a script CI also runs: scripts/install-deps and scripts/build.
#
#   docker build -t vmail .
#   docker run -d -e MAIL_DOMAIN=example.com -v vmail-data:/data -v vmail-mail:/var/mail/vhosts \
#     -p 25:25 -p 465:465 -p 587:587 -p 143:143 -p 993:993 -p 110:110 -p 995:995 -p 4190:4190 vmail

FROM debian:12-slim AS build
WORKDIR /src
COPY scripts/install-deps scripts/install-deps
RUN scripts/install-deps --build && rm -rf /var/lib/apt/lists/*
COPY . .
RUN rm -rf build* demo \
 && VMAIL_BUILD_DIR=/build CMAKE_BUILD_TYPE=Release scripts/build -DVMAIL_WERROR=ON -DVMAIL_BUILD_TESTS=OFF \
 && cmake --install /build --prefix /usr/local --strip \
 && cp /usr/local/lib/*/libnss_vmail.so.2 /usr/local/lib/libnss_vmail.so.2

FROM debian:12-slim
COPY scripts/install-deps /usr/local/lib/vmail/install-deps
RUN /usr/local/lib/vmail/install-deps --runtime && rm -rf /var/lib/apt/lists/*
COPY --from=build /usr/local/sbin/vmail /usr/local/sbin/vmail-launch /usr/local/sbin/vmail-milter /usr/local/sbin/vmail-policyd /usr/local/sbin/vmail-auth-wait /usr/local/sbin/
# The NSS module (enable with `passwd: files vmail` in /etc/nsswitch.conf).
COPY --from=build /usr/local/lib/libnss_vmail.so.2 /usr/local/lib/
# OpenDKIM logs only to syslog; vmail-launch preloads this to get its lines on stderr.
COPY --from=build /usr/local/lib/vmail/libvmail-stderr-syslog.so /usr/local/lib/vmail/
RUN ldconfig
# State (database, certificates, DH parameters) and maildirs live on volumes;
# everything else is rendered again at each start.
VOLUME ["/data", "/var/mail/vhosts"]
EXPOSE 25 465 587 143 993 110 995 4190
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=30s --start-period=60s --retries=3 \
  CMD ["vmail", "health", "--timeout", "5"]
ENTRYPOINT ["vmail-launch"]
