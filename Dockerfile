# The project's image: the reference shop service (`shop`) and the harness's fakes
# (`chaosgate fake ...`, the fake provider and the notification capture) that the container
# backend runs next to it.
#
#   docker build -t chaosgate:latest .
#
# PYTHON_IMAGE: any image with python3 and its venv module (docker/offline/build-images passes a
# debootstrap'd Debian); PIP_INSTALL: what pip installs (offline: from a wheel directory).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
FROM ${PYTHON_IMAGE}
ARG PIP_INSTALL=/src[shop]
COPY . /src
RUN python3 -m venv /opt/chaosgate \
    && /opt/chaosgate/bin/pip install --no-cache-dir --disable-pip-version-check ${PIP_INSTALL} \
    && rm -rf /src
ENV PATH=/opt/chaosgate/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    SHOP_HOST=0.0.0.0 \
    CHAOSGATE_FAKE_HOST=0.0.0.0
EXPOSE 8000
CMD ["shop", "serve", "--port", "8000"]
