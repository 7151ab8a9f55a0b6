package loadgen

import (
	"net/netip"

	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/pemba-authz/pemba/internal/tuple"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

func objectPB(o tuple.ObjectRef) *pb.ObjectReference {
	return &pb.ObjectReference{Type: o.Type, Id: o.ID}
}

func subjectPB(s tuple.SubjectRef) *pb.SubjectReference {
	return &pb.SubjectReference{Type: s.Type, Id: s.ID, Relation: s.Relation}
}

// relationshipPB converts a relationship to its wire form.
func relationshipPB(r tuple.Relationship) (*pb.Relationship, error) {
	out := &pb.Relationship{Resource: objectPB(r.Resource), Relation: r.Relation, Subject: subjectPB(r.Subject)}
	if r.Caveat != nil {
		c := &pb.Caveat{Name: r.Caveat.Name}
		if len(r.Caveat.Context) > 0 {
			s, err := structpb.NewStruct(r.Caveat.Context)
			if err != nil {
				return nil, err
			}
			c.Context = s
		}
		out.Caveat = c
	}
	if r.HasExpiration() {
		out.ExpiresAt = timestamppb.New(r.Expiration)
	}
	return out, nil
}

// clientContext is the caveat context of a request from ip.
func clientContext(ip netip.Addr) *structpb.Struct {
	return &structpb.Struct{Fields: map[string]*structpb.Value{"client_ip": structpb.NewStringValue(ip.String())}}
}

var (
	minimizeLatency = &pb.Consistency{Requirement: &pb.Consistency_MinimizeLatency{MinimizeLatency: true}}
	fullyConsistent = &pb.Consistency{Requirement: &pb.Consistency_FullyConsistent{FullyConsistent: true}}
)

func atLeastAsFresh(token string) *pb.Consistency {
	return &pb.Consistency{Requirement: &pb.Consistency_AtLeastAsFresh{AtLeastAsFresh: token}}
}

func atExactSnapshot(token string) *pb.Consistency {
	return &pb.Consistency{Requirement: &pb.Consistency_AtExactSnapshot{AtExactSnapshot: token}}
}
