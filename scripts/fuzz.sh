#!/usr/bin/env bash
# Fuzzes the frame decoder and the validators of every message type with libFuzzer
# (Sources/pltrackd-fuzz): builds the target with -sanitize=fuzzer in .build/fuzz, seeds a corpus
# with every payload of protocol/vectors.json and Tests/PLTrackTests/Corpus, and the inputs that
# once failed it (Tests/PLTrackTests/FuzzRegressions, run first by every run), and runs.
#
#   scripts/fuzz.sh              # 200,000 runs (what CI does)
#   FUZZ_SEED=0 scripts/fuzz.sh 10000000   # a longer run with a random seed
#
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-200000}"
swift build -c release --scratch-path .build/fuzz --product pltrackd-fuzz \
    -Xswiftc -sanitize=fuzzer -Xswiftc -DFUZZING -Xswiftc -use-ld=lld  # gold fails on the fuzzer runtime
corpus=.build/fuzz/corpus
mkdir -p "$corpus"
python3 - "$corpus" <<'PY'
import json, os, sys
corpus = sys.argv[1]
seeds = [v["payload"].encode("utf-8") for v in json.load(open("protocol/vectors.json"))["vectors"]]
for entry in json.load(open("Tests/PLTrackTests/Corpus/malformed-frames.json"))["entries"]:
    raw = bytes.fromhex(entry["bytes"])
    if len(raw) <= 4096:
        seeds.append(raw)          # as a stream, for the decoder
        seeds.append(raw[4:])      # as a payload, for the validator
regressions = "Tests/PLTrackTests/FuzzRegressions"
for name in sorted(n for n in os.listdir(regressions) if n != "README.md"):
    seeds.append(open(os.path.join(regressions, name), "rb").read())
for index, seed in enumerate(seeds):
    with open(os.path.join(corpus, f"seed-{index:04d}"), "wb") as file:
        file.write(seed)
PY
# A fixed seed by default, so that the short run in the test command is the same every time;
# FUZZ_SEED=0 lets libFuzzer pick one. A failing input is kept as .build/fuzz/crash-*, and
# the check that failed is printed (the runtime's backtrace after it is left out).
log=.build/fuzz/last-run.log
# Swift's backtracer would take the abort of a failed check first, and the process would end
# before libFuzzer writes the input out.
export SWIFT_BACKTRACE=enable=no
if .build/fuzz/release/pltrackd-fuzz -runs="$runs" -max_len=4096 -print_final_stats=1 -seed="${FUZZ_SEED:-1}" \
    -artifact_prefix=.build/fuzz/ "$corpus" >"$log" 2>&1; then
    grep -a -E "^(Done|stat::number_of_executed_units|stat::average_exec_per_sec)" "$log"
else
    grep -a -E "fuzz check failed|Fatal error|Test unit written|^INFO: Seed" "$log" || tail -n 40 "$log"
    exit 1
fi
