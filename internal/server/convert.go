package server

import (
	"errors"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/engine"
	"github.com/pemba-authz/pemba/internal/governance"
	"github.com/pemba-authz/pemba/internal/protoconv"
	"github.com/pemba-authz/pemba/internal/requests"
	"github.com/pemba-authz/pemba/internal/tuple"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// Conversions between the v1 API's messages and Pemba's domain types. Every function
// that reads a request takes the field path it reads, so errors name it
// ("items[3].subject.id").

// filterFromProto reads a relationship filter and validates it (resource_type is
// required); errors name the field under the filter's own path.
func filterFromProto(field string, f *pb.RelationshipFilter) (datastore.RelationshipFilter, error) {
	if f == nil {
		return datastore.RelationshipFilter{}, invalidf("%s is required", field)
	}
	out := datastore.RelationshipFilter{
		ResourceType:     f.GetResourceType(),
		ResourceIDs:      f.GetResourceIds(),
		ResourceIDPrefix: f.GetResourceIdPrefix(),
		Relation:         f.GetRelation(),
	}
	if sf := f.GetSubjectFilter(); sf != nil {
		out.Subject = &datastore.SubjectFilter{Type: sf.GetType(), IDs: sf.GetIds()}
		for _, r := range sf.GetRelations() {
			if r == tuple.Ellipsis {
				r = "" // the object itself
			}
			out.Subject.Relations = append(out.Subject.Relations, r)
		}
	}
	if err := out.Validate(); err != nil {
		var ve *tuple.ValidationError
		if errors.As(err, &ve) {
			under := *ve
			under.Field = field + "." + ve.Field
			return out, &under
		}
		return out, err
	}
	return out, nil
}

func permissionshipToProto(p engine.Permissionship) pb.Permissionship {
	switch p {
	case engine.HasPermission:
		return pb.Permissionship_PERMISSIONSHIP_ALLOWED
	case engine.Conditional:
		return pb.Permissionship_PERMISSIONSHIP_CONDITIONAL
	}
	return pb.Permissionship_PERMISSIONSHIP_DENIED
}

// explainToProto converts an explanation, merging in the provenance governance found
// for its relationships; token names a provenance's revision as a client sees it.
func explainToProto(n *engine.ExplainNode, prov map[tuple.Key]governance.Provenance, token func(datastore.Revision) string) *pb.ExplainNode {
	if n == nil {
		return nil
	}
	out := &pb.ExplainNode{
		Kind:           n.Kind.String(),
		Relation:       n.Relation,
		Expression:     n.Expression,
		Result:         permissionshipToProto(n.Result),
		Caveat:         n.Caveat,
		MissingContext: n.MissingContext,
		Cached:         n.Cached,
	}
	if n.Resource != (tuple.ObjectRef{}) {
		out.Resource = protoconv.ObjectToProto(n.Resource)
	}
	if n.Subject != (tuple.SubjectRef{}) {
		out.Subject = protoconv.SubjectToProto(n.Subject)
	}
	if n.Relationship != nil {
		out.Relationship = protoconv.RelationshipToProto(*n.Relationship)
		if p, ok := prov[n.Relationship.Key()]; ok {
			out.Provenance = provenanceToProto(p, token)
		}
	}
	if n.Duration > 0 {
		out.Duration = durationpb.New(n.Duration)
	}
	for _, c := range n.Children {
		out.Children = append(out.Children, explainToProto(c, prov, token))
	}
	return out
}

func provenanceToProto(p governance.Provenance, token func(datastore.Revision) string) *pb.Provenance {
	out := &pb.Provenance{
		Token:     token(p.Revision),
		Principal: p.Principal,
		Actor:     protoconv.OptionalSubjectToProto(p.Actor),
		Reason:    p.Reason,
		Rule:      p.Rule,

		AccessRequestId: p.AccessRequest,
	}
	if p.Via != nil {
		out.Via = protoconv.ObjectToProto(*p.Via)
	}
	if !p.Time.IsZero() {
		out.CommittedAt = timestamppb.New(p.Time)
	}
	return out
}

func expandToProto(n *engine.ExpandNode) *pb.ExpandNode {
	if n == nil {
		return nil
	}
	out := &pb.ExpandNode{Resource: protoconv.ObjectToProto(n.Resource), Relation: n.Relation}
	switch n.Op {
	case engine.ExpandLeaf:
		out.Operation = pb.ExpandNode_OPERATION_LEAF
	case engine.ExpandUnion:
		out.Operation = pb.ExpandNode_OPERATION_UNION
	case engine.ExpandIntersection:
		out.Operation = pb.ExpandNode_OPERATION_INTERSECTION
	case engine.ExpandExclusion:
		out.Operation = pb.ExpandNode_OPERATION_EXCLUSION
	}
	for _, c := range n.Children {
		out.Children = append(out.Children, expandToProto(c))
	}
	for _, s := range n.Subjects {
		es := &pb.ExpandSubject{Subject: protoconv.SubjectToProto(s.Subject)}
		if s.Caveat != nil {
			es.Caveat = protoconv.CaveatToProto(s.Caveat)
		}
		if !s.Expiration.IsZero() {
			es.ExpiresAt = timestamppb.New(s.Expiration)
		}
		out.Subjects = append(out.Subjects, es)
	}
	return out
}

func transactionToProto(tenant string, t *datastore.Transaction, token string) *pb.Transaction {
	out := &pb.Transaction{
		Tenant:      tenant,
		Token:       token,
		CommittedAt: timestamppb.New(t.Time),
		Metadata: &pb.TransactionMetadata{
			Principal: t.Metadata.Principal,
			Actor:     protoconv.OptionalSubjectToProto(t.Metadata.Actor),
			Reason:    t.Metadata.Reason,
			Operation: t.Metadata.Operation,
		},
	}
	for _, o := range t.Metadata.Organizations {
		out.Metadata.Organizations = append(out.Metadata.Organizations, protoconv.ObjectToProto(o))
	}
	for _, g := range t.Metadata.Grants {
		out.Metadata.Grants = append(out.Metadata.Grants, grantToProto(g))
	}
	if d := t.Metadata.Denied; d != nil {
		out.Metadata.Denied = &pb.Denial{Message: d.Message}
		for _, u := range d.Updates {
			out.Metadata.Denied.Updates = append(out.Metadata.Denied.Updates, &pb.RelationshipUpdate{
				Operation: operationToProto(u.Op), Relationship: protoconv.RelationshipToProto(u.Relationship),
			})
		}
	}
	for _, c := range t.Changes {
		out.Changes = append(out.Changes, changeToProto(c))
	}
	if t.Schema != nil {
		out.SchemaChanged = true
		out.Schema = *t.Schema
	}
	out.AccessRequests = accessRequestEvents(t.RecordChanges)
	return out
}

// accessRequestEvents are the access requests among a transaction's record changes.
// A record that does not decode is left out rather than failing the whole feed.
func accessRequestEvents(changes []datastore.RecordChange) []*pb.AccessRequestEvent {
	var out []*pb.AccessRequestEvent
	for _, c := range changes {
		if c.Deleted || c.Record.Kind != requests.Kind {
			continue
		}
		r, err := requests.Decode(c.Record)
		if err != nil {
			continue
		}
		out = append(out, &pb.AccessRequestEvent{
			RequestId: r.ID, State: requestStates[r.State], Relationship: protoconv.RelationshipToProto(r.Relationship()),
			Requester: protoconv.SubjectToProto(r.Requester), Organization: protoconv.OptionalObjectToProto(r.Organization),
			Approvals: uint32(len(r.Approvals)),
		})
	}
	return out
}

func grantToProto(g datastore.GrantRecord) *pb.GrantRecord {
	out := &pb.GrantRecord{Relationship: protoconv.KeyToProto(g.Relationship), Rule: g.Rule}
	if g.Via != nil {
		out.Via = protoconv.ObjectToProto(*g.Via)
	}
	return out
}

func changeToProto(c datastore.Change) *pb.RelationshipChange {
	out := &pb.RelationshipChange{Relationship: protoconv.RelationshipToProto(c.Relationship)}
	switch c.Kind {
	case datastore.ChangeCreated:
		out.Kind = pb.RelationshipChange_KIND_CREATED
	case datastore.ChangeTouched:
		out.Kind = pb.RelationshipChange_KIND_TOUCHED
	case datastore.ChangeDeleted:
		out.Kind = pb.RelationshipChange_KIND_DELETED
	}
	return out
}

func operationToProto(op datastore.Operation) pb.RelationshipUpdate_Operation {
	switch op {
	case datastore.OpCreate:
		return pb.RelationshipUpdate_OPERATION_CREATE
	case datastore.OpTouch:
		return pb.RelationshipUpdate_OPERATION_TOUCH
	case datastore.OpDelete:
		return pb.RelationshipUpdate_OPERATION_DELETE
	}
	return pb.RelationshipUpdate_OPERATION_UNSPECIFIED
}
