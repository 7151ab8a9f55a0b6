package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync/atomic"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/pemba-authz/pemba/bench/dataset"
	pemba "github.com/pemba-authz/pemba/client"
	"github.com/pemba-authz/pemba/internal/protoconv"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// Suite runs workloads for one dataset against one server.
type Suite struct {
	Model  *dataset.Model
	Client *Client
	Tenant string
	// PoolSize is the number of checks drawn for each run of a fresh-check workload.
	PoolSize int
	// PageSize is the page size of lookups; a lookup pages with cursors until a page
	// comes back short.
	PageSize uint32
	// BatchSize is the lookups' batch_size: results per stream message (0: one each,
	// the form that predates batching).
	BatchSize uint32

	streams atomic.Uint64
}

// Prepared is a workload ready to run at one concurrency.
type Prepared struct {
	Op Op
	// Pool is the number of distinct questions the run draws from.
	Pool int
	// Count, when positive, bounds the run to one pass over its questions.
	Count int64
	// Warm, when set, runs before the timed run (to fill caches).
	Warm func(ctx context.Context) error
	Note string
}

// Workload is one kind of load.
type Workload struct {
	Name        string
	Description string
	Prepare     func(ctx context.Context, s *Suite, conc int) (*Prepared, error)
}

// ErrSkip marks a workload the dataset cannot feed (for example no user sees 10k
// documents in a small dataset).
var ErrSkip = errors.New("skipped")

// Workloads lists every workload in the order they run.
func Workloads() []Workload {
	return []Workload{
		{"health", "grpc.health.v1 Check: the transport's limit", prepareHealth},
		{"check", "Check, minimize_latency, realistic mix, fresh questions each run", prepareCheck(minimizeLatency)},
		{"check_full", "Check, fully_consistent, realistic mix, fresh questions each run", prepareCheck(fullyConsistent)},
		{"check_cached", "Check, minimize_latency, a hot set of 100 questions asked before the run", prepareCached},
		{"check_deep2", "Check on documents of depth-2 chain organisations, each question once", prepareDeep(2)},
		{"check_deep16", "Check on documents of depth-16 chain organisations, each question once", prepareDeep(16)},
		{"check_bulk", "CheckBulk of 50 checks of the realistic mix", prepareBulk},
		{"lookup_resources_small", "LookupResources of documents a user sees 10-100 of", prepareLookup(10, 100)},
		{"lookup_resources_1k", "LookupResources of documents a user sees 300-3000 of", prepareLookup(300, 3000)},
		{"lookup_resources_10k", "LookupResources of documents a user sees 5000-20000 of", prepareLookup(5000, 20000)},
		{"lookup_subjects", "LookupSubjects: the users who may view a document", prepareLookupSubjects},
		{"mixed_rw", "99% Check (minimize_latency), 1% write followed by an at_least_as_fresh Check of it", prepareMixed},
		{"sweep", "Check view of every document of the dataset once (fills every cache and index)", prepareSweep},
	}
}

// WorkloadNames returns the names of every workload.
func WorkloadNames() []string {
	var out []string
	for _, w := range Workloads() {
		out = append(out, w.Name)
	}
	return out
}

func (s *Suite) stream() uint64 { return 1000 + s.streams.Add(1) }

func prepareHealth(_ context.Context, s *Suite, _ int) (*Prepared, error) {
	return &Prepared{Op: func(ctx context.Context, _ int, _ int64) Outcome {
		resp, err := s.Client.Health().Check(ctx, &healthpb.HealthCheckRequest{})
		if err != nil {
			return Outcome{Err: err}
		}
		if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			return Outcome{Mismatch: "health status " + resp.GetStatus().String()}
		}
		return Outcome{}
	}}, nil
}

func (s *Suite) checkRequest(q dataset.CheckQuery, cons *pb.Consistency) *pb.CheckRequest {
	return &pb.CheckRequest{
		Tenant: s.Tenant, Consistency: cons, Resource: protoconv.ObjectToProto(q.Resource), Permission: q.Permission,
		Subject: protoconv.SubjectToProto(q.Subject), Context: clientContext(q.ClientIP),
	}
}

func want(expected bool) pb.Permissionship {
	if expected {
		return pb.Permissionship_PERMISSIONSHIP_ALLOWED
	}
	return pb.Permissionship_PERMISSIONSHIP_DENIED
}

// verdict describes a wrong answer, or returns "".
func verdict(q dataset.CheckQuery, got pb.Permissionship) string {
	if got == want(q.Expected) {
		return ""
	}
	return fmt.Sprintf("%s#%s@%s (client_ip %s): server said %s, oracle says %s",
		q.Resource, q.Permission, q.Subject, q.ClientIP, got, want(q.Expected))
}

func (s *Suite) checkOp(qs []dataset.CheckQuery, cons *pb.Consistency) Op {
	return func(ctx context.Context, _ int, i int64) Outcome {
		q := qs[i%int64(len(qs))]
		resp, err := s.Client.Permissions().Check(ctx, s.checkRequest(q, cons))
		if err != nil {
			return Outcome{Err: err}
		}
		return Outcome{Mismatch: verdict(q, resp.GetPermissionship())}
	}
}

func prepareCheck(cons *pb.Consistency) func(context.Context, *Suite, int) (*Prepared, error) {
	return func(_ context.Context, s *Suite, _ int) (*Prepared, error) {
		qs := s.Model.RandomChecks(s.stream(), s.PoolSize)
		return &Prepared{Op: s.checkOp(qs, cons), Pool: len(qs)}, nil
	}
}

func prepareCached(_ context.Context, s *Suite, _ int) (*Prepared, error) {
	qs := s.Model.RandomChecks(7, 100)
	op := s.checkOp(qs, minimizeLatency)
	return &Prepared{Op: op, Pool: len(qs), Warm: func(ctx context.Context) error {
		for i := range qs {
			if o := op(ctx, 0, int64(i)); o.Err != nil {
				return o.Err
			}
		}
		return nil
	}}, nil
}

func prepareDeep(level int) func(context.Context, *Suite, int) (*Prepared, error) {
	return func(_ context.Context, s *Suite, _ int) (*Prepared, error) {
		qs := s.Model.DeepChecks(s.stream(), level, s.PoolSize)
		if len(qs) == 0 {
			return nil, fmt.Errorf("%w: the dataset has no chain of depth %d", ErrSkip, level)
		}
		return &Prepared{Op: s.checkOp(qs, minimizeLatency), Pool: len(qs), Count: int64(len(qs)),
			Note: fmt.Sprintf("each of %d distinct questions asked once", len(qs))}, nil
	}
}

// BulkSize is the number of checks in one CheckBulk request.
const BulkSize = 50

func prepareBulk(_ context.Context, s *Suite, _ int) (*Prepared, error) {
	qs := s.Model.RandomChecks(s.stream(), max(s.PoolSize, BulkSize))
	op := func(ctx context.Context, _ int, i int64) Outcome {
		req := &pb.CheckBulkRequest{Tenant: s.Tenant, Consistency: minimizeLatency}
		batch := make([]dataset.CheckQuery, BulkSize)
		for k := range batch {
			q := qs[(i*BulkSize+int64(k))%int64(len(qs))]
			batch[k] = q
			req.Items = append(req.Items, &pb.CheckBulkRequestItem{
				Resource: protoconv.ObjectToProto(q.Resource), Permission: q.Permission, Subject: protoconv.SubjectToProto(q.Subject), Context: clientContext(q.ClientIP),
			})
		}
		resp, err := s.Client.Permissions().CheckBulk(ctx, req)
		if err != nil {
			return Outcome{Err: err}
		}
		o := Outcome{Items: BulkSize}
		if len(resp.GetItems()) != BulkSize {
			o.Mismatch = fmt.Sprintf("CheckBulk of %d items answered %d", BulkSize, len(resp.GetItems()))
			o.Mismatches = BulkSize
			return o
		}
		for k, it := range resp.GetItems() {
			m := ""
			if it.GetError() != nil {
				m = fmt.Sprintf("item %d (%s): error %s", k, batch[k], it.GetError().GetMessage())
			} else {
				m = verdict(batch[k], it.GetPermissionship())
			}
			if m != "" {
				o.Mismatches++
				if o.Mismatch == "" {
					o.Mismatch = m
				}
			}
		}
		return o
	}
	return &Prepared{Op: op, Pool: len(qs)}, nil
}

// maxPages bounds one paginated lookup.
const maxPages = 10_000

// compareIDs describes the difference between a lookup's answer and the oracle's.
func compareIDs(what string, got, expected []string) string {
	sort.Strings(got)
	if slices.Equal(got, expected) {
		return ""
	}
	var missing, extra []string
	i, j := 0, 0
	for i < len(got) || j < len(expected) {
		switch {
		case j == len(expected) || i < len(got) && got[i] < expected[j]:
			extra = append(extra, got[i])
			i++
		case i == len(got) || got[i] > expected[j]:
			missing = append(missing, expected[j])
			j++
		default:
			i++
			j++
		}
	}
	short := func(xs []string) string {
		if len(xs) > 5 {
			return strings.Join(xs[:5], ",") + fmt.Sprintf(",... (%d)", len(xs))
		}
		return strings.Join(xs, ",")
	}
	return fmt.Sprintf("%s: %d results, oracle expects %d; missing [%s], unexpected [%s]", what, len(got), len(expected), short(missing), short(extra))
}

// LookupResources pages through one LookupResources question and returns the ids.
func (s *Suite) LookupResources(ctx context.Context, q dataset.LookupQuery) ([]string, error) {
	var ids []string
	cons, cursor := minimizeLatency, ""
	client := s.Client.Permissions()
	for range maxPages {
		stream, err := client.LookupResources(ctx, &pb.LookupResourcesRequest{
			Tenant: s.Tenant, Consistency: cons, ResourceType: q.ResourceType, Permission: q.Permission,
			Subject: protoconv.SubjectToProto(q.Subject), Context: clientContext(q.ClientIP), Limit: s.PageSize, Cursor: cursor,
			BatchSize: s.BatchSize,
		})
		if err != nil {
			return nil, err
		}
		n, token := 0, ""
		for {
			resp, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, err
			}
			token = resp.GetToken()
			for _, r := range pemba.ResourceResults(resp) {
				if r.GetPermissionship() != pb.Permissionship_PERMISSIONSHIP_ALLOWED {
					return nil, fmt.Errorf("lookup result %s is %s although client_ip was given", r.GetResourceId(), r.GetPermissionship())
				}
				ids = append(ids, r.GetResourceId())
				cursor = r.GetCursor()
				n++
			}
		}
		if n < int(s.PageSize) {
			return ids, nil
		}
		cons = protoconv.AtExactSnapshot(token)
	}
	return nil, fmt.Errorf("lookup did not end within %d pages", maxPages)
}

func prepareLookup(lo, hi int) func(context.Context, *Suite, int) (*Prepared, error) {
	return func(_ context.Context, s *Suite, _ int) (*Prepared, error) {
		qs := s.Model.LookupResourcesQueries(uint64(lo), lo, hi, 10, 4000)
		if len(qs) == 0 {
			return nil, fmt.Errorf("%w: no user of this dataset sees %d to %d documents", ErrSkip, lo, hi)
		}
		total := 0
		for _, q := range qs {
			total += len(q.Expected)
		}
		op := func(ctx context.Context, _ int, i int64) Outcome {
			q := qs[i%int64(len(qs))]
			ids, err := s.LookupResources(ctx, q)
			if err != nil {
				return Outcome{Err: err}
			}
			return Outcome{Items: len(ids), Mismatch: compareIDs(fmt.Sprintf("LookupResources %s#%s for %s", q.ResourceType, q.Permission, q.Subject), ids, q.Expected)}
		}
		return &Prepared{Op: op, Pool: len(qs), Note: fmt.Sprintf("%d users, %d results on average", len(qs), total/len(qs))}, nil
	}
}

// LookupSubjects pages through one LookupSubjects question and returns the ids.
func (s *Suite) LookupSubjects(ctx context.Context, q dataset.SubjectsQuery) ([]string, error) {
	var ids []string
	cons, cursor := minimizeLatency, ""
	client := s.Client.Permissions()
	for range maxPages {
		stream, err := client.LookupSubjects(ctx, &pb.LookupSubjectsRequest{
			Tenant: s.Tenant, Consistency: cons, Resource: protoconv.ObjectToProto(q.Resource), Permission: q.Permission,
			SubjectType: dataset.TypeUser, Context: clientContext(q.ClientIP), Limit: s.PageSize, Cursor: cursor,
			BatchSize: s.BatchSize,
		})
		if err != nil {
			return nil, err
		}
		n, token := 0, ""
		for {
			resp, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, err
			}
			token = resp.GetToken()
			for _, r := range pemba.SubjectResults(resp) {
				if r.GetPermissionship() != pb.Permissionship_PERMISSIONSHIP_ALLOWED {
					return nil, fmt.Errorf("lookup result %s is %s although client_ip was given", r.GetSubjectId(), r.GetPermissionship())
				}
				ids = append(ids, r.GetSubjectId())
				cursor = r.GetCursor()
				n++
			}
		}
		if n < int(s.PageSize) {
			return ids, nil
		}
		cons = protoconv.AtExactSnapshot(token)
	}
	return nil, fmt.Errorf("lookup did not end within %d pages", maxPages)
}

func prepareLookupSubjects(_ context.Context, s *Suite, _ int) (*Prepared, error) {
	qs := s.Model.LookupSubjectsQueries(11, 20)
	op := func(ctx context.Context, _ int, i int64) Outcome {
		q := qs[i%int64(len(qs))]
		ids, err := s.LookupSubjects(ctx, q)
		if err != nil {
			return Outcome{Err: err}
		}
		return Outcome{Items: len(ids), Mismatch: compareIDs(fmt.Sprintf("LookupSubjects %s#%s", q.Resource, q.Permission), ids, q.Expected)}
	}
	return &Prepared{Op: op, Pool: len(qs)}, nil
}

// WriteEvery is how often mixed_rw writes: one request in WriteEvery.
const WriteEvery = 100

func prepareMixed(_ context.Context, s *Suite, conc int) (*Prepared, error) {
	qs := s.Model.RandomChecks(s.stream(), s.PoolSize)
	read := s.checkOp(qs, minimizeLatency)
	probe, err := newWriteProbe(s, qs, conc, "benchwriter", "benchmark mixed_rw")
	if err != nil {
		return nil, err
	}
	op := func(ctx context.Context, w int, i int64) Outcome {
		if i%WriteEvery != WriteEvery-1 {
			return read(ctx, w, i)
		}
		return probe.write(ctx, w)
	}
	return &Prepared{Op: op, Pool: len(qs), Note: fmt.Sprintf("1 request in %d is a write plus an at_least_as_fresh check of it, timed together", WriteEvery)}, nil
}

func prepareSweep(_ context.Context, s *Suite, _ int) (*Prepared, error) {
	projects, first, docs := s.Model.ProjectList()
	if docs == 0 {
		return nil, fmt.Errorf("%w: the dataset has no documents", ErrSkip)
	}
	op := func(ctx context.Context, _ int, i int64) Outcome {
		k := sort.Search(len(first), func(k int) bool { return first[k] > i }) - 1
		p := projects[k]
		d := dataset.Doc{Project: p, D: int(i - first[k])}
		u := dataset.User{Org: p.Org, J: int(i % int64(s.Model.UserCount(p.Org)))}
		q := s.Model.Question(dataset.DocRef(d), "view", u)
		resp, err := s.Client.Permissions().Check(ctx, s.checkRequest(q, minimizeLatency))
		if err != nil {
			return Outcome{Err: err}
		}
		return Outcome{Mismatch: verdict(q, resp.GetPermissionship())}
	}
	return &Prepared{Op: op, Pool: int(docs), Count: docs, Note: fmt.Sprintf("every one of %d documents checked once", docs)}, nil
}
