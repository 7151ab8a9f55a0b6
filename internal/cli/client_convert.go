package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/pemba-authz/pemba/internal/protoconv"
	"github.com/pemba-authz/pemba/internal/tuple"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// Conversions between the command line's text forms (internal/tuple) and the v1 API's
// messages. Every parser names the argument or flag it reads, so a mistake is reported
// as "--subject "user": missing : between type and id" rather than as a server error.

// parseObjectArg reads "type:id".
func parseObjectArg(what, s string) (*pb.ObjectReference, error) {
	o, err := tuple.ParseObject(strings.TrimSpace(s))
	if err != nil {
		return nil, usageErrorf("%s: %v", what, err)
	}
	return protoconv.ObjectToProto(o), nil
}

// parseSubjectArg reads "type:id", "type:id#relation" or "type:*".
func parseSubjectArg(what, s string) (*pb.SubjectReference, error) {
	sub, err := tuple.ParseSubject(strings.TrimSpace(s))
	if err != nil {
		return nil, usageErrorf("%s: %v", what, err)
	}
	return protoconv.SubjectToProto(sub), nil
}

// parseObjectPattern reads "type" or "type:id" (audit queries match any object of a
// type when the id is left out).
func parseObjectPattern(what, s string) (*pb.ObjectReference, error) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, ":") {
		if err := tuple.ValidateTypeName(what, s); err != nil {
			return nil, usageErrorf("%v", err)
		}
		return &pb.ObjectReference{Type: s}, nil
	}
	return parseObjectArg(what, s)
}

// relationshipToProto converts a relationship given on the command line or in a
// file. A caveat context the API cannot carry (a number beyond the double range) is an
// error here rather than a surprise at the server.
func relationshipToProto(r tuple.Relationship) (*pb.Relationship, error) {
	if r.Caveat != nil {
		if _, err := protoconv.ContextToProto(r.Caveat.Context); err != nil {
			return nil, fmt.Errorf("caveat %s context: %v", r.Caveat.Name, err)
		}
	}
	return protoconv.RelationshipToProto(r), nil
}

// parseConsistency reads --consistency: minimize_latency, fully_consistent,
// at_least_as_fresh:TOKEN or at_exact_snapshot:TOKEN. Empty leaves it to the server
// (minimize_latency).
func parseConsistency(s string) (*pb.Consistency, error) {
	c, err := protoconv.ParseConsistency(s)
	if err != nil {
		return nil, usageErrorf("--consistency %v", err)
	}
	return c, nil
}

// parseRelationshipArg reads one relationship in the text form.
func parseRelationshipArg(what, s string) (tuple.Relationship, error) {
	r, err := tuple.Parse(s)
	if err != nil {
		return tuple.Relationship{}, usageErrorf("%s: %v", what, err)
	}
	return r, nil
}

// formatRelationship prints an API relationship in the text form.
func formatRelationship(r *pb.Relationship) string {
	if r == nil {
		return ""
	}
	return tuple.Format(protoconv.DecodeRelationship(r))
}

// formatObject prints "type:id", or "type" when the id is empty.
func formatObject(o *pb.ObjectReference) string {
	if o == nil {
		return ""
	}
	if o.GetId() == "" {
		return o.GetType()
	}
	return o.GetType() + ":" + o.GetId()
}

// formatSubject prints "type:id" or "type:id#relation".
func formatSubject(s *pb.SubjectReference) string {
	if s == nil {
		return ""
	}
	return protoconv.DecodeSubject(s).String()
}

// parseContextJSON reads a caveat context given as a JSON object.
func parseContextJSON(what, s string) (*structpb.Struct, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil {
		if err == nil {
			err = fmt.Errorf("null is not an object")
		}
		return nil, usageErrorf("%s is not a JSON object: %v (example: '{\"client_ip\": \"10.0.0.1\"}')", what, err)
	}
	if dec.More() {
		return nil, usageErrorf("%s: unexpected text after the JSON object", what)
	}
	out, err := protoconv.ContextToProto(m)
	if err != nil {
		return nil, usageErrorf("%s: %v", what, err)
	}
	return out, nil
}

// parseFilter reads a relationship filter in the text form
//
//	TYPE[:ID][#RELATION][@SUBJECT_TYPE[:SUBJECT_ID][#SUBJECT_RELATION]]
//
// An ID ending in * matches ids with that prefix; a SUBJECT_ID of * matches wildcard
// relationships (user:*). Missing parts match anything.
func parseFilter(what, s string) (*pb.RelationshipFilter, error) {
	s = strings.TrimSpace(s)
	resPart, subjPart, hasSubj := strings.Cut(s, "@")
	resPart, relation, hasRel := strings.Cut(resPart, "#")
	resType, resID, hasID := strings.Cut(resPart, ":")
	f := &pb.RelationshipFilter{ResourceType: resType}
	if err := tuple.ValidateTypeName("resource type", resType); err != nil {
		return nil, usageErrorf("%s %q: %v", what, s, err)
	}
	if hasID {
		switch {
		case resID == "":
			return nil, usageErrorf("%s %q: empty resource id after the colon", what, s)
		case strings.HasSuffix(resID, "*"):
			f.ResourceIdPrefix = strings.TrimSuffix(resID, "*")
		default:
			if err := tuple.ValidateObjectID("resource id", resID); err != nil {
				return nil, usageErrorf("%s %q: %v", what, s, err)
			}
			f.ResourceIds = []string{resID}
		}
	}
	if hasRel {
		if err := tuple.ValidateRelationName("relation", relation); err != nil {
			return nil, usageErrorf("%s %q: %v", what, s, err)
		}
		f.Relation = relation
	}
	if hasSubj {
		sf, err := parseSubjectFilter(what, subjPart)
		if err != nil {
			return nil, err
		}
		f.SubjectFilter = sf
	}
	return f, nil
}

// parseSubjectFilter reads SUBJECT_TYPE[:SUBJECT_ID][#SUBJECT_RELATION].
func parseSubjectFilter(what, s string) (*pb.SubjectFilter, error) {
	rest, relation, hasRel := strings.Cut(strings.TrimSpace(s), "#")
	typ, id, hasID := strings.Cut(rest, ":")
	if err := tuple.ValidateTypeName("subject type", typ); err != nil {
		return nil, usageErrorf("%s %q: %v", what, s, err)
	}
	sf := &pb.SubjectFilter{Type: typ}
	if hasID {
		if id != tuple.Wildcard {
			if err := tuple.ValidateObjectID("subject id", id); err != nil {
				return nil, usageErrorf("%s %q: %v", what, s, err)
			}
		}
		sf.Ids = []string{id}
	}
	if hasRel {
		if relation != tuple.Ellipsis {
			if err := tuple.ValidateRelationName("subject relation", relation); err != nil {
				return nil, usageErrorf("%s %q: %v", what, s, err)
			}
		}
		sf.Relations = []string{relation}
	}
	return sf, nil
}

// permissionshipName is the word the CLI prints for an answer.
func permissionshipName(p pb.Permissionship) string {
	switch p {
	case pb.Permissionship_PERMISSIONSHIP_ALLOWED:
		return "allowed"
	case pb.Permissionship_PERMISSIONSHIP_DENIED:
		return "denied"
	case pb.Permissionship_PERMISSIONSHIP_CONDITIONAL:
		return "conditional"
	}
	return "unspecified"
}

// answerText is "allowed", "denied" or "conditional (missing: a, b)".
func answerText(p pb.Permissionship, missing []string) string {
	s := permissionshipName(p)
	if p == pb.Permissionship_PERMISSIONSHIP_CONDITIONAL && len(missing) > 0 {
		s += " (missing: " + strings.Join(missing, ", ") + ")"
	}
	return s
}

// parseTime reads an RFC 3339 time, a date (2026-01-31), or a duration back from now
// ("24h", "7d" — d is days).
func parseTime(what, s string, now time.Time) (*timestamppb.Timestamp, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return timestamppb.New(t), nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, s, time.UTC); err == nil {
		return timestamppb.New(t), nil
	}
	if d, err := parseAge(s); err == nil {
		return timestamppb.New(now.Add(-d)), nil
	}
	return nil, usageErrorf("%s %q is not a time: use RFC 3339 (2026-01-31T12:00:00Z), a date (2026-01-31) or an age (90m, 24h, 7d)", what, s)
}

// parseAge reads a Go duration, also accepting a whole number of days ("7d").
func parseAge(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n int
		if _, err := fmt.Sscanf(days, "%d", &n); err == nil && fmt.Sprint(n) == days && n >= 0 {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("not a duration")
	}
	return d, nil
}

// compactJSON renders a value as one line of JSON with sorted keys.
func compactJSON(v any) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimRight(buf.String(), "\n")
}

// timeNow is the clock for relative times ("7d" ago).
var timeNow = time.Now

// newJSONDecoder decodes JSON keeping numbers exact (json.Number) and ignoring fields it
// does not know, so lines printed by other commands (with token and cursor) are read.
func newJSONDecoder(s string) *json.Decoder {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	return dec
}
