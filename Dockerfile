# One image for the producer and the workers. llama-cpp-python compiles in a build stage (several minutes) into a
# wheel cache, as scripts/setup.sh does on a machine; the runtime stage installs from that cache, no compiler.
FROM python:3.11-slim AS llama-build
RUN apt-get update && apt-get install -y --no-install-recommends build-essential cmake && rm -rf /var/lib/apt/lists/*
# portable CPU build; for CUDA or Metal see the README ("GPU offload")
RUN CMAKE_ARGS="-DGGML_NATIVE=OFF" pip wheel --no-deps llama-cpp-python==0.3.36 -w /wheels

FROM python:3.11-slim
COPY --from=llama-build /wheels /root/.cache/ragq/wheels
WORKDIR /app
COPY . .
ENV RAGQ_VENV=/opt/venv RAGQ_HOME=/data PATH=/opt/venv/bin:$PATH
RUN RAGQ_LLAMA_BACKEND=cpu-portable bash scripts/setup.sh && /opt/venv/bin/pip install --no-cache-dir "psycopg[binary]>=3.1"
VOLUME /data
ENTRYPOINT ["ragq"]
