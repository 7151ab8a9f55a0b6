// Package engine answers permission questions by walking the relationship graph the
// schema describes: Check, CheckBulk, Expand, LookupResources, LookupSubjects and
// Permissions, at a revision, with a shared result cache keyed by revision.
//
// The engine's surface, used by the server, the write path and governance:
//
//	func New(ds datastore.Datastore, cfg Config) *Engine
//	func (e *Engine) ResolveRevision(ctx context.Context, tenant string, c Consistency) (datastore.Revision, error)
//	func (e *Engine) Schema(ctx context.Context, tenant string, rev datastore.Revision) (*schema.Schema, error)
//	func (e *Engine) Check(ctx context.Context, req CheckRequest) (CheckResult, error)
//	func (e *Engine) CheckBulk(ctx context.Context, reqs []CheckRequest) []BulkResult
//	func (e *Engine) Expand(ctx context.Context, req ExpandRequest) (*ExpandNode, error)
//	func (e *Engine) LookupResources(ctx context.Context, req LookupResourcesRequest) iter.Seq2[ResourceResult, error]
//	func (e *Engine) LookupSubjects(ctx context.Context, req LookupSubjectsRequest) iter.Seq2[SubjectResult, error]
//	func (e *Engine) Permissions(ctx context.Context, req PermissionsRequest) ([]PermissionResult, error)
//	func NewSubtree(r datastore.Reader, sch *schema.Schema, org *tuple.ObjectRef) *Subtree
//
// A check's explanation is an ExplainNode tree the engine owns, its steps told apart
// by NodeKind; GrantingPath says which relationships granted and Relationships lists
// every relationship it followed.
//
// Housekeeping: ForgetTenant (after deleting a tenant), PurgeCache, Metrics and
// Collector (Prometheus). docs/engine.md describes the semantics, caching and limits.
package engine
