# lmforge with its dependencies: the image of the Prefect worker (and of training pods/containers).
# Build from the repository root:  docker build -f infra/docker/lmforge.Dockerfile -t lmforge:latest .
# What is not copied (.venv, workspace/, build outputs, host-compiled .so files) is listed in
# lmforge.Dockerfile.dockerignore beside this file (BuildKit reads it instead of a .dockerignore at the root).
FROM python:3.11-slim
# A C compiler builds the optional accelerators (pipeline/**/_*.c, ~20x faster curation); without one the install
# still succeeds but silently falls back to the pure-Python code.
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev && rm -rf /var/lib/apt/lists/*
# For GPU training, start FROM an image with CUDA and install the matching torch build instead of the CPU one.
RUN pip install --no-cache-dir "torch==2.13.0" --index-url https://download.pytorch.org/whl/cpu
WORKDIR /opt/lmforge
COPY . /opt/lmforge
RUN pip install --no-cache-dir -e ".[dask,postgres]" boto3
# Deployment entrypoints (flows/deploy.py, flows/run.py) are files of this checkout: the editable install keeps
# them at /opt/lmforge, the path deployments registered from this image point to.
ENV PYTHONUNBUFFERED=1
