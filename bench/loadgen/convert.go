package loadgen

import (
	"net/netip"

	"google.golang.org/protobuf/types/known/structpb"

	"github.com/pemba-authz/pemba/internal/protoconv"
)

// clientContext is the caveat context of a request from ip.
func clientContext(ip netip.Addr) *structpb.Struct {
	return &structpb.Struct{Fields: map[string]*structpb.Value{"client_ip": structpb.NewStringValue(ip.String())}}
}

// The consistency requirements every request of a workload shares.
var (
	minimizeLatency = protoconv.MinimizeLatency()
	fullyConsistent = protoconv.FullyConsistent()
)
