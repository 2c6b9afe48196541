# MLflow tracking server with the PostgreSQL driver and the S3 client (for MinIO) it needs.
# 3.5 is the first MLflow whose `mlflow server` has --allowed-hosts (its security middleware, on by default), which
# compose.yaml passes: an older server refuses the flag and exits at start; tests/infra checks the two agree.
FROM python:3.11-slim
RUN pip install --no-cache-dir "mlflow>=3.5,<4" psycopg2-binary boto3
EXPOSE 5000
