package server

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/engine"
	"github.com/pemba-authz/pemba/internal/governance"
	"github.com/pemba-authz/pemba/internal/tuple"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// Conversions between the v1 API's messages and Pemba's domain types. Every function
// that reads a request takes the field path it reads, so errors name it
// ("items[3].subject.id").

func objectFromProto(field string, o *pb.ObjectReference) (tuple.ObjectRef, error) {
	if o == nil {
		return tuple.ObjectRef{}, invalidf("%s is required", field)
	}
	ref := tuple.ObjectRef{Type: o.GetType(), ID: o.GetId()}
	if err := tuple.ValidateTypeName(field+".type", ref.Type); err != nil {
		return tuple.ObjectRef{}, invalidErr(err)
	}
	if err := tuple.ValidateObjectID(field+".id", ref.ID); err != nil {
		return tuple.ObjectRef{}, invalidErr(err)
	}
	return ref, nil
}

// objectPatternFromProto reads an object reference whose id may be empty (any object
// of the type), as audit queries use them. Nil gives nil.
func objectPatternFromProto(field string, o *pb.ObjectReference) (*tuple.ObjectRef, error) {
	if o == nil {
		return nil, nil
	}
	if err := tuple.ValidateTypeName(field+".type", o.GetType()); err != nil {
		return nil, invalidErr(err)
	}
	if o.GetId() != "" {
		if err := tuple.ValidateObjectID(field+".id", o.GetId()); err != nil {
			return nil, invalidErr(err)
		}
	}
	return &tuple.ObjectRef{Type: o.GetType(), ID: o.GetId()}, nil
}

func subjectFromProto(field string, s *pb.SubjectReference) (tuple.SubjectRef, error) {
	if s == nil {
		return tuple.SubjectRef{}, invalidf("%s is required", field)
	}
	ref := tuple.SubjectRef{Type: s.GetType(), ID: s.GetId(), Relation: s.GetRelation()}
	if ref.Relation == tuple.Ellipsis {
		ref.Relation = ""
	}
	if err := tuple.ValidateTypeName(field+".type", ref.Type); err != nil {
		return tuple.SubjectRef{}, invalidErr(err)
	}
	if ref.ID == tuple.Wildcard {
		if ref.Relation != "" {
			return tuple.SubjectRef{}, invalidf("%s.relation %q: a wildcard subject cannot name a relation", field, ref.Relation)
		}
		return ref, nil
	}
	if err := tuple.ValidateObjectID(field+".id", ref.ID); err != nil {
		return tuple.SubjectRef{}, invalidErr(err)
	}
	if ref.Relation != "" {
		if err := tuple.ValidateRelationName(field+".relation", ref.Relation); err != nil {
			return tuple.SubjectRef{}, invalidErr(err)
		}
	}
	return ref, nil
}

// optionalSubjectFromProto reads a subject that may be absent.
func optionalSubjectFromProto(field string, s *pb.SubjectReference) (*tuple.SubjectRef, error) {
	if s == nil {
		return nil, nil
	}
	ref, err := subjectFromProto(field, s)
	if err != nil {
		return nil, err
	}
	return &ref, nil
}

func relationNameFromProto(field, name string) error {
	if err := tuple.ValidateRelationName(field, name); err != nil {
		return invalidErr(err)
	}
	return nil
}

func relationshipFromProto(field string, r *pb.Relationship) (tuple.Relationship, error) {
	if r == nil {
		return tuple.Relationship{}, invalidf("%s is required", field)
	}
	res, err := objectFromProto(field+".resource", r.GetResource())
	if err != nil {
		return tuple.Relationship{}, err
	}
	if err := relationNameFromProto(field+".relation", r.GetRelation()); err != nil {
		return tuple.Relationship{}, err
	}
	sub, err := subjectFromProto(field+".subject", r.GetSubject())
	if err != nil {
		return tuple.Relationship{}, err
	}
	rel := tuple.Relationship{Resource: res, Relation: r.GetRelation(), Subject: sub}
	if c := r.GetCaveat(); c != nil {
		if err := tuple.ValidateCaveatName(field+".caveat.name", c.GetName()); err != nil {
			return tuple.Relationship{}, invalidErr(err)
		}
		rel.Caveat = &tuple.Caveat{Name: c.GetName(), Context: contextFromProto(c.GetContext())}
	}
	if ts := r.GetExpiresAt(); ts != nil {
		if err := ts.CheckValid(); err != nil {
			return tuple.Relationship{}, fieldErr(field+".expires_at", err)
		}
		rel.Expiration = ts.AsTime()
	}
	return rel, nil
}

func relationshipsFromProto(field string, rs []*pb.Relationship) ([]tuple.Relationship, error) {
	if len(rs) == 0 {
		return nil, nil
	}
	out := make([]tuple.Relationship, len(rs))
	for i, r := range rs {
		rel, err := relationshipFromProto(fmt.Sprintf("%s[%d]", field, i), r)
		if err != nil {
			return nil, err
		}
		out[i] = rel
	}
	return out, nil
}

// contextFromProto turns a caveat context into the map the engine evaluates. Numbers
// arrive as float64, as JSON decoding gives them; the caveat layer converts them to
// the parameter's type.
func contextFromProto(s *structpb.Struct) map[string]any {
	if s == nil || len(s.GetFields()) == 0 {
		return nil
	}
	return s.AsMap()
}

func contextToProto(m map[string]any) *structpb.Struct {
	if len(m) == 0 {
		return nil
	}
	s, err := structpb.NewStruct(normalizeJSON(m).(map[string]any))
	if err != nil {
		// A stored context always came from JSON, so it converts; keep the answer
		// usable if it somehow does not.
		return nil
	}
	return s
}

// normalizeJSON turns values structpb cannot hold directly (json.Number, typed slices)
// into their JSON equivalents.
func normalizeJSON(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normalizeJSON(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalizeJSON(e)
		}
		return out
	case interface{ Float64() (float64, error) }: // json.Number
		f, err := x.Float64()
		if err != nil {
			return fmt.Sprint(x)
		}
		return f
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case time.Duration:
		return x.String()
	case fmt.Stringer:
		return x.String()
	}
	return v
}

func objectToProto(o tuple.ObjectRef) *pb.ObjectReference {
	return &pb.ObjectReference{Type: o.Type, Id: o.ID}
}

func subjectToProto(s tuple.SubjectRef) *pb.SubjectReference {
	return &pb.SubjectReference{Type: s.Type, Id: s.ID, Relation: s.Relation}
}

func optionalSubjectToProto(s *tuple.SubjectRef) *pb.SubjectReference {
	if s == nil {
		return nil
	}
	return subjectToProto(*s)
}

func relationshipToProto(r tuple.Relationship) *pb.Relationship {
	out := &pb.Relationship{
		Resource: objectToProto(r.Resource),
		Relation: r.Relation,
		Subject:  subjectToProto(r.Subject),
	}
	if r.Caveat != nil {
		out.Caveat = &pb.Caveat{Name: r.Caveat.Name, Context: contextToProto(r.Caveat.Context)}
	}
	if r.HasExpiration() {
		out.ExpiresAt = timestamppb.New(r.Expiration)
	}
	return out
}

func relationshipsToProto(rs []tuple.Relationship) []*pb.Relationship {
	out := make([]*pb.Relationship, len(rs))
	for i, r := range rs {
		out[i] = relationshipToProto(r)
	}
	return out
}

func keyToProto(k tuple.Key) *pb.Relationship {
	return &pb.Relationship{
		Resource: &pb.ObjectReference{Type: k.ResourceType, Id: k.ResourceID},
		Relation: k.Relation,
		Subject:  &pb.SubjectReference{Type: k.SubjectType, Id: k.SubjectID, Relation: k.SubjectRel},
	}
}

// filterFromProto reads a relationship filter; resource_type is required.
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
	if err := tuple.ValidateTypeName(field+".resource_type", out.ResourceType); err != nil {
		return out, invalidErr(err)
	}
	for i, id := range out.ResourceIDs {
		if err := tuple.ValidateObjectID(fmt.Sprintf("%s.resource_ids[%d]", field, i), id); err != nil {
			return out, invalidErr(err)
		}
	}
	if out.Relation != "" {
		if err := relationNameFromProto(field+".relation", out.Relation); err != nil {
			return out, err
		}
	}
	if sf := f.GetSubjectFilter(); sf != nil {
		sub, err := subjectFilterFromProto(field+".subject_filter", sf)
		if err != nil {
			return out, err
		}
		out.Subject = sub
	}
	return out, nil
}

func subjectFilterFromProto(field string, sf *pb.SubjectFilter) (*datastore.SubjectFilter, error) {
	out := &datastore.SubjectFilter{Type: sf.GetType(), IDs: sf.GetIds()}
	if err := tuple.ValidateTypeName(field+".type", out.Type); err != nil {
		return nil, invalidErr(err)
	}
	for i, id := range out.IDs {
		if id == tuple.Wildcard {
			continue
		}
		if err := tuple.ValidateObjectID(fmt.Sprintf("%s.ids[%d]", field, i), id); err != nil {
			return nil, invalidErr(err)
		}
	}
	for i, r := range sf.GetRelations() {
		if r == tuple.Ellipsis {
			out.Relations = append(out.Relations, "")
			continue
		}
		if err := relationNameFromProto(fmt.Sprintf("%s.relations[%d]", field, i), r); err != nil {
			return nil, err
		}
		out.Relations = append(out.Relations, r)
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
		out.Resource = objectToProto(n.Resource)
	}
	if n.Subject != (tuple.SubjectRef{}) {
		out.Subject = subjectToProto(n.Subject)
	}
	if n.Relationship != nil {
		out.Relationship = relationshipToProto(*n.Relationship)
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
		Actor:     optionalSubjectToProto(p.Actor),
		Reason:    p.Reason,
		Rule:      p.Rule,
	}
	if p.Via != nil {
		out.Via = objectToProto(*p.Via)
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
	out := &pb.ExpandNode{Resource: objectToProto(n.Resource), Relation: n.Relation}
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
		es := &pb.ExpandSubject{Subject: subjectToProto(s.Subject)}
		if s.Caveat != nil {
			es.Caveat = &pb.Caveat{Name: s.Caveat.Name, Context: contextToProto(s.Caveat.Context)}
		}
		if !s.Expiration.IsZero() {
			es.ExpiresAt = timestamppb.New(s.Expiration)
		}
		out.Subjects = append(out.Subjects, es)
	}
	return out
}

func transactionToProto(t *datastore.Transaction, token string) *pb.Transaction {
	out := &pb.Transaction{
		Token:       token,
		CommittedAt: timestamppb.New(t.Time),
		Metadata: &pb.TransactionMetadata{
			Principal: t.Metadata.Principal,
			Actor:     optionalSubjectToProto(t.Metadata.Actor),
			Reason:    t.Metadata.Reason,
			Operation: t.Metadata.Operation,
		},
	}
	for _, o := range t.Metadata.Organizations {
		out.Metadata.Organizations = append(out.Metadata.Organizations, objectToProto(o))
	}
	for _, g := range t.Metadata.Grants {
		out.Metadata.Grants = append(out.Metadata.Grants, grantToProto(g))
	}
	if d := t.Metadata.Denied; d != nil {
		out.Metadata.Denied = &pb.Denial{Message: d.Message}
		for _, u := range d.Updates {
			out.Metadata.Denied.Updates = append(out.Metadata.Denied.Updates, &pb.RelationshipUpdate{
				Operation: operationToProto(u.Op), Relationship: relationshipToProto(u.Relationship),
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
	return out
}

func grantToProto(g datastore.GrantRecord) *pb.GrantRecord {
	out := &pb.GrantRecord{Relationship: keyToProto(g.Relationship), Rule: g.Rule}
	if g.Via != nil {
		out.Via = objectToProto(*g.Via)
	}
	return out
}

func changeToProto(c datastore.Change) *pb.RelationshipChange {
	out := &pb.RelationshipChange{Relationship: relationshipToProto(c.Relationship)}
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

// optionalObjectFromProto reads an object reference that may be absent.
func optionalObjectFromProto(field string, o *pb.ObjectReference) (*tuple.ObjectRef, error) {
	if o == nil {
		return nil, nil
	}
	ref, err := objectFromProto(field, o)
	if err != nil {
		return nil, err
	}
	return &ref, nil
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
