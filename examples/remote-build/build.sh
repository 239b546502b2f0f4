#!/bin/sh
# The project's build: runs on the App Mesh node.
set -e
mkdir -p out
{ echo '#!/bin/sh'; cat src/greet.sh; } > out/greet
chmod +x out/greet
echo "built out/greet on $(uname -n)"
