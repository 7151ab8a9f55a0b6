package console

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/pemba-authz/pemba/internal/protoconv"
	"github.com/pemba-authz/pemba/internal/tuple"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// Bounds of the explanation graph: beyond them the graph is cut and says so.
const (
	maxGraphNodes   = 150
	maxAccessorList = 100
)

// Geometry of the graph, in SVG user units.
const (
	nodeW, nodeH = 270, 58
	gapX, gapY   = 20, 46
	margin       = 10
	labelChars   = 32
)

// accessView is the "who can access this, and why" page.
type accessView struct {
	Resource, Permission, Subject string
	// Asked is set once a resource and permission were given.
	Asked bool
	// Allowed says the actor may ask about this resource (it administers it).
	Allowed bool
	// Subjects are who has the permission (LookupSubjects), each a link to its graph.
	Subjects  []string
	Truncated bool
	// Graph is the explanation of Subject's check, laid out; Result its answer.
	Graph  *graph
	Result string
	// AllBranches draws every branch the check tried, not only the granting path.
	AllBranches bool
}

// graph is an explanation laid out for SVG: boxes and the edges between them.
type graph struct {
	Width, Height int
	Nodes         []graphNode
	Edges         []graphEdge
	Cut           bool
	// Label is the graph's accessible description.
	Label string
}

type graphNode struct {
	X, Y, W, H   int
	TextX        int
	Line1, Line2 string
	// Title is the node's full text (the SVG tooltip).
	Title string
	// Class colours the box by result: allowed, denied or conditional.
	Class string
}

type graphEdge struct{ X1, Y1, X2, Y2 int }

// access answers "who can access this resource, and why": the subjects with the
// permission, and for one of them the check's explanation drawn as a graph. Only an
// administrator of the resource (its admin permission) may ask.
func (h *Handler) access(w http.ResponseWriter, r *http.Request) {
	s, _ := h.session(r)
	a := h.actorOf(s)
	q := r.URL.Query()
	av := accessView{
		Resource: truncate(strings.TrimSpace(q.Get("resource")), 300), Permission: truncate(strings.TrimSpace(q.Get("permission")), 100),
		Subject: truncate(strings.TrimSpace(q.Get("subject")), 300),
	}
	render := func(code int, msg string) {
		h.render(w, code, "access", s, view{Title: "Who can access", Error: msg, Data: av})
	}
	if av.Resource == "" && av.Permission == "" {
		render(http.StatusOK, "")
		return
	}
	av.Asked = true
	resource, err := tuple.ParseObject(av.Resource)
	if err != nil {
		render(http.StatusBadRequest, "resource: "+err.Error())
		return
	}
	if err := tuple.ValidateRelationName("permission", av.Permission); err != nil {
		render(http.StatusBadRequest, err.Error())
		return
	}
	ctx := r.Context()
	if av.Allowed, err = h.administers(ctx, a, resource); err != nil {
		render(statusOf(err), err.Error())
		return
	}
	if !av.Allowed {
		render(http.StatusForbidden, fmt.Sprintf("you do not administer %s (permission %s), so the console does not show who can access it", resource, h.cfg.AdminPermission))
		return
	}
	err = pages(maxAccessorList, func(cursor string, limit int) (receiver[*pb.LookupSubjectsResponse], error) {
		return h.api.perms.LookupSubjects(a.ctx(ctx), &pb.LookupSubjectsRequest{
			Tenant: a.tenant, Consistency: protoconv.FullyConsistent(), Resource: protoconv.ObjectToProto(resource),
			Permission: av.Permission, SubjectType: h.cfg.SubjectType, Limit: uint32(limit), Cursor: cursor,
		})
	}, func(res *pb.LookupSubjectsResponse) bool {
		av.Subjects = append(av.Subjects, h.cfg.SubjectType+":"+res.GetSubjectId())
		return true
	})
	if err != nil {
		render(statusOf(err), err.Error())
		return
	}
	av.Truncated = len(av.Subjects) >= maxAccessorList
	if av.Subject != "" {
		subject, err := tuple.ParseSubject(av.Subject)
		if err != nil {
			render(http.StatusBadRequest, "subject: "+err.Error())
			return
		}
		resp, err := h.api.perms.Check(a.ctx(ctx), &pb.CheckRequest{
			Tenant: a.tenant, Consistency: protoconv.FullyConsistent(), Resource: protoconv.ObjectToProto(resource),
			Permission: av.Permission, Subject: protoconv.SubjectToProto(subject), Explain: true,
		})
		if err != nil {
			e := apiError(err)
			render(statusOf(e), e.Error())
			return
		}
		av.Result = resultText(resp.GetPermissionship())
		expl := resp.GetExplanation()
		av.AllBranches = q.Get("all") != ""
		if !av.AllBranches {
			expl = grantingPath(expl)
		}
		av.Graph = layout(collapse(expl))
		av.Graph.Label = fmt.Sprintf("Why %s is %s %s on %s", subject, av.Result, av.Permission, resource)
	}
	render(http.StatusOK, "")
}

// grantingPath keeps, below every allowed step, only the children that allowed
// it: the path that granted access, not the branches tried on the way. An
// exclusion keeps its subtracted branch, whose denial is part of the reason.
func grantingPath(n *pb.ExplainNode) *pb.ExplainNode {
	if n == nil {
		return nil
	}
	out := withoutChildren(n)
	keepAll := n.GetResult() != pb.Permissionship_PERMISSIONSHIP_ALLOWED || n.GetKind() == "exclusion"
	for _, c := range n.GetChildren() {
		if keepAll || c.GetResult() == pb.Permissionship_PERMISSIONSHIP_ALLOWED {
			out.Children = append(out.Children, grantingPath(c))
		}
	}
	return out
}

// collapse merges a step into its only child when both check the same relation on
// the same object (a permission, then its union, then its exclusion), so one box
// names the relation once with the kinds of its steps.
func collapse(n *pb.ExplainNode) *pb.ExplainNode {
	if n == nil {
		return nil
	}
	for len(n.GetChildren()) == 1 {
		c := n.GetChildren()[0]
		if c.GetRelationship() != nil || n.GetRelationship() != nil || c.GetRelation() != n.GetRelation() ||
			c.GetResource().GetType() != n.GetResource().GetType() || c.GetResource().GetId() != n.GetResource().GetId() {
			break
		}
		merged := withoutChildren(c)
		merged.Kind = n.GetKind() + " › " + c.GetKind()
		if merged.Expression == "" {
			merged.Expression = n.GetExpression()
		}
		merged.Children = c.GetChildren()
		n = merged
	}
	out := withoutChildren(n)
	for _, c := range n.GetChildren() {
		out.Children = append(out.Children, collapse(c))
	}
	return out
}

// withoutChildren copies an explanation step's own fields.
func withoutChildren(n *pb.ExplainNode) *pb.ExplainNode {
	return &pb.ExplainNode{Kind: n.GetKind(), Resource: n.GetResource(), Relation: n.GetRelation(), Expression: n.GetExpression(),
		Subject: n.GetSubject(), Result: n.GetResult(), Relationship: n.GetRelationship(), Provenance: n.GetProvenance(),
		Caveat: n.GetCaveat(), MissingContext: n.GetMissingContext()}
}

// resultText is a permissionship in lower case ("allowed").
func resultText(p pb.Permissionship) string {
	return strings.ToLower(strings.TrimPrefix(p.String(), "PERMISSIONSHIP_"))
}

// layout places an explanation tree: depth gives the row, and each leaf takes the
// next column, with a parent centred over its children. Past maxGraphNodes the
// remaining branches are cut.
func layout(root *pb.ExplainNode) *graph {
	g := &graph{}
	if root == nil {
		return g
	}
	col := 0
	var place func(n *pb.ExplainNode, depth int) (x int, ok bool)
	place = func(n *pb.ExplainNode, depth int) (int, bool) {
		if len(g.Nodes) >= maxGraphNodes {
			g.Cut = true
			return 0, false
		}
		idx := len(g.Nodes)
		g.Nodes = append(g.Nodes, graphNode{})
		var xs []int
		for _, c := range n.GetChildren() {
			if cx, ok := place(c, depth+1); ok {
				xs = append(xs, cx)
			}
		}
		var x int
		if len(xs) == 0 {
			x = margin + col*(nodeW+gapX)
			col++
		} else {
			x = (xs[0] + xs[len(xs)-1]) / 2
		}
		y := margin + depth*(nodeH+gapY)
		for _, cx := range xs {
			g.Edges = append(g.Edges, graphEdge{X1: x + nodeW/2, Y1: y + nodeH, X2: cx + nodeW/2, Y2: y + nodeH + gapY})
		}
		line1, line2, title := nodeText(n)
		g.Nodes[idx] = graphNode{X: x, Y: y, W: nodeW, H: nodeH, TextX: x + 8,
			Line1: truncate(line1, labelChars), Line2: truncate(line2, labelChars), Title: title, Class: resultText(n.GetResult())}
		g.Width = max(g.Width, x+nodeW+margin)
		g.Height = max(g.Height, y+nodeH+margin)
		return x, true
	}
	place(root, 0)
	return g
}

// nodeText is what a box says: the relationship or the relation checked, then the
// step's kind and result, and in full (with who granted it) for the tooltip.
func nodeText(n *pb.ExplainNode) (string, string, string) {
	line1 := n.GetResource().GetType() + ":" + n.GetResource().GetId() + "#" + n.GetRelation()
	if rel := n.GetRelationship(); rel != nil {
		line1 = relationshipText(rel)
	}
	line2 := n.GetKind() + " · " + resultText(n.GetResult())
	title := line1 + " — " + line2
	if e := n.GetExpression(); e != "" {
		title += " — " + e
	}
	if p := n.GetProvenance(); p != nil {
		if p.GetActor() != nil {
			title += " — granted by " + subjectText(p.GetActor())
		}
		if p.GetReason() != "" {
			title += ": " + p.GetReason()
		}
	}
	return line1, line2, title
}
