#!/bin/sh
# Regenerates onnx.proto3.pb.go from onnx.proto3 (ONNX's Apache-2.0 schema, see NOTICE.md).
# Tools: protoc 3.21.12 (Debian: apt-get install -y protobuf-compiler) and
# protoc-gen-go v1.36.12 (GOBIN=/tmp/gobin go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12).
set -eu
cd "$(dirname "$0")"
PATH="${GOBIN:-/tmp/gobin}:$PATH" protoc \
	--go_out=. --go_opt=paths=source_relative \
	--go_opt=Monnx.proto3=github.com/asvp-dev/asvp/models/onnxpb\;onnxpb \
	onnx.proto3
