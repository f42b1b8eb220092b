# redis-server from Debian, run as the official `redis` image runs it (no entrypoint needed).
ARG BASE
FROM ${BASE}
EXPOSE 6379
CMD ["redis-server", "--protected-mode", "no"]
