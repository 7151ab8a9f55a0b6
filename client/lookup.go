package client

import (
	"context"
	"errors"
	"io"
	"iter"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// LookupBatchSize is the batch size LookupResources and LookupSubjects ask for when
// the request sets none: large enough that a 10,000-result page is 20 messages, small
// enough that the first results arrive early.
const LookupBatchSize = 500

// ResourceResult is one result of LookupResources with the token of the revision the
// lookup read at (pass it as at_exact_snapshot with the cursor to continue).
type ResourceResult struct {
	Token  string
	Result *pb.LookupResourcesResult
}

// SubjectResult is one result of LookupSubjects with the token of the revision the
// lookup read at.
type SubjectResult struct {
	Token  string
	Result *pb.LookupSubjectsResult
}

// LookupResources runs PermissionService.LookupResources in its batched form and
// yields the results one by one. It leaves req unchanged, asking for batches of
// LookupBatchSize when req.BatchSize is 0. A server that predates batching answers one
// result per message, which ResourceResults unpacks the same way.
func (c *Client) LookupResources(ctx context.Context, req *pb.LookupResourcesRequest, opts ...grpc.CallOption) iter.Seq2[ResourceResult, error] {
	return func(yield func(ResourceResult, error) bool) {
		if req.GetBatchSize() == 0 {
			req = proto.CloneOf(req)
			req.BatchSize = LookupBatchSize
		}
		stream, err := c.Permissions.LookupResources(ctx, req, opts...)
		if err != nil {
			yield(ResourceResult{}, err)
			return
		}
		drain(stream.Recv, func(m *pb.LookupResourcesResponse) []ResourceResult {
			rs := ResourceResults(m)
			out := make([]ResourceResult, len(rs))
			for i, r := range rs {
				out[i] = ResourceResult{Token: m.GetToken(), Result: r}
			}
			return out
		}, yield)
	}
}

// LookupSubjects runs PermissionService.LookupSubjects in its batched form and yields
// the results one by one, as LookupResources does.
func (c *Client) LookupSubjects(ctx context.Context, req *pb.LookupSubjectsRequest, opts ...grpc.CallOption) iter.Seq2[SubjectResult, error] {
	return func(yield func(SubjectResult, error) bool) {
		if req.GetBatchSize() == 0 {
			req = proto.CloneOf(req)
			req.BatchSize = LookupBatchSize
		}
		stream, err := c.Permissions.LookupSubjects(ctx, req, opts...)
		if err != nil {
			yield(SubjectResult{}, err)
			return
		}
		drain(stream.Recv, func(m *pb.LookupSubjectsResponse) []SubjectResult {
			rs := SubjectResults(m)
			out := make([]SubjectResult, len(rs))
			for i, r := range rs {
				out[i] = SubjectResult{Token: m.GetToken(), Result: r}
			}
			return out
		}, yield)
	}
}

// drain receives a stream to its end, yielding what unpack makes of each message.
func drain[M, R any](recv func() (M, error), unpack func(M) []R, yield func(R, error) bool) {
	for {
		m, err := recv()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			var zero R
			yield(zero, err)
			return
		}
		for _, r := range unpack(m) {
			if !yield(r, nil) {
				return
			}
		}
	}
}

// ResourceResults returns the results a LookupResources message carries: its batch,
// or the one result of an unbatched message.
func ResourceResults(m *pb.LookupResourcesResponse) []*pb.LookupResourcesResult {
	if len(m.GetResults()) > 0 {
		return m.GetResults()
	}
	return []*pb.LookupResourcesResult{{
		ResourceId: m.GetResourceId(), Permissionship: m.GetPermissionship(),
		MissingContext: m.GetMissingContext(), Cursor: m.GetCursor(),
	}}
}

// SubjectResults returns the results a LookupSubjects message carries: its batch, or
// the one result of an unbatched message.
func SubjectResults(m *pb.LookupSubjectsResponse) []*pb.LookupSubjectsResult {
	if len(m.GetResults()) > 0 {
		return m.GetResults()
	}
	return []*pb.LookupSubjectsResult{{
		SubjectId: m.GetSubjectId(), Permissionship: m.GetPermissionship(), MissingContext: m.GetMissingContext(),
		ExcludedSubjectIds: m.GetExcludedSubjectIds(), Cursor: m.GetCursor(),
	}}
}
