#!/usr/bin/env bash
# Runs every test against the real local stack (Ceph RGW and Azurite on 127.0.0.1), starting it
# and installing what it needs when missing. Extra arguments go to `dotnet test`, for example
#   ./test.sh --filter "FullyQualifiedName~Findings"
set -euo pipefail
cd "$(dirname "$0")"

echo "==> local stack"
infra/local/stack.sh up

echo "==> build (warnings are errors)"
dotnet build Nhi.Serverless.sln -c Debug -warnaserror -p:WarningsNotAsErrors=NU1603 -nologo -v quiet

echo "==> tests"
results=$(mktemp -d)
status=0
dotnet test Nhi.Serverless.sln -c Debug --no-build --nologo \
  --logger "console;verbosity=normal" --logger "trx;LogFileName=results.trx" \
  --results-directory "$results" "$@" || status=$?

# One closing line that counts every test project's results.
python3 - "$results" <<'PY'
import glob, re, sys
passed = failed = skipped = 0
for path in glob.glob(sys.argv[1] + "/**/*.trx", recursive=True):
    text = open(path, encoding="utf-8").read()
    m = re.search(r'<Counters [^>]*', text)
    if not m:
        continue
    attrs = dict(re.findall(r'(\w+)="(\d+)"', m.group(0)))
    passed += int(attrs.get("passed", 0))
    failed += int(attrs.get("failed", 0)) + int(attrs.get("error", 0)) + int(attrs.get("timeout", 0)) + int(attrs.get("aborted", 0))
    skipped += int(attrs.get("notExecuted", 0))
print(f"{passed} passed, {failed} failed, {skipped} skipped")
PY
rm -rf "$results"
exit "$status"
