// Package prismpb is the Go code generated from prism.proto, the PRISM DID
// method's protobuf model of a create-DID operation. Do not edit the
// generated file; change prism.proto and run
//
//	go generate ./internal/did/prismpb
//
// which builds tools/protogen (pinned protocompile and protoc-gen-go) and
// needs no protoc.
package prismpb

//go:generate go run -C ../../../tools/protogen . -dir ../../internal/did/prismpb prism.proto
