#!/usr/bin/env bash
# One entry point for every developer and CI step. Idempotent: each command does its own set-up.
#   ./build.sh            restore, fetch the pinned llama.cpp libraries, build (Release)
#   ./build.sh test [..]  build, then run the whole NUnit suite (extra args go to the test runner)
#   ./build.sh run [..]   build, then run mafn (no args: its default job)
#   ./build.sh publish    one self-contained linux-x64 folder with mafn and the tests, and its .tar.gz, under publish/
#   ./build.sh native     only fetch and verify the native libraries
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
root=$PWD

# The pinned llama.cpp build: prebuilt libraries from the node-llama-cpp project's npm package.
NATIVE_PACKAGE="@node-llama-cpp/linux-x64"
NATIVE_VERSION="3.22.1"
NATIVE_SHA256="0d953e1503d5ab4608d8ed5b739132308c81ac05ffeb760d2a7f30e08a9f90e0"
NATIVE_DIR="$root/native/llama.cpp"
CONFIG="${CONFIG:-Release}"

die() { echo "build.sh: $*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "$1 not found on PATH: $2"; }

ensure_native() {
  local stamp="$NATIVE_DIR/.pinned" want="$NATIVE_PACKAGE@$NATIVE_VERSION $NATIVE_SHA256"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -f "$NATIVE_DIR/bins/linux-x64/libllama.v0.5.0.so" ]]; then
    return 0
  fi
  need npm "install Node.js and npm (Debian: apt-get install npm) to download the pinned llama.cpp libraries"
  need sha256sum "install coreutils"
  local cache="$root/native/.cache" tarball
  tarball="$cache/node-llama-cpp-linux-x64-$NATIVE_VERSION.tgz"
  mkdir -p "$cache"
  if [[ ! -f "$tarball" ]] || ! echo "$NATIVE_SHA256  $tarball" | sha256sum -c --status; then
    echo "build.sh: downloading $NATIVE_PACKAGE@$NATIVE_VERSION"
    rm -f "$tarball"
    (cd "$cache" && npm pack --silent "$NATIVE_PACKAGE@$NATIVE_VERSION" >/dev/null) \
      || die "npm pack $NATIVE_PACKAGE@$NATIVE_VERSION failed (is the npm registry reachable?)"
  fi
  local actual
  actual=$(sha256sum "$tarball" | cut -d' ' -f1)
  if [[ "$actual" != "$NATIVE_SHA256" ]]; then
    rm -f "$tarball"
    die "checksum mismatch for $NATIVE_PACKAGE@$NATIVE_VERSION: expected $NATIVE_SHA256, got $actual (the download was removed)"
  fi
  rm -rf "$NATIVE_DIR" "$NATIVE_DIR.tmp"
  mkdir -p "$NATIVE_DIR.tmp"
  tar -xzf "$tarball" -C "$NATIVE_DIR.tmp" --strip-components=1
  mv "$NATIVE_DIR.tmp" "$NATIVE_DIR"
  echo "$want" > "$stamp"
  echo "build.sh: native libraries ready in native/llama.cpp/bins/linux-x64"
}

build() {
  need dotnet "install the .NET 10 SDK"
  ensure_native
  # Quiet on success (so `./build.sh run` prints only mafn's output); the compiler's errors on failure.
  local log
  if ! log=$(dotnet build "$root/MultiagentNative.sln" -c "$CONFIG" -nologo -v quiet "-clp:ErrorsOnly;NoSummary" 2>&1); then
    echo "$log" | grep -E ": error |error [A-Z]+[0-9]+" | sort -u >&2 || echo "$log" >&2
    die "dotnet build failed"
  fi
}

run_tests() {
  local exe="$root/tests/MultiagentNative.Tests/bin/$CONFIG/net10.0/MultiagentNative.Tests"
  local log rc=0
  log=$(mktemp)
  # A global timeout turns a hang into a failure instead of a stuck CI run.
  "$exe" --timeout 40m "$@" 2>&1 | tee "$log" || rc=${PIPESTATUS[0]}
  # The plain closing line that any CI reader understands.
  local total failed passed skipped
  total=$(grep -E '^\s+total: ' "$log" | tail -1 | awk '{print $2}')
  failed=$(grep -E '^\s+failed: ' "$log" | tail -1 | awk '{print $2}')
  passed=$(grep -E '^\s+succeeded: ' "$log" | tail -1 | awk '{print $2}')
  skipped=$(grep -E '^\s+skipped: ' "$log" | tail -1 | awk '{print $2}')
  rm -f "$log"
  if [[ -n "$total" ]]; then
    echo "tests: ${passed:-0} passed, ${failed:-0} failed, ${skipped:-0} skipped"
  fi
  return "$rc"
}

cmd="${1:-build}"
[[ $# -gt 0 ]] && shift
case "$cmd" in
  build) build ;;
  native) ensure_native ;;
  test) build; run_tests "$@" ;;
  run) build; exec dotnet "$root/src/Mafn/bin/$CONFIG/net10.0/mafn.dll" "$@" ;;
  publish)
    # One self-contained folder holds both programs (one runtime copy), packed so it travels to a machine
    # without .NET (the GPU machine) under its size limit.
    need dotnet "install the .NET 10 SDK"
    ensure_native
    out="$root/publish/linux-x64"
    rm -rf "$root/publish"
    dotnet publish "$root/src/Mafn/Mafn.csproj" -c Release -r linux-x64 --self-contained -o "$out" -nologo -v quiet \
      || die "dotnet publish of mafn failed"
    dotnet publish "$root/tests/MultiagentNative.Tests/MultiagentNative.Tests.csproj" -c Release -r linux-x64 --self-contained \
      -o "$out" -nologo -v quiet || die "dotnet publish of the tests failed"
    tar -czf "$root/publish/linux-x64.tar.gz" -C "$root/publish" linux-x64
    echo "build.sh: published publish/linux-x64 (mafn, MultiagentNative.Tests) and publish/linux-x64.tar.gz ($(du -h "$root/publish/linux-x64.tar.gz" | cut -f1))"
    ;;
  clean) rm -rf "$root/publish"; find "$root/src" "$root/tests" -type d \( -name bin -o -name obj \) -prune -exec rm -rf {} + ;;
  *) die "unknown command '$cmd' (build, test, run, publish, native, clean)" ;;
esac
