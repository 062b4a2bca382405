// Command protogen compiles .proto files and writes the Go code that
// protoc-gen-go would generate for them, without protoc: the parser is
// bufbuild/protocompile and the generator is protoc-gen-go's own package,
// both pinned by this module's go.mod so that output is reproducible.
//
// Usage: protogen -dir <import root> <file.proto>...
// The .pb.go files are written next to their sources (paths=source_relative).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/bufbuild/protocompile"
	gengo "google.golang.org/protobuf/cmd/protoc-gen-go/internal_gengo"
	"google.golang.org/protobuf/compiler/protogen"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/pluginpb"
)

func main() {
	dir := flag.String("dir", ".", "import root of the .proto files; output goes here too")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: protogen -dir <import root> <file.proto>...")
		os.Exit(2)
	}
	if err := run(*dir, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "protogen:", err)
		os.Exit(1)
	}
}

func run(dir string, files []string) error {
	compiler := protocompile.Compiler{
		Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{
			ImportPaths: []string{dir},
		}),
		// Comments in the .proto become doc comments in the Go code.
		SourceInfoMode: protocompile.SourceInfoStandard,
	}
	compiled, err := compiler.Compile(context.Background(), files...)
	if err != nil {
		return fmt.Errorf("compiling: %w", err)
	}

	req := &pluginpb.CodeGeneratorRequest{
		FileToGenerate: files,
		Parameter:      proto.String("paths=source_relative"),
	}
	seen := map[string]bool{}
	for _, f := range compiled {
		addWithDeps(f, seen, &req.ProtoFile)
	}

	gen, err := protogen.Options{}.New(req)
	if err != nil {
		return fmt.Errorf("preparing generator: %w", err)
	}
	for _, f := range gen.Files {
		if f.Generate {
			gengo.GenerateFile(gen, f)
		}
	}
	gen.SupportedFeatures = gengo.SupportedFeatures
	resp := gen.Response()
	if resp.Error != nil {
		return fmt.Errorf("generating: %s", resp.GetError())
	}
	for _, out := range resp.File {
		path := filepath.Join(dir, out.GetName())
		if err := os.WriteFile(path, []byte(out.GetContent()), 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
	}
	return nil
}

// addWithDeps appends f after its imports, the order CodeGeneratorRequest
// requires.
func addWithDeps(f protoreflect.FileDescriptor, seen map[string]bool,
	out *[]*descriptorpb.FileDescriptorProto) {
	if seen[f.Path()] {
		return
	}
	seen[f.Path()] = true
	imports := f.Imports()
	for i := 0; i < imports.Len(); i++ {
		addWithDeps(imports.Get(i).FileDescriptor, seen, out)
	}
	*out = append(*out, protodesc.ToFileDescriptorProto(f))
}
