# One image for the producer and the workers. llama-cpp-python compiles here (several minutes).
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends build-essential cmake git && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY . .
ENV RAGQ_VENV=/opt/venv RAGQ_HOME=/data PATH=/opt/venv/bin:$PATH
RUN bash scripts/setup.sh && /opt/venv/bin/pip install --no-cache-dir "psycopg[binary]>=3.1"
VOLUME /data
ENTRYPOINT ["ragq"]
