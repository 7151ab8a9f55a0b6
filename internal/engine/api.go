package engine

import (
	"time"

	"github.com/pemba-authz/pemba/internal/datastore"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// ConsistencyMode says which revision a read runs at.
type ConsistencyMode int

// Consistency modes.
const (
	// MinimizeLatency reads at the store's quantised recent revision (the default):
	// cache-friendly, at most one quantisation window stale.
	MinimizeLatency ConsistencyMode = iota
	// AtLeastAsFresh reads at the newer of Revision and the quantised revision, so a
	// client that just wrote sees its write (prevents the new-enemy problem).
	AtLeastAsFresh
	// AtExactSnapshot reads at exactly Revision.
	AtExactSnapshot
	// FullyConsistent reads at the head revision.
	FullyConsistent
)

// Consistency is a read's consistency requirement. Revision is used by AtLeastAsFresh
// and AtExactSnapshot.
type Consistency struct {
	Mode     ConsistencyMode
	Revision datastore.Revision
}

// Permissionship is a check's answer.
type Permissionship int

// Answers.
const (
	NoPermission Permissionship = iota
	HasPermission
	// Conditional: the subject has the permission only if caveat context that was
	// not supplied satisfies the caveats named in MissingContext.
	Conditional
)

func (p Permissionship) String() string {
	switch p {
	case HasPermission:
		return "allowed"
	case Conditional:
		return "conditional"
	}
	return "denied"
}

// CheckRequest asks whether Subject has Permission (or relation) on Resource.
type CheckRequest struct {
	Tenant     string
	Revision   datastore.Revision
	Resource   tuple.ObjectRef
	Permission string
	Subject    tuple.SubjectRef
	// Context is caveat context supplied with the request; context stored on a
	// relationship wins over it.
	Context map[string]any
	// Contextual relationships are used for this request only, as if stored.
	Contextual []tuple.Relationship
	// Without are hypothetical removals: the check runs as if these relationships
	// (matched by key) were deleted at Revision. What-if previews use it; nothing is
	// written.
	Without []tuple.Relationship
	// Explain asks for the evaluation tree.
	Explain bool
}

// CheckResult is a check's answer.
type CheckResult struct {
	Permissionship Permissionship
	// MissingContext names caveat parameters whose values would decide a
	// Conditional answer.
	MissingContext []string
	// Explanation is the evaluation tree, when requested.
	Explanation *ExplainNode
	// Stats describe the work the check did.
	Stats CheckStats
}

// CheckStats describe the work one check did.
type CheckStats struct {
	Dispatches int // sub-problems evaluated (cached or not)
	CacheHits  int
	MaxDepth   int
}

// BulkResult is one answer of a CheckBulk, in request order.
type BulkResult struct {
	Result CheckResult
	Err    error
}

// ExpandRequest asks for the userset tree of a permission on a resource.
type ExpandRequest struct {
	Tenant     string
	Revision   datastore.Revision
	Resource   tuple.ObjectRef
	Permission string
}

// ExpandOp is an Expand tree node's operation.
type ExpandOp int

// Expand operations.
const (
	ExpandLeaf ExpandOp = iota // direct subjects of a relation
	ExpandUnion
	ExpandIntersection
	ExpandExclusion
)

// ExpandNode is one node of an Expand tree.
type ExpandNode struct {
	Resource tuple.ObjectRef
	Relation string
	Op       ExpandOp
	Children []*ExpandNode
	// Subjects are a leaf's direct subjects.
	Subjects []ExpandSubject
	// Arrow is the arrow an arrow node expands, e.g. "parent->view" (a union, or an
	// intersection for ".all"); empty for other nodes.
	Arrow string
	// Via is the relationship an arrow followed to reach this node (set on the
	// children of an arrow node); its caveat and expiry condition the whole subtree.
	Via *tuple.Relationship
}

// ExpandSubject is one direct subject of a leaf.
type ExpandSubject struct {
	Subject    tuple.SubjectRef
	Caveat     *tuple.Caveat
	Expiration time.Time
	// Conditional is set on a delegated grant whose dependencies hold only under
	// caveat context (a grantee whose membership is caveated, say): like a caveat, it
	// makes the subject count only conditionally.
	Conditional bool
}

// LookupResourcesRequest asks which resources of a type Subject has Permission on.
type LookupResourcesRequest struct {
	Tenant       string
	Revision     datastore.Revision
	ResourceType string
	Permission   string
	Subject      tuple.SubjectRef
	Context      map[string]any
	Contextual   []tuple.Relationship
	// Limit is the most results to return; 0 means all.
	Limit int
	// Cursor resumes a previous lookup from its last result's cursor.
	Cursor string
	// MaxWork bounds this call's store reads (see LookupWorkError); 0 means
	// Config.MaxLookupWork.
	MaxWork int
}

// ResourceResult is one LookupResources answer.
type ResourceResult struct {
	ResourceID     string
	Permissionship Permissionship // HasPermission or Conditional
	MissingContext []string
	// Cursor resumes the lookup after this result.
	Cursor string
}

// LookupSubjectsRequest asks which subjects of a type have Permission on Resource.
type LookupSubjectsRequest struct {
	Tenant          string
	Revision        datastore.Revision
	Resource        tuple.ObjectRef
	Permission      string
	SubjectType     string
	SubjectRelation string // "" for plain objects
	Context         map[string]any
	Contextual      []tuple.Relationship
	Limit           int
	Cursor          string
	// MaxWork bounds this call's store reads (see LookupWorkError); 0 means
	// Config.MaxLookupWork.
	MaxWork int
}

// SubjectResult is one LookupSubjects answer.
type SubjectResult struct {
	// SubjectID is an object id, or tuple.Wildcard.
	SubjectID      string
	Permissionship Permissionship
	MissingContext []string
	// Excluded lists subjects a wildcard result does not cover.
	Excluded []string
	Cursor   string
}

// PermissionsRequest asks for every permission and relation Subject holds on
// Resource (for admin screens).
type PermissionsRequest struct {
	Tenant     string
	Revision   datastore.Revision
	Resource   tuple.ObjectRef
	Subject    tuple.SubjectRef
	Context    map[string]any
	Contextual []tuple.Relationship
}

// PermissionResult is one entry of a PermissionsRequest's answer.
type PermissionResult struct {
	Permission     string
	Permissionship Permissionship
	MissingContext []string
}
