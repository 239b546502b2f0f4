#!/bin/sh
# The project's tests: a non-zero exit fails the remote run, and the script exits with it.
set -e
[ "$(./out/greet World)" = "Hello, World!" ] || { echo "FAIL: greet World"; exit 1; }
echo "tests passed"
