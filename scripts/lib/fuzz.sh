# shellcheck shell=bash
# Sourced by scripts/test and scripts/fuzz, after scripts/lib/packages.sh.
#
# The libFuzzer harnesses are test/fuzz/fuzz_*.cpp, built with clang in
# build/fuzz (-Dfuzzing=true). Each runs from its seed corpus in
# test/fuzz/corpus/<name without fuzz_>/ and keeps what it finds in
# build/fuzz/corpus/<name>/, so a later run starts where the last one stopped.
# A crashing input lands in build/fuzz/artifacts/.

fuzz_build_dir=build/fuzz

# fuzz_harnesses: the harness names, one a line.
fuzz_harnesses() {
    local source
    for source in test/fuzz/fuzz_*.cpp; do
        [[ -e $source ]] || continue
        basename "$source" .cpp
    done
}

# build_fuzz_harnesses: configures build/fuzz with clang and builds the harnesses
# alone (not the rest of the test suite).
build_fuzz_harnesses() {
    local harnesses
    mapfile -t harnesses < <(fuzz_harnesses)
    if ((${#harnesses[@]} == 0)); then
        echo "no harness in test/fuzz" >&2
        return 1
    fi
    CXX=clang++-14 setup_build "$fuzz_build_dir" -Dfuzzing=true -Dtests=enabled -Dlua=enabled \
        -Dexamples=false &&
        meson compile -C "$fuzz_build_dir" "${harnesses[@]}"
}

# run_fuzz_harness NAME SECONDS: fuzzes for SECONDS, then prints one line:
# "NAME: N executions in S s (E/s), C inputs in the corpus". The full libFuzzer
# log is build/fuzz/NAME.log. Fails when the harness found a crash, a leak or
# a timeout.
run_fuzz_harness() {
    local name=$1 seconds=$2
    local seeds=test/fuzz/corpus/${name#fuzz_}
    local corpus=$fuzz_build_dir/corpus/$name
    local log=$fuzz_build_dir/$name.log
    # The harness runs in a scratch directory of its own: it binds sockets to
    # relative paths, which must not land in the source tree.
    local scratch=$fuzz_build_dir/scratch/$name
    rm -rf "$scratch"
    mkdir -p "$corpus" "$fuzz_build_dir/artifacts" "$scratch"
    local status=0
    local top=$PWD
    (cd "$scratch" && exec "$top/$fuzz_build_dir/test/fuzz/$name" "$top/$corpus" "$top/$seeds" \
        -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$top/$fuzz_build_dir/artifacts/$name-") </dev/null >"$log" 2>&1 ||
        status=$?
    local executions rate
    executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    local corpus_size
    corpus_size=$(find "$corpus" -type f | wc -l)
    if ((status != 0)); then
        echo "$name: FAILED after ${executions:-?} executions (libFuzzer exit status $status)"
        grep -E '^(==[0-9]+==|SUMMARY|fuzz_[a-z_]+:|artifact_prefix|Test unit written)' "$log" |
            head -n 20
        echo "(full log: $log)"
        return 1
    fi
    echo "$name: ${executions:-?} executions in $seconds s (${rate:-?}/s), $corpus_size inputs in the corpus"
}
