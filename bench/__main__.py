"""`python -m bench NAME [--quick] [--json] [--save] [options]`: run one benchmark (see bench/harness.py).

NAME is one of pipeline, rails, loop, provenance, audit, streaming, guard_model, gpu_sim, ratelimit, writing, processes; `python -m bench NAME -h`
lists its options. `python -m bench.audit_db` builds the million-generation database the audit benchmark reads;
`python -m bench.engine_throughput` compares the engine with batched `generate`, `python -m bench.encoder_training`
times fine-tuning the shared encoder (their own scripts).
"""

import sys

from bench.harness import BENCHMARKS, main

if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
    print(__doc__.strip())
    print("benchmarks:", ", ".join(BENCHMARKS))
    raise SystemExit(0 if len(sys.argv) >= 2 else 2)
main(sys.argv[1], sys.argv[2:])
