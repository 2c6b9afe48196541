# lmforge with its dependencies: the image of the Prefect worker (and of training pods/containers).
# Build from the repository root:  docker build -f infra/docker/lmforge.Dockerfile -t lmforge:latest .
FROM python:3.11-slim
# For GPU training, start FROM an image with CUDA and install the matching torch build instead of the CPU one.
RUN pip install --no-cache-dir "torch==2.13.0" --index-url https://download.pytorch.org/whl/cpu
WORKDIR /opt/lmforge
COPY . /opt/lmforge
RUN pip install --no-cache-dir -e ".[dask,postgres]" boto3
# Deployment entrypoints (flows/deploy.py, flows/run.py) are files of this checkout, found at the same path.
ENV LMFORGE_REPO=/opt/lmforge PYTHONUNBUFFERED=1
