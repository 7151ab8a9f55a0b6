package write

import (
	"context"
	"errors"
	"slices"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/schema"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// SchemaResult is the outcome of a schema write or dry run.
type SchemaResult struct {
	// Revision is the revision the schema was written at; 0 for a dry run or a
	// refusal.
	Revision datastore.Revision
	// Diff describes the change from the current schema, in text.
	Diff string
	// Changes is the structured diff.
	Changes *schema.Changeset
	// Refused is set when the change would orphan stored relationships. A dry run
	// reports it here; a real write returns it as the error too.
	Refused *SchemaRefusedError
}

// errDryRun aborts the transaction of a dry run after it has computed its verdict.
var errDryRun = errors.New("dry run")

// WriteSchema compiles text and, unless it would orphan stored relationships, stores it
// as the tenant's schema. A dry run computes the diff and the verdict without writing.
func (w *Writer) WriteSchema(ctx context.Context, req Request, text string, dryRun bool) (SchemaResult, error) {
	newSchema, err := schema.Compile("schema.zed", text)
	if err != nil {
		return SchemaResult{}, &SchemaCompileError{Err: err}
	}
	tenant, err := req.tenant()
	if err != nil {
		return SchemaResult{}, err
	}
	var res SchemaResult
	rev, err := w.ds.ReadWriteTx(ctx, tenant, datastore.TxMetadata(req.metadata("schema")), func(ctx context.Context, tx datastore.ReadWriteTx) error {
		res = SchemaResult{}
		snap := tx.Snapshot()
		oldSchema, err := w.eng.Schema(ctx, tenant, snap.Revision())
		switch {
		case errors.Is(err, datastore.ErrSchemaNotFound):
			oldSchema = nil
		case err != nil:
			return err
		}
		res.Changes = schema.Diff(oldSchema, newSchema)
		res.Diff = res.Changes.String()
		if oldSchema != nil {
			orphans, err := findOrphans(ctx, snap, schema.OrphanChecks(oldSchema, newSchema))
			if err != nil {
				return err
			}
			if len(orphans) > 0 {
				res.Refused = &SchemaRefusedError{Orphans: orphans}
				return res.Refused
			}
		}
		if dryRun {
			return errDryRun
		}
		return tx.WriteSchema(ctx, text)
	})
	switch {
	case errors.Is(err, errDryRun):
		return res, nil
	case res.Refused != nil && dryRun:
		return res, nil
	case err != nil:
		return res, err
	}
	res.Revision = rev
	return res, nil
}

// SchemaCompileError is a schema text that does not compile; Err carries every error
// with its position.
type SchemaCompileError struct{ Err error }

func (e *SchemaCompileError) Error() string { return e.Err.Error() }
func (e *SchemaCompileError) Unwrap() error { return e.Err }

// Is makes SchemaCompileError match datastore.ErrInvalidArgument.
func (e *SchemaCompileError) Is(target error) bool { return target == datastore.ErrInvalidArgument }

// findOrphans runs each orphan check against the snapshot and reports the ones that
// find relationships, with a count and an example.
func findOrphans(ctx context.Context, snap datastore.Reader, checks []schema.OrphanCheck) ([]Orphan, error) {
	var out []Orphan
	for _, c := range checks {
		match := func(r tuple.Relationship) bool {
			if c.ResourceType != "" && r.Resource.Type != c.ResourceType {
				return false
			}
			if c.Relation != "" && r.Relation != c.Relation {
				return false
			}
			if c.SubjectType == "" {
				return true
			}
			if r.Subject.Type != c.SubjectType {
				return false
			}
			if c.ResourceType == "" {
				return true // a removed subject type: every relationship naming it
			}
			caveat := ""
			if r.Caveat != nil {
				caveat = r.Caveat.Name
			}
			return r.Subject.IsWildcard() == c.Wildcard && r.Subject.Relation == c.SubjectRelation &&
				caveat == c.Caveat && r.HasExpiration() == c.Expiration
		}
		var seq func(func(tuple.Relationship, error) bool)
		if c.ResourceType != "" {
			f := datastore.RelationshipFilter{ResourceType: c.ResourceType, Relation: c.Relation}
			seq = snap.QueryRelationships(ctx, f, datastore.QueryOptions{})
		} else {
			seq = snap.ReverseQueryRelationships(ctx, datastore.SubjectFilter{Type: c.SubjectType}, datastore.ReverseQueryOptions{})
		}
		var o Orphan
		for r, err := range seq {
			if err != nil {
				return nil, err
			}
			if !match(r) {
				continue
			}
			if o.Count == 0 {
				o.Example = r
			}
			o.Count++
		}
		if o.Count > 0 {
			o.Description = c.Description
			out = append(out, o)
		}
	}
	return slices.Clip(out), nil
}
