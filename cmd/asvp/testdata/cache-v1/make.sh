#!/bin/sh
# Makes photos.cache, a cache in format version 1 (the format of asvp before
# content-addressed features), and photos.csv, its vectors as that release
# exported them. Run from cmd/asvp with an asvp built from the last commit
# that writes format 1 (9fc74a9 on main):
#   git worktree add /tmp/asvp-v1-src 9fc74a9 && (cd /tmp/asvp-v1-src && go build -o /tmp/asvp-v1 ./cmd/asvp)
#   sh testdata/cache-v1/make.sh /tmp/asvp-v1
# The dataset spec is relative on purpose ("folder:../../testdata/photos",
# as typed from cmd/asvp), as a user's often is: migration makes it absolute.
set -eu
bin=${1:?usage: make.sh ASVP_V1_BINARY}
cd "$(dirname "$0")/../.."
rm -f testdata/cache-v1/photos.cache testdata/cache-v1/photos.csv
"$bin" extract --data folder:../../testdata/photos --cache testdata/cache-v1/photos.cache --tune-from none --quiet >/dev/null
"$bin" cache export --cache testdata/cache-v1/photos.cache --out testdata/cache-v1/photos.csv
