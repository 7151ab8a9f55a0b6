package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/pemba-authz/pemba/internal/explain"
	"github.com/pemba-authz/pemba/internal/protoconv"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// Output. Text is for people: aligned tables and trees. JSON is for scripts: one
// document per command (indented), or one compact document per line for streams
// (watch, read, lookups, export, audit). The JSON shapes below are the stable
// contract documented in docs/cli.md; they are the CLI's own, not the protobuf
// encoding, so relationships carry their text form next to their parts.

// writeJSON prints one indented JSON document.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// writeJSONLine prints one compact JSON document on its own line.
func writeJSONLine(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// newTable returns a writer that aligns tab-separated columns; call Flush at the end.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

// cell is a table cell: "-" when empty, so columns stay readable.
func cell(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// relationshipJSON is a relationship in JSON output: its text form and its parts.
type relationshipJSON = explain.Relationship

func relationshipToJSON(r *pb.Relationship) *relationshipJSON {
	if r == nil {
		return nil
	}
	return explain.NewRelationship(protoconv.DecodeRelationship(r))
}

func relationshipsToJSON(rs []*pb.Relationship) []*relationshipJSON {
	out := make([]*relationshipJSON, 0, len(rs))
	for _, r := range rs {
		out = append(out, relationshipToJSON(r))
	}
	return out
}

// formatTime prints a timestamp in UTC, RFC 3339, or "" when unset.
func formatTime(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return ""
	}
	return ts.AsTime().UTC().Format(time.RFC3339Nano)
}

// formatTimeText prints a timestamp for people: UTC, to the second.
func formatTimeText(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return ""
	}
	return ts.AsTime().UTC().Format(time.RFC3339)
}

// grantJSON is the grant rule that allowed one update of a delegated write.
type grantJSON struct {
	Relationship *relationshipJSON `json:"relationship,omitempty"`
	Rule         string            `json:"rule"`
	Via          string            `json:"via,omitempty"`
}

func grantToJSON(g *pb.GrantRecord) *grantJSON {
	if g == nil {
		return nil
	}
	return &grantJSON{Relationship: relationshipToJSON(g.GetRelationship()), Rule: g.GetRule(), Via: formatObject(g.GetVia())}
}

// changeJSON is one relationship change of a transaction.
type changeJSON struct {
	Kind         string            `json:"kind"`
	Relationship *relationshipJSON `json:"relationship"`
}

// updateJSON is one update of a write, as a denial lists the attempted ones.
type updateJSON struct {
	Operation    string            `json:"operation"`
	Relationship *relationshipJSON `json:"relationship"`
}

// denialJSON is the refusal of a delegated write recorded in the audit trail.
type denialJSON struct {
	Message string       `json:"message"`
	Updates []updateJSON `json:"updates,omitempty"`
}

// transactionJSON is one committed transaction, as watch and audit print it. A
// refused delegated write is recorded too: it has denied set and no changes.
type transactionJSON struct {
	Tenant        string        `json:"tenant,omitempty"`
	Token         string        `json:"token"`
	CommittedAt   string        `json:"committed_at"`
	Operation     string        `json:"operation,omitempty"`
	Principal     string        `json:"principal,omitempty"`
	Actor         string        `json:"actor,omitempty"`
	Reason        string        `json:"reason,omitempty"`
	Organizations []string      `json:"organizations,omitempty"`
	Grants        []*grantJSON  `json:"grants,omitempty"`
	Denied        *denialJSON   `json:"denied,omitempty"`
	Changes       []*changeJSON `json:"changes"`
	SchemaChanged bool          `json:"schema_changed,omitempty"`
	Schema        string        `json:"schema,omitempty"`
}

func transactionToJSON(tx *pb.Transaction) *transactionJSON {
	md := tx.GetMetadata()
	out := &transactionJSON{
		Tenant:        tx.GetTenant(),
		Token:         tx.GetToken(),
		CommittedAt:   formatTime(tx.GetCommittedAt()),
		Operation:     md.GetOperation(),
		Principal:     md.GetPrincipal(),
		Actor:         formatSubject(md.GetActor()),
		Reason:        md.GetReason(),
		Changes:       []*changeJSON{},
		SchemaChanged: tx.GetSchemaChanged(),
		Schema:        tx.GetSchema(),
	}
	for _, o := range md.GetOrganizations() {
		out.Organizations = append(out.Organizations, formatObject(o))
	}
	for _, g := range md.GetGrants() {
		out.Grants = append(out.Grants, grantToJSON(g))
	}
	if d := md.GetDenied(); d != nil {
		out.Denied = &denialJSON{Message: d.GetMessage()}
		for _, u := range d.GetUpdates() {
			out.Denied.Updates = append(out.Denied.Updates, updateJSON{Operation: operationName(u.GetOperation()), Relationship: relationshipToJSON(u.GetRelationship())})
		}
	}
	for _, c := range tx.GetChanges() {
		out.Changes = append(out.Changes, &changeJSON{Kind: changeKindName(c.GetKind()), Relationship: relationshipToJSON(c.GetRelationship())})
	}
	return out
}

// operationName is the --op word of an update's operation.
func operationName(op pb.RelationshipUpdate_Operation) string {
	switch op {
	case pb.RelationshipUpdate_OPERATION_CREATE:
		return "create"
	case pb.RelationshipUpdate_OPERATION_TOUCH:
		return "touch"
	case pb.RelationshipUpdate_OPERATION_DELETE:
		return "delete"
	}
	return "unspecified"
}

func changeKindName(k pb.RelationshipChange_Kind) string {
	switch k {
	case pb.RelationshipChange_KIND_CREATED:
		return "created"
	case pb.RelationshipChange_KIND_TOUCHED:
		return "touched"
	case pb.RelationshipChange_KIND_DELETED:
		return "deleted"
	}
	return "unspecified"
}

// changeSymbol is the one-character mark of a change in text output.
func changeSymbol(k pb.RelationshipChange_Kind) string {
	switch k {
	case pb.RelationshipChange_KIND_CREATED:
		return "+"
	case pb.RelationshipChange_KIND_TOUCHED:
		return "~"
	case pb.RelationshipChange_KIND_DELETED:
		return "-"
	}
	return "?"
}

// writeTransactionText prints a transaction for people: a header line with its
// metadata, then one line per change.
//
//	2026-01-31T12:00:00Z  token GgIIAw  write principal=admin actor=user:bob reason="quarterly access"
//	  + document:q3#viewer@user:alice
//
// A refused delegated write is marked DENIED and followed by the refusal and the
// updates that were attempted.
func writeTransactionText(w io.Writer, tx *pb.Transaction) {
	writeTransactionTextIn(w, tx, false)
}

// writeTransactionTextIn prints a transaction, with its tenant first when withTenant
// is set (a cross-tenant audit query mixes tenants).
func writeTransactionTextIn(w io.Writer, tx *pb.Transaction, withTenant bool) {
	md := tx.GetMetadata()
	var meta []string
	if op := md.GetOperation(); op != "" {
		meta = append(meta, op)
	}
	if md.GetDenied() != nil {
		meta = append(meta, "DENIED")
	}
	if p := md.GetPrincipal(); p != "" {
		meta = append(meta, "principal="+p)
	}
	if a := md.GetActor(); a != nil {
		meta = append(meta, "actor="+formatSubject(a))
	}
	if r := md.GetReason(); r != "" {
		meta = append(meta, "reason="+quoteIfNeeded(r))
	}
	if len(md.GetOrganizations()) > 0 {
		orgs := make([]string, 0, len(md.GetOrganizations()))
		for _, o := range md.GetOrganizations() {
			orgs = append(orgs, formatObject(o))
		}
		meta = append(meta, "orgs="+strings.Join(orgs, ","))
	}
	if withTenant {
		fmt.Fprintf(w, "%s  tenant %s", formatTimeText(tx.GetCommittedAt()), tx.GetTenant())
	} else {
		fmt.Fprint(w, formatTimeText(tx.GetCommittedAt()))
	}
	fmt.Fprintf(w, "  token %s  %s\n", tx.GetToken(), strings.Join(meta, " "))
	if d := md.GetDenied(); d != nil {
		fmt.Fprintln(w, "  refused: "+d.GetMessage())
		for _, u := range d.GetUpdates() {
			fmt.Fprintf(w, "  attempted %s %s\n", operationName(u.GetOperation()), formatRelationship(u.GetRelationship()))
		}
	}
	if tx.GetSchemaChanged() {
		fmt.Fprintln(w, "  schema written")
	}
	for _, c := range tx.GetChanges() {
		fmt.Fprintf(w, "  %s %s\n", changeSymbol(c.GetKind()), formatRelationship(c.GetRelationship()))
	}
	for _, g := range md.GetGrants() {
		line := fmt.Sprintf("    granted %s by rule %q", formatRelationship(g.GetRelationship()), g.GetRule())
		if v := g.GetVia(); v != nil {
			line += " via " + formatObject(v)
		}
		fmt.Fprintln(w, line)
	}
}

// quoteIfNeeded quotes a value that contains spaces or quotes, so a header line
// stays readable as key=value pairs.
func quoteIfNeeded(s string) string {
	if s == "" || strings.ContainsAny(s, " \t\"=") {
		return fmt.Sprintf("%q", s)
	}
	return s
}

// Tree drawing, shared by explain, expand and access review.
const (
	treeBranch = "├── "
	treeLast   = "└── "
	treePipe   = "│   "
	treeSpace  = "    "
)

// childPrefixes returns the prefix of a child's own line and of the lines below it.
func childPrefixes(prefix string, last bool) (line, below string) {
	if last {
		return prefix + treeLast, prefix + treeSpace
	}
	return prefix + treeBranch, prefix + treePipe
}
