package protoconv

import (
	"fmt"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/pemba-authz/pemba/internal/tuple"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// ObjectToProto converts an object reference.
func ObjectToProto(o tuple.ObjectRef) *pb.ObjectReference {
	return &pb.ObjectReference{Type: o.Type, Id: o.ID}
}

// SubjectToProto converts a subject reference. The subject relation is sent as
// stored: empty for an object subject.
func SubjectToProto(s tuple.SubjectRef) *pb.SubjectReference {
	return &pb.SubjectReference{Type: s.Type, Id: s.ID, Relation: s.Relation}
}

// OptionalSubjectToProto converts a subject that may be absent; nil gives nil.
func OptionalSubjectToProto(s *tuple.SubjectRef) *pb.SubjectReference {
	if s == nil {
		return nil
	}
	return SubjectToProto(*s)
}

// OptionalObjectToProto converts an object that may be absent; nil gives nil.
func OptionalObjectToProto(o *tuple.ObjectRef) *pb.ObjectReference {
	if o == nil {
		return nil
	}
	return ObjectToProto(*o)
}

// RelationshipToProto converts a relationship with its caveat and expiry.
func RelationshipToProto(r tuple.Relationship) *pb.Relationship {
	out := &pb.Relationship{
		Resource: ObjectToProto(r.Resource),
		Relation: r.Relation,
		Subject:  SubjectToProto(r.Subject),
	}
	out.Caveat = CaveatToProto(r.Caveat)
	if r.HasExpiration() {
		out.ExpiresAt = timestamppb.New(r.Expiration)
	}
	out.Granted = GrantToProto(r.Granted)
	return out
}

// GrantToProto converts a relationship's grant; nil gives nil.
func GrantToProto(g *tuple.Grant) *pb.RelationshipGrant {
	if g == nil {
		return nil
	}
	return &pb.RelationshipGrant{By: SubjectToProto(g.By), Via: ObjectToProto(g.Via)}
}

// GrantFromProto reads a relationship's grant, which may be absent (nil gives nil):
// the grantor must be one subject (no subject set, no wildcard) and the via object a
// valid object. Errors name the field ("updates[0].relationship.granted.by.id").
func GrantFromProto(field string, g *pb.RelationshipGrant) (*tuple.Grant, error) {
	if g == nil {
		return nil, nil
	}
	by, err := SubjectFromProto(field+".by", g.GetBy())
	if err != nil {
		return nil, err
	}
	if by.ID == tuple.Wildcard {
		return nil, fieldErrorf(field+".by.id", "%s.by.id: the grantor must be one subject, not a wildcard", field)
	}
	if by.Relation != "" {
		return nil, fieldErrorf(field+".by.relation", "%s.by.relation %q: the grantor must be one subject, not a subject set", field, by.Relation)
	}
	via, err := ObjectFromProto(field+".via", g.GetVia())
	if err != nil {
		return nil, err
	}
	return &tuple.Grant{By: by, Via: via}, nil
}

// CaveatToProto converts a relationship's caveat; nil gives nil. It never fails: a
// context value a Struct cannot hold is sent in its text form (see ContextToProto for
// the strict conversion of a user's input).
func CaveatToProto(c *tuple.Caveat) *pb.Caveat {
	if c == nil {
		return nil
	}
	return &pb.Caveat{Name: c.Name, Context: storedContextToProto(c.Context)}
}

// RelationshipsToProto converts a list of relationships.
func RelationshipsToProto(rs []tuple.Relationship) []*pb.Relationship {
	out := make([]*pb.Relationship, len(rs))
	for i, r := range rs {
		out[i] = RelationshipToProto(r)
	}
	return out
}

// KeyToProto converts a relationship key (a relationship without caveat or expiry).
func KeyToProto(k tuple.Key) *pb.Relationship {
	return &pb.Relationship{
		Resource: &pb.ObjectReference{Type: k.ResourceType, Id: k.ResourceID},
		Relation: k.Relation,
		Subject:  &pb.SubjectReference{Type: k.SubjectType, Id: k.SubjectID, Relation: k.SubjectRel},
	}
}

// DecodeObject converts an object reference without validating it, for printing what
// a server sent. A request's objects go through ObjectFromProto.
func DecodeObject(o *pb.ObjectReference) tuple.ObjectRef {
	return tuple.ObjectRef{Type: o.GetType(), ID: o.GetId()}
}

// DecodeSubject converts a subject reference without validating it; the relation
// "..." becomes the empty relation of an object subject.
func DecodeSubject(s *pb.SubjectReference) tuple.SubjectRef {
	ref := tuple.SubjectRef{Type: s.GetType(), ID: s.GetId(), Relation: s.GetRelation()}
	if ref.Relation == tuple.Ellipsis {
		ref.Relation = ""
	}
	return ref
}

// DecodeRelationship converts a relationship without validating it, for printing what
// a server sent. A request's relationships go through RelationshipFromProto.
func DecodeRelationship(r *pb.Relationship) tuple.Relationship {
	out := tuple.Relationship{
		Resource: DecodeObject(r.GetResource()),
		Relation: r.GetRelation(),
		Subject:  DecodeSubject(r.GetSubject()),
	}
	if c := r.GetCaveat(); c != nil {
		out.Caveat = &tuple.Caveat{Name: c.GetName(), Context: ContextFromProto(c.GetContext())}
	}
	if ts := r.GetExpiresAt(); ts != nil {
		out.Expiration = ts.AsTime()
	}
	if g := r.GetGranted(); g != nil {
		out.Granted = &tuple.Grant{By: DecodeSubject(g.GetBy()), Via: DecodeObject(g.GetVia())}
	}
	return out
}

// ObjectFromProto reads a required object reference and validates its type and id.
func ObjectFromProto(field string, o *pb.ObjectReference) (tuple.ObjectRef, error) {
	if o == nil {
		return tuple.ObjectRef{}, required(field)
	}
	ref := DecodeObject(o)
	if err := tuple.ValidateTypeName(field+".type", ref.Type); err != nil {
		return tuple.ObjectRef{}, err
	}
	if err := tuple.ValidateObjectID(field+".id", ref.ID); err != nil {
		return tuple.ObjectRef{}, err
	}
	return ref, nil
}

// OptionalObjectFromProto reads an object reference that may be absent; nil gives nil.
func OptionalObjectFromProto(field string, o *pb.ObjectReference) (*tuple.ObjectRef, error) {
	if o == nil {
		return nil, nil
	}
	ref, err := ObjectFromProto(field, o)
	if err != nil {
		return nil, err
	}
	return &ref, nil
}

// ObjectPatternFromProto reads an object reference whose id may be empty (any object
// of the type), as audit queries use them. Nil gives nil.
func ObjectPatternFromProto(field string, o *pb.ObjectReference) (*tuple.ObjectRef, error) {
	if o == nil {
		return nil, nil
	}
	if err := tuple.ValidateTypeName(field+".type", o.GetType()); err != nil {
		return nil, err
	}
	if o.GetId() != "" {
		if err := tuple.ValidateObjectID(field+".id", o.GetId()); err != nil {
			return nil, err
		}
	}
	return &tuple.ObjectRef{Type: o.GetType(), ID: o.GetId()}, nil
}

// SubjectFromProto reads a required subject reference. The relation "..." means the
// object itself, as an empty relation does.
func SubjectFromProto(field string, s *pb.SubjectReference) (tuple.SubjectRef, error) {
	if s == nil {
		return tuple.SubjectRef{}, required(field)
	}
	ref := DecodeSubject(s)
	if err := tuple.ValidateTypeName(field+".type", ref.Type); err != nil {
		return tuple.SubjectRef{}, err
	}
	if ref.ID == tuple.Wildcard {
		if ref.Relation != "" {
			return tuple.SubjectRef{}, fieldErrorf(field+".relation", "%s.relation %q: a wildcard subject cannot name a relation", field, ref.Relation)
		}
		return ref, nil
	}
	if err := tuple.ValidateObjectID(field+".id", ref.ID); err != nil {
		return tuple.SubjectRef{}, err
	}
	if ref.Relation != "" {
		if err := tuple.ValidateRelationName(field+".relation", ref.Relation); err != nil {
			return tuple.SubjectRef{}, err
		}
	}
	return ref, nil
}

// OptionalSubjectFromProto reads a subject that may be absent; nil gives nil.
func OptionalSubjectFromProto(field string, s *pb.SubjectReference) (*tuple.SubjectRef, error) {
	if s == nil {
		return nil, nil
	}
	ref, err := SubjectFromProto(field, s)
	if err != nil {
		return nil, err
	}
	return &ref, nil
}

// RelationshipFromProto reads a required relationship and validates every name and id
// in it, its caveat name, its expiry timestamp and its grant. Whether a caller may set
// the grant at all is the server's decision.
func RelationshipFromProto(field string, r *pb.Relationship) (tuple.Relationship, error) {
	if r == nil {
		return tuple.Relationship{}, required(field)
	}
	res, err := ObjectFromProto(field+".resource", r.GetResource())
	if err != nil {
		return tuple.Relationship{}, err
	}
	if err := tuple.ValidateRelationName(field+".relation", r.GetRelation()); err != nil {
		return tuple.Relationship{}, err
	}
	sub, err := SubjectFromProto(field+".subject", r.GetSubject())
	if err != nil {
		return tuple.Relationship{}, err
	}
	if c := r.GetCaveat(); c != nil {
		if err := tuple.ValidateCaveatName(field+".caveat.name", c.GetName()); err != nil {
			return tuple.Relationship{}, err
		}
	}
	if ts := r.GetExpiresAt(); ts != nil {
		if err := ts.CheckValid(); err != nil {
			return tuple.Relationship{}, fieldErrorf(field+".expires_at", "%s.expires_at: %v", field, err)
		}
	}
	grant, err := GrantFromProto(field+".granted", r.GetGranted())
	if err != nil {
		return tuple.Relationship{}, err
	}
	rel := DecodeRelationship(r)
	rel.Resource, rel.Subject, rel.Granted = res, sub, grant
	return rel, nil
}

// RelationshipsFromProto reads a list of relationships; the field names the list and
// each error names the element ("contextual_relationships[2].subject.id").
func RelationshipsFromProto(field string, rs []*pb.Relationship) ([]tuple.Relationship, error) {
	if len(rs) == 0 {
		return nil, nil
	}
	out := make([]tuple.Relationship, len(rs))
	for i, r := range rs {
		rel, err := RelationshipFromProto(fmt.Sprintf("%s[%d]", field, i), r)
		if err != nil {
			return nil, err
		}
		out[i] = rel
	}
	return out, nil
}
