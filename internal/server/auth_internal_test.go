package server

import (
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	_ "github.com/pemba-authz/pemba/proto/pemba/v1" // registers the API's descriptors
)

func TestMethodAccessCoversEveryRPC(t *testing.T) {
	var methods []string
	protoregistry.GlobalFiles.RangeFilesByPackage("pemba.v1", func(fd protoreflect.FileDescriptor) bool {
		if fd.Package() != "pemba.v1" {
			return true
		}
		for i := 0; i < fd.Services().Len(); i++ {
			svc := fd.Services().Get(i)
			for j := 0; j < svc.Methods().Len(); j++ {
				methods = append(methods, "/"+string(svc.FullName())+"/"+string(svc.Methods().Get(j).Name()))
			}
		}
		return true
	})
	if len(methods) < 20 {
		t.Fatalf("found only %d RPCs in pemba.v1: %v", len(methods), methods)
	}
	for _, m := range methods {
		if _, ok := methodAccess[m]; !ok {
			t.Errorf("RPC %s has no entry in methodAccess", m)
		}
	}
	if len(methodAccess) != len(methods) {
		t.Errorf("methodAccess has %d entries, the API %d RPCs", len(methodAccess), len(methods))
	}
}
